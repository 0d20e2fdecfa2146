/* Average and max pooling int8 (TFLite Micro's reference_integer_ops::AveragePool / MaxPool): only taps
 * inside the input count; the average rounds halves away from zero with C division. */
#include "pexcp_s8.h"

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* the average (is_max == 0) or the maximum of the in-image taps of each window */
static void pool(const pexcp_pool_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1, int is_max)
{
    for (int c = c0; c < c1; ++c) {
        const int8_t *x = in + (long)(c - c0) * p->in_cs;
        int8_t *o = out + (long)(c - c0) * p->out_cs;
        for (int oy = 0; oy < p->out_h; ++oy) {
            const int iy0 = oy * p->stride_h - p->pad_t;
            const int y_lo = max_int(0, -iy0), y_hi = min_int(p->k_h, p->in_h - iy0);
            for (int ox = 0; ox < p->out_w; ++ox) {
                const int ix0 = ox * p->stride_w - p->pad_l;
                const int x_lo = max_int(0, -ix0), x_hi = min_int(p->k_w, p->in_w - ix0);
                int32_t sum = 0, max = -128;
                int count = 0;
                for (int ky = y_lo; ky < y_hi; ++ky)
                    for (int kx = x_lo; kx < x_hi; ++kx, ++count) {
                        const int32_t v = x[(long)(iy0 + ky) * p->in_w + ix0 + kx];
                        sum += v;
                        max = v > max ? v : max;
                    }
                int32_t y = max;
                if (!is_max)
                    y = count == 0 ? 0 : sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                *o++ = (int8_t)pexcp_clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}

void pexcp_average_pool_s8(const pexcp_pool_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1)
{
    pool(p, in, out, c0, c1, 0);
}

void pexcp_max_pool_s8(const pexcp_pool_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1)
{
    pool(p, in, out, c0, c1, 1);
}
