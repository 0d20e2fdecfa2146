/* MaxPool and AveragePool over 2-D windows (1-D pools arrive as in_h = 1). They share the window
 * arithmetic, as TFLite Micro's pooling kernels do. */
#include "pexcp_runtime.h"

typedef struct {
    int lo, hi;  /* taps inside the input */
    int padded;  /* taps inside the padded input (AveragePool's count_include_pad divisor) */
} window;

static window taps(int start, int dil, int k, int size, int pad_end)
{
    window w;
    w.lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
    w.hi = size <= start ? 0 : (size - start + dil - 1) / dil;
    if (w.hi > k)
        w.hi = k;
    w.padded = (size + pad_end - start + dil - 1) / dil;
    if (w.padded > k)
        w.padded = k;
    return w;
}

static void pool(const pexcp_pool_params *p, const float *in, float *out, int c0, int c1, int is_max)
{
    for (int c = c0; c < c1; ++c) {
        const float *ic = in + (long)(c - c0) * p->in_cs;
        float *o = out + (long)(c - c0) * p->out_cs;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const window wy = taps(iy0, p->dil_h, p->k_h, p->in_h, p->pad_b);
            for (int ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_l;
                const window wx = taps(ix0, p->dil_w, p->k_w, p->in_w, p->pad_r);
                float acc = is_max ? -INFINITY : 0.0f;
                for (int ky = wy.lo; ky < wy.hi; ++ky) {
                    const float *row = ic + (iy0 + ky * p->dil_h) * p->in_w + ix0 + wx.lo * p->dil_w;
                    for (int kx = 0; kx < wx.hi - wx.lo; ++kx) {
                        const float v = row[kx * p->dil_w];
                        if (is_max)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                    }
                }
                if (!is_max) {
                    const int count = p->count_include_pad ? wy.padded * wx.padded
                                                           : (wy.hi - wy.lo) * (wx.hi - wx.lo);
                    acc = count > 0 ? acc / (float)count : 0.0f;
                }
                o[oy * p->out_w + ox] = acc;
            }
        }
    }
}

void pexcp_max_pool(const pexcp_pool_params *p, const float *in, float *out, int c0, int c1)
{
    pool(p, in, out, c0, c1, 1);
}

void pexcp_average_pool(const pexcp_pool_params *p, const float *in, float *out, int c0, int c1)
{
    pool(p, in, out, c0, c1, 0);
}
