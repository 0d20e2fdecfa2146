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
 * as column j of an interleaved pair */
static void im2col(const pexcp_conv_s8_params *p, const int8_t *in, int ic0, int c_lo, int c_hi, long px,
                   int16_t *cols, int j)
{
    const long in_hw = (long)p->in_h * p->in_w;
    const int16_t off = (int16_t)p->in_offset;
    int k = 0;
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
                cols[PEXCP_S8_POS2(k, j)] = (int16_t)(row_in && ix >= 0 && ix < p->in_w ? row[ix] + off : 0);
            }
        }
    }
}

/* per-channel requantization constants of the folded pexcp_mbqm_neg (when it applies) */
typedef struct {
    int32_t m, shift, out_offset, act_min, act_max, folded;
    pexcp_mbqm_neg_consts c;
} requant_consts;

static requant_consts requant_setup(const pexcp_conv_s8_params *p, int32_t m, int32_t shift)
{
    requant_consts q;
    q.m = m, q.shift = shift, q.out_offset = p->out_offset, q.act_min = p->act_min, q.act_max = p->act_max;
    q.folded = shift < 0 && m >= 0;
    if (q.folded)
        q.c = pexcp_mbqm_neg_setup(shift);
    return q;
}

static inline int8_t requant_store(const requant_consts *q, int32_t s)
{
    const int32_t y = q->folded ? pexcp_mbqm_neg(s, q->m, &q->c) : pexcp_mbqm(s, q->m, q->shift);
    return (int8_t)pexcp_clamp_s32(y + q->out_offset, q->act_min, q->act_max);
}

/* appends one reduction element of both columns at group g, position q (slot order), advancing them */
static inline void put2(int16_t **g, int *q, int16_t v0, int16_t v1)
{
    static const uint8_t slot[4] = {0, 2, 1, 3};
    (*g)[slot[*q]] = v0;
    (*g)[4 + slot[*q]] = v1;
    if (++*q == 4) {
        *q = 0;
        *g += 8;
    }
}

/* im2col of output pixels px0 and px1 as the two interleaved columns; pixels of one row whose windows are
 * inside the input (and 1x1 stride-1 convs) are gathered together without bounds checks */
static void im2col_pair(const pexcp_conv_s8_params *p, const int8_t *in, int ic0, int c_lo, int c_hi, long px0,
                        long px1, int16_t *cols)
{
    const long in_hw = (long)p->in_h * p->in_w;
    const int16_t off = (int16_t)p->in_offset;
    int16_t *g = cols;
    int q = 0;
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
        p->in_w == p->out_w) {
        const int8_t *x = in + (long)(c_lo - ic0) * in_hw;
        for (int c = c_lo; c < c_hi; ++c, x += in_hw)
            put2(&g, &q, (int16_t)(x[px0] + off), (int16_t)(x[px1] + off));
        return;
    }
    const int oy = (int)(px0 / p->out_w), ox0 = (int)(px0 % p->out_w), ox1 = (int)(px1 % p->out_w);
    const int iy0 = oy * p->stride_h - p->pad_t, ix0 = ox0 * p->stride_w - p->pad_l;
    const int ix1 = ox1 * p->stride_w - p->pad_l;
    const int inside = px1 / p->out_w == oy && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h && ix0 >= 0 &&
                       ix1 >= 0 && ix0 + (p->k_w - 1) * p->dil_w < p->in_w && ix1 + (p->k_w - 1) * p->dil_w < p->in_w;
    if (!inside) {
        im2col(p, in, ic0, c_lo, c_hi, px0, cols, 0);
        im2col(p, in, ic0, c_lo, c_hi, px1, cols, 1);
        return;
    }
    const int d = ix1 - ix0;
    for (int c = c_lo; c < c_hi; ++c) {
        const int8_t *row = in + (long)(c - ic0) * in_hw + (long)iy0 * p->in_w + ix0;
        for (int ky = 0; ky < p->k_h; ++ky, row += (long)p->dil_h * p->in_w)
            for (int kx = 0; kx < p->k_w; ++kx) {
                const int8_t *x = row + kx * p->dil_w;
                put2(&g, &q, (int16_t)(x[0] + off), (int16_t)(x[d] + off));
            }
    }
}

