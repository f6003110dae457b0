// AVX2 twins of the int8 kernels (the maddubs/madd pattern of REFERENCE.md §4).
// In a·b the first operand gives the sign and its magnitude goes to the unsigned side, so it may
// hold -128 (|-128| = 128 fits a u8); the second must stay in [-127, 127], or sign_epi8 would
// overflow. Weights (which may come from any Q8_0 file) are therefore passed first, and activations,
// quantized by ck_q8_quantize_row (never -128), second.
#include "internal.h"

CK_AVX2 void ck_q8_quantize_row_avx2(int8_t *qs, float *scales, const float *x, int n) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_bit, v0), _mm256_andnot_ps(sign_bit, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign_bit, v2), _mm256_andnot_ps(sign_bit, v3)));
        float amax = ck_hmax8(m);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        scales[b] = d;
        __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)(qs + b * 32), _mm256_permutevar8x32_epi32(p, perm));
    }
}

// 8 int32 partial sums of one 32-byte block product.
CK_AVX2 static inline __m256i ck_block_dot8(__m256i a, __m256i b) {
    __m256i ax = _mm256_sign_epi8(a, a);
    __m256i sb = _mm256_sign_epi8(b, a);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sb), _mm256_set1_epi16(1));
}

CK_AVX2 static inline int32_t ck_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

CK_AVX2 void ck_q8_block_dots_avx2(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks) {
    for (int blk = 0; blk < n_blocks; blk++) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + blk * 32));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + blk * 32));
        isum[blk] = ck_hsum_i32(ck_block_dot8(va, vb));
    }
}

// Reduces 8 vectors of 8 int32 partial sums to one vector holding the 8 block totals, in order.
CK_AVX2 static inline __m256i ck_reduce8x8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m256i v4,
                                           __m256i v5, __m256i v6, __m256i v7) {
    __m256i x = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    __m256i y = _mm256_hadd_epi32(_mm256_hadd_epi32(v4, v5), _mm256_hadd_epi32(v6, v7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

#define LOADB(p, b) _mm256_loadu_si256((const __m256i *)((p) + (b) * 32))

CK_AVX2 void ck_q8_matmul_avx2(float *y, const int8_t *xq, const float *xscale, const int8_t *wq,
                               const float *wscale, int m, int n, int k) {
    int nb = k / 32;
    for (int r = 0; r < n; r++) {
        const int8_t *wr = wq + (size_t)r * k;
        const float *dw = wscale + (size_t)r * nb;
        for (int i = 0; i < m; i++) {
            const int8_t *xr = xq + (size_t)i * k;
            const float *dx = xscale + (size_t)i * nb;
            __m256 acc = _mm256_setzero_ps();
            int b = 0;
            for (; b + 8 <= nb; b += 8) {
                __m256i t = ck_reduce8x8(
                    ck_block_dot8(LOADB(wr, b), LOADB(xr, b)), ck_block_dot8(LOADB(wr, b + 1), LOADB(xr, b + 1)),
                    ck_block_dot8(LOADB(wr, b + 2), LOADB(xr, b + 2)), ck_block_dot8(LOADB(wr, b + 3), LOADB(xr, b + 3)),
                    ck_block_dot8(LOADB(wr, b + 4), LOADB(xr, b + 4)), ck_block_dot8(LOADB(wr, b + 5), LOADB(xr, b + 5)),
                    ck_block_dot8(LOADB(wr, b + 6), LOADB(xr, b + 6)), ck_block_dot8(LOADB(wr, b + 7), LOADB(xr, b + 7)));
                __m256 s = _mm256_mul_ps(_mm256_loadu_ps(dw + b), _mm256_loadu_ps(dx + b));
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), s, acc);
            }
            float sum = ck_hsum8(acc);
            for (; b < nb; b++)
                sum += (float)ck_hsum_i32(ck_block_dot8(LOADB(wr, b), LOADB(xr, b))) * (dw[b] * dx[b]);
            y[(size_t)i * n + r] = sum;
        }
    }
}
