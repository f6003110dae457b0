// Attention over a KV cache for a chunk of query rows, written once for any vector width and included
// by attn-avx2.c and attn-avx512.c, which define:
//   V_ATTR, V_T, V_W, V_ZERO(), V_LOAD(p), V_STORE(p, v), V_FMA(a, b, acc), V_ADD, V_MUL, V_MAX,
//   V_SUB, V_SET1(f), V_HSUM(v), V_SUM8(vs) (8 horizontal sums as one __m256), V_HMAX(v), V_EXP(v),
//   V_ZERO_WHERE_NEG_INF(e, s), ATTN_QH (query heads of a KV group computed together: 1 where the
//   registers do not hold more), and ATTN_FN; and for a cache of another element type than float (it
//   may be included again, for each), KV_T, KV_LOAD(p) (V_W elements as floats) and KV_GET(p) (one).
//
#ifndef KV_T
#define KV_T float
#define KV_LOAD(p) V_LOAD(p)
#define KV_GET(p) (*(p))
#endif
#ifndef CK_ATTN_PF_DEFINED
#define CK_ATTN_PF_DEFINED
// The cache lines of the next block of keys or values, prefetched a few at a time while this block
// computes. Issued all at once, they filled the core's miss queues and the prefetch loop itself
// stalled (12 % of the kernel's samples on the two loops, `perf annotate`), so memory and compute took
// turns instead of overlapping.
typedef struct {
    const char *p, *end;  // what is left of the next block
    int per_step;         // lines a step: the next block spread over the steps of the one computing
} attn_pf;

// Block i of a run's stream: its key blocks in order, then its value blocks (empty past the end).
static inline void attn_pf_block(const char *k, const char *v, size_t row_bytes, int jend, int block, int i,
                                 const char **b, const char **e) {
    int nb = (jend + block - 1) / block;
    *b = *e = 0;
    if (i >= 2 * nb) return;
    int j0 = (i < nb ? i : i - nb) * block, j1 = j0 + block < jend ? j0 + block : jend;
    *b = (i < nb ? k : v) + (size_t)j0 * row_bytes;
    *e = (i < nb ? k : v) + (size_t)j1 * row_bytes;
}

// While block i of the stream computes in `steps` steps, block i + 1 comes into L1. (Block i + 2 into L2
// as well measured the same.)
static inline attn_pf attn_pf_make(const void *k, const void *v, size_t row_bytes, int jend, int block, int i, int steps) {
    attn_pf c;
    attn_pf_block(k, v, row_bytes, jend, block, i + 1, &c.p, &c.end);
    if (steps < 1) steps = 1;
    c.per_step = (int)((c.end - c.p + 63) / 64 + steps - 1) / steps;
    return c;
}

static inline void attn_pf_step(attn_pf *c) {
    for (int i = 0; i < c->per_step && c->p < c->end; i++, c->p += 64) _mm_prefetch(c->p, _MM_HINT_T0);
}

// Whatever the steps left (fewer steps than planned: a short last block).
static inline void attn_pf_finish(attn_pf *c) {
    for (; c->p < c->end; c->p += 64) _mm_prefetch(c->p, _MM_HINT_T0);
}
#endif

// Each inclusion's helpers carry its ATTN_FN in their names.
#define AN_CAT2(a, b) a##_##b
#define AN_CAT(a, b) AN_CAT2(a, b)
#define AN(x) AN_CAT(x, ATTN_FN)

// Memory: the rows of a chunk (CK_ATTN_ROWS query rows) and all heads run back to back over each block of
// keys and values, so K/V stream from DRAM or L3 once per chunk, in order, and come from L1 after that;
// each block is fetched while the one before it computes (attn_pf), the first block of values while the
// last of keys does.
// Compute: eight keys share each load of the query, and a head's value sum stays in registers.
//
// Batch invariance: for one (row, head) the scores, the max, the exp sum and the weighted sum of
// values are the same operations in the same order whatever the other rows are. Scores sit in a
// scratch row padded to a multiple of 16 with -inf; key j always lands in lane j % V_W of the exp
// sum, and keys a row cannot see contribute exact zeros; the value sum runs over keys in order.