/* accumulating calls (split tails): output channels [oc, oc + 2), [oc + 2, oc + 4), ... of [oc, g_hi) meet the
 * two im2col columns (pixels px, px + 1 when `two`) at once, from the bias (PEXCP_INIT) or the sums, into the
 * sums or (PEXCP_ACT) the output; returns the first channel left (at most one). Out of line: the STORE loop in
 * conv_im2col_dsp keeps its own code. */
__attribute__((noinline)) static int conv_pairs_acc(
    const pexcp_conv_s8_params *p, const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
    const int16_t *cols, int k, int8_t *out, int32_t *acc, int g_cin, int c_lo, int oc, int g_hi, int oc0, long px,
    int two, int mode)
{
    const long out_hw = (long)p->out_h * p->out_w;
    const int cin_g = p->in_c / p->group, taps = p->k_h * p->k_w;
    for (; oc + 2 <= g_hi; oc += 2) {
        const int8_t *w_row = w + ((long)oc * cin_g - g_cin + c_lo) * taps;
        const long at = (long)(oc - oc0) * out_hw + px;
        int32_t s[4];
        if (mode & PEXCP_INIT) {
            s[0] = s[1] = bias ? bias[oc] : 0;
            s[2] = s[3] = bias ? bias[oc + 1] : 0;
        } else {
            s[0] = acc[at], s[2] = acc[at + out_hw];
            s[1] = two ? acc[at + 1] : 0, s[3] = two ? acc[at + out_hw + 1] : 0;
        }
        pexcp_dot2x2(w_row, w_row + (long)cin_g * taps, cols, k, s);
        if (!(mode & PEXCP_ACT)) { /* partial sums */
            acc[at] = s[0], acc[at + out_hw] = s[2];
            if (two)
                acc[at + 1] = s[1], acc[at + out_hw + 1] = s[3];
            continue;
        }
        const requant_consts q0 = requant_setup(p, mult[oc], shift[oc]);
        const requant_consts q1 = requant_setup(p, mult[oc + 1], shift[oc + 1]);
        out[at] = requant_store(&q0, s[0]);
        out[at + out_hw] = requant_store(&q1, s[2]);
        if (two) {
            out[at + 1] = requant_store(&q0, s[1]);
            out[at + out_hw + 1] = requant_store(&q1, s[3]);
        }
    }
    return oc;
}

