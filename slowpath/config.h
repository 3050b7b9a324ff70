/* config.h - the slow path's settings and their command-line parser. */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cc.h"
#include "route.h"

struct sp_config {
    char run_dir[PATH_MAX];
    uint32_t ip;                  /* network order */
    uint8_t prefix_len;
    uint32_t gateway;             /* network order; 0 = none */
    struct route extra_routes[ROUTE_MAX];
    unsigned n_extra_routes;
    uint32_t max_flows;
    uint32_t rx_buf;              /* bytes per flow */
    uint32_t tx_buf;
    uint64_t app_mem;             /* payload area per application */
    uint32_t max_ctx;             /* contexts per application */
    uint32_t max_apps;
    uint32_t max_app_flows;       /* connections per application */
    uint32_t app_ring_slots;      /* per context ring */
    uint32_t svc_ring_slots;      /* per fast-path core ring */
    enum cc_algo cc;
    uint32_t time_wait_ms;
    uint32_t rto_min_ms;
    uint32_t max_retries;         /* RTOs without progress before giving up */
    uint32_t syn_retries;
    uint32_t synack_retries;
    uint32_t fin_wait2_ms;        /* orphaned FIN_WAIT_2 lifetime */
    uint32_t arp_timeout_ms;
    char log_file[PATH_MAX];
    int log_level;
    bool foreground;
};

/* Fills cfg from argv (defaults for what is not given).  Returns 0, 1 when
 * --help was asked for (usage already printed), or -1 with a message in err. */
int sp_config_parse(struct sp_config *cfg, int argc, char **argv,
                    char *err, size_t err_len);

void sp_config_usage(const char *prog);

/* Parses "A.B.C.D/N" (network order address). */
int sp_parse_prefix(const char *s, uint32_t *ip, uint8_t *prefix_len);

/* Parses a byte count with an optional K, M or G suffix (powers of 1024). */
int sp_parse_size(const char *s, uint64_t *out);

#endif /* SP_CONFIG_H */
