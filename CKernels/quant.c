// The quantized products over the helper threads (pool.c). Each part takes whole 2-row tiles, the
// unit the kernels compute, so how the rows are split never changes a result.
#include "internal.h"

typedef struct {
    float *y;
    const int8_t *xq;
    const float *xscale, *xsum;
    const void *w;
    const float *wscale;  // Q8 only
    int m, n, k, q4;
} quant_job;

static void quant_part(void *ctx, int part, int parts) {
    const quant_job *j = ctx;
    int tiles = (j->n + 1) / 2;
    int r0 = tiles * part / parts * 2, r1 = tiles * (part + 1) / parts * 2;
    if (r1 > j->n) r1 = j->n;
    if (r1 <= r0) return;
    if (j->q4)
        ck_q4_matmul(j->y + r0, j->n, j->xq, j->xscale, j->xsum, (const uint8_t *)j->w + (size_t)r0 * ck_q4_row_bytes(j->k),
                     j->m, r1 - r0, j->k);
    else
        ck_q8_matmul(j->y + r0, j->n, j->xq, j->xscale, (const int8_t *)j->w + (size_t)r0 * j->k,
                     j->wscale + (size_t)r0 * (j->k / 32), j->m, r1 - r0, j->k);
}

static void run(quant_job *job, int threaded) {
    if (threaded)
        ck_pool_run(quant_part, job);
    else
        quant_part(job, 0, 1);
}

void ck_matmul_q8(float *y, const int8_t *xq, const float *xscale, const int8_t *wq, const float *wscale,
                  int m, int n, int k, int threaded) {
    quant_job job = {y, xq, xscale, NULL, wq, wscale, m, n, k, 0};
    run(&job, threaded);
}

void ck_matmul_q4(float *y, const int8_t *xq, const float *xscale, const float *xsum, const uint8_t *w,
                  int m, int n, int k, int threaded) {
    quant_job job = {y, xq, xscale, xsum, w, NULL, m, n, k, 1};
    run(&job, threaded);
}
