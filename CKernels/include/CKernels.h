// CKernels: the only C the project writes. Scalar reference twins (suffix _ref), SIMD twins per
// instruction-set tier (_avx2, _avxvnni, _avx512, _avx512vnni), one runtime dispatch point
// (ck_init / ck_set_tier), and a thin OpenBLAS wrapper.
//
// Conventions for every function here:
//  - Matrices are row-major. A weight matrix W of shape [n][k] holds one output feature per row
//    (GGUF/ggml layout, PyTorch nn.Linear.weight), so y_i = dot(W[i], x).
//  - Pointers do not alias unless a parameter is documented as in-place. No alignment is required
//    (unaligned loads are used), though 64-byte aligned buffers are faster.
//  - No function allocates. Threads: OpenBLAS's and the helper threads of the products and the attention,
//    whose count is set explicitly with ck_blas_set_threads (never inherited from the environment).
//  - The dispatched names (no suffix) call the twins of the current tier: at load, the best tier the
//    CPU and the OS support, unless the environment variable CK_FORCE names a lower one
//    (ref|avx2|avxvnni|avx512; CK_FORCE_REF=1 is the old spelling of CK_FORCE=ref).
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: dispatch

/// Tiers, lowest first. A tier's kernels may reuse a lower tier's twin (ck_kernel_impl says which).
enum {
    CK_TIER_REF = 0,      // scalar C
    CK_TIER_AVX2 = 1,     // AVX2 + FMA + F16C
    CK_TIER_AVXVNNI = 2,  // AVX2-class CPU with AVX-VNNI: the int8 products use vpdpbusd (VEX)
    CK_TIER_AVX512 = 3,   // AVX-512 F/DQ/BW/VL; the int8 products use AVX512-VNNI where present
    CK_TIER_COUNT = 4
};
/// Kernels of the dispatch table, for ck_kernel_name / ck_kernel_impl.
enum {
    CK_K_DOT, CK_K_GEMM, CK_K_RMSNORM, CK_K_SOFTMAX, CK_K_SWIGLU, CK_K_ADD, CK_K_ROPE, CK_K_ATTN,
    CK_K_Q8_QUANTIZE, CK_K_Q8_BLOCK_DOTS, CK_K_Q8_MATMUL, CK_K_Q4_MATMUL, CK_K_ATTN_F16KV, CK_K_TO_F16, CK_K_ARGMAX, CK_K_LOGIT_CHECK, CK_KERNEL_COUNT
};
/// CPU features that count (the CPU has them and the OS enables their register state).
enum { CK_FEAT_AVX2_FMA = 1, CK_FEAT_AVX_VNNI = 2, CK_FEAT_AVX512 = 4, CK_FEAT_AVX512_VNNI = 8 };
unsigned ck_cpu_features(void);

/// Detects the CPU (CPUID and XCR0) and reads CK_FORCE / CK_FORCE_REF, then selects a tier. Runs
/// automatically at load; call again to re-read the environment. An unknown or unsupported
/// CK_FORCE is reported on stderr and the best tier is used. Not thread-safe against kernel calls.
void ck_init(void);
/// Selects a tier: 0, or -1 (nothing changed) when the CPU or the OS does not support it.
/// Not thread-safe against concurrent kernel calls (tests and start-up only).
int ck_set_tier(int tier);
int ck_tier(void);
int ck_best_tier(void);
int ck_tier_supported(int tier);
/// Why a tier cannot run here (static string), or NULL when it can.
const char *ck_tier_unsupported_reason(int tier);
const char *ck_tier_name(int tier);
/// The tier's index for a name ("ref", "avx2", "avxvnni", "avx512"), or -1.
int ck_tier_from_name(const char *name);
/// The current tier's name.
const char *ck_impl_name(void);
const char *ck_kernel_name(int kernel);
/// Which twin the current table calls for a kernel ("ref", "avx2", "avxvnni", "avx512", "avx512vnni").
const char *ck_kernel_impl(int kernel);
/// 1 when the CPU supports AVX2 and FMA (whether or not a lower tier is forced).
int ck_cpu_has_avx2_fma(void);

// MARK: BLAS (OpenBLAS)

