#!/bin/bash
# posix-check.sh: run posix-check (posix_check.c) under tas-run on a test
# bed (tools/testbed/tas-testbed) against a socat echo server on the Linux
# peer.  Needs root; exits 77 (skip) without it.  TAS_MODE=linux runs the
# same checks on the kernel stack.
#
#   TAS_BUILD=build tests/tas/libtas/posix-check.sh
set -u
REPO_DIR=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=$(realpath -m "${TAS_BUILD:-$REPO_DIR/build}")
TESTBED=${TESTBED:-$REPO_DIR/tools/testbed/tas-testbed}
CHECK=$BUILD/tests/tas/libtas/posix-check
BED=ltpc$$

((EUID == 0)) || { echo "SKIP: needs root"; exit 77; }
command -v socat >/dev/null || { echo "SKIP: socat missing"; exit 77; }
[[ -x $CHECK ]] || { echo "FAIL: $CHECK is not built"; exit 1; }

cleanup() {
    [[ -n ${ECHO_PID:-} ]] && kill "$ECHO_PID" 2>/dev/null
    "$TESTBED" down "$BED" >/dev/null 2>&1
}
trap cleanup EXIT

ENV=$("$TESTBED" up "$BED" --mode "${TAS_MODE:-tas}" --build "$BUILD") || {
    echo "FAIL: test bed did not come up"
    exit 1
}
eval "$ENV"
ip netns exec "$PEER_NS" socat TCP-LISTEN:7030,reuseaddr,fork EXEC:cat &
ECHO_PID=$!
sleep 0.5
# shellcheck disable=SC2086 # TAS_EXEC is a command prefix
timeout 120 $TAS_EXEC "$CHECK" "$PEER_IP" 7030 7031
