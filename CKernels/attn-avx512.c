// AVX-512 twin of the attention kernel, over fp32 and fp16 caches (the body is attn-simd.h).
#include <math.h>
#include "internal.h"
#if CK_X86

#define V_ATTR CK_AVX512
#define V_T __m512
#define V_W 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_SET1(f) _mm512_set1_ps(f)
#define V_HSUM(v) ck_hsum16(v)
#define V_SUM8(vs) ck_sum8x16(vs)
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_EXP(v) ck_exp16(v)
#define V_ZERO_WHERE_NEG_INF(e, s) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, neg_inf, _CMP_NEQ_UQ), e)
#define ATTN_QH 3
#define ATTN_FN ck_attn_f32_avx512
#include "attn-simd.h"

// The same kernel over an fp16 cache: each key and value vector widened as it is loaded.
#define KV_T uint16_t
#define KV_LOAD(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define KV_GET(p) _cvtsh_ss(*(p))
#define ATTN_FN ck_attn_f16kv_avx512
#include "attn-simd.h"
#endif  // CK_X86
