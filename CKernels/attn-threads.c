// Attention over the helper threads (pool.c). A part computes whole (row, head) outputs through the
// dispatched ck_attn_f32, on a sub-problem expressed by offsets alone, so every output is computed
// exactly as in a single call (the kernel's batch invariance): KV heads split by groups, or, for causal
// chunks of several rows, query rows split, the rows before a part's first row joining its prefix.
#include "internal.h"

#define CK_ATTN_MAX_PARTS 4

typedef struct {
    float *out;
    const float *q, *k, *v;
    const uint8_t *mask;
    float *scratch;
    size_t part_floats;
    float scale;
    int out_stride, q_stride, kv_stride, n_rows, n_prefix, n_new, n_heads, n_kv_heads, head_dim;
} attn_job;

static void attn_part(void *ctx, int part, int parts) {
    const attn_job *j = ctx;
    if (parts > CK_ATTN_MAX_PARTS) parts = CK_ATTN_MAX_PARTS;
    if (part >= parts) return;
    float *scratch = j->scratch + (size_t)part * j->part_floats;
    int group = j->n_heads / j->n_kv_heads;
    if (!j->mask && j->n_rows >= 2 * parts) {
        int r0 = j->n_rows * part / parts, r1 = j->n_rows * (part + 1) / parts;
        ck_attn_f32(j->out + (size_t)r0 * j->out_stride, j->out_stride, j->q + (size_t)r0 * j->q_stride, j->q_stride, j->k, j->v,
                    j->kv_stride, r1 - r0, j->n_prefix + r0, j->n_new - r0, NULL, j->n_heads, j->n_kv_heads, j->head_dim,
                    j->scale, scratch);
        return;
    }
    int g0 = j->n_kv_heads * part / parts, g1 = j->n_kv_heads * (part + 1) / parts;
    if (g1 <= g0) return;
    int h0 = g0 * group, d0 = g0 * j->head_dim;
    ck_attn_f32(j->out + (size_t)h0 * j->head_dim, j->out_stride, j->q + (size_t)h0 * j->head_dim, j->q_stride, j->k + d0,
                j->v + d0, j->kv_stride, j->n_rows, j->n_prefix, j->n_new, j->mask, (g1 - g0) * group, g1 - g0, j->head_dim,
                j->scale, scratch);
}

size_t ck_attn_threaded_scratch_floats(int n_rows, int n_heads, int n_kv_heads, int n_keys) {
    return CK_ATTN_MAX_PARTS * ck_attn_scratch_floats(n_rows, n_heads, n_kv_heads, n_keys);
}

void ck_attn_f32_threaded(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                          int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                          int n_kv_heads, int head_dim, float scale, float *scratch) {
    attn_job job = {out, q, k, v, mask, scratch, ck_attn_scratch_floats(n_rows, n_heads, n_kv_heads, n_prefix + n_new), scale,
                    out_stride, q_stride, kv_stride, n_rows, n_prefix, n_new, n_heads, n_kv_heads, head_dim};
    ck_pool_run(attn_part, &job);
}
