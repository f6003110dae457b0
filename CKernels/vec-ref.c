// Scalar reference twins of the vector kernels: the definition the AVX2 twins are tested against.
#include <math.h>
#include "CKernels.h"

float ck_vec_dot_f32_ref(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return (float)s;
}

void ck_softmax_f32_ref(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ck_swiglu_f32_ref(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void ck_vec_add_f32_ref(float *out, const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ck_rmsnorm_f32_ref(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float scale = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

void ck_rope_f32_ref(float *x, int n_heads, int head_dim, const float *cs, const float *sn) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int i = 0; i < head_dim; i += 2) {
            float x0 = v[i], x1 = v[i + 1];
            v[i] = x0 * cs[i] + x1 * sn[i];
            v[i + 1] = x1 * cs[i + 1] + x0 * sn[i + 1];
        }
    }
}

void ck_gemm_f32_ref(float *y, int ldy, const float *x, const float *w, int m, int n, int k) {
    for (int i = 0; i < m; i++)
        for (int r = 0; r < n; r++) y[(size_t)i * ldy + r] = ck_vec_dot_f32_ref(x + (size_t)i * k, w + (size_t)r * k, k);
}

void ck_f32_to_f16_ref(uint16_t *out, const float *x, int n) {
    for (int i = 0; i < n; i++) out[i] = ck_fp32_to_fp16(x[i]);
}

int ck_argmax_f32_ref(const float *x, int n) {
    int best = 0;
    float v = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > v) {
            v = x[i];
            best = i;
        }
    return best;
}

int ck_first_nan_or_posinf_ref(const float *x, int n) {
    for (int i = 0; i < n; i++)
        if (x[i] != x[i] || x[i] == INFINITY) return i;
    return -1;
}
