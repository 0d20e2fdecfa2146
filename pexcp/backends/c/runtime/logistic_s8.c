/* Logistic int8 (TFLite Micro's reference_integer_ops::Logistic): the input in Q4.27, gemmlowp's
 * fixed-point logistic, output scale 1/256 and zero point -128; inputs beyond the radius saturate. */
#include "pexcp_s8.h"

void pexcp_logistic_s8(const pexcp_logistic_s8_params *p, const int8_t *in, int8_t *out, int n)
{
    for (int i = 0; i < n; ++i) {
        const int32_t x = in[i] - p->in_zp;
        if (x <= -p->radius) {
            out[i] = -128;
        } else if (x >= p->radius) {
            out[i] = 127;
        } else {
            const int32_t a = pexcp_mbqm(x, p->mult, p->shift); /* Q4.27 */
            int32_t r;
            if (a == 0) {
                r = 1 << 30;
            } else {
                const int32_t abs_a = a > 0 ? a : -a;
                const int32_t pos = pexcp_one_over_one_plus_x(pexcp_exp_on_negative_values(-abs_a, 4));
                r = a > 0 ? pos : INT32_MAX - pos;
            }
            out[i] = (int8_t)pexcp_clamp_s32(pexcp_rdpot(r, 23) - 128, -128, 127);
        }
    }
}
