#!/bin/sh
# Runs zio-chain-cost plain and with libzio, alternating, REPEAT times each,
# both with jemalloc (the allocator of Debian's redis-server) when present.
# usage: bench/zio/zio-chain-cost.sh [BUILD [SIZE [ROUNDS [REPEAT]]]]
set -eu
build=${1:-build}
size=${2:-524288}
rounds=${3:-2000}
repeat=${4:-3}
bin=$build/bench/zio/zio-chain-cost
lib=$(realpath "$build/libzio/libzio.so")
jemalloc=$(ldconfig -p | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
for i in $(seq "$repeat"); do
    printf 'plain   '
    env LD_PRELOAD="$jemalloc" "$bin" "$size" "$rounds"
    printf 'libzio  '
    env LD_PRELOAD="$lib $jemalloc" "$bin" "$size" "$rounds"
done
