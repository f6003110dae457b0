// Scalar reference twins of the int8 kernels. Rounding is round-half-to-even (lrintf in the default
// rounding mode), the same as the AVX2 twin's _mm256_round_ps, so both give identical integers.
#include <math.h>
#include "CKernels.h"

void ck_q8_quantize_row_ref(int8_t *qs, float *scales, const float *x, int n) {
    for (int b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            float a = fabsf(x[b * 32 + j]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        scales[b] = d;
        for (int j = 0; j < 32; j++) {
            float v = x[b * 32 + j] * id;
            qs[b * 32 + j] = (int8_t)lrintf(v);
        }
    }
}

void ck_q8_block_dots_ref(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks) {
    for (int blk = 0; blk < n_blocks; blk++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += (int32_t)a[blk * 32 + j] * (int32_t)b[blk * 32 + j];
        isum[blk] = s;
    }
}

void ck_q8_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const int8_t *wq,
                      const float *wscale, int m, int n, int k) {
    int nb = k / 32;
    for (int i = 0; i < m; i++) {
        for (int r = 0; r < n; r++) {
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                int32_t s = 0;
                const int8_t *wb = wq + (size_t)r * k + b * 32;
                const int8_t *xb = xq + (size_t)i * k + b * 32;
                for (int j = 0; j < 32; j++) s += (int32_t)wb[j] * (int32_t)xb[j];
                acc += (float)s * (wscale[(size_t)r * nb + b] * xscale[(size_t)i * nb + b]);
            }
            y[(size_t)i * ldy + r] = acc;
        }
    }
}

void ck_q8_block_sums(float *sums, const int8_t *qs, const float *scales, int n) {
    for (int b = 0; b < n / 32; b++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += qs[b * 32 + j];
        sums[b] = scales[b] * (float)s;
    }
}

void ck_q4_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                      const uint8_t *w, int m, int n, int k) {
    int nb = k / 32;
    size_t rb = ck_q4_row_bytes(k);
    for (int i = 0; i < m; i++) {
        for (int r = 0; r < n; r++) {
            const uint8_t *wr = w + (size_t)r * rb;
            const uint8_t *dm = wr + k / 2;
            float acc = 0, off = 0;
            for (int b = 0; b < nb; b++) {
                const int8_t *xb = xq + (size_t)i * k + b * 32;
                int32_t s = 0;
                for (int j = 0; j < 16; j++) {
                    uint8_t q = wr[b * 16 + j];
                    s += (int32_t)(q & 0x0F) * xb[j] + (int32_t)(q >> 4) * xb[j + 16];
                }
                float d = ck_fp16_to_fp32((uint16_t)(dm[2 * b] | dm[2 * b + 1] << 8));
                float mb = ck_fp16_to_fp32((uint16_t)(dm[2 * (nb + b)] | dm[2 * (nb + b) + 1] << 8));
                acc += (float)s * (d * xscale[(size_t)i * nb + b]);
                off += mb * xsum[(size_t)i * nb + b];
            }
            y[(size_t)i * ldy + r] = acc + off;
        }
    }
}
