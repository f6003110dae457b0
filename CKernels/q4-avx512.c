// The Q4 product on 512-bit vectors (AVX512-VNNI): four blocks a vector, tiles of 2 weight rows × up
// to 4 activation rows, so the nibbles are unpacked once per tile and each activation row's regrouping
// serves both weight rows. Semantics, layout and batch invariance as q4-simd.h: every output is summed
// by the same steps whatever the tile, so a row's result is the same alone or in a batch of 16.
#include "internal.h"

#define CK_Q4Z_PF 4096  // bytes ahead in the weight stream (rows are stored back to back)

// Blocks b..b+7 of one activation row regrouped like the nibbles: lo = elements 0..15 of blocks
// b..b+3, hi = 16..31 (and lo1/hi1 for b+4..b+7). Each 128-bit lane of a 64-byte load is half a block.
#define XGROUP(xr, b, lo0, hi0, lo1, hi1)                                                         \
    do {                                                                                          \
        __m512i x0 = _mm512_loadu_si512((const void *)((xr) + (b) * 32));                        \
        __m512i x1 = _mm512_loadu_si512((const void *)((xr) + (b) * 32 + 64));                   \
        __m512i x2 = _mm512_loadu_si512((const void *)((xr) + (b) * 32 + 128));                  \
        __m512i x3 = _mm512_loadu_si512((const void *)((xr) + (b) * 32 + 192));                  \
        lo0 = _mm512_permutex2var_epi64(x0, pick_lo, x1);                                         \
        hi0 = _mm512_permutex2var_epi64(x0, pick_hi, x1);                                         \
        lo1 = _mm512_permutex2var_epi64(x2, pick_lo, x3);                                         \
        hi1 = _mm512_permutex2var_epi64(x2, pick_hi, x3);                                         \
    } while (0)

