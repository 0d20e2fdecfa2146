/* LogSoftmax over the middle axis of outer x n x inner: x - max - log(sum(exp(x - max))). */
#include "pexcp_runtime.h"

void pexcp_log_softmax(const float *in, float *out, int outer, int n, int inner)
{
    for (int o = 0; o < outer; ++o) {
        for (int i = 0; i < inner; ++i) {
            const float *x = in + (long)o * n * inner + i;
            float *y = out + (long)o * n * inner + i;
            float top = x[0];
            for (int j = 1; j < n; ++j)
                top = x[(long)j * inner] > top ? x[(long)j * inner] : top;
            float sum = 0.0f;
            for (int j = 0; j < n; ++j)
                sum += expf(x[(long)j * inner] - top);
            const float shift = top + logf(sum);
            for (int j = 0; j < n; ++j)
                y[(long)j * inner] = x[(long)j * inner] - shift;
        }
    }
}
