/* ArgMax and ArgMin over the middle axis of outer x n x inner, int64 indices (written bytewise: the
 * plan aligns buffers to 4 bytes only): the first extreme value, or
 * the last with `last` (select_last_index). */
#include "pexcp_runtime.h"

static void arg(const float *in, void *out, int outer, int n, int inner, int last, int sign)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) {
            const float *x = in + (long)o * n * inner + i;
            int best = 0;
            for (int j = 1; j < n; ++j) {
                const float a = sign * x[(long)j * inner], b = sign * x[(long)best * inner];
                if (a > b || (last && a == b))
                    best = j;
            }
            const int64_t index = best;
            memcpy((char *)out + ((long)o * inner + i) * 8, &index, 8);
        }
}

void pexcp_arg_max(const float *in, void *out, int outer, int n, int inner, int last)
{
    arg(in, out, outer, n, inner, last, 1);
}

void pexcp_arg_min(const float *in, void *out, int outer, int n, int inner, int last)
{
    arg(in, out, outer, n, inner, last, -1);
}
