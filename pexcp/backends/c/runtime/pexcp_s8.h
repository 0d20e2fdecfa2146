/* pexcp runtime: int8 kernels, bit-exact with TensorFlow Lite Micro's reference kernels.
 *
 * Layout and slicing follow pexcp_runtime.h: dense row-major NCHW, a pointer to a channel-sliced tensor
 * points at its first channel, channel ranges are [c0, c1). Every per-op number (requantization
 * multipliers and shifts, offsets, clamps) is computed at compile time by pexcp/backends/c/quant.py, the
 * Prepare step; the kernels are the Eval step and use integers only (except pexcp_quantize_s8 and
 * pexcp_dequantize_s8, the float boundary of models with float I/O).
 *
 * Conventions (TFLite Micro's): in_offset = -zero_point of the input, out_offset = zero_point of the output,
 * act_min/act_max in [-128, 127] are the fused activation's clamp. Per-output-channel requantization
 * arrays `mult`/`shift` have one entry per output channel and are indexed by the absolute channel.
 *
 * Input-channel accumulation (split tails) uses the mode bits of pexcp_runtime.h on an int32 accumulator
 * `acc` (NCHW, pointing at output channel oc0 like `out`): PEXCP_INIT starts from the bias instead of acc,
 * PEXCP_ACT means the sums are complete and writes the requantized int8 output (acc is then only read);
 * without PEXCP_ACT the sums go to acc. With PEXCP_STORE and the whole input range acc is never touched
 * (may be NULL). pexcp_requant_acc_s8 finishes an accumulator separately, possibly in place.
 *
 * Conv and the pools take channel strides in_cs / out_cs and compute row bands as pexcp_runtime.h says; an
 * accumulator `acc` has the output's channel stride out_cs (its rows are out_w apart, like the output's).
 *
 * Fast paths: the Cortex-M4 DSP paths (under __ARM_FEATURE_DSP) give the same bits as the portable ones;
 * they may use the caller's `scratch` buffer, whose size quant.py's *_scratch_bytes functions give.
 */
#ifndef PEXCP_S8_H
#define PEXCP_S8_H

#include <stdint.h>

#ifndef PEXCP_INIT
#define PEXCP_INIT 1
#define PEXCP_ACT 2
#define PEXCP_STORE (PEXCP_INIT | PEXCP_ACT)
#endif

/* ---- fixed-point primitives (gemmlowp / TFLite "double rounding") ---- */

/* saturating rounding doubling high multiply (gemmlowp's SaturatingRoundingDoublingHighMul): gemmlowp adds
 * 2^30 (ab >= 0) or 1 - 2^30 (ab < 0) and divides by 2^31 truncating toward zero; for ab < 0 that is
 * ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31), so both cases are one floor (an arithmetic
 * shift, which is what GCC does with >> on negative values). */
static inline int32_t pexcp_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN)
        return INT32_MAX;
    return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
}

/* rounding divide by 2^e, 0 <= e <= 31: halves away from zero */
static inline int32_t pexcp_rdpot(int32_t x, int e)
{
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + (remainder > threshold);
}

/* x * 2^left with the wrap-around of TFLite's int32 multiply (no undefined behaviour) */
static inline int32_t pexcp_shl_wrap(int32_t x, int left)
{
    return (int32_t)((uint32_t)x << left);
}

/* TFLite's MultiplyByQuantizedMultiplier: x * m * 2^(shift - 31), shift > 0 shifts left first */
static inline int32_t pexcp_mbqm(int32_t x, int32_t m, int shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return pexcp_rdpot(pexcp_srdhm(pexcp_shl_wrap(x, left), m), right);
}

/* pexcp_mbqm for m >= 0 and shift <= -1 with both roundings folded into one (nested floors of integers
 * compose): with P = x * m and r = -shift, RDPOT(floor((P + 2^30) / 2^31), r) =
 * floor((P + 2^30 + 2^(30 + r) - 2^31 [t < 0]) / 2^(31 + r)), t the SRDHM result; t < 0 iff P < -2^30, and
 * for -2^30 <= P < 0 both corrections give 0, so [x < 0] replaces [t < 0]. For r >= 2 the 2^(30 + r) term
 * moves past the high word: ((P + 2^30 - 2^31 [x < 0]) >> 32) + 2^(r - 2), then >> (r - 1); for r = 1 it
 * stays in `base`. One multiply-accumulate, an add and a shift instead of SRDHM's and RDPOT's steps. */
typedef struct {
    int64_t base; /* 2^30, + 2^31 when r = 1 */
    int32_t rnd;  /* 2^(r - 2), 0 when r = 1 */
    int32_t right; /* r - 1 */
} pexcp_mbqm_neg_consts;