// Scores of keys [j0, min(j0 + ATTN_KEYS, jend)) for one query head, scaled: the keys share each
// load of q, and (head_dim a multiple of the width) their 8 horizontal sums are folded together.
// Past jend the last key is repeated and its result dropped, so a key's score never depends on its
// neighbours.
#define ATTN_KEYS 8
V_ATTR static inline void AN(attn_scores)(float *s, const float *qh, const KV_T *k, int kv_stride, int j0, int jend,
                                      int head_dim, float scale) {
    const KV_T *kr[ATTN_KEYS];
    for (int t = 0; t < ATTN_KEYS; t++) kr[t] = k + (size_t)(j0 + t < jend ? j0 + t : jend - 1) * kv_stride;
    V_T acc[ATTN_KEYS];
    for (int t = 0; t < ATTN_KEYS; t++) acc[t] = V_ZERO();
    int d = 0;
    for (; d + V_W <= head_dim; d += V_W) {
        V_T qv = V_LOAD(qh + d);
        for (int t = 0; t < ATTN_KEYS; t++) acc[t] = V_FMA(qv, KV_LOAD(kr[t] + d), acc[t]);
    }
    if (d == head_dim) {
        // All 8 sums at once; the slots past jend take the repeated key's score, which the caller
        // overwrites with -inf (the score row is padded to a multiple of 16).
        _mm256_storeu_ps(s, _mm256_mul_ps(V_SUM8(acc), _mm256_set1_ps(scale)));
        return;
    }
    int n = jend - j0 < ATTN_KEYS ? jend - j0 : ATTN_KEYS;
    for (int t = 0; t < n; t++) {
        float x = V_HSUM(acc[t]);
        for (int e = d; e < head_dim; e++) x = fmaf(qh[e], KV_GET(kr[t] + e), x);
        s[t] = x * scale;
    }
}

// o (+)= Σ_j p[j]·v_j over keys [j0, j1) in order, skipping zero weights (o starts at zero when
// j0 == 0); within a block the sum stays in registers when the head fits in ATTN_VREGS vectors.
#define ATTN_VREGS 8
#define ATTN_BLOCK 64
V_ATTR static inline void AN(attn_values)(float *o, const float *p, const KV_T *v, int kv_stride, int j0, int j1,
                                      int head_dim, attn_pf *pf) {
    if (head_dim % V_W == 0 && head_dim <= ATTN_VREGS * V_W) {
        int nv = head_dim / V_W;
        V_T acc[ATTN_VREGS];
        for (int c = 0; c < ATTN_VREGS; c++) acc[c] = c < nv && j0 > 0 ? V_LOAD(o + c * V_W) : V_ZERO();
        for (int j = j0; j < j1; j++) {
            attn_pf_step(pf);
            float pj = p[j];
            if (pj == 0.0f) continue;
            const KV_T *vj = v + (size_t)j * kv_stride;
            V_T vp = V_SET1(pj);
            for (int c = 0; c < ATTN_VREGS; c++)
                if (c < nv) acc[c] = V_FMA(vp, KV_LOAD(vj + c * V_W), acc[c]);
        }
        for (int c = 0; c < nv; c++) V_STORE(o + c * V_W, acc[c]);
        return;
    }
    if (j0 == 0)
        for (int d = 0; d < head_dim; d++) o[d] = 0;
    for (int j = j0; j < j1; j++) {
        attn_pf_step(pf);
        float pj = p[j];
        if (pj == 0.0f) continue;
        const KV_T *vj = v + (size_t)j * kv_stride;
        V_T vp = V_SET1(pj);
        int d = 0;
        for (; d + V_W <= head_dim; d += V_W) V_STORE(o + d, V_FMA(vp, KV_LOAD(vj + d), V_LOAD(o + d)));
        for (; d < head_dim; d++) o[d] = fmaf(pj, KV_GET(vj + d), o[d]);
    }
}

#if ATTN_QH > 1
// attn_scores for ATTN_QH heads of one KV group at once (head_dim a multiple of the width): each key
// vector loaded serves every head. Per (head, key) the same steps as attn_scores, so the same bits.
V_ATTR static inline void AN(attn_scores_qh)(float *const *s, const float *const *qh, const KV_T *k, int kv_stride, int j0,
                                         int jend, int head_dim, float scale) {
    const KV_T *kr[ATTN_KEYS];
    for (int t = 0; t < ATTN_KEYS; t++) kr[t] = k + (size_t)(j0 + t < jend ? j0 + t : jend - 1) * kv_stride;
    V_T acc[ATTN_QH][ATTN_KEYS];
    for (int x = 0; x < ATTN_QH; x++)
        for (int t = 0; t < ATTN_KEYS; t++) acc[x][t] = V_ZERO();
    for (int d = 0; d < head_dim; d += V_W) {
        V_T qv[ATTN_QH];
        for (int x = 0; x < ATTN_QH; x++) qv[x] = V_LOAD(qh[x] + d);
        for (int t = 0; t < ATTN_KEYS; t++) {
            V_T kv = KV_LOAD(kr[t] + d);
            for (int x = 0; x < ATTN_QH; x++) acc[x][t] = V_FMA(qv[x], kv, acc[x][t]);
        }
    }
    for (int x = 0; x < ATTN_QH; x++) _mm256_storeu_ps(s[x], _mm256_mul_ps(V_SUM8(acc[x]), _mm256_set1_ps(scale)));
}

