#!/bin/bash
# systemd.sh: the deployment pieces without a DPDK NIC.  `meson install`
# puts units, config and tools in place; the installed units pass
# `systemd-analyze verify`; tas-slowpath reads the shared config file (the
# command line overriding it), reports readiness through NOTIFY_SOCKET and
# logs with journald levels; tas-fastpath reads the same file (EAL arguments
# for DPDK's null device) and reports readiness once attached.  PID 1 here is not systemd, so `systemctl start
# tas.target` itself is shown in docs/operations.md, not run.
set -uo pipefail
BUILD=${TAS_BUILD:?TAS_BUILD must name the build dir}
WORK=$(mktemp -d /tmp/tas-ops-systemd.XXXXXX)
SP_PID="" FP_PID=""
FAILS=0 PASSES=0
pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
cleanup() {
    for pid in $FP_PID $SP_PID; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Receives one sd_notify datagram on SOCK into OUT, in the background ($listener).
notify_listen() {
    python3 - "$1" >"$2" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(30)
print(s.recv(4096).decode(), flush=True)
PY
    listener=$!
    for _ in $(seq 50); do [[ -S $1 ]] && break; sleep 0.1; done
}

# 1. meson install into a staging root.
if meson install -C "$BUILD" --no-rebuild --destdir "$WORK/root" >"$WORK/install.log" 2>&1; then
    pass "meson install --destdir"
else
    tail -20 "$WORK/install.log"; fail "meson install"; exit 1
fi
prefix=$(meson introspect "$BUILD" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
root=$WORK/root$prefix
sysconf=$(meson introspect "$BUILD" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="sysconfdir"][0])')
[[ $sysconf == /* ]] || sysconf=$prefix/$sysconf
missing=""
for f in "$root/lib/systemd/system/tas.target" "$root/lib/systemd/system/tas-slowpath.service" \
    "$root/lib/systemd/system/tas-fastpath.service" "$WORK/root$sysconf/tas/tas.conf" \
    "$root/bin/tasctl" "$root/bin/tas-slowpath"; do
    [[ -e $f ]] || missing+=" $f"
done
[[ -z $missing ]] && pass "installed: units, tas.conf, tasctl, tas-slowpath" ||
    fail "not installed:$missing"

# 2. systemd-analyze verify the installed units, their paths pointed at the
# staging root (verify checks that every ExecStart binary exists).
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$WORK/units"
    [[ -e $root/bin/tas-fastpath ]] || ln -s /bin/true "$root/bin/tas-fastpath"
    for u in tas.target tas-slowpath.service tas-fastpath.service; do
        sed -e "s|$prefix/bin/|$root/bin/|g" -e "s|$sysconf/|$WORK/root$sysconf/|g" \
            "$root/lib/systemd/system/$u" >"$WORK/units/$u"
    done
    if SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$WORK/units/tas.target" \
        "$WORK/units/tas-slowpath.service" "$WORK/units/tas-fastpath.service" >"$WORK/verify.log" 2>&1 &&
        ! grep -v "^$" "$WORK/verify.log" | grep -q .; then
        pass "systemd-analyze verify: tas.target, tas-slowpath.service, tas-fastpath.service"
    else
        cat "$WORK/verify.log"; fail "systemd-analyze verify"
    fi
else
    echo "SKIP: systemd-analyze not installed"
fi

# 3. The slow path reads the config, the command line wins; readiness and
# journald levels.
cat >"$WORK/tas.conf" <<CONF
[service]
run-dir = $WORK/run
[slowpath]
ip = 10.231.188.1/24
cc = dctcp
max-apps = 8
foreground = yes
[fastpath]
eal = -l 1 --no-huge -m 512 --no-pci --file-prefix tas-ops-systemd --vdev net_null0
idle-sleep-us = 200
CONF
notify_listen "$WORK/notify.sock" "$WORK/notify.out"
exec 9>"$WORK/journal.out"
stream=$(stat -c '%d:%i' "$WORK/journal.out")
NOTIFY_SOCKET=$WORK/notify.sock JOURNAL_STREAM=$stream \
    "$BUILD/slowpath/tas-slowpath" --config "$WORK/tas.conf" --cc reno 2>&9 &
SP_PID=$!
wait "$listener"
grep -q '^READY=1' "$WORK/notify.out" && pass "sd_notify READY=1 once the sockets exist" ||
    fail "no READY=1 on NOTIFY_SOCKET: $(cat "$WORK/notify.out")"
"$BUILD/tools/tasctl/tasctl" --run-dir "$WORK/run" --json status >"$WORK/status.json"
got=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["address"], r["congestion_control"])' "$WORK/status.json")
[[ $got == "10.231.188.1/24 reno" ]] && pass "config file read, command line overrides it ($got)" ||
    fail "status after --config: $got"

# 4. The fast path reads the same file ([fastpath] eal and idle-sleep-us,
# [service] run-dir; --mbufs on the command line) and is ready once attached.
if [[ -x $BUILD/fastpath/tas-fastpath ]]; then
    notify_listen "$WORK/fp-notify.sock" "$WORK/fp-notify.out"
    NOTIFY_SOCKET=$WORK/fp-notify.sock timeout 60 "$BUILD/fastpath/tas-fastpath" \
        --config "$WORK/tas.conf" -- --mbufs 4095 2>"$WORK/fp.log" &
    FP_PID=$!
    wait "$listener"
    grep -q '^READY=1' "$WORK/fp-notify.out" && grep -q 'blocking when idle' "$WORK/fp.log" &&
        "$BUILD/tools/tasctl/tasctl" --run-dir "$WORK/run" wait --timeout 5 &&
        pass "tas-fastpath --config: attached, idle-sleep-us from the file, READY=1" ||
        { cat "$WORK/fp.log"; fail "tas-fastpath --config: no READY=1 or not attached"; }
    kill "$FP_PID"; wait "$FP_PID"; FP_PID=""
    printf '[fastpath]\nidle-sleep-us = 200\n' >"$WORK/noeal.conf"
    err=$("$BUILD/fastpath/tas-fastpath" --config "$WORK/noeal.conf" 2>&1)
    [[ $? -eq 2 && $err == *"noeal.conf has no [fastpath] eal"* ]] &&
        pass "tas-fastpath: a config without eal is refused" || fail "tas-fastpath without eal: '$err'"
else
    echo "SKIP: tas-fastpath not built (no DPDK)"
fi

kill "$SP_PID"; wait "$SP_PID"; SP_PID=""
grep -q '^<6>listening in' "$WORK/journal.out" && grep -q '^<6>signal 15' "$WORK/journal.out" &&
    pass "journald stream: lines carry syslog levels (<6> info)" ||
    { cat "$WORK/journal.out"; fail "journald level prefixes missing"; }
printf '[slowpath]\nip = 10.231.188.1/24\nmax-flowz = 9\n' >"$WORK/bad.conf"
err=$("$BUILD/slowpath/tas-slowpath" --config "$WORK/bad.conf" 2>&1)
[[ $? -ne 0 && $err == *"bad.conf:3: unknown key 'max-flowz'"* ]] &&
    pass "bad config key: refused with file and line" || fail "bad config: '$err'"

echo "RESULT: ops-systemd: $PASSES passed, $FAILS failed"
((FAILS == 0 && PASSES > 0))
