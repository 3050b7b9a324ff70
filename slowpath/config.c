/* config.c - command-line options and config file of tas-slowpath.
 * Everything is checked here, once, so the rest of the daemon can rely on
 * sane geometry (power of two rings, app regions whose offsets fit the ABI's
 * 32 bits, ...).
 *
 * The config file (--config, INI read with libinih) is shared with the fast
 * path: keys of [service] concern both daemons, [slowpath] only this one,
 * other sections are someone else's.  A key is the long option of the same
 * name, so the file is turned into options placed before the command line's
 * (which therefore win) and every value goes through the same checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include <tas/ctl.h>

#include "config.h"
#include "log.h"

#define CONFIG_MAX_ARGS 512

enum {
    OPT_RUN_DIR = 256, OPT_IP, OPT_GATEWAY, OPT_ROUTE, OPT_MAX_FLOWS, OPT_RX_BUF,
    OPT_TX_BUF, OPT_APP_MEM, OPT_MAX_CTX, OPT_MAX_APPS, OPT_MAX_APP_FLOWS, OPT_CC, OPT_TIME_WAIT,
    OPT_RTO_MIN, OPT_MAX_RETRIES, OPT_SYN_RETRIES, OPT_SYNACK_RETRIES,
    OPT_FIN_WAIT2, OPT_ARP_TIMEOUT, OPT_LOG, OPT_LOG_LEVEL, OPT_FOREGROUND,
    OPT_CONFIG, OPT_HELP,
};

static const struct option long_options[] = {
    { "run-dir", required_argument, NULL, OPT_RUN_DIR },
    { "ip", required_argument, NULL, OPT_IP },
    { "gateway", required_argument, NULL, OPT_GATEWAY },
    { "route", required_argument, NULL, OPT_ROUTE },
    { "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
    { "rx-buf", required_argument, NULL, OPT_RX_BUF },
    { "tx-buf", required_argument, NULL, OPT_TX_BUF },
    { "app-mem", required_argument, NULL, OPT_APP_MEM },
    { "max-ctx", required_argument, NULL, OPT_MAX_CTX },
    { "max-apps", required_argument, NULL, OPT_MAX_APPS },
    { "max-app-flows", required_argument, NULL, OPT_MAX_APP_FLOWS },
    { "cc", required_argument, NULL, OPT_CC },
    { "time-wait-ms", required_argument, NULL, OPT_TIME_WAIT },
    { "rto-min-ms", required_argument, NULL, OPT_RTO_MIN },
    { "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
    { "syn-retries", required_argument, NULL, OPT_SYN_RETRIES },
    { "synack-retries", required_argument, NULL, OPT_SYNACK_RETRIES },
    { "fin-wait2-ms", required_argument, NULL, OPT_FIN_WAIT2 },
    { "arp-timeout-ms", required_argument, NULL, OPT_ARP_TIMEOUT },
    { "log", required_argument, NULL, OPT_LOG },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "foreground", no_argument, NULL, OPT_FOREGROUND },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

void sp_config_usage(const char *prog)
{
    printf("usage: %s --ip A.B.C.D/N [options]\n"
           "  --config FILE          read options from FILE's [service] and [slowpath]\n"
           "                         sections (key = long option name); the command\n"
           "                         line overrides them\n"
           "  --run-dir DIR          sockets live here (default %s)\n"
           "  --ip A.B.C.D/N         the instance's address and connected prefix\n"
           "  --gateway G            default route\n"
           "  --route NET/N via G    extra route (repeatable)\n"
           "  --max-flows N          connections at once (default 65536)\n"
           "  --rx-buf BYTES         receive ring per connection (default 64K)\n"
           "  --tx-buf BYTES         send ring per connection (default 64K)\n"
           "  --app-mem BYTES        payload area per application (default 2G, sparse)\n"
           "  --max-ctx N            contexts (threads) per application (default 64)\n"
           "  --max-apps N           applications at once (default 256)\n"
           "  --max-app-flows N      connections per application (default 16384)\n"
           "  --cc reno|dctcp        congestion control (default reno)\n"
           "  --time-wait-ms MS      TIME_WAIT duration (default 60000 = 2*MSL)\n"
           "  --rto-min-ms MS        lower bound of the retransmission timeout (default 50)\n"
           "  --max-retries N        timeouts without progress before a reset (default 10)\n"
           "  --syn-retries N        SYN retransmissions of connect (default 5)\n"
           "  --synack-retries N     SYN-ACK retransmissions (default 5)\n"
           "  --fin-wait2-ms MS      lifetime of an orphaned FIN_WAIT_2 (default 60000)\n"
           "  --arp-timeout-ms MS    age after which a neighbour is re-resolved (default 60000)\n"
           "  --log FILE             log here instead of stderr\n"
           "  --log-level L          error, warn, info (default) or debug\n"
           "  --foreground           do not detach from the terminal\n",
           prog, TAS_DEFAULT_RUN_DIR);
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

int sp_parse_prefix(const char *s, uint32_t *ip, uint8_t *prefix_len)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -1;
    char *end;
    errno = 0;
    unsigned long n = strtoul(slash + 1, &end, 10);
    if (errno || end == slash + 1 || *end != '\0' || n > 32)
        return -1;
    *ip = a.s_addr;
    *prefix_len = (uint8_t)n;
    return 0;
}

static int parse_ip(const char *s, uint32_t *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *ip = a.s_addr;
    return 0;
}

int sp_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (sp_parse_size(s, &v) != 0 || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static bool is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

/* "NET/N via G" may arrive as one argument or as three. */
static int parse_route_arg(struct sp_config *cfg, int argc, char **argv,
                           char *err, size_t err_len)
{
    char spec[128];
    snprintf(spec, sizeof(spec), "%s", optarg);
    char *via = strstr(spec, " via ");
    const char *gw;
    if (via) {
        *via = '\0';
        gw = via + 5;
        while (*gw == ' ')
            gw++;
    } else if (optind + 1 < argc && strcmp(argv[optind], "via") == 0) {
        gw = argv[optind + 1];
        optind += 2;
    } else {
        return fail(err, err_len, "--route wants 'NET/N via G', got '%s'", optarg);
    }
    if (cfg->n_extra_routes >= ROUTE_MAX)
        return fail(err, err_len, "at most %d --route options", ROUTE_MAX);
    struct route *r = &cfg->extra_routes[cfg->n_extra_routes];
    if (sp_parse_prefix(spec, &r->net, &r->prefix_len) != 0)
        return fail(err, err_len, "--route: bad prefix '%s'", spec);
    if (parse_ip(gw, &r->via) != 0 || r->via == 0)
        return fail(err, err_len, "--route: bad gateway '%s'", gw);
    cfg->n_extra_routes++;
    return 0;
}

