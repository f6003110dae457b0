// The Q4 block product, written once and included by q8-avx2.c and q8-vnni.c after q8-simd.h: it
// uses their Q8_ATTR, Q8_BLOCK_DOT and q8_hsum_i32, and takes Q4_PAIR_DOT(lo, xlo, hi, xhi) (the int32
// sums of lo·xlo + hi·xhi per 4-byte group) and Q4_MATMUL_FN.
//
// The nibbles are unsigned (0..15) and the activations signed, which is exactly the u8 × s8 form of
// maddubs and vpdpbusd: no sign trick. Q4_0's "−8" and Q4_1's min both live in the per-block offset
// m, applied through the activation block sums (ggml's Q8_1 idea): y = Σ_b d·dx·(q·xq)_b + Σ_b m·xsum_b.
// Every output (row i, weight row r) is computed by the same steps whatever m is: batch-invariant.

#ifndef CK_Q4_PF
#define CK_Q4_PF 4096  // bytes ahead in the weight stream (one stream: rows are stored back to back)
#endif
#define LOADB(p, b) _mm256_loadu_si256((const __m256i *)((p) + (b) * 32))
// The 32 nibbles of block b in element order: low nibbles (elements 0..15), then high (16..31).
#define NIB(w, b)                                                                                     \
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)((w) + (b) * 16)), 4), \
                                      _mm_loadu_si128((const __m128i *)((w) + (b) * 16))),            \
                     low4)
// 8 int32 partial sums of blocks b (lanes 0..3) and b+1 (lanes 4..7) of weight row w.
#define PAIR(w, b, xlo, xhi)                                                                          \
    Q4_PAIR_DOT(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)((w) + (b) * 16)), low4), xlo,  \
                _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)((w) + (b) * 16)), 4), low4), xhi)
#define H4(v) _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(v)))
#define H8(v) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v)))
// Blocks b..b+3 of both weight rows: one 32-byte load holds two blocks' nibbles (the low nibbles are
// elements 0..15 of blocks b and b+1, the high ones 16..31), so the activations are regrouped to
// match; h0/h1 get [b b b+2 b+2 | b+1 b+1 b+3 b+3] partial sums.
#define Q4_QUAD(b, h0, h1)                                                                                          \
    do {                                                                                                            \
        __m256i xa = LOADB(xr, b), xb = LOADB(xr, (b) + 1), xc = LOADB(xr, (b) + 2), xd = LOADB(xr, (b) + 3);       \
        __m256i lo01 = _mm256_permute2x128_si256(xa, xb, 0x20), hi01 = _mm256_permute2x128_si256(xa, xb, 0x31);   \
        __m256i lo23 = _mm256_permute2x128_si256(xc, xd, 0x20), hi23 = _mm256_permute2x128_si256(xc, xd, 0x31);   \
        h0 = _mm256_hadd_epi32(PAIR(w0, b, lo01, hi01), PAIR(w0, (b) + 2, lo23, hi23));                            \
        h1 = _mm256_hadd_epi32(PAIR(w1, b, lo01, hi01), PAIR(w1, (b) + 2, lo23, hi23));                            \
    } while (0)

