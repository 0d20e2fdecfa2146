/* Sqrt. */
#include "pexcp_runtime.h"

void pexcp_sqrt(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = sqrtf(in[i]);
}
