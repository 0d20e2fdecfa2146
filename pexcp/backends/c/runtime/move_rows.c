/* Row-band execution: a window of rows keeps the rows still to be read at its front. */
#include <string.h>

#include "pexcp_runtime.h"

void pexcp_move_rows(void *window, int channels, long plane, long from, long to, long n)
{
    unsigned char *w = (unsigned char *)window;
    for (int c = 0; c < channels; ++c)
        memmove(w + c * plane + to, w + c * plane + from, (size_t)n);
}
