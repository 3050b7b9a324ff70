/* port.c - the DPDK ethdev the fast path owns: one RX and one TX queue, the
 * mbuf pool, checksum offloads where the device really has them, and the
 * batched transmit of everything a core sends.
 *
 * The device can be anything DPDK drives (a NIC by PCI address, af_packet,
 * af_xdp, tap); only the capabilities it reports are used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "fastpath.h"

#define MBUF_CACHE 256
/* room for an Ethernet frame of the port's MTU, with a VLAN tag's slack */
#define FRAME_OVERHEAD (RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN + 4)

static uint64_t rx_csum_offloads(const struct rte_eth_dev_info *info)
{
    uint64_t want = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
    return (info->rx_offload_capa & want) == want ? want : 0;
}

static uint64_t tx_csum_offloads(const struct rte_eth_dev_info *info)
{
    uint64_t want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
    return (info->tx_offload_capa & want) == want ? want : 0;
}

int fp_port_init(struct fp_core *c)
{
    uint16_t port = fp.opt.port;
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    int rc;

    if (!rte_eth_dev_is_valid_port(port)) {
        fprintf(stderr, "tas-fastpath: no ethdev with index %u (%u available); "
                "pass the device as an EAL argument (-a PCI or --vdev)\n",
                port, rte_eth_dev_count_avail());
        return -ENODEV;
    }
    rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0) {
        fprintf(stderr, "tas-fastpath: port %u: cannot read device info: %s\n",
                port, rte_strerror(-rc));
        return rc;
    }
    if (rte_eth_dev_get_mtu(port, &fp.mtu) != 0)
        fp.mtu = RTE_ETHER_MTU;

    memset(&conf, 0, sizeof(conf));
    conf.rxmode.offloads = rx_csum_offloads(&info);
    conf.txmode.offloads = tx_csum_offloads(&info);
    fp.offloads = 0;
    if (conf.txmode.offloads && conf.rxmode.offloads)
        fp.offloads = TAS_OFFLOAD_IPV4_CSUM | TAS_OFFLOAD_TCP_CSUM;
    else
        conf.txmode.offloads = conf.rxmode.offloads = 0;

    uint32_t data_room = fp.mtu + FRAME_OVERHEAD;
    if (data_room < RTE_MBUF_DEFAULT_DATAROOM)
        data_room = RTE_MBUF_DEFAULT_DATAROOM;
    c->pool = rte_pktmbuf_pool_create("fp_mbufs", fp.opt.mbufs, MBUF_CACHE, 0,
                                      (uint16_t)(data_room + RTE_PKTMBUF_HEADROOM),
                                      rte_eth_dev_socket_id(port));
    if (!c->pool) {
        fprintf(stderr, "tas-fastpath: cannot create a pool of %u mbufs: %s\n",
                fp.opt.mbufs, rte_strerror(rte_errno));
        return -rte_errno;
    }

    rc = rte_eth_dev_configure(port, 1, 1, &conf);
    if (rc != 0) {
        fprintf(stderr, "tas-fastpath: port %u: configure failed: %s\n", port,
                rte_strerror(-rc));
        return rc;
    }
    uint16_t rx_desc = (uint16_t)fp.opt.rx_desc, tx_desc = (uint16_t)fp.opt.tx_desc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
    if (rc == 0)
        rc = rte_eth_rx_queue_setup(port, 0, rx_desc, rte_eth_dev_socket_id(port),
                                    NULL, c->pool);
    if (rc == 0)
        rc = rte_eth_tx_queue_setup(port, 0, tx_desc, rte_eth_dev_socket_id(port),
                                    NULL);
    if (rc == 0)
        rc = rte_eth_dev_start(port);
    if (rc != 0) {
        fprintf(stderr, "tas-fastpath: port %u: queue setup/start failed: %s\n",
                port, rte_strerror(-rc));
        return rc;
    }
    /* Not every driver can turn promiscuity off (af_packet sees everything
     * anyway); the parser filters by destination in either case. */
    rte_eth_promiscuous_disable(port);

    struct rte_ether_addr mac;
    rc = rte_eth_macaddr_get(port, &mac);
    if (rc != 0) {
        fprintf(stderr, "tas-fastpath: port %u: cannot read MAC address: %s\n",
                port, rte_strerror(-rc));
        return rc;
    }
    memcpy(fp.local.mac, mac.addr_bytes, TAS_ETH_ALEN);
    c->port = port;
    c->queue = 0;
    fprintf(stderr, "tas-fastpath: port %u (%s) up: MAC " RTE_ETHER_ADDR_PRT_FMT
            ", MTU %u, checksum offload %s\n", port, info.driver_name,
            RTE_ETHER_ADDR_BYTES(&mac), fp.mtu, fp.offloads ? "on" : "off (software)");
    return 0;
}

void fp_port_close(uint16_t port)
{
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
}

void fp_tx_flush(struct fp_core *c)
{
    unsigned sent = 0;
    /* A full device queue frees up as it drains; a few tries, then drop
     * rather than stall every other flow behind it. */
    for (int tries = 0; sent < c->tx_count && tries < 4; tries++)
        sent += rte_eth_tx_burst(c->port, c->queue, c->tx_batch + sent,
                                 (uint16_t)(c->tx_count - sent));
    if (sent < c->tx_count) {
        c->stats->drops[TAS_DROP_TX_NO_MBUF] += c->tx_count - sent;
        rte_pktmbuf_free_bulk(c->tx_batch + sent, c->tx_count - sent);
    }
    c->tx_count = 0;
}
