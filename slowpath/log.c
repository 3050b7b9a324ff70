/* log.c - leveled logging.  One line per message with a wall-clock time
 * stamp and the level, written with a single fprintf so lines from a crash
 * are whole.  Debug messages are filtered before formatting, so a debug call
 * on the exception path costs a branch when debugging is off.
 *
 * Under systemd, stderr is a journald stream (JOURNAL_STREAM names it):
 * lines then carry the syslog priority as a "<N>" prefix, which journald
 * turns into the entry's level, and no time stamp (journald adds its own). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

static enum sp_log_level log_level = SP_LOG_INFO;
static FILE *log_file;
static bool to_journal;

static const char *const journal_prefixes[] = {
    [SP_LOG_ERR] = SD_ERR,
    [SP_LOG_WARN] = SD_WARNING,
    [SP_LOG_INFO] = SD_INFO,
    [SP_LOG_DEBUG] = SD_DEBUG,
};

static const char *const level_names[] = {
    [SP_LOG_ERR] = "error",
    [SP_LOG_WARN] = "warn",
    [SP_LOG_INFO] = "info",
    [SP_LOG_DEBUG] = "debug",
};

int sp_log_parse_level(const char *s)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void sp_log_set_level(enum sp_log_level level)
{
    log_level = level;
}

void sp_log_detect_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    to_journal = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
                 fstat(fileno(stderr), &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

int sp_log_open(const char *path)
{
    FILE *f = fopen(path, "ae");
    if (!f)
        return -errno;
    setvbuf(f, NULL, _IOLBF, 0);
    log_file = f;
    return 0;
}

void sp_log(enum sp_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (to_journal && !log_file) {
        fprintf(stderr, "%s%s\n", journal_prefixes[level], msg);
        return;
    }

    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);

    fprintf(log_file ? log_file : stderr, "%s.%03ld tas-slowpath %s: %s\n",
            when, ts.tv_nsec / 1000000, level_names[level], msg);
}
