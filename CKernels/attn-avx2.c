// AVX2+FMA attention over a KV cache: same visibility rule and math as attn-ref.c.
#include <math.h>
#include "internal.h"

CK_AVX2 void ck_attn_f32_avx2(float *out, int out_stride, const float *q, int q_stride, const float *k,
                              const float *v, int kv_stride, int n_rows, int n_prefix, int n_new,
                              const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim, float scale,
                              float *scratch) {
    int group = n_heads / n_kv_heads;
    int n_keys = n_prefix + n_new;
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    for (int r = 0; r < n_rows; r++) {
        for (int h = 0; h < n_heads; h++) {
            const float *qh = q + (size_t)r * q_stride + h * head_dim;
            int kvh = h / group;
            float mx = -INFINITY;
            for (int j = 0; j < n_keys; j++) {
                int visible = j < n_prefix ||
                              (mask ? mask[(size_t)r * n_new + (j - n_prefix)] != 0 : (j - n_prefix) <= r);
                if (!visible) { scratch[j] = -INFINITY; continue; }
                float s = ck_vec_dot_f32_avx2(qh, k + (size_t)j * kv_stride + kvh * head_dim, head_dim) * scale;
                scratch[j] = s;
                mx = s > mx ? s : mx;
            }
            __m256 vm = _mm256_set1_ps(mx), vsum = _mm256_setzero_ps();
            int j = 0;
            for (; j + 8 <= n_keys; j += 8) {
                __m256 s = _mm256_loadu_ps(scratch + j);
                __m256 e = ck_exp8(_mm256_sub_ps(s, vm));
                e = _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(s, neg_inf, _CMP_EQ_OQ));
                _mm256_storeu_ps(scratch + j, e);
                vsum = _mm256_add_ps(vsum, e);
            }
            float sum = ck_hsum8(vsum);
            for (; j < n_keys; j++) {
                float p = scratch[j] == -INFINITY ? 0.0f : expf(scratch[j] - mx);
                scratch[j] = p;
                sum += p;
            }
            float *oh = out + (size_t)r * out_stride + h * head_dim;
            int d = 0;
            for (; d + 8 <= head_dim; d += 8) _mm256_storeu_ps(oh + d, _mm256_setzero_ps());
            for (; d < head_dim; d++) oh[d] = 0;
            for (j = 0; j < n_keys; j++) {
                float p = scratch[j];
                if (p == 0.0f) continue;
                const float *vj = v + (size_t)j * kv_stride + kvh * head_dim;
                __m256 vp = _mm256_set1_ps(p);
                for (d = 0; d + 8 <= head_dim; d += 8)
                    _mm256_storeu_ps(oh + d, _mm256_fmadd_ps(vp, _mm256_loadu_ps(vj + d), _mm256_loadu_ps(oh + d)));
                for (; d < head_dim; d++) oh[d] += p * vj[d];
            }
            __m256 inv = _mm256_set1_ps(1.0f / sum);
            for (d = 0; d + 8 <= head_dim; d += 8) _mm256_storeu_ps(oh + d, _mm256_mul_ps(_mm256_loadu_ps(oh + d), inv));
            for (; d < head_dim; d++) oh[d] *= 1.0f / sum;
        }
    }
}
