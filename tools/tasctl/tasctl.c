/* tasctl - inspect a running TAS service through the slow path's ctl.sock.
 *
 * One request per invocation (see include/tas/tasctl.h): the daemon answers
 * with JSON, which --json prints unchanged (filtered by --app for flows) and
 * which is otherwise laid out for people.  Scripts rely on the exit codes:
 *
 *   0  success
 *   1  the daemon answered with an error, or an unreadable reply
 *   2  bad usage
 *   3  the service is not running (no socket, or nobody listening)
 *   4  permission denied (ctl.sock is for root and the service's group)
 *   5  `wait` timed out before the fast path attached
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <tas/ctl.h>
#include <tas/tasctl.h>

enum {
    EXIT_DAEMON_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_RUNNING = 3,
    EXIT_PERMISSION = 4,
    EXIT_TIMEOUT = 5,
};

#define REPLY_TIMEOUT_S 5

struct options {
    const char *run_dir;
    bool json;
    long app_pid;             /* flows --app; -1 = all */
    double wait_s;            /* wait --timeout */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tasctl [--run-dir DIR] [--json] COMMAND\n"
            "commands:\n"
            "  status               service, fast-path cores, counters\n"
            "  flows [--app PID]    connections (of one application)\n"
            "  apps                 registered applications\n"
            "  stats                per-core counters and cycles per packet\n"
            "  wait [--timeout S]   until the fast path has attached (default 30 s)\n"
            "The run directory defaults to $%s, else %s.\n"
            "Exit codes: 0 ok, 1 daemon error, 2 usage, 3 not running,\n"
            "4 permission denied, 5 wait timed out.\n",
            TAS_RUN_DIR_ENV, TAS_DEFAULT_RUN_DIR);
}

/* ---- talking to the daemon ---- */

static int exit_code_for(int err)
{
    switch (err) {
    case ENOENT:
    case ECONNREFUSED:
    case ENOTDIR:
        return EXIT_NOT_RUNNING;
    case EACCES:
    case EPERM:
        return EXIT_PERMISSION;
    default:
        return EXIT_DAEMON_ERROR;
    }
}

/* Sends request and parses the reply into *out.  Returns 0 or an exit code,
 * having said why on stderr unless quiet. */
static int ask(const char *run_dir, const char *request, json_object **out, bool quiet)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, TAS_CTL_SOCK_NAME) >=
        (int)sizeof(sa.sun_path)) {
        fprintf(stderr, "tasctl: run directory path too long: %s\n", run_dir);
        return EXIT_USAGE;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "tasctl: socket: %s\n", strerror(errno));
        return EXIT_DAEMON_ERROR;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        int code = exit_code_for(err);
        if (!quiet)
            fprintf(stderr, "tasctl: %s: %s%s\n", sa.sun_path, strerror(err),
                    code == EXIT_NOT_RUNNING ? " (is tas-slowpath running?)" : "");
        return code;
    }
    struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    char line[TAS_CTL_REQUEST_MAX];
    int len = snprintf(line, sizeof(line), "%s\n", request);
    json_tokener *tok = json_tokener_new();
    json_object *reply = NULL;
    enum json_tokener_error jerr = json_tokener_continue;
    if (send(fd, line, (size_t)len, MSG_NOSIGNAL) == len) {
        char buf[65536];
        ssize_t n;
        while (jerr == json_tokener_continue && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
            reply = json_tokener_parse_ex(tok, buf, (int)n);
            jerr = json_tokener_get_error(tok);
        }
    }
    json_tokener_free(tok);
    close(fd);
    if (!reply || jerr != json_tokener_success) {
        json_object_put(reply);
        if (!quiet)
            fprintf(stderr, "tasctl: no complete reply from %s\n", sa.sun_path);
        return EXIT_DAEMON_ERROR;
    }
    json_object *err;
    if (json_object_object_get_ex(reply, "error", &err)) {
        if (!quiet)
            fprintf(stderr, "tasctl: the daemon says: %s\n", json_object_get_string(err));
        json_object_put(reply);
        return EXIT_DAEMON_ERROR;
    }
    *out = reply;
    return 0;
}

/* ---- reading replies ---- */

static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

static uint64_t num(json_object *o, const char *key)
{
    return json_object_get_uint64(field(o, key));
}

static const char *str(json_object *o, const char *key)
{
    json_object *v = field(o, key);
    return v ? json_object_get_string(v) : "-";
}

/* 1536 -> "1.5K": sizes and counts at a glance. */
static const char *human(uint64_t v, char buf[16])
{
    static const char units[] = "KMGTP";
    if (v < 1024) {
        snprintf(buf, 16, "%" PRIu64, v);
        return buf;
    }
    double d = (double)v;
    int u = -1;
    while (d >= 1024 && u < 4) {
        d /= 1024;
        u++;
    }
    snprintf(buf, 16, "%.1f%c", d, units[u]);
    return buf;
}

