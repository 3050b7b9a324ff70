/* zio-align-check: ZIO_ALIGN_ALLOC routes large malloc()s to pages.
 *
 * Run under libzio.  With "aligned" every block of THRESHOLD bytes or more
 * must start on a page; with "any" alignment is not checked.  Either way
 * small blocks, realloc (growing across the threshold and shrinking),
 * free in mixed order, and an elidable copy between large blocks must
 * behave as plain malloc does.
 * usage: zio-align-check aligned|any THRESHOLD */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCKS 64

static int failures;

static void check(int ok, const char *what, size_t size)
{
    if (!ok) {
        fprintf(stderr, "zio-align-check: %s (size %zu)\n", what, size);
        failures++;
    }
}

static void fill(unsigned char *p, size_t size, unsigned seed)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}

static int filled(const unsigned char *p, size_t size, unsigned seed)
{
    for (size_t i = 0; i < size; i++) {
        if (p[i] != (unsigned char)(i * 31 + seed))
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    unsigned char *blocks[BLOCKS];
    size_t sizes[BLOCKS], threshold;
    int aligned, fds[2];

    if (argc != 3 || (strcmp(argv[1], "aligned") && strcmp(argv[1], "any"))) {
        fprintf(stderr, "usage: %s aligned|any THRESHOLD\n", argv[0]);
        return 2;
    }
    aligned = strcmp(argv[1], "aligned") == 0;
    threshold = strtoul(argv[2], NULL, 0);
    srand(7);
    for (int i = 0; i < BLOCKS; i++) {
        /* Alternate small and large, large ones of odd sizes. */
        sizes[i] = i % 2 ? threshold + (size_t)rand() % (1 << 20) : 1 + (size_t)rand() % 4000;
        blocks[i] = malloc(sizes[i]);
        check(blocks[i] != NULL, "malloc failed", sizes[i]);
        if (!blocks[i])
            return 1;
        if (aligned && sizes[i] >= threshold)
            check((uintptr_t)blocks[i] % 4096 == 0, "large block not page-aligned", sizes[i]);
        fill(blocks[i], sizes[i], (unsigned)i);
    }
    for (int i = 0; i < BLOCKS; i++)
        check(filled(blocks[i], sizes[i], (unsigned)i), "block contents changed", sizes[i]);

    /* Grow small blocks past the threshold, shrink large ones below it. */
    for (int i = 0; i < BLOCKS; i += 3) {
        size_t keep = sizes[i], size = sizes[i] < threshold ? threshold * 2 : 100;
        unsigned char *p = realloc(blocks[i], size);

        check(p != NULL, "realloc failed", size);
        if (!p)
            return 1;
        check(filled(p, keep < size ? keep : size, (unsigned)i), "realloc lost bytes", size);
        blocks[i] = p;
        sizes[i] = keep < size ? keep : size;
    }

    /* A copy libzio elides: input into one large block, copied to another. */
    if (pipe(fds) == 0) {
        size_t size = 4 * threshold;
        unsigned char *in = malloc(size), *out = malloc(size);
        size_t got = 0;

        check(in && out, "malloc failed", size);
        if (!in || !out)
            return 1;
        fill(out, size, 99);
        while (got < size) {
            size_t piece = size - got < 32768 ? size - got : 32768;

            if (write(fds[1], out + got, piece) != (ssize_t)piece ||
                read(fds[0], in + got, piece) != (ssize_t)piece)
                break;
            got += piece;
        }
        memset(out, 0, size);
        memcpy(out, in, size);
        check(filled(out, size, 99), "copy of input differs", size);
        free(in);
        check(filled(out, size, 99), "copy changed when its source was freed", size);
        free(out);
        close(fds[0]);
        close(fds[1]);
    }

    for (int i = BLOCKS - 1; i >= 0; i -= 2)
        free(blocks[i]);
    for (int i = 0; i < BLOCKS; i += 2)
        free(blocks[i]);
    if (failures == 0)
        printf("ok\n");
    return failures != 0;
}
