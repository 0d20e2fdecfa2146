/* RESIZE_BILINEAR int8 (TFLite Micro's ResizeBilinearInteger with double rounding): 10-bit fixed-point
 * weights, a 64-bit sum of the four neighbours, rounded half away from zero by 2^20. */
#include "pexcp_s8.h"

void pexcp_resize_bilinear_s8(const int8_t *in, int8_t *out, int in_h, int in_w, int out_h, int out_w,
                              const int32_t *y0, const int32_t *y1, const int32_t *fy, const int32_t *x0,
                              const int32_t *x1, const int32_t *fx, int planes)
{
    const long in_plane = (long)in_h * in_w;
    for (int c = 0; c < planes; ++c, in += in_plane)
        for (int y = 0; y < out_h; ++y) {
            const int8_t *top = in + (long)y0[y] * in_w, *bottom = in + (long)y1[y] * in_w;
            const int64_t wy1 = fy[y], wy0 = 1024 - wy1;
            for (int x = 0; x < out_w; ++x) {
                const int64_t wx1 = fx[x], wx0 = 1024 - wx1;
                const int64_t s = top[x0[x]] * wy0 * wx0 + bottom[x0[x]] * wy1 * wx0 + top[x1[x]] * wy0 * wx1 +
                                  bottom[x1[x]] * wy1 * wx1;
                const int64_t round = s > 0 ? (1 << 19) : -(1 << 19);
                *out++ = (int8_t)((s + round) / (1 << 20));
            }
        }
}
