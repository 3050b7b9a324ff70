/* main.c - tas-slowpath: start-up and the event loop.
 *
 * Single-threaded and event driven: one epoll set watches sp.sock and
 * fp.sock (listening and connected), the eventfd the fast path kicks when it
 * queued exceptions, a timerfd armed for the earliest connection timer, and
 * a signalfd for SIGTERM/SIGINT.  The loop blocks whenever nothing is
 * pending; it polls only while exceptions keep arriving.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <tas/tasctl.h>

#include "log.h"
#include "sp.h"

#define SP_RUN_DIR_MODE   0755
#define SP_SOCK_MODE      0666    /* any local user may run applications */
#define FP_SOCK_MODE      0660    /* only the service's user and group */
#define SP_EXC_BUDGET     256     /* exceptions per loop iteration */
#define SP_HOUSEKEEPING_US 200000u
#define SP_BACKLOG_RETRY_US 1000u
#define SP_MAX_EVENTS     64

uint64_t sp_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int watch(struct sp *sp, int fd, struct sp_watch *w, enum sp_watch_kind kind)
{
    w->kind = kind;
    w->obj = sp;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    return epoll_ctl(sp->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int make_dir(const char *path)
{
    if (mkdir(path, SP_RUN_DIR_MODE) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

/* One slow path per run directory: an flock held for our lifetime, so a
 * crashed instance's stale sockets can be replaced safely. */
static int take_lock(struct sp *sp)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/slowpath.lock", sp->cfg.run_dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sp->lock_fd < 0)
        return -errno;
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
    return 0;
}

static int listen_unix(const char *dir, const char *name, mode_t mode)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) >=
        (int)sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(sa.sun_path, mode) != 0 || listen(fd, 128) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static void unlink_sockets(const struct sp *sp)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", sp->cfg.run_dir, TAS_SP_SOCK_NAME);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", sp->cfg.run_dir, TAS_FP_SOCK_NAME);
    unlink(path);
}

static int setup_sockets(struct sp *sp)
{
    int rc = make_dir(sp->cfg.run_dir);
    if (rc != 0) {
        sp_err("cannot create %s: %s", sp->cfg.run_dir, strerror(-rc));
        return rc;
    }
    rc = take_lock(sp);
    if (rc != 0) {
        sp_err("%s: %s", sp->cfg.run_dir,
               rc == -EADDRINUSE ? "another tas-slowpath is running there" : strerror(-rc));
        return rc;
    }
    sp->sp_listen = listen_unix(sp->cfg.run_dir, TAS_SP_SOCK_NAME, SP_SOCK_MODE);
    if (sp->sp_listen < 0) {
        sp_err("cannot listen on %s/%s: %s", sp->cfg.run_dir, TAS_SP_SOCK_NAME,
               strerror(-sp->sp_listen));
        return sp->sp_listen;
    }
    sp->fp_listen = listen_unix(sp->cfg.run_dir, TAS_FP_SOCK_NAME, FP_SOCK_MODE);
    if (sp->fp_listen < 0) {
        sp_err("cannot listen on %s/%s: %s", sp->cfg.run_dir, TAS_FP_SOCK_NAME,
               strerror(-sp->fp_listen));
        return sp->fp_listen;
    }
    rc = ctl_listen(sp);
    if (rc != 0) {
        sp_err("cannot listen on %s/%s: %s", sp->cfg.run_dir, TAS_CTL_SOCK_NAME,
               strerror(-rc));
        return rc;
    }
    return 0;
}

