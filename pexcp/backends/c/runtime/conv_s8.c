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
        *o = (int8_t)pexcp_clamp_s32(pexcp_requant(s, m, sh) + p->out_offset, p->act_min, p->act_max);
    else
        *a = s;
}

/* 1x1, stride 1, no padding: every tap is inside, so sum w * (x + off) = sum w * x + off * sum w */
static void pointwise(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0, int oc1, int ic0,
                      int ic1, int mode)
{
    const long hw = (long)p->out_h * p->out_w;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int8_t *w_oc = w + (long)oc * p->in_c;
        int32_t w_sum = 0;
        for (int c = ic0; c < ic1; ++c)
            w_sum += w_oc[c];
        const int32_t b = (bias ? bias[oc] : 0) + p->in_offset * w_sum;
        int8_t *o = out + (long)(oc - oc0) * hw;
        int32_t *a = acc ? acc + (long)(oc - oc0) * hw : 0;
        for (long px = 0; px < hw; ++px) {
            int32_t s = (mode & PEXCP_INIT) ? b : a[px] + p->in_offset * w_sum;
            const int8_t *x = in + px;
            for (int c = ic0; c < ic1; ++c, x += hw)
                s += w_oc[c] * *x;
            finish(p, s, o + px, a ? a + px : 0, mult[oc], shift[oc], mode);
        }
    }
}

#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
#include "pexcp_s8_dsp.h"

/* the start value of a sum: the bias (PEXCP_INIT) or the accumulator */
static int32_t start(const int32_t *bias, const int32_t *acc, int oc, int oc0, long out_hw, long px, int mode)
{
    if (mode & PEXCP_INIT)
        return bias ? bias[oc] : 0;
    return acc[(long)(oc - oc0) * out_hw + px];
}

/* im2col of output pixel px for input channels [c_lo, c_hi): x + in_offset, 0 for taps outside the input,
 * in slot order */
static void im2col(const pexcp_conv_s8_params *p, const int8_t *in, int ic0, int c_lo, int c_hi, long px,
                   int16_t *col)
{
    const long in_hw = (long)p->in_h * p->in_w;
    const int16_t off = (int16_t)p->in_offset;
    int k = 0;
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
        p->in_w == p->out_w) {
        const int8_t *x = in + (long)(c_lo - ic0) * in_hw + px;
        for (int c = c_lo; c < c_hi; ++c, ++k, x += in_hw)
            col[PEXCP_S8_SLOT(k)] = (int16_t)(*x + off);
        return;
    }
    const int oy = (int)(px / p->out_w), ox = (int)(px % p->out_w);
    const int iy0 = oy * p->stride_h - p->pad_t, ix0 = ox * p->stride_w - p->pad_l;
    for (int c = c_lo; c < c_hi; ++c) {
        const int8_t *plane = in + (long)(c - ic0) * in_hw;
        for (int ky = 0; ky < p->k_h; ++ky) {
            const int iy = iy0 + ky * p->dil_h;
            const int row_in = iy >= 0 && iy < p->in_h;
            const int8_t *row = plane + (long)iy * p->in_w;
            for (int kx = 0; kx < p->k_w; ++kx, ++k) {
                const int ix = ix0 + kx * p->dil_w;
                col[PEXCP_S8_SLOT(k)] = (int16_t)(row_in && ix >= 0 && ix < p->in_w ? row[ix] + off : 0);
            }
        }
    }
}

/* full and grouped conv: two im2col columns (two output pixels) against two weight rows at a time */
static void conv_im2col_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                            const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                            int oc1, int ic0, int ic1, int mode, int16_t *col0)
{
    const long out_hw = (long)p->out_h * p->out_w;
    const int cin_g = p->in_c / p->group, cout_g = p->out_c / p->group;
    const int taps = p->k_h * p->k_w;
    int16_t *col1 = col0 + pexcp_col_len(cin_g * taps);
    for (int g = oc0 / cout_g; g * cout_g < oc1; ++g) {
        const int g_lo = max_int(oc0, g * cout_g), g_hi = min_int(oc1, (g + 1) * cout_g);
        const int c_lo = max_int(ic0, g * cin_g), c_hi = max_int(c_lo, min_int(ic1, (g + 1) * cin_g));
        const int k = (c_hi - c_lo) * taps;
        for (long px = 0; px < out_hw; px += 2) {
            const int two = px + 1 < out_hw;
            im2col(p, in, ic0, c_lo, c_hi, px, col0);
            if (two)
                im2col(p, in, ic0, c_lo, c_hi, px + 1, col1);
            for (int oc = g_lo; oc < g_hi; oc += 2) {
                const int pair = oc + 1 < g_hi;
                const int8_t *w0 = w + ((long)oc * cin_g - (long)g * cin_g + c_lo) * taps;
                const int8_t *w1 = pair ? w0 + (long)cin_g * taps : w0;
                int32_t s[4];
                s[0] = start(bias, acc, oc, oc0, out_hw, px, mode);
                s[1] = two ? start(bias, acc, oc, oc0, out_hw, px + 1, mode) : 0;
                s[2] = pair ? start(bias, acc, oc + 1, oc0, out_hw, px, mode) : 0;
                s[3] = pair && two ? start(bias, acc, oc + 1, oc0, out_hw, px + 1, mode) : 0;
                pexcp_dot2x2(w0, w1, col0, two ? col1 : col0, k, s);
                for (int i = 0; i < 4; ++i) {
                    if ((i & 2 && !pair) || (i & 1 && !two))
                        continue;
                    const int o = oc + (i >> 1);
                    const long at = (long)(o - oc0) * out_hw + px + (i & 1);
                    finish(p, s[i], out + at, acc ? acc + at : 0, mult[o], shift[o], mode);
                }
            }
        }
    }
}

