/* pexcp runtime: float32 reference kernels for the C code `pexcp compile` generates (int8 kernels: pexcp_s8.h).
 *
 * Tensors are dense and row-major, NCHW as in ONNX. Kernels never allocate, never recurse and keep no
 * state: every buffer they touch is passed in (a pointer into the model's arena or a constant array).
 *
 * Partial execution: kernels whose work depends on the channel index take a channel range [c0, c1).
 * A pointer to a channel-sliced tensor points at its channel c0 (the first channel the call touches),
 * so a buffer that holds only channels [c0, c1) of a tensor is used exactly like the whole tensor.
 * Conv and Gemm can also consume input channels [ic0, ic1) and accumulate partial sums (see the
 * PEXCP_INIT / PEXCP_ACT mode bits). Batch size must be 1 whenever a range is not the whole tensor.
 *
 * Row bands (Conv and the pools, float and int8): their params carry the channel strides in_cs and out_cs
 * (elements from channel c to channel c + 1 of the input and of the output; in_h * in_w and out_h * out_w
 * for whole tensors, R * W for a sliding window of R rows), so a call can compute output rows [a, b) only,
 * reading and writing windows. For a true input of H rows, pad_t, k_h, stride s and dilation d:
 *   lo = min(H, max(0, a s - pad_t)), hi = max(lo, min(H, (b - 1) s - pad_t + (k_h - 1) d + 1));
 * call with `in` at input row lo of the first channel (in + lo * in_w for a whole tensor), in_h = hi - lo,
 * pad_t = lo - (a s - pad_t), `out` (and an int8 conv's `acc`) at output row a, out_h = b - a, in_cs / out_cs
 * the buffers' true strides, everything else (pad_b of a float pool included) as for the whole call. Taps
 * below row in_h count as padding: exactly the bottom padding in the last band, never met in the others.
 * The band's output is bit-identical to rows [a, b) of the whole call's, and it reads input rows [lo, hi) and
 * writes output rows [a, b) of each channel only. (pad_t < 0 only when the band lies wholly in the bottom
 * padding: then in_h = 0 and no input row is read.) Int8 convs: quant.conv_scratch_bytes with out_h = b - a
 * gives the band's scratch, which for a depthwise conv can exceed the whole call's (see quant.py).
 */
#ifndef PEXCP_RUNTIME_H
#define PEXCP_RUNTIME_H

#include <math.h> /* INFINITY for open activation ranges, expf, tanhf */
#include <stdint.h>
#include <string.h> /* memcpy */

/* mode bits of the kernels that accumulate partial sums over input-channel slices */
#define PEXCP_INIT 1 /* start from the bias; without it, add to what the output already holds */
#define PEXCP_ACT 2  /* the sum is complete: apply the fused clamp (act_min, act_max) */
#define PEXCP_STORE (PEXCP_INIT | PEXCP_ACT)

/* rank every shape-generic kernel works in: shorter shapes get trailing 1s, which keeps axis 1 the channel */
#define PEXCP_RANK 4

/* the fused activation of Conv, Gemm and the binary ops: Relu = [0, inf), ReLU6 = [0, 6] */
static inline float pexcp_clamp(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int group;
    long in_cs, out_cs; /* channel strides of the input and output in elements (row bands: see the top) */
    float act_min, act_max;
} pexcp_conv_params;

/* Output channels [oc0, oc1) from input channels [ic0, ic1); `in` points at input channel ic0, `out` at
 * output channel oc0; weights are [out_c][in_c / group][k_h][k_w]; bias may be NULL. */
void pexcp_conv(const pexcp_conv_params *p, const float *in, float *out, const float *w, const float *bias,
                int oc0, int oc1, int ic0, int ic1, int mode);

/* A whole 1x1 stride-1 unpadded one-group conv with out_c <= in_c writing its output over its input `io`
 * (channels planar, in_cs == out_cs): pixel by pixel, the pixel's out_c results into `tmp`, then stored. */
void pexcp_conv_pointwise_in_place(const pexcp_conv_params *p, float *io, const float *w, const float *bias,
                                   float *tmp);

typedef struct {
    int m, n, k;
    int trans_a;   /* A is stored K x M instead of M x K */
    int trans_b;   /* B is stored N x K (constant weights are emitted this way) instead of K x N */
    int bias_rows; /* 0: the bias is one row of n values (or absent), 1: it is m x n */
    float alpha;
    float act_min, act_max;
} pexcp_gemm_params;

