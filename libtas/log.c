/* log.c - see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void tas_log(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf so lines of different threads do not interleave. */
    fprintf(stderr, "libtas[%d]: %s\n", (int)getpid(), line);
}