/* per-channel requantization constants of the folded pexcp_mbqm_neg (when it applies) */
typedef struct {
    int32_t m, shift, out_offset, act_min, act_max, folded;
    int64_t round;
} requant_consts;

static requant_consts requant_setup(const pexcp_conv_s8_params *p, int32_t m, int32_t shift)
{
    requant_consts q = {m, shift, p->out_offset, p->act_min, p->act_max, shift < 0 && m >= 0, 0};
    if (q.folded)
        q.round = pexcp_mbqm_round(shift);
    return q;
}

static inline int8_t requant_store(const requant_consts *q, int32_t s)
{
    const int32_t y = q->folded ? pexcp_mbqm_neg(s, q->m, q->round, q->shift) : pexcp_mbqm(s, q->m, q->shift);
    return (int8_t)pexcp_clamp_s32(y + q->out_offset, q->act_min, q->act_max);
}

/* one output row of a 3x3 (two weight pairs per row) depthwise window with all three rows inside */
__attribute__((noinline)) static void dw_row_3x3(const int16_t *r0, const int16_t *r1, const int16_t *r2, const int32_t *w, int stride, int n,
                       int32_t bias, const requant_consts *q, int8_t *o, int32_t *a, int mode)
{
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
    if (mode == PEXCP_STORE && q->folded) { /* the common case, with the constants in registers */
        const int32_t m = q->m, right = -q->shift - 1, offset = q->out_offset, lo = q->act_min, hi = q->act_max;
        const int64_t round = q->round;
        for (int ox = 0, x = 0; ox < n; ++ox, x += stride) {
            int32_t s = __smlad(pexcp_load32(r0 + x), w0, bias);
            s = __smlad(pexcp_load32(r0 + x + 2), w1, s);
            s = __smlad(pexcp_load32(r1 + x), w2, s);
            s = __smlad(pexcp_load32(r1 + x + 2), w3, s);
            s = __smlad(pexcp_load32(r2 + x), w4, s);
            s = __smlad(pexcp_load32(r2 + x + 2), w5, s);
            const int64_t sum = (int64_t)s * m + round - (s < 0 ? ((int64_t)1 << 31) : 0);
            o[ox] = (int8_t)pexcp_clamp_s32(((int32_t)(sum >> 32) >> right) + offset, lo, hi);
        }
        return;
    }
    for (int ox = 0; ox < n; ++ox, r0 += stride, r1 += stride, r2 += stride) {
        int32_t s = (mode & PEXCP_INIT) ? bias : a[ox];
        s = __smlad(pexcp_load32(r0), w0, s);
        s = __smlad(pexcp_load32(r0 + 2), w1, s);
        s = __smlad(pexcp_load32(r1), w2, s);
        s = __smlad(pexcp_load32(r1 + 2), w3, s);
        s = __smlad(pexcp_load32(r2), w4, s);
        s = __smlad(pexcp_load32(r2 + 2), w5, s);
        if (mode & PEXCP_ACT)
            o[ox] = requant_store(q, s);
        else
            a[ox] = s;
    }
}

/* one output row of any depthwise window: rows[r] (r < nr) meet weight pairs w[r * pairs + j] */
__attribute__((noinline)) static void dw_row(const int16_t *const *rows, int nr, const int32_t *w, int pairs, int stride, int n, int32_t bias,
                   const requant_consts *q, int8_t *o, int32_t *a, int mode)
{
    for (int ox = 0; ox < n; ++ox) {
        int32_t s = (mode & PEXCP_INIT) ? bias : a[ox];
        const int32_t *wr = w;
        for (int r = 0; r < nr; ++r) {
            const int16_t *x = rows[r] + ox * stride;
            for (int j = 0; j < pairs; ++j)
                s = __smlad(pexcp_load32(x + 2 * j), *wr++, s);
        }
        if (mode & PEXCP_ACT)
            o[ox] = requant_store(q, s);
        else
            a[ox] = s;
    }
}