/* full and grouped conv: two output pixels' im2col columns (interleaved) against one weight row at a time */
static void conv_im2col_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                            const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                            int oc1, int ic0, int ic1, int mode, int16_t *cols)
{
    const long out_hw = (long)p->out_h * p->out_w;
    const int cin_g = p->in_c / p->group, cout_g = p->out_c / p->group;
    const int taps = p->k_h * p->k_w;
    for (int g = oc0 / cout_g; g * cout_g < oc1; ++g) {
        const int g_lo = max_int(oc0, g * cout_g), g_hi = min_int(oc1, (g + 1) * cout_g);
        const int c_lo = max_int(ic0, g * cin_g), c_hi = max_int(c_lo, min_int(ic1, (g + 1) * cin_g));
        const int k = (c_hi - c_lo) * taps;
        for (long px = 0; px < out_hw; px += 2) {
            const int two = px + 1 < out_hw;
            im2col_pair(p, in, ic0, c_lo, c_hi, px, two ? px + 1 : px, cols);
            int oc = g_lo;
            if (mode == PEXCP_STORE) /* the common case: two output channels at a time, no accumulator */
                for (; oc + 2 <= g_hi; oc += 2) {
                    const int8_t *w_row = w + ((long)oc * cin_g - (long)g * cin_g + c_lo) * taps;
                    const long at = (long)(oc - oc0) * out_hw + px;
                    int32_t s[4];
                    s[0] = s[1] = bias ? bias[oc] : 0;
                    s[2] = s[3] = bias ? bias[oc + 1] : 0;
                    pexcp_dot2x2(w_row, w_row + (long)cin_g * taps, cols, k, s);
                    const requant_consts q0 = requant_setup(p, mult[oc], shift[oc]);
                    const requant_consts q1 = requant_setup(p, mult[oc + 1], shift[oc + 1]);
                    out[at] = requant_store(&q0, s[0]);
                    out[at + out_hw] = requant_store(&q1, s[2]);
                    if (two) {
                        out[at + 1] = requant_store(&q0, s[1]);
                        out[at + out_hw + 1] = requant_store(&q1, s[3]);
                    }
                }
            else
                oc = conv_pairs_acc(p, w, bias, mult, shift, cols, k, out, acc, g * cin_g, c_lo, oc, g_hi, oc0, px, two,
                                    mode);
            for (; oc < g_hi; ++oc) {
                const int8_t *w_row = w + ((long)oc * cin_g - (long)g * cin_g + c_lo) * taps;
                const long at = (long)(oc - oc0) * out_hw + px;
                if (mode == PEXCP_STORE) {
                    int32_t s0 = bias ? bias[oc] : 0, s1 = s0;
                    pexcp_dot1x2(w_row, cols, k, &s0, &s1);
                    const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
                    out[at] = requant_store(&q, s0);
                    if (two)
                        out[at + 1] = requant_store(&q, s1);
                    continue;
                }
                int32_t s0 = start(bias, acc, oc, oc0, out_hw, px, mode);
                int32_t s1 = two ? start(bias, acc, oc, oc0, out_hw, px + 1, mode) : 0;
                pexcp_dot1x2(w_row, cols, k, &s0, &s1);
                finish(p, s0, out + at, acc ? acc + at : 0, mult[oc], shift[oc], mode);
                if (two)
                    finish(p, s1, out + at + 1, acc ? acc + at + 1 : 0, mult[oc], shift[oc], mode);
            }
        }
    }
}

/* a word store at any halfword address (STR takes unaligned addresses; STRD and STM would not) */
static inline void store32(int16_t *p, int32_t v)
{
    __asm__ volatile("str %1, [%0]" : : "r"(p), "r"(v) : "memory");
}

/* line j = x[j - pad_l] + offset for the columns inside the row (the padding columns stay 0 from the start);
 * four columns per word: SXTB16 splits (x0, x2) and (x1, x3), SADD16 adds the offset, PKHBT/PKHTB pair them */
static inline void fill_line(int16_t *line, const int8_t *row, int in_w, int pad_l, int width, int16_t offset)
{
    const int count = min_int(in_w, width - pad_l);
    int16_t *l = line + pad_l;
    const int32_t off2 = (int32_t)((uint32_t)(uint16_t)offset * 0x00010001u);
    int i = 0;
    for (; i + 4 <= count; i += 4) {
        const int32_t x = pexcp_load32(row + i);
        const int32_t even = __sadd16(__sxtb16(x), off2), odd = __sadd16(pexcp_sxtb16_ror8(x), off2);
        int32_t lo, hi;
        __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(lo) : "r"(even), "r"(odd));
        __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(hi) : "r"(odd), "r"(even));
        store32(l + i, lo);
        store32(l + i + 2, hi);
    }
    for (; i < count; ++i)
        l[i] = (int16_t)(row[i] + offset);
}

/* a[ox] += the 3x3 window sum of output pixel ox (input column ox * stride) over three lines, six weight
 * pairs; with `o`, the finished sums are requantized into o[ox] instead */
