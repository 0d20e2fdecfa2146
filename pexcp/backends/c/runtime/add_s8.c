/* Add int8, same shapes: TFLite Micro's reference_integer_ops::AddFunc. Both inputs are moved to a common
 * scale with 20 bits of headroom (left_shift), added, and requantized to the output scale. */
#include "pexcp_s8.h"

void pexcp_add_s8(const pexcp_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        const int32_t x1 = pexcp_shl_wrap(p->in1_offset + a[i], p->left_shift);
        const int32_t x2 = pexcp_shl_wrap(p->in2_offset + b[i], p->left_shift);
        const int32_t s1 = pexcp_rdpot(pexcp_srdhm(x1, p->in1_mult), -p->in1_shift);
        const int32_t s2 = pexcp_rdpot(pexcp_srdhm(x2, p->in2_mult), -p->in2_shift);
        const int32_t y = pexcp_rdpot(pexcp_srdhm(s1 + s2, p->out_mult), -p->out_shift) + p->out_offset;
        out[i] = (int8_t)pexcp_clamp_s32(y, p->act_min, p->act_max);
    }
}
