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
    const long hw = (long)p->out_h * p->out_w, in_cs = p->in_cs, out_cs = p->out_cs;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int8_t *w_oc = w + (long)oc * p->in_c;
        int32_t w_sum = 0;
        for (int c = ic0; c < ic1; ++c)
            w_sum += w_oc[c];
        const int32_t b = (bias ? bias[oc] : 0) + p->in_offset * w_sum;
        int8_t *o = out + (long)(oc - oc0) * out_cs;
        int32_t *a = acc ? acc + (long)(oc - oc0) * out_cs : 0;
        for (long px = 0; px < hw; ++px) {
            int32_t s = (mode & PEXCP_INIT) ? b : a[px] + p->in_offset * w_sum;
            const int8_t *x = in + px;
            for (int c = ic0; c < ic1; ++c, x += in_cs)
                s += w_oc[c] * *x;
            finish(p, s, o + px, a ? a + px : 0, mult[oc], shift[oc], mode);
        }
    }
}

#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
#include "pexcp_s8_dsp.h"

/* the start value of a sum: the bias (PEXCP_INIT) or the accumulator */
static int32_t start(const int32_t *bias, const int32_t *acc, int oc, int oc0, long out_cs, long px, int mode)
{
    if (mode & PEXCP_INIT)
        return bias ? bias[oc] : 0;
    return acc[(long)(oc - oc0) * out_cs + px];
}

/* im2col of output pixel px for input channels [c_lo, c_hi): x + in_offset, 0 for taps outside the input,
 * as column j of an interleaved pair */
