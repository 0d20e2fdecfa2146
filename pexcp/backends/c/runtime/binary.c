/* Add, Sub, Mul, Div, PRelu, Min, Max and Pow with numpy-style broadcasting (stride 0 along broadcast axes), with the
 * fused clamp of an activation that follows (Add + Relu in residual blocks). */
#include "pexcp_runtime.h"

static float apply(int op, float x, float y)
{
    switch (op) {
    case PEXCP_ADD:
        return x + y;
    case PEXCP_SUB:
        return x - y;
    case PEXCP_MUL:
        return x * y;
    case PEXCP_DIV:
        return x / y;
    case PEXCP_PRELU: /* y is the slope */
        return x < 0.0f ? x * y : x;
    case PEXCP_MIN:
        return x < y ? x : y;
    case PEXCP_MAX:
        return x > y ? x : y;
    default: /* PEXCP_POW */
        return powf(x, y);
    }
}

void pexcp_binary(const pexcp_binary_params *p, const float *a, const float *b, float *out, int c0, int c1)
{
    const int *d = p->dims, *sa = p->a_strides, *sb = p->b_strides;
    float *y = out;
    for (int n = 0; n < d[0]; ++n)
        for (int c = c0; c < c1; ++c)
            for (int h = 0; h < d[2]; ++h) {
                const float *x0 = a + (long)n * sa[0] + (long)(c - c0) * sa[1] + (long)h * sa[2];
                const float *x1 = b + (long)n * sb[0] + (long)(c - c0) * sb[1] + (long)h * sb[2];
                for (int w = 0; w < d[3]; ++w)
                    *y++ = pexcp_clamp(apply(p->op, x0[(long)w * sa[3]], x1[(long)w * sb[3]]), p->act_min, p->act_max);
            }
}
