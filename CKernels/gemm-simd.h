// The fp32 product y[m][n] = x[m][k] · W[n][k]ᵀ for decode and verification batches, written once
// for any vector width and included by gemm-avx2.c and gemm-avx512.c, which define:
//   V_ATTR (target attribute), V_T (vector type), V_W (lanes), V_ZERO(), V_LOAD(p), V_FMA(a, b, acc),
//   V_HSUM(v), and GEMM_FN (the exported name).
//
// Batch invariance: every output is computed the same way whatever m is and wherever its row sits
// in the batch: one vector accumulator over k in chunks of V_W, a fixed horizontal sum, then the
// k % V_W tail in order with fmaf. Tiles only decide which outputs share a load, never how an
// output is summed, so a row's logits are bit-identical alone or among 2–16 rows, and a split of
// the weight rows over threads changes nothing either.
//
// One pass over the weights: a tile holds GEMM_R weight rows (both twins use 2); every activation chunk of up to 4 rows
// runs over them while they sit in L1, so m rows cost one DRAM stream of W. The first chunk prefetches
// 16 KiB ahead in each weight stream into L2 (prefetcht1): on the AVX-512 EPYC, prefetches into L1 at
// 8 KiB left one row at 12 GB/s and 5 rows at 11 GB/s of the 22–25 the DRAM gives; into L2 at 16 KiB, one
// row streams at 23 GB/s and 5 rows at 25 (a 453 MB matrix: 38 → 19 ms one row, 42 → 18 ms five).

#ifndef GEMM_PF
#define GEMM_PF 4096  // floats ahead in each weight stream
#endif

#define GEMM_TILE(C)                                                                                      \
    V_ATTR static void tile_##C(float *y, int ldy, const float *x, const float *w, int r, int nr, int rows,\
                                int k, int prefetch) {                                                     \
        const float *wr[GEMM_R], *xr[C];                                                                   \
        for (int a = 0; a < GEMM_R; a++) wr[a] = w + (size_t)(r + (a < nr ? a : nr - 1)) * k;              \
        for (int b = 0; b < C; b++) xr[b] = x + (size_t)(b < rows ? b : rows - 1) * k;                     \
        V_T acc[GEMM_R][C];                                                                                \
        for (int a = 0; a < GEMM_R; a++)                                                                   \
            for (int b = 0; b < C; b++) acc[a][b] = V_ZERO();                                              \
        int i = 0;                                                                                         \
        for (; i + V_W <= k; i += V_W) {                                                                   \
            if (GEMM_PF && prefetch && (i & 15) == 0)                                                                 \
                for (int a = 0; a < GEMM_R; a++) __builtin_prefetch(wr[a] + i + GEMM_PF, 0, 2); \
            V_T wv[GEMM_R];                                                                                \
            for (int a = 0; a < GEMM_R; a++) wv[a] = V_LOAD(wr[a] + i);                                    \
            for (int b = 0; b < C; b++) {                                                                  \
                V_T xv = V_LOAD(xr[b] + i);                                                                \
                for (int a = 0; a < GEMM_R; a++) acc[a][b] = V_FMA(wv[a], xv, acc[a][b]);                  \
            }                                                                                              \
        }                                                                                                  \
        for (int a = 0; a < nr; a++)                                                                       \
            for (int b = 0; b < rows; b++) {                                                               \
                float s = V_HSUM(acc[a][b]);                                                               \
                for (int j = i; j < k; j++) s = fmaf(wr[a][j], xr[b][j], s);                               \
                y[(size_t)b * ldy + r + a] = s;                                                              \
            }                                                                                              \
    }

GEMM_TILE(1)
GEMM_TILE(2)
GEMM_TILE(3)
GEMM_TILE(4)

V_ATTR void GEMM_FN(float *y, int ldy, const float *x, const float *w, int m, int n, int k) {
    for (int r = 0; r < n; r += GEMM_R) {
        int nr = n - r < GEMM_R ? n - r : GEMM_R;
        for (int i = 0; i < m; i += 4) {
            int rows = m - i < 4 ? m - i : 4;
            float *yi = y + (size_t)i * ldy;
            const float *xi = x + (size_t)i * k;
            switch (rows) {
            case 1: tile_1(yi, ldy, xi, w, r, nr, 1, k, i == 0); break;
            case 2: tile_2(yi, ldy, xi, w, r, nr, 2, k, i == 0); break;
            case 3: tile_3(yi, ldy, xi, w, r, nr, 3, k, i == 0); break;
            default: tile_4(yi, ldy, xi, w, r, nr, 4, k, i == 0); break;
            }
        }
    }
}
