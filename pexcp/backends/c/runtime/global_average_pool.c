/* GlobalAveragePool: the mean of each channel over all its other axes. */
#include "pexcp_runtime.h"

void pexcp_global_average_pool(const float *in, float *out, int inner, int c0, int c1)
{
    for (int c = c0; c < c1; ++c) {
        const float *x = in + (long)(c - c0) * inner;
        float s = 0.0f;
        for (int i = 0; i < inner; ++i)
            s += x[i];
        out[c - c0] = s / (float)inner;
    }
}
