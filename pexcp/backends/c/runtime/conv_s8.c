/* Conv int8: full, grouped and depthwise (with channel multiplier), per-output-channel requantization.
 * Matches TFLite Micro's reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel: the sum of
 * w * (x + in_offset) over in-image taps, plus the bias, then MultiplyByQuantizedMultiplier, + out_offset,
 * clamp. Integer sums are exact, so any summation order gives the same bits. */
#include "pexcp_s8.h"

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* kernel taps t in [first_tap, end_tap) read rows start + t * dil inside [0, size) */
static int first_tap(int start, int dil) { return start >= 0 ? 0 : (-start + dil - 1) / dil; }
static int end_tap(int start, int dil, int taps, int size)
{
    return size <= start ? 0 : min_int(taps, (size - start + dil - 1) / dil);
}

/* a finished or partial sum goes to the int8 output (PEXCP_ACT) or to the accumulator */
static void finish(const pexcp_conv_s8_params *p, int32_t s, int8_t *o, int32_t *a, int32_t m, int32_t sh, int mode)
{
    if (mode & PEXCP_ACT)
        *o = (int8_t)pexcp_clamp_s32(pexcp_mbqm(s, m, sh) + p->out_offset, p->act_min, p->act_max);
    else
        *a = s;
}

void pexcp_conv_s8(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc, const int8_t *w,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0, int oc1, int ic0,
                   int ic1, int mode, void *scratch)
{
    (void)scratch;
    const long in_hw = (long)p->in_h * p->in_w, out_hw = (long)p->out_h * p->out_w;
    const int cin_g = p->in_c / p->group, cout_g = p->out_c / p->group;
    const int taps = p->k_h * p->k_w;
    const int32_t off = p->in_offset;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int g = oc / cout_g;
        const int c_lo = max_int(ic0, g * cin_g), c_hi = min_int(ic1, (g + 1) * cin_g);
        const int8_t *w_oc = w + ((long)oc * cin_g - (long)g * cin_g) * taps; /* + c * taps: input channel c */
        const int32_t b = bias ? bias[oc] : 0;
        int8_t *o = out + (long)(oc - oc0) * out_hw;
        int32_t *a = acc ? acc + (long)(oc - oc0) * out_hw : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const int ky_lo = first_tap(iy0, p->dil_h), ky_hi = end_tap(iy0, p->dil_h, p->k_h, p->in_h);
            for (int ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_l;
                const int kx_lo = first_tap(ix0, p->dil_w), kx_hi = end_tap(ix0, p->dil_w, p->k_w, p->in_w);
                const long px = (long)oy * p->out_w + ox;
                int32_t s = (mode & PEXCP_INIT) ? b : a[px];
                for (int c = c_lo; c < c_hi; ++c) {
                    const int8_t *x_c = in + (long)(c - ic0) * in_hw;
                    const int8_t *w_c = w_oc + (long)c * taps;
                    for (int ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *x_row = x_c + (long)(iy0 + ky * p->dil_h) * p->in_w + ix0;
                        const int8_t *w_row = w_c + ky * p->k_w;
                        for (int kx = kx_lo; kx < kx_hi; ++kx)
                            s += (int32_t)w_row[kx] * ((int32_t)x_row[kx * p->dil_w] + off);
                    }
                }
                finish(p, s, o + px, a ? a + px : 0, mult[oc], shift[oc], mode);
            }
        }
    }
}
