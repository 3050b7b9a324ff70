/* A value read from IO long ago is still IO data.
 *
 * Run with libzio preloaded.  A server reads a value, stores it, sends a
 * copy and frees the copy; many requests later it copies the value again
 * to answer a read of it.  By then the read() that brought the value in
 * has left libzio's ring of recent inputs, but the value's pages, whose
 * first elided copy has gone, are still known to libzio: the second copy
 * must be elided too.  A buffer filled by the program's own stores is not
 * IO data, and its copy must not be elided. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 96            /* above the default ZIO_PROTECT_MIN of 256 KB */
#define SMALL_READS 1000    /* far more than the ring of recent inputs holds */

static void fail(const char *what)
{
    fprintf(stderr, "stored-input: %s\n", what);
    exit(1);
}

/* An elided page is left unmapped until someone needs its bytes. */
static int elided(void *page)
{
    unsigned char resident;

    return mincore(page, PAGE, &resident) == 0 && !(resident & 1);
}

static void *page_block(size_t len)
{
    void *p;

    if (posix_memalign(&p, PAGE, len) != 0)
        fail("posix_memalign");
    return p;
}

int main(void)
{
    char path[] = "/tmp/zio-stored-input-XXXXXX";
    int fd = mkstemp(path);
    size_t len = PAGES * PAGE;
    unsigned char *expect = page_block(len), *value = page_block(len);
    unsigned char *sent, *answer, *own, *own_copy;
    char small[64];

    if (fd < 0)
        fail("mkstemp");
    unlink(path);
    srand(11);
    for (size_t i = 0; i < len; i++)
        expect[i] = (unsigned char)rand();
    if (write(fd, expect, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)
        fail("writing the input file");
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
