/* main.c - tas-fastpath: the DPDK poll-mode daemon that runs the common case
 * of TCP for TAS (see ../shared/DESIGN.md section 3 and docs/fastpath.md).
 *
 *   tas-fastpath [--config FILE] [EAL arguments] -- [--run-dir DIR] [--port N]
 *                [--idle-sleep-us N] [--ack-delay-us N] [--rx-desc N]
 *                [--tx-desc N] [--mbufs N]
 *
 * --config FILE reads the file shared with the slow path (config.c).
 *
 * Start-up order: EAL, the port (so the MAC and MTU can be announced), the
 * attach to the slow path over DIR/fp.sock, then the polling loop on the
 * main lcore; once attached it tells systemd it is ready (Type=notify)
 * and offers its counters on DPDK's telemetry socket (telemetry.c).
 * It exits on SIGINT/SIGTERM, and when the slow path goes away
 * (fp.sock EOF): the service region dies with the slow path, and both are
 * restarted together.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>

#include <tas/ctl.h>

#include "config.h"
#include "fastpath.h"

struct fp_instance fp = { .sock = -1, .sp_efd = -1, .core = { .kick_efd = -1 } };

static void usage(void)
{
    fprintf(stderr,
            "usage: tas-fastpath [--config FILE] [EAL arguments] -- [options]\n"
            "  --config FILE       [service] run-dir and [fastpath] of the service's\n"
            "                      config file (eal = EAL arguments, other keys are\n"
            "                      the options below); the command line overrides it\n"
            "  --run-dir DIR       slow path run directory (default %s)\n"
            "  --port N            ethdev index (default 0)\n"
            "  --idle-sleep-us N   block up to N us when idle (default 0: busy poll)\n"
            "  --ack-delay-us N    hold a lone segment's ACK up to N us for data to\n"
            "                      carry it (default 50; 0: ACK at the end of the round)\n"
            "  --rx-desc N         RX descriptors (default 1024)\n"
            "  --tx-desc N         TX descriptors (default 1024)\n"
            "  --mbufs N           mbufs in the pool (default 16383)\n",
            TAS_DEFAULT_RUN_DIR);
}

static int parse_uint(const char *name, const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v > max) {
        fprintf(stderr, "tas-fastpath: %s: invalid value '%s' (0..%u)\n", name, s, max);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "run-dir", required_argument, NULL, 'd' },
        { "port", required_argument, NULL, 'p' },
        { "idle-sleep-us", required_argument, NULL, 's' },
        { "ack-delay-us", required_argument, NULL, 'a' },
        { "rx-desc", required_argument, NULL, 'r' },
        { "tx-desc", required_argument, NULL, 't' },
        { "mbufs", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned port = 0;
    int opt, rc = 0;

    fp.opt.run_dir = TAS_DEFAULT_RUN_DIR;
    fp.opt.ack_delay_us = 100;
    fp.opt.rx_desc = 1024;
    fp.opt.tx_desc = 1024;
    fp.opt.mbufs = 16383;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1 && rc == 0) {
        switch (opt) {
        case 'd': fp.opt.run_dir = optarg; break;
        case 'p': rc = parse_uint("--port", optarg, RTE_MAX_ETHPORTS - 1, &port); break;
        case 's': rc = parse_uint("--idle-sleep-us", optarg, 10000000, &fp.opt.idle_sleep_us); break;
        case 'a': rc = parse_uint("--ack-delay-us", optarg, 1000, &fp.opt.ack_delay_us); break;
        case 'r': rc = parse_uint("--rx-desc", optarg, 32768, &fp.opt.rx_desc); break;
        case 't': rc = parse_uint("--tx-desc", optarg, 32768, &fp.opt.tx_desc); break;
        case 'm': rc = parse_uint("--mbufs", optarg, 1u << 24, &fp.opt.mbufs); break;
        case 'h': usage(); exit(0);
        default: usage(); return -1;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "tas-fastpath: unexpected argument '%s'\n", argv[optind]);
        usage();
        return -1;
    }
    fp.opt.port = (uint16_t)port;
    return rc;
}

static void on_signal(int sig)
{
    (void)sig;
    fp.quit_reason = "signal";
    fp.quit = true;
}

static int setup_instance(void)
{
    fp.flows = calloc(fp.geo.max_flows, sizeof(*fp.flows));
    if (!fp.flows || fp_flow_table_init(&fp.table, fp.flows, fp.geo.max_flows) != 0 ||
        fp_core_init(&fp.core) != 0) {
        fprintf(stderr, "tas-fastpath: out of memory for %u flows\n", fp.geo.max_flows);
        return -ENOMEM;
    }
    /* Announce ourselves: fp_ready last, with release, after the rest. */
    struct tas_svc_header *h = fp.hdr;
    memcpy(h->fp_mac, fp.local.mac, TAS_ETH_ALEN);
    h->fp_mtu = fp.mtu;
    h->fp_cores = 1;
    h->fp_pid = (uint32_t)getpid();
    h->tsc_hz = fp.tsc_hz;
    h->fp_offloads = fp.offloads;
    __atomic_store_n(&h->fp_ready, 1, __ATOMIC_RELEASE);
    return 0;
}

