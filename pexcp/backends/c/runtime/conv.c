/* Conv: 2-D convolution (1-D convs arrive as in_h = 1), groups and depthwise included.
 * Reference loops; 1x1 stride-1 convs (most of the work in MobileNets) get a blocked loop. */
#include "pexcp_runtime.h"

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* kernel taps t in [first_tap, end_tap) read rows start + t * dil inside [0, size) */
static int first_tap(int start, int dil) { return start >= 0 ? 0 : (-start + dil - 1) / dil; }
static int end_tap(int start, int dil, int taps, int size)
{
    return size <= start ? 0 : min_int(taps, (size - start + dil - 1) / dil);
}

/* four adjacent sums to the output, clamped by the fused activation once they are complete */
static void store4(const pexcp_conv_params *p, float *o, float s0, float s1, float s2, float s3, int mode)
{
    if (mode & PEXCP_ACT) {
        s0 = pexcp_clamp(s0, p->act_min, p->act_max);
        s1 = pexcp_clamp(s1, p->act_min, p->act_max);
        s2 = pexcp_clamp(s2, p->act_min, p->act_max);
        s3 = pexcp_clamp(s3, p->act_min, p->act_max);
    }
    o[0] = s0, o[1] = s1, o[2] = s2, o[3] = s3;
}

/* 1x1, stride 1, no padding, one group, input and output of one size: out[oc] = sum over ic of w[oc][ic] *
 * in[ic], four pixels at a time. Kept out of line: inlined into pexcp_conv, it crowds the registers of the
 * general loops. */
static __attribute__((noinline)) void conv_pointwise(const pexcp_conv_params *p, const float *in, float *out,
                                                     const float *w, const float *bias, int oc0, int oc1, int ic0,
                                                     int ic1, int mode)
{
    const int hw = p->out_h * p->out_w;
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    for (int oc = oc0; oc < oc1; ++oc) {
        const float *wr = w + (long)oc * p->in_c;
        const float b = bias ? bias[oc] : 0.0f;
        float *o = out + (long)(oc - oc0) * out_cs;
        int px = 0;
        for (; px + 4 <= hw; px += 4) {
            float s0 = b, s1 = b, s2 = b, s3 = b;
            if (!(mode & PEXCP_INIT)) {
                s0 = o[px], s1 = o[px + 1], s2 = o[px + 2], s3 = o[px + 3];
            }
            const float *ip = in + px;
            for (int ic = ic0; ic < ic1; ++ic, ip += in_cs) {
                const float wv = wr[ic];
                s0 += wv * ip[0];
                s1 += wv * ip[1];
                s2 += wv * ip[2];
                s3 += wv * ip[3];
            }
            store4(p, o + px, s0, s1, s2, s3, mode);
        }
        for (; px < hw; ++px) {
            float s = (mode & PEXCP_INIT) ? b : o[px];
            const float *ip = in + px;
            for (int ic = ic0; ic < ic1; ++ic, ip += in_cs)
                s += wr[ic] * ip[0];
            o[px] = (mode & PEXCP_ACT) ? pexcp_clamp(s, p->act_min, p->act_max) : s;
        }
    }
}

/* one output pixel at column ox of a row whose kernel rows [ky_lo, ky_hi) are inside the input (row iy0 is
 * the window's top); columns outside the input are skipped */
static float conv_pixel(const pexcp_conv_params *p, const float *in, const float *w_oc, float s, int c_lo, int c_hi,
                        int ic0, int iy0, int ky_lo, int ky_hi, int ox)
{
    const int ix0 = ox * p->stride_w - p->pad_l;
    const int kx_lo = first_tap(ix0, p->dil_w), kx_hi = end_tap(ix0, p->dil_w, p->k_w, p->in_w);
    for (int c = c_lo; c < c_hi; ++c) {
        const float *wc = w_oc + (long)c * p->k_h * p->k_w + kx_lo;
        const float *ic = in + (long)(c - ic0) * p->in_cs + ix0 + kx_lo * p->dil_w;
        for (int ky = ky_lo; ky < ky_hi; ++ky) {
            const float *row = ic + (iy0 + ky * p->dil_h) * p->in_w;
            const float *wk = wc + ky * p->k_w;
            for (int kx = 0; kx < kx_hi - kx_lo; ++kx)
                s += row[kx * p->dil_w] * wk[kx];
        }
    }
    return s;
}