/// Sets the thread count (>= 1): OpenBLAS's, and the helper threads that ck_matmul_f32, ck_matmul_q8,
/// ck_matmul_q4 and ck_attn_runs share their work with (started here, so none is spawned on the
/// per-token path). Call it from one thread while no product runs.
void ck_blas_set_threads(int n);
/// OpenBLAS's thread count, which ck_blas_set_threads sets (the tests check it is never inherited).
int ck_blas_get_threads(void);
/// y[m][n] = x[m][k] · W[n][k]^T for any m: ck_gemm_f32, split by weight rows over the fp32 threads,
/// so each row's result is bit-identical whatever m, the row's place in the batch and the thread count
/// are (decode, verification, draft branches, prefill chunks, many sequences in one forward).
void ck_matmul_f32(float *y, const float *x, const float *w, int m, int n, int k);
/// OpenBLAS sgemv, y[n] = W[n][k]·x (measured by the profiler against ck_gemm_f32).
void ck_blas_sgemv(float *y, const float *w, const float *x, int n, int k);
/// OpenBLAS sgemm, y[m][n] = x[m][k] · W[n][k]^T, with OpenBLAS's thread count.
void ck_blas_sgemm(float *y, const float *x, const float *w, int m, int n, int k);

/// y[i][r] = x[i][k] · W[r][k] for i < m, r < n, on the calling thread; row i of y starts at
/// y + i·ldy (ldy >= n). Batch-invariant: output (i, r) is computed by the same sequence of
/// operations for every m and every position of row i in the batch. Each weight row is read from
/// memory once for all m rows, so a few rows cost little more than one when W streams from DRAM.
void ck_gemm_f32(float *y, int ldy, const float *x, const float *w, int m, int n, int k);
void ck_gemm_f32_ref(float *y, int ldy, const float *x, const float *w, int m, int n, int k);
void ck_gemm_f32_avx2(float *y, int ldy, const float *x, const float *w, int m, int n, int k);
void ck_gemm_f32_avx512(float *y, int ldy, const float *x, const float *w, int m, int n, int k);

// MARK: vector kernels

float ck_vec_dot_f32(const float *a, const float *b, int n);
float ck_vec_dot_f32_ref(const float *a, const float *b, int n);
float ck_vec_dot_f32_avx2(const float *a, const float *b, int n);

/// out = x / sqrt(mean(x^2) + eps) * w. out may equal x (in place).
void ck_rmsnorm_f32(float *out, const float *x, const float *w, int n, float eps);
void ck_rmsnorm_f32_ref(float *out, const float *x, const float *w, int n, float eps);
void ck_rmsnorm_f32_avx2(float *out, const float *x, const float *w, int n, float eps);

/// In place: x = softmax(x).
void ck_softmax_f32(float *x, int n);
void ck_softmax_f32_ref(float *x, int n);
void ck_softmax_f32_avx2(float *x, int n);
/// The index of the first maximum of x[0..n) (n >= 1), as the scalar loop `if (x[i] > best)` finds it:
/// NaNs never win, and x[0] = NaN gives 0. Greedy sampling over a row of logits.
int ck_argmax_f32(const float *x, int n);
int ck_argmax_f32_ref(const float *x, int n);
int ck_argmax_f32_avx2(const float *x, int n);
/// The index of the first NaN or +inf in x[0..n), or -1 (-inf is allowed: a restricted head's
/// tokens). Checks a row of logits before it is sampled.
int ck_first_nan_or_posinf(const float *x, int n);
int ck_first_nan_or_posinf_ref(const float *x, int n);
int ck_first_nan_or_posinf_avx2(const float *x, int n);

/// out = silu(gate) * up. out may equal gate or up.
void ck_swiglu_f32(float *out, const float *gate, const float *up, int n);
void ck_swiglu_f32_ref(float *out, const float *gate, const float *up, int n);
void ck_swiglu_f32_avx2(float *out, const float *gate, const float *up, int n);

/// out = a + b (residual add). out may equal a or b.
void ck_vec_add_f32(float *out, const float *a, const float *b, int n);
void ck_vec_add_f32_ref(float *out, const float *a, const float *b, int n);
void ck_vec_add_f32_avx2(float *out, const float *a, const float *b, int n);

