// The quantized products on 512-bit vectors with AVX512-VNNI, over the x16 layouts (CKernels.h): one
// vector holds 4 consecutive weights of 16 weight rows, so each vpdpbusd takes 4 activations broadcast
// to every lane and adds 64 products, and the 16 lanes end as 16 outputs with no horizontal sum. A
// tile is one 16-row group × up to 8 activation rows: the group's block is unpacked once for the tile,
// and its scales are converted once. Each lane repeats x16-ref.c's arithmetic, so a row's result is
// the same whatever tile, batch or thread split it is computed in.
#include "internal.h"
#if CK_X86

// Tiles of more than 4 rows compute long enough per record that the hardware prefetchers fall behind:
// they prefetch 16 KiB ahead into L2 (SmolLM2 at a 512-token context, 1 thread: Q8_0 8 rows 18.1–18.4
// → 16.1–17.2 ms, 16 rows 32.2–32.8 → 29.2–30.3; an L1 prefetch at 2 KiB gave the Q4_1 layer products
// at 8 rows 8.1 → 6.0–7.3 ms). Fewer rows stream fastest without it (one row: Q4_1 decode 147–199
// against 123–161 tok/s with an L1 prefetch).
#define XPF 16384
#define XPF_HINT _MM_HINT_T1
#define XPF_ON(C) ((C) > 4)

// The exact int32 block dot of 8 unpacked weight vectors with the 32 activations at xb, added to
// start: two dependency chains where a tile has few rows (to cover vpdpbusd's latency), one where its
// rows alone give enough independent chains. Integer sums, so the chain count never changes the bits.
CK_AVX512VNNI static inline __m512i dot8(__m512i start, const __m512i *u, const int8_t *xb, int rows) {
    if (rows > 4) {
        __m512i p = start;
        for (int j = 0; j < 8; j++) p = _mm512_dpbusd_epi32(p, u[j], _mm512_set1_epi32(ck_ld32(xb + 4 * j)));
        return p;
    }
    __m512i p0 = _mm512_dpbusd_epi32(start, u[0], _mm512_set1_epi32(ck_ld32(xb)));
    __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[1], _mm512_set1_epi32(ck_ld32(xb + 4)));
    for (int j = 2; j < 8; j += 2) {
        p0 = _mm512_dpbusd_epi32(p0, u[j], _mm512_set1_epi32(ck_ld32(xb + 4 * j)));
        p1 = _mm512_dpbusd_epi32(p1, u[j + 1], _mm512_set1_epi32(ck_ld32(xb + 4 * j + 4)));
    }
    return _mm512_add_epi32(p0, p1);
}

#define Q4_TILE(C)                                                                                                  \
    CK_AVX512VNNI static void q4_tile_##C(float *y, int ldy, const int8_t *xq, const float *xscale,                \
                                          const float *xsum, const uint8_t *wg, int nb, int k, __mmask16 keep) {   \
        const __m512i low4 = _mm512_set1_epi8(0x0F);                                                                \
        __m512 acc[C];                                                                                              \
        for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();                                                   \
        for (int b = 0; b < nb; b++) {                                                                              \
            const uint8_t *rec = wg + (size_t)b * CK_X16_Q4_BLOCK;                                                  \
            if (XPF_ON(C)) for (int l = 0; l < CK_X16_Q4_BLOCK; l += 64) _mm_prefetch((const char *)rec + XPF + l, XPF_HINT); \
            __m512i u[8];                                                                                           \
            for (int j = 0; j < 4; j++) {                                                                           \
                __m512i v = _mm512_loadu_si512((const void *)(rec + 64 * j));                                       \
                u[2 * j] = _mm512_and_si512(v, low4);                                                               \
                u[2 * j + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);                                     \
            }                                                                                                       \
            __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rec + 256)));                           \
            __m512 mo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rec + 288)));                          \
            for (int c = 0; c < C; c++) {                                                                           \
                const int8_t *xb = xq + (size_t)c * k + b * 32;                                                     \
                __m512i isum = dot8(_mm512_setzero_si512(), u, xb, C);                                              \
                __m512 s = _mm512_mul_ps(d, _mm512_set1_ps(xscale[(size_t)c * nb + b]));                            \
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[c]);                                      \
                acc[c] = _mm512_fmadd_ps(mo, _mm512_set1_ps(xsum[(size_t)c * nb + b]), acc[c]);                     \
            }                                                                                                       \
        }                                                                                                           \
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(y + (size_t)c * ldy, keep, acc[c]);                       \
    }

