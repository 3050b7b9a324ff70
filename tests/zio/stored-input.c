/* A value read from IO long ago is still IO data.
 *
 * Run with libzio preloaded.  A server reads a value, stores it, sends a
 * copy and frees the copy; many requests later it copies the value again
 * to answer a read of it.  By then the read() that brought the value in
 * has left libzio's ring of recent inputs, but the value's pages, whose
 * first elided copy has gone, are still known to libzio: the second copy
 * must be elided too.  A buffer filled by the program's own stores is not
 * IO data, and its copy must not be elided. */
#include <string.h>

#include "preloaded.h"

#define PAGES 96            /* above the default ZIO_PROTECT_MIN of 256 KB */
#define SMALL_READS 1000    /* far more than the ring of recent inputs holds */

static void *page_block(size_t len)
{
    void *p;

    if (posix_memalign(&p, PAGE, len) != 0)
        fail("posix_memalign");
    return p;
}

int main(void)
{
    size_t len = PAGES * PAGE;
    unsigned char *expect = page_block(len), *value = page_block(len);
    unsigned char *sent, *answer, *own, *own_copy;
    int fd = random_input_file(expect, len, 11);
    char small[64];

    if (read(fd, value, len) != (ssize_t)len)
        fail("read");

    sent = page_block(len);
    memcpy(sent, value, len);
    if (!elided(sent + PAGE))
        fail("the first copy of a fresh input was not elided");
    free(sent);

    for (int i = 0; i < SMALL_READS; i++) {
        if (lseek(fd, 0, SEEK_SET) != 0 || read(fd, small, sizeof(small)) != (ssize_t)sizeof(small))
            fail("small read");
    }

    answer = page_block(len);
    memcpy(answer, value, len);
    if (!elided(answer + PAGE))
        fail("a copy of a stored input was not elided");
    if (memcmp(answer, expect, len) != 0)
        fail("the elided copy differs from its source");

    own = page_block(len);
    own_copy = page_block(len);
    memset(own, 0x5a, len);
    memcpy(own_copy, own, len);
    if (elided(own_copy + PAGE))
        fail("a copy of memory the program wrote itself was elided");
    return 0;
}