// MARK: RoPE (GGUF/ggml "normal" layout: adjacent pairs (x[2i], x[2i+1]) rotate together)

/// Fills the rotation table for one position: cs[2i] = cs[2i+1] = cos θ_i, sn[2i] = -sin θ_i,
/// sn[2i+1] = +sin θ_i, with θ_i = pos · base^(-2i/head_dim), computed in double.
/// head_dim must be even; cs and sn hold head_dim floats each.
void ck_rope_table_f32(float *cs, float *sn, int head_dim, int pos, float base);
/// In place on n_heads consecutive heads of head_dim floats, with a table from ck_rope_table_f32.
void ck_rope_f32(float *x, int n_heads, int head_dim, const float *cs, const float *sn);
void ck_rope_f32_ref(float *x, int n_heads, int head_dim, const float *cs, const float *sn);
void ck_rope_f32_avx2(float *x, int n_heads, int head_dim, const float *cs, const float *sn);

/// out[i] = x[i] rounded to fp16, to nearest even (overflow to ±inf): ck_fp32_to_fp16 on each, so
/// every twin gives the same bits for every value but NaN (a NaN stays a NaN). Writes an fp16 KV cache.
void ck_f32_to_f16(uint16_t *out, const float *x, int n);
void ck_f32_to_f16_ref(uint16_t *out, const float *x, int n);
void ck_f32_to_f16_avx2(uint16_t *out, const float *x, int n);

// MARK: attention over a KV cache (grouped-query heads)

/// For each of n_rows query rows (each n_heads·head_dim floats, q_stride apart), attends over the
/// keys/values in the cache (kv_stride floats per cache position; a position holds n_kv_heads·head_dim
/// floats for its heads, head h of the query reads kv head h / (n_heads / n_kv_heads)).
/// Visible keys: every row sees positions [0, n_prefix); of the n_new positions that follow,
/// row r sees j when mask[r·n_new + j] != 0, or, with mask == NULL, when j <= r (causal).
/// Scores are scaled by `scale`. Each row must see at least one key.
/// Each key/value row is read once for all query rows of a chunk and all heads of its KV group.
/// Batch-invariant: a row's output does not depend on the other rows, on n_new, or on keys it
/// cannot see. scratch: ck_attn_scratch_floats(...) floats. out: n_rows rows of n_heads·head_dim
/// floats, out_stride apart.
size_t ck_attn_scratch_floats(int n_rows, int n_heads, int n_kv_heads, int n_keys);
void ck_attn_f32(float *out, int out_stride, const float *q, int q_stride, const float *k,
                 const float *v, int kv_stride, int n_rows, int n_prefix, int n_new,
                 const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim, float scale,
                 float *scratch);
void ck_attn_f32_ref(float *out, int out_stride, const float *q, int q_stride, const float *k,
                     const float *v, int kv_stride, int n_rows, int n_prefix, int n_new,
                     const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim, float scale,
                     float *scratch);
void ck_attn_f32_avx2(float *out, int out_stride, const float *q, int q_stride, const float *k,
                      const float *v, int kv_stride, int n_rows, int n_prefix, int n_new,
                      const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim, float scale,
                      float *scratch);
void ck_attn_f32_avx512(float *out, int out_stride, const float *q, int q_stride, const float *k,
                        const float *v, int kv_stride, int n_rows, int n_prefix, int n_new,
                        const uint8_t *mask, int n_heads, int n_kv_heads, int head_dim, float scale,
                        float *scratch);
/// ck_attn_f32 over a cache of fp16 keys and values (half the bytes to stream), each widened to fp32
/// exactly as it is read; the same rules and batch invariance.
void ck_attn_f16kv(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                   int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads,
                   int head_dim, float scale, float *scratch);
void ck_attn_f16kv_ref(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                       int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads,
                       int head_dim, float scale, float *scratch);
void ck_attn_f16kv_avx2(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                        int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads,
                        int head_dim, float scale, float *scratch);
void ck_attn_f16kv_avx512(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                          int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                          int n_kv_heads, int head_dim, float scale, float *scratch);

