/* Hard-swish int8 (TFLite Micro's reference_ops::HardSwish, quantized): int16 arithmetic; the input on a
 * 2^7 finer scale, a "reluish" factor in [0, 1] from the second multiplier, a final doubling high multiply
 * that truncates (no rounding), then the output shift. */
#include "pexcp_s8.h"

static int16_t srdhm16(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN)
        return INT16_MAX;
    const int32_t ab = (int32_t)a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

static int16_t sdhm16_truncating(int16_t a, int16_t b)
{
    if (a == b && a == INT16_MIN)
        return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t sat_shl16(int16_t v, int amount)
{
    const int32_t r = (int32_t)v * (1 << amount);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}

static int16_t rdpot16(int16_t x, int e)
{
    const int16_t mask = (int16_t)((1 << e) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0));
    return (int16_t)((x >> e) + (remainder > threshold));
}

void pexcp_hard_swish_s8(const pexcp_hard_swish_s8_params *p, const int8_t *in, int8_t *out, int n)
{
    const int16_t out_mult = (int16_t)p->out_mult16, reluish_mult = (int16_t)p->reluish_mult16;
    for (int i = 0; i < n; ++i) {
        const int16_t x = (int16_t)(in[i] - p->in_zp);
        const int16_t hires = (int16_t)(x * (1 << 7));
        const int16_t preshift = srdhm16(hires, out_mult);
        int16_t reluish = hires;
        if (p->reluish_exp > 0)
            reluish = sat_shl16(reluish, p->reluish_exp - 1);
        reluish = srdhm16(reluish, reluish_mult);
        if (p->reluish_exp > 0)
            reluish = sat_shl16(reluish, 1);
        if (p->reluish_exp < 0)
            reluish = rdpot16(reluish, -p->reluish_exp);
        reluish = (int16_t)((reluish + (1 << 15)) >> 1);
        const int16_t pre = sdhm16_truncating(reluish, preshift);
        int32_t y = rdpot16(pre, -p->out_exp) + p->out_zp;
        out[i] = (int8_t)pexcp_clamp_s32(y, -128, 127);
    }
}
