/* Gemm and MatMul: Y = alpha * A B + bias. Constant B arrives transposed (N x K) so that both operands of
 * the inner product are read contiguously; four output columns share each load of A. */
#include "pexcp_runtime.h"

static float dot(const float *a, int a_step, const float *b, int b_step, int len)
{
    float s = 0.0f;
    for (int i = 0; i < len; ++i)
        s += a[(long)i * a_step] * b[(long)i * b_step];
    return s;
}

static void finish(const pexcp_gemm_params *p, float *y, float s, const float *bias, int mode)
{
    s *= p->alpha;
    s = (mode & PEXCP_INIT) ? s + (bias ? *bias : 0.0f) : *y + s;
    *y = (mode & PEXCP_ACT) ? pexcp_clamp(s, p->act_min, p->act_max) : s;
}

void pexcp_gemm(const pexcp_gemm_params *p, const float *a, float *y, const float *b, const float *bias,
                int n0, int n1, int k0, int k1, int mode)
{
    const int len = k1 - k0;
    const int a_step = p->trans_a ? p->m : 1;
    const int b_step = p->trans_b ? 1 : p->n;
    for (int m = 0; m < p->m; ++m) {
        const float *a_row = p->trans_a ? a + m : a + (long)m * p->k;
        const float *bias_row = bias && p->bias_rows ? bias + (long)m * p->n : bias;
        float *y_row = y + (long)m * p->n; /* y points at column n0 */
        int n = n0;
        if (a_step == 1 && b_step == 1) {
            for (; n + 4 <= n1; n += 4) {
                const float *b0 = b + (long)n * p->k + k0, *b1 = b0 + p->k, *b2 = b1 + p->k, *b3 = b2 + p->k;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
                for (int i = 0; i < len; ++i) {
                    const float x = a_row[i];
                    s0 += x * b0[i];
                    s1 += x * b1[i];
                    s2 += x * b2[i];
                    s3 += x * b3[i];
                }
                finish(p, y_row + (n - n0), s0, bias_row ? bias_row + n : 0, mode);
                finish(p, y_row + (n - n0) + 1, s1, bias_row ? bias_row + n + 1 : 0, mode);
                finish(p, y_row + (n - n0) + 2, s2, bias_row ? bias_row + n + 2 : 0, mode);
                finish(p, y_row + (n - n0) + 3, s3, bias_row ? bias_row + n + 3 : 0, mode);
            }
        }
        for (; n < n1; ++n) {
            const float *b_col = p->trans_b ? b + (long)n * p->k + k0 : b + (long)k0 * p->n + n;
            finish(p, y_row + (n - n0), dot(a_row, a_step, b_col, b_step, len), bias_row ? bias_row + n : 0, mode);
        }
    }
}
