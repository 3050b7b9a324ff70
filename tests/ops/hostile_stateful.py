#!/usr/bin/python3
# hostile_stateful.py DEV TAS_IP TAS_MAC COUNT TASCTL STREAM_PORT PROBE_PORT [CLASS...]
#
# The stateful hostile classes of acceptance 4 (issue 4), run in the peer
# namespace against live connections of the TAS side (tests/ops/
# hostile-stateful.sh): forged segments that only make sense with the
# connection's current sequence numbers.  Those are learned by sniffing
# the TAS side's own segments on DEV: their ACK field is TAS's rcv_nxt,
# their sequence number lies between its snd_una and snd_max.  STREAM_PORT
# is a TAS server sending slowly to this side (iperf3 -R), so rcv_nxt stays
# put and an ACK learned a moment ago is still acceptable; PROBE_PORT is a
# TAS server that does not read, so its receive window is closed.
#
# For each class (all, or the ones named), COUNT copies of the segment go out while a sniffer
# watches what TAS sends back on that connection; then these must hold,
# each printed as a "PASS:" or "FAIL:" line:
#   - the class's counter in `tasctl --json status` grew by COUNT;
#   - TAS answered with the ACKs the RFCs ask for: rate-limited challenge
#     ACKs at rcv_nxt (at least one, at most about one per 0.5 s), none for
#     an RST outside the window or a bad option, ACKs with window 0 for
#     the probes;
#   - TAS sent no RST and the connection is still ESTABLISHED.
import json
import subprocess
import sys
import threading
import time

from scapy.all import AsyncSniffer, Ether, IP, TCP, Raw, conf, get_if_hwaddr, sniff

FAR = 1 << 30
GAP_S = 0.5                 # fast path's and slow path's challenge ACK interval

dev, tas_ip, tas_mac, count, tasctl, stream_port, probe_port = sys.argv[1:8]
count = int(count)
tasctl = tasctl.split()
stream_port, probe_port = int(stream_port), int(probe_port)
conf.verb = 0
out = conf.L2socket(iface=dev)
fails = 0


def report(ok, what):
    global fails
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    fails += not ok


def ctl(what):
    reply = subprocess.run(tasctl + ["--json", what], check=True, capture_output=True, text=True)
    return json.loads(reply.stdout)


def counters():
    s = ctl("status")
    c = dict(s["counters"]["drops"])
    c["challenge_acks"] = s["counters"]["challenge_acks"]
    for k, v in s["slowpath_rfc5961"].items():
        c["slowpath_" + k] = v
    return c


def from_tas(port):
    return lambda p: IP in p and TCP in p and p[IP].src == tas_ip and p[TCP].sport == port


def learn(port, want):
    """The latest TAS segment on port satisfying want, within 10 s."""
    got = sniff(iface=dev, lfilter=lambda p: from_tas(port)(p) and want(p), count=1, timeout=10)
    return got[0] if got else None


def flows_on(port):
    return [f for f in ctl("flows")["flows"] if f["local"].endswith(":%d" % port)]


def flow_state(peer_port):
    for f in flows_on(stream_port):
        if f["remote"].endswith(":%d" % peer_port):
            return f["state"]
    return "gone"


def provoke(port):
    """Makes TAS speak on the one connection to port: a pure ACK far outside
    its window draws an ACK (at most one per 0.5 s) that shows rcv_nxt and
    the window.  A connection whose window closed a while ago is otherwise
    silent but for the peer's persist probes, which back off to minutes."""
    flows = flows_on(port)
    if len(flows) != 1:
        return
    peer_ip, peer_port = flows[0]["remote"].split(":")
    ack = TCP(sport=int(peer_port), dport=port, flags="A", seq=FAR, ack=0)
    out.send(bytes(Ether(src=get_if_hwaddr(dev), dst=tas_mac) / IP(src=peer_ip, dst=tas_ip) / ack))


