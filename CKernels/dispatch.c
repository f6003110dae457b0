// The one runtime dispatch point: a table of function pointers, filled once per tier choice.
// A tier names an instruction-set level; within it each kernel takes the best twin that exists,
// and the table records which one (a tier may reuse a lower tier's twin where nothing is gained).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct {
    float (*dot)(const float *, const float *, int);
    void (*gemm)(float *, int, const float *, const float *, int, int, int);
    void (*rmsnorm)(float *, const float *, const float *, int, float);
    void (*softmax)(float *, int);
    void (*swiglu)(float *, const float *, const float *, int);
    void (*add)(float *, const float *, const float *, int);
    void (*rope)(float *, int, int, const float *, const float *);
    void (*attn)(float *, int, const float *, int, const float *, const float *, int, int, int, int,
                 const uint8_t *, int, int, int, float, float *);
    void (*q8_quantize)(int8_t *, float *, const float *, int);
    void (*q8_block_dots)(int32_t *, const int8_t *, const int8_t *, int);
    void (*q8_matmul)(float *, int, const int8_t *, const float *, const int32_t *, const uint8_t *, int, int, int);
    void (*q4_matmul)(float *, int, const int8_t *, const float *, const float *, const uint8_t *, int, int, int);
    void (*attn_f16kv)(float *, int, const float *, int, const uint16_t *, const uint16_t *, int, int, int, int,
                       const uint8_t *, int, int, int, float, float *);
    void (*to_f16)(uint16_t *, const float *, int);
    int (*argmax)(const float *, int);
    int (*logit_check)(const float *, int);
    // Which twin each entry calls, in the order of ck_kernel_names.
    const char *impl[CK_KERNEL_COUNT];
} ck_table;

static const char *const kernel_names[CK_KERNEL_COUNT] = {
    "dot", "gemm", "rmsnorm", "softmax", "swiglu", "add", "rope", "attn", "q8_quantize", "q8_block_dots", "q8_matmul", "q4_matmul", "attn_f16kv", "to_f16", "argmax", "logit_check"};
static const char *const tier_names[CK_TIER_COUNT] = {"ref", "avx2", "avxvnni", "avx512"};

static ck_table table;
static int current_tier;
static unsigned features;

static const ck_table ref_table = {
    ck_vec_dot_f32_ref, ck_gemm_f32_ref, ck_rmsnorm_f32_ref, ck_softmax_f32_ref, ck_swiglu_f32_ref,
    ck_vec_add_f32_ref, ck_rope_f32_ref, ck_attn_f32_ref, ck_q8_quantize_row_ref, ck_q8_block_dots_ref,
    ck_q8_matmul_ref, ck_q4_matmul_ref, ck_attn_f16kv_ref, ck_f32_to_f16_ref, ck_argmax_f32_ref, ck_first_nan_or_posinf_ref,
    {"ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref", "ref"}};

#if CK_X86
static const ck_table avx2_table = {
    ck_vec_dot_f32_avx2, ck_gemm_f32_avx2, ck_rmsnorm_f32_avx2, ck_softmax_f32_avx2, ck_swiglu_f32_avx2,
    ck_vec_add_f32_avx2, ck_rope_f32_avx2, ck_attn_f32_avx2, ck_q8_quantize_row_avx2, ck_q8_block_dots_avx2,
    ck_q8_matmul_avx2, ck_q4_matmul_avx2, ck_attn_f16kv_avx2, ck_f32_to_f16_avx2, ck_argmax_f32_avx2,
    ck_first_nan_or_posinf_avx2,
    {"avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2", "avx2"}};
#endif