static void im2col(const pexcp_conv_s8_params *p, const int8_t *in, int ic0, int c_lo, int c_hi, long px,
                   int16_t *cols, int j)
{
    const long in_cs = p->in_cs;
    const int16_t off = (int16_t)p->in_offset;
    int k = 0;
    const int oy = (int)(px / p->out_w), ox = (int)(px % p->out_w);
    const int iy0 = oy * p->stride_h - p->pad_t, ix0 = ox * p->stride_w - p->pad_l;
    for (int c = c_lo; c < c_hi; ++c) {
        const int8_t *plane = in + (long)(c - ic0) * in_cs;
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

/* pexcp_mbqm_neg's sum shifted right by 32, plus rnd, for shifts <= -2: its 64-bit start value
 * 2^30 - 2^31 [x < 0] + 2^32 rnd comes from the sign of x in two instructions (low word 2^30 | (x & 2^31),
 * high word rnd + (x >> 31)), so one SMLAL remains */
static inline int32_t mbqm_neg_high(int32_t x, int32_t m, int32_t rnd)
{
    uint32_t l = ((uint32_t)x & 0x80000000u) | 0x40000000u;
    int32_t h = rnd + (x >> 31);
    __asm__("smlal %0, %1, %2, %3" : "+r"(l), "+r"(h) : "r"(x), "r"(m));
    return h;
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
    const long in_cs = p->in_cs;
    const int16_t off = (int16_t)p->in_offset;
    int16_t *g = cols;
    int q = 0;
    if (p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
        p->in_w == p->out_w) {
        const int8_t *x = in + (long)(c_lo - ic0) * in_cs, *end = x + (long)(c_hi - c_lo) * in_cs;
        for (; x != end; x += in_cs)
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
        const int8_t *row = in + (long)(c - ic0) * in_cs + (long)iy0 * p->in_w + ix0;
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
    const long out_cs = p->out_cs;
    const int cin_g = p->in_c / p->group, taps = p->k_h * p->k_w;
    for (; oc + 2 <= g_hi; oc += 2) {
        const int8_t *w_row = w + ((long)oc * cin_g - g_cin + c_lo) * taps;
        const long at = (long)(oc - oc0) * out_cs + px;
        int32_t s[4];
        if (mode & PEXCP_INIT) {
            s[0] = s[1] = bias ? bias[oc] : 0;
            s[2] = s[3] = bias ? bias[oc + 1] : 0;
        } else {
            s[0] = acc[at], s[2] = acc[at + out_cs];
            s[1] = two ? acc[at + 1] : 0, s[3] = two ? acc[at + out_cs + 1] : 0;
        }
        pexcp_dot2x2(w_row, w_row + (long)cin_g * taps, cols, k, s);
        if (!(mode & PEXCP_ACT)) { /* partial sums */
            acc[at] = s[0], acc[at + out_cs] = s[2];
            if (two)
                acc[at + 1] = s[1], acc[at + out_cs + 1] = s[3];
            continue;
        }
        const requant_consts q0 = requant_setup(p, mult[oc], shift[oc]);
        const requant_consts q1 = requant_setup(p, mult[oc + 1], shift[oc + 1]);
        out[at] = requant_store(&q0, s[0]);
        out[at + out_cs] = requant_store(&q1, s[2]);
        if (two) {
            out[at + 1] = requant_store(&q0, s[1]);
            out[at + out_cs + 1] = requant_store(&q1, s[3]);
        }
    }
    return oc;
}

/* the four sums of two output channels (at out and out + out_cs) at two pixels (one when !two), requantized:
 * out of line, so the two-channel loop keeps its registers */
__attribute__((noinline)) static void store2x2(const pexcp_conv_s8_params *p, const int32_t s[4], const int32_t *mult,
                                               const int32_t *shift, int8_t *out, long out_cs, int two)
{
    for (int j = 0; j < 2; ++j, out += out_cs) {
        const int32_t m = mult[j], sh = shift[j];
        if (m >= 0 && sh <= -2 && p->act_min == -128 && p->act_max == 127) {
            const int32_t right = -sh - 1, r = ((int32_t)1 << (-sh - 2)) + p->out_offset * ((int32_t)1 << right);
            if (right <= 22) { /* as requant_row_fast */
                out[0] = (int8_t)__ssat(mbqm_neg_high(s[2 * j], m, r) >> right, 8);
                if (two)
                    out[1] = (int8_t)__ssat(mbqm_neg_high(s[2 * j + 1], m, r) >> right, 8);
                continue;
            }
        }
        const requant_consts q = requant_setup(p, m, sh);
        out[0] = requant_store(&q, s[2 * j]);
        if (two)
            out[1] = requant_store(&q, s[2 * j + 1]);
    }
}

/* full and grouped conv: two output pixels' im2col columns (interleaved) against one weight row at a time */
static void conv_im2col_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                            const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                            int oc1, int ic0, int ic1, int mode, int16_t *cols)
{
    const long out_hw = (long)p->out_h * p->out_w, out_cs = p->out_cs;
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
                    const long at = (long)(oc - oc0) * out_cs + px;
                    int32_t s[4];
                    s[0] = s[1] = bias ? bias[oc] : 0;
                    s[2] = s[3] = bias ? bias[oc + 1] : 0;
                    pexcp_dot2x2(w_row, w_row + (long)cin_g * taps, cols, k, s);
                    store2x2(p, s, mult + oc, shift + oc, out + at, out_cs, two);
                }
            else
                oc = conv_pairs_acc(p, w, bias, mult, shift, cols, k, out, acc, g * cin_g, c_lo, oc, g_hi, oc0, px, two,
                                    mode);
            for (; oc < g_hi; ++oc) {
                const int8_t *w_row = w + ((long)oc * cin_g - (long)g * cin_g + c_lo) * taps;
                const long at = (long)(oc - oc0) * out_cs + px;
                if (mode == PEXCP_STORE) {
                    int32_t s0 = bias ? bias[oc] : 0, s1 = s0;
                    pexcp_dot1x2(w_row, cols, k, &s0, &s1);
                    const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
                    out[at] = requant_store(&q, s0);
                    if (two)
                        out[at + 1] = requant_store(&q, s1);
                    continue;
                }
                int32_t s0 = start(bias, acc, oc, oc0, out_cs, px, mode);
                int32_t s1 = two ? start(bias, acc, oc, oc0, out_cs, px + 1, mode) : 0;
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

/* o[i] = the requantized a[i] for i < n, with the channel's constants in registers. With a shift of at most
 * 22 the output offset joins the rounding term before the shift (floor((h + off 2^r) / 2^r) = floor(h / 2^r)
 * + off exactly; |h| < 2^30 and |off 2^r| <= 2^29 keep the sum in range), two outputs per step. */
static inline __attribute__((always_inline)) void requant_row_fast(const int32_t *a, int n, const requant_consts *q,
                                                                   int8_t *o, int full)
{
    const int32_t m = q->m, rnd = q->c.rnd, right = q->c.right, off = q->out_offset;
    const int32_t lo = q->act_min, hi = q->act_max;
    if (full && right <= 22) {
        const int32_t r = rnd + off * ((int32_t)1 << right);
        int i = 0;
        for (; i + 2 <= n; i += 2) {
            const int32_t y0 = mbqm_neg_high(a[i], m, r) >> right, y1 = mbqm_neg_high(a[i + 1], m, r) >> right;
            o[i] = (int8_t)__ssat(y0, 8);
            o[i + 1] = (int8_t)__ssat(y1, 8);
        }
        if (i < n)
            o[i] = (int8_t)__ssat(mbqm_neg_high(a[i], m, r) >> right, 8);
        return;
    }
    for (const int32_t *end = a + n; a < end; ++a, ++o) {
        const int32_t y = (mbqm_neg_high(*a, m, rnd) >> right) + off;
        *o = (int8_t)(full ? __ssat(y, 8) : pexcp_clamp_s32(y, lo, hi));
    }
}

__attribute__((noinline)) static void requant_row(const int32_t *a, int n, const requant_consts *q, int8_t *o)
{
    if (!q->folded || q->shift > -2) /* mbqm_neg_high needs shift <= -2 */
        for (int i = 0; i < n; ++i)
            o[i] = requant_store(q, a[i]);
    else if (q->act_min == -128 && q->act_max == 127)
        requant_row_fast(a, n, q, o, 1);
    else
        requant_row_fast(a, n, q, o, 0);
}

/* a[i] += one kernel row's sums of outputs i and i + 1 (i even, n even): `pairs` weight pairs w from line x
 * at output stride `stride` (constants where inlined, so the pairs stay in registers) */
static inline __attribute__((always_inline)) void dw_pass(const int16_t *x, const int32_t *w, int pairs, int stride,
                                                          int n, int32_t *a)
{
    int32_t wr[4];
    for (int j = 0; j < pairs && j < 4; ++j)
        wr[j] = w[j];
    for (int32_t *end = a + n; a < end; a += 2, x += 2 * stride) {
        int32_t s0 = a[0], s1 = a[1];
#pragma GCC unroll 4
        for (int j = 0; j < pairs; ++j) {
            const int32_t wj = j < 4 ? wr[j] : w[j];
            s0 = __smlad(pexcp_load32(x + 2 * j), wj, s0);
            s1 = __smlad(pexcp_load32(x + stride + 2 * j), wj, s1);
        }
        a[0] = s0, a[1] = s1;
    }
}

#define PEXCP_S8_DW_PASS(P, S)                                                                                  \
    __attribute__((noinline)) static void dw_pass_##P##_##S(const int16_t *x, const int32_t *w, int n, int32_t *a) \
    {                                                                                                           \
        dw_pass(x, w, P, S, n, a);                                                                              \
    }
PEXCP_S8_DW_PASS(3, 1)
PEXCP_S8_DW_PASS(3, 2)
PEXCP_S8_DW_PASS(4, 1)
PEXCP_S8_DW_PASS(4, 2)

/* the passes with the weight pairs in registers for the kernel widths of the shared models (5 and 7) */
static void dw_pass_any(const int16_t *x, const int32_t *w, int pairs, int stride, int n, int32_t *a)
{
    if (pairs == 3 && stride == 1)
        dw_pass_3_1(x, w, n, a);
    else if (pairs == 3 && stride == 2)
        dw_pass_3_2(x, w, n, a);
    else if (pairs == 4 && stride == 1)
        dw_pass_4_1(x, w, n, a);
    else if (pairs == 4 && stride == 2)
        dw_pass_4_2(x, w, n, a);
    else
        dw_pass(x, w, pairs, stride, n, a);
}

/* one output row of a 3x3 depthwise window, all three kernel rows at once from the bias: a[i] for i < n (even),
 * two outputs per step. Stride 1: the second output's last tap x3 * w2 is the top half of the word (x2, x3)
 * the first output already loaded, against the weight pair (w2, 0): SMLATB. */
static inline __attribute__((always_inline)) void dw3_row(const int16_t *r0, const int16_t *r1, const int16_t *r2,
                                                          const int32_t *w, int stride, int n, int32_t bias,
                                                          int32_t *a)
{
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
    for (int32_t *end = a + n; a < end; a += 2, r0 += 2 * stride, r1 += 2 * stride, r2 += 2 * stride) {
        int32_t s0, s1;
        if (stride == 1) {
            int32_t d = pexcp_load32(r0 + 2);
            s0 = __smlad(pexcp_load32(r0), w0, bias);
            s1 = __smlad(pexcp_load32(r0 + 1), w0, bias);
            s0 = __smlabb(d, w1, s0);
            s1 = __smlatb(d, w1, s1);
            d = pexcp_load32(r1 + 2);
            s0 = __smlad(pexcp_load32(r1), w2, s0);
            s1 = __smlad(pexcp_load32(r1 + 1), w2, s1);
            s0 = __smlabb(d, w3, s0);
            s1 = __smlatb(d, w3, s1);
            d = pexcp_load32(r2 + 2);
            s0 = __smlad(pexcp_load32(r2), w4, s0);
            s1 = __smlad(pexcp_load32(r2 + 1), w4, s1);
            s0 = __smlabb(d, w5, s0);
            s1 = __smlatb(d, w5, s1);
        } else {
            int32_t d = pexcp_load32(r0 + 2);
            s0 = __smlad(pexcp_load32(r0), w0, bias);
            s1 = __smlad(d, w0, bias);
            s0 = __smlabb(d, w1, s0);
            s1 = __smlabb(pexcp_load32(r0 + 4), w1, s1);
            d = pexcp_load32(r1 + 2);
            s0 = __smlad(pexcp_load32(r1), w2, s0);
            s1 = __smlad(d, w2, s1);
            s0 = __smlabb(d, w3, s0);
            s1 = __smlabb(pexcp_load32(r1 + 4), w3, s1);
            d = pexcp_load32(r2 + 2);
            s0 = __smlad(pexcp_load32(r2), w4, s0);
            s1 = __smlad(d, w4, s1);
            s0 = __smlabb(d, w5, s0);
            s1 = __smlabb(pexcp_load32(r2 + 4), w5, s1);
        }
        a[0] = s0, a[1] = s1;
    }
}

__attribute__((noinline)) static void dw3_row_1(const int16_t *const *r, const int32_t *w, int n, int32_t bias,
                                                int32_t *a)
{
    dw3_row(r[0], r[1], r[2], w, 1, n, bias, a);
}

__attribute__((noinline)) static void dw3_row_2(const int16_t *const *r, const int32_t *w, int n, int32_t bias,
                                                int32_t *a)
{
    dw3_row(r[0], r[1], r[2], w, 2, n, bias, a);
}

/* whether the depthwise path keeps every input row a channel's windows span (padding rows included) instead
 * of a ring of k_h: when that costs at most PEXCP_S8_DW_PLANE_EXTRA bytes more (small feature maps, where
 * the ring's bookkeeping per output row weighs most); quant.conv_scratch_bytes mirrors it */
static int dw_plane_rows(const pexcp_conv_s8_params *p, int width)
{
    const int rows = (p->out_h - 1) * p->stride_h + p->k_h;
    return 2L * (rows - p->k_h - 1) * width <= PEXCP_S8_DW_PLANE_EXTRA ? rows : 0;
}

/* depthwise (one input channel per group), no dilation: the input rows of the windows sit in int16 lines (x +
 * in_offset, zeros for the padding columns; padding rows read a zero line), either a ring of k_h or, on small
 * maps, all of them (filled once per channel); a channel's weights sit in halfword pairs (the last pair of an
 * odd width padded with 0). An output row's sums are made in an int32 row of an even length (two outputs per
 * step), kernel row by kernel row (3x3 windows: all three rows at once), then requantized in one pass. */
__attribute__((noinline)) static void depthwise_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out,
                                                    int32_t *acc, const int8_t *w, const int32_t *bias,
                                                    const int32_t *mult, const int32_t *shift, int oc0, int oc1,
                                                    int ic0, int mode, int32_t *wq)
{
    const int mult_c = p->out_c / p->in_c, taps = p->k_h * p->k_w, pairs = (p->k_w + 1) / 2;
    const int n = p->out_w, n2 = (n + 1) & ~1, stride = p->stride_w;
    const int width = (n2 - 1) * stride + 2 * pairs; /* line length */
    const int plane_rows = dw_plane_rows(p, width), nlines = plane_rows ? plane_rows : p->k_h;
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    const int16_t off = (int16_t)p->in_offset;
    int32_t *row = wq + p->k_h * pairs;
    int16_t *lines = (int16_t *)(row + n2);
    int16_t *zeros = lines + (long)nlines * width;
    for (long j = 0; j < (long)(nlines + 1) * width; ++j) /* padding columns and rows, and the zero line */
        lines[j] = 0;
    const int fused3 = p->k_h == 3 && pairs == 2 && (stride == 1 || stride == 2) && (mode & PEXCP_INIT);
    int line_row[PEXCP_S8_DW_MAX_KH];
    const int16_t *rows[PEXCP_S8_DW_MAX_KH];
    int cur_c = -1;
    for (int oc = oc0; oc < oc1; ++oc) {
        const int c = oc / mult_c;
        const int8_t *plane = in + (long)(c - ic0) * in_cs;
        const int8_t *wk = w + (long)oc * taps;
        for (int ky = 0; ky < p->k_h; ++ky)
            for (int j = 0; j < pairs; ++j) {
                const int kx = 2 * j;
                const int32_t lo = wk[ky * p->k_w + kx], hi = kx + 1 < p->k_w ? wk[ky * p->k_w + kx + 1] : 0;
                wq[ky * pairs + j] = (int32_t)(((uint32_t)hi << 16) | (uint16_t)lo);
            }
        if (c != cur_c) {
            if (plane_rows) /* line pad_t + iy holds input row iy */
                for (int iy = 0; iy < p->in_h && iy + p->pad_t < plane_rows; ++iy)
                    fill_line(lines + (long)(iy + p->pad_t) * width, plane + (long)iy * p->in_w, p->in_w, p->pad_l,
                              width, off);
            else
                for (int i = 0; i < p->k_h; ++i)
                    line_row[i] = -1;
            cur_c = c;
        }
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int iy = iy0 + ky;
                if (iy < 0 || iy >= p->in_h) { /* a padding row: the zero line */
                    rows[ky] = zeros;
                    continue;
                }
                if (plane_rows) {
                    rows[ky] = lines + (long)(iy + p->pad_t) * width;
                    continue;
                }
                const int slot = iy % p->k_h;
                int16_t *line = lines + (long)slot * width;
                rows[ky] = line;
                if (line_row[slot] == iy)
                    continue;
                fill_line(line, plane + (long)iy * p->in_w, p->in_w, p->pad_l, width, off);
                line_row[slot] = iy;
            }
            const long at = (long)(oc - oc0) * out_cs + (long)oy * n;
            if (fused3) {
                (stride == 1 ? dw3_row_1 : dw3_row_2)(rows, wq, n2, b, row);
            } else {
                for (int i = 0; i < n2; ++i)
                    row[i] = (mode & PEXCP_INIT) ? b : (i < n ? acc[at + i] : 0);
                for (int ky = 0; ky < p->k_h; ++ky)
                    if (rows[ky] != zeros) /* padding rows add nothing */
                        dw_pass_any(rows[ky], wq + ky * pairs, pairs, stride, n2, row);
            }
            if (mode & PEXCP_ACT)
                requant_row(row, n, &q, out + at);
            else
                for (int i = 0; i < n; ++i)
                    acc[at + i] = row[i];
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
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    const int16_t off = (int16_t)p->in_offset;
    const int16_t *rows[PEXCP_S8_DW_MAX_KH];
    for (int oc = oc0; oc < oc1; ++oc) {
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const long at = (long)(oc - oc0) * out_cs + (long)oy * p->out_w;
            int32_t *a = (mode & PEXCP_INIT) && (mode & PEXCP_ACT) ? row : acc + at; /* STORE never touches acc */
            for (int c = ic0; c < ic1; ++c) {
                const int8_t *plane = in + (long)(c - ic0) * in_cs;
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

/* pointwise_dsp's block of pixels for k inputs (0: the path does not apply); quant.conv_scratch_bytes mirrors it */
static int pointwise_block(int k)
{
    const int k4 = (k + 3) & ~3, b = (PEXCP_S8_PW_BUDGET / (2 * k4 + 4)) & ~3;
    return k % 4 || k > PEXCP_S8_PW_MAX_K || b < 4 ? 0 : min_int(b, PEXCP_S8_PW_MAX_BLOCK);
}

/* sums of one output channel over a block of pixels, four at a time: per group of four inputs one weight word
 * unpacked (SXTB16) and four pixels' two words each */
__attribute__((noinline)) static void pw_sums(const int32_t *data, const int8_t *w, int groups, int quads, int32_t s0,
                                              int32_t *row)
{
    for (int qd = 0; qd < quads; ++qd, row += 4) {
        int32_t a = s0, b = s0, c = s0, d = s0;
        const int8_t *wg = w;
        for (const int32_t *end = data + 8 * groups; data < end; data += 8, wg += 4) {
            const int32_t wv = pexcp_load32(wg), lo = __sxtb16(wv), hi = pexcp_sxtb16_ror8(wv);
            a = __smlad(data[0], lo, a);
            a = __smlad(data[1], hi, a);
            b = __smlad(data[2], lo, b);
            b = __smlad(data[3], hi, b);
            c = __smlad(data[4], lo, c);
            c = __smlad(data[5], hi, c);
            d = __smlad(data[6], lo, d);
            d = __smlad(data[7], hi, d);
        }
        row[0] = a, row[1] = b, row[2] = c, row[3] = d;
    }
}

/* pw_sums for G = 2 or 4 groups (8 or 16 inputs): the unpacked weights stay in registers across the block */
static inline __attribute__((always_inline)) void pw_sums_small(const int32_t *data, const int8_t *w, int G,
                                                                int quads, int32_t s0, int32_t *row)
{
    int32_t lo[4], hi[4];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
        const int32_t wv = pexcp_load32(w + 4 * g);
        lo[g] = __sxtb16(wv), hi[g] = pexcp_sxtb16_ror8(wv);
    }
    for (int qd = 0; qd < quads; ++qd, row += 4, data += 8 * G) {
        int32_t a = s0, b = s0, c = s0, d = s0;
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
            const int32_t *x = data + 8 * g;
            a = __smlad(x[0], lo[g], a);
            a = __smlad(x[1], hi[g], a);
            b = __smlad(x[2], lo[g], b);
            b = __smlad(x[3], hi[g], b);
            c = __smlad(x[4], lo[g], c);
            c = __smlad(x[5], hi[g], c);
            d = __smlad(x[6], lo[g], d);
            d = __smlad(x[7], hi[g], d);
        }
        row[0] = a, row[1] = b, row[2] = c, row[3] = d;
    }
}

__attribute__((noinline)) static void pw_sums_2(const int32_t *data, const int8_t *w, int quads, int32_t s0,
                                                int32_t *row)
{
    pw_sums_small(data, w, 2, quads, s0, row);
}

__attribute__((noinline)) static void pw_sums_4(const int32_t *data, const int8_t *w, int quads, int32_t s0,
                                                int32_t *row)
{
    pw_sums_small(data, w, 4, quads, s0, row);
}

/* (x_i + off, y_i + off) for the four int8 of x and of y: word i of `out` */
static inline void pair_bytes(int32_t x, int32_t y, int32_t off2, int32_t out[4])
{
    const int32_t x02 = __sadd16(__sxtb16(x), off2), x13 = __sadd16(pexcp_sxtb16_ror8(x), off2);
    const int32_t y02 = __sadd16(__sxtb16(y), off2), y13 = __sadd16(pexcp_sxtb16_ror8(y), off2);
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(out[0]) : "r"(x02), "r"(y02));
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(out[1]) : "r"(x13), "r"(y13));
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(out[2]) : "r"(y02), "r"(x02));
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(out[3]) : "r"(y13), "r"(x13));
}

