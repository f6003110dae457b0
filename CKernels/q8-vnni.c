// VNNI twins of the int8 kernels: vpdpbusd does maddubs + madd in one instruction without the
// int16 saturation step. The AVX-VNNI (VEX) and AVX512-VNNI (EVEX, 256-bit) forms of the block dots
// share q8-simd.h; the x16 products on AVX-VNNI share x16-simd.h with the AVX2 twins (the AVX512-VNNI
// ones are x16-avx512.c).
#include "internal.h"
#if CK_X86

#define Q8_BLOCK_DOT(ax, sw) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), ax, sw)
#define Q8_ATTR CK_AVXVNNI
#define Q8_BLOCK_DOTS_FN ck_q8_block_dots_avxvnni
#define q8_hsum_i32 q8_hsum_i32_avxvnni
#include "q8-simd.h"

#define X16_ATTR CK_AVXVNNI
#define X16_DOT(acc, u, x) _mm256_dpbusd_avx_epi32(acc, u, x)
#define X16_Q8_DOT(acc, u, x) _mm256_dpbusd_avx_epi32(acc, u, x)
#define X16_Q8_START(corr) _mm256_set1_epi32(corr)
#define X16_Q4_FN ck_q4_matmul_avxvnni
#define X16_Q8_FN ck_q8_matmul_avxvnni
#include "x16-simd.h"
#undef Q8_BLOCK_DOT
#undef Q8_ATTR
#undef Q8_BLOCK_DOTS_FN
#undef q8_hsum_i32

#define Q8_BLOCK_DOT(ax, sw) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sw)
#define Q8_ATTR CK_AVX512VNNI
#define Q8_BLOCK_DOTS_FN ck_q8_block_dots_avx512vnni
#define q8_hsum_i32 q8_hsum_i32_avx512vnni
#include "q8-simd.h"

// The activation quantizer on 512-bit vectors: the same arithmetic as the reference twin (amax/127,
// its reciprocal, round-half-to-even), 16 values a vector, narrowed with saturation.
CK_AVX512 void ck_q8_quantize_row_avx512(int8_t *qs, float *scales, const float *x, int n) {
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        scales[b] = d;
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(qs + b * 32), _mm512_cvtsepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(qs + b * 32 + 16), _mm512_cvtsepi32_epi8(i1));
    }
}
#endif  // CK_X86
