/* Log. */
#include "pexcp_runtime.h"

void pexcp_log(const float *in, float *out, int n)
{
    for (int i = 0; i < n; ++i)
        out[i] = logf(in[i]);
}
