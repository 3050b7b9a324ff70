/* A copy whose source holds an elided page that reads from earlier in the
 * same source, past pages that were never mapped.
 *
 * Run with libzio preloaded (ZIO_THRESHOLD and ZIO_PROTECT_MIN at one
 * page).  The source block S is read from a file; a few pages in its
 * middle are then elided copies of S's own start, and the pages in
 * between are discarded (they read as zeros).  Copying all of S makes
 * every page of S an original, and originals must be mapped: libzio once
 * skipped the discarded pages when the elided ones made the sources go
 * backwards, and the first fill from one of them deadlocked its fault
 * handler (with signals blocked, so only the test's timeout ends it).
 * The bytes of the copy are checked against what S holds. */
#include <string.h>

#include "preloaded.h"

#define PAGES 64
#define ELIDED_AT 40        /* S[40..44] := S[10..14] + 0x100 */
#define ELIDED_FROM 10
#define ELIDED_PAGES 5
#define DISCARDED_FROM 16   /* S[16..39] discarded (S[15] is read by S[44]) */

int main(void)
{
    size_t len = PAGES * PAGE;
    unsigned char *s, *d, *expect = malloc(len);
    int fd;

    if (!expect)
        fail("malloc");
    fd = random_input_file(expect, len, 7);

    if (posix_memalign((void **)&s, PAGE, len) != 0 || posix_memalign((void **)&d, PAGE, len) != 0)
        fail("posix_memalign");
    if (read(fd, s, len) != (ssize_t)len)
        fail("read");

    memcpy(s + ELIDED_AT * PAGE, s + ELIDED_FROM * PAGE + 0x100, ELIDED_PAGES * PAGE);
    memmove(expect + ELIDED_AT * PAGE, expect + ELIDED_FROM * PAGE + 0x100, ELIDED_PAGES * PAGE);
    if (madvise(s + DISCARDED_FROM * PAGE, (ELIDED_AT - DISCARDED_FROM) * PAGE, MADV_DONTNEED) != 0)
        fail("madvise");
    memset(expect + DISCARDED_FROM * PAGE, 0, (ELIDED_AT - DISCARDED_FROM) * PAGE);

    memcpy(d, s, len);
    if (!elided(d + ELIDED_AT * PAGE))
        fail("libzio elided nothing, so this run proves nothing");
    /* Freeing S fills d's pages from S's: each of those must be mapped. */
    free(s);
    if (memcmp(d, expect, len) != 0)
        fail("the copy differs from its source");
    free(d);
    free(expect);
    return 0;
}
