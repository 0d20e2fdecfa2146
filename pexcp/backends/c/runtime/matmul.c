/* MatMul with up to two batch axes broadcast numpy-style (a batch stride of 0 repeats an operand). */
#include "pexcp_runtime.h"

void pexcp_matmul(const pexcp_matmul_params *p, const float *a, const float *b, float *out)
{
    const int m = p->m, n = p->n, k = p->k;
    for (int b0 = 0; b0 < p->batch[0]; ++b0)
        for (int b1 = 0; b1 < p->batch[1]; ++b1) {
            const float *x = a + b0 * p->a_strides[0] + b1 * p->a_strides[1];
            const float *w = b + b0 * p->b_strides[0] + b1 * p->b_strides[1];
            for (int i = 0; i < m; ++i)
                for (int j = 0; j < n; ++j) {
                    float s = 0.0f;
                    for (int t = 0; t < k; ++t)
                        s += x[(long)i * k + t] * w[(long)t * n + j];
                    *out++ = s;
                }
        }
}