/* 1x1, stride 1, no padding, k = ic1 - ic0 a multiple of 4: a block of pixels is widened once (x + in_offset
 * as int16, inputs of a group of four in the weights' SXTB16 order (0, 2), (1, 3), four pixels interleaved),
 * then each output channel sums it into an int32 row and requantizes the row in one pass. The scratch holds
 * the block and the row. */
static void pointwise_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                          const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0,
                          int oc1, int ic0, int ic1, int mode, void *scratch, int block)
{
    const long hw = (long)p->out_h * p->out_w, in_cs = p->in_cs, out_cs = p->out_cs;
    const int k = ic1 - ic0, groups = k / 4;
    int32_t *data = (int32_t *)scratch, *row = data + (long)2 * groups * block;
    const int32_t off2 = (int32_t)((uint32_t)(uint16_t)p->in_offset * 0x00010001u);
    for (long p0 = 0; p0 < hw; p0 += block) {
        const int n = (int)(hw - p0 < block ? hw - p0 : block), quads = (n + 3) / 4;
        int32_t *d = data; /* quad by quad, group by group */
        for (int qd = 0; qd < quads; ++qd) {
            const long left = hw - p0 - 4 * qd; /* pixels of the plane from the quad's first on */
            const int8_t *x = in + p0 + 4 * qd;
            for (int g = 0; g < groups; ++g, d += 8, x += 4 * in_cs) {
                int32_t xs[4];
                for (int j = 0; j < 4; ++j) /* the last quad may reach past the plane: those pixels read 0 */
                    if (left >= 4) {
                        xs[j] = pexcp_load32(x + j * in_cs);
                    } else {
                        xs[j] = 0;
                        for (int i = 0; i < left; ++i)
                            xs[j] |= (int32_t)((uint32_t)(uint8_t)x[j * in_cs + i] << (8 * i));
                    }
                int32_t w02[4], w13[4];
                pair_bytes(xs[0], xs[2], off2, w02);
                pair_bytes(xs[1], xs[3], off2, w13);
                for (int i = 0; i < 4; ++i) /* pixel i: inputs (0, 2) then (1, 3) */
                    d[2 * i] = w02[i], d[2 * i + 1] = w13[i];
            }
        }
        for (int oc = oc0; oc < oc1; ++oc) {
            const long at = (long)(oc - oc0) * out_cs + p0;
            const int8_t *w_oc = w + (long)oc * p->in_c + ic0;
            const int32_t s0 = (mode & PEXCP_INIT) && bias ? bias[oc] : 0;
            if (groups == 2)
                pw_sums_2(data, w_oc, quads, s0, row);
            else if (groups == 4)
                pw_sums_4(data, w_oc, quads, s0, row);
            else
                pw_sums(data, w_oc, groups, quads, s0, row);
            if (!(mode & PEXCP_INIT))
                for (int i = 0; i < n; ++i)
                    row[i] += acc[at + i];
            if (mode & PEXCP_ACT) {
                const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
                requant_row(row, n, &q, out + at);
            } else {
                for (int i = 0; i < n; ++i)
                    acc[at + i] = row[i];
            }
        }
    }
}

