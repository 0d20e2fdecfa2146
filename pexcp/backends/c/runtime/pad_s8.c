/* Pad int8 with a constant (TFLite Micro's PAD: the output zero point unless a value is given), NCHW over
 * four axes; negative pads crop. */
#include "pexcp_s8.h"

void pexcp_pad_s8(const pexcp_pad_s8_params *p, const int8_t *in, int8_t *out, int c0, int c1)
{
    const int *id = p->in_dims, *od = p->out_dims;
    const long in_hw = (long)id[2] * id[3];
    const int8_t value = (int8_t)p->value;
    for (int n = 0; n < od[0]; ++n) {
        const int sn = n - p->begin[0];
        for (int c = c0; c < c1; ++c) {
            const int sc = c - p->begin[1];
            const int plane = sn >= 0 && sn < id[0] && sc >= 0 && sc < id[1];
            for (int h = 0; h < od[2]; ++h) {
                const int sh = h - p->begin[2];
                const int row = plane && sh >= 0 && sh < id[2];
                const int8_t *x = row ? in + ((long)sn * id[1] + (sc - c0)) * in_hw + (long)sh * id[3] : 0;
                for (int w = 0; w < od[3]; ++w) {
                    const int sw = w - p->begin[3];
                    *out++ = row && sw >= 0 && sw < id[3] ? x[sw] : value;
                }
            }
        }
    }
}
