// The x16 weight layouts (CKernels.h): packing, row reads, and the scalar twins of the quantized
// products. The twins define the arithmetic the SIMD twins repeat to the bit: an exact integer dot
// per block, then acc = fmaf(isum, d·dx, acc) (and, for Q4, acc = fmaf(m, xsum, acc)), blocks in order.
#include <math.h>
#include <string.h>
#include "internal.h"


// Element e of a 32-weight block, lane l: where its nibble sits in a Q4 block record.
static size_t q4_byte(int e, int l) { return (size_t)(e / 8) * 64 + (size_t)l * 4 + (size_t)(e % 4); }
static int q4_high(int e) { return e % 8 >= 4; }
// Element e, lane l of a Q8 block record.
static size_t q8_byte(int e, int l) { return (size_t)(e / 4) * 64 + (size_t)l * 4 + (size_t)(e % 4); }

int ck_q4x16_pack(uint8_t *dst, const uint8_t *src, int type, int rows, int k) {
    const int nb = k / 32;
    const size_t bs = type == CK_Q4_0 ? 18 : 20;
    memset(dst, 0, ck_q4x16_bytes(rows, k));
    for (int r = 0; r < rows; r++) {
        const int l = r % 16;
        uint8_t *group = dst + (size_t)(r / 16) * nb * CK_X16_Q4_BLOCK;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = src + ((size_t)r * nb + b) * bs;
            uint8_t *rec = group + (size_t)b * CK_X16_Q4_BLOCK;
            uint16_t dh = ck_rd16(blk), mh;
            if (!isfinite(ck_fp16_to_fp32(dh))) return r * k + b * 32;
            const uint8_t *qs;
            if (type == CK_Q4_0) {
                // d·(q − 8) = d·q + (−8d): exact in fp16 (a power-of-two scaling) unless it overflows.
                mh = ck_fp32_to_fp16(-8.0f * ck_fp16_to_fp32(dh));
                qs = blk + 2;
            } else {
                mh = ck_rd16(blk + 2);
                qs = blk + 4;
            }
            if (!isfinite(ck_fp16_to_fp32(mh))) return r * k + b * 32;
            for (int e = 0; e < 32; e++) {
                // ggml's order: element e < 16 is the low nibble of qs[e], e >= 16 the high one of qs[e − 16].
                uint8_t q = e < 16 ? (qs[e] & 0x0F) : (qs[e - 16] >> 4);
                rec[q4_byte(e, l)] |= (uint8_t)(q4_high(e) ? q << 4 : q);
            }
            ck_wr16(rec + 256 + 2 * l, dh);
            ck_wr16(rec + 288 + 2 * l, mh);
        }
    }
    return -1;
}

void ck_q8x16_pack(uint8_t *dst, const int8_t *wq, const float *wscale, int rows, int k) {
    const int nb = k / 32;
    memset(dst, 0, ck_q8x16_bytes(rows, k));
    // Padding rows hold w = 0 (stored as 128) with scale 0.
    for (size_t g = 0; g < ck_x16_groups(rows); g++)
        for (int b = 0; b < nb; b++) memset(dst + (g * nb + b) * CK_X16_Q8_BLOCK, 128, 512);
    for (int r = 0; r < rows; r++) {
        const int l = r % 16;
        uint8_t *group = dst + (size_t)(r / 16) * nb * CK_X16_Q8_BLOCK;
        for (int b = 0; b < nb; b++) {
            uint8_t *rec = group + (size_t)b * CK_X16_Q8_BLOCK;
            for (int e = 0; e < 32; e++) rec[q8_byte(e, l)] = (uint8_t)(wq[(size_t)r * k + b * 32 + e] + 128);
            memcpy(rec + 512 + 4 * l, wscale + (size_t)r * nb + b, 4);
        }
    }
}

