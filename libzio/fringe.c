/* Fringe arithmetic: which part of a copy can be elided.
 *
 * Only whole destination pages can be left unmapped and filled on demand,
 * so a copy splits into a head fringe, a page-aligned core and a tail
 * fringe.  The fringes are copied eagerly; they are small next to the core
 * for the large copies zIO cares about, and they often hold headers that
 * the program reads anyway. */
#include "zio/page.h"

bool zio_split_copy(uintptr_t dst, size_t len, struct zio_split *split)
{
    uintptr_t end = dst + len;

    split->core_start = zio_page_up(dst);
    split->core_end = zio_page_down(end);
    if (len == 0 || end < dst || split->core_start >= split->core_end) {
        split->core_start = split->core_end = dst;
        split->head_len = len;
        split->tail_len = 0;
        return false;
    }
    split->head_len = split->core_start - dst;
    split->tail_len = end - split->core_end;
    return true;
}
