/* LeakyRelu: x for x >= 0, alpha * x below. */
#include "pexcp_runtime.h"

void pexcp_leaky_relu(const float *in, float *out, int n, float alpha)
{
    for (int i = 0; i < n; ++i)
        out[i] = in[i] < 0.0f ? alpha * in[i] : in[i];
}
