/* log.h - libtas's messages on stderr, tagged with the process id. */
#ifndef LIBTAS_LOG_H
#define LIBTAS_LOG_H

void tas_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LIBTAS_LOG_H */
