/* Mean int8 (TFLite Micro's MEAN: reference_ops::QuantizedMeanOrSum): the sum minus zp_in * N, times a
 * multiplier that already contains 1 / N (quant.mean_quant), + zp_out, clamped to int8. */
#include "pexcp_s8.h"

void pexcp_mean_s8(const pexcp_mean_s8_params *p, const int8_t *in, int8_t *out)
{
    const int32_t zp_sum = p->in_zp * p->reduce;
    for (int o = 0; o < p->outer; ++o) {
        const int8_t *x = in + (long)o * p->reduce * p->inner;
        for (int i = 0; i < p->inner; ++i) {
            int32_t sum = 0;
            for (int r = 0; r < p->reduce; ++r)
                sum += x[(long)r * p->inner + i];
            const int32_t y = pexcp_mbqm(sum - zp_sum, p->mult, p->shift) + p->out_zp;
            *out++ = (int8_t)pexcp_clamp_s32(y, -128, 127);
        }
    }
}