static void print_uptime(uint64_t s)
{
    if (s >= 86400)
        printf("%" PRIu64 "d ", s / 86400);
    printf("%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600 % 24, s / 60 % 60, s % 60);
}

static void print_drops(json_object *drops)
{
    bool any = false;
    json_object_object_foreach(drops, reason, count) {
        uint64_t n = json_object_get_uint64(count);
        if (n == 0)
            continue;
        printf("%s %s %" PRIu64, any ? "," : "", reason, n);
        any = true;
    }
    printf("%s\n", any ? "" : " none");
}

static void print_counters(json_object *c)
{
    char a[16], b[16];
    printf("  rx            %" PRIu64 " packets, %sB\n", num(c, "rx_packets"),
           human(num(c, "rx_bytes"), a));
    printf("  tx            %" PRIu64 " packets, %sB\n", num(c, "tx_packets"),
           human(num(c, "tx_bytes"), b));
    printf("  to slow path  %" PRIu64 " packets\n", num(c, "exception_packets"));
    printf("  fast retx     %" PRIu64 "\n", num(c, "fast_retransmits"));
    printf("  challenge ACK %" PRIu64 "\n", num(c, "challenge_acks"));
    printf("  dropped       %" PRIu64 ":", num(c, "dropped"));
    print_drops(field(c, "drops"));
}

static void print_status(json_object *r)
{
    char a[16], b[16], c[16];
    printf("TAS %s, slow path pid %" PRIu64 ", up ", str(r, "version"), num(r, "pid"));
    print_uptime(num(r, "uptime_s"));
    printf("\naddress         %s (congestion control %s)\n", str(r, "address"),
           str(r, "congestion_control"));
    printf("run directory   %s\n", str(r, "run_dir"));
    json_object *fp = field(r, "fastpath");
    if (json_object_get_boolean(field(fp, "attached"))) {
        printf("fast path       pid %" PRIu64 ", port %s, mtu %" PRIu64 "\n", num(fp, "pid"),
               str(fp, "mac"), num(fp, "mtu"));
        json_object *cores = field(fp, "cores");
        for (size_t i = 0; i < json_object_array_length(cores); i++) {
            json_object *core = json_object_array_get_idx(cores, i);
            printf("  core %-8" PRIu64 " %5.1f%% busy\n", num(core, "core"),
                   json_object_get_double(field(core, "busy_percent")));
        }
    } else {
        printf("fast path       not attached\n");
    }
    printf("applications    %" PRIu64 "\n", num(r, "apps"));
    printf("connections     %" PRIu64 "\n", num(r, "flows"));
    json_object *mem = field(r, "memory");
    printf("memory          app buffers %sB, slow path RSS %sB, fast path RSS %sB\n",
           human(num(mem, "app_buffer_bytes"), a), human(num(mem, "slowpath_rss_bytes"), b),
           human(num(fp, "rss_bytes"), c));
    json_object *cookies = field(r, "syncookies"), *blind = field(r, "slowpath_rfc5961");
    printf("SYN cookies     %" PRIu64 " sent, %" PRIu64 " accepted\n", num(cookies, "sent"),
           num(cookies, "accepted"));
    printf("blind segments  %" PRIu64 " SYNs, %" PRIu64 " RSTs before install, "
           "%" PRIu64 " challenge ACKs (slow path)\n",
           num(blind, "syns"), num(blind, "rsts"), num(blind, "challenge_acks"));
    printf("early segments  %" PRIu64 " returned to the fast path after the install\n",
           num(r, "segments_returned"));
    printf("counters\n");
    print_counters(field(r, "counters"));
}

static void print_stats(json_object *r)
{
    json_object *cores = field(r, "cores");
    printf("tsc %" PRIu64 " Hz\n", num(r, "tsc_hz"));
    for (size_t i = 0; i < json_object_array_length(cores); i++) {
        json_object *core = json_object_array_get_idx(cores, i);
        printf("core %" PRIu64 ": %.1f%% busy, %" PRIu64 " cycles/packet "
               "(rx %" PRIu64 ", tx %" PRIu64 ")\n",
               num(core, "core"), json_object_get_double(field(core, "busy_percent")),
               num(core, "cycles_per_packet"), num(core, "rx_cycles_per_packet"),
               num(core, "tx_cycles_per_packet"));
        print_counters(core);
    }
    json_object *total = field(r, "total");
    printf("total: %" PRIu64 " cycles/packet\n", num(total, "cycles_per_packet"));
    print_counters(total);
}

static void print_apps(json_object *r)
{
    char a[16];
    json_object *apps = field(r, "apps");
    printf("%-4s %-8s %-6s %-4s %-7s %-7s %-8s %s\n", "ID", "PID", "UID", "CTX", "FLOWS",
           "LISTEN", "BUFFERS", "STATE");
    for (size_t i = 0; i < json_object_array_length(apps); i++) {
        json_object *app = json_object_array_get_idx(apps, i);
        const char *state = json_object_get_boolean(field(app, "closing")) ? "closing"
                          : json_object_get_boolean(field(app, "registered")) ? "running"
                          : "connecting";
        printf("%-4" PRIu64 " %-8" PRIu64 " %-6" PRIu64 " %-4" PRIu64 " %-7" PRIu64
               " %-7" PRIu64 " %-8s %s\n",
               num(app, "app_id"), num(app, "pid"), num(app, "uid"), num(app, "contexts"),
               num(app, "flows"), num(app, "listeners"), human(num(app, "buffer_bytes"), a),
               state);
    }
}

static void print_flows(json_object *r)
{
    char a[16], b[16], c[16], d[16];
    json_object *flows = field(r, "flows");
    printf("%-21s %-21s %-11s %-7s %-7s %-7s %-7s %-7s %-8s %s\n", "LOCAL", "REMOTE", "STATE",
           "PID", "RX", "TX", "CWND", "WINDOW", "RTT(us)", "RETX(rto/fast)");
    for (size_t i = 0; i < json_object_array_length(flows); i++) {
        json_object *f = json_object_array_get_idx(flows, i);
        char pid[16] = "-";
        if (field(f, "pid"))
            snprintf(pid, sizeof(pid), "%" PRIu64, num(f, "pid"));
        printf("%-21s %-21s %-11s %-7s ", str(f, "local"), str(f, "remote"), str(f, "state"),
               pid);
        if (field(f, "rtt_us"))
            printf("%-7s %-7s %-7s %-7s %-8" PRIu64 " %" PRIu64 "/%" PRIu64 "\n",
                   human(num(f, "rx_bytes"), a), human(num(f, "tx_bytes"), b),
                   human(num(f, "cwnd"), c), human(num(f, "send_window"), d),
                   num(f, "rtt_us"), num(f, "timeouts"), num(f, "fast_retransmits"));
        else
            printf("%-7s %-7s %-7s %-7s %-8s %" PRIu64 "/-\n", "-", "-", "-", "-", "-",
                   num(f, "timeouts"));
    }
}

/* Keeps only the flows of one application (by pid). */
static void filter_flows(json_object *r, long pid)
{
    json_object *flows = field(r, "flows");
    json_object *kept = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(flows); i++) {
        json_object *f = json_object_array_get_idx(flows, i);
        if (field(f, "pid") && (long)num(f, "pid") == pid)
            json_object_array_add(kept, json_object_get(f));
    }
    json_object_object_add(r, "flows", kept);
}

