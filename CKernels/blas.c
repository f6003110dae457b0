// The only file that includes <cblas.h>.
#include <cblas.h>
#include "CKernels.h"

// Up to this many rows the single-threaded small GEMM beats sgemm here (measured: see README).
#define CK_SMALL_GEMM_ROWS 16

void ck_blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int ck_blas_get_threads(void) { return openblas_get_num_threads(); }
const char *ck_blas_config(void) { return openblas_get_config(); }

void ck_matmul_f32(float *y, const float *x, const float *w, int m, int n, int k) {
    if (m >= 2 && m <= CK_SMALL_GEMM_ROWS && openblas_get_num_threads() == 1) {
        // OpenBLAS sgemm packs the whole weight matrix on every call: for a few rows that costs as
        // much as reading it. Streaming each weight row once for all rows is ~memory-bound instead.
        ck_gemm_f32_small(y, x, w, m, n, k);
    } else if (m == 1) {
        // sgemv, never sgemm with M = 1 (~4x slower). Our own ck_gemv_f32 measured the same as sgemv
        // on one thread (interleaved runs: 6 % faster once, equal later) and is single-threaded.
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
    }
}

void ck_blas_sgemv(float *y, const float *w, const float *x, int n, int k) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
}
