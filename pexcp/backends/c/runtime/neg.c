/* Neg. */
#include "pexcp_runtime.h"

void pexcp_neg(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = -in[i];
}