static void set_defaults(struct sp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", TAS_DEFAULT_RUN_DIR);
    cfg->max_flows = 65536;
    cfg->rx_buf = 64 * 1024;
    cfg->tx_buf = 64 * 1024;
    cfg->app_mem = 2ull << 30;
    cfg->max_ctx = 64;
    cfg->max_apps = 256;
    cfg->max_app_flows = 16384;
    cfg->app_ring_slots = 1024;
    cfg->svc_ring_slots = 1024;
    cfg->cc = CC_RENO;
    cfg->time_wait_ms = 60000;
    cfg->rto_min_ms = 50;
    cfg->max_retries = 10;
    cfg->syn_retries = 5;
    cfg->synack_retries = 5;
    cfg->fin_wait2_ms = 60000;
    cfg->arp_timeout_ms = 60000;
    cfg->log_level = SP_LOG_INFO;
}

/* Cross-option checks: the app region's offsets are 32-bit in the ABI. */
static int check_config(struct sp_config *cfg, bool have_ip, char *err, size_t err_len)
{
    if (!have_ip)
        return fail(err, err_len, "--ip A.B.C.D/N is required");
    if (cfg->prefix_len == 0 || cfg->prefix_len > 30)
        return fail(err, err_len, "--ip: prefix length must be 1..30");
    if (!is_pow2(cfg->rx_buf) || !is_pow2(cfg->tx_buf))
        return fail(err, err_len, "--rx-buf and --tx-buf must be powers of two");
    if (cfg->app_mem < (uint64_t)cfg->rx_buf + cfg->tx_buf)
        return fail(err, err_len, "--app-mem must hold at least one connection's rings");
    if (cfg->app_mem > (4ull << 30) - (64ull << 20))
        return fail(err, err_len, "--app-mem is at most 4G - 64M (32-bit offsets)");
    uint64_t ctx_bytes = (uint64_t)cfg->max_ctx * tas_app_ctx_stride(cfg->app_ring_slots);
    if (ctx_bytes > (60ull << 20))
        return fail(err, err_len, "--max-ctx too large for the context area");
    return 0;
}

