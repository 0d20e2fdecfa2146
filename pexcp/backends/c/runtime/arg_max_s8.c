/* ARG_MAX and ARG_MIN of int8 values (a positive scale keeps their order): int64 indices (written
 * bytewise: the plan aligns buffers to 4 bytes only). */
#include <string.h>

#include "pexcp_s8.h"

static void arg(const int8_t *in, void *out, int outer, int n, int inner, int last, int sign)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) {
            const int8_t *x = in + (long)o * n * inner + i;
            int best = 0;
            for (int j = 1; j < n; ++j) {
                const int a = sign * x[(long)j * inner], b = sign * x[(long)best * inner];
                if (a > b || (last && a == b))
                    best = j;
            }
            const int64_t index = best;
            memcpy((char *)out + ((long)o * inner + i) * 8, &index, 8);
        }
}

void pexcp_arg_max_s8(const int8_t *in, void *out, int outer, int n, int inner, int last)
{
    arg(in, out, outer, n, inner, last, 1);
}

void pexcp_arg_min_s8(const int8_t *in, void *out, int outer, int n, int inner, int last)
{
    arg(in, out, outer, n, inner, last, -1);
}
