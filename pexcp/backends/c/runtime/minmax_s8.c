/* MAXIMUM and MINIMUM on int8 (TFLite Micro's maximum_minimum: no requantization). */
#include "pexcp_s8.h"

static void minmax(const pexcp_broadcast_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int c0, int c1,
                   int max)
{
    const int *d = p->dims, *sa = p->a_strides, *sb = p->b_strides;
    for (int n = 0; n < d[0]; ++n)
        for (int c = c0; c < c1; ++c)
            for (int h = 0; h < d[2]; ++h) {
                const int8_t *x = a + (long)n * sa[0] + (long)(c - c0) * sa[1] + (long)h * sa[2];
                const int8_t *y = b + (long)n * sb[0] + (long)(c - c0) * sb[1] + (long)h * sb[2];
                for (int w = 0; w < d[3]; ++w) {
                    const int8_t u = x[(long)w * sa[3]], v = y[(long)w * sb[3]];
                    *out++ = max ? (u > v ? u : v) : (u < v ? u : v);
                }
            }
}

void pexcp_maximum_s8(const pexcp_broadcast_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int c0, int c1)
{
    minmax(p, a, b, out, c0, c1, 1);
}

void pexcp_minimum_s8(const pexcp_broadcast_s8_params *p, const int8_t *a, const int8_t *b, int8_t *out, int c0, int c1)
{
    minmax(p, a, b, out, c0, c1, 0);
}