/* Options gathered from the config file, followed by the command line's. */
struct arg_list {
    char *argv[CONFIG_MAX_ARGS + 1];
    int argc;
    char *err;
    size_t err_len;
};

static int arg_push(struct arg_list *a, const char *s)
{
    if (a->argc >= CONFIG_MAX_ARGS)
        return -1;
    a->argv[a->argc] = strdup(s);
    if (!a->argv[a->argc])
        return -1;
    a->argc++;
    return 0;
}

static const struct option *find_option(const char *name)
{
    for (const struct option *o = long_options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* libinih reports the first bad line but reads on: keep the first reason. */
static int config_error(struct arg_list *a, const char *fmt, const char *key,
                        const char *section)
{
    if (!a->err[0])
        snprintf(a->err, a->err_len, fmt, key, section);
    return 0;
}

/* libinih callback: 1 to go on, 0 to mark this line bad. */
static int config_entry(void *user, const char *section, const char *key, const char *value)
{
    struct arg_list *a = user;
    if (strcmp(section, "service") != 0 && strcmp(section, "slowpath") != 0)
        return 1;
    const struct option *o = find_option(key);
    if (!o || o->val == OPT_CONFIG || o->val == OPT_HELP) {
        return config_error(a, "unknown key '%s' in [%s]", key, section);
    }
    char opt[64];
    snprintf(opt, sizeof(opt), "--%s", key);
    if (o->has_arg == no_argument) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
            return arg_push(a, opt) == 0;
        if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
            return 1;
        return config_error(a, "'%s' in [%s] wants yes or no", key, section);
    }
    return arg_push(a, opt) == 0 && arg_push(a, value) == 0;
}

/* The value of --config in argv, or NULL. */
static const char *config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return NULL;
}

static void args_free(struct arg_list *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    a->argc = 0;
}

static int parse_args(struct sp_config *cfg, int argc, char **argv,
                      char *err, size_t err_len);

int sp_config_parse(struct sp_config *cfg, int argc, char **argv,
                    char *err, size_t err_len)
{
    const char *path = config_path(argc, argv);
    if (!path)
        return parse_args(cfg, argc, argv, err, err_len);

    static struct arg_list args;
    args = (struct arg_list){ .err = err, .err_len = err_len };
    err[0] = '\0';
    int rc = arg_push(&args, argv[0]);
    int line = rc == 0 ? ini_parse(path, config_entry, &args) : 0;
    for (int i = 1; rc == 0 && line == 0 && i < argc; i++)
        rc = arg_push(&args, argv[i]);
    if (rc != 0 || line != 0) {
        args_free(&args);
        if (line < 0)
            return fail(err, err_len, "cannot read config %s: %s", path, strerror(errno));
        if (line > 0 && err[0]) {
            char why[256];
            snprintf(why, sizeof(why), "%s", err);
            return fail(err, err_len, "%s:%d: %s", path, line, why);
        }
        if (line > 0)
            return fail(err, err_len, "%s:%d: not an INI line", path, line);
        return fail(err, err_len, "config %s: more than %d options", path, CONFIG_MAX_ARGS / 2);
    }
    args.argv[args.argc] = NULL;
    rc = parse_args(cfg, args.argc, args.argv, err, err_len);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", err);
        fail(err, err_len, "%s (options from %s, then the command line)", why, path);
    }
    args_free(&args);
    return rc;
}

