/* Policy knobs of libzio, read once from the environment.
 *
 * Eliding a copy pays off only for large buffers that the program mostly
 * does not touch afterwards; these settings say where that line is. */
#ifndef ZIO_POLICY_H
#define ZIO_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zio_policy {
    size_t threshold;           /* ZIO_THRESHOLD: smallest copy worth eliding */
    size_t protect_min;         /* ZIO_PROTECT_MIN: smallest copy that may write-protect
                                   input not tracked yet (start a chain) */
    unsigned touch_permille;    /* ZIO_TOUCH_RATIO: percent touched before untracking, in 1/1000 */
    size_t max_pages;           /* ZIO_MAX_PAGES: bound on tracked pages (LRU) */
    bool enabled;               /* ZIO_DISABLE=1 turns every interposer into a pass-through */
    bool align_alloc;           /* ZIO_ALIGN_ALLOC (default 1): malloc of threshold or more is page-aligned */
    bool stats_at_exit;         /* ZIO_STATS=1 prints counters at exit */
    int stats_signal;           /* ZIO_STATS_SIGNAL=N prints counters on signal N */
};

/* Fills policy from getenv-style lookup; invalid values keep the defaults. */
void zio_policy_load(struct zio_policy *policy, const char *(*lookup)(const char *name));

/* Parses "16384", "16k", "2M"; returns false on garbage or overflow. */
bool zio_parse_size(const char *text, size_t *out);

/* Parses a percentage such as "6" or "0.5" into permille. */
bool zio_parse_percent(const char *text, unsigned *permille);

/* True once a tracked buffer has been touched too much to keep eliding it. */
bool zio_policy_too_touched(const struct zio_policy *policy,
                            size_t touched_bytes, size_t elided_bytes);

/* Destinations that were touched too much are remembered here so that the
 * next copy into them is done for real.  Lock-free, lossy by design. */
void zio_cold_mark(uintptr_t dst);
void zio_cold_forget(uintptr_t dst);
bool zio_cold_check(uintptr_t dst);

#endif