/// Scratch floats of ck_attn_runs with `threaded` (a share for each of at most 4 parts).
size_t ck_attn_threaded_scratch_floats(int n_rows, int n_heads, int n_kv_heads, int n_keys);

/// One sequence's query rows in a batched attention: rows [row, row + n_rows) of q and out attend to
/// the cache that starts kv_offset elements into k and v, over n_prefix positions plus n_new more
/// (causally, or through mask: n_rows × n_new bytes).
typedef struct {
    int row, n_rows, n_prefix, n_new;
    size_t kv_offset;
    const uint8_t *mask;
} ck_attn_run;

/// ck_attn_f32 (ck_attn_f16kv with kv_f16: k and v hold fp16) for every run of a batch in one call.
/// With `threaded`, the work is cut into (run, block of CK_ATTN_ROWS rows, KV group) items, and those into
/// chunks of equal estimated cost (rows × keys) that the helper threads of ck_blas_set_threads (at most 4
/// parts) share, each taking its own chunks first and then what the others have not started; one call
/// per run would leave a thread idle on every short run. Each item
/// is a sub-problem of the kernel expressed by offsets alone, so every output has the bits of one
/// kernel call over its run, for any thread count. scratch:
/// ck_attn_threaded_scratch_floats(rows of the largest run, ...) floats (ck_attn_scratch_floats
/// without `threaded`).
void ck_attn_runs(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v,
                  int kv_stride, int kv_f16, const ck_attn_run *runs, int n_runs, int n_heads, int n_kv_heads, int head_dim,
                  float scale, float *scratch, int threaded);

// MARK: format conversion (load time, scalar)

float ck_fp16_to_fp32(uint16_t h);
uint16_t ck_fp32_to_fp16(float f);
/// ggml block formats -> fp32. n = element count (a multiple of 32 for the quantized types).
void ck_dequant_f16(float *out, const uint16_t *in, size_t n);
void ck_dequant_bf16(float *out, const uint16_t *in, size_t n);
/// Q8_0: 32 weights per 34-byte block {fp16 d; int8 qs[32]}; value = d·qs[j].
void ck_dequant_q8_0(float *out, const uint8_t *in, size_t n);
/// Q4_0: {fp16 d; uint8 qs[16]}; element j < 16 is the low nibble of qs[j], j >= 16 the high
/// nibble of qs[j-16]; value = d·(q − 8).
void ck_dequant_q4_0(float *out, const uint8_t *in, size_t n);
/// Q4_1: {fp16 d; fp16 m; uint8 qs[16]}, nibbles as Q4_0; value = d·q + m.
void ck_dequant_q4_1(float *out, const uint8_t *in, size_t n);
/// fp32 -> Q8_0 blocks exactly as ggml's quantize_row_q8_0_ref: d = amax/127 stored as fp16,
/// q = round-half-away(x/d). n must be a multiple of 32; out holds n/32 · 34 bytes.
void ck_quantize_q8_0(uint8_t *out, const float *x, size_t n);
/// fp32 -> Q4_0 blocks exactly as ggml's quantize_row_q4_0_ref (d = the block's signed max / −8),
/// and -> Q4_1 blocks as quantize_row_q4_1_ref (d = (max − min)/15, m = min). n % 32 == 0; out holds
/// n/32 · 18 (Q4_0) or n/32 · 20 (Q4_1) bytes.
void ck_quantize_q4_0(uint8_t *out, const float *x, size_t n);
void ck_quantize_q4_1(uint8_t *out, const float *x, size_t n);

