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

/* index of reduction element k of column j (0 or 1) in a pair of interleaved columns: each group of four
 * elements holds column 0's four (slot order), then column 1's */
#define PEXCP_S8_POS2(k, j) (((k) & ~3) * 2 + (j) * 4 + PEXCP_S8_SLOT((k) & 3))

/* (*s0, *s1) += row . (column 0, column 1) over k reduction elements: the row is int8 (any alignment), the
 * columns interleaved int16 (word-aligned). Per four elements: one weight load, two SXTB16, one load of
 * four column words, four SMLAD. */
static inline void pexcp_dot1x2(const int8_t *w, const int16_t *cols, int k, int32_t *s0p, int32_t *s1p)
{
    int32_t s0 = *s0p, s1 = *s1p;
    const int8_t *end = w + (k & ~3);
    const int16_t *c = cols;
    if (w < end) { /* 11 instructions per 8 MACs; GCC's own schedule of the same C spills and needs 14 */
        int32_t a, b, x0, x1, x2, x3;
        __asm__ volatile("1:\n\t"
                         "ldr %[a], [%[w]], #4\n\t"
                         "ldrd %[x0], %[x1], [%[c]], #8\n\t"
                         "ldrd %[x2], %[x3], [%[c]], #8\n\t"
                         "sxtb16 %[b], %[a]\n\t"
                         "sxtb16 %[a], %[a], ror #8\n\t"
                         "smlad %[s0], %[b], %[x0], %[s0]\n\t"
                         "smlad %[s0], %[a], %[x1], %[s0]\n\t"
                         "smlad %[s1], %[b], %[x2], %[s1]\n\t"
                         "smlad %[s1], %[a], %[x3], %[s1]\n\t"
                         "cmp %[w], %[end]\n\t"
                         "bne 1b"
                         : [w] "+r"(w), [c] "+r"(c), [s0] "+r"(s0), [s1] "+r"(s1), [a] "=&r"(a), [b] "=&r"(b),
                           [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3)
                         : [end] "r"(end)
                         : "cc", "memory");
    }
    for (int i = 0; i < (k & 3); ++i) {
        s0 += w[i] * c[PEXCP_S8_SLOT(i)];
        s1 += w[i] * c[4 + PEXCP_S8_SLOT(i)];
    }
    *s0p = s0, *s1p = s1;
}

/* s[2 * i + j] += row_i . column j for two int8 rows and two interleaved columns over k elements: per four
 * elements each row's word is unpacked once and meets both columns (19 instructions per 16 MACs) */
static inline void pexcp_dot2x2(const int8_t *w0, const int8_t *w1, const int16_t *cols, int k, int32_t s[4])
{
#if !defined(__OPTIMIZE__) /* unoptimised builds lack the free registers the assembly loop needs */
    pexcp_dot1x2(w0, cols, k, &s[0], &s[1]);
    pexcp_dot1x2(w1, cols, k, &s[2], &s[3]);
#else
    int32_t s00 = s[0], s01 = s[1], s10 = s[2], s11 = s[3];
    const int8_t *end = w0 + (k & ~3);
    const int16_t *c = cols;
    if (w0 < end) {
        int32_t t, u, x0, x1;
        __asm__ volatile("1:\n\t"
                         "ldr %[u], [%[w0]], #4\n\t"
                         "sxtb16 %[t], %[u]\n\t"
                         "sxtb16 %[u], %[u], ror #8\n\t"
                         "ldrd %[x0], %[x1], [%[c]]\n\t"
                         "smlad %[s00], %[t], %[x0], %[s00]\n\t"
                         "smlad %[s00], %[u], %[x1], %[s00]\n\t"
                         "ldrd %[x0], %[x1], [%[c], #8]\n\t"
                         "smlad %[s01], %[t], %[x0], %[s01]\n\t"
                         "smlad %[s01], %[u], %[x1], %[s01]\n\t"
                         "ldr %[u], [%[w1]], #4\n\t"
                         "sxtb16 %[t], %[u]\n\t"
                         "sxtb16 %[u], %[u], ror #8\n\t"
                         "smlad %[s11], %[t], %[x0], %[s11]\n\t"
                         "smlad %[s11], %[u], %[x1], %[s11]\n\t"
                         "ldrd %[x0], %[x1], [%[c]], #16\n\t"
                         "smlad %[s10], %[t], %[x0], %[s10]\n\t"
                         "smlad %[s10], %[u], %[x1], %[s10]\n\t"
                         "cmp %[w0], %[end]\n\t"
                         "bne 1b"
                         : [w0] "+r"(w0), [w1] "+r"(w1), [c] "+r"(c), [s00] "+r"(s00), [s01] "+r"(s01),
                           [s10] "+r"(s10), [s11] "+r"(s11), [t] "=&r"(t), [u] "=&r"(u), [x0] "=&r"(x0),
                           [x1] "=&r"(x1)
                         : [end] "r"(end)
                         : "cc", "memory");
    }
    for (int i = 0; i < (k & 3); ++i) {
        const int32_t x = c[PEXCP_S8_SLOT(i)], y = c[4 + PEXCP_S8_SLOT(i)];
        s00 += w0[i] * x;
        s01 += w0[i] * y;
        s10 += w1[i] * x;
        s11 += w1[i] * y;
    }
    s[0] = s00, s[1] = s01, s[2] = s10, s[3] = s11;
#endif
}

/* (*s0, *s1) += (row 0, row 1) . column over k elements: int8 rows, one word-aligned int16 column in slot
 * order (the fully connected layer's widened input) */
static inline void pexcp_dot2x1(const int8_t *w0, const int8_t *w1, const int16_t *col, int k, int32_t *s0p,
                                int32_t *s1p)
{
    int32_t s0 = *s0p, s1 = *s1p;
    const int8_t *end = w0 + (k & ~3);
    const int16_t *c = (const int16_t *)__builtin_assume_aligned(col, 4);
    while (w0 < end) {
        const int32_t a = pexcp_load32(w0), b = pexcp_load32(w1);
        int32_t x[2];
        memcpy(x, c, sizeof x);
        s0 = __smlad(__sxtb16(a), x[0], s0);
        s0 = __smlad(pexcp_sxtb16_ror8(a), x[1], s0);
        s1 = __smlad(__sxtb16(b), x[0], s1);
        s1 = __smlad(pexcp_sxtb16_ror8(b), x[1], s1);
        w0 += 4, w1 += 4, c += 4;
    }
    for (int i = 0; i < (k & 3); ++i) {
        s0 += w0[i] * c[PEXCP_S8_SLOT(i)];
        s1 += w1[i] * c[PEXCP_S8_SLOT(i)];
    }
    *s0p = s0, *s1p = s1;
}

#endif