#define Q8_TILE(C)                                                                                                  \
    CK_AVX512VNNI static void q8_tile_##C(float *y, int ldy, const int8_t *xq, const float *xscale,                \
                                          const int32_t *xcorr, const uint8_t *wg, int nb, int k, __mmask16 keep) { \
        __m512 acc[C];                                                                                              \
        for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();                                                   \
        for (int b = 0; b < nb; b++) {                                                                              \
            const uint8_t *rec = wg + (size_t)b * CK_X16_Q8_BLOCK;                                                  \
            if (XPF_ON(C)) for (int l = 0; l < CK_X16_Q8_BLOCK; l += 64) _mm_prefetch((const char *)rec + XPF + l, XPF_HINT); \
            __m512i u[8];                                                                                           \
            for (int j = 0; j < 8; j++) u[j] = _mm512_loadu_si512((const void *)(rec + 64 * j));                    \
            __m512 d = _mm512_loadu_ps((const float *)(rec + 512));                                                 \
            for (int c = 0; c < C; c++) {                                                                           \
                const int8_t *xb = xq + (size_t)c * k + b * 32;                                                     \
                /* the weights are stored as w + 128: start from −128·Σx to take it back out */                    \
                __m512i isum = dot8(_mm512_set1_epi32(xcorr[(size_t)c * nb + b]), u, xb, C);                        \
                __m512 s = _mm512_mul_ps(d, _mm512_set1_ps(xscale[(size_t)c * nb + b]));                            \
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[c]);                                      \
            }                                                                                                       \
        }                                                                                                           \
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(y + (size_t)c * ldy, keep, acc[c]);                       \
    }

Q4_TILE(1)
Q4_TILE(2)
Q4_TILE(3)
Q4_TILE(4)
Q4_TILE(5)
Q4_TILE(6)
Q4_TILE(7)
Q4_TILE(8)
Q8_TILE(1)
Q8_TILE(2)
Q8_TILE(3)
Q8_TILE(4)
Q8_TILE(5)
Q8_TILE(6)
Q8_TILE(7)
Q8_TILE(8)

// Groups outermost: a group's records (at most a few KiB per 16 rows) stay in L1 while every tile of
// activation rows passes over them. The weights are one sequential stream (see XPF for when the tiles
// prefetch it).
#define X16_DRIVER(NAME, TILE, AUX_T, RECORD)                                                                      \
    CK_AVX512VNNI void NAME(float *y, int ldy, const int8_t *xq, const float *xscale, const AUX_T *aux,            \
                            const uint8_t *w, int m, int n, int k) {                                               \
        const int nb = k / 32;                                                                                     \
        for (int g = 0; g * 16 < n; g++) {                                                                         \
            const uint8_t *wg = w + (size_t)g * nb * RECORD;                                                       \
            int valid = n - g * 16;                                                                                \
            __mmask16 keep = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);                     \
            for (int i = 0; i < m; i += 8) {                                                                       \
                float *yi = y + (size_t)i * ldy + g * 16;                                                          \
                const int8_t *xi = xq + (size_t)i * k;                                                             \
                const float *si = xscale + (size_t)i * nb;                                                         \
                const AUX_T *ai = aux + (size_t)i * nb;                                                            \
                switch (m - i < 8 ? m - i : 8) {                                                                   \
                case 1: TILE##_1(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 2: TILE##_2(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 3: TILE##_3(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 4: TILE##_4(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 5: TILE##_5(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 6: TILE##_6(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                case 7: TILE##_7(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                             \
                default: TILE##_8(yi, ldy, xi, si, ai, wg, nb, k, keep); break;                            \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

X16_DRIVER(ck_q4_matmul_avx512vnni, q4_tile, float, CK_X16_Q4_BLOCK)
X16_DRIVER(ck_q8_matmul_avx512vnni, q8_tile, int32_t, CK_X16_Q8_BLOCK)
#endif  // CK_X86