/* Y = alpha * A B + bias for columns [n0, n1) of Y summing over [k0, k1) of K; `a` points at column k0
 * of A, `y` at column n0 of Y (ranges other than the whole need m == 1 and trans_a == 0). */
void pexcp_gemm(const pexcp_gemm_params *p, const float *a, float *y, const float *b, const float *bias,
                int n0, int n1, int k0, int k1, int mode);

typedef struct {
    int in_h, in_w, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w;
    int pad_t, pad_l, pad_b, pad_r;
    int count_include_pad;
    long in_cs, out_cs; /* channel strides of the input and output in elements (row bands: see the top) */
} pexcp_pool_params;

/* channels [c0, c1); `in` and `out` point at channel c0 */
void pexcp_max_pool(const pexcp_pool_params *p, const float *in, float *out, int c0, int c1);
void pexcp_average_pool(const pexcp_pool_params *p, const float *in, float *out, int c0, int c1);

/* mean over the `inner` elements of each channel in [c0, c1) */
void pexcp_global_average_pool(const float *in, float *out, int inner, int c0, int c1);

/* in is outer x reduce x inner, out is outer x inner */
void pexcp_reduce_mean(const float *in, float *out, int outer, int reduce, int inner);

/* softmax over the middle axis of outer x n x inner */
void pexcp_softmax(const float *in, float *out, int outer, int n, int inner);

/* copies `outer` blocks of `in_block` floats into `out`, whose blocks are `out_block` floats apart */
void pexcp_concat(const float *in, float *out, int outer, int in_block, int out_block);

void pexcp_copy(const float *in, float *out, int n);

/* Before a band of rows is written into a window of rows (channel planes of `plane` bytes): in every plane,
 * move the `n` bytes of the rows it keeps from `from` to `to` bytes into the plane (regions may overlap). */
void pexcp_move_rows(void *window, int channels, long plane, long from, long to, long n);

#define PEXCP_PAD_CONSTANT 0
#define PEXCP_PAD_REFLECT 1
#define PEXCP_PAD_EDGE 2
typedef struct {
    int in_dims[PEXCP_RANK], out_dims[PEXCP_RANK], begin[PEXCP_RANK];
    int mode;
    float value;
} pexcp_pad_params;

/* channels [c0, c1) (channels are never padded when c0, c1 is not the whole range) */
void pexcp_pad(const pexcp_pad_params *p, const float *in, float *out, int c0, int c1);

typedef struct {
    int out_dims[PEXCP_RANK];
    int in_strides[PEXCP_RANK]; /* stride in `in` of each output axis */
} pexcp_transpose_params;

void pexcp_transpose(const pexcp_transpose_params *p, const float *in, float *out);

#define PEXCP_ADD 0
#define PEXCP_SUB 1
#define PEXCP_MUL 2
#define PEXCP_DIV 3
#define PEXCP_PRELU 4
#define PEXCP_MIN 5
#define PEXCP_MAX 6
#define PEXCP_POW 7
typedef struct {
    int op;
    int dims[PEXCP_RANK];                        /* the output's */
    int a_strides[PEXCP_RANK], b_strides[PEXCP_RANK]; /* 0 along broadcast axes */
    float act_min, act_max;
} pexcp_binary_params;

/* out = a op b with broadcasting, channels [c0, c1); pointers are at channel c0 of each operand that
 * has channels (a broadcast operand is passed as is); out may be a */
void pexcp_binary(const pexcp_binary_params *p, const float *a, const float *b, float *out, int c0, int c1);

/* elementwise activations over n floats; out may be in */
void pexcp_clip(const float *in, float *out, int n, float lo, float hi);
void pexcp_leaky_relu(const float *in, float *out, int n, float alpha);
void pexcp_sigmoid(const float *in, float *out, int n);
void pexcp_hard_sigmoid(const float *in, float *out, int n, float alpha, float beta);
void pexcp_hard_swish(const float *in, float *out, int n);
void pexcp_tanh(const float *in, float *out, int n);

/* ---- data movement on elements of any size (float32, int8, int64, ...): `elem` bytes each ---- */

/* one element of `elem` bytes (1, 2, 4 or 8); constant-size memcpy compiles to one load and store */
static inline void pexcp_move(void *dst, const void *src, int elem)
{
    switch (elem) {
    case 1:
        memcpy(dst, src, 1);
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    default:
        memcpy(dst, src, 8);
        break;
    }
}

typedef struct {
    int out_dims[PEXCP_RANK];
    long in_strides[PEXCP_RANK]; /* elements between neighbours along each output axis (negative: reversed) */
    long in_start;               /* input element of output element 0 */
    int elem;
} pexcp_slice_params;