/// The quantized products' weight layouts ("x16"): weight rows in groups of 16, each group stored as
/// its k/32 blocks back to back, each block holding that block of all 16 rows interleaved, so one
/// 512-bit vector holds 4 consecutive weights of each of the 16 rows and an output row needs no
/// horizontal sum. Rows past n in the last group are zero. In a block record, vector j (64 bytes; lane
/// l = bytes 4l..4l+3 = weight row 16g + l):
///   Q4 (CK_X16_Q4_BLOCK bytes): 4 vectors of nibbles, byte t of lane l of vector j holding element
///       8j + t in its low nibble and 8j + 4 + t in its high nibble; then 16 fp16 scales d and 16
///       fp16 offsets m (value = d·q + m; Q4_0 is stored with m = −8d).
///   Q8 (CK_X16_Q8_BLOCK bytes): 8 vectors, byte t of lane l of vector j holding element 4j + t as
///       w + 128 (w in [-127, 127]); then 16 fp32 scales.
enum { CK_Q4_0 = 0, CK_Q4_1 = 1 };
enum { CK_X16_Q4_BLOCK = 320, CK_X16_Q8_BLOCK = 576 };
static inline size_t ck_x16_groups(int n) { return (size_t)(n + 15) / 16; }
static inline size_t ck_q4x16_bytes(int n, int k) { return ck_x16_groups(n) * (size_t)(k / 32) * CK_X16_Q4_BLOCK; }
static inline size_t ck_q8x16_bytes(int n, int k) { return ck_x16_groups(n) * (size_t)(k / 32) * CK_X16_Q8_BLOCK; }
/// Packs `rows` rows of k weights from ggml Q4_0 or Q4_1 blocks (row-major, rows · k/32 blocks) into
/// the Q4 x16 layout (dst holds ck_q4x16_bytes(rows, k) bytes). Returns -1, or the element index
/// of the first block whose scale or offset is not finite (the weight is then unusable).
int ck_q4x16_pack(uint8_t *dst, const uint8_t *src, int type, int rows, int k);
/// Packs `rows` int8 rows (values in [-127, 127]) with their fp32 block scales (rows · k/32) into
/// the Q8 x16 layout (dst holds ck_q8x16_bytes(rows, k) bytes).
void ck_q8x16_pack(uint8_t *dst, const int8_t *wq, const float *wscale, int rows, int k);
/// Row r of a packed weight as fp32 (an embedding lookup).
void ck_q4x16_row(float *out, const uint8_t *w, int r, int k);
void ck_q8x16_row(float *out, const uint8_t *w, int r, int k);

/// Index of the first NaN or ±inf among n floats, or -1 (load-time weight check).
long long ck_first_nonfinite(const float *x, size_t n);

// MARK: int8 (Q8_0-style blocks of 32, one fp32 scale per block)

/// Quantized row: n/32 blocks, scales[b] (fp32) and qs[32·b .. 32·b+31] (int8, in [-127, 127]).
/// Quantize: amax = max|x| over the block, d = amax/127, q = round-half-away(x/d); all-zero block
/// gives d = 0 and q = 0. n must be a multiple of 32.
void ck_q8_quantize_row(int8_t *qs, float *scales, const float *x, int n);
void ck_q8_quantize_row_ref(int8_t *qs, float *scales, const float *x, int n);
void ck_q8_quantize_row_avx2(int8_t *qs, float *scales, const float *x, int n);
void ck_q8_quantize_row_avx512(int8_t *qs, float *scales, const float *x, int n);
/// Integer part of the block dot: per block b, isum[b] = Σ_j a[32b+j]·b[32b+j] (exact int32).
/// `a` may hold any int8 (-128 included); `b` must be in [-127, 127].
void ck_q8_block_dots(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks);
void ck_q8_block_dots_ref(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks);
void ck_q8_block_dots_avx2(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks);
void ck_q8_block_dots_avxvnni(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks);
void ck_q8_block_dots_avx512vnni(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks);
/// Per block b of a quantized row: corr[b] = −128 · Σ_j qs[32b + j] (the activation side of the Q8
/// product, whose weights are stored as w + 128).
void ck_q8_block_corr(int32_t *corr, const int8_t *qs, int n);
/// Per block b of a quantized row: sums[b] = scales[b] · Σ_j qs[32b + j] (the activation side of the
/// Q4 offset term). Scalar: both run once per activation row, not per weight.
void ck_q8_block_sums(float *sums, const int8_t *qs, const float *scales, int n);

