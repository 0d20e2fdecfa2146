/* Data movement on one-byte elements (int8 models): Reshape-family copies, Transposes that move data, and
 * Concat inputs copied into their place. The float32 versions are copy.c, transpose.c and concat.c. */
#include "pexcp_runtime.h"

void pexcp_copy_bytes(const void *in, void *out, long n)
{
    const unsigned char *x = in;
    unsigned char *y = out;
    for (long i = 0; i < n; ++i)
        y[i] = x[i];
}

void pexcp_transpose_bytes(const pexcp_transpose_params *p, const void *in, void *out)
{
    const int *d = p->out_dims, *s = p->in_strides;
    const unsigned char *x = in;
    unsigned char *y = out;
    for (int i0 = 0; i0 < d[0]; ++i0)
        for (int i1 = 0; i1 < d[1]; ++i1)
            for (int i2 = 0; i2 < d[2]; ++i2)
                for (int i3 = 0; i3 < d[3]; ++i3)
                    *y++ = x[(long)i0 * s[0] + (long)i1 * s[1] + (long)i2 * s[2] + (long)i3 * s[3]];
}

void pexcp_concat_bytes(const void *in, void *out, int outer, long in_block, long out_block)
{
    const unsigned char *x = in;
    unsigned char *y = out;
    for (int o = 0; o < outer; ++o)
        for (long i = 0; i < in_block; ++i)
            y[(long)o * out_block + i] = x[(long)o * in_block + i];
}
