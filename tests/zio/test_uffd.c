/* Unit tests for the userfaultfd wrappers: write protection of a range that
 * is only partly registered (a hole unregistered in the middle of a run of
 * released originals).  The kernel stops at the hole; every registered page
 * must still end up unprotected, and a thread blocked writing one of them
 * must wake up; unregistering must leave no protection behind and wake
 * writers too; a writer whose page was unmapped or replaced after it
 * faulted must be woken by the resolution that then fails.  Protection is
 * read back from /proc/self/pagemap (bit 57: the PTE is userfaultfd
 * write-protected). */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine.h"
#include "zio/page.h"

#define PAGES 3

static int uffd = -1;
static char *area;
static int pagemap = -1;

static bool write_protected(const void *p)
{
    uint64_t entry = 0;
    off_t off = (off_t)((uintptr_t)p / ZIO_PAGE_SIZE * sizeof(entry));

    assert_int_equal(pread(pagemap, &entry, sizeof(entry), off), sizeof(entry));
    return (entry >> 57) & 1;
}

static void unexpected_fault(uintptr_t addr, bool wp)
{
    (void)addr;
    (void)wp;
}

static int setup(void **state)
{
    (void)state;
    uffd = zio_uffd_open();
    if (uffd < 0)
        return -1;
    area = mmap(NULL, PAGES * ZIO_PAGE_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return -1;
    memset(area, 7, PAGES * ZIO_PAGE_SIZE);
    pagemap = open("/proc/self/pagemap", O_RDONLY);
    return pagemap < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    munmap(area, PAGES * ZIO_PAGE_SIZE);
    close(pagemap);
    close(uffd);
    return 0;
}

/* Pages 0 and 2 registered and protected, page 1 not registered. */
static void protect_around_hole(void)
{
    for (int i = 0; i < PAGES; i += 2) {
        uintptr_t page = (uintptr_t)area + (uintptr_t)i * ZIO_PAGE_SIZE;

        assert_true(zio_uffd_register(uffd, page, ZIO_PAGE_SIZE));
        assert_true(zio_uffd_protect(uffd, page, ZIO_PAGE_SIZE, true));
    }
    assert_true(write_protected(area));
    assert_false(write_protected(area + ZIO_PAGE_SIZE));
    assert_true(write_protected(area + 2 * ZIO_PAGE_SIZE));
}

static void unprotect_all(void)
{
    zio_uffd_protect(uffd, (uintptr_t)area, PAGES * ZIO_PAGE_SIZE, false);
}

static void unregister_all(void)
{
    zio_uffd_unregister(uffd, (uintptr_t)area, PAGES * ZIO_PAGE_SIZE);
}

static void test_unprotect_range_with_hole(void **state)
{
    (void)state;
    protect_around_hole();
    unprotect_all();
    assert_false(write_protected(area));
    assert_false(write_protected(area + 2 * ZIO_PAGE_SIZE));
}

static void *write_last_page(void *arg)
{
    (void)arg;
    area[2 * ZIO_PAGE_SIZE] = 9;     /* blocks in a write-protect fault */
    return NULL;
}

/* The fault handler ignores the fault: only release() may wake the writer
 * blocked on the last page. */
static void assert_release_wakes_writer(void (*release)(void))
{
    pthread_t writer;
    struct timespec deadline;

    protect_around_hole();
    assert_true(zio_uffd_start_handler(uffd, unexpected_fault));
    assert_int_equal(pthread_create(&writer, NULL, write_last_page, NULL), 0);
    usleep(100 * 1000);
    release();
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    assert_int_equal(pthread_timedjoin_np(writer, NULL, &deadline), 0);
    assert_int_equal(area[2 * ZIO_PAGE_SIZE], 9);
}

static void test_unprotect_wakes_writer_past_hole(void **state)
{
    (void)state;
    assert_release_wakes_writer(unprotect_all);
}

static void test_unregister_leaves_no_protection(void **state)
{
    (void)state;
    protect_around_hole();
    unregister_all();
    assert_false(write_protected(area));
    assert_false(write_protected(area + 2 * ZIO_PAGE_SIZE));
    /* Registered again, the pages must not come back protected. */
    assert_true(zio_uffd_register(uffd, (uintptr_t)area, PAGES * ZIO_PAGE_SIZE));
    assert_false(write_protected(area));
    assert_false(write_protected(area + 2 * ZIO_PAGE_SIZE));
}

static void test_unregister_wakes_writer(void **state)
{
    (void)state;
    assert_release_wakes_writer(unregister_all);
}

/* What glibc does to a thread heap's tail between a thread's fault and
 * libzio's answer: a fresh mapping over it, registered with nobody.  Then
 * libzio resolves the fault as usual, which fails. */
static void replace_then_resolve(uintptr_t addr, bool wp)
{
    uintptr_t page = zio_page_down(addr);

    mmap((void *)page, ZIO_PAGE_SIZE, PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (wp)
        zio_uffd_protect(uffd, page, ZIO_PAGE_SIZE, false);
    else
        zio_uffd_zeropage(uffd, page, true);
}

static void *write_first_page(void *arg)
{
    (void)arg;
    area[0] = 9;
    return NULL;
}

static void assert_writer_of_replaced_page_wakes(void)
{
    pthread_t writer;
    struct timespec deadline;

    assert_true(zio_uffd_start_handler(uffd, replace_then_resolve));
    assert_int_equal(pthread_create(&writer, NULL, write_first_page, NULL), 0);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    assert_int_equal(pthread_timedjoin_np(writer, NULL, &deadline), 0);
    assert_int_equal(area[0], 9);
}

static void test_zero_fill_wakes_writer_of_replaced_page(void **state)
{
    (void)state;
    assert_true(zio_uffd_register(uffd, (uintptr_t)area, ZIO_PAGE_SIZE));
    assert_int_equal(madvise(area, ZIO_PAGE_SIZE, MADV_DONTNEED), 0);
    assert_writer_of_replaced_page_wakes();
}

static void test_unprotect_wakes_writer_of_replaced_page(void **state)
{
    (void)state;
    assert_true(zio_uffd_register(uffd, (uintptr_t)area, ZIO_PAGE_SIZE));
    assert_true(zio_uffd_protect(uffd, (uintptr_t)area, ZIO_PAGE_SIZE, true));
    assert_writer_of_replaced_page_wakes();
}

static bool resident(const void *page)
{
    unsigned char vec = 0;

    assert_int_equal(mincore((void *)page, ZIO_PAGE_SIZE, &vec), 0);
    return vec & 1;
}

/* A run of elided pages can span two mappings (registered at different
 * times, with different modes): the kernel refuses such a range whole, and
 * every page must still be filled. */
static void test_copy_fills_a_run_across_mappings(void **state)
{
    static char src[3 * ZIO_PAGE_SIZE];
    struct uffdio_register missing_only = {
        .range = { .start = (uintptr_t)area + ZIO_PAGE_SIZE, .len = ZIO_PAGE_SIZE },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };

    (void)state;
    memset(src, 5, sizeof(src));
    assert_true(zio_uffd_register(uffd, (uintptr_t)area, ZIO_PAGE_SIZE));
    assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &missing_only), 0);
    assert_int_equal(madvise(area, 2 * ZIO_PAGE_SIZE, MADV_DONTNEED), 0);
    assert_int_equal(zio_uffd_copy(uffd, (uintptr_t)area, (uintptr_t)src + 1,
                                   2 * ZIO_PAGE_SIZE), 0);
    assert_true(resident(area));
    assert_true(resident(area + ZIO_PAGE_SIZE));
    assert_int_equal(area[0], 5);
    assert_int_equal(area[2 * ZIO_PAGE_SIZE - 1], 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unprotect_range_with_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unprotect_wakes_writer_past_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregister_leaves_no_protection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_fill_wakes_writer_of_replaced_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unprotect_wakes_writer_of_replaced_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregister_wakes_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_fills_a_run_across_mappings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