void ck_q4x16_row(float *out, const uint8_t *w, int r, int k) {
    const int nb = k / 32, l = r % 16;
    const uint8_t *group = w + (size_t)(r / 16) * nb * CK_X16_Q4_BLOCK;
    for (int b = 0; b < nb; b++) {
        const uint8_t *rec = group + (size_t)b * CK_X16_Q4_BLOCK;
        float d = ck_fp16_to_fp32(ck_rd16(rec + 256 + 2 * l)), m = ck_fp16_to_fp32(ck_rd16(rec + 288 + 2 * l));
        for (int e = 0; e < 32; e++) {
            uint8_t byte = rec[q4_byte(e, l)];
            out[b * 32 + e] = d * (float)(q4_high(e) ? byte >> 4 : byte & 0x0F) + m;
        }
    }
}

void ck_q8x16_row(float *out, const uint8_t *w, int r, int k) {
    const int nb = k / 32, l = r % 16;
    const uint8_t *group = w + (size_t)(r / 16) * nb * CK_X16_Q8_BLOCK;
    for (int b = 0; b < nb; b++) {
        const uint8_t *rec = group + (size_t)b * CK_X16_Q8_BLOCK;
        float d;
        memcpy(&d, rec + 512 + 4 * l, 4);
        for (int e = 0; e < 32; e++) out[b * 32 + e] = d * (float)((int)rec[q8_byte(e, l)] - 128);
    }
}

void ck_q8_block_corr(int32_t *corr, const int8_t *qs, int n) {
    for (int b = 0; b < n / 32; b++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += qs[b * 32 + j];
        corr[b] = -128 * s;
    }
}

void ck_q8_block_sums(float *sums, const int8_t *qs, const float *scales, int n) {
    for (int b = 0; b < n / 32; b++) {
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += qs[b * 32 + j];
        sums[b] = scales[b] * (float)s;
    }
}

void ck_q8_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const int32_t *xcorr,
                      const uint8_t *w, int m, int n, int k) {
    (void)xcorr;  // the twin takes the signed weights directly
    const int nb = k / 32;
    for (int i = 0; i < m; i++)
        for (int r = 0; r < n; r++) {
            const int l = r % 16;
            const uint8_t *group = w + (size_t)(r / 16) * nb * CK_X16_Q8_BLOCK;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const uint8_t *rec = group + (size_t)b * CK_X16_Q8_BLOCK;
                const int8_t *xb = xq + (size_t)i * k + b * 32;
                int32_t s = 0;
                for (int e = 0; e < 32; e++) s += ((int32_t)rec[q8_byte(e, l)] - 128) * xb[e];
                float d;
                memcpy(&d, rec + 512 + 4 * l, 4);
                acc = fmaf((float)s, d * xscale[(size_t)i * nb + b], acc);
            }
            y[(size_t)i * ldy + r] = acc;
        }
}

void ck_q4_matmul_ref(float *y, int ldy, const int8_t *xq, const float *xscale, const float *xsum,
                      const uint8_t *w, int m, int n, int k) {
    const int nb = k / 32;
    for (int i = 0; i < m; i++)
        for (int r = 0; r < n; r++) {
            const int l = r % 16;
            const uint8_t *group = w + (size_t)(r / 16) * nb * CK_X16_Q4_BLOCK;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const uint8_t *rec = group + (size_t)b * CK_X16_Q4_BLOCK;
                const int8_t *xb = xq + (size_t)i * k + b * 32;
                int32_t s = 0;
                for (int e = 0; e < 32; e++) {
                    uint8_t byte = rec[q4_byte(e, l)];
                    s += (int32_t)(q4_high(e) ? byte >> 4 : byte & 0x0F) * xb[e];
                }
                float d = ck_fp16_to_fp32(ck_rd16(rec + 256 + 2 * l)), mo = ck_fp16_to_fp32(ck_rd16(rec + 288 + 2 * l));
                acc = fmaf((float)s, d * xscale[(size_t)i * nb + b], acc);
                acc = fmaf(mo, xsum[(size_t)i * nb + b], acc);
            }
            y[(size_t)i * ldy + r] = acc;
        }
}
