/* ReduceMax over one contiguous run of axes: the input is viewed as outer x reduce x inner. */
#include "pexcp_runtime.h"

void pexcp_reduce_max(const float *in, float *out, int outer, int reduce, int inner)
{
    for (int o = 0; o < outer; ++o) {
        const float *x = in + (long)o * reduce * inner;
        for (int i = 0; i < inner; ++i) {
            float s = x[i];
            for (int r = 1; r < reduce; ++r)
                s = x[(long)r * inner + i] > s ? x[(long)r * inner + i] : s;
            out[(long)o * inner + i] = s;
        }
    }
}
