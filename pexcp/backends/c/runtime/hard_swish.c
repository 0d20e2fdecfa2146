/* HardSwish: x * max(0, min(1, x / 6 + 1/2)). */
#include "pexcp_runtime.h"

void pexcp_hard_swish(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = in[i] * pexcp_clamp(in[i] * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
}
