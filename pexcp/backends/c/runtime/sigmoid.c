/* Sigmoid: 1 / (1 + exp(-x)). */
#include "pexcp_runtime.h"

void pexcp_sigmoid(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = 1.0f / (1.0f + expf(-in[i]));
}
