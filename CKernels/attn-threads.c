// Attention over the helper threads (pool.c). A chunk computes whole (row, head) outputs through the
// dispatched ck_attn_f32 or ck_attn_f16kv, on a sub-problem expressed by offsets alone, so every output is computed
// exactly as in a single call (the kernel's batch invariance): KV heads split by groups, and causal
// chunks split by blocks of rows, the rows before a block joining its prefix.
#include "internal.h"

#define CK_ATTN_MAX_PARTS 4

size_t ck_attn_threaded_scratch_floats(int n_rows, int n_heads, int n_kv_heads, int n_keys) {
    return CK_ATTN_MAX_PARTS * ck_attn_scratch_floats(n_rows, n_heads, n_kv_heads, n_keys);
}

// A batch's runs in one pool job: items are (run, block of CK_ATTN_ROWS rows, KV group), in that order, each
// costing its rows × keys plus a fixed overhead. The items are cut into chunks of equal estimated cost (an item
// goes to the chunk its cost midpoint falls in); a chunk calls the kernel once per run block over the consecutive
// groups it holds. Where each chunk starts is found once, by the caller.
#define CK_ATTN_MAX_CHUNKS (CK_ATTN_MAX_PARTS * CK_POOL_CHUNKS_PER_PART)

typedef struct {
    int run, r0, g;  // run < 0: no item falls in the chunk
    double before;   // the cost of the items before it
} attn_pos;

typedef struct {
    float *out;
    const float *q;
    const void *k, *v;
    const ck_attn_run *runs;
    float *scratch;
    size_t part_floats;
    double total;
    float scale;
    int out_stride, q_stride, kv_stride, kv_f16, n_runs, n_heads, n_kv_heads, head_dim, chunks;
    attn_pos start[CK_ATTN_MAX_CHUNKS];
} attn_runs_job;

// ck_attn_f32 or ck_attn_f16kv on a cache `offset` elements into k and v.
static void attn_call(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v, size_t offset,
                      int kv_stride, int kv_f16, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                      int n_kv_heads, int head_dim, float scale, float *scratch) {
    if (kv_f16)
        ck_attn_f16kv(out, out_stride, q, q_stride, (const uint16_t *)k + offset, (const uint16_t *)v + offset, kv_stride,
                      n_rows, n_prefix, n_new, mask, n_heads, n_kv_heads, head_dim, scale, scratch);
    else
        ck_attn_f32(out, out_stride, q, q_stride, (const float *)k + offset, (const float *)v + offset, kv_stride, n_rows,
                    n_prefix, n_new, mask, n_heads, n_kv_heads, head_dim, scale, scratch);
}

#define CK_ATTN_ITEM_OVERHEAD 64.0  // keys' worth of fixed cost per call

static double attn_block_cost(const ck_attn_run *run, int r0, int r1) {
    int keys = run->mask ? run->n_prefix + run->n_new : run->n_prefix + (r1 < run->n_new ? r1 : run->n_new);
    return (double)(r1 - r0) * keys + CK_ATTN_ITEM_OVERHEAD;
}

static void attn_block_groups(const attn_runs_job *j, const ck_attn_run *run, int r0, int r1, int g0, int g1, float *scratch) {
    int group = j->n_heads / j->n_kv_heads;
    int h0 = g0 * group, d0 = g0 * j->head_dim;
    int row = run->row + r0;
    // Causal rows of a block see the block's earlier rows as prefix; masked rows keep their mask rows.
    int prefix = run->mask ? run->n_prefix : run->n_prefix + r0, fresh = run->mask ? run->n_new : run->n_new - r0;
    const uint8_t *mask = run->mask ? run->mask + (size_t)r0 * run->n_new : NULL;
    attn_call(j->out + (size_t)row * j->out_stride + (size_t)h0 * j->head_dim, j->out_stride,
              j->q + (size_t)row * j->q_stride + (size_t)h0 * j->head_dim, j->q_stride, j->k, j->v, run->kv_offset + d0,
              j->kv_stride, j->kv_f16, r1 - r0, prefix, fresh, mask, (g1 - g0) * group, g1 - g0, j->head_dim, j->scale,
              scratch);
}

// The chunk of an item that costs `cost` after `before`: chunks never decrease along the items.
static int attn_owner(const attn_runs_job *j, double before, double cost) {
    int owner = (int)((before + cost / 2) * j->chunks / j->total);
    return owner > j->chunks - 1 ? j->chunks - 1 : owner;
}

// A run's first CK_ATTN_PREFETCH_KEYS key rows (the kernel's first block) into L2, while the run before it
// computes: the kernel fetches every later block itself, values included, while the block before it computes,
// but a run's first block would otherwise start cold from DRAM, and decode runs are only a few blocks long.
#define CK_ATTN_PREFETCH_KEYS 64