/* Slice / StridedSlice / one output of Split: out[i] = in[in_start + sum_k i_k * in_strides[k]], output
 * channels [c0, c1) (`in` and `out` at channel c0; a channel range needs an unsliced channel axis) */
void pexcp_slice(const pexcp_slice_params *p, const void *in, void *out, int c0, int c1);

/* Gather along one axis with constant indices: in is outer x axis x inner, out is outer x n_idx x inner */
void pexcp_gather(const void *in, void *out, long outer, long axis, long inner, const int32_t *idx, int n_idx, int elem);

typedef struct {
    int in_c, in_h, in_w; /* batch 1 per call */
    int block;
    int crd; /* DepthToSpace mode: 0 DCR, 1 CRD */
    int elem;
} pexcp_d2s_params;

void pexcp_depth_to_space(const pexcp_d2s_params *p, const void *in, void *out);
void pexcp_space_to_depth(const pexcp_d2s_params *p, const void *in, void *out);

typedef struct {
    int in_h, in_w, out_h, out_w;
    int elem;
} pexcp_resize_params;

/* nearest neighbour: output row y reads input row iy[y], column x reads ix[x]; `planes` (batch x channels)
 * planes of in_h x in_w elements */
void pexcp_resize_nearest(const pexcp_resize_params *p, const void *in, void *out, const int32_t *iy, const int32_t *ix,
                          int planes);

/* (bi)linear: output row y mixes input rows y0[y] and y1[y] with weight fy[y] on y1 (columns alike) */
void pexcp_resize_linear(const pexcp_resize_params *p, const float *in, float *out, const int32_t *y0, const int32_t *y1,
                         const float *fy, const int32_t *x0, const int32_t *x1, const float *fx, int planes);

/* ---- type conversion ---- */
#define PEXCP_T_F32 0
#define PEXCP_T_I8 1
#define PEXCP_T_U8 2
#define PEXCP_T_I16 3
#define PEXCP_T_I32 4
#define PEXCP_T_I64 5
#define PEXCP_T_BOOL 6
/* Cast: float to integer truncates toward zero, anything to bool is (x != 0); out may be in when the output
 * elements are no larger */
void pexcp_cast(const void *in, int in_type, void *out, int out_type, long n);

/* ---- more elementwise functions over n floats; out may be in ---- */
void pexcp_exp(const float *in, float *out, int n);
void pexcp_log(const float *in, float *out, int n);
void pexcp_sqrt(const float *in, float *out, int n);
void pexcp_abs(const float *in, float *out, int n);
void pexcp_neg(const float *in, float *out, int n);
void pexcp_reciprocal(const float *in, float *out, int n);

/* ---- reductions over the middle axis of outer x n x inner ---- */
void pexcp_log_softmax(const float *in, float *out, int outer, int n, int inner);
void pexcp_reduce_max(const float *in, float *out, int outer, int reduce, int inner);
void pexcp_reduce_sum(const float *in, float *out, int outer, int reduce, int inner);
/* index of the largest (ArgMax) or smallest (ArgMin) value, the first one or with `last` the last one */
void pexcp_arg_max(const float *in, void *out, int outer, int n, int inner, int last);
void pexcp_arg_min(const float *in, void *out, int outer, int n, int inner, int last);

/* ---- MatMul with batch axes (numpy broadcasting: stride 0 along broadcast batch axes) ---- */
typedef struct {
    int batch[2];                         /* the output's batch axes (1 when absent) */
    long a_strides[2], b_strides[2];      /* elements between batch items of each operand */
    int m, n, k;
} pexcp_matmul_params;

/* out[b] = a[b] (m x k) times b[b] (k x n), out contiguous */
void pexcp_matmul(const pexcp_matmul_params *p, const float *a, const float *b, float *out);

/* ---- ConvTranspose (1-D as one row), gathered per output pixel ---- */
typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
    int group;
    float act_min, act_max;
} pexcp_conv_transpose_params;

/* Output channels [oc0, oc1) from input channels [ic0, ic1) (modes as pexcp_conv); `in` points at input
 * channel ic0, `out` at output channel oc0; weights are [in_c][out_c / group][k_h][k_w]; bias may be NULL. */
void pexcp_conv_transpose(const pexcp_conv_transpose_params *p, const float *in, float *out, const float *w,
                          const float *bias, int oc0, int oc1, int ic0, int ic1, int mode);

#endif
