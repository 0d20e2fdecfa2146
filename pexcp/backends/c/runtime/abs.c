/* Abs. */
#include "pexcp_runtime.h"

void pexcp_abs(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = fabsf(in[i]);
}