#define Q4Z_TILE(C)                                                                                               \
    CK_AVX512VNNI static void q4z_tile_##C(float *y, int ldy, const int8_t *xq, const float *xscale,             \
                                           const float *xsum, const uint8_t *w, int r, int nr, int rows, int k,  \
                                           int prefetch) {                                                        \
        const int nb = k / 32;                                                                                    \
        const size_t rb = ck_q4_row_bytes(k);                                                                     \
        const __m512i low4 = _mm512_set1_epi8(0x0F);                                                              \
        const __m512i pick_lo = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);                                       \
        const __m512i pick_hi = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);                                     \
        const __m512i spread0 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);                  \
        const __m512i spread1 = _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);                  \
        const uint8_t *wr[2];                                                                                     \
        const uint16_t *dr[2], *mr[2];                                                                            \
        for (int a = 0; a < 2; a++) {                                                                             \
            wr[a] = w + (size_t)(r + (a < nr ? a : nr - 1)) * rb;                                                 \
            dr[a] = (const uint16_t *)(wr[a] + k / 2);                                                            \
            mr[a] = dr[a] + nb;                                                                                   \
        }                                                                                                         \
        const int8_t *xr[C];                                                                                      \
        const float *dx[C], *sx[C];                                                                               \
        for (int c = 0; c < C; c++) {                                                                             \
            int i = c < rows ? c : rows - 1;                                                                      \
            xr[c] = xq + (size_t)i * k;                                                                           \
            dx[c] = xscale + (size_t)i * nb;                                                                      \
            sx[c] = xsum + (size_t)i * nb;                                                                        \
        }                                                                                                         \
        __m512 acc[2][C];                                                                                         \
        for (int a = 0; a < 2; a++)                                                                               \
            for (int c = 0; c < C; c++) acc[a][c] = _mm512_setzero_ps();                                          \
        int b = 0;                                                                                                \
        for (; b + 8 <= nb; b += 8) {                                                                             \
            __m512i wl[2][2], wh[2][2];                                                                           \
            __m256 d8[2];                                                                                         \
            for (int a = 0; a < 2; a++) {                                                                         \
                if (prefetch) {                                                                                   \
                    _mm_prefetch((const char *)(wr[a] + CK_Q4Z_PF + b * 16), _MM_HINT_T0);                        \
                    _mm_prefetch((const char *)(wr[a] + CK_Q4Z_PF + b * 16 + 64), _MM_HINT_T0);                   \
                }                                                                                                 \
                for (int h = 0; h < 2; h++) {                                                                     \
                    __m512i v = _mm512_loadu_si512((const void *)(wr[a] + b * 16 + h * 64));                      \
                    wl[a][h] = _mm512_and_si512(v, low4);                                                         \
                    wh[a][h] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);                                   \
                }                                                                                                 \
                d8[a] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dr[a] + b)));                           \
            }                                                                                                     \
            for (int c = 0; c < C; c++) {                                                                         \
                __m512i lo0, hi0, lo1, hi1;                                                                       \
                XGROUP(xr[c], b, lo0, hi0, lo1, hi1);                                                             \
                __m256 vdx = _mm256_loadu_ps(dx[c] + b);                                                          \
                for (int a = 0; a < 2; a++) {                                                                     \
                    __m512i p0 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wl[a][0], lo0), wh[a][0], hi0); \
                    __m512i p1 = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wl[a][1], lo1), wh[a][1], hi1); \
                    __m512 s = _mm512_castps256_ps512(_mm256_mul_ps(d8[a], vdx));                                 \
                    acc[a][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), _mm512_permutexvar_ps(spread0, s), acc[a][c]); \
                    acc[a][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), _mm512_permutexvar_ps(spread1, s), acc[a][c]); \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (int a = 0; a < nr; a++)                                                                              \
            for (int c = 0; c < rows; c++) {                                                                      \
                /* One 8-lane accumulator for the rest: the 512-bit sum folded to 256 bits, the remaining   */   \
                /* blocks two at a time (lanes 0..3 block j, 4..7 block j+1), the offset term Σ_b m·xsum    */   \
                /* 8 blocks then 2 a step; an odd last block in scalar.                                       */   \
                __m256 e = _mm256_add_ps(_mm512_castps512_ps256(acc[a][c]), _mm512_extractf32x8_ps(acc[a][c], 1)); \
                int j = b;                                                                                        \
                for (; j + 2 <= nb; j += 2) {                                                                     \
                    __m256i v = _mm256_loadu_si256((const __m256i *)(wr[a] + j * 16));                            \
                    __m256i xa = _mm256_loadu_si256((const __m256i *)(xr[c] + j * 32));                           \
                    __m256i xb = _mm256_loadu_si256((const __m256i *)(xr[c] + j * 32 + 32));                      \
                    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(v, _mm256_set1_epi8(0x0F)), \
                                                    _mm256_permute2x128_si256(xa, xb, 0x20));                     \
                    p = _mm256_dpbusd_epi32(p, _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F)),  \
                                            _mm256_permute2x128_si256(xa, xb, 0x31));                             \
                    __m128 s2 = _mm_mul_ps(_mm_cvtph_ps(_mm_loadu_si32(dr[a] + j)),                               \
                                           _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(dx[c] + j))));      \
                    __m256 sv = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s2), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)); \
                    e = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sv, e);                                            \
                }                                                                                                 \
                int o8 = 0;                                                                                       \
                for (; o8 + 8 <= nb; o8 += 8)                                                                     \
                    e = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(mr[a] + o8))),          \
                                        _mm256_loadu_ps(sx[c] + o8), e);                                          \
                for (; o8 + 2 <= nb; o8 += 2) {                                                                   \
                    __m128 o2 = _mm_mul_ps(_mm_cvtph_ps(_mm_loadu_si32(mr[a] + o8)),                              \
                                           _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(sx[c] + o8))));     \
                    e = _mm256_add_ps(e, _mm256_zextps128_ps256(o2));                                             \
                }                                                                                                 \
                float t = ck_hsum8(e);                                                                            \
                if (j < nb) { /* odd block count: the last block, and its offset */                               \
                    __m128i raw = _mm_loadu_si128((const __m128i *)(wr[a] + j * 16));                             \
                    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F)); \
                    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, _mm256_loadu_si256((const __m256i *)(xr[c] + j * 32))); \
                    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));         \
                    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));                                          \
                    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));                                          \
                    t += (float)_mm_cvtsi128_si32(s4) * (_cvtsh_ss(dr[a][j]) * dx[c][j]);                         \
                    t += _cvtsh_ss(mr[a][j]) * sx[c][j];                                                          \
                }                                                                                                 \
                y[(size_t)c * ldy + r + a] = t;                                                                   \
            }                                                                                                     \
    }

Q4Z_TILE(1)
Q4Z_TILE(2)
Q4Z_TILE(3)
Q4Z_TILE(4)

CK_AVX512VNNI void ck_q4_matmul_avx512(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                                       const uint8_t *w, int m, int n, int k) {
    const int nb = k / 32;
    for (int r = 0; r < n; r += 2) {
        int nr = n - r < 2 ? n - r : 2;
        for (int i = 0; i < m; i += 4) {
            int rows = m - i < 4 ? m - i : 4;
            float *yi = y + (size_t)i * ldy;
            const int8_t *xi = xq + (size_t)i * k;
            const float *di = xscale + (size_t)i * nb, *si = xsum + (size_t)i * nb;
            switch (rows) {
            case 1: q4z_tile_1(yi, ldy, xi, di, si, w, r, nr, 1, k, i == 0); break;
            case 2: q4z_tile_2(yi, ldy, xi, di, si, w, r, nr, 2, k, i == 0); break;
            case 3: q4z_tile_3(yi, ldy, xi, di, si, w, r, nr, 3, k, i == 0); break;
            default: q4z_tile_4(yi, ldy, xi, di, si, w, r, nr, 4, k, i == 0); break;
            }
        }
    }
}