static int setup_loop(struct sp *sp)
{
    sp->epfd = epoll_create1(EPOLL_CLOEXEC);
    sp->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sp->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sp->epfd < 0 || sp->timerfd < 0 || sp->sigfd < 0)
        return -errno;
    sp->w_sp_kick = (struct sp_watch){ SP_WATCH_SP_KICK, sp };
    if (watch(sp, sp->sp_listen, &sp->w_sp_listen, SP_WATCH_SP_LISTEN) != 0 ||
        watch(sp, sp->fp_listen, &sp->w_fp_listen, SP_WATCH_FP_LISTEN) != 0 ||
        watch(sp, sp->ctl.listen_fd, &sp->w_ctl_listen, SP_WATCH_CTL_LISTEN) != 0 ||
        watch(sp, sp->timerfd, &sp->w_timer, SP_WATCH_TIMER) != 0 ||
        watch(sp, sp->sigfd, &sp->w_signal, SP_WATCH_SIGNAL) != 0)
        return -errno;
    return 0;
}

static int init_state(struct sp *sp)
{
    if (getrandom(sp->secret, sizeof(sp->secret), 0) != sizeof(sp->secret))
        return -errno;
    sp->svc.fp_sock = -1;
    sp->ctl.listen_fd = -1;
    sp->svc.memfd = -1;
    sp->svc.sp_kick = -1;
    for (unsigned i = 0; i < TAS_MAX_FP_CORES; i++)
        sp->svc.fp_kick[i] = -1;
    list_init(&sp->svc.cmd_backlog);
    list_init(&sp->ctx_overflow);
    sp->apps = calloc(sp->cfg.max_apps, sizeof(*sp->apps));
    if (!sp->apps)
        return -ENOMEM;
    sp->now_us = sp_now_us();
    net_init_routes(sp);
    int rc = arp_cache_init(&sp->arp, 1024, sp->cfg.arp_timeout_ms * 1000ull);
    if (rc != 0)
        return rc;
    rc = tcp_init(sp);
    if (rc != 0)
        return rc;
    timer_init(&sp->housekeeping);
    return timer_arm(&sp->timers, &sp->housekeeping, sp->now_us + SP_HOUSEKEEPING_US);
}

