/* Fully connected int8 (MatMul / Gemm with constant weights): TFLite Micro's
 * reference_integer_ops::FullyConnected(PerChannel): sum of w * (x + in_offset), plus the bias,
 * MultiplyByQuantizedMultiplier, + out_offset, clamp. */
#include "pexcp_s8.h"

static void finish(const pexcp_fc_s8_params *p, int32_t s, int8_t *out, int32_t *acc, long i, int32_t m, int32_t sh,
                   int mode)
{
    if (mode & PEXCP_ACT)
        out[i] = (int8_t)pexcp_clamp_s32(pexcp_requant(s, m, sh) + p->out_offset, p->act_min, p->act_max);
    else
        acc[i] = s;
}

#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
#include "pexcp_s8_dsp.h"

/* each input row widened once to int16 (slot order) in the scratch, then two weight rows at a time */
static void fully_connected_dsp(const pexcp_fc_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                                const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                int n0, int n1, int k0, int k1, int mode, int16_t *col)
{
    const int len = k1 - k0;
    const int16_t off = (int16_t)p->in_offset;
    for (int m = 0; m < p->m; ++m) {
        const int8_t *x = in + (long)m * p->k;
        for (int i = 0; i < len; ++i)
            col[PEXCP_S8_SLOT(i)] = (int16_t)(x[i] + off);
        for (int n = n0; n < n1; n += 2) {
            const int pair = n + 1 < n1;
            const long i = (long)m * p->n + (n - n0);
            int32_t s[4];
            s[0] = (mode & PEXCP_INIT) ? (bias ? bias[n] : 0) : acc[i];
            s[2] = !pair ? 0 : (mode & PEXCP_INIT) ? (bias ? bias[n + 1] : 0) : acc[i + 1];
            s[1] = s[3] = 0;
            const int8_t *w0 = w + (long)n * p->k + k0;
            pexcp_dot2x2(w0, pair ? w0 + p->k : w0, col, col, len, s);
            finish(p, s[0], out, acc, i, mult[n], shift[n], mode);
            if (pair)
                finish(p, s[2], out, acc, i + 1, mult[n + 1], shift[n + 1], mode);
        }
    }
}
#endif

void pexcp_fully_connected_s8(const pexcp_fc_s8_params *p, const int8_t *in, int8_t *out, int32_t *acc,
                              const int8_t *w, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int n0, int n1, int k0, int k1, int mode, void *scratch)
{
#if defined(__ARM_FEATURE_DSP) && !defined(PEXCP_NO_DSP)
    if (scratch) {
        fully_connected_dsp(p, in, out, acc, w, bias, mult, shift, n0, n1, k0, k1, mode, (int16_t *)scratch);
        return;
    }
#else
    (void)scratch;
#endif
    const int32_t off = p->in_offset;
    for (int m = 0; m < p->m; ++m) {
        const int8_t *x = in + (long)m * p->k;
        for (int n = n0; n < n1; ++n) {
            const int8_t *w_row = w + (long)n * p->k + k0;
            const long i = (long)m * p->n + (n - n0);
            int32_t s = (mode & PEXCP_INIT) ? (bias ? bias[n] : 0) : acc[i];
            for (int k = 0; k < k1 - k0; ++k)
                s += (int32_t)w_row[k] * ((int32_t)x[k] + off);
            finish(p, s, out, acc, i, mult[n], shift[n], mode);
        }
    }
}
