// The one runtime dispatch point: a table of function pointers filled by ck_init().
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef struct {
    float (*dot)(const float *, const float *, int);
    void (*gemv)(float *, const float *, const float *, int, int);
    void (*gemm_small)(float *, const float *, const float *, int, int, int);
    void (*rmsnorm)(float *, const float *, const float *, int, float);
    void (*softmax)(float *, int);
    void (*swiglu)(float *, const float *, const float *, int);
    void (*add)(float *, const float *, const float *, int);
    void (*rope)(float *, int, int, const float *, const float *);
    void (*attn)(float *, int, const float *, int, const float *, const float *, int, int, int, int,
                 const uint8_t *, int, int, int, float, float *);
    void (*q8_quantize)(int8_t *, float *, const float *, int);
    void (*q8_block_dots)(int32_t *, const int8_t *, const int8_t *, int);
    void (*q8_matmul)(float *, const int8_t *, const float *, const int8_t *, const float *, int, int, int);
    const char *name;
} ck_table;

static ck_table table;
static int has_avx2_fma;

void ck_init(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
#else
    has_avx2_fma = 0;
#endif
    const char *force = getenv("CK_FORCE_REF");
    int use_ref = !has_avx2_fma || (force && force[0] && strcmp(force, "0") != 0);
    if (use_ref) {
        table = (ck_table){ck_vec_dot_f32_ref, ck_gemv_f32_ref, ck_gemm_f32_small_ref, ck_rmsnorm_f32_ref, ck_softmax_f32_ref, ck_swiglu_f32_ref,
                           ck_vec_add_f32_ref, ck_rope_f32_ref, ck_attn_f32_ref, ck_q8_quantize_row_ref,
                           ck_q8_block_dots_ref, ck_q8_matmul_ref, "ref"};
    } else {
        table = (ck_table){ck_vec_dot_f32_avx2, ck_gemv_f32_avx2, ck_gemm_f32_small_avx2, ck_rmsnorm_f32_avx2, ck_softmax_f32_avx2, ck_swiglu_f32_avx2,
                           ck_vec_add_f32_avx2, ck_rope_f32_avx2, ck_attn_f32_avx2, ck_q8_quantize_row_avx2,
                           ck_q8_block_dots_avx2, ck_q8_matmul_avx2, "avx2"};
    }
}

__attribute__((constructor)) static void ck_init_at_load(void) { ck_init(); }

const char *ck_impl_name(void) { return table.name; }
int ck_cpu_has_avx2_fma(void) { return has_avx2_fma; }

float ck_vec_dot_f32(const float *a, const float *b, int n) { return table.dot(a, b, n); }
void ck_gemv_f32(float *y, const float *w, const float *x, int n, int k) { table.gemv(y, w, x, n, k); }
void ck_gemm_f32_small(float *y, const float *x, const float *w, int m, int n, int k) { table.gemm_small(y, x, w, m, n, k); }
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
void ck_q8_quantize_row(int8_t *qs, float *scales, const float *x, int n) { table.q8_quantize(qs, scales, x, n); }
void ck_q8_block_dots(int32_t *isum, const int8_t *a, const int8_t *b, int n_blocks) {
    table.q8_block_dots(isum, a, b, n_blocks);
}
void ck_q8_matmul(float *y, const int8_t *xq, const float *xscale, const int8_t *wq, const float *wscale,
                  int m, int n, int k) {
    table.q8_matmul(y, xq, xscale, wq, wscale, m, n, k);
}
