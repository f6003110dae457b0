// AVX2+FMA twin of the batch-invariant fp32 product (the body is gemm-simd.h).
#include <math.h>
#include "internal.h"

#define V_ATTR CK_AVX2
#define V_T __m256
#define V_W 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_HSUM(v) ck_hsum8(v)
#define GEMM_FN ck_gemm_f32_avx2
#include "gemm-simd.h"
