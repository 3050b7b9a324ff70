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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 64
#define ELIDED_AT 40        /* S[40..44] := S[10..14] + 0x100 */
#define ELIDED_FROM 10
#define ELIDED_PAGES 5
#define DISCARDED_FROM 16   /* S[16..39] discarded (S[15] is read by S[44]) */

static void fail(const char *what)
{
    fprintf(stderr, "backward-source: %s\n", what);
    exit(1);
}

/* An elided page is left unmapped until someone needs its bytes. */
static int elided(void *page)
{
    unsigned char resident;

    return mincore(page, PAGE, &resident) == 0 && !(resident & 1);
}

int main(void)
{
    char path[] = "/tmp/zio-backward-XXXXXX";
    int fd = mkstemp(path);
    unsigned char *s, *d, *expect;
    size_t len = PAGES * PAGE;

    if (fd < 0)
        fail("mkstemp");
    unlink(path);
    expect = malloc(len);
    if (!expect)
        fail("malloc");
    srand(7);
    for (size_t i = 0; i < len; i++)
        expect[i] = (unsigned char)rand();
    if (write(fd, expect, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)
        fail("writing the input file");

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
