/* Softmax int8 -> int8 (TFLite Micro's reference_ops::Softmax, gemmlowp fixed point): differences to the
 * row maximum scaled to Q5.26, exp in Q0.31, the sum in Q12.19, its reciprocal by Newton-Raphson; the
 * output has scale 1/256 and zero point -128. Differences below diff_min count as exp = 0. */
#include "pexcp_s8.h"

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0)
        return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void pexcp_softmax_s8(const pexcp_softmax_s8_params *p, const int8_t *in, int8_t *out, int outer, int n, int inner)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) {
            const int8_t *x = in + (long)o * n * inner + i;
            int8_t *y = out + (long)o * n * inner + i;
            int32_t max = -128;
            for (int c = 0; c < n; ++c)
                max = x[(long)c * inner] > max ? x[(long)c * inner] : max;
            int32_t sum = 0; /* Q12.19 */
            for (int c = 0; c < n; ++c) {
                const int32_t diff = x[(long)c * inner] - max;
                if (diff >= p->diff_min) {
                    const int32_t scaled = pexcp_mbqm_gt1(diff, p->in_mult, p->in_shift);
                    sum += pexcp_rdpot(pexcp_exp_on_negative_values(scaled, 5), 12);
                }
            }
            /* 1 / sum: sum = 2^bits_over_unit * (1 + f) with f in [0, 1) */
            const int headroom_plus_one = clz32((uint32_t)sum);
            const int bits_over_unit = 12 - headroom_plus_one;
            const int32_t f = (int32_t)(((uint32_t)sum << headroom_plus_one) - (1u << 31));
            const int32_t scale = pexcp_one_over_one_plus_x(f);
            const int exponent = bits_over_unit + 31 - 8;
            for (int c = 0; c < n; ++c) {
                const int32_t diff = x[(long)c * inner] - max;
                int32_t q = -128;
                if (diff >= p->diff_min) {
                    const int32_t scaled = pexcp_mbqm_gt1(diff, p->in_mult, p->in_shift);
                    const int32_t e = pexcp_exp_on_negative_values(scaled, 5);
                    q = pexcp_clamp_s32(pexcp_rdpot(pexcp_srdhm(scale, e), exponent) - 128, -128, 127);
                }
                y[(long)c * inner] = (int8_t)q;
            }
        }
}