static inline pexcp_mbqm_neg_consts pexcp_mbqm_neg_setup(int shift)
{
    pexcp_mbqm_neg_consts c;
    c.base = ((int64_t)1 << 30) + (shift == -1 ? ((int64_t)1 << 31) : 0);
    c.rnd = shift == -1 ? 0 : (int32_t)1 << (-shift - 2);
    c.right = -shift - 1;
    return c;
}

static inline int32_t pexcp_mbqm_neg(int32_t x, int32_t m, const pexcp_mbqm_neg_consts *c)
{
    const int64_t sum = (int64_t)x * m + c->base - (x < 0 ? ((int64_t)1 << 31) : 0);
    return ((int32_t)(sum >> 32) + c->rnd) >> c->right;
}

/* the requantization of conv / FC / requant_acc sums: the folded form where it applies */
static inline int32_t pexcp_requant(int32_t x, int32_t m, int32_t shift)
{
    if (shift < 0 && m >= 0) {
        const pexcp_mbqm_neg_consts c = pexcp_mbqm_neg_setup(shift);
        return pexcp_mbqm_neg(x, m, &c);
    }
    return pexcp_mbqm(x, m, shift);
}

static inline int32_t pexcp_clamp_s32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent: x * 2^e, saturated */
static inline int32_t pexcp_sat_shl(int32_t x, int e)
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold)
        return INT32_MAX;
    if (x < -threshold)
        return INT32_MIN;
    return pexcp_shl_wrap(x, e);
}

/* gemmlowp's exp on [-1/4, 0) in Q0.31 */
static inline int32_t pexcp_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = pexcp_srdhm(x, x), x3 = pexcp_srdhm(x2, x), x4 = pexcp_srdhm(x2, x2);
    const int32_t x4_over_4 = pexcp_rdpot(x4, 2);
    const int32_t poly = pexcp_rdpot(pexcp_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + pexcp_srdhm(constant_term, x + poly);
}

/* gemmlowp's exp_on_negative_values: a <= 0 in Q(int_bits).(31 - int_bits), result in Q0.31 */
static inline int32_t pexcp_exp_on_negative_values(int32_t a, int int_bits)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac_bits = 31 - int_bits;
    const int32_t quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = pexcp_exp_quarter(pexcp_sat_shl(a_mod_quarter_minus_quarter, int_bits));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int e = -2; e <= 4; ++e) /* exp(-2^e) for every set bit of the remainder */
        if (int_bits > e && (remainder & ((int32_t)1 << (frac_bits + e))))
            result = pexcp_srdhm(result, barrel[e + 2]);
    if (int_bits > 5 && a < -((int32_t)1 << (36 - int_bits)))
        result = 0;
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out, three Newton-Raphson steps) */
static inline int32_t pexcp_one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + pexcp_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 d, Q2.29 */
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - pexcp_srdhm(half_denominator, x);
        x = x + pexcp_sat_shl(pexcp_srdhm(x, one_minus), 2);
    }
    return pexcp_sat_shl(x, 1);
}

/* pexcp_mbqm for multipliers known to be >= 1 (shift >= 0): TFLite's ...GreaterThanOne */
static inline int32_t pexcp_mbqm_gt1(int32_t x, int32_t m, int left)
{
    return pexcp_srdhm(pexcp_shl_wrap(x, left), m);
}

/* ---- convolution: full, grouped and depthwise (group == in_c, out_c = in_c * multiplier) ---- */
typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int group;
    long in_cs, out_cs; /* channel strides of the input and of the output and acc, in elements */
    int32_t in_offset, out_offset, act_min, act_max;
} pexcp_conv_s8_params;

/* Output channels [oc0, oc1) from input channels [ic0, ic1); `in` points at input channel ic0, `out` and
 * `acc` at output channel oc0; weights are [out_c][in_c / group][k_h][k_w]; bias (int32) may be NULL.
 * Taps outside the input are skipped (TFLite's padding with the input zero point). */
void pexcp_conv_s8(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc, const int8_t *w,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int oc0, int oc1, int ic0,
                   int ic1, int mode, void *scratch);

/* A whole 1x1 stride-1 unpadded one-group conv with out_c <= in_c writing its output over its input `io`
 * (channels planar, in_cs == out_cs): pixel by pixel (pairs of pixels in the DSP path, through `scratch`), the
 * pixel's out_c results into `tmp`, then stored. */
void pexcp_conv_s8_pointwise_in_place(const pexcp_conv_s8_params *p, int8_t *io, const int8_t *w,
                                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *tmp,
                                      void *scratch);

