/* Concat: each input is copied into its place in the output, one call per input. */
#include "pexcp_runtime.h"

void pexcp_concat(const float *in, float *out, int outer, int in_block, int out_block)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < in_block; ++i)
            out[(long)o * out_block + i] = in[(long)o * in_block + i];
}