#define PEXCP_S8_WINDOW3X3(s, x)                                                                                \
    s = __smlad(pexcp_load32((x) + 0), w0, s);                                                                 \
    s = __smlad(pexcp_load32((x) + 2), w1, s);                                                                 \
    s = __smlad(pexcp_load32((x) + d1), w2, s);                                                                \
    s = __smlad(pexcp_load32((x) + d1 + 2), w3, s);                                                            \
    s = __smlad(pexcp_load32((x) + d2), w4, s);                                                                \
    s = __smlad(pexcp_load32((x) + d2 + 2), w5, s)

__attribute__((noinline)) static void rows3x3(const int16_t *lines, int d1, int d2, const int32_t *w, int stride,
                                              int n, int32_t *a, const requant_consts *q, int8_t *o)
{
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
    const int16_t *x = lines;
    if (!o) {
        for (int32_t *end = a + n; a < end; ++a, x += stride) {
            int32_t s = *a;
            PEXCP_S8_WINDOW3X3(s, x);
            *a = s;
        }
        return;
    }
    for (int ox = 0; ox < n; ++ox, x += stride) {
        int32_t s = a[ox];
        PEXCP_S8_WINDOW3X3(s, x);
        o[ox] = requant_store(q, s);
    }
}

/* a whole channel of a 3x3 depthwise conv in PEXCP_STORE mode with the folded requantization: the ring of
 * three lines, the weights and the requantization constants stay put across the channel's rows */
__attribute__((noinline)) static void dw_channel_3x3(const pexcp_conv_s8_params *p, const int8_t *plane,
                                                     const int32_t *w, int32_t bias, const requant_consts *q,
                                                     int8_t *o, int16_t *lines, const int16_t *zeros, int width)
{
    const int in_h = p->in_h, in_w = p->in_w, pad_l = p->pad_l, stride = p->stride_w, n = p->out_w;
    const int16_t offset = (int16_t)p->in_offset;
    int held[3] = {-1, -1, -1};
    for (int oy = 0; oy < p->out_h; ++oy, o += n) {
        const int iy0 = oy * p->stride_h - p->pad_t;
        const int16_t *r[3];
        for (int ky = 0; ky < 3; ++ky) {
            const int iy = iy0 + ky;
            if (iy < 0 || iy >= in_h) {
                r[ky] = zeros;
                continue;
            }
            const int slot = iy % 3;
            int16_t *line = lines + slot * width;
            if (held[slot] != iy) {
                fill_line(line, plane + (long)iy * in_w, in_w, pad_l, width, offset);
                held[slot] = iy;
            }
            r[ky] = line;
        }
        const int16_t *r0 = r[0], *r1 = r[1], *r2 = r[2];
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
        const int32_t m = q->m, out_offset = q->out_offset, lo = q->act_min, hi = q->act_max;
        const pexcp_mbqm_neg_consts c = q->c;
        for (int ox = 0, x = 0; ox < n; ++ox, x += stride) {
            int32_t s = __smlad(pexcp_load32(r0 + x), w0, bias);
            s = __smlad(pexcp_load32(r0 + x + 2), w1, s);
            s = __smlad(pexcp_load32(r1 + x), w2, s);
            s = __smlad(pexcp_load32(r1 + x + 2), w3, s);
            s = __smlad(pexcp_load32(r2 + x), w4, s);
            s = __smlad(pexcp_load32(r2 + x + 2), w5, s);
            o[ox] = (int8_t)pexcp_clamp_s32(pexcp_mbqm_neg(s, m, &c) + out_offset, lo, hi);
        }
    }
}

/* one output row of any depthwise window: rows[r] (r < nr) meet weight pairs w[r * pairs + j] */
__attribute__((noinline)) static void dw_row(const int16_t *const *rows, int nr, const int32_t *w, int pairs,
                                             int stride, int n, int32_t bias, const requant_consts *q, int8_t *o,
                                             int32_t *a, int mode)
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
 * int16 lines (x + in_offset, zeros for the padding columns; padding rows read a zero line), the weights of a
 * channel in halfword pairs */
