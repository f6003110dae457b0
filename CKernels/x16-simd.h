// The quantized products over the x16 layouts on 256-bit vectors, written once and included by
// q8-avx2.c (maddubs/madd) and q8-vnni.c (AVX-VNNI vpdpbusd). The includer defines X16_ATTR,
// X16_Q4_FN, X16_Q8_FN, X16_DOT(acc, u, x) (acc plus, per 32-bit lane, the 4 products of unsigned u
// and signed x), and for Q8 X16_Q8_DOT(acc, u, x) with u the stored w + 128 and X16_Q8_START(corr),
// the value a block's dot starts from (−128·Σx where the dot takes u as it is, 0 where it takes w).
// A vector holds 8 of a group's 16 lanes, so a group is computed as two halves; each lane repeats
// x16-ref.c's arithmetic, so the result is the same bits as every other twin, for any row count. The
// weights are one sequential stream, left to the hardware prefetchers as in x16-avx512.c.
#include <string.h>

#define X16_BCAST(xb, off) _mm256_set1_epi32(ck_ld32((xb) + (off)))

// The first `valid` of 8 lanes to y.
#define X16_STORE(dst, v, valid)                                                                            \
    do {                                                                                                   \
        if ((valid) >= 8) {                                                                                \
            _mm256_storeu_ps(dst, v);                                                                      \
        } else {                                                                                           \
            float t_[8];                                                                                   \
            _mm256_storeu_ps(t_, v);                                                                       \
            memcpy(dst, t_, (size_t)(valid) * sizeof(float));                                              \
        }                                                                                                  \
    } while (0)

#define X16Y_Q4_TILE(C)                                                                                             \
    X16_ATTR static void q4y_tile_##C(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum, \
                                      const uint8_t *wg, int nb, int k, int valid) {                               \
        const __m256i low4 = _mm256_set1_epi8(0x0F);                                                                \
        for (int h = 0; h < 2 && h * 8 < valid; h++) {                                                              \
            __m256 acc[C];                                                                                          \
            for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();                                               \
            for (int b = 0; b < nb; b++) {                                                                          \
                const uint8_t *rec = wg + (size_t)b * CK_X16_Q4_BLOCK;                                              \
                __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rec + 256 + 16 * h)));                 \
                __m256 mo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rec + 288 + 16 * h)));                \
                for (int c = 0; c < C; c++) {                                                                       \
                    const int8_t *xb = xq + (size_t)c * k + b * 32;                                                 \
                    __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();                               \
                    for (int j = 0; j < 4; j++) {                                                                   \
                        __m256i v = _mm256_loadu_si256((const __m256i *)(rec + 64 * j + 32 * h));                   \
                        p0 = X16_DOT(p0, _mm256_and_si256(v, low4), X16_BCAST(xb, 8 * j));                          \
                        p1 = X16_DOT(p1, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4), X16_BCAST(xb, 8 * j + 4)); \
                    }                                                                                               \
                    __m256 s = _mm256_mul_ps(d, _mm256_set1_ps(xscale[(size_t)c * nb + b]));                        \
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), s, acc[c]);             \
                    acc[c] = _mm256_fmadd_ps(mo, _mm256_set1_ps(xsum[(size_t)c * nb + b]), acc[c]);                 \
                }                                                                                                   \
            }                                                                                                       \
            for (int c = 0; c < C; c++) X16_STORE(y + (size_t)c * ldy + 8 * h, acc[c], valid - 8 * h);              \
        }                                                                                                           \
    }

#define X16Y_Q8_TILE(C)                                                                                             \
    X16_ATTR static void q8y_tile_##C(float *y, int ldy, const int8_t *xq, const float *xscale,                    \
                                      const int32_t *xcorr, const uint8_t *wg, int nb, int k, int valid) { \
        for (int h = 0; h < 2 && h * 8 < valid; h++) {                                                              \
            __m256 acc[C];                                                                                          \
            for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();                                               \
            for (int b = 0; b < nb; b++) {                                                                          \
                const uint8_t *rec = wg + (size_t)b * CK_X16_Q8_BLOCK;                                              \
                __m256 d = _mm256_loadu_ps((const float *)(rec + 512 + 32 * h));                                    \
                for (int c = 0; c < C; c++) {                                                                       \
                    const int8_t *xb = xq + (size_t)c * k + b * 32;                                                 \
                    __m256i p0 = X16_Q8_START(xcorr[(size_t)c * nb + b]), p1 = _mm256_setzero_si256();              \
                    for (int j = 0; j < 8; j += 2) {                                                                \
                        p0 = X16_Q8_DOT(p0, _mm256_loadu_si256((const __m256i *)(rec + 64 * j + 32 * h)),            \
                                        X16_BCAST(xb, 4 * j));                                                      \
                        p1 = X16_Q8_DOT(p1, _mm256_loadu_si256((const __m256i *)(rec + 64 * j + 64 + 32 * h)),       \
                                        X16_BCAST(xb, 4 * j + 4));                                                  \
                    }                                                                                               \
                    __m256 s = _mm256_mul_ps(d, _mm256_set1_ps(xscale[(size_t)c * nb + b]));                        \
                    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), s, acc[c]);             \
                }                                                                                                   \
            }                                                                                                       \
            for (int c = 0; c < C; c++) X16_STORE(y + (size_t)c * ldy + 8 * h, acc[c], valid - 8 * h);              \
        }                                                                                                           \
    }

X16Y_Q4_TILE(1)
X16Y_Q4_TILE(2)
X16Y_Q4_TILE(3)
X16Y_Q4_TILE(4)
X16Y_Q8_TILE(1)
X16Y_Q8_TILE(2)
X16Y_Q8_TILE(3)
X16Y_Q8_TILE(4)

#define X16Y_DRIVER(NAME, TILE, AUX_T, RECORD)                                                                     \
    X16_ATTR void NAME(float *y, int ldy, const int8_t *xq, const float *xscale, const AUX_T *aux,                  \
                       const uint8_t *w, int m, int n, int k) {                                                    \
        const int nb = k / 32;                                                                                     \
        for (int g = 0; g * 16 < n; g++) {                                                                         \
            const uint8_t *wg = w + (size_t)g * nb * RECORD;                                                       \
            int valid = n - g * 16 < 16 ? n - g * 16 : 16;                                                         \
            for (int i = 0; i < m; i += 4) {                                                                       \
                float *yi = y + (size_t)i * ldy + g * 16;                                                          \
                const int8_t *xi = xq + (size_t)i * k;                                                             \
                const float *si = xscale + (size_t)i * nb;                                                         \
                const AUX_T *ai = aux + (size_t)i * nb;                                                            \
                switch (m - i < 4 ? m - i : 4) {                                                                   \
                case 1: TILE##_1(yi, ldy, xi, si, ai, wg, nb, k, valid); break;                            \
                case 2: TILE##_2(yi, ldy, xi, si, ai, wg, nb, k, valid); break;                            \
                case 3: TILE##_3(yi, ldy, xi, si, ai, wg, nb, k, valid); break;                            \
                default: TILE##_4(yi, ldy, xi, si, ai, wg, nb, k, valid); break;                           \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

X16Y_DRIVER(X16_Q4_FN, q4y_tile, float, CK_X16_Q4_BLOCK)
X16Y_DRIVER(X16_Q8_FN, q8y_tile, int32_t, CK_X16_Q8_BLOCK)

#undef X16_BCAST
#undef X16_STORE
#undef X16Y_Q4_TILE
#undef X16Y_Q8_TILE
#undef X16Y_DRIVER
