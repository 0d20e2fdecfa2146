/* HardSigmoid: max(0, min(1, alpha * x + beta)). */
#include "pexcp_runtime.h"

void pexcp_hard_sigmoid(const float *in, float *out, int n, float alpha, float beta)
{
    for (int i = 0; i < n; ++i)
        out[i] = pexcp_clamp(alpha * in[i] + beta, 0.0f, 1.0f);
}
