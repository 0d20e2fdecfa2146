/* The float boundary of int8 models (TFLite Micro's QUANTIZE and DEQUANTIZE) and int8 -> int8 requantize.
 * Quantize divides in float and rounds halves away from zero (roundf) without libm; dequantize's
 * double product of TFLite Micro is exact for 8-bit values, so the float product (one rounding of the same
 * exact value) gives the same bits. */
#include "pexcp_s8.h"

/* roundf(y) for |y| < 2^30: truncation plus the exact float remainder */
static int32_t round_half_away(float y)
{
    const int32_t t = (int32_t)y;
    const float frac = y - (float)t;
    return t + (frac >= 0.5f) - (frac <= -0.5f);
}

void pexcp_quantize_s8(const float *in, int8_t *out, int n, float scale, int32_t zero_point)
{
    for (int i = 0; i < n; ++i) {
        float y = in[i] / scale;
        if (!(y > -1e6f)) /* also NaN: TFLite Micro gives -128 there on hosts */
            y = -1e6f;
        if (y > 1e6f)
            y = 1e6f;
        out[i] = (int8_t)pexcp_clamp_s32(round_half_away(y) + zero_point, -128, 127);
    }
}

void pexcp_dequantize_s8(const int8_t *in, float *out, int n, float scale, int32_t zero_point)
{
    for (int i = 0; i < n; ++i)
        out[i] = scale * (float)(in[i] - zero_point);
}

void pexcp_requantize_s8(const int8_t *in, int8_t *out, int n, int32_t in_offset, int32_t mult, int32_t shift,
                         int32_t out_offset)
{
    for (int i = 0; i < n; ++i)
        out[i] = (int8_t)pexcp_clamp_s32(pexcp_mbqm(in[i] + in_offset, mult, shift) + out_offset, -128, 127);
}
