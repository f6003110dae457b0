// Machine probes for the profiler: the ceilings every kernel is compared against.
#include "internal.h"

#if CK_X86

CK_AVX2 static float read_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
        a4 = _mm256_add_ps(a4, _mm256_loadu_ps(p + i + 32));
        a5 = _mm256_add_ps(a5, _mm256_loadu_ps(p + i + 40));
        a6 = _mm256_add_ps(a6, _mm256_loadu_ps(p + i + 48));
        a7 = _mm256_add_ps(a7, _mm256_loadu_ps(p + i + 56));
    }
    float s = ck_hsum8(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                     _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))));
    for (; i < n; i++) s += p[i];
    return s;
}

#endif

float ck_probe_read_f32(const float *p, size_t n) {
#if CK_X86
    if (ck_cpu_has_avx2_fma()) return read_avx2(p, n);
#endif
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}

// The int8 peak of each instruction sequence the kernels use, and the FMA peak of each width: twelve
// independent chains with distinct starting values (equal ones let the compiler merge the chains), each
// input passed through an empty asm every iteration so nothing is hoisted.
#define PROBE_CHAINS 12
#if CK_X86
#define PROBE_LOOP(T, INIT, STEP, FOLD)                                                                   \
    T a[PROBE_CHAINS];                                                                                    \
    for (int j = 0; j < PROBE_CHAINS; j++) a[j] = INIT(j);                                                \
    for (int64_t i = 0; i < iters; i++) {                                                                 \
        for (int j = 0; j < PROBE_CHAINS; j++) a[j] = STEP(a[j]);                                         \
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]));   \
        __asm__ volatile("" : "+v"(a[6]), "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11])); \
    }                                                                                                     \
    T s = a[0];                                                                                           \
    for (int j = 1; j < PROBE_CHAINS; j++) s = FOLD(s, a[j]);

#define I256(j) _mm256_set1_epi32((int)(j) * 7 + 1)
#define I512(j) _mm512_set1_epi32((int)(j) * 7 + 1)
CK_AVX2 static int32_t probe_maddubs(int64_t iters) {
    // maddubs does not read the accumulator, so each chain gets its own input, passed through an empty
    // asm every iteration: otherwise the product is hoisted out of the loop and only the adds remain.
    // Six chains: 6 inputs + 6 sums + 2 constants fit the 16 ymm registers (eight spilled to the stack).
    const __m256i w = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    __m256i u[6], a[6];
    for (int j = 0; j < 6; j++) { u[j] = _mm256_set1_epi8((char)(j + 1)); a[j] = I256(j); }
    for (int64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(u[0]), "+x"(u[1]), "+x"(u[2]), "+x"(u[3]), "+x"(u[4]), "+x"(u[5]));
        for (int j = 0; j < 6; j++) a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(u[j], w), ones));
    }
    __m256i s = a[0];
    for (int j = 1; j < 6; j++) s = _mm256_add_epi32(s, a[j]);
    return _mm256_extract_epi32(s, 0);
}
CK_AVXVNNI static int32_t probe_vnni_vex(int64_t iters) {
    const __m256i u = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2);
#define STEP(acc) _mm256_dpbusd_avx_epi32(acc, u, w)
    PROBE_LOOP(__m256i, I256, STEP, _mm256_add_epi32)
#undef STEP
    return _mm256_extract_epi32(s, 0);
}
CK_AVX512VNNI static int32_t probe_vnni_ymm(int64_t iters) {
    const __m256i u = _mm256_set1_epi8(3), w = _mm256_set1_epi8(-2);
#define STEP(acc) _mm256_dpbusd_epi32(acc, u, w)
    PROBE_LOOP(__m256i, I256, STEP, _mm256_add_epi32)
#undef STEP
    return _mm256_extract_epi32(s, 0);
}
CK_AVX512VNNI static int32_t probe_vnni_zmm(int64_t iters) {
    const __m512i u = _mm512_set1_epi8(3), w = _mm512_set1_epi8(-2);
#define STEP(acc) _mm512_dpbusd_epi32(acc, u, w)
    PROBE_LOOP(__m512i, I512, STEP, _mm512_add_epi32)
#undef STEP
    return _mm_cvtsi128_si32(_mm512_castsi512_si128(s));
}
#define F256(j) _mm256_set1_ps((float)(j) + 0.5f)
#define F512(j) _mm512_set1_ps((float)(j) + 0.5f)
CK_AVX2 static float probe_fma_ymm(int64_t iters) {
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define STEP(acc) _mm256_fmadd_ps(acc, m, c)
    PROBE_LOOP(__m256, F256, STEP, _mm256_add_ps)
#undef STEP
    return ck_hsum8(s);
}
CK_AVX512 static float probe_fma_zmm(int64_t iters) {
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define STEP(acc) _mm512_fmadd_ps(acc, m, c)
    PROBE_LOOP(__m512, F512, STEP, _mm512_add_ps)
#undef STEP
    return ck_hsum16(s);
}

#endif  // CK_X86

const char *ck_probe_name(int probe) {
    static const char *const names[CK_PROBE_COUNT] = {"maddubs+madd ymm", "vpdpbusd ymm (AVX-VNNI)", "vpdpbusd ymm (AVX512-VNNI)",
                                                      "vpdpbusd zmm", "FMA ymm", "FMA zmm"};
    return probe >= 0 && probe < CK_PROBE_COUNT ? names[probe] : NULL;
}

double ck_probe_ops_per_iter(int probe) {
    unsigned f = ck_cpu_features();
    switch (probe) {
    case CK_PROBE_MADDUBS: return f & CK_FEAT_AVX2_FMA ? 6 * 32.0 : 0;
    case CK_PROBE_VNNI_VEX: return f & CK_FEAT_AVX_VNNI ? PROBE_CHAINS * 32.0 : 0;
    case CK_PROBE_VNNI_YMM: return f & CK_FEAT_AVX512_VNNI ? PROBE_CHAINS * 32.0 : 0;
    case CK_PROBE_VNNI_ZMM: return f & CK_FEAT_AVX512_VNNI ? PROBE_CHAINS * 64.0 : 0;
    case CK_PROBE_FMA_YMM: return f & CK_FEAT_AVX2_FMA ? PROBE_CHAINS * 16.0 : 0;
    case CK_PROBE_FMA_ZMM: return f & CK_FEAT_AVX512 ? PROBE_CHAINS * 32.0 : 0;
    default: return 0;
    }
}

double ck_probe_run(int probe, int64_t iters) {
    if (ck_probe_ops_per_iter(probe) == 0) return 0;
#if CK_X86
    switch (probe) {
    case CK_PROBE_MADDUBS: return probe_maddubs(iters);
    case CK_PROBE_VNNI_VEX: return probe_vnni_vex(iters);
    case CK_PROBE_VNNI_YMM: return probe_vnni_ymm(iters);
    case CK_PROBE_VNNI_ZMM: return probe_vnni_zmm(iters);
    case CK_PROBE_FMA_YMM: return probe_fma_ymm(iters);
    default: return probe_fma_zmm(iters);
    }
#else
    (void)iters;
    return 0;
#endif
}
