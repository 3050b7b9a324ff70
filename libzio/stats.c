/* Counters: what libzio did for the program.
 *
 * Kept as relaxed atomics so that every thread can bump them without
 * contention; printed at exit (ZIO_STATS=1) or on a chosen signal
 * (ZIO_STATS_SIGNAL=N) so that a long-running server can be inspected. */
#include <stdio.h>
#include <unistd.h>

#include "engine.h"

struct zio_stats zio_stats;

void zio_stats_print(int fd)
{
    char line[512];
    int len;

    /* snprintf of integers does not allocate, so this is usable from the
     * signal handler too. */
    len = snprintf(line, sizeof(line),
                   "libzio[%d]: copies_elided=%lu bytes_elided=%lu faults_missing=%lu "
                   "faults_wp=%lu fallbacks=%lu reallocs_in_place=%lu pages_materialized=%lu "
                   "outputs_gathered=%lu gc_evictions=%lu\n",
                   (int)getpid(),
                   zio_stat_read(copies_elided), zio_stat_read(bytes_elided),
                   zio_stat_read(faults_missing), zio_stat_read(faults_wp),
                   zio_stat_read(fallbacks), zio_stat_read(reallocs_in_place),
                   zio_stat_read(pages_materialized),
                   zio_stat_read(outputs_gathered), zio_stat_read(gc_evictions));
    if (len > 0 && write(fd, line, (size_t)len) < 0)
        return;
}
