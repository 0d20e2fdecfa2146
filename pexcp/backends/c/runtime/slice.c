/* Slice (steps, negative steps, axes), StridedSlice and the outputs of Split: a strided gather of the input,
 * on elements of any size. */
#include "pexcp_runtime.h"

void pexcp_slice(const pexcp_slice_params *p, const void *in, void *out, int c0, int c1)
{
    const int *d = p->out_dims;
    const long *s = p->in_strides;
    const int e = p->elem;
    const unsigned char *x = (const unsigned char *)in + p->in_start * e;
    unsigned char *y = out;
    for (int n = 0; n < d[0]; ++n)
        for (int c = c0; c < c1; ++c)
            for (int h = 0; h < d[2]; ++h) {
                const unsigned char *row = x + ((long)n * s[0] + (long)(c - c0) * s[1] + (long)h * s[2]) * e;
                if (s[3] == 1) { /* a contiguous run */
                    memcpy(y, row, (size_t)d[3] * (size_t)e);
                    y += (long)d[3] * e;
                } else {
                    for (int w = 0; w < d[3]; ++w, y += e)
                        pexcp_move(y, row + (long)w * s[3] * e, e);
                }
            }
}
