// AVX2+FMA twin of the attention kernel, over fp32 and fp16 caches (the body is attn-simd.h).
#include <math.h>
#include "internal.h"
#if CK_X86

#define V_ATTR CK_AVX2
#define V_T __m256
#define V_W 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_SET1(f) _mm256_set1_ps(f)
#define V_HSUM(v) ck_hsum8(v)
#define V_SUM8(vs) ck_sum8x8(vs)
#define V_HMAX(v) ck_hmax8(v)
#define V_EXP(v) ck_exp8(v)
#define V_ZERO_WHERE_NEG_INF(e, s) _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_cmp_ps(s, neg_inf, _CMP_EQ_OQ))
#define ATTN_QH 1
#define ATTN_FN ck_attn_f32_avx2
#include "attn-simd.h"

// The same kernel over an fp16 cache: each key and value vector widened as it is loaded.
#define KV_T uint16_t
#define KV_LOAD(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define KV_GET(p) _cvtsh_ss(*(p))
#define ATTN_FN ck_attn_f16kv_avx2
#include "attn-simd.h"
#endif  // CK_X86
