/* Relu and Clip (ReLU6): a clamp to [lo, hi]. */
#include "pexcp_runtime.h"

void pexcp_clip(const float *in, float *out, int n, float lo, float hi)
{
    for (int i = 0; i < n; ++i)
        out[i] = pexcp_clamp(in[i], lo, hi);
}
