#!/bin/bash
# systemd.sh: the deployment pieces without a DPDK NIC.  `meson install`
# puts units, config, launcher and tools in place; the installed units pass
# `systemd-analyze verify`; tas-slowpath reads the shared config file (the
# command line overriding it), reports readiness through NOTIFY_SOCKET and
# logs with journald levels; tas-fastpath-exec turns the same file into the
# fast path's command line.  PID 1 here is not systemd, so `systemctl start
# tas.target` itself is shown in docs/operations.md, not run.
set -uo pipefail
BUILD=${TAS_BUILD:?TAS_BUILD must name the build dir}
WORK=$(mktemp -d /tmp/tas-ops-systemd.XXXXXX)
SP_PID=""
FAILS=0 PASSES=0
pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
cleanup() {
    [[ -z $SP_PID ]] || { kill "$SP_PID" 2>/dev/null; wait "$SP_PID" 2>/dev/null; }
    rm -rf "$WORK"
}
trap cleanup EXIT

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
    "$root/bin/tasctl" "$root/bin/tas-slowpath" "$root/bin/tas-fastpath-exec"; do
    [[ -e $f ]] || missing+=" $f"
done
[[ -z $missing ]] && pass "installed: units, tas.conf, tasctl, tas-slowpath, tas-fastpath-exec" ||
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
eal = -l 1 --no-pci --vdev net_af_packet0,iface=nothing
idle-sleep-us = 200
CONF
python3 - "$WORK/notify.sock" >"$WORK/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(10)
print(s.recv(4096).decode(), flush=True)
PY
listener=$!
for _ in $(seq 50); do [[ -S $WORK/notify.sock ]] && break; sleep 0.1; done
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
kill "$SP_PID"; wait "$SP_PID"; SP_PID=""
grep -q '^<6>listening in' "$WORK/journal.out" && grep -q '^<6>signal 15' "$WORK/journal.out" &&
    pass "journald stream: lines carry syslog levels (<6> info)" ||
    { cat "$WORK/journal.out"; fail "journald level prefixes missing"; }
printf '[slowpath]\nip = 10.231.188.1/24\nmax-flowz = 9\n' >"$WORK/bad.conf"
err=$("$BUILD/slowpath/tas-slowpath" --config "$WORK/bad.conf" 2>&1)
[[ $? -ne 0 && $err == *"bad.conf:3: unknown key 'max-flowz'"* ]] &&
    pass "bad config key: refused with file and line" || fail "bad config: '$err'"

# 4. The fast path's command line from the same file.
args=$("$BUILD/tools/systemd/tas-fastpath-exec" "$WORK/tas.conf" /bin/echo)
want="-l 1 --no-pci --vdev net_af_packet0,iface=nothing -- --run-dir $WORK/run --idle-sleep-us 200"
[[ $args == "$want" ]] && pass "tas-fastpath-exec: $args" || fail "tas-fastpath-exec: '$args', want '$want'"

echo "RESULT: ops-systemd: $PASSES passed, $FAILS failed"
((FAILS == 0 && PASSES > 0))
