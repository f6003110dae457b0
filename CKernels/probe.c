// Machine probes for the profiler: the ceilings every kernel is compared against.
#include "internal.h"

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

float ck_probe_read_f32(const float *p, size_t n) {
    if (ck_cpu_has_avx2_fma()) return read_avx2(p, n);
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return s;
}

CK_AVX2 static float fma_avx2(int64_t iters) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a[12];
    for (int j = 0; j < 12; j++) a[j] = _mm256_set1_ps((float)j);
    for (int64_t i = 0; i < iters; i++) {
        a[0] = _mm256_fmadd_ps(a[0], m, c); a[1] = _mm256_fmadd_ps(a[1], m, c);
        a[2] = _mm256_fmadd_ps(a[2], m, c); a[3] = _mm256_fmadd_ps(a[3], m, c);
        a[4] = _mm256_fmadd_ps(a[4], m, c); a[5] = _mm256_fmadd_ps(a[5], m, c);
        a[6] = _mm256_fmadd_ps(a[6], m, c); a[7] = _mm256_fmadd_ps(a[7], m, c);
        a[8] = _mm256_fmadd_ps(a[8], m, c); a[9] = _mm256_fmadd_ps(a[9], m, c);
        a[10] = _mm256_fmadd_ps(a[10], m, c); a[11] = _mm256_fmadd_ps(a[11], m, c);
        __asm__ volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]), "+x"(a[4]), "+x"(a[5]));
    }
    __m256 s = a[0];
    for (int j = 1; j < 12; j++) s = _mm256_add_ps(s, a[j]);
    return ck_hsum8(s);
}

float ck_probe_fma(int64_t iters) { return ck_cpu_has_avx2_fma() ? fma_avx2(iters) : 0.0f; }

CK_AVX2 static int32_t int8_avx2(int64_t iters) {
    // Eight chains with distinct inputs, each input perturbed every iteration through an empty asm,
    // so no maddubs can be shared or hoisted: each iteration really issues 8 maddubs + 8 madd.
    __m256i x[8], a[8];
    const __m256i y = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    for (int j = 0; j < 8; j++) { x[j] = _mm256_set1_epi8((char)(j + 1)); a[j] = _mm256_setzero_si256(); }
    for (int64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(x[0]), "+x"(x[1]), "+x"(x[2]), "+x"(x[3]));
        __asm__ volatile("" : "+x"(x[4]), "+x"(x[5]), "+x"(x[6]), "+x"(x[7]));
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x[j], y), ones));
    }
    __m256i s = a[0];
    for (int j = 1; j < 8; j++) s = _mm256_add_epi32(s, a[j]);
    return _mm256_extract_epi32(s, 0);
}

int32_t ck_probe_int8(int64_t iters) { return ck_cpu_has_avx2_fma() ? int8_avx2(iters) : 0; }
