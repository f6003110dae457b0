// The only file that includes <cblas.h>.
#include <cblas.h>
#include "CKernels.h"

void ck_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int ck_blas_get_threads(void) { return openblas_get_num_threads(); }
const char *ck_blas_config(void) { return openblas_get_config(); }

void ck_matmul_f32(float *y, const float *x, const float *w, int m, int n, int k) {
    if (m == 1) {
        // Our AVX2 GEMV streams ~6 % faster than OpenBLAS sgemv on the decode shapes (measured
        // interleaved on SmolLM2: 33.7/32.7 vs 30.8/31.6 tok/s); ck_blas_sgemv stays for comparison.
        ck_gemv_f32(y, w, x, n, k);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
    }
}

void ck_blas_sgemv(float *y, const float *w, const float *x, int n, int k) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
}