/* the DSP depthwise path keeps one line per kernel row; taller kernels take the portable loops */
#define PEXCP_S8_DW_MAX_KH 16
/* ... and keeps all the input rows of a channel when that takes at most this many bytes more than the ring */
#define PEXCP_S8_DW_PLANE_EXTRA 256
/* the DSP pointwise (1x1) path, for at most PEXCP_S8_PW_MAX_K inputs, widens blocks of pixels into at most
 * PEXCP_S8_PW_BUDGET scratch bytes (block and sums) */
#define PEXCP_S8_PW_BUDGET 1536
#define PEXCP_S8_PW_MAX_BLOCK 32
#define PEXCP_S8_PW_MAX_K 48

/* ---- fully connected: y[m][n] = sum_k x[m][k] * w[n][k] (weights n x k, as TFLite stores them) ---- */
typedef struct {
    int m, n, k;
    int32_t in_offset, out_offset, act_min, act_max;
} pexcp_fc_s8_params;

/* columns [n0, n1) from inputs [k0, k1); `in` points at column k0, `out` and `acc` at column n0 (ranges
 * other than the whole need m == 1); mult/shift have n entries (a per-tensor multiplier repeated) */
void pexcp_fully_connected_s8(const pexcp_fc_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                              const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int n0, int n1, int k0, int k1, int mode, void *scratch);

/* int32 sums -> int8 for channels [c0, c1) of `inner` elements each; acc and out point at channel c0 and
 * may be the same address (element i is written after element i is read) */
void pexcp_requant_acc_s8(const int32_t *acc, int8_t *out, int inner, const int32_t *mult, const int32_t *shift,
                          int32_t out_offset, int32_t act_min, int32_t act_max, int c0, int c1);

/* ---- add (same shapes; slices by offsetting the three pointers) ---- */
typedef struct {
    int32_t in1_offset, in2_offset, out_offset;
    int32_t in1_mult, in2_mult, out_mult;
    int32_t in1_shift, in2_shift, out_shift; /* all <= 0 */
    int32_t left_shift;
    int32_t act_min, act_max;
} pexcp_add_s8_params;

/* out may be a or b */
void pexcp_add_s8(const pexcp_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int n);

/* ---- pooling: input and output share scale and zero point; taps outside the input are not counted ---- */
typedef struct {
    int in_h, in_w, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_t, pad_l;
    long in_cs, out_cs; /* channel strides of the input and output in elements */
    int32_t act_min, act_max;
} pexcp_pool_s8_params;

/* channels [c0, c1); `in` and `out` point at channel c0 */
void pexcp_average_pool_s8(const pexcp_pool_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1);
void pexcp_max_pool_s8(const pexcp_pool_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1);

/* ---- mean over the middle axis of outer x reduce x inner (TFLite MEAN) ---- */
typedef struct {
    int outer, reduce, inner;
    int32_t in_zp, out_zp;
    int32_t mult, shift; /* already divided by `reduce` (quant.mean_quant) */
} pexcp_mean_s8_params;

/* a channel slice of an NCHW mean over spatial axes is outer = c1 - c0 with offset pointers */
void pexcp_mean_s8(const pexcp_mean_s8_params *p, const int8_t *in, int8_t *out);

/* ---- softmax over the middle axis of outer x n x inner; output scale 1/256, zero point -128 ---- */
typedef struct {
    int32_t in_mult, in_shift; /* beta * s_in * 2^26 as a multiplier >= 1 (shift >= 0) */
    int32_t diff_min;
} pexcp_softmax_s8_params;

void pexcp_softmax_s8(const pexcp_softmax_s8_params *p, const int8_t *in, int8_t *out, int outer, int n, int inner);

/* ---- logistic: output scale 1/256, zero point -128 ---- */
typedef struct {
    int32_t in_zp, radius, mult, shift;
} pexcp_logistic_s8_params;

void pexcp_logistic_s8(const pexcp_logistic_s8_params *p, const int8_t *in, int8_t *out, int n);

/* ---- hard-swish (int16 arithmetic) ---- */
typedef struct {
    int32_t in_zp, out_zp;
    int32_t out_mult16, out_exp;     /* out_mult16 in [0, 32767], out_exp <= 0 */
    int32_t reluish_mult16, reluish_exp;
} pexcp_hard_swish_s8_params;

void pexcp_hard_swish_s8(const pexcp_hard_swish_s8_params *p, const int8_t *in, int8_t *out, int n);