/* four outputs of a row of a 3x3 stride-1 conv summed straight from the int8 input over nc input channels and
 * nky kernel rows: per input row the bytes b0..b5 under them (b_j = x[j]), one word (SXTB16: (b0, b2) and
 * (b1, b3)) and two bytes, against the weight pair (w0, w2) and w1 (t[0], t[1]). With `left`, also the output
 * before them (its left tap on the padding: b0 w1 + b1 w2); with `right`, the one after (b4 w0 + b5 w1). */
static inline __attribute__((always_inline)) void direct3_group(const int8_t *x, long in_cs, int in_w, int nc, int nky,
                                                                const int32_t *t, const int32_t start[3], int32_t *o,
                                                                int left, int right)
{
    int32_t a0 = start[0], a1 = a0, a2 = a0, a3 = a0, l = start[1], r = start[2];
    for (int c = 0; c < nc; ++c, x += in_cs, t += 6) {
        const int8_t *xr = x;
        const int32_t *tk = t;
#pragma GCC unroll 3
        for (int k = 0; k < nky; ++k, xr += in_w, tk += 2) {
            const int32_t wp = tk[0], w1 = tk[1];
            const int32_t v = pexcp_load32(xr), e = __sxtb16(v), f = pexcp_sxtb16_ror8(v);
            const int32_t b4 = xr[4], b5 = xr[5];
            a0 = __smlad(e, wp, a0);
            a0 = __smlabb(f, w1, a0);
            a1 = __smlad(f, wp, a1);
            a1 = __smlatb(e, w1, a1);
            a2 = __smlatb(e, wp, a2);
            a2 = __smlatb(f, w1, a2);
            a2 = __smlabt(b4, wp, a2);
            a3 = __smlatb(f, wp, a3);
            a3 = __smlabb(b4, w1, a3);
            a3 = __smlabt(b5, wp, a3);
            if (left) {
                l = __smlabb(e, w1, l);
                l = __smlabt(f, wp, l);
            }
            if (right) {
                r = __smlabb(b4, wp, r);
                r = __smlabb(b5, w1, r);
            }
        }
    }
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
    if (left)
        o[-1] = l;
    if (right)
        o[4] = r;
}