static void attn_prefetch_run(const attn_runs_job *j, const ck_attn_run *run) {
    int keys = run->n_prefix + run->n_new < CK_ATTN_PREFETCH_KEYS ? run->n_prefix + run->n_new : CK_ATTN_PREFETCH_KEYS;
    size_t elem = j->kv_f16 ? 2 : 4, bytes = (size_t)keys * (size_t)j->kv_stride * elem;
    const char *k = (const char *)j->k + run->kv_offset * elem;
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(k + b, 0, 2);
}

static void attn_runs_chunk(void *ctx, int chunk, int part) {
    const attn_runs_job *j = ctx;
    const attn_pos at = j->start[chunk];
    if (at.run < 0) return;
    float *scratch = j->scratch + (size_t)part * j->part_floats;
    double before = at.before;
    for (int i = at.run; i < j->n_runs; i++) {
        const ck_attn_run *run = &j->runs[i];
        if (i + 1 < j->n_runs) attn_prefetch_run(j, &j->runs[i + 1]);
        for (int r0 = i == at.run ? at.r0 : 0; r0 < run->n_rows; r0 += CK_ATTN_ROWS) {
            int r1 = r0 + CK_ATTN_ROWS < run->n_rows ? r0 + CK_ATTN_ROWS : run->n_rows;
            double cost = attn_block_cost(run, r0, r1) / j->n_kv_heads;
            int g0 = -1;
            for (int g = i == at.run && r0 == at.r0 ? at.g : 0; g < j->n_kv_heads; g++) {
                int owner = attn_owner(j, before, cost);
                before += cost;
                if (owner != chunk) {
                    if (g0 >= 0) attn_block_groups(j, run, r0, r1, g0, g, scratch);
                    return;
                }
                if (g0 < 0) g0 = g;
            }
            if (g0 >= 0) attn_block_groups(j, run, r0, r1, g0, j->n_kv_heads, scratch);
        }
    }
}

void ck_attn_runs(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v, int kv_stride,
                  int kv_f16, const ck_attn_run *runs, int n_runs, int n_heads, int n_kv_heads, int head_dim, float scale,
                  float *scratch, int threaded) {
    if (!threaded) {
        for (int i = 0; i < n_runs; i++) {
            const ck_attn_run *r = &runs[i];
            attn_call(out + (size_t)r->row * out_stride, out_stride, q + (size_t)r->row * q_stride, q_stride, k, v,
                      r->kv_offset, kv_stride, kv_f16, r->n_rows, r->n_prefix, r->n_new, r->mask, n_heads, n_kv_heads,
                      head_dim, scale, scratch);
        }
        return;
    }
    if (n_runs == 0) return;
    int max_rows = 1, max_keys = 1, items = 0;
    double total = 0;
    for (int i = 0; i < n_runs; i++) {
        const ck_attn_run *r = &runs[i];
        if (r->n_rows > max_rows) max_rows = r->n_rows;
        if (r->n_prefix + r->n_new > max_keys) max_keys = r->n_prefix + r->n_new;
        for (int r0 = 0; r0 < r->n_rows; r0 += CK_ATTN_ROWS, items += n_kv_heads)
            total += attn_block_cost(r, r0, r0 + CK_ATTN_ROWS < r->n_rows ? r0 + CK_ATTN_ROWS : r->n_rows);
    }
    int parts = ck_pool_parts() < CK_ATTN_MAX_PARTS ? ck_pool_parts() : CK_ATTN_MAX_PARTS;
    int chunks = ck_pool_chunks(items, parts);
    attn_runs_job job = {out, q, k, v, runs, scratch, ck_attn_scratch_floats(max_rows, n_heads, n_kv_heads, max_keys), total,
                         scale, out_stride, q_stride, kv_stride, kv_f16, n_runs, n_heads, n_kv_heads, head_dim, chunks};
    for (int c = 0; c < chunks; c++) job.start[c].run = -1;
    // The same walk as attn_runs_chunk's, so each chunk resumes it with the same sums.
    double before = 0;
    for (int i = 0; i < n_runs; i++)
        for (int r0 = 0; r0 < runs[i].n_rows; r0 += CK_ATTN_ROWS) {
            int r1 = r0 + CK_ATTN_ROWS < runs[i].n_rows ? r0 + CK_ATTN_ROWS : runs[i].n_rows;
            double cost = attn_block_cost(&runs[i], r0, r1) / n_kv_heads;
            for (int g = 0; g < n_kv_heads; g++) {
                int owner = attn_owner(&job, before, cost);
                if (job.start[owner].run < 0) job.start[owner] = (attn_pos){i, r0, g, before};
                before += cost;
            }
        }
    ck_pool_run(attn_runs_chunk, &job, chunks, parts);
}
