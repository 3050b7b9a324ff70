/* test_shim.c - how threads of one process hand the shared context's events
 * to each other before they sleep (libtas/shim.c).
 *
 * The context is a fake whose queues the test drives: what the fast path
 * posted, what another thread took in while this one had the lock dropped.
 * A thread may sleep only when nothing it has not looked at arrived, and a
 * sleeper that others took events in for is woken through the eventfd.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "lowlevel.h"
#include "shim.h"

static struct tas_context fake_ctx;
static int efd = -1;
static int events_queued;          /* entries tas_context_poll hands out */
static bool news_on_spin;          /* the fast path posts during the spin */
static bool others_take_in_on_spin; /* another thread drains during the spin */

/* ---- the fake context ---- */

int tas_context_fd(const struct tas_context *ctx) { (void)ctx; return efd; }
bool tas_context_prepare_sleep(struct tas_context *ctx) { (void)ctx; return true; }
void tas_context_awake(struct tas_context *ctx) { (void)ctx; }
unsigned tas_context_closing(const struct tas_context *ctx) { (void)ctx; return 0; }

bool tas_context_prepare_spin(struct tas_context *ctx, uint64_t *mark)
{
    (void)ctx;
    *mark = 0;
    return true;
}

/* Runs with the shim lock dropped, as another thread could run then. */
bool tas_context_spin_news(const struct tas_context *ctx, uint64_t mark)
{
    (void)ctx;
    (void)mark;
    if (others_take_in_on_spin) {
        others_take_in_on_spin = false;
        shim_lock();
        shim.gen++;
        shim_unlock();
    }
    return news_on_spin;
}

int tas_context_poll(struct tas_context *ctx, struct tas_event *ev, int max)
{
    (void)ctx;
    int n = events_queued < max ? events_queued : max;
    for (int i = 0; i < n; i++)
        ev[i] = (struct tas_event){ .conn = NULL, .listener = NULL };
    events_queued -= n;
    return n;
}

void tas_context_clear_fd(struct tas_context *ctx)
{
    uint64_t count;
    (void)ctx;
    (void)!read(efd, &count, sizeof(count));
}

/* ---- the rest of libtas that shim.c calls ---- */

int tas_init(const char *run_dir) { (void)run_dir; return -ENOSYS; }
int tas_context_create(struct tas_context **ctx) { (void)ctx; return -ENOSYS; }
void *tas_listener_data(const struct tas_listener *l) { (void)l; return NULL; }
void *tas_conn_data(const struct tas_conn *c) { (void)c; return NULL; }
void tas_forget_after_fork(void) {}
void sock_on_event(struct sock *s, uint32_t tas_events) { (void)s; (void)tas_events; }
struct sock *sock_get(int fd) { (void)fd; return NULL; }
void file_put(struct file *f) { (void)f; }
void fd_forget_range(unsigned first, unsigned last) { (void)first; (void)last; }

static uint64_t eventfd_count(void)
{
    uint64_t count = 0;
    if (read(efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        fail_msg("cannot read the eventfd");
    return count;
}

static int setup(void **state)
{
    (void)state;
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(efd >= 0);
    shim.ctx = &fake_ctx;
    shim.gen = 0;
    shim.waiters = NULL;
    shim.spin_ns = 200000;
    events_queued = 0;
    news_on_spin = false;
    others_take_in_on_spin = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    shim.ctx = NULL;
    close(efd);
    return 0;
}

static void test_quiet_context_sleeps(void **state)
{
    struct waiter w;

    (void)state;
    shim_lock();
    assert_true(shim_sleep_prepare(&w, NULL));
    assert_ptr_equal(shim.waiters, &w);
    assert_int_equal(w.gen, shim.gen);
    shim_sleep_finish(&w);
    assert_null(shim.waiters);
    shim_unlock();
}

static void assert_stays_awake(void)
{
    struct waiter w;

    shim_lock();
    assert_false(shim_sleep_prepare(&w, NULL));
    assert_null(shim.waiters);
    shim_unlock();
}

static void test_news_during_spin_keeps_awake(void **state)
{
    (void)state;
    news_on_spin = true;
    assert_stays_awake();
}

/* The fast path posted and kicked while the thread spun, and a sleeper
 * woken by the kick took the entries in: the rings look quiet again, but
 * the events may be this thread's, which has not looked at them. */
static void test_events_taken_by_another_thread_keep_awake(void **state)
{
    (void)state;
    others_take_in_on_spin = true;
    assert_stays_awake();
}

static void test_sleeper_behind_is_woken(void **state)
{
    struct waiter w;

    (void)state;
    shim_lock();
    assert_true(shim_sleep_prepare(&w, NULL));
    shim_lock();
    events_queued = 3;
    shim_drain();
    assert_int_equal(shim.gen, w.gen + 1);
    assert_int_equal(eventfd_count(), 1);
    shim_unlock();
    shim_sleep_finish(&w);
    shim_unlock();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_context_sleeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_news_during_spin_keeps_awake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_taken_by_another_thread_keep_awake,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sleeper_behind_is_woken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
