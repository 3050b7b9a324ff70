/* telemetry.c - the fast path's counters on DPDK's telemetry socket.
 *
 * An operator with DPDK's own tools (dpdk-telemetry.py, collectd's and
 * Prometheus' DPDK readers) can read the fast path without going through
 * the slow path:
 *
 *   /tas/stats   packets, bytes, exceptions, fast retransmits, drops in all,
 *                busy/idle/RX/TX cycles and cycles per packet, flows
 *                installed, summed over the cores
 *   /tas/drops   dropped packets by reason (the names tasctl uses)
 *
 * The callbacks run on DPDK's telemetry thread, never on a polling core:
 * they read the counters the cores keep in the service region (the same
 * ones tasctl gets from the slow path) with relaxed loads, and the flow
 * table's count.  Nothing here is on the hot path.  A lock the polling
 * core never takes keeps a late query from reading the region after
 * fp_telemetry_stop, once the daemon is about to unmap it (DPDK 22.11 has
 * no way to unregister a command).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include <tas/tasctl.h>

#include "fastpath.h"

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static bool tel_live;

/* One coherent copy of a core's counters, taken while it keeps counting. */
static void read_core(const struct tas_fp_core_stats *src, struct tas_fp_core_stats *dst)
{
    const uint64_t *s = (const uint64_t *)src;
    uint64_t *d = (uint64_t *)dst;
    for (size_t i = 0; i < sizeof(*dst) / sizeof(uint64_t); i++)
        d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* This process runs one polling core (fp.core); its counters live in the
 * service header, whose fp_cores says how many there are. */
static void read_totals(struct tas_fp_core_stats *total)
{
    memset(total, 0, sizeof(*total));
    for (uint32_t c = 0; c < fp.hdr->fp_cores && c < TAS_MAX_FP_CORES; c++) {
        struct tas_fp_core_stats s;
        read_core(&fp.hdr->core[c], &s);
        uint64_t *d = (uint64_t *)total;
        const uint64_t *v = (const uint64_t *)&s;
        for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
            d[i] += v[i];
    }
}

static uint64_t per_packet(uint64_t cycles, uint64_t packets)
{
    return packets ? cycles / packets : 0;
}

static void fill_stats(struct rte_tel_data *d)
{
    struct tas_fp_core_stats t;
    read_totals(&t);
    uint64_t dropped = 0;
    for (unsigned r = 0; r < TAS_DROP__COUNT; r++)
        dropped += t.drops[r];

    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "pid", (uint64_t)fp.hdr->fp_pid);
    rte_tel_data_add_dict_u64(d, "cores", fp.hdr->fp_cores);
    rte_tel_data_add_dict_u64(d, "flows", fp_flow_table_count(&fp.table));
    rte_tel_data_add_dict_u64(d, "rx_packets", t.rx_pkts);
    rte_tel_data_add_dict_u64(d, "rx_bytes", t.rx_bytes);
    rte_tel_data_add_dict_u64(d, "tx_packets", t.tx_pkts);
    rte_tel_data_add_dict_u64(d, "tx_bytes", t.tx_bytes);
    rte_tel_data_add_dict_u64(d, "exception_packets", t.exc_pkts);
    rte_tel_data_add_dict_u64(d, "fast_retransmits", t.fast_retransmits);
    rte_tel_data_add_dict_u64(d, "dropped", dropped);
    rte_tel_data_add_dict_u64(d, "tsc_hz", fp.tsc_hz);
    rte_tel_data_add_dict_u64(d, "busy_cycles", t.busy_cycles);
    rte_tel_data_add_dict_u64(d, "idle_cycles", t.idle_cycles);
    rte_tel_data_add_dict_u64(d, "rx_cycles", t.rx_cycles);
    rte_tel_data_add_dict_u64(d, "tx_cycles", t.tx_cycles);
    rte_tel_data_add_dict_u64(d, "cycles_per_packet",
                              per_packet(t.busy_cycles, t.rx_pkts + t.tx_pkts));
    rte_tel_data_add_dict_u64(d, "rx_cycles_per_packet", per_packet(t.rx_cycles, t.rx_pkts));
    rte_tel_data_add_dict_u64(d, "tx_cycles_per_packet", per_packet(t.tx_cycles, t.tx_pkts));
}

static void fill_drops(struct rte_tel_data *d)
{
    struct tas_fp_core_stats t;
    read_totals(&t);
    rte_tel_data_start_dict(d);
    for (unsigned r = 0; r < TAS_DROP__COUNT; r++)
        rte_tel_data_add_dict_u64(d, tas_drop_reason_names[r], t.drops[r]);
}

/* Both commands: answer while the service region is mapped, else an error
 * (the telemetry client then sees null). */
static int tel_command(const char *cmd, const char *params, struct rte_tel_data *d)
{
    int rc = 0;
    if (params != NULL && params[0] != '\0')
        return -EINVAL;
    pthread_mutex_lock(&tel_lock);
    if (!tel_live)
        rc = -ENODEV;
    else if (strcmp(cmd, "/tas/stats") == 0)
        fill_stats(d);
    else
        fill_drops(d);
    pthread_mutex_unlock(&tel_lock);
    return rc;
}

void fp_telemetry_register(void)
{
    pthread_mutex_lock(&tel_lock);
    tel_live = true;
    pthread_mutex_unlock(&tel_lock);
    int rc = rte_telemetry_register_cmd("/tas/stats", tel_command,
        "Fast-path counters summed over its cores: packets, bytes, drops, cycles, "
        "flows. Takes no parameters");
    if (rc == 0)
        rc = rte_telemetry_register_cmd("/tas/drops", tel_command,
            "Fast-path drops by reason. Takes no parameters");
    if (rc != 0)
        fprintf(stderr, "tas-fastpath: no telemetry commands (%s); tasctl still "
                "shows the counters\n", strerror(-rc));
}

void fp_telemetry_stop(void)
{
    pthread_mutex_lock(&tel_lock);
    tel_live = false;
    pthread_mutex_unlock(&tel_lock);
}
