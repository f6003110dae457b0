// The quantized products over the helper threads (pool.c). Each chunk takes whole 16-row groups, the unit the
// x16 layouts store, so how the rows are split, and which thread runs a chunk, never changes a result.
#include "internal.h"

typedef struct {
    float *y;
    const int8_t *xq;
    const float *xscale;
    const void *aux;  // Q4: the activations' block sums (float); Q8: their −128·Σx terms (int32)
    const uint8_t *w;
    int m, n, k, q4, chunks;
} quant_job;

static void quant_chunk(void *ctx, int chunk, int part) {
    (void)part;
    const quant_job *j = ctx;
    int groups = (int)ck_x16_groups(j->n);
    int g0 = (int)((long)groups * chunk / j->chunks), g1 = (int)((long)groups * (chunk + 1) / j->chunks);
    int r0 = g0 * 16, r1 = g1 * 16 < j->n ? g1 * 16 : j->n;
    if (r1 <= r0) return;
    size_t record = j->q4 ? CK_X16_Q4_BLOCK : CK_X16_Q8_BLOCK;
    const uint8_t *w = j->w + (size_t)g0 * (size_t)(j->k / 32) * record;
    if (j->q4)
        ck_q4_matmul(j->y + r0, j->n, j->xq, j->xscale, j->aux, w, j->m, r1 - r0, j->k);
    else
        ck_q8_matmul(j->y + r0, j->n, j->xq, j->xscale, j->aux, w, j->m, r1 - r0, j->k);
}

// Without `threaded`, one chunk on the calling thread.
static void run(quant_job *job, int threaded) {
    int parts = threaded ? ck_pool_parts() : 1;
    job->chunks = ck_pool_chunks((int)ck_x16_groups(job->n), parts);
    ck_pool_run(quant_chunk, job, job->chunks, parts);
}

void ck_matmul_q8(float *y, const int8_t *xq, const float *xscale, const int32_t *xcorr, const uint8_t *w,
                  int m, int n, int k, int threaded) {
    quant_job job = {y, xq, xscale, xcorr, w, m, n, k, 0, 0};
    run(&job, threaded);
}

void ck_matmul_q4(float *y, const int8_t *xq, const float *xscale, const float *xsum, const uint8_t *w,
                  int m, int n, int k, int threaded) {
    quant_job job = {y, xq, xscale, xsum, w, m, n, k, 1, 0};
    run(&job, threaded);
}