/* ---- quantize / dequantize / requantize ---- */
/* float -> int8: clamp(round(x / scale) + zp) with a float division, halves away from zero */
void pexcp_quantize_s8(const float *in, int8_t *out, int n, float scale, int32_t zero_point);
/* int8 -> float: scale * (q - zp), the float nearest the exact product */
void pexcp_dequantize_s8(const int8_t *in, float *out, int n, float scale, int32_t zero_point);
/* int8 -> int8: clamp(mbqm(q + in_offset, mult, shift) + out_offset); out may be in */
void pexcp_requantize_s8(const int8_t *in, int8_t *out, int n, int32_t in_offset, int32_t mult, int32_t shift,
                         int32_t out_offset);

/* ---- pad (constant value, normally the zero point), NCHW over four axes ---- */
typedef struct {
    int in_dims[4], out_dims[4], begin[4];
    int32_t value;
} pexcp_pad_s8_params;

/* channels [c0, c1) (channels are never padded when c0, c1 is not the whole range) */
void pexcp_pad_s8(const pexcp_pad_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1);

/* ---- elementwise with numpy broadcasting over four axes (stride 0 along broadcast axes) ---- */
typedef struct {
    int dims[4];                      /* the output's */
    int a_strides[4], b_strides[4];
} pexcp_broadcast_s8_params;

/* MAXIMUM / MINIMUM: operands and output share one scale and zero point, so the int8 values compare as
 * the real ones; channels [c0, c1) (pointers at channel c0 of each operand that has channels) */
void pexcp_maximum_s8(const pexcp_broadcast_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int c0, int c1);
void pexcp_minimum_s8(const pexcp_broadcast_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int c0, int c1);

/* PRELU: x >= 0 ? mbqm(x, mult_pos, shift_pos) : mbqm(x * alpha, mult_neg, shift_neg), x and alpha offset by
 * their zero points, then + out_offset and clamped */
typedef struct {
    pexcp_broadcast_s8_params shape; /* a: the input, b: alpha */
    int32_t in_offset, alpha_offset, out_offset;
    int32_t mult_pos, shift_pos, mult_neg, shift_neg;
} pexcp_prelu_s8_params;

void pexcp_prelu_s8(const pexcp_prelu_s8_params *p, const int8_t *in, const int8_t *alpha, int8_t *out, int c0, int c1);

/* TRANSPOSE_CONV (TFLite Micro's reference_integer_ops::TransposeConv, here gathered per output pixel: the
 * same exact int32 sums) with the conv's parameters (stride, pads at the start, dilation) and modes:
 * output channels [oc0, oc1) from input channels [ic0, ic1); weights are [in_c][out_c / group][k_h][k_w];
 * `in` at input channel ic0, `out` and `acc` at output channel oc0, channel strides in_cs and out_cs (whole
 * tensors only: no row bands). */
void pexcp_conv_transpose_s8(const pexcp_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                             const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int oc0, int oc1, int ic0, int ic1, int mode);

/* RESIZE_BILINEAR (TFLite Micro's ResizeBilinearInteger, input and output sharing scale and zero point):
 * output row y mixes input rows y0[y] and y1[y] with 10-bit weights 1024 - fy[y] and fy[y] (fy may be
 * negative at a half-pixel edge, as in TFLite), columns alike; the 20-bit sum rounds half away from zero.
 * `planes` planes of in_h x in_w. */
void pexcp_resize_bilinear_s8(const int8_t *in, int8_t *out, int in_h, int in_w, int out_h, int out_w,
                              const int32_t *y0, const int32_t *y1, const int32_t *fy, const int32_t *x0,
                              const int32_t *x1, const int32_t *fx, int planes);

/* ---- reductions over the middle axis of outer x n x inner (input and output share scale, zero point) ---- */
void pexcp_reduce_max_s8(const int8_t *in, int8_t *out, int outer, int n, int inner);
/* ARG_MAX / ARG_MIN of the int8 values (the first extreme, or the last with `last`), int64 indices */
void pexcp_arg_max_s8(const int8_t *in, void *out, int outer, int n, int inner, int last);
void pexcp_arg_min_s8(const int8_t *in, void *out, int outer, int n, int inner, int last);

/* ---- byte movers (the float ones move 4-byte elements) ---- */
/* copies `outer` blocks of `in_block` bytes into `out`, whose blocks are `out_block` bytes apart */
void pexcp_concat_s8(const int8_t *in, int8_t *out, int outer, int in_block, int out_block);
void pexcp_copy_s8(const int8_t *in, int8_t *out, int n);

typedef struct {
    int out_dims[4];
    int in_strides[4]; /* stride in `in` of each output axis, in elements */
} pexcp_transpose_s8_params;

void pexcp_transpose_s8(const pexcp_transpose_s8_params *p, const int8_t *in, int8_t *out);

#endif
