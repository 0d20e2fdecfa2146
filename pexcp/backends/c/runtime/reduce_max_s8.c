/* REDUCE_MAX on int8 with the input's scale and zero point (TFLite Micro requires them equal). */
#include "pexcp_s8.h"

void pexcp_reduce_max_s8(const int8_t *in, int8_t *out, int outer, int n, int inner)
{
    for (int o = 0; o < outer; ++o)
        for (int i = 0; i < inner; ++i) {
            const int8_t *x = in + (long)o * n * inner + i;
            int8_t m = x[0];
            for (int j = 1; j < n; ++j)
                m = x[(long)j * inner] > m ? x[(long)j * inner] : m;
            out[(long)o * inner + i] = m;
        }
}