#define PEXCP_S8_DIRECT3(NAME, L, R)                                                                             \
    __attribute__((noinline)) static void NAME(const int8_t *x, long in_cs, int in_w, int nc, int nky,           \
                                               const int32_t *t, const int32_t start[3], int32_t *o)            \
    {                                                                                                           \
        if (nky == 3) /* the common case, kernel rows unrolled */                                               \
            direct3_group(x, in_cs, in_w, nc, 3, t, start, o, L, R);                                             \
        else                                                                                                    \
            direct3_group(x, in_cs, in_w, nc, nky, t, start, o, L, R);                                           \
    }
PEXCP_S8_DIRECT3(direct3_mid, 0, 0)
PEXCP_S8_DIRECT3(direct3_first, 1, 0)
PEXCP_S8_DIRECT3(direct3_last, 0, 1)
PEXCP_S8_DIRECT3(direct3_only, 1, 1)

/* from this row width on, the direct 3x3 path beats im2col on whole convs too (narrow calls take it from 6) */
#define PEXCP_S8_DIRECT3_MIN_W 24

/* 3x3 conv, stride 1, no dilation, group 1, one padding column each side (out_w == in_w >= 6): no im2col and
 * no lines. sum w (x + in_offset) over the in-image taps = sum w x + in_offset * (the in-image weights' sum),
 * and the second term depends only on which kernel rows and columns are inside, so each output row starts
 * from the bias plus that term (column sums of the weights per kernel row, made once per output channel) and
 * sums raw int8 four outputs at a time (direct3_group, 17 instructions per 12 MACs); the border columns ride
 * with the first and last group. The scratch holds the weight pairs of one output channel (24 (ic1 - ic0)
 * bytes) and an int32 row (or, rows up to 32 wide, the stack does); returns 0 when they do not fit in the
 * call's (im2col-sized) scratch. */