// attn_values for ATTN_QH (row, head) pairs of one KV group at once (head_dim a multiple of the width,
// at most 4 vectors): each value vector loaded serves every pair; per pair the same steps as
// attn_values (keys in order, zero weights skipped), so the same bits.
V_ATTR static inline void AN(attn_values_qh)(float *const *o, const float *const *p, const KV_T *v, int kv_stride, int j0,
                                         int j1, int head_dim, attn_pf *pf) {
    int nv = head_dim / V_W;
    V_T acc[ATTN_QH][4];
    for (int x = 0; x < ATTN_QH; x++)
        for (int c = 0; c < 4; c++) acc[x][c] = c < nv && j0 > 0 ? V_LOAD(o[x] + c * V_W) : V_ZERO();
    for (int j = j0; j < j1; j++) {
        attn_pf_step(pf);
        const KV_T *vj = v + (size_t)j * kv_stride;
        V_T vv[4];
        for (int c = 0; c < 4; c++) vv[c] = c < nv ? KV_LOAD(vj + c * V_W) : V_ZERO();
        for (int x = 0; x < ATTN_QH; x++) {
            float pj = p[x][j];
            if (pj == 0.0f) continue;
            V_T vp = V_SET1(pj);
            for (int c = 0; c < 4; c++)
                if (c < nv) acc[x][c] = V_FMA(vp, vv[c], acc[x][c]);
        }
    }
    for (int x = 0; x < ATTN_QH; x++)
        for (int c = 0; c < nv; c++) V_STORE(o[x] + c * V_W, acc[x][c]);
}
#endif

// Scores of keys in [max(jb, n_prefix), je) that row r cannot see become -inf.
static inline void AN(attn_hide)(float *sr, int r, int jb, int je, int n_prefix, int n_new, const uint8_t *mask) {
    for (int j = jb > n_prefix ? jb : n_prefix; j < je; j++) {
        int visible = mask ? mask[(size_t)r * n_new + (j - n_prefix)] != 0 : (j - n_prefix) <= r;
        if (!visible) sr[j] = -INFINITY;
    }
}

