/* Concat int8: each input is copied into its place in the output, one call per input. */
#include "pexcp_s8.h"

void pexcp_concat_s8(const int8_t *in, int8_t *out, int outer, int in_block, int out_block)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < in_block; ++i)
            out[(long)o * out_block + i] = in[(long)o * in_block + i];
}
