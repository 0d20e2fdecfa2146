/* Gather along one axis with constant (already non-negative) indices, on elements of any size. */
#include "pexcp_runtime.h"

void pexcp_gather(const void *in, void *out, long outer, long axis, long inner, const int32_t *idx, int n_idx, int elem)
{
    const unsigned char *x = in;
    unsigned char *y = out;
    const size_t run = (size_t)inner * (size_t)elem;
    for (long o = 0; o < outer; ++o)
        for (int i = 0; i < n_idx; ++i, y += run)
            memcpy(y, x + ((o * axis + idx[i]) * inner) * elem, run);
}