static int conv3x3_direct_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                              const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int oc0, int oc1, int ic0, int ic1, int mode, void *scratch)
{
    const int nc = ic1 - ic0, in_w = p->in_w, n = p->out_w;
    const long given = 4L * ((9L * nc + 3) & ~3L);
    int32_t local[32]; /* the row when the scratch holds only the weights (a few input channels) */
    if (nc <= 0 || given < 24L * nc || (given < 24L * nc + 4L * n && n > 32))
        return 0;
    int32_t *t = (int32_t *)scratch, *row = given < 24L * nc + 4L * n ? local : t + 6 * nc;
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    const int32_t off = p->in_offset;
    const int last = in_w - 5; /* the last group's first output */
    for (int oc = oc0; oc < oc1; ++oc) {
        int32_t col[3][3] = {{0}};
        for (int c = 0; c < nc; ++c) {
            const int8_t *wk = w + ((long)oc * p->in_c + ic0 + c) * 9;
            for (int ky = 0; ky < 3; ++ky) {
                const int8_t *wr = wk + 3 * ky;
                t[6 * c + 2 * ky] = (int32_t)(((uint32_t)(int32_t)wr[2] << 16) | (uint16_t)wr[0]);
                t[6 * c + 2 * ky + 1] = wr[1];
                for (int kx = 0; kx < 3; ++kx)
                    col[ky][kx] += wr[kx];
            }
        }
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = (mode & PEXCP_INIT) && bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy - p->pad_t;
            const int kl = iy0 < 0 ? -iy0 : 0, kh = p->in_h - iy0 < 3 ? p->in_h - iy0 : 3;
            int32_t sums[3] = {0, 0, 0}; /* weight sums of the inside taps: all columns, without 0, without 2 */
            for (int ky = kl; ky < kh; ++ky) {
                sums[0] += col[ky][0] + col[ky][1] + col[ky][2];
                sums[1] += col[ky][1] + col[ky][2];
                sums[2] += col[ky][0] + col[ky][1];
            }
            const int32_t start[3] = {b + off * sums[0], b + off * sums[1], b + off * sums[2]};
            const int8_t *x = in + (long)(iy0 + kl) * in_w - 1; /* byte b0 of output ox's group: x[ox - 1] */
            const int32_t *tk = t + 2 * kl;
            const int nky = kh - kl;
            if (last == 1) {
                direct3_only(x + 1, in_cs, in_w, nc, nky, tk, start, row + 1);
            } else {
                direct3_first(x + 1, in_cs, in_w, nc, nky, tk, start, row + 1);
                for (int g = 5; g < last; g += 4)
                    direct3_mid(x + g, in_cs, in_w, nc, nky, tk, start, row + g);
                direct3_last(x + last, in_cs, in_w, nc, nky, tk, start, row + last);
            }
            const long at = (long)(oc - oc0) * out_cs + (long)oy * n;
            if (!(mode & PEXCP_INIT))
                for (int i = 0; i < n; ++i)
                    row[i] += acc[at + i];
            if (mode & PEXCP_ACT)
                requant_row(row, n, &q, out + at);
            else
                for (int i = 0; i < n; ++i)
                    acc[at + i] = row[i];
        }
    }
    return 1;
}