static ck_table make_table(int tier) {
#if !CK_X86
    (void)tier;  // only the scalar twins exist off x86, and no other tier is ever supported there
    return ref_table;
#else
    ck_table t;
    switch (tier) {
    case CK_TIER_REF:
        return ref_table;
    case CK_TIER_AVX2:
        return avx2_table;
    case CK_TIER_AVXVNNI:
        t = avx2_table;
        t.q8_block_dots = ck_q8_block_dots_avxvnni;
        t.q8_matmul = ck_q8_matmul_avxvnni;
        t.q4_matmul = ck_q4_matmul_avxvnni;
        t.impl[CK_K_Q8_BLOCK_DOTS] = t.impl[CK_K_Q8_MATMUL] = t.impl[CK_K_Q4_MATMUL] = "avxvnni";
        return t;
    default:  // CK_TIER_AVX512: the elementwise kernels gain nothing from 512-bit vectors at the model's sizes
        t = avx2_table;
        t.gemm = ck_gemm_f32_avx512;
        t.attn = ck_attn_f32_avx512;
        t.attn_f16kv = ck_attn_f16kv_avx512;
        t.q8_quantize = ck_q8_quantize_row_avx512;
        t.impl[CK_K_GEMM] = t.impl[CK_K_ATTN] = t.impl[CK_K_ATTN_F16KV] = t.impl[CK_K_Q8_QUANTIZE] = "avx512";
        if (features & CK_FEAT_AVX512_VNNI) {
            t.q8_block_dots = ck_q8_block_dots_avx512vnni;
            t.q8_matmul = ck_q8_matmul_avx512vnni;
            t.q4_matmul = ck_q4_matmul_avx512vnni;
            t.impl[CK_K_Q8_BLOCK_DOTS] = t.impl[CK_K_Q8_MATMUL] = t.impl[CK_K_Q4_MATMUL] = "avx512vnni";
        } else if (features & CK_FEAT_AVX_VNNI) {
            t.q8_block_dots = ck_q8_block_dots_avxvnni;
            t.q8_matmul = ck_q8_matmul_avxvnni;
            t.q4_matmul = ck_q4_matmul_avxvnni;
            t.impl[CK_K_Q8_BLOCK_DOTS] = t.impl[CK_K_Q8_MATMUL] = t.impl[CK_K_Q4_MATMUL] = "avxvnni";
        }
        return t;
    }
#endif
}

const char *ck_tier_unsupported_reason(int tier) {
    switch (tier) {
    case CK_TIER_REF:
        return NULL;
    case CK_TIER_AVX2:
        return features & CK_FEAT_AVX2_FMA ? NULL : "the CPU (or the OS) lacks AVX2, FMA or F16C";
    case CK_TIER_AVXVNNI:
        if (!(features & CK_FEAT_AVX2_FMA)) return "the CPU (or the OS) lacks AVX2, FMA or F16C";
        return features & CK_FEAT_AVX_VNNI ? NULL : "the CPU lacks AVX-VNNI";
    case CK_TIER_AVX512:
        return features & CK_FEAT_AVX512 ? NULL : "the CPU lacks AVX-512 F/DQ/BW/VL, or the OS does not enable its state";
    default:
        return "no such tier";
    }
}

int ck_tier_supported(int tier) { return tier >= 0 && tier < CK_TIER_COUNT && !ck_tier_unsupported_reason(tier); }

int ck_best_tier(void) {
    for (int t = CK_TIER_COUNT - 1; t > 0; t--)
        if (ck_tier_supported(t)) return t;
    return CK_TIER_REF;
}

int ck_set_tier(int tier) {
    if (!ck_tier_supported(tier)) return -1;
    table = make_table(tier);
    current_tier = tier;
    return 0;
}

int ck_tier_from_name(const char *name) {
    for (int t = 0; t < CK_TIER_COUNT; t++)
        if (strcmp(name, tier_names[t]) == 0) return t;
    return -1;
}

