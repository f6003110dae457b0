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