/* four outputs of a row of a 3x3 stride-2 conv from the int8 input over nc input channels and nky kernel rows:
 * per input row the bytes b0..b8 under them (b_j = x[j]; two words and a byte, SXTB16) against the weight
 * pair (w0, w2) and w1. With `pad`, b8 is on the right padding: not read, and the fourth output starts from
 * start[1] (its padding tap's weights left out of the offset term). With `left`, also the output before
 * them, whose left tap is on the padding (x[-1] w1 + b0 w2, from start[2]). */
static inline __attribute__((always_inline)) void direct3s2_group(const int8_t *x, long in_cs, int in_w, int nc,
                                                                  int nky, const int32_t *t, const int32_t start[3],
                                                                  int32_t *o, int pad, int left)
{
    int32_t a0 = start[0], a1 = a0, a2 = a0, a3 = pad ? start[1] : a0, l = start[2];
    for (int c = 0; c < nc; ++c, x += in_cs, t += 6) {
        const int8_t *xr = x;
        const int32_t *tk = t;
#pragma GCC unroll 3
        for (int k = 0; k < nky; ++k, xr += in_w, tk += 2) {
            const int32_t wp = tk[0], w1 = tk[1];
            const int32_t u = pexcp_load32(xr), v = pexcp_load32(xr + 4);
            const int32_t e = __sxtb16(u), f = pexcp_sxtb16_ror8(u), g = __sxtb16(v), h = pexcp_sxtb16_ror8(v);
            a0 = __smlad(e, wp, a0);
            a0 = __smlabb(f, w1, a0);
            a1 = __smlatb(e, wp, a1);
            a1 = __smlatb(f, w1, a1);
            a1 = __smlabt(g, wp, a1);
            a2 = __smlad(g, wp, a2);
            a2 = __smlabb(h, w1, a2);
            a3 = __smlatb(g, wp, a3);
            a3 = __smlatb(h, w1, a3);
            if (!pad)
                a3 = __smlabt((int32_t)xr[8], wp, a3);
            if (left) {
                l = __smlabb((int32_t)xr[-1], w1, l);
                l = __smlabt(e, wp, l);
            }
        }
    }
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
    if (left)
        o[-1] = l;
}

#define PEXCP_S8_DIRECT3S2(NAME, PAD, LEFT)                                                                      \
    __attribute__((noinline)) static void NAME(const int8_t *x, long in_cs, int in_w, int nc, int nky,           \
                                               const int32_t *t, const int32_t start[3], int32_t *o)            \
    {                                                                                                           \
        if (nky == 3)                                                                                           \
            direct3s2_group(x, in_cs, in_w, nc, 3, t, start, o, PAD, LEFT);                                      \
        else                                                                                                    \
            direct3s2_group(x, in_cs, in_w, nc, nky, t, start, o, PAD, LEFT);                                    \
    }
PEXCP_S8_DIRECT3S2(direct3s2_in, 0, 0)
PEXCP_S8_DIRECT3S2(direct3s2_pad, 1, 0)
PEXCP_S8_DIRECT3S2(direct3s2_left, 0, 1)
PEXCP_S8_DIRECT3S2(direct3s2_both, 1, 1)

/* up to this many inputs the stride-2 direct path beats im2col on whole convs (narrow calls take it always) */
#define PEXCP_S8_DIRECT3S2_MAX_IN 8

/* 3x3 conv, stride 2, no dilation, group 1, at most one padding column each side: as conv3x3_direct_dsp (raw
 * int8, the offset term in the start values, the weight pairs of one output channel in the scratch), four
 * outputs at a time (the last group may overlap the one before; a left padding column's output rides with the
 * first group), 18 instructions per 12 MACs. The sums of up to 32 outputs wait on the stack for the
 * requantization pass. */
