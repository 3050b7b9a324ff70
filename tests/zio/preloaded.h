/* Helpers for the small programs that run with libzio preloaded and check
 * what it did: whether a page was elided, and an input file of known
 * random bytes to read from. */
#ifndef ZIO_TEST_PRELOADED_H
#define ZIO_TEST_PRELOADED_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static inline void fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
    exit(1);
}

/* An elided page is left unmapped until someone needs its bytes. */
static inline int elided(void *page)
{
    unsigned char resident;

    return mincore(page, PAGE, &resident) == 0 && !(resident & 1);
}

static inline size_t page_up(const void *p)
{
    return ((size_t)p + PAGE - 1) & ~(size_t)(PAGE - 1);
}

/* Fills expect[0, len) with random bytes from seed and returns an unlinked
 * file holding the same bytes, positioned at its start. */
static inline int random_input_file(unsigned char *expect, size_t len, unsigned seed)
{
    char path[] = "/tmp/zio-input-XXXXXX";
    int fd = mkstemp(path);

    if (fd < 0)
        fail("mkstemp");
    unlink(path);
    srand(seed);
    for (size_t i = 0; i < len; i++)
        expect[i] = (unsigned char)rand();
    if (write(fd, expect, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)
        fail("writing the input file");
    return fd;
}

#endif