static void accept_fast_path(struct sp *sp)
{
    int fd = accept4(sp->fp_listen, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (svc_attached(sp)) {
        sp_warn("a second fast path tried to attach: refused");
        close(fd);
        return;
    }
    svc_attach(sp, fd);
}

static void housekeeping(struct sp *sp)
{
    net_tick(sp);
    ctl_tick(sp);
    timer_arm(&sp->timers, &sp->housekeeping, sp->now_us + SP_HOUSEKEEPING_US);
}

static void run_timers(struct sp *sp)
{
    struct sp_timer *t;
    while ((t = timer_pop_due(&sp->timers, sp->now_us)) != NULL) {
        if (t == &sp->housekeeping)
            housekeeping(sp);
        else
            tcp_timer_fired(sp, container_of(t, struct sp_conn, timer));
    }
}

/* Arms the timerfd for the earliest deadline, sooner if commands or events
 * wait for room in a ring. */
static void arm_timerfd(struct sp *sp, bool backlog)
{
    struct sp_timer *t = timer_first(&sp->timers);
    uint64_t when = t ? t->deadline_us : sp->now_us + SP_HOUSEKEEPING_US;
    if (backlog && when > sp->now_us + SP_BACKLOG_RETRY_US)
        when = sp->now_us + SP_BACKLOG_RETRY_US;
    if (when <= sp->now_us)
        when = sp->now_us + 1;
    struct itimerspec its = {
        .it_value = { .tv_sec = (time_t)(when / 1000000u),
                      .tv_nsec = (long)(when % 1000000u) * 1000 },
    };
    timerfd_settime(sp->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void handle_event(struct sp *sp, struct sp_watch *w)
{
    uint64_t v;
    switch (w->kind) {
    case SP_WATCH_SP_LISTEN:
        app_accept_connection(sp);
        break;
    case SP_WATCH_FP_LISTEN:
        accept_fast_path(sp);
        break;
    case SP_WATCH_FP_SOCK:
        svc_handle_fp_sock(sp);
        break;
    case SP_WATCH_SP_KICK:
        break;                    /* drained in svc_awake; rings polled below */
    case SP_WATCH_TIMER:
        if (read(sp->timerfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            sp_warn("timerfd: %s", strerror(errno));
        break;
    case SP_WATCH_SIGNAL: {
        struct signalfd_siginfo si;
        if (read(sp->sigfd, &si, sizeof(si)) == sizeof(si)) {
            sp_info("signal %u: shutting down", si.ssi_signo);
            sp->stop = true;
        }
        break;
    }
    case SP_WATCH_APP:
        app_handle_sock(sp, w->obj);
        break;
    case SP_WATCH_CTL_LISTEN:
        ctl_accept(sp);
        break;
    case SP_WATCH_CTL_CLIENT:
        ctl_handle_client(sp, w->obj);
        break;
    case SP_WATCH_REFUSED:
        app_answer_refused(sp, w);
        break;
    }
}

static void event_loop(struct sp *sp)
{
    bool busy = false;
    while (!sp->stop) {
        bool cmds_waiting = svc_flush(sp);
        bool events_waiting = app_flush_overflow(sp);
        arm_timerfd(sp, cmds_waiting || events_waiting);

        /* Announce that we sleep; if exceptions raced in, only peek. */
        int timeout = busy || !svc_prepare_sleep(sp) ? 0 : -1;
        struct epoll_event evs[SP_MAX_EVENTS];
        int n = epoll_wait(sp->epfd, evs, SP_MAX_EVENTS, timeout);
        svc_awake(sp);
        if (n < 0 && errno != EINTR) {
            sp_err("epoll_wait: %s", strerror(errno));
            return;
        }
        sp->now_us = sp_now_us();
        for (int i = 0; i < n; i++)
            handle_event(sp, evs[i].data.ptr);
        busy = svc_poll(sp, SP_EXC_BUDGET) == SP_EXC_BUDGET;
        run_timers(sp);
    }
}

static void shutdown_all(struct sp *sp)
{
    svc_detach(sp);
    app_disconnect_all(sp);
    ctl_close(sp);
    unlink_sockets(sp);
}

int main(int argc, char **argv)
{
    static struct sp sp;
    char err[256];

    int rc = sp_config_parse(&sp.cfg, argc, argv, err, sizeof(err));
    if (rc > 0)
        return EXIT_SUCCESS;
    if (rc < 0) {
        fprintf(stderr, "tas-slowpath: %s (see --help)\n", err);
        return EXIT_FAILURE;
    }
    sp_log_set_level((enum sp_log_level)sp.cfg.log_level);
    sp_log_detect_journal();
    if (sp.cfg.log_file[0] && (rc = sp_log_open(sp.cfg.log_file)) != 0) {
        fprintf(stderr, "tas-slowpath: cannot open log %s: %s\n", sp.cfg.log_file,
                strerror(-rc));
        return EXIT_FAILURE;
    }
    if ((rc = init_state(&sp)) != 0) {
        sp_err("initialisation failed: %s", strerror(-rc));
        return EXIT_FAILURE;
    }
    if (setup_sockets(&sp) != 0)
        return EXIT_FAILURE;
    /* Detach only once the sockets exist, so whoever started us can connect
     * as soon as we return. */
    if (!sp.cfg.foreground && daemon(1, sp.cfg.log_file[0] ? 0 : 1) != 0) {
        sp_err("cannot detach: %s", strerror(errno));
        return EXIT_FAILURE;
    }
    if ((rc = setup_loop(&sp)) != 0) {
        sp_err("event loop set-up failed: %s", strerror(-rc));
        return EXIT_FAILURE;
    }
    sp_info("listening in %s (max %u flows, %s congestion control)", sp.cfg.run_dir,
            sp.cfg.max_flows, cc_name(sp.cfg.cc));
    /* Type=notify units: the sockets exist, the fast path may start. */
    sd_notify(0, "READY=1");
    event_loop(&sp);
    sd_notify(0, "STOPPING=1");
    shutdown_all(&sp);
    return EXIT_SUCCESS;
}
