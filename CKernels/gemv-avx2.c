// AVX2+FMA GEMV for single-token decode: four weight rows per pass share each load of x (which
// stays in L1), giving four long sequential streams that the hardware prefetcher keeps ahead of.
#include "internal.h"

CK_AVX2 void ck_gemv_f32_avx2(float *y, const float *w, const float *x, int n, int k) {
    int r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *w0 = w + (size_t)r * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int i = 0;
        for (; i + 16 <= k; i += 16) {
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), x0, a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i + 8), x1, b0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), x0, a1);
            b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i + 8), x1, b1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), x0, a2);
            b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i + 8), x1, b2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), x0, a3);
            b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i + 8), x1, b3);
        }
        for (; i + 8 <= k; i += 8) {
            __m256 x0 = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), x0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), x0, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), x0, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), x0, a3);
        }
        float s0 = ck_hsum8(_mm256_add_ps(a0, b0)), s1 = ck_hsum8(_mm256_add_ps(a1, b1));
        float s2 = ck_hsum8(_mm256_add_ps(a2, b2)), s3 = ck_hsum8(_mm256_add_ps(a3, b3));
        for (; i < k; i++) {
            s0 += w0[i] * x[i];
            s1 += w1[i] * x[i];
            s2 += w2[i] * x[i];
            s3 += w3[i] * x[i];
        }
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;
    }
    for (; r < n; r++) y[r] = ck_vec_dot_f32_avx2(w + (size_t)r * k, x, k);
}

// Two weight rows × up to four activation rows per pass: 8 accumulators, 6 loads per 8 FMAs.
// The two weight rows stay in L1 across the activation chunks, so each is read from memory once;
// the first chunk prefetches 2 KiB ahead in both weight streams (measured ~10 % faster at 2–8 rows).
CK_AVX2 static void gemm_2x4(float *y, const float *x, const float *w0, const float *w1, int rows, int n, int r, int k,
                             int prefetch) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    const float *x0 = x, *x1 = x + (rows > 1 ? k : 0), *x2 = x + (rows > 2 ? 2 * k : 0), *x3 = x + (rows > 3 ? 3 * k : 0);
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        if (prefetch && (i & 15) == 0) {  // one 64-byte line per stream, 2 KiB ahead
            _mm_prefetch((const char *)(w0 + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(w1 + i + 512), _MM_HINT_T0);
        }
        __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i);
        __m256 u = _mm256_loadu_ps(x0 + i);
        a00 = _mm256_fmadd_ps(v0, u, a00); a10 = _mm256_fmadd_ps(v1, u, a10);
        u = _mm256_loadu_ps(x1 + i);
        a01 = _mm256_fmadd_ps(v0, u, a01); a11 = _mm256_fmadd_ps(v1, u, a11);
        u = _mm256_loadu_ps(x2 + i);
        a02 = _mm256_fmadd_ps(v0, u, a02); a12 = _mm256_fmadd_ps(v1, u, a12);
        u = _mm256_loadu_ps(x3 + i);
        a03 = _mm256_fmadd_ps(v0, u, a03); a13 = _mm256_fmadd_ps(v1, u, a13);
    }
    float s[2][4] = {{ck_hsum8(a00), ck_hsum8(a01), ck_hsum8(a02), ck_hsum8(a03)},
                     {ck_hsum8(a10), ck_hsum8(a11), ck_hsum8(a12), ck_hsum8(a13)}};
    const float *xs[4] = {x0, x1, x2, x3};
    for (; i < k; i++)
        for (int j = 0; j < 4; j++) { s[0][j] += w0[i] * xs[j][i]; s[1][j] += w1[i] * xs[j][i]; }
    for (int j = 0; j < rows; j++) {
        y[(size_t)j * n + r] = s[0][j];
        if (w1 != w0) y[(size_t)j * n + r + 1] = s[1][j];
    }
}

CK_AVX2 void ck_gemm_f32_small_avx2(float *y, const float *x, const float *w, int m, int n, int k) {
    for (int r = 0; r < n; r += 2) {
        const float *w0 = w + (size_t)r * k, *w1 = r + 1 < n ? w0 + k : w0;
        for (int i = 0; i < m; i += 4) {
            int rows = m - i < 4 ? m - i : 4;
            gemm_2x4(y + (size_t)i * n, x + (size_t)i * k, w0, w1, rows, n, r, k, i == 0);
        }
    }
}
