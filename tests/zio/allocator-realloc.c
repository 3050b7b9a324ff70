/* The allocator's own copy when it moves a block in realloc() is not
 * elided.
 *
 * Run with libzio and jemalloc preloaded (with-jemalloc.sh).  jemalloc
 * moves a large block with memcpy, which reaches libzio's, and then frees
 * the old block internally, without free(): an elided copy would leave the
 * old block's pages originals that nothing releases.  An input block is
 * grown with a neighbour allocated right after it, so that it cannot grow
 * where it lies; the moved block must hold its bytes in mapped pages. */
#include <string.h>

#include "preloaded.h"

#define PAGES 96            /* above the default ZIO_PROTECT_MIN of 256 KB */
#define ROUNDS 8

int main(void)
{
    size_t len = PAGES * PAGE;
    unsigned char *expect = malloc(len);
    int fd, moves = 0;

    if (!expect)
        fail("malloc");
    fd = random_input_file(expect, len, 31);
    for (int round = 0; round < ROUNDS; round++) {
        unsigned char *block = malloc(len), *neighbour = malloc(len), *grown;

        if (!block || !neighbour)
            fail("malloc");
        if (lseek(fd, 0, SEEK_SET) != 0 || read(fd, block, len) != (ssize_t)len)
            fail("read");
        grown = realloc(block, 4 * len);
        if (!grown)
            fail("realloc");
        moves += grown != block;
        for (size_t page = page_up(grown); page + PAGE <= (size_t)grown + len; page += PAGE) {
            if (elided((void *)page))
                fail("the allocator's copy in realloc() was elided");
        }
        if (memcmp(grown, expect, len) != 0)
            fail("the moved block differs");
        free(grown);
        free(neighbour);
    }
    if (moves == 0)
        fail("realloc never moved the block, so this run proves nothing");
    return 0;
}
