// The only file that includes <cblas.h>.
#include <cblas.h>
#include "internal.h"

// Explicit from the start: OpenBLAS would otherwise take every core (or OPENBLAS_NUM_THREADS).
__attribute__((constructor)) static void ck_blas_init(void) { openblas_set_num_threads(1); }

void ck_blas_set_threads(int n) {
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    ck_pool_set_threads(n);
}

int ck_blas_get_threads(void) { return openblas_get_num_threads(); }

typedef struct {
    float *y;
    const float *x, *w;
    int m, n, k, chunks;
} gemm_job;

// A chunk is a contiguous range of weight rows (in multiples of 4, so no two chunks write one cache line of y);
// an output is computed the same way in any chunk.
static void gemm_chunk(void *ctx, int chunk, int part) {
    (void)part;
    const gemm_job *j = ctx;
    int tiles = (j->n + 3) / 4;
    int t0 = (int)((long)tiles * chunk / j->chunks), t1 = (int)((long)tiles * (chunk + 1) / j->chunks);
    int r0 = t0 * 4, r1 = t1 * 4 < j->n ? t1 * 4 : j->n;
    if (r1 > r0) ck_gemm_f32(j->y + r0, j->n, j->x, j->w + (size_t)r0 * j->k, j->m, r1 - r0, j->k);
}

void ck_matmul_f32(float *y, const float *x, const float *w, int m, int n, int k) {
    // Every row count through the batch-invariant product, prefill included: a row's sums never depend
    // on the rows beside it, so a sequence decodes to the same bits alone, in a batch of many users, or
    // in any prefill chunking. One pass over W serves all m rows; OpenBLAS sgemm would also re-pack the
    // whole weight matrix on every call.
    int parts = ck_pool_parts();
    gemm_job job = {y, x, w, m, n, k, ck_pool_chunks((n + 3) / 4, parts)};
    ck_pool_run(gemm_chunk, &job, job.chunks, parts);
}

void ck_blas_sgemv(float *y, const float *w, const float *x, int n, int k) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
}

void ck_blas_sgemm(float *y, const float *x, const float *w, int m, int n, int k) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
}