static void depthwise_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                          const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                          int oc1, int ic0, int mode, int32_t *wq)
{
    const int mult_c = p->out_c / p->in_c, taps = p->k_h * p->k_w, pairs = (p->k_w + 1) / 2;
    const int width = (p->out_w - 1) * p->stride_w + 2 * pairs; /* line length */
    const long in_hw = (long)p->in_h * p->in_w, out_hw = (long)p->out_h * p->out_w;
    const int16_t off = (int16_t)p->in_offset;
    int16_t *lines = (int16_t *)(wq + p->k_h * pairs);
    int16_t *zeros = lines + (long)p->k_h * width;
    for (long j = 0; j < (long)(p->k_h + 1) * width; ++j) /* padding columns of the lines, and the zero line */
        lines[j] = 0;
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
        if (mode == PEXCP_STORE && q.folded && p->k_h == 3 && pairs == 2) {
            dw_channel_3x3(p, plane, wq, b, &q, out + (long)(oc - oc0) * out_hw, lines, zeros, width);
            cur_c = -1; /* the ring now holds rows the bookkeeping below does not know */
            continue;
        }
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int iy = iy0 + ky, slot = iy % p->k_h;
                if (iy < 0 || iy >= p->in_h) { /* a padding row: the zero line */
                    rows[ky] = zeros;
                    continue;
                }
                int16_t *line = lines + (long)slot * width;
                rows[ky] = line;
                if (line_row[slot] == iy)
                    continue;
                fill_line(line, plane + (long)iy * p->in_w, p->in_w, p->pad_l, width, off);
                line_row[slot] = iy;
            }
            const long at = (long)(oc - oc0) * out_hw + (long)oy * p->out_w;
            int32_t *a = acc ? acc + at : 0;
            dw_row(rows, p->k_h, wq, pairs, p->stride_w, p->out_w, b, &q, out + at, a, mode);
        }
    }
}

/* full conv over at most PEXCP_S8_ROWS_MAX_OC output channels (a split head's slices): im2col would gather
 * every window once per call for one or two channels. Instead each output row is summed input channel by
 * input channel from int16 lines of its k_h input rows (as in the depthwise path) into an int32 row (the
 * accumulator, or one in the scratch). Returns 0 when the scratch of the call (the im2col size,
 * 4 ceil4((ic1 - ic0) k_h k_w) bytes) cannot hold the lines. */
