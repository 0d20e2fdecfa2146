/* TRANSPOSE_CONV int8: TFLite Micro scatters (x + in_offset) * w into an int32 buffer, adds the bias and
 * requantizes per output channel; gathering the same products per output pixel gives the same exact sums. */
#include "pexcp_s8.h"

void pexcp_conv_transpose_s8(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                             const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int oc0, int oc1, int ic0, int ic1, int mode)
{
    const int in_per_group = p->in_c / p->group, out_per_group = p->out_c / p->group;
    const long in_hw = p->in_cs, out_hw = p->out_cs, taps = (long)p->k_h * p->k_w;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int g = oc / out_per_group;
        const int lo = ic0 > g * in_per_group ? ic0 : g * in_per_group;
        const int hi = ic1 < (g + 1) * in_per_group ? ic1 : (g + 1) * in_per_group;
        int8_t *o = out + (long)(oc - oc0) * out_hw;
        int32_t *a = acc ? acc + (long)(oc - oc0) * out_hw : 0;
        for (int oy = 0; oy < p->out_h; ++oy)
            for (int ox = 0; ox < p->out_w; ++ox) {
                const long px = (long)oy * p->out_w + ox;
                int32_t s = (mode & PEXCP_INIT) ? (bias ? bias[oc] : 0) : a[px];
                for (int ic = lo; ic < hi; ++ic) {
                    const int8_t *x = in + (long)(ic - ic0) * in_hw;
                    const int8_t *k = w + ((long)ic * out_per_group + oc % out_per_group) * taps;
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int ty = oy + p->pad_t - ky * p->dil_h;
                        if (ty < 0 || ty % p->stride_h || ty / p->stride_h >= p->in_h)
                            continue;
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int tx = ox + p->pad_l - kx * p->dil_w;
                            if (tx < 0 || tx % p->stride_w || tx / p->stride_w >= p->in_w)
                                continue;
                            s += ((int32_t)x[(long)(ty / p->stride_h) * p->in_w + tx / p->stride_w] + p->in_offset) *
                                 (int32_t)k[(long)ky * p->k_w + kx];
                        }
                    }
                }
                if (mode & PEXCP_ACT)
                    o[px] = (int8_t)pexcp_clamp_s32(pexcp_mbqm(s, mult[oc], shift[oc]) + p->out_offset, p->act_min,
                                                    p->act_max);
                else
                    a[px] = s;
            }
    }
}
