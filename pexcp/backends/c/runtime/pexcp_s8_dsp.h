/* Cortex-M4 DSP helpers shared by the int8 fast paths (conv_s8.c, fully_connected_s8.c): included only
 * under __ARM_FEATURE_DSP (and not PEXCP_NO_DSP, which forces the portable path for comparisons).
 *
 * Operands of the dual 16-bit multiply-accumulate __smlad come in halfword pairs. Four int8 weights read
 * as one word w = (w0, w1, w2, w3) give the pairs (w0, w2) = __sxtb16(w) and (w1, w3) = __sxtb16(w ror 8);
 * the activations they meet are therefore stored as int16 (x + in_offset) in the order x0, x2, x1, x3
 * within each group of four reduction elements (pexcp_s8_slot). Integer sums are exact, so the fast paths
 * give the same bits as the portable loops. */
#ifndef PEXCP_S8_DSP_H
#define PEXCP_S8_DSP_H

#include <arm_acle.h>
#include <string.h>

#include "pexcp_s8.h"

/* position of reduction element k within its group of four */
#define PEXCP_S8_SLOT(k) (((k) & ~3) | ((((k) & 1) << 1) | (((k) >> 1) & 1)))

static inline int32_t pexcp_load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4); /* one LDR: the M4 reads unaligned words */
    return v;
}

/* (w1, w3) of four packed int8: SXTB16 with its rotation, one instruction */
static inline int32_t pexcp_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* two int16 pairs of a word-aligned column: one LDRD */
static inline void pexcp_load_pairs(const int16_t *p, int32_t *lo, int32_t *hi)
{
    const int32_t *q = (const int32_t *)__builtin_assume_aligned(p, 4);
    int32_t v[2];
    memcpy(v, q, 8);
    *lo = v[0], *hi = v[1];
}

/* s[2 * i + j] += row_i . col_j over k reduction elements; rows are int8 (w0 may equal w1), columns int16
 * in slot order, word-aligned (c0 may equal c1) */
static inline void pexcp_dot2x2(const int8_t *w0, const int8_t *w1, const int16_t *c0, const int16_t *c1, int k,
                                int32_t s[4])
{
    int32_t s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3];
    const int k4 = k & ~3;
    const int8_t *w0_end = w0 + k4;
    while (w0 < w0_end) {
        const int32_t a = pexcp_load32(w0), b = pexcp_load32(w1);
        w0 += 4, w1 += 4;
        const int32_t a02 = __sxtb16(a), a13 = pexcp_sxtb16_ror8(a);
        const int32_t b02 = __sxtb16(b), b13 = pexcp_sxtb16_ror8(b);
        int32_t x02, x13, y02, y13;
        pexcp_load_pairs(c0, &x02, &x13);
        pexcp_load_pairs(c1, &y02, &y13);
        c0 += 4, c1 += 4;
        s00 = __smlad(a02, x02, s00);
        s00 = __smlad(a13, x13, s00);
        s01 = __smlad(a02, y02, s01);
        s01 = __smlad(a13, y13, s01);
        s10 = __smlad(b02, x02, s10);
        s10 = __smlad(b13, x13, s10);
        s11 = __smlad(b02, y02, s11);
        s11 = __smlad(b13, y13, s11);
    }
    for (int i = 0; i < k - k4; ++i) { /* c0, c1 and the rows now point at the last, partial group */
        const int32_t x = c0[PEXCP_S8_SLOT(i)], y = c1[PEXCP_S8_SLOT(i)];
        s00 += w0[i] * x;
        s01 += w0[i] * y;
        s10 += w1[i] * x;
        s11 += w1[i] * y;
    }
    s[0] = s00, s[1] = s01, s[2] = s10, s[3] = s11;
}

/* int16 elements needed for a column of k reduction elements (whole groups of four) */
static inline int pexcp_col_len(int k) { return (k + 3) & ~3; }

#endif
