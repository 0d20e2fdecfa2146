/* DepthToSpace (DCR and CRD), one image: out[c][h * b + i][w * b + j] = in[k][h][w] with
 * k = (i * b + j) * C' + c (DCR) or c * b * b + i * b + j (CRD), C' = in_c / (b * b). */
#include "pexcp_runtime.h"

void pexcp_depth_to_space(const pexcp_d2s_params *p, const void *in, void *out)
{
    const int b = p->block, e = p->elem, oc = p->in_c / (b * b), ow = p->in_w * b;
    const long plane = (long)p->in_h * p->in_w;
    const unsigned char *x = in;
    unsigned char *y = out;
    for (int c = 0; c < oc; ++c)
        for (int oh = 0; oh < p->in_h * b; ++oh)
            for (int w = 0; w < ow; ++w, y += e) {
                const int i = oh % b, j = w % b;
                const int k = p->crd ? c * b * b + i * b + j : (i * b + j) * oc + c;
                pexcp_move(y, x + ((long)k * plane + (long)(oh / b) * p->in_w + w / b) * e, e);
            }
}