void pexcp_conv(const pexcp_conv_params *p, const float *in, float *out, const float *w, const float *bias,
                int oc0, int oc1, int ic0, int ic1, int mode)
{
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
        p->group == 1 && p->in_h == p->out_h && p->in_w == p->out_w) {
        conv_pointwise(p, in, out, w, bias, oc0, oc1, ic0, ic1, mode);
        return;
    }
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    const int cin_g = p->in_c / p->group, cout_g = p->out_c / p->group;
    const int taps = p->k_h * p->k_w, sw = p->stride_w, dw = p->dil_w;
    /* columns [ox_in, ox_end) see every kernel column inside the input: there, four pixels share each
     * weight load and the loop overhead */
    const int ox_in = min_int(p->out_w, (p->pad_l + sw - 1) / sw);
    const int reach = p->in_w + p->pad_l - (p->k_w - 1) * dw; /* ox * sw must stay below this */
    const int ox_end = max_int(ox_in, min_int(p->out_w, reach <= 0 ? 0 : (reach - 1) / sw + 1));
    for (int oc = oc0; oc < oc1; ++oc) {
        const int g = oc / cout_g;
        const int c_lo = max_int(ic0, g * cin_g), c_hi = min_int(ic1, (g + 1) * cin_g);
        const float *w_oc = w + ((long)oc * cin_g - (long)g * cin_g) * taps; /* minus the group's first channel */
        const float b = bias ? bias[oc] : 0.0f;
        float *o = out + (long)(oc - oc0) * out_cs;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const int ky_lo = first_tap(iy0, p->dil_h), ky_hi = end_tap(iy0, p->dil_h, p->k_h, p->in_h);
            float *o_row = o + oy * p->out_w;
            int ox = 0;
            while (ox < p->out_w) {
                if (ox >= ox_in && ox + 4 <= ox_end) {
                    float s0 = b, s1 = b, s2 = b, s3 = b;
                    if (!(mode & PEXCP_INIT))
                        s0 = o_row[ox], s1 = o_row[ox + 1], s2 = o_row[ox + 2], s3 = o_row[ox + 3];
                    for (int c = c_lo; c < c_hi; ++c) {
                        const float *ic = in + (long)(c - ic0) * in_cs + ox * sw - p->pad_l;
                        const float *wc = w_oc + (long)c * taps;
                        for (int ky = ky_lo; ky < ky_hi; ++ky) {
                            const float *x = ic + (iy0 + ky * p->dil_h) * p->in_w;
                            const float *wk = wc + ky * p->k_w;
                            for (int kx = 0; kx < p->k_w; ++kx, x += dw) {
                                const float wv = wk[kx];
                                s0 += wv * x[0];
                                s1 += wv * x[sw];
                                s2 += wv * x[2 * sw];
                                s3 += wv * x[3 * sw];
                            }
                        }
                    }
                    store4(p, o_row + ox, s0, s1, s2, s3, mode);
                    ox += 4;
                } else {
                    const float start = (mode & PEXCP_INIT) ? b : o_row[ox];
                    const float s = conv_pixel(p, in, w_oc, start, c_lo, c_hi, ic0, iy0, ky_lo, ky_hi, ox);
                    o_row[ox] = (mode & PEXCP_ACT) ? pexcp_clamp(s, p->act_min, p->act_max) : s;
                    ox += 1;
                }
            }
        }
    }
}

/* Output element (oc, px) lands on input element (oc, px): pixel px's inputs are all read (into the sums)
 * before its outputs leave `tmp`, and no other pixel's input is touched. Same sums, in the same order, as
 * conv_pointwise. */
void pexcp_conv_pointwise_in_place(const pexcp_conv_params *p, float *io, const float *w, const float *bias,
                                   float *tmp)
{
    const long hw = (long)p->out_h * p->out_w, in_cs = p->in_cs, out_cs = p->out_cs;
    for (long px = 0; px < hw; ++px) {
        for (int oc = 0; oc < p->out_c; ++oc) {
            const float *wr = w + (long)oc * p->in_c;
            const float *x = io + px;
            float s = bias ? bias[oc] : 0.0f;
            for (int ic = 0; ic < p->in_c; ++ic, x += in_cs)
                s += wr[ic] * x[0];
            tmp[oc] = pexcp_clamp(s, p->act_min, p->act_max);
        }
        for (int oc = 0; oc < p->out_c; ++oc)
            io[oc * out_cs + px] = tmp[oc];
    }
}
