// Private helpers shared by the kernel files; not part of the public header.
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H
#include "CKernels.h"

// Little-endian fields of the weight formats, and 4 activation bytes as one broadcastable int32.
static inline uint16_t ck_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline void ck_wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline int32_t ck_ld32(const int8_t *p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

// The SIMD twins are x86 code; elsewhere only the scalar twins are built and dispatched.
#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#else
#define CK_X86 0
#endif

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define CK_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl")))
#define CK_AVX512VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl,avx512vnni")))

// The helper threads (pool.c). ck_pool_run calls fn(ctx, c, part) once for every chunk c < n_chunks, on the calling
// thread (part 0) and on at most max_parts - 1 helpers (part names the thread, for its scratch), and returns when all
// are done. Part p first takes chunks [n·p/parts, n·(p+1)/parts) in order, then what is left of the other shares.
typedef void (*ck_chunk_fn)(void *ctx, int chunk, int part);
int ck_pool_set_threads(int n);
int ck_pool_parts(void);
void ck_pool_run(ck_chunk_fn fn, void *ctx, int n_chunks, int max_parts);
// Chunks per part of a product or an attention: enough that a thread left behind hands most of its share over,
// few enough that a chunk still streams a long sequential run of weights.
#define CK_POOL_CHUNKS_PER_PART 4
// The chunks of a job of `units` indivisible pieces on `parts` threads: CK_POOL_CHUNKS_PER_PART each, one alone.
int ck_pool_chunks(int units, int parts);

#if CK_X86
#include <immintrin.h>

// Horizontal sum of 8 floats.
CK_AVX2 static inline float ck_hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    lo = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, lo);
    return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

// Horizontal sum of 16 floats in a fixed order: the two 256-bit halves, then ck_hsum8's tree.
CK_AVX512 static inline float ck_hsum16(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return ck_hsum8(_mm256_add_ps(lo, hi));
}

// The horizontal sums of 8 vectors at once, [Σa0 … Σa7], each by a fixed tree of its own lanes
// (pairs, then quads, then the two 128-bit halves), so a lane's sum never depends on the others.
CK_AVX2 static inline __m256 ck_sum8x8(const __m256 a[8]) {
    __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
    __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
    __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

// ck_sum8x8 of 16-lane vectors: each first folded to 8 lanes (low half + high half).
CK_AVX512 static inline __m256 ck_sum8x16(const __m512 a[8]) {
    __m256 f[8];
    for (int t = 0; t < 8; t++)
        f[t] = _mm256_add_ps(_mm512_castps512_ps256(a[t]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[t]), 1)));
    return ck_sum8x8(f);
}

// Horizontal sum of 4 floats: (v0 + v1) + (v2 + v3).
CK_AVX2 static inline float ck_hsum4(__m128 v) {
    __m128 sh = _mm_movehdup_ps(v);
    v = _mm_add_ps(v, sh);
    sh = _mm_movehl_ps(sh, v);
    return _mm_cvtss_f32(_mm_add_ss(v, sh));
}

CK_AVX2 static inline float ck_hmax8(__m256 v) {
    __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

// exp(x) for 8 lanes: range reduction x = n·ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r
// (Cephes expf coefficients), then scale by 2^n through the exponent bits. Inputs are clamped to
// [-87.3, 88.3] so the result never overflows to inf or underflows to a denormal; relative error
// is about 2 ulp, which is what the reference expf gives up to rounding.
CK_AVX2 static inline __m256 ck_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 y = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
// ck_exp8 on 16 lanes, the same steps and constants.
CK_AVX512 static inline __m512 ck_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 y = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}
#endif

// Query rows the attention twins take per chunk, and the padded length of a score row.
#define CK_ATTN_ROWS 8
static inline int ck_attn_scratch_stride(int n_keys) { return (n_keys + 15) / 16 * 16; }

#endif