static void report_cycles(const struct tas_fp_core_stats *st)
{
    fprintf(stderr, "tas-fastpath: rx %lu pkts (%lu cycles/pkt), tx %lu pkts "
            "(%lu cycles/pkt), busy %.1f%%, exceptions %lu\n",
            st->rx_pkts, st->rx_pkts ? st->rx_cycles / st->rx_pkts : 0,
            st->tx_pkts, st->tx_pkts ? st->tx_cycles / st->tx_pkts : 0,
            100.0 * st->busy_cycles / (st->busy_cycles + st->idle_cycles + 1),
            st->exc_pkts);
    fprintf(stderr, "tas-fastpath: fast retransmits %lu, challenge ACKs %lu",
            st->fast_retransmits, st->challenge_acks);
    for (int r = 0; r < TAS_DROP__COUNT; r++)
        if (st->drops[r])
            fprintf(stderr, ", drops[%d] %lu", r, st->drops[r]);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    char err[256];
    if (fp_config_args(argc, argv, &argc, &argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "tas-fastpath: %s\n", err);
        return 2;
    }
    int rc = rte_eal_init(argc, argv);
    if (rc < 0) {
        fprintf(stderr, "tas-fastpath: EAL initialisation failed: %s\n",
                rte_strerror(rte_errno));
        return 1;
    }
    argc -= rc;
    argv += rc;
    if (parse_options(argc, argv) != 0) {
        rte_eal_cleanup();
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    fp.tsc_hz = rte_get_tsc_hz();

    int status = 1;
    if (fp_port_init(&fp.core) != 0)
        goto out_eal;
    if (fp_control_attach() != 0 || setup_instance() != 0)
        goto out_port;
    fp_telemetry_register();
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &fp.local.ip, ip, sizeof(ip));
    fprintf(stderr, "tas-fastpath: attached to %s/%s: %s/%u, %u flows, "
            "lcore %u, %s\n", fp.opt.run_dir, TAS_FP_SOCK_NAME, ip, fp.prefix_len,
            fp.geo.max_flows, rte_lcore_id(),
            fp.opt.idle_sleep_us ? "blocking when idle" : "busy polling");
    sd_notify(0, "READY=1");

    fp_core_run(&fp.core);
    fprintf(stderr, "tas-fastpath: exiting: %s\n", fp.quit_reason);
    report_cycles(fp.core.stats);
    /* the slow path going away is a failure for systemd to restart us */
    status = strcmp(fp.quit_reason, "signal") == 0 ? 0 : 1;
out_port:
    fp_telemetry_stop();
    /* applications still registered are removed first: that touches the
     * flows and the core's context list */
    fp_control_close();
    fp_core_free(&fp.core);
    fp_flow_table_free(&fp.table);
    free(fp.flows);
    fp_port_close(fp.opt.port);
out_eal:
    rte_eal_cleanup();
    return status;
}