#define PEXCP_S8_ROWS_MAX_OC 4
static int conv_rows_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                         const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                         int oc1, int ic0, int ic1, int mode, void *scratch)
{
    const int k_h = p->k_h, taps = p->k_h * p->k_w, pairs = (p->k_w + 1) / 2;
    const int width = (p->out_w - 1) * p->stride_w + 2 * pairs;
    const long given = 4L * (((long)(ic1 - ic0) * taps + 3) & ~3L);
    const long need = 4L * k_h * pairs + 4L * p->out_w + 2L * (k_h + 1) * width;
    if (need > given || ic1 <= ic0)
        return 0;
    int32_t *wq = (int32_t *)scratch, *row = wq + k_h * pairs;
    int16_t *lines = (int16_t *)(row + p->out_w), *zeros = lines + (long)k_h * width;
    for (long j = 0; j < (long)(k_h + 1) * width; ++j) /* padding columns of the lines, and the zero line */
        lines[j] = 0;
    const long in_hw = (long)p->in_h * p->in_w, out_hw = (long)p->out_h * p->out_w;
    const int16_t off = (int16_t)p->in_offset;
    const int16_t *rows[PEXCP_S8_DW_MAX_KH];
    for (int oc = oc0; oc < oc1; ++oc) {
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const long at = (long)(oc - oc0) * out_hw + (long)oy * p->out_w;
            int32_t *a = (mode & PEXCP_INIT) && (mode & PEXCP_ACT) ? row : acc + at; /* STORE never touches acc */
            for (int c = ic0; c < ic1; ++c) {
                const int8_t *plane = in + (long)(c - ic0) * in_hw;
                const int8_t *wk = w + ((long)oc * p->in_c + c) * taps;
                for (int ky = 0; ky < k_h; ++ky) {
                    const int iy = iy0 + ky;
                    if (iy < 0 || iy >= p->in_h) { /* a padding row: the zero line meets any weights */
                        rows[ky] = zeros;
                        continue;
                    }
                    int16_t *line = lines + (long)ky * width;
                    fill_line(line, plane + (long)iy * p->in_w, p->in_w, p->pad_l, width, off);
                    rows[ky] = line;
                    for (int j = 0; j < pairs; ++j) {
                        const int kx = 2 * j;
                        const int32_t lo = wk[ky * p->k_w + kx], hi = kx + 1 < p->k_w ? wk[ky * p->k_w + kx + 1] : 0;
                        wq[ky * pairs + j] = (int32_t)(((uint32_t)hi << 16) | (uint16_t)lo);
                    }
                }
                const int m = (c == ic0 ? mode & PEXCP_INIT : 0) | (c == ic1 - 1 ? mode & PEXCP_ACT : 0);
                if (k_h == 3 && pairs == 2 && rows[0] != zeros && rows[1] != zeros && rows[2] != zeros) {
                    if (m & PEXCP_INIT)
                        for (int ox = 0; ox < p->out_w; ++ox)
                            a[ox] = b;
                    rows3x3(lines, width, 2 * width, wq, p->stride_w, p->out_w, a, &q, (m & PEXCP_ACT) ? out + at : 0);
                } else {
                    dw_row(rows, k_h, wq, pairs, p->stride_w, p->out_w, b, &q, out + at, a, m);
                }
            }
        }
    }
    return 1;
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
    if (p->group == 1 && oc1 - oc0 <= PEXCP_S8_ROWS_MAX_OC && p->k_h * p->k_w > 1 && p->dil_h == 1 &&
        p->dil_w == 1 && p->k_h <= PEXCP_S8_DW_MAX_KH &&
        conv_rows_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, scratch))
        return 1;
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

/* Output element (oc, px) lands on input element (oc, px). With DSP and scratch, pexcp_conv_s8 with out = in
 * takes conv_im2col_dsp for a whole 1x1 conv, which gathers both pixels of a pair into the scratch columns
 * before it stores any of their outputs; the portable loop reads a pixel's inputs into its sums before its
 * outputs leave `tmp`. No other pixel's input is touched, so every input byte is read before it is
 * overwritten. (Calling the public entry and not the static helpers keeps their inlining, and so the
 * ordinary calls' instruction counts, as they were.) */
void pexcp_conv_s8_pointwise_in_place(const pexcp_conv_s8_params *p, int8_t *io, const int8_t *w,
                                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *tmp,
                                      void *scratch)
{
#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
    if (scratch) {
        pexcp_conv_s8(p, io, io, 0, w, bias, mult, shift, 0, p->out_c, 0, p->in_c, PEXCP_STORE, scratch);
        return;
    }
#else
    (void)scratch;
#endif
    const long hw = (long)p->out_h * p->out_w;
    for (long px = 0; px < hw; ++px) {
        for (int oc = 0; oc < p->out_c; ++oc) {
            const int8_t *w_oc = w + (long)oc * p->in_c;
            const int8_t *x = io + px;
            int32_t s = bias ? bias[oc] : 0;
            for (int c = 0; c < p->in_c; ++c, x += hw)
                s += (int32_t)w_oc[c] * ((int32_t)*x + p->in_offset);
            tmp[oc] = (int8_t)pexcp_clamp_s32(pexcp_requant(s, mult[oc], shift[oc]) + p->out_offset, p->act_min,
                                              p->act_max);
        }
        for (int oc = 0; oc < p->out_c; ++oc)
            io[oc * hw + px] = tmp[oc];
    }
}
