/* ConvTranspose (1-D and 2-D, groups, strides, dilations, pads, output padding), computed per output pixel
 * by gathering the input pixels whose kernel taps land on it: out[oc][oh][ow] = bias[oc] + sum over input
 * channels ic of oc's group, taps kh, kw with ih * stride_h = oh + pad_t - kh * dil_h (likewise for w) of
 * in[ic][ih][iw] * w[ic][oc % out_per_group][kh][kw]. Channel ranges and modes as pexcp_conv. */
#include "pexcp_runtime.h"

void pexcp_conv_transpose(const pexcp_conv_transpose_params *p, const float *in, float *out, const float *w,
                          const float *bias, int oc0, int oc1, int ic0, int ic1, int mode)
{
    const int in_per_group = p->in_c / p->group, out_per_group = p->out_c / p->group;
    const long in_plane = (long)p->in_h * p->in_w, k_plane = (long)p->k_h * p->k_w;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int g = oc / out_per_group;
        const int lo = ic0 > g * in_per_group ? ic0 : g * in_per_group;
        const int hi = ic1 < (g + 1) * in_per_group ? ic1 : (g + 1) * in_per_group;
        float *y = out + (long)(oc - oc0) * p->out_h * p->out_w;
        for (int oh = 0; oh < p->out_h; ++oh)
            for (int ow = 0; ow < p->out_w; ++ow) {
                float s = (mode & PEXCP_INIT) ? (bias ? bias[oc] : 0.0f) : y[(long)oh * p->out_w + ow];
                for (int ic = lo; ic < hi; ++ic) {
                    const float *x = in + (long)(ic - ic0) * in_plane;
                    const float *k = w + ((long)ic * out_per_group + oc % out_per_group) * k_plane;
                    for (int kh = 0; kh < p->k_h; ++kh) {
                        const int th = oh + p->pad_t - kh * p->dil_h;
                        if (th < 0 || th % p->stride_h || th / p->stride_h >= p->in_h)
                            continue;
                        for (int kw = 0; kw < p->k_w; ++kw) {
                            const int tw = ow + p->pad_l - kw * p->dil_w;
                            if (tw < 0 || tw % p->stride_w || tw / p->stride_w >= p->in_w)
                                continue;
                            s += x[(long)(th / p->stride_h) * p->in_w + tw / p->stride_w] * k[(long)kh * p->k_w + kw];
                        }
                    }
                }
                y[(long)oh * p->out_w + ow] = (mode & PEXCP_ACT) ? pexcp_clamp(s, p->act_min, p->act_max) : s;
            }
    }
}
