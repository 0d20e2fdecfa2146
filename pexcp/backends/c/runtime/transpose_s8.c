/* Transpose int8: walks the output in order and reads the input through permuted strides. */
#include "pexcp_s8.h"

void pexcp_transpose_s8(const pexcp_transpose_s8_params *p, const int8_t *in, int8_t *out)
{
    const int *d = p->out_dims, *s = p->in_strides;
    for (int i0 = 0; i0 < d[0]; ++i0)
        for (int i1 = 0; i1 < d[1]; ++i1)
            for (int i2 = 0; i2 < d[2]; ++i2)
                for (int i3 = 0; i3 < d[3]; ++i3)
                    *out++ = in[(long)i0 * s[0] + (long)i1 * s[1] + (long)i2 * s[2] + (long)i3 * s[3]];
}
