/* Fully connected int8 (MatMul / Gemm with constant weights): TFLite Micro's
 * reference_integer_ops::FullyConnected(PerChannel): sum of w * (x + in_offset), plus the bias,
 * MultiplyByQuantizedMultiplier, + out_offset, clamp. */
#include "pexcp_s8.h"

void pexcp_fully_connected_s8(const pexcp_fc_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                              const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int n0, int n1, int k0, int k1, int mode, void *scratch)
{
    (void)scratch;
    const int32_t off = p->in_offset;
    for (int m = 0; m < p->m; ++m) {
        const int8_t *x = in + (long)m * p->k;
        for (int n = n0; n < n1; ++n) {
            const int8_t *w_row = w + (long)n * p->k + k0;
            const long i = (long)m * p->n + (n - n0);
            int32_t s = (mode & PEXCP_INIT) ? (bias ? bias[n] : 0) : acc[i];
            for (int k = 0; k < k1 - k0; ++k)
                s += (int32_t)w_row[k] * ((int32_t)x[k] + off);
            if (mode & PEXCP_ACT)
                out[i] = (int8_t)pexcp_clamp_s32(pexcp_mbqm(s, mult[n], shift[n]) + p->out_offset, p->act_min,
                                                 p->act_max);
            else
                acc[i] = s;
        }
    }
}
