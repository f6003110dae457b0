// The int8 block products, written once and included by q8-avx2.c (maddubs/madd) and q8-vnni.c
// (vpdpbusd), which define Q8_ATTR, Q8_BLOCK_DOT(ax, sw) (8 int32 partial sums of one 32-byte block,
// ax unsigned, sw signed), Q8_MATMUL_FN and Q8_BLOCK_DOTS_FN.
//
// In a product the sign source's magnitude goes to the unsigned side (|-128| = 128 fits a u8); the
// other operand takes its sign, so it must stay in [-127, 127] or sign_epi8 would overflow.
// Every output (row i, weight row r) is computed by the same steps whatever m is: batch-invariant.

Q8_ATTR static inline int32_t q8_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

Q8_ATTR void Q8_BLOCK_DOTS_FN(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks) {
    for (int blk = 0; blk < n_blocks; blk++) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + blk * 32));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + blk * 32));
        isum[blk] = q8_hsum_i32(Q8_BLOCK_DOT(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va)));
    }
}

// Prefetch distance in bytes within each weight stream.
#ifndef CK_Q8_PF
#define CK_Q8_PF 8192  // measured best of 2, 4, 8 and 16 KiB on a DRAM-sized 12288×576 product (15 → 28 GB/s at one row)
#endif
#define LOADB(p, b) _mm256_loadu_si256((const __m256i *)((p) + (b) * 32))
#define DOT_WX(ax, x, w) Q8_BLOCK_DOT(ax, _mm256_sign_epi8(w, x))

// One weight row against one activation row: blocks in groups of four whose int32 partials fold
// with a hadd tree into one vector [b0..b3 low halves | b0..b3 high halves], scaled by
// [s0..s3 | s0..s3] and accumulated in fp32; then the remaining blocks one by one.
#define Q8_ROW_TAIL(t, w0, d0)                                                                  \
    for (; b < nb; b++) {                                                                       \
        __m256i x = LOADB(xr, b), a = _mm256_sign_epi8(x, x);                                   \
        t += (float)q8_hsum_i32(DOT_WX(a, x, LOADB(w0, b))) * (d0[b] * dx[b]);                  \
    }

// Tiles of two weight rows: each activation block is loaded and made absolute once for both rows.
Q8_ATTR void Q8_MATMUL_FN(float *y, int ldy, const int8_t *xq, const float *xscale, const int8_t *wq,
                          const float *wscale, int m, int n, int k) {
    int nb = k / 32;
    for (int r = 0; r < n; r += 2) {
        int pair = r + 1 < n;
        const int8_t *w0 = wq + (size_t)r * k, *w1 = pair ? w0 + k : w0;
        const float *d0 = wscale + (size_t)r * nb, *d1 = pair ? d0 + nb : d0;
        for (int i = 0; i < m; i++) {
            const int8_t *xr = xq + (size_t)i * k;
            const float *dx = xscale + (size_t)i * nb;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int b = 0;
            for (; b + 4 <= nb; b += 4) {
                if (i == 0) {  // first pass over this row pair: fetch ahead in both weight streams
                    _mm_prefetch((const char *)(w0 + CK_Q8_PF + b * 32), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w0 + CK_Q8_PF + b * 32 + 64), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w1 + CK_Q8_PF + b * 32), _MM_HINT_T0);
                    _mm_prefetch((const char *)(w1 + CK_Q8_PF + b * 32 + 64), _MM_HINT_T0);
                }
                __m256i x0 = LOADB(xr, b), x1 = LOADB(xr, b + 1), x2 = LOADB(xr, b + 2), x3 = LOADB(xr, b + 3);
                __m256i a0 = _mm256_sign_epi8(x0, x0), a1 = _mm256_sign_epi8(x1, x1);
                __m256i a2 = _mm256_sign_epi8(x2, x2), a3 = _mm256_sign_epi8(x3, x3);
                __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(DOT_WX(a0, x0, LOADB(w0, b)), DOT_WX(a1, x1, LOADB(w0, b + 1))),
                                               _mm256_hadd_epi32(DOT_WX(a2, x2, LOADB(w0, b + 2)), DOT_WX(a3, x3, LOADB(w0, b + 3))));
                __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(DOT_WX(a0, x0, LOADB(w1, b)), DOT_WX(a1, x1, LOADB(w1, b + 1))),
                                               _mm256_hadd_epi32(DOT_WX(a2, x2, LOADB(w1, b + 2)), DOT_WX(a3, x3, LOADB(w1, b + 3))));
                __m128 sx = _mm_loadu_ps(dx + b);
                __m128 s0 = _mm_mul_ps(_mm_loadu_ps(d0 + b), sx), s1 = _mm_mul_ps(_mm_loadu_ps(d1 + b), sx);
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h0), _mm256_set_m128(s0, s0), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h1), _mm256_set_m128(s1, s1), acc1);
            }
            float t0 = ck_hsum8(acc0), t1 = ck_hsum8(acc1);
            int b1 = b;
            Q8_ROW_TAIL(t0, w0, d0)
            b = b1;
            Q8_ROW_TAIL(t1, w1, d1)
            y[(size_t)i * ldy + r] = t0;
            if (pair) y[(size_t)i * ldy + r + 1] = t1;
        }
    }
}

#undef LOADB
#undef DOT_WX
#undef Q8_ROW_TAIL