/* depthwise (one input channel per group), no dilation: the k_h input rows of a window sit in a ring of
 * int16 lines (x + in_offset, zeros for the padding columns), the weights of a channel in halfword pairs */
static void depthwise_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                          const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                          int oc1, int ic0, int mode, int32_t *wq)
{
    const int mult_c = p->out_c / p->in_c, taps = p->k_h * p->k_w, pairs = (p->k_w + 1) / 2;
    const int width = (p->out_w - 1) * p->stride_w + 2 * pairs; /* line length */
    const long in_hw = (long)p->in_h * p->in_w, out_hw = (long)p->out_h * p->out_w;
    const int16_t off = (int16_t)p->in_offset;
    int16_t *lines = (int16_t *)(wq + p->k_h * pairs);
    int line_row[PEXCP_S8_DW_MAX_KH];
    const int16_t *rows[PEXCP_S8_DW_MAX_KH];
    int cur_c = -1;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int c = oc / mult_c;
        const int8_t *plane = in + (long)(c - ic0) * in_hw;
        const int8_t *wk = w + (long)oc * taps;
        for (int ky = 0; ky < p->k_h; ++ky)
            for (int j = 0; j < pairs; ++j) {
                const int kx = 2 * j;
                const int32_t lo = wk[ky * p->k_w + kx], hi = kx + 1 < p->k_w ? wk[ky * p->k_w + kx + 1] : 0;
                wq[ky * pairs + j] = (int32_t)(((uint32_t)hi << 16) | (uint16_t)lo);
            }
        if (c != cur_c) {
            for (int i = 0; i < p->k_h; ++i)
                line_row[i] = -1;
            cur_c = c;
        }
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const int ky_lo = max_int(0, -iy0), ky_hi = min_int(p->k_h, p->in_h - iy0);
            for (int ky = ky_lo; ky < ky_hi; ++ky) {
                const int iy = iy0 + ky, slot = iy % p->k_h;
                int16_t *line = lines + (long)slot * width;
                rows[ky - ky_lo] = line;
                if (line_row[slot] == iy)
                    continue;
                const int8_t *row = plane + (long)iy * p->in_w;
                int j = 0;
                for (; j < p->pad_l && j < width; ++j)
                    line[j] = 0;
                for (; j < width && j - p->pad_l < p->in_w; ++j)
                    line[j] = (int16_t)(row[j - p->pad_l] + off);
                for (; j < width; ++j)
                    line[j] = 0;
                line_row[slot] = iy;
            }
            const long at = (long)(oc - oc0) * out_hw + (long)oy * p->out_w;
            int32_t *a = acc ? acc + at : 0;
            if (pairs == 2 && ky_hi - ky_lo == 3)
                dw_row_3x3(rows[0], rows[1], rows[2], wq + ky_lo * pairs, p->stride_w, p->out_w, b, &q, out + at, a,
                           mode);
            else
                dw_row(rows, ky_hi - ky_lo, wq + ky_lo * pairs, pairs, p->stride_w, p->out_w, b, &q, out + at, a,
                       mode);
        }
    }
}

/* returns 0 when the portable loops must run (no scratch, or a shape the fast paths do not take) */
static int conv_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc, const int8_t *w,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0, int oc1, int ic0,
                    int ic1, int mode, void *scratch)
{
    if (!scratch)
        return 0;
    if (p->group == p->in_c && p->group > 1) {
        const int mult_c = p->out_c / p->in_c;
        if (p->dil_w != 1 || p->dil_h != 1 || p->k_h > PEXCP_S8_DW_MAX_KH || oc0 / mult_c < ic0 ||
            (oc1 - 1) / mult_c >= ic1)
            return 0;
        depthwise_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, mode, (int32_t *)scratch);
        return 1;
    }
    conv_im2col_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, (int16_t *)scratch);
    return 1;
}
#endif

void pexcp_conv_s8(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc, const int8_t *w,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0, int oc1, int ic0,
                   int ic1, int mode, void *scratch)
{
#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
    if (conv_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, scratch))
        return;
#else
    (void)scratch;
#endif
    const long in_hw = (long)p->in_h * p->in_w, out_hw = (long)p->out_h * p->out_w;
    const int cin_g = p->in_c / p->group, cout_g = p->out_c / p->group;
    const int taps = p->k_h * p->k_w;
    const int32_t off = p->in_offset;
    if (taps == 1 && p->group == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
        p->in_h == p->out_h && p->in_w == p->out_w) {
        pointwise(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode);
        return;
    }
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