# name: (port, segment(seg) -> scapy TCP/payload, counter that grows,
#        answer: "challenge" | "none" | "window0")
def classes():
    def data(seq, ack, payload=b"x" * 100, options=None):
        return lambda s: TCP(flags="A", seq=seq(s), ack=ack(s), options=options or []) / Raw(payload)

    rcv = lambda s: s.ack                        # noqa: E731 TAS's rcv_nxt
    ack_ok = lambda s: s.seq                     # noqa: E731 in [snd_una, snd_max]
    ts = ("Timestamp", (1, 0))
    return {
        "data_far_ahead": (stream_port, data(lambda s: rcv(s) + FAR, ack_ok), "out_of_window", "challenge"),
        "data_far_behind": (stream_port, data(lambda s: rcv(s) - FAR, ack_ok), "out_of_window", "challenge"),
        "ack_of_unsent_data": (stream_port, data(rcv, lambda s: ack_ok(s) + FAR), "bad_ack", "challenge"),
        "ack_far_in_past": (stream_port, data(rcv, lambda s: ack_ok(s) - FAR), "bad_ack", "challenge"),
        "in_window_data_old_ack": (stream_port, data(lambda s: rcv(s) + 1000, lambda s: ack_ok(s) - FAR),
                                   "bad_ack", "challenge"),
        "rst_in_window": (stream_port, lambda s: TCP(flags="R", seq=rcv(s) + 1000), "rst_in_window",
                          "challenge"),
        "rst_far_outside_window": (stream_port, lambda s: TCP(flags="R", seq=rcv(s) + FAR),
                                   "out_of_window", "none"),
        "syn_in_window": (stream_port, lambda s: TCP(flags="S", seq=rcv(s) + 1000), "slowpath_syns",
                          "challenge"),
        "two_timestamp_options": (stream_port, data(rcv, ack_ok, options=[ts, ("NOP", None), ("NOP", None), ts]),
                                  "tcp_header", "none"),
        "two_mss_options": (stream_port, data(rcv, ack_ok, options=[("MSS", 1400), ("MSS", 1000)]),
                            "tcp_header", "none"),
        "zero_window_probe": (probe_port, data(rcv, ack_ok, payload=b"p"), "rx_ring_full", "window0"),
    }


def run(name, port, segment, counter, answer):
    before = counters()
    sniffer = AsyncSniffer(iface=dev, lfilter=from_tas(port), store=True)
    sniffer.start()
    # learned last, so the ACK field taken from it is as fresh as can be
    if port == probe_port:
        threading.Timer(0.3, provoke, (port,)).start()
        seen = learn(port, lambda p: p[TCP].window == 0 and p[TCP].flags == "A")
    else:
        seen = learn(port, lambda p: len(p[TCP].payload) >= 512)   # data, not iperf3's control
    if seen is None:
        sniffer.stop()
        report(False, "%s: no segment of the connection on port %d seen" % (name, port))
        return
    t = seen[TCP]
    peer_port = t.dport
    tcp = segment(t)
    tcp.sport, tcp.dport = peer_port, port
    tcp.seq, tcp.ack = tcp.seq & 0xffffffff, tcp.ack & 0xffffffff
    frame = bytes(Ether(src=get_if_hwaddr(dev), dst=tas_mac) / IP(src=seen[IP].dst, dst=tas_ip) / tcp)
    start = time.monotonic()
    for _ in range(count):
        out.send(frame)
    took = time.monotonic() - start
    time.sleep(0.6)
    answers = [p for p in sniffer.stop() if p.time > seen.time and p[TCP].dport == peer_port]
    after = counters()

    grew = after[counter] - before[counter]
    report(grew >= count, "%s x%d: %s grew by %d" % (name, count, counter, grew))
    pure = [p for p in answers if len(p[TCP].payload) == 0 and p[TCP].flags == "A"]
    rsts = [p for p in answers if "R" in p[TCP].flags]
    report(not rsts, "%s: TAS sent no RST on the connection (%d)" % (name, len(rsts)))
    if answer == "challenge":
        # the fast path's and the slow path's limits are separate
        limit = 2 * (2 + int(took / GAP_S))
        key = "slowpath_challenge_acks" if counter.startswith("slowpath") else "challenge_acks"
        counted = after[key] - before[key]
        report(1 <= len(pure) <= limit and counted >= 1,
               "%s: %d challenge ACKs seen (1..%d allowed, %s +%d)" % (name, len(pure), limit, key, counted))
        right = all(p[TCP].ack == t.ack for p in pure)
        report(right, "%s: the challenge ACKs acknowledge rcv_nxt %d" % (name, t.ack))
    elif answer == "none":
        report(not pure, "%s: dropped silently (%d ACKs)" % (name, len(pure)))
    elif answer == "window0":
        closed = [p for p in pure if p[TCP].window == 0 and p[TCP].ack == t.ack]
        report(len(closed) >= 1 and len(closed) == len(pure),
               "%s: %d ACKs with window 0 at rcv_nxt, %d ACKs in all" % (name, len(closed), len(pure)))
    if port == stream_port:
        state = flow_state(peer_port)
        report(state == "ESTABLISHED", "%s: the connection is %s" % (name, state))


def main():
    only = sys.argv[8:]
    for name, spec in classes().items():
        if not only or name in only:
            run(name, *spec)
    sys.exit(1 if fails else 0)


main()