static int conv3x3s2_direct_dsp(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                                const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                int oc0, int oc1, int ic0, int ic1, int mode, void *scratch)
{
    const int nc = ic1 - ic0, in_w = p->in_w, n = p->out_w, pl = p->pad_l;
    if (nc <= 0 || n < 4 + pl || pl > 1 || 2 * n - pl > in_w)
        return 0;
    int32_t *t = (int32_t *)scratch, row[36]; /* 1 + 32, and the last group of a chunk may reach 3 past it */
    const long in_cs = p->in_cs, out_cs = p->out_cs;
    const int32_t off = p->in_offset;
    const int padded = 2 * n - pl == in_w; /* the last output's third tap is on the right padding */
    for (int oc = oc0; oc < oc1; ++oc) {
        int32_t col[3][3] = {{0}};
        for (int c = 0; c < nc; ++c) {
            const int8_t *wk = w + ((long)oc * p->in_c + ic0 + c) * 9;
            for (int ky = 0; ky < 3; ++ky) {
                const int8_t *wr = wk + 3 * ky;
                t[6 * c + 2 * ky] = (int32_t)(((uint32_t)(int32_t)wr[2] << 16) | (uint16_t)wr[0]);
                t[6 * c + 2 * ky + 1] = wr[1];
                for (int kx = 0; kx < 3; ++kx)
                    col[ky][kx] += wr[kx];
            }
        }
        const requant_consts q = requant_setup(p, mult[oc], shift[oc]);
        const int32_t b = (mode & PEXCP_INIT) && bias ? bias[oc] : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = 2 * oy - p->pad_t;
            const int kl = iy0 < 0 ? -iy0 : 0, kh = p->in_h - iy0 < 3 ? p->in_h - iy0 : 3;
            int32_t all = 0, no2 = 0, no0 = 0; /* weight sums of the inside kernel rows: all, without column 2, 0 */
            for (int ky = kl; ky < kh; ++ky) {
                all += col[ky][0] + col[ky][1] + col[ky][2];
                no2 += col[ky][0] + col[ky][1];
                no0 += col[ky][1] + col[ky][2];
            }
            const int32_t start[3] = {b + off * all, b + off * no2, b + off * no0};
            const int8_t *x = in + (long)(iy0 + kl) * in_w - pl; /* output ox's first tap: x[2 ox] */
            const int32_t *tk = t + 2 * kl;
            const int nky = kh - kl;
            const long at0 = (long)(oc - oc0) * out_cs + (long)oy * n;
            for (int c0 = 0; c0 < n; c0 += 32) { /* chunks of up to 32 outputs */
                const int m = n - c0 < 32 ? n - c0 : 32;
                for (int g = c0 == 0 ? pl : 0; g < m; g += 4) {
                    const int ox = c0 + g + 4 <= n ? c0 + g : n - 4; /* the row's last group may overlap */
                    const int last = ox + 4 == n && padded, left = ox == pl && pl;
                    int32_t *o = row + 1 + (ox - c0);
                    if (left)
                        (last ? direct3s2_both : direct3s2_left)(x + 2 * ox, in_cs, in_w, nc, nky, tk, start, o);
                    else
                        (last ? direct3s2_pad : direct3s2_in)(x + 2 * ox, in_cs, in_w, nc, nky, tk, start, o);
                }
                const long at = at0 + c0;
                int32_t *r = row + 1;
                if (!(mode & PEXCP_INIT))
                    for (int i = 0; i < m; ++i)
                        r[i] += acc[at + i];
                if (mode & PEXCP_ACT)
                    requant_row(r, m, &q, out + at);
                else
                    for (int i = 0; i < m; ++i)
                        acc[at + i] = r[i];
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
    if (p->group == 1 && p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 &&
        p->pad_l == 0 && p->in_h == p->out_h && p->in_w == p->out_w && pointwise_block(ic1 - ic0)) {
        pointwise_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, scratch,
                      pointwise_block(ic1 - ic0));
        return 1;
    }
    if (p->group == 1 && p->k_h == 3 && p->k_w == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
        p->dil_w == 1 && p->pad_l == 1 && p->out_w == p->in_w && p->in_w >= 6 &&
        (oc1 - oc0 <= PEXCP_S8_ROWS_MAX_OC || p->in_w >= PEXCP_S8_DIRECT3_MIN_W) &&
        conv3x3_direct_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, scratch))
        return 1;
    if (p->group == 1 && p->k_h == 3 && p->k_w == 3 && p->stride_h == 2 && p->stride_w == 2 && p->dil_h == 1 &&
        p->dil_w == 1 && (ic1 - ic0 <= PEXCP_S8_DIRECT3S2_MAX_IN || oc1 - oc0 <= PEXCP_S8_ROWS_MAX_OC) &&
        conv3x3s2_direct_dsp(p, in, out, acc, w, bias, mult, shift, oc0, oc1, ic0, ic1, mode, scratch))
        return 1;
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
    const long in_cs = p->in_cs, out_cs = p->out_cs;
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
        int8_t *o = out + (long)(oc - oc0) * out_cs;
        int32_t *a = acc ? acc + (long)(oc - oc0) * out_cs : 0;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const int ky_lo = first_tap(iy0, p->dil_h), ky_hi = end_tap(iy0, p->dil_h, p->k_h, p->in_h);
            for (int ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_l;
                const int kx_lo = first_tap(ix0, p->dil_w), kx_hi = end_tap(ix0, p->dil_w, p->k_w, p->in_w);
                const long px = (long)oy * p->out_w + ox;
                int32_t s = (mode & PEXCP_INIT) ? b : a[px];
                for (int c = c_lo; c < c_hi; ++c) {
                    const int8_t *x_c = in + (long)(c - ic0) * in_cs;
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
    const long hw = (long)p->out_h * p->out_w, in_cs = p->in_cs, out_cs = p->out_cs;
    for (long px = 0; px < hw; ++px) {
        for (int oc = 0; oc < p->out_c; ++oc) {
            const int8_t *w_oc = w + (long)oc * p->in_c;
            const int8_t *x = io + px;
            int32_t s = bias ? bias[oc] : 0;
            for (int c = 0; c < p->in_c; ++c, x += in_cs)
                s += (int32_t)w_oc[c] * ((int32_t)*x + p->in_offset);
            tmp[oc] = (int8_t)pexcp_clamp_s32(pexcp_requant(s, mult[oc], shift[oc]) + p->out_offset, p->act_min,
                                              p->act_max);
        }
        for (int oc = 0; oc < p->out_c; ++oc)
            io[oc * out_cs + px] = tmp[oc];
    }
}
