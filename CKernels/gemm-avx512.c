// AVX-512 twin of the batch-invariant fp32 product (the body is gemm-simd.h).
#include <math.h>
#include "internal.h"
#if CK_X86

#define V_ATTR CK_AVX512
#define V_T __m512
#define V_W 16
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_HSUM(v) ck_hsum16(v)
#define GEMM_FN ck_gemm_f32_avx512
// 2 weight rows × 4 activation rows, as on AVX2: measured 8 rows 1.28–1.32× one row against 1.43× for 4 × 4.
#define GEMM_R 2
#include "gemm-simd.h"
#endif  // CK_X86
