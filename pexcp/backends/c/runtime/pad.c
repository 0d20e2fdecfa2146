/* Pad: constant, reflect and edge modes over up to four axes (negative pads crop). */
#include "pexcp_runtime.h"

/* the input index output index `o` reads along one axis, or -1 for the constant value */
static int source(int o, int begin, int size, int mode)
{
    int i = o - begin;
    if (i >= 0 && i < size)
        return i;
    if (mode == PEXCP_PAD_CONSTANT)
        return -1;
    if (mode == PEXCP_PAD_EDGE || size == 1)
        return i < 0 ? 0 : size - 1;
    while (i < 0 || i >= size) /* reflect: mirror at the first and last element, which are not repeated */
        i = i < 0 ? -i : 2 * (size - 1) - i;
    return i;
}

void pexcp_pad(const pexcp_pad_params *p, const float *in, float *out, int c0, int c1)
{
    const int *id = p->in_dims, *od = p->out_dims;
    const long in_hw = (long)id[2] * id[3], out_hw = (long)od[2] * od[3];
    for (int n = 0; n < od[0]; ++n) {
        const int sn = source(n, p->begin[0], id[0], p->mode);
        for (int c = c0; c < c1; ++c) {
            const int sc = source(c, p->begin[1], id[1], p->mode);
            float *y = out + ((long)n * od[1] + (c - c0)) * out_hw;
            for (int h = 0; h < od[2]; ++h) {
                const int sh = source(h, p->begin[2], id[2], p->mode);
                for (int w = 0; w < od[3]; ++w) {
                    const int sw = source(w, p->begin[3], id[3], p->mode);
                    const int inside = sn >= 0 && sc >= 0 && sh >= 0 && sw >= 0;
                    *y++ = inside ? in[((long)sn * id[1] + (sc - c0)) * in_hw + (long)sh * id[3] + sw] : p->value;
                }
            }
        }
    }
}
