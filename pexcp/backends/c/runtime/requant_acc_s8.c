/* Finishing step of input-channel accumulation: int32 sums -> int8, per output channel, possibly in place
 * (the int8 output over the accumulator's own bytes: element i is written after element i is read). */
#include "pexcp_s8.h"

void pexcp_requant_acc_s8(const int32_t *acc, int8_t *out, int inner, const int32_t *mult, const int32_t *shift,
                          int32_t out_offset, int32_t act_min, int32_t act_max, int c0, int c1)
{
    for (int c = c0; c < c1; ++c) {
        const int32_t m = mult[c], sh = shift[c];
        for (int i = 0; i < inner; ++i) {
            const int32_t s = *acc++;
            *out++ = (int8_t)pexcp_clamp_s32(pexcp_requant(s, m, sh) + out_offset, act_min, act_max);
        }
    }
}
