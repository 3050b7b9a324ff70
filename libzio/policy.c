/* Policy: when a copy is worth eliding and when a buffer stops being tracked.
 *
 * The dissertation measured that elision loses below ~16 KB copies and once
 * a program touches more than ~6% of the bytes it had us elide (every touch
 * costs a page fault).  Both lines are defaults, tunable from the
 * environment because the break-even point depends on the machine. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "zio/page.h"
#include "zio/policy.h"

#define DEFAULT_THRESHOLD (16 * 1024)
/* Write-protecting fresh input costs an ioctl and a TLB shootdown per run
 * of pages, more than copying anything much smaller (docs/zio.md). */
#define DEFAULT_PROTECT_MIN (256 * 1024)
#define DEFAULT_TOUCH_PERMILLE 60
#define DEFAULT_MAX_PAGES (64 * 1024)     /* 256 MB of elided data */
/* Measured in docs/zio.md: whole-page copies cost a fraction of copies
 * with fringes, for at most a page of padding per large block. */
#define DEFAULT_ALIGN_ALLOC true
#define COLD_BITS 10
#define COLD_SLOTS (1u << COLD_BITS)

bool zio_parse_size(const char *text, size_t *out)
{
    char *end;
    unsigned long long value;
    unsigned shift = 0;

    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno)
        return false;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end != '\0' || value > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)value << shift;
    return true;
}

bool zio_parse_percent(const char *text, unsigned *permille)
{
    char *end;
    double value;

    if (!text || ((*text < '0' || *text > '9') && *text != '.'))
        return false;
    errno = 0;
    value = strtod(text, &end);
    if (errno || *end != '\0' || value < 0 || value > 100)
        return false;
    *permille = (unsigned)(value * 10 + 0.5);
    return true;
}

static bool parse_flag(const char *text)
{
    return text && text[0] == '1' && text[1] == '\0';
}

/* "0" or "1"; anything else keeps the default. */
static bool parse_switch(const char *text, bool fallback)
{
    if (text && text[0] == '0' && text[1] == '\0')
        return false;
    return parse_flag(text) || fallback;
}

void zio_policy_load(struct zio_policy *policy, const char *(*lookup)(const char *name))
{
    const char *text;
    size_t size;

    policy->threshold = DEFAULT_THRESHOLD;
    policy->protect_min = DEFAULT_PROTECT_MIN;
    policy->touch_permille = DEFAULT_TOUCH_PERMILLE;
    policy->max_pages = DEFAULT_MAX_PAGES;
    policy->enabled = !parse_flag(lookup("ZIO_DISABLE"));
    policy->stats_at_exit = parse_flag(lookup("ZIO_STATS"));
    policy->align_alloc = parse_switch(lookup("ZIO_ALIGN_ALLOC"), DEFAULT_ALIGN_ALLOC);
    policy->stats_signal = 0;

    /* A threshold below one page could never elide anything. */
    if (zio_parse_size(lookup("ZIO_THRESHOLD"), &size) && size >= ZIO_PAGE_SIZE)
        policy->threshold = size;
    if (zio_parse_size(lookup("ZIO_PROTECT_MIN"), &size))
        policy->protect_min = size;
    zio_parse_percent(lookup("ZIO_TOUCH_RATIO"), &policy->touch_permille);
    if (zio_parse_size(lookup("ZIO_MAX_PAGES"), &size) && size > 0)
        policy->max_pages = size;
    text = lookup("ZIO_STATS_SIGNAL");
    if (text) {
        char *end;
        long signo = strtol(text, &end, 10);
        if (*end == '\0' && signo > 0 && signo < 65)
            policy->stats_signal = (int)signo;
    }
}

bool zio_policy_too_touched(const struct zio_policy *policy,
                            size_t touched_bytes, size_t elided_bytes)
{
    if (elided_bytes == 0)
        return true;
    /* touched / elided > permille / 1000, without floating point */
    return (unsigned __int128)touched_bytes * 1000 >
           (unsigned __int128)elided_bytes * policy->touch_permille;
}

static _Atomic uintptr_t cold_slots[COLD_SLOTS];

static _Atomic uintptr_t *cold_slot(uintptr_t dst)
{
    uintptr_t h = dst * 0x9E3779B97F4A7C15ULL;
    return &cold_slots[h >> (64 - COLD_BITS)];
}

void zio_cold_mark(uintptr_t dst)
{
    atomic_store_explicit(cold_slot(dst), dst, memory_order_relaxed);
}

void zio_cold_forget(uintptr_t dst)
{
    uintptr_t expected = dst;
    atomic_compare_exchange_strong_explicit(cold_slot(dst), &expected, 0,
                                            memory_order_relaxed, memory_order_relaxed);
}

bool zio_cold_check(uintptr_t dst)
{
    return atomic_load_explicit(cold_slot(dst), memory_order_relaxed) == dst;
}
