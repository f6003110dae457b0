// AVX2+FMA twin of the batch-invariant fp32 product (the body is gemm-simd.h).
#include <math.h>
#include "internal.h"
#if CK_X86

#define V_ATTR CK_AVX2
#define V_T __m256
#define V_W 8
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_HSUM(v) ck_hsum8(v)
#define GEMM_FN ck_gemm_f32_avx2
// 16 ymm registers: 2 weight rows × 4 activation rows keeps the 8 accumulators, the weights and x in
// registers (4 × 4 spilled: 8 rows cost 2.1× one row instead of 1.6×).
#define GEMM_R 2
#include "gemm-simd.h"
#endif  // CK_X86
