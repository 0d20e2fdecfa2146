/* SpaceToDepth, one image: out[(i * b + j) * C + c][h][w] = in[c][h * b + i][w * b + j]. */
#include "pexcp_runtime.h"

void pexcp_space_to_depth(const pexcp_d2s_params *p, const void *in, void *out)
{
    const int b = p->block, e = p->elem, oh = p->in_h / b, ow = p->in_w / b;
    const unsigned char *x = in;
    unsigned char *y = out;
    for (int i = 0; i < b; ++i)
        for (int j = 0; j < b; ++j)
            for (int c = 0; c < p->in_c; ++c)
                for (int h = 0; h < oh; ++h)
                    for (int w = 0; w < ow; ++w, y += e)
                        pexcp_move(y, x + (((long)c * p->in_h + (long)h * b + i) * p->in_w + (long)w * b + j) * e, e);
}
