// Load-time format conversion; scalar on purpose (runs once per weight, never per token).
#include <float.h>
#include <math.h>
#include <string.h>
#include "internal.h"

float ck_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalize
            int e = -1;
            do { e++; man <<= 1; } while ((man & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ck_fp32_to_fp16(float f) {  // round to nearest even
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000u ? 0x200 : 0));
    if (absx >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);  // overflow -> inf
    if (absx < 0x38800000u) {  // subnormal or zero in half
        if (absx < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absx >> 23;
        uint32_t man = (absx & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e;  // 113 - e + 13
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

void ck_dequant_f16(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = ck_fp16_to_fp32(in[i]);
}

void ck_dequant_bf16(float *out, const uint16_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)in[i] << 16;
        memcpy(&out[i], &bits, 4);
    }
}


void ck_dequant_q8_0(float *out, const uint8_t *in, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = in + b * 34;
        float d = ck_fp16_to_fp32(ck_rd16(blk));
        const int8_t *qs = (const int8_t *)(blk + 2);
        for (int j = 0; j < 32; j++) out[b * 32 + j] = d * (float)qs[j];
    }
}

void ck_dequant_q4_0(float *out, const uint8_t *in, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = in + b * 18;
        float d = ck_fp16_to_fp32(ck_rd16(blk));
        const uint8_t *qs = blk + 2;
        for (int j = 0; j < 16; j++) {
            out[b * 32 + j] = d * (float)((int)(qs[j] & 0x0F) - 8);
            out[b * 32 + j + 16] = d * (float)((int)(qs[j] >> 4) - 8);
        }
    }
}

void ck_dequant_q4_1(float *out, const uint8_t *in, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = in + b * 20;
        float d = ck_fp16_to_fp32(ck_rd16(blk));
        float m = ck_fp16_to_fp32(ck_rd16(blk + 2));
        const uint8_t *qs = blk + 4;
        for (int j = 0; j < 16; j++) {
            out[b * 32 + j] = d * (float)(qs[j] & 0x0F) + m;
            out[b * 32 + j + 16] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

void ck_rope_table_f32(float *cs, float *sn, int head_dim, int pos, float base) {
    for (int i = 0; i < head_dim / 2; i++) {
        double theta = (double)pos * pow((double)base, -2.0 * (double)i / (double)head_dim);
        float c = (float)cos(theta), s = (float)sin(theta);
        cs[2 * i] = c;
        cs[2 * i + 1] = c;
        sn[2 * i] = -s;
        sn[2 * i + 1] = s;
    }
}

void ck_quantize_q8_0(uint8_t *out, const float *x, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = ck_fp32_to_fp16(d);
        uint8_t *blk = out + b * 34;
        blk[0] = (uint8_t)(h & 0xFF);
        blk[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)roundf(xb[j] * id);
    }
}

long long ck_first_nonfinite(const float *x, size_t n) {
    // Any bit pattern whose exponent field is all ones is ±inf or NaN.
    const uint32_t *u = (const uint32_t *)x;
    for (size_t i = 0; i < n; i++)
        if ((u[i] & 0x7f800000u) == 0x7f800000u) return (long long)i;
    return -1;
}


void ck_quantize_q4_0(uint8_t *out, const float *x, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0, max = 0;  // the value of largest magnitude keeps its sign: it maps to -8
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        float d = max / -8;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *blk = out + b * 18;
        ck_wr16(blk, ck_fp32_to_fp16(d));
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)(xb[j] * id + 8.5f), q1 = (int8_t)(xb[j + 16] * id + 8.5f);
            blk[2 + j] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
        }
    }
}

void ck_quantize_q4_1(uint8_t *out, const float *x, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        float d = (max - min) / 15;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *blk = out + b * 20;
        ck_wr16(blk, ck_fp32_to_fp16(d));
        ck_wr16(blk + 2, ck_fp32_to_fp16(min));
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)((xb[j] - min) * id + 0.5f), q1 = (int8_t)((xb[j + 16] - min) * id + 0.5f);
            blk[4 + j] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
        }
    }
}

