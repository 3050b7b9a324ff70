/* log.h - leveled logging for the slow path (stderr, journald or a file). */
#ifndef SP_LOG_H
#define SP_LOG_H

enum sp_log_level {
    SP_LOG_ERR = 0,
    SP_LOG_WARN,
    SP_LOG_INFO,
    SP_LOG_DEBUG,
};

/* Returns the level named by s ("error", "warn", "info", "debug"), or -1. */
int sp_log_parse_level(const char *s);

void sp_log_set_level(enum sp_log_level level);

/* Uses journald levels when stderr is the journal (a systemd service). */
void sp_log_detect_journal(void);

/* Sends further messages to path (appending) instead of stderr. */
int sp_log_open(const char *path);

void sp_log(enum sp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define sp_err(...)   sp_log(SP_LOG_ERR, __VA_ARGS__)
#define sp_warn(...)  sp_log(SP_LOG_WARN, __VA_ARGS__)
#define sp_info(...)  sp_log(SP_LOG_INFO, __VA_ARGS__)
#define sp_debug(...) sp_log(SP_LOG_DEBUG, __VA_ARGS__)

#endif /* SP_LOG_H */
