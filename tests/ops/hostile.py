#!/usr/bin/python3
# hostile.py DEV SRC_IP DST_IP DST_MAC DST_PORT COUNT CLASS
# hostile.py --list
# Sends COUNT frames of one malformed class from DEV (run in the peer
# namespace).  Stateless classes: each must be dropped by the fast path's
# parser and counted under a drop reason (tests/ops/hostile.sh).
import sys
from scapy.all import Ether, IP, TCP, Raw, sendp, get_if_hwaddr, conf


def classes(src, dst, dport):
    def ip(**kw):
        return IP(src=src, dst=dst, **kw)

    def tcp(**kw):
        return TCP(sport=40000, dport=dport, flags="A", seq=1, ack=1, **kw)

    return {
        "ip_checksum": lambda: ip(chksum=0x1234) / tcp(),
        "tcp_checksum": lambda: ip() / tcp(chksum=0x1234) / Raw(b"x" * 10),
        "ip_ihl_small": lambda: ip(ihl=3) / tcp(),
        "ip_total_length_beyond_frame": lambda: ip(len=1400) / tcp(),
        "tcp_data_offset_small": lambda: ip() / tcp(dataofs=2),
        "tcp_data_offset_beyond_segment": lambda: ip() / tcp(dataofs=15),
        # timestamp option whose length runs past the header
        "tcp_option_overrun": lambda: ip() / tcp(dataofs=6) / Raw(b"\x08\x30\x00\x00"),
        # MSS option with length 0
        "tcp_option_zero_length": lambda: ip() / tcp(dataofs=6) / Raw(b"\x02\x00\x00\x00"),
        "runt": lambda: ip() / tcp(),      # cut below, after building
    }


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(classes("0.0.0.0", "0.0.0.0", 0)))
        return
    dev, src, dst, dst_mac, dport, count, name = sys.argv[1:8]
    conf.verb = 0
    pkt = classes(src, dst, int(dport))[name]()
    frame = bytes(Ether(src=get_if_hwaddr(dev), dst=dst_mac) / pkt)
    if name == "runt":
        frame = frame[:14 + 10]        # half an IP header
    sendp([Ether(frame)] * int(count), iface=dev)


main()
