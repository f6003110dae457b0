// CPU feature detection from CPUID and XCR0: an instruction set counts only when the CPU has it
// and the OS saves its register state (XGETBV), so a kernel never faults on a VM that hides it.
#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

unsigned ck_cpu_features(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = xgetbv0();
    int ymm_state = (xcr0 & 0x6) == 0x6;      // SSE + AVX state
    int zmm_state = (xcr0 & 0xE0) == 0xE0;    // opmask, ZMM0-15 upper halves, ZMM16-31
    if (!ymm_state) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int avx512vnni = (c >> 11) & 1;
    unsigned max_sub = a;
    int avxvnni = 0;
    if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        avxvnni = (a >> 4) & 1;
    }
    if (avx2 && fma && f16c) f |= CK_FEAT_AVX2_FMA;
    if ((f & CK_FEAT_AVX2_FMA) && avxvnni) f |= CK_FEAT_AVX_VNNI;
    if ((f & CK_FEAT_AVX2_FMA) && zmm_state && avx512f && avx512dq && avx512bw && avx512vl) {
        f |= CK_FEAT_AVX512;
        if (avx512vnni) f |= CK_FEAT_AVX512_VNNI;
    }
    return f;
}
#else
unsigned ck_cpu_features(void) { return 0; }
#endif
