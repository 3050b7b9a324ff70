#!/bin/sh
# Differential fuzz test: the fuzz program's digests with libzio preloaded
# must equal its digests without.  CI runs a few thousand seeds in several
# configurations; ZIO_NIGHTLY=1 runs many more.
set -eu
fuzz=$1
lib=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${ZIO_NIGHTLY:-0}" = 1 ]; then scale=10; else scale=1; fi

# jemalloc, which Debian's redis-server uses, lets libzio grow tracked
# blocks where they lie (xallocx); glibc's malloc does not.
jemalloc=$(ldconfig -p | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
if [ -z "$jemalloc" ]; then
    echo "FAIL: libjemalloc.so.2 not found (tools/install-deps installs it)"
    exit 1
fi

# name first count threads ops threshold max_pages align allocator
# (a small page bound forces LRU collection; align is ZIO_ALIGN_ALLOC's
# value, '-' leaves it unset: default-threshold runs libzio's defaults;
# the others set ZIO_PROTECT_MIN to the threshold, so that copies of every
# size from the threshold up start chains and the whole machinery is
# exercised)
configs="small-threshold 0 $((1000 * scale)) 3 30 4096 65536 0 glibc
default-threshold 100000 $((1000 * scale)) 3 30 16384 65536 - glibc
many-threads 200000 $((250 * scale)) 6 40 4096 65536 0 glibc
long-runs 300000 $((100 * scale)) 2 200 8192 256 0 glibc
aligned-allocations 400000 $((150 * scale)) 3 30 8192 65536 1 glibc
jemalloc 500000 $((500 * scale)) 3 40 4096 65536 0 jemalloc"

echo "$configs" | while read -r name first count threads ops threshold max_pages align allocator; do
    if [ "$allocator" = jemalloc ]; then allocator_lib=$jemalloc; else allocator_lib=; fi
    env LD_PRELOAD="$allocator_lib" "$fuzz" "$first" "$count" "$threads" "$ops" > "$work/plain" &
    plain=$!
    if [ "$align" = - ]; then
        align_env= protect_env=
    else
        align_env=ZIO_ALIGN_ALLOC=$align protect_env=ZIO_PROTECT_MIN=$threshold
    fi
    env -u ZIO_ALIGN_ALLOC -u ZIO_PROTECT_MIN ZIO_THRESHOLD=$threshold ZIO_MAX_PAGES=$max_pages \
        $align_env $protect_env ZIO_STATS=1 LD_PRELOAD="$lib $allocator_lib" \
        "$fuzz" "$first" "$count" "$threads" "$ops" > "$work/zio" 2> "$work/stats"
    wait $plain
    if ! cmp -s "$work/plain" "$work/zio"; then
        echo "FAIL $name: digests differ (first differing seeds below)"
        diff "$work/plain" "$work/zio" | head -10
        exit 1
    fi
    if [ "$(wc -l < "$work/zio")" -ne "$count" ]; then
        echo "FAIL $name: expected $count seeds"
        exit 1
    fi
    # A run that elided nothing would prove nothing.
    if grep -q "copies_elided=0 " "$work/stats"; then
        echo "FAIL $name: libzio elided no copy"
        cat "$work/stats"
        exit 1
    fi
    if [ "$max_pages" -lt 1024 ] && grep -q "gc_evictions=0$" "$work/stats"; then
        echo "FAIL $name: the page bound never triggered garbage collection"
        exit 1
    fi
    if [ "$allocator" = jemalloc ] && grep -q "reallocs_in_place=0 " "$work/stats"; then
        echo "FAIL $name: no tracked block was grown in place"
        exit 1
    fi
    echo "ok $name: $count seeds, $(tail -1 "$work/stats")"
done
