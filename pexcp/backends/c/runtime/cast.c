/* Cast between float32 and the integer and bool types models use. Integers convert through int64_t and
 * floats through double, so every value of the source type reaches the conversion exactly; float to
 * integer truncates toward zero (values must be in range, as in C), anything to bool is (x != 0). */
#include "pexcp_runtime.h"

static int is_float(int type)
{
    return type == PEXCP_T_F32;
}

static int64_t load_i(const void *in, int type, long i)
{
    switch (type) {
    case PEXCP_T_I8:
        return ((const int8_t *)in)[i];
    case PEXCP_T_U8:
    case PEXCP_T_BOOL:
        return ((const uint8_t *)in)[i];
    case PEXCP_T_I16:
        return ((const int16_t *)in)[i];
    case PEXCP_T_I32:
        return ((const int32_t *)in)[i];
    default: {
        int64_t v; /* int64 buffers may be only 4-byte aligned in the arena */
        memcpy(&v, (const char *)in + i * 8, 8);
        return v;
    }
    }
}

void pexcp_cast(const void *in, int in_type, void *out, int out_type, long n)
{
    for (long i = 0; i < n; ++i) {
        const int from_float = is_float(in_type);
        const double f = from_float ? (double)((const float *)in)[i] : 0.0;
        const int64_t v = from_float ? 0 : load_i(in, in_type, i);
        switch (out_type) {
        case PEXCP_T_F32:
            ((float *)out)[i] = from_float ? (float)f : (float)v;
            break;
        case PEXCP_T_I8:
            ((int8_t *)out)[i] = from_float ? (int8_t)f : (int8_t)v;
            break;
        case PEXCP_T_U8:
            ((uint8_t *)out)[i] = from_float ? (uint8_t)f : (uint8_t)v;
            break;
        case PEXCP_T_I16:
            ((int16_t *)out)[i] = from_float ? (int16_t)f : (int16_t)v;
            break;
        case PEXCP_T_I32:
            ((int32_t *)out)[i] = from_float ? (int32_t)f : (int32_t)v;
            break;
        case PEXCP_T_I64:
        {
            const int64_t w = from_float ? (int64_t)f : v;
            memcpy((char *)out + i * 8, &w, 8);
            break;
        }
        default: /* PEXCP_T_BOOL */
            ((uint8_t *)out)[i] = from_float ? (uint8_t)(f != 0.0) : (uint8_t)(v != 0);
            break;
        }
    }
}
