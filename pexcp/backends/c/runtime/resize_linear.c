/* Resize / Upsample, (bi)linear: each output pixel mixes the four input pixels at rows y0, y1 and columns
 * x0, x1 (tables the compiler computed for the coordinate transformation mode, clamped to the edges). */
#include "pexcp_runtime.h"

void pexcp_resize_linear(const pexcp_resize_params *p, const float *in, float *out, const int32_t *y0,
                         const int32_t *y1, const float *fy, const int32_t *x0, const int32_t *x1, const float *fx,
                         int planes)
{
    const long in_plane = (long)p->in_h * p->in_w;
    float *y = out;
    for (int c = 0; c < planes; ++c, in += in_plane)
        for (int h = 0; h < p->out_h; ++h) {
            const float *top = in + (long)y0[h] * p->in_w, *bottom = in + (long)y1[h] * p->in_w;
            const float dy1 = fy[h], dy0 = 1.0f - dy1;
            for (int w = 0; w < p->out_w; ++w) {
                const float dx1 = fx[w], dx0 = 1.0f - dx1;
                *y++ = dx0 * dy0 * top[x0[w]] + dx1 * dy0 * top[x1[w]] + dx0 * dy1 * bottom[x0[w]] +
                       dx1 * dy1 * bottom[x1[w]];
            }
        }
}
