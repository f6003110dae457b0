// Attention over a KV cache for a chunk of query rows, written once for any vector width and included
// by attn-avx2.c and attn-avx512.c, which define:
//   V_ATTR, V_T, V_W, V_ZERO(), V_LOAD(p), V_STORE(p, v), V_FMA(a, b, acc), V_ADD, V_MUL, V_MAX,
//   V_SUB, V_SET1(f), V_HSUM(v), V_HMAX(v), V_EXP(v), V_ZERO_WHERE_NEG_INF(e, s), and ATTN_FN.
//
// Memory: each key and value row is loaded once per chunk of CK_ATTN_ROWS query rows, for every row of
// the chunk and every query head of its KV group (verification of 5 rows × 3 heads per group reads
// K/V once instead of 15 times).
//
// Batch invariance: for one (row, head) the scores, the max, the exp sum and the weighted sum of
// values are the same operations in the same order whatever the other rows are. Scores sit in a
// scratch row padded to a multiple of 16 with -inf; key j always lands in lane j % V_W of the exp
// sum, and keys a row cannot see contribute exact zeros; the value sum runs over keys in order.

V_ATTR static inline float attn_dot(const float *a, const float *b, int n) {
    V_T acc = V_ZERO();
    int i = 0;
    for (; i + V_W <= n; i += V_W) acc = V_FMA(V_LOAD(a + i), V_LOAD(b + i), acc);
    float s = V_HSUM(acc);
    for (; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

V_ATTR void ATTN_FN(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                    int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                    int n_kv_heads, int head_dim, float scale, float *scratch) {
    int group = n_heads / n_kv_heads;
    int n_keys = n_prefix + n_new;
    int ld = ck_attn_scratch_stride(n_keys);
    for (int r0 = 0; r0 < n_rows; r0 += CK_ATTN_ROWS) {
        int rows = n_rows - r0 < CK_ATTN_ROWS ? n_rows - r0 : CK_ATTN_ROWS;
        int pairs = rows * group;
        // Keys past jend are invisible to every row of the chunk.
        int jend = mask ? n_keys : n_prefix + (r0 + rows < n_new ? r0 + rows : n_new);
        for (int g = 0; g < n_kv_heads; g++) {
            for (int j = 0; j < jend; j++) {
                const float *kj = k + (size_t)j * kv_stride + g * head_dim;
                for (int rr = 0; rr < rows; rr++) {
                    int r = r0 + rr;
                    int visible = j < n_prefix ||
                                  (mask ? mask[(size_t)r * n_new + (j - n_prefix)] != 0 : (j - n_prefix) <= r);
                    const float *qr = q + (size_t)r * q_stride + g * group * head_dim;
                    float *sr = scratch + (size_t)rr * group * ld + j;
                    for (int hh = 0; hh < group; hh++)
                        sr[(size_t)hh * ld] = visible ? attn_dot(qr + hh * head_dim, kj, head_dim) * scale : -INFINITY;
                }
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
                float *o = out + (size_t)(r0 + p / group) * out_stride + (g * group + p % group) * head_dim;
                for (int d = 0; d < head_dim; d++) o[d] = 0;
                // The pair's normaliser, after the score rows.
                scratch[(size_t)pairs * ld + p] = V_HSUM(vsum);
            }
            for (int j = 0; j < jend; j++) {
                const float *vj = v + (size_t)j * kv_stride + g * head_dim;
                for (int p = 0; p < pairs; p++) {
                    float pj = scratch[(size_t)p * ld + j];
                    if (pj == 0.0f) continue;
                    float *o = out + (size_t)(r0 + p / group) * out_stride + (g * group + p % group) * head_dim;
                    V_T vp = V_SET1(pj);
                    int d = 0;
                    for (; d + V_W <= head_dim; d += V_W) V_STORE(o + d, V_FMA(vp, V_LOAD(vj + d), V_LOAD(o + d)));
                    for (; d < head_dim; d++) o[d] = fmaf(pj, vj[d], o[d]);
                }
            }
            for (int p = 0; p < pairs; p++) {
                float inv = 1.0f / scratch[(size_t)pairs * ld + p];
                float *o = out + (size_t)(r0 + p / group) * out_stride + (g * group + p % group) * head_dim;
                V_T vi = V_SET1(inv);
                int d = 0;
                for (; d + V_W <= head_dim; d += V_W) V_STORE(o + d, V_MUL(V_LOAD(o + d), vi));
                for (; d < head_dim; d++) o[d] *= inv;
            }
        }
    }
}