V_ATTR void ATTN_FN(float *out, int out_stride, const float *q, int q_stride, const KV_T *k, const KV_T *v,
                    int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                    int n_kv_heads, int head_dim, float scale, float *scratch) {
    int group = n_heads / n_kv_heads;
    int n_keys = n_prefix + n_new;
    int ld = ck_attn_scratch_stride(n_keys);
#if ATTN_QH > 1
    const int multi = head_dim % V_W == 0;  // whole vectors: several heads of a group share each K/V load
    // Score calls per (row, KV group) and tile of keys; value calls per (row, KV group).
    const int calls = multi ? group / ATTN_QH + group % ATTN_QH : group;
    const int value_calls = multi && head_dim <= 4 * V_W ? group / ATTN_QH + group % ATTN_QH : group;
#else
    const int calls = group, value_calls = group;
#endif
    const size_t row_bytes = (size_t)kv_stride * sizeof(KV_T);
    for (int r0 = 0; r0 < n_rows; r0 += CK_ATTN_ROWS) {
        int rows = n_rows - r0 < CK_ATTN_ROWS ? n_rows - r0 : CK_ATTN_ROWS;
        // Pair p = (row rr, head h) of the chunk: p = rr·n_heads + h; its score row is p·ld.
        int pairs = rows * n_heads;
        // Keys past jend are invisible to every row of the chunk.
        int jend = mask ? n_keys : n_prefix + (r0 + rows < n_new ? r0 + rows : n_new);
        int n_blocks = (jend + ATTN_BLOCK - 1) / ATTN_BLOCK;
        // Key blocks outermost, so the cache streams through once, each key row (all KV heads) whole;
        // a block of ATTN_BLOCK keys of one KV head stays in L1 while every (row, head) pair of its
        // group scores it.
        for (int jb = 0; jb < jend; jb += ATTN_BLOCK) {
            int je = jb + ATTN_BLOCK < jend ? jb + ATTN_BLOCK : jend;
            // While this block scores, the next blocks of the stream (keys, then values) are fetched.
            int steps = n_kv_heads * rows * calls * ((je - jb + ATTN_KEYS - 1) / ATTN_KEYS);
            attn_pf pf = attn_pf_make(k, v, row_bytes, jend, ATTN_BLOCK, jb / ATTN_BLOCK, steps);
            for (int g = 0; g < n_kv_heads; g++)
                for (int rr = 0; rr < rows; rr++) {
                    int r = r0 + rr;
                    int hh = 0;
#if ATTN_QH > 1
                    for (; multi && hh + ATTN_QH <= group; hh += ATTN_QH) {
                        float *sr[ATTN_QH];
                        const float *qh[ATTN_QH];
                        for (int x = 0; x < ATTN_QH; x++) {
                            int h = g * group + hh + x;
                            sr[x] = scratch + (size_t)(rr * n_heads + h) * ld;
                            qh[x] = q + (size_t)r * q_stride + h * head_dim;
                        }
                        for (int j = jb; j < je; j += ATTN_KEYS) {
                            float *sj[ATTN_QH];
                            for (int x = 0; x < ATTN_QH; x++) sj[x] = sr[x] + j;
                            AN(attn_scores_qh)(sj, qh, k + g * head_dim, kv_stride, j, je, head_dim, scale);
                            attn_pf_step(&pf);
                        }
                        for (int x = 0; x < ATTN_QH; x++) AN(attn_hide)(sr[x], r, jb, je, n_prefix, n_new, mask);
                    }
#endif
                    for (; hh < group; hh++) {
                        int h = g * group + hh;
                        float *sr = scratch + (size_t)(rr * n_heads + h) * ld;
                        const float *qh = q + (size_t)r * q_stride + h * head_dim;
                        for (int j = jb; j < je; j += ATTN_KEYS) {
                            AN(attn_scores)(sr + j, qh, k + g * head_dim, kv_stride, j, je, head_dim, scale);
                            attn_pf_step(&pf);
                        }
                        AN(attn_hide)(sr, r, jb, je, n_prefix, n_new, mask);
                    }
                }
            attn_pf_finish(&pf);
        }
        const V_T neg_inf = V_SET1(-INFINITY);
        for (int p = 0; p < pairs; p++) {
            float *s = scratch + (size_t)p * ld;
            for (int j = jend; j < ld; j++) s[j] = -INFINITY;
            V_T vmax = neg_inf;
            for (int j = 0; j < ld; j += V_W) vmax = V_MAX(vmax, V_LOAD(s + j));
            V_T vm = V_SET1(V_HMAX(vmax)), vsum = V_ZERO();
            for (int j = 0; j < ld; j += V_W) {
                V_T sj = V_LOAD(s + j);
                V_T e = V_ZERO_WHERE_NEG_INF(V_EXP(V_SUB(sj, vm)), sj);
                V_STORE(s + j, e);
                vsum = V_ADD(vsum, e);
            }
            // The pair's normaliser, after the score rows.
            scratch[(size_t)pairs * ld + p] = V_HSUM(vsum);
        }
        for (int jb = 0; jb < jend; jb += ATTN_BLOCK) {
            int je = jb + ATTN_BLOCK < jend ? jb + ATTN_BLOCK : jend;
            attn_pf pf = attn_pf_make(k, v, row_bytes, jend, ATTN_BLOCK, n_blocks + jb / ATTN_BLOCK,
                                      rows * n_kv_heads * value_calls * (je - jb));
            for (int rr = 0; rr < rows; rr++)
                for (int g = 0; g < n_kv_heads; g++) {
                    int hh = 0;
#if ATTN_QH > 1
                    for (; multi && head_dim <= 4 * V_W && hh + ATTN_QH <= group; hh += ATTN_QH) {
                        float *o[ATTN_QH];
                        const float *pr[ATTN_QH];
                        for (int x = 0; x < ATTN_QH; x++) {
                            int h = g * group + hh + x;
                            o[x] = out + (size_t)(r0 + rr) * out_stride + h * head_dim;
                            pr[x] = scratch + (size_t)(rr * n_heads + h) * ld;
                        }
                        AN(attn_values_qh)(o, pr, v + g * head_dim, kv_stride, jb, je, head_dim, &pf);
                    }
#endif
                    for (; hh < group; hh++) {
                        int h = g * group + hh;
                        AN(attn_values)(out + (size_t)(r0 + rr) * out_stride + h * head_dim, scratch + (size_t)(rr * n_heads + h) * ld,
                                    v + g * head_dim, kv_stride, jb, je, head_dim, &pf);
                    }
                }
            attn_pf_finish(&pf);
        }
        for (int p = 0; p < pairs; p++) {
            float inv = 1.0f / scratch[(size_t)pairs * ld + p];
            float *o = out + (size_t)(r0 + p / n_heads) * out_stride + (p % n_heads) * head_dim;
            V_T vi = V_SET1(inv);
            int d = 0;
            for (; d + V_W <= head_dim; d += V_W) V_STORE(o + d, V_MUL(V_LOAD(o + d), vi));
            for (; d < head_dim; d++) o[d] *= inv;
        }
    }
}

#undef KV_T
#undef KV_LOAD
#undef KV_GET
#undef ATTN_FN
