// AVX2 twins of the int8 kernels (the maddubs/madd pattern of REFERENCE.md §4). In a product the
// sign source's magnitude goes to maddubs's unsigned side (|-128| = 128 fits a u8); the other
// operand takes its sign, so it must stay in [-127, 127] or sign_epi8 would overflow.
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

// One block of the product with the activation as the sign source: |x| goes to the unsigned side
// (shared by every weight row of a tile), the weight takes x's sign. Weights must be in [-127, 127].
CK_AVX2 static inline __m256i ck_block_dot_wx(__m256i ax, __m256i x, __m256i w) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, x)), _mm256_set1_epi16(1));
}



// Prefetch distance in bytes within each weight stream; measured best of 1, 2 and 4 KiB on SmolLM2 shapes.
#define CK_Q8_PF 2048
#define LOADB(p, b) _mm256_loadu_si256((const __m256i *)((p) + (b) * 32))

// Tiles of two weight rows: each activation block is loaded and made absolute once for both rows.
// Blocks go in groups of four whose int32 partials are folded with a hadd tree into one vector
// [b0..b3 low halves | b0..b3 high halves], scaled by [s0..s3 | s0..s3], and accumulated in fp32.
CK_AVX2 void ck_q8_matmul_avx2(float *y, const int8_t *xq, const float *xscale, const int8_t *wq,
                               const float *wscale, int m, int n, int k) {
    int nb = k / 32;
    int r = 0;
    for (; r + 2 <= n; r += 2) {
        const int8_t *w0 = wq + (size_t)r * k, *w1 = w0 + k;
        const float *d0 = wscale + (size_t)r * nb, *d1 = d0 + nb;
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
                __m256i h0 = _mm256_hadd_epi32(
                    _mm256_hadd_epi32(ck_block_dot_wx(a0, x0, LOADB(w0, b)), ck_block_dot_wx(a1, x1, LOADB(w0, b + 1))),
                    _mm256_hadd_epi32(ck_block_dot_wx(a2, x2, LOADB(w0, b + 2)), ck_block_dot_wx(a3, x3, LOADB(w0, b + 3))));
                __m256i h1 = _mm256_hadd_epi32(
                    _mm256_hadd_epi32(ck_block_dot_wx(a0, x0, LOADB(w1, b)), ck_block_dot_wx(a1, x1, LOADB(w1, b + 1))),
                    _mm256_hadd_epi32(ck_block_dot_wx(a2, x2, LOADB(w1, b + 2)), ck_block_dot_wx(a3, x3, LOADB(w1, b + 3))));
                __m128 sx = _mm_loadu_ps(dx + b);
                __m128 s0 = _mm_mul_ps(_mm_loadu_ps(d0 + b), sx), s1 = _mm_mul_ps(_mm_loadu_ps(d1 + b), sx);
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h0), _mm256_set_m128(s0, s0), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(h1), _mm256_set_m128(s1, s1), acc1);
            }
            float t0 = ck_hsum8(acc0), t1 = ck_hsum8(acc1);
            for (; b < nb; b++) {
                __m256i x = LOADB(xr, b), a = _mm256_sign_epi8(x, x);
                t0 += (float)ck_hsum_i32(ck_block_dot_wx(a, x, LOADB(w0, b))) * (d0[b] * dx[b]);
                t1 += (float)ck_hsum_i32(ck_block_dot_wx(a, x, LOADB(w1, b))) * (d1[b] * dx[b]);
            }
            y[(size_t)i * n + r] = t0;
            y[(size_t)i * n + r + 1] = t1;
        }
    }
    for (; r < n; r++) {
        const int8_t *w0 = wq + (size_t)r * k;
        const float *d0 = wscale + (size_t)r * nb;
        for (int i = 0; i < m; i++) {
            const int8_t *xr = xq + (size_t)i * k;
            const float *dx = xscale + (size_t)i * nb;
            float t = 0;
            for (int b = 0; b < nb; b++) {
                __m256i x = LOADB(xr, b), a = _mm256_sign_epi8(x, x);
                t += (float)ck_hsum_i32(ck_block_dot_wx(a, x, LOADB(w0, b))) * (d0[b] * dx[b]);
            }
            y[(size_t)i * n + r] = t;
        }
    }
}