static int parse_args(struct sp_config *cfg, int argc, char **argv,
                      char *err, size_t err_len)
{
    bool have_ip = false;
    uint64_t size;
    int c;

    set_defaults(cfg);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_RUN_DIR:
            if (strlen(optarg) == 0 || strlen(optarg) > 100)
                return fail(err, err_len, "--run-dir: path empty or too long for a socket");
            snprintf(cfg->run_dir, sizeof(cfg->run_dir), "%s", optarg);
            break;
        case OPT_IP:
            if (sp_parse_prefix(optarg, &cfg->ip, &cfg->prefix_len) != 0)
                return fail(err, err_len, "--ip: expected A.B.C.D/N, got '%s'", optarg);
            have_ip = true;
            break;
        case OPT_GATEWAY:
            if (parse_ip(optarg, &cfg->gateway) != 0 || cfg->gateway == 0)
                return fail(err, err_len, "--gateway: bad address '%s'", optarg);
            break;
        case OPT_ROUTE:
            if (parse_route_arg(cfg, argc, argv, err, err_len) != 0)
                return -1;
            break;
        case OPT_MAX_FLOWS:
            if (parse_u32(optarg, 16, 1u << 22, &cfg->max_flows) != 0)
                return fail(err, err_len, "--max-flows: 16..4194304");
            break;
        case OPT_RX_BUF:
            if (parse_u32(optarg, 4096, 1u << 30, &cfg->rx_buf) != 0)
                return fail(err, err_len, "--rx-buf: 4K..1G");
            break;
        case OPT_TX_BUF:
            if (parse_u32(optarg, 4096, 1u << 30, &cfg->tx_buf) != 0)
                return fail(err, err_len, "--tx-buf: 4K..1G");
            break;
        case OPT_APP_MEM:
            if (sp_parse_size(optarg, &size) != 0)
                return fail(err, err_len, "--app-mem: bad size '%s'", optarg);
            cfg->app_mem = size;
            break;
        case OPT_MAX_CTX:
            if (parse_u32(optarg, 1, 4096, &cfg->max_ctx) != 0)
                return fail(err, err_len, "--max-ctx: 1..4096");
            break;
        case OPT_MAX_APPS:
            if (parse_u32(optarg, 1, 65536, &cfg->max_apps) != 0)
                return fail(err, err_len, "--max-apps: 1..65536");
            break;
        case OPT_MAX_APP_FLOWS:
            if (parse_u32(optarg, 1, UINT32_MAX, &cfg->max_app_flows) != 0)
                return fail(err, err_len, "--max-app-flows: 1..%u", UINT32_MAX);
            break;
        case OPT_CC:
            if (cc_parse(optarg, &cfg->cc) != 0)
                return fail(err, err_len, "--cc: reno or dctcp, got '%s'", optarg);
            break;
        case OPT_TIME_WAIT:
            if (parse_u32(optarg, 0, 240000, &cfg->time_wait_ms) != 0)
                return fail(err, err_len, "--time-wait-ms: 0..240000");
            break;
        case OPT_RTO_MIN:
            if (parse_u32(optarg, 1, 60000, &cfg->rto_min_ms) != 0)
                return fail(err, err_len, "--rto-min-ms: 1..60000");
            break;
        case OPT_MAX_RETRIES:
            if (parse_u32(optarg, 1, 30, &cfg->max_retries) != 0)
                return fail(err, err_len, "--max-retries: 1..30");
            break;
        case OPT_SYN_RETRIES:
            if (parse_u32(optarg, 0, 10, &cfg->syn_retries) != 0)
                return fail(err, err_len, "--syn-retries: 0..10");
            break;
        case OPT_SYNACK_RETRIES:
            if (parse_u32(optarg, 0, 10, &cfg->synack_retries) != 0)
                return fail(err, err_len, "--synack-retries: 0..10");
            break;
        case OPT_FIN_WAIT2:
            if (parse_u32(optarg, 1, 600000, &cfg->fin_wait2_ms) != 0)
                return fail(err, err_len, "--fin-wait2-ms: 1..600000");
            break;
        case OPT_ARP_TIMEOUT:
            if (parse_u32(optarg, 1000, 3600000, &cfg->arp_timeout_ms) != 0)
                return fail(err, err_len, "--arp-timeout-ms: 1000..3600000");
            break;
        case OPT_LOG:
            snprintf(cfg->log_file, sizeof(cfg->log_file), "%s", optarg);
            break;
        case OPT_LOG_LEVEL:
            cfg->log_level = sp_log_parse_level(optarg);
            if (cfg->log_level < 0)
                return fail(err, err_len, "--log-level: error, warn, info or debug");
            break;
        case OPT_FOREGROUND:
            cfg->foreground = true;
            break;
        case OPT_CONFIG:
            break;                /* read before the options, see above */
        case OPT_HELP:
            sp_config_usage(argv[0]);
            return 1;
        default:
            return fail(err, err_len, "unknown or incomplete option '%s'",
                        argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail(err, err_len, "unexpected argument '%s'", argv[optind]);
    return check_config(cfg, have_ip, err, err_len);
}