Q8_ATTR void Q4_MATMUL_FN(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                          const uint8_t *w, int m, int n, int k) {
    const int nb = k / 32;
    const size_t rb = ck_q4_row_bytes(k);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i order8 = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7), order4 = _mm256_setr_epi32(0, 0, 2, 2, 1, 1, 3, 3);
    for (int r = 0; r < n; r += 2) {
        int pair = r + 1 < n;
        const uint8_t *w0 = w + (size_t)r * rb, *w1 = pair ? w0 + rb : w0;
        const uint16_t *d0 = (const uint16_t *)(w0 + k / 2), *m0 = d0 + nb;
        const uint16_t *d1 = (const uint16_t *)(w1 + k / 2), *m1 = d1 + nb;
        if (r + 2 < n) {  // the next pair's scales; its nibbles are covered by the stream prefetch
            _mm_prefetch((const char *)(w0 + 2 * rb + k / 2), _MM_HINT_T0);
            _mm_prefetch((const char *)(w1 + 2 * rb + k / 2), _MM_HINT_T0);
        }
        for (int i = 0; i < m; i++) {
            const int8_t *xr = xq + (size_t)i * k;
            const float *dx = xscale + (size_t)i * nb, *sx = xsum + (size_t)i * nb;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            __m256 off0 = _mm256_setzero_ps(), off1 = _mm256_setzero_ps();
            __m128 off0q = _mm_setzero_ps(), off1q = _mm_setzero_ps();
            int b = 0;
            // Eight blocks a step: three hadd levels leave one lane per block, [b0 b2 b4 b6 | b1 b3 b5 b7],
            // so the scales cost one convert, one multiply and one permute per eight blocks.
            for (; b + 8 <= nb; b += 8) {
                if (i == 0) {  // 8 blocks of nibbles are two 64-byte lines per row
                    _mm_prefetch((const char *)(w0 + CK_Q4_PF + b * 16), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w0 + CK_Q4_PF + b * 16 + 64), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w1 + CK_Q4_PF + b * 16), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w1 + CK_Q4_PF + b * 16 + 64), _MM_HINT_T0);
                }
                __m256i ha0, ha1, hb0, hb1;
                Q4_QUAD(b, ha0, ha1);
                Q4_QUAD(b + 4, hb0, hb1);
                __m256 vdx = _mm256_loadu_ps(dx + b), vsx = _mm256_loadu_ps(sx + b);
                __m256 s0 = _mm256_permutevar8x32_ps(_mm256_mul_ps(H8(d0 + b), vdx), order8);
                __m256 s1 = _mm256_permutevar8x32_ps(_mm256_mul_ps(H8(d1 + b), vdx), order8);
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(ha0, hb0)), s0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(ha1, hb1)), s1, acc1);
                off0 = _mm256_fmadd_ps(H8(m0 + b), vsx, off0);
                off1 = _mm256_fmadd_ps(H8(m1 + b), vsx, off1);
            }
            // Four blocks: lanes [b0 b0 b2 b2 | b1 b1 b3 b3] after two hadd levels.
            for (; b + 4 <= nb; b += 4) {
                __m256i h0, h1;
                Q4_QUAD(b, h0, h1);
                __m128 vdx = _mm_loadu_ps(dx + b), vsx = _mm_loadu_ps(sx + b);
                __m256 s0 = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(H4(d0 + b), vdx)), order4);
                __m256 s1 = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(H4(d1 + b), vdx)), order4);
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h0), s0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h1), s1, acc1);
                off0q = _mm_fmadd_ps(H4(m0 + b), vsx, off0q);
                off1q = _mm_fmadd_ps(H4(m1 + b), vsx, off1q);
            }
            float t0 = ck_hsum8(acc0), t1 = ck_hsum8(acc1);
            float o0 = ck_hsum8(off0) + ck_hsum4(off0q), o1 = ck_hsum8(off1) + ck_hsum4(off1q);
            for (; b < nb; b++) {
                __m256i x = LOADB(xr, b);
                t0 += (float)q8_hsum_i32(Q8_BLOCK_DOT(NIB(w0, b), x)) * (_cvtsh_ss(d0[b]) * dx[b]);
                t1 += (float)q8_hsum_i32(Q8_BLOCK_DOT(NIB(w1, b), x)) * (_cvtsh_ss(d1[b]) * dx[b]);
                o0 += _cvtsh_ss(m0[b]) * sx[b];
                o1 += _cvtsh_ss(m1[b]) * sx[b];
            }
            y[(size_t)i * ldy + r] = t0 + o0;
            if (pair) y[(size_t)i * ldy + r + 1] = t1 + o1;
        }
    }
}

#undef LOADB
#undef NIB
#undef H4
#undef H8
#undef Q4_QUAD
#undef PAIR