/// The quantized products: y[i·ldy + r] for activation rows i < m (int8 rows of k, scales and the
/// per-block terms above, each row k or k/32 apart) and weight rows r < n of a packed x16 weight,
/// k % 32 == 0. Every output accumulates its blocks in order, acc = fma(isum_b, d_b·dx_b, acc)
/// (Q4: then acc = fma(m_b, xsum_b, acc)), from acc = 0, with the exact integer block dot isum_b:
/// every twin and every row count gives the same bits (batch-invariant, tier-invariant).
/// Q8: y = Σ_b d[r][b]·xscale[i][b]·(w[r] · xq[i] over block b).
void ck_q8_matmul(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                  const uint8_t *w, int m, int n, int k);
void ck_q8_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                      const uint8_t *w, int m, int n, int k);
void ck_q8_matmul_avx2(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                       const uint8_t *w, int m, int n, int k);
void ck_q8_matmul_avxvnni(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                          const uint8_t *w, int m, int n, int k);
void ck_q8_matmul_avx512vnni(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                             const uint8_t *w, int m, int n, int k);
/// Q4: y = Σ_b d[r][b]·xscale[i][b]·(q[r] · xq[i] over block b) + Σ_b m[r][b]·xsum[i][b].
void ck_q4_matmul(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                  const uint8_t *w, int m, int n, int k);
void ck_q4_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                      const uint8_t *w, int m, int n, int k);
void ck_q4_matmul_avx2(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                       const uint8_t *w, int m, int n, int k);
void ck_q4_matmul_avxvnni(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                          const uint8_t *w, int m, int n, int k);
void ck_q4_matmul_avx512vnni(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                             const uint8_t *w, int m, int n, int k);
/// ck_q8_matmul / ck_q4_matmul over the helper threads of ck_blas_set_threads when `threaded` is
/// non-zero (whole 16-row groups per thread, so the result is the same for any thread count), on the
/// calling thread alone otherwise. y is m × n (ldy = n).
void ck_matmul_q8(float *y, const int8_t *xq, const float *xscale, const int32_t *xcorr, const uint8_t *w,
                  int m, int n, int k, int threaded);
void ck_matmul_q4(float *y, const int8_t *xq, const float *xscale, const float *xsum, const uint8_t *w,
                  int m, int n, int k, int threaded);

// MARK: threads

/// Pins the calling thread to one CPU; 0 on success, -1 when the CPU does not exist or pinning failed.
int ck_pin_current_thread(int cpu);
int ck_online_cpus(void);
/// A spin-wait hint (x86 `pause`).
void ck_cpu_relax(void);
/// Chunks of the helper threads' jobs that ran outside their own thread's share since start: work the
/// pool moved off a thread that was descheduled, woken late or slower (profiles and tests).
long ck_pool_stolen_chunks(void);
/// A pool job of n_chunks (1...4096) chunks that checks the handing over itself: each chunk adds 1 to
/// runs[c] and writes the part that ran it to part_of[c]; a chunk that a helper takes first holds
/// that helper until every other chunk is done, so the caller must take the rest of the helper's
/// share for the job to end. Returns the chunks the job ran outside their own share, or -1 when
/// n_chunks is out of range or a held helper gave up waiting (about 10⁹ spins: the hand-over failed).
long ck_pool_check(int n_chunks, int *runs, int *part_of);

// MARK: machine probes (profiling only; AVX2 when available, scalar otherwise)

/// Sums n floats with 8 independent AVX2 accumulators: a pure streaming read. Returns the sum so
/// the loop cannot be removed.
float ck_probe_read_f32(const float *p, size_t n);
/// The peak probes of each instruction sequence a tier's kernels use (12 independent chains with
/// distinct starting values): int8 MACs or fp32 FLOPs per iteration = ck_probe_ops_per_iter (0 when
/// the CPU cannot run it); ck_probe_run runs `iters` iterations and returns a value derived from the
/// chains, so they cannot be removed.
enum { CK_PROBE_MADDUBS, CK_PROBE_VNNI_VEX, CK_PROBE_VNNI_YMM, CK_PROBE_VNNI_ZMM, CK_PROBE_FMA_YMM, CK_PROBE_FMA_ZMM,
       CK_PROBE_COUNT };
const char *ck_probe_name(int probe);
double ck_probe_ops_per_iter(int probe);
double ck_probe_run(int probe, int64_t iters);

#ifdef __cplusplus
}
#endif
#endif
