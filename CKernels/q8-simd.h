// The int8 block products, written once and included by q8-avx2.c (maddubs/madd) and q8-vnni.c
// (vpdpbusd), which define Q8_ATTR, Q8_BLOCK_DOT(ax, sw) (8 int32 partial sums of one 32-byte block,
// ax unsigned, sw signed) and Q8_BLOCK_DOTS_FN.
//
// In a product the sign source's magnitude goes to the unsigned side (|-128| = 128 fits a u8); the
// other operand takes its sign, so it must stay in [-127, 127] or sign_epi8 would overflow.

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
