#!/bin/sh
# Runs PROGRAM with libzio and Debian's jemalloc (redis-server's allocator)
# preloaded.  usage: with-jemalloc.sh LIBZIO PROGRAM [ARGS]
set -eu
lib=$1
shift
jemalloc=$(ldconfig -p | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
if [ -z "$jemalloc" ]; then
    echo "FAIL: libjemalloc.so.2 not found (tools/install-deps installs it)"
    exit 1
fi
LD_PRELOAD="$lib $jemalloc" exec "$@"
