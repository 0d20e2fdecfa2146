/* Tanh. */
#include "pexcp_runtime.h"

void pexcp_tanh(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = tanhf(in[i]);
}