void ck_init(void) {
    features = ck_cpu_features();
    int tier = ck_best_tier();
    const char *force = getenv("CK_FORCE");
    const char *force_ref = getenv("CK_FORCE_REF");
    if (force && force[0]) {
        int want = ck_tier_from_name(force);
        if (want < 0)
            fprintf(stderr, "warning: CK_FORCE=%s is not a tier (ref, avx2, avxvnni, avx512); using %s\n", force,
                    tier_names[tier]);
        else if (!ck_tier_supported(want))
            fprintf(stderr, "warning: CK_FORCE=%s: %s; using %s\n", force, ck_tier_unsupported_reason(want),
                    tier_names[tier]);
        else
            tier = want;
    } else if (force_ref && force_ref[0] && strcmp(force_ref, "0") != 0) {
        tier = CK_TIER_REF;
    }
    ck_set_tier(tier);
}

__attribute__((constructor)) static void ck_init_at_load(void) { ck_init(); }

int ck_tier(void) { return current_tier; }
const char *ck_tier_name(int tier) { return tier >= 0 && tier < CK_TIER_COUNT ? tier_names[tier] : "?"; }
const char *ck_impl_name(void) { return tier_names[current_tier]; }
const char *ck_kernel_name(int kernel) { return kernel >= 0 && kernel < CK_KERNEL_COUNT ? kernel_names[kernel] : "?"; }
const char *ck_kernel_impl(int kernel) { return kernel >= 0 && kernel < CK_KERNEL_COUNT ? table.impl[kernel] : "?"; }
int ck_cpu_has_avx2_fma(void) { return (features & CK_FEAT_AVX2_FMA) != 0; }

float ck_vec_dot_f32(const float *a, const float *b, int n) { return table.dot(a, b, n); }
void ck_gemm_f32(float *y, int ldy, const float *x, const float *w, int m, int n, int k) {
    table.gemm(y, ldy, x, w, m, n, k);
}
void ck_rmsnorm_f32(float *out, const float *x, const float *w, int n, float eps) {
    table.rmsnorm(out, x, w, n, eps);
}
void ck_softmax_f32(float *x, int n) { table.softmax(x, n); }
void ck_swiglu_f32(float *out, const float *gate, const float *up, int n) { table.swiglu(out, gate, up, n); }
void ck_vec_add_f32(float *out, const float *a, const float *b, int n) { table.add(out, a, b, n); }
void ck_rope_f32(float *x, int n_heads, int head_dim, const float *cs, const float *sn) {
    table.rope(x, n_heads, head_dim, cs, sn);
}
void ck_attn_f32(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                 int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads,
                 int n_kv_heads, int head_dim, float scale, float *scratch) {
    table.attn(out, out_stride, q, q_stride, k, v, kv_stride, n_rows, n_prefix, n_new, mask, n_heads,
               n_kv_heads, head_dim, scale, scratch);
}
void ck_attn_f16kv(float *out, int out_stride, const float *q, int q_stride, const uint16_t *k, const uint16_t *v,
                   int kv_stride, int n_rows, int n_prefix, int n_new, const uint8_t *mask, int n_heads, int n_kv_heads,
                   int head_dim, float scale, float *scratch) {
    table.attn_f16kv(out, out_stride, q, q_stride, k, v, kv_stride, n_rows, n_prefix, n_new, mask, n_heads, n_kv_heads,
                     head_dim, scale, scratch);
}
void ck_f32_to_f16(uint16_t *out, const float *x, int n) { table.to_f16(out, x, n); }
int ck_argmax_f32(const float *x, int n) { return table.argmax(x, n); }
int ck_first_nan_or_posinf(const float *x, int n) { return table.logit_check(x, n); }
void ck_q8_quantize_row(int8_t *qs, float *scales, const float *x, int n) { table.q8_quantize(qs, scales, x, n); }
void ck_q8_block_dots(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks) {
    table.q8_block_dots(isum, a, b, n_blocks);
}
void ck_q8_matmul(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr, const uint8_t *w,
                  int m, int n, int k) {
    table.q8_matmul(y, ldy, xq, xscale, xcorr, w, m, n, k);
}
void ck_q4_matmul(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum, const uint8_t *w,
                  int m, int n, int k) {
    table.q4_matmul(y, ldy, xq, xscale, xsum, w, m, n, k);
}