/* ---- commands ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Readiness for systemd and scripts: the slow path answers and a fast path
 * is attached, so applications can register. */
static int cmd_wait(const struct options *o)
{
    double deadline = now_s() + o->wait_s;
    int last = EXIT_NOT_RUNNING;
    for (;;) {
        json_object *r;
        last = ask(o->run_dir, "status", &r, true);
        if (last == EXIT_PERMISSION || last == EXIT_USAGE)
            return ask(o->run_dir, "status", &r, false);
        if (last == 0) {
            bool attached = json_object_get_boolean(field(field(r, "fastpath"), "attached"));
            json_object_put(r);
            if (attached)
                return 0;
        }
        if (now_s() >= deadline)
            break;
        usleep(100000);
    }
    fprintf(stderr, "tasctl: no fast path attached to %s within %.1f s%s\n", o->run_dir,
            o->wait_s, last == EXIT_NOT_RUNNING ? " (the slow path is not running)" : "");
    return EXIT_TIMEOUT;
}

static int cmd_show(const struct options *o, const char *request,
                    void (*print)(json_object *))
{
    json_object *r;
    int rc = ask(o->run_dir, request, &r, false);
    if (rc != 0)
        return rc;
    if (o->app_pid >= 0)
        filter_flows(r, o->app_pid);
    if (o->json)
        printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY |
                                                             JSON_C_TO_STRING_SPACED));
    else
        print(r);
    json_object_put(r);
    return fflush(stdout) == 0 ? 0 : EXIT_DAEMON_ERROR;
}

static bool parse_number(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "run-dir", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "app", required_argument, NULL, 'a' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct options o = { .app_pid = -1, .wait_s = 30 };
    o.run_dir = getenv(TAS_RUN_DIR_ENV);
    if (!o.run_dir || !*o.run_dir)
        o.run_dir = TAS_DEFAULT_RUN_DIR;

    int c;
    double v;
    while ((c = getopt_long(argc, argv, "r:jh", long_options, NULL)) != -1) {
        switch (c) {
        case 'r':
            o.run_dir = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'a':
            if (!parse_number(optarg, 1, 4194304, &v)) {
                fprintf(stderr, "tasctl: --app wants a process id, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.app_pid = (long)v;
            break;
        case 't':
            if (!parse_number(optarg, 0, 86400, &v)) {
                fprintf(stderr, "tasctl: --timeout wants seconds, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.wait_s = v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    if (o.app_pid >= 0 && strcmp(cmd, "flows") != 0) {
        fprintf(stderr, "tasctl: --app goes with flows\n");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "status") == 0)
        return cmd_show(&o, "status", print_status);
    if (strcmp(cmd, "flows") == 0)
        return cmd_show(&o, "flows", print_flows);
    if (strcmp(cmd, "apps") == 0)
        return cmd_show(&o, "apps", print_apps);
    if (strcmp(cmd, "stats") == 0)
        return cmd_show(&o, "stats", print_stats);
    if (strcmp(cmd, "wait") == 0)
        return cmd_wait(&o);
    fprintf(stderr, "tasctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
