// AVX2 twins of the int8 kernels: the activation quantizer, and the block products through
// q8-simd.h with the maddubs/madd pattern of REFERENCE.md §4.
#include "internal.h"
#if CK_X86

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


// 8 int32 partial sums of one 32-byte block: maddubs then madd with ones.
#define Q8_BLOCK_DOT(ax, sw) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1))
#define Q8_ATTR CK_AVX2
#define Q8_BLOCK_DOTS_FN ck_q8_block_dots_avx2
#include "q8-simd.h"

// The x16 products. Q4: a nibble times an int8 is at most 15·128, so maddubs's int16 pair sums cannot
// saturate. Q8: w + 128 times an int8 could, so the stored byte goes back to w (xor 0x80) and the
// activation's magnitude takes the unsigned side, w its sign (w in [-127, 127]).
#define X16_ATTR CK_AVX2
#define X16_DOT(acc, u, x) _mm256_add_epi32(acc, Q8_BLOCK_DOT(u, x))
#define X16_Q8_DOT(acc, u, x) \
    _mm256_add_epi32(acc, Q8_BLOCK_DOT(_mm256_sign_epi8(x, x), _mm256_sign_epi8(_mm256_xor_si256(u, _mm256_set1_epi8((char)0x80)), x)))
#define X16_Q8_START(corr) _mm256_setzero_si256()
#define X16_Q4_FN ck_q4_matmul_avx2
#define X16_Q8_FN ck_q8_matmul_avx2
#include "x16-simd.h"
#endif  // CK_X86
