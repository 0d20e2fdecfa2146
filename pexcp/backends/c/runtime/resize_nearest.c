/* Resize / Upsample, nearest neighbour, on elements of any size: the source row and column of every
 * output row and column are tables the compiler computed (every coordinate transformation and rounding
 * mode reduces to them). */
#include "pexcp_runtime.h"

void pexcp_resize_nearest(const pexcp_resize_params *p, const void *in, void *out, const int32_t *iy,
                          const int32_t *ix, int planes)
{
    const int e = p->elem;
    const long in_plane = (long)p->in_h * p->in_w;
    const unsigned char *x = in;
    unsigned char *y = out;
    for (int c = 0; c < planes; ++c, x += in_plane * e)
        for (int h = 0; h < p->out_h; ++h) {
            const unsigned char *row = x + (long)iy[h] * p->in_w * e;
            for (int w = 0; w < p->out_w; ++w, y += e)
                pexcp_move(y, row + (long)ix[w] * e, e);
        }
}
