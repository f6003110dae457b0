// Scalar reference attention over a KV cache (see CKernels.h for the visibility rule).
#include <math.h>
#include "internal.h"

// Element i of a cache of floats or (f16) of fp16 values.
static inline double kv_at(const void *p, size_t i, int f16) {
    return f16 ? (double)ck_fp16_to_fp32(((const uint16_t *)p)[i]) : (double)((const float *)p)[i];
}

static void attn_ref(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v, int f16,
                     int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                     int n_kv_heads, int head_dim, float scale, float *scratch) {
    int group = n_heads / n_kv_heads;
    int n_keys = n_prefix + n_new;
    for (int r = 0; r < n_rows; r++) {
        for (int h = 0; h < n_heads; h++) {
            const float *qh = q + (size_t)r * q_stride + h * head_dim;
            int kvh = h / group;
            float mx = -INFINITY;
            for (int j = 0; j < n_keys; j++) {
                int visible = j < n_prefix ||
                              (mask ? mask[(size_t)r * n_new + (j - n_prefix)] != 0 : (j - n_prefix) <= r);
                if (!visible) { scratch[j] = -INFINITY; continue; }
                size_t kj = (size_t)j * kv_stride + kvh * head_dim;
                double s = 0;
                for (int d = 0; d < head_dim; d++) s += (double)qh[d] * kv_at(k, kj + d, f16);
                scratch[j] = (float)s * scale;
                if (scratch[j] > mx) mx = scratch[j];
            }
            double sum = 0;
            for (int j = 0; j < n_keys; j++) {
                float p = scratch[j] == -INFINITY ? 0.0f : expf(scratch[j] - mx);
                scratch[j] = p;
                sum += p;
            }
            float *oh = out + (size_t)r * out_stride + h * head_dim;
            for (int d = 0; d < head_dim; d++) {
                double acc = 0;
                for (int j = 0; j < n_keys; j++) {
                    if (scratch[j] != 0.0f) acc += (double)scratch[j] * kv_at(v, (size_t)j * kv_stride + kvh * head_dim + d, f16);
                }
                oh[d] = (float)(acc / sum);
            }
        }
    }
}

void ck_attn_f32_ref(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v, int kv_stride,
                     int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim,
                     float scale, float *scratch) {
    attn_ref(out, out_stride, q, q_stride, k, v, 0, kv_stride, n_rows, n_prefix, n_new, mask, n_heads, n_kv_heads, head_dim,
             scale, scratch);
}

void ck_attn_f16kv_ref(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                       int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads,
                       int head_dim, float scale, float *scratch) {
    attn_ref(out, out_stride, q, q_stride, k, v, 1, kv_stride, n_rows, n_prefix, n_new, mask, n_heads, n_kv_heads, head_dim,
             scale, scratch);
}

size_t ck_attn_scratch_floats(int n_rows, int n_heads, int n_kv_heads, int n_keys) {
    size_t rows = n_rows < CK_ATTN_ROWS ? (size_t)n_rows : CK_ATTN_ROWS;
    size_t pairs = rows * (size_t)n_heads;
    (void)n_kv_heads;
    return pairs * (size_t)ck_attn_scratch_stride(n_keys) + pairs;
}
