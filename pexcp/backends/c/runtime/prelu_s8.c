/* PRELU on int8 (TFLite Micro's reference BroadcastPrelu4DSlow): two requantizations, one per sign. */
#include "pexcp_s8.h"

void pexcp_prelu_s8(const pexcp_prelu_s8_params *p, const int8_t *in, const int8_t *alpha, int8_t *out, int c0, int c1)
{
    const int *d = p->shape.dims, *sa = p->shape.a_strides, *sb = p->shape.b_strides;
    for (int n = 0; n < d[0]; ++n)
        for (int c = c0; c < c1; ++c)
            for (int h = 0; h < d[2]; ++h) {
                const int8_t *x = in + (long)n * sa[0] + (long)(c - c0) * sa[1] + (long)h * sa[2];
                const int8_t *k = alpha + (long)n * sb[0] + (long)(c - c0) * sb[1] + (long)h * sb[2];
                for (int w = 0; w < d[3]; ++w) {
                    const int32_t v = p->in_offset + x[(long)w * sa[3]];
                    int32_t y;
                    if (v >= 0)
                        y = pexcp_mbqm(v, p->mult_pos, p->shift_pos);
                    else
                        y = pexcp_mbqm(v * (p->alpha_offset + k[(long)w * sb[3]]), p->mult_neg, p->shift_neg);
                    *out++ = (int8_t)pexcp_clamp_s32(y + p->out_offset, -128, 127);
                }
            }
}
