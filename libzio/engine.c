/* The tracking engine: elides copies, resolves faults, keeps output exact.
 *
 * State: the page index (index.c) says, for every elided ("intermediate")
 * page, where its bytes really are, and for every write-protected
 * ("original") page, which intermediates read from it.  One mutex (the
 * engine lock) serializes every change of that state; lookups that only
 * decide whether to bother run under RCU without it.
 *
 * Invariants, all maintained under the engine lock:
 *  - an intermediate page is registered with userfaultfd and not mapped,
 *    and the 4 KB at its `src` are its contents;
 *  - every page those bytes live on is an original: mapped and
 *    write-protected, so it cannot change while anyone depends on it;
 *  - an original is never an intermediate.
 * While holding the lock we never touch program memory that could fault
 * into userfaultfd (the handler thread would wait for the lock forever):
 * pages are resolved with ioctls first, then read or written.
 *
 * Output calls substitute originals for intermediates and "pin" them for
 * the duration of the syscall; a write fault on an original while pinned is
 * deferred until the last output finishes, so the kernel never sends bytes
 * that changed after the program asked for them to be sent. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu-bp.h>

#include "engine.h"
#include "zio/dormant.h"
#include "zio/index.h"
#include "zio/page.h"

#define DEFERRED_MAX 1024
#define RELEASED_MAX 512
#define DEAD_MAX 64
#define FOREIGN_MAX 1024
#define UNREGISTER_MAX_PAGES (64 * 1024)
#define MATERIALIZE_RUN_MAX 128

/* One elided copy: the destination core pages it created. */
struct zio_buf {
    struct cds_list_head lru;   /* most recently used first */
    uintptr_t start, end;
    size_t live;                /* pages still elided */
    size_t elided;              /* pages elided by the copy */
    size_t touched;             /* pages the program faulted in */
};

struct range {
    uintptr_t start, end;
};

enum engine_state { ENGINE_OFF, ENGINE_ON, ENGINE_BROKEN };

static pthread_mutex_t engine_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t unpinned = PTHREAD_COND_INITIALIZER;
static enum engine_state state;
static bool index_ready;
static int uffd = -1;
static struct zio_pool buf_pool;
static CDS_LIST_HEAD(lru);
static unsigned long pins;
static uintptr_t deferred[DEFERRED_MAX];
static size_t nr_deferred;
static uintptr_t released[RELEASED_MAX];    /* originals no longer needed */
static size_t nr_released;
static uintptr_t *fresh;         /* new originals to protect, room for 2 * plan_cap */
static size_t nr_fresh;
static struct range dead[DEAD_MAX];         /* cores of buffers fully gone */
static size_t nr_dead;
static struct range foreign[FOREIGN_MAX];
static size_t nr_foreign;
static bool foreign_overflow;
static struct zio_dormant dormant;
static uintptr_t *plan;          /* per core page: resolved source, or 0 */
static size_t plan_cap;
static char bounce[ZIO_PAGE_SIZE] __attribute__((aligned(ZIO_PAGE_SIZE)));
static unsigned forks_pending;   /* no new elisions while a fork is on its way */
static __thread bool in_engine __attribute__((tls_model("initial-exec")));

/* Signals are blocked while the lock is held: a handler that copies or
 * frees would otherwise deadlock on it. */
static void engine_lock(sigset_t *saved)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, saved);
    pthread_mutex_lock(&engine_mutex);
    in_engine = true;
}

static void flush_released(void);
static void flush_dead(void);

static void engine_unlock(const sigset_t *saved)
{
    flush_released();
    flush_dead();
    /* A grace period takes urcu's registry lock, which a fork holds. */
    if (forks_pending == 0)
        zio_index_reclaim(false);
    in_engine = false;
    pthread_mutex_unlock(&engine_mutex);
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static bool tracking_anything(void)
{
    return zio_index_count(ZIO_INTERMEDIATE) + zio_index_count(ZIO_ORIGINAL) > 0;
}

static void on_fault(uintptr_t addr, bool wp);

static bool engine_start(void)
{
    if (state != ENGINE_OFF)
        return state == ENGINE_ON;
    state = ENGINE_BROKEN;
    if (!index_ready) {
        if (!zio_index_init(zio_policy.max_pages * 2))
            return false;
        zio_pool_init(&buf_pool, sizeof(struct zio_buf));
        index_ready = true;
    }
    uffd = zio_uffd_open();
    if (uffd < 0)
        return false;
    if (!zio_uffd_start_handler(uffd, on_fault)) {
        close(uffd);
        uffd = -1;
        return false;
    }
    state = ENGINE_ON;
    return true;
}

/* Calls fn on each run of untracked pages in [start, end). */
static void for_untracked_runs(uintptr_t start, uintptr_t end,
                               void (*fn)(uintptr_t start, size_t len, bool flag), bool flag)
{
    uintptr_t run = 0;

    for (uintptr_t page = start; page <= end; page += ZIO_PAGE_SIZE) {
        bool tracked = page == end || zio_index_lookup(page);

        if (!tracked && !run)
            run = page;
        else if (tracked && run) {
            fn(run, page - run, flag);
            run = 0;
        }
    }
}

/* Takes an untracked run out of userfaultfd, write protection included. */
static void unregister_run(uintptr_t start, size_t len, bool unused)
{
    (void)unused;
    zio_uffd_unregister(uffd, start, len);
}

/* Keeps an untracked run registered as a dormant span (see zio/dormant.h):
 * the next copy into the same memory then needs no UFFDIO_REGISTER round
 * trip through the VMA tree, and elided pages that died untouched need no
 * MADV_DONTNEED.  Past the table's capacity the run leaves userfaultfd. */
static void keep_run(uintptr_t start, size_t len, bool unprotect)
{
    if (unprotect)
        zio_uffd_protect(uffd, start, len, false);
    if (!zio_dormant_add(&dormant, start, start + len))
        unregister_run(start, len, false);
}

/* Released originals are unprotected in batches, one ioctl per run: freeing
 * a 1 MB buffer releases 256 of them.  Pages that became tracked again in
 * the meantime are skipped. */
static void flush_released(void)
{
    size_t i = 0;

    while (i < nr_released) {
        uintptr_t start = released[i];
        uintptr_t end = start + ZIO_PAGE_SIZE;

        for (i++; i < nr_released && released[i] == end; i++)
            end += ZIO_PAGE_SIZE;
        for_untracked_runs(start, end, keep_run, true);
    }
    nr_released = 0;
}

/* The cores of buffers that died: their dropped pages are unmapped and
 * carry no write protection (MADV_DONTNEED cleared it when they became
 * elided). */
static void flush_dead(void)
{
    for (size_t i = 0; i < nr_dead; i++)
        for_untracked_runs(dead[i].start, dead[i].end, keep_run, false);
    nr_dead = 0;
}

static bool dormant_any(void)
{
    return __atomic_load_n(&dormant.n, __ATOMIC_RELAXED) > 0;
}

/* Unregisters the dormant span holding a faulting page: the page is about
 * to be mapped, and the rest of its freed block probably too, whose first
 * touches should not each go through the handler thread.  Pages of a span
 * that are tracked again stay registered. */
static void release_dormant_span(uintptr_t page)
{
    struct zio_span span;

    if (zio_dormant_take(&dormant, page, page + ZIO_PAGE_SIZE, &span))
        for_untracked_runs(span.start, span.end, unregister_run, false);
}

/* Unregisters the dormant pages in [start, end), which a read() is about
 * to fill or which go away; the spans' other pages stay dormant. */
static void release_dormant(uintptr_t start, uintptr_t end)
{
    struct zio_span piece;

    start = zio_page_down(start);
    end = zio_page_up(end);
    while (zio_dormant_cut(&dormant, start, end, &piece))
        for_untracked_runs(piece.start, piece.end, unregister_run, false);
}

static void release_original(struct zio_page *orig)
{
    if (nr_released == RELEASED_MAX)
        flush_released();
    released[nr_released++] = orig->addr;
    zio_index_remove(orig);
}

static bool release_pending(uintptr_t page)
{
    for (size_t i = 0; i < nr_released; i++) {
        if (released[i] == page)
            return true;
    }
    return false;
}

/* A freed buffer is reported twice, by its core dying and by the free()
 * of the block around it: the walk over its pages is done once.  Past
 * capacity a range just stays registered outside the dormant table (its
 * pages then fault through the handler thread): slower, not wrong. */
static void add_dead(uintptr_t start, uintptr_t end)
{
    for (size_t i = 0; i < nr_dead; i++) {
        if (dead[i].start <= start && end <= dead[i].end)
            return;
        if (start <= dead[i].start && dead[i].end <= end) {
            dead[i] = (struct range){ start, end };
            return;
        }
    }
    if (nr_dead < DEAD_MAX)
        dead[nr_dead++] = (struct range){ start, end };
}

static void put_buf(struct zio_buf *buf)
{
    if (--buf->live == 0) {
        add_dead(buf->start, buf->end);
        cds_list_del(&buf->lru);
        zio_pool_put(&buf_pool, buf);
    }
}

/* Forgets an intermediate page without filling it: its contents are dead. */
static void drop_intermediate(struct zio_page *inter)
{
    for (int i = 0; i < 2; i++) {
        struct zio_page *orig = inter->inter.deps[i].original;

        if (!orig)
            continue;
        cds_list_del(&inter->inter.deps[i].node);
        if (--orig->orig.nr_dependents == 0)
            release_original(orig);
    }
    put_buf(inter->inter.buf);
    zio_index_remove(inter);
}

/* Fills inter with its bytes, together with the pages after it that
 * continue the same copy and whose sources end by src_end, in one
 * UFFDIO_COPY: a page at a time it costs 16 times a memcpy of the page.
 * Stops tracking them; returns how many pages it filled. */
static size_t materialize_run(struct zio_page *inter, uintptr_t src_end)
{
    struct zio_page *run[MATERIALIZE_RUN_MAX];
    size_t n = 1;

    run[0] = inter;
    while (n < MATERIALIZE_RUN_MAX) {
        struct zio_page *next = zio_index_lookup(inter->addr + n * ZIO_PAGE_SIZE);
        uintptr_t src = inter->inter.src + n * ZIO_PAGE_SIZE;

        if (!next || next->kind != ZIO_INTERMEDIATE || next->inter.buf != inter->inter.buf ||
            next->inter.src != src || src + ZIO_PAGE_SIZE > src_end)
            break;
        run[n++] = next;
    }
    if (zio_uffd_copy(uffd, inter->addr, inter->inter.src, n * ZIO_PAGE_SIZE) == 0)
        zio_stat_add(pages_materialized, n);
    for (size_t i = 0; i < n; i++)
        drop_intermediate(run[i]);
    return n;
}

/* Fills one intermediate page with its bytes and stops tracking it. */
static void materialize(struct zio_page *inter)
{
    materialize_run(inter, inter->inter.src + ZIO_PAGE_SIZE);
}

static void materialize_buf(struct zio_buf *buf)
{
    uintptr_t page = buf->start, end = buf->end;
    size_t live = buf->live;    /* buf goes back to the pool as this reaches 0 */

    while (page < end && live > 0) {
        struct zio_page *entry = zio_index_lookup(page);
        size_t n = 1;

        if (entry && entry->kind == ZIO_INTERMEDIATE && entry->inter.buf == buf) {
            n = materialize_run(entry, UINTPTR_MAX);
            live -= n;
        }
        page += n * ZIO_PAGE_SIZE;
    }
}

/* Gives every intermediate reading from orig its bytes; orig is then
 * released as its last dependent goes.  Runs of pages after a dependent
 * are filled with it while their sources end by src_end: a caller about
 * to drop a whole range of originals passes the range's end, others the
 * end of orig's page. */
static void materialize_dependents(struct zio_page *orig, uintptr_t src_end)
{
    while (orig->orig.nr_dependents > 0) {
        struct zio_dep *dep = cds_list_first_entry(&orig->orig.dependents,
                                                   struct zio_dep, node);
        materialize_run(dep->owner, src_end);
    }
}

/* materialize_dependents() for one page that is about to change. */
static void materialize_page_dependents(struct zio_page *orig)
{
    materialize_dependents(orig, orig->addr + ZIO_PAGE_SIZE);
}

/* Makes a page safe to write from under the lock.  False if it is an
 * original that an output in flight still reads from. */
static bool prepare_page_for_write(uintptr_t page)
{
    struct zio_page *entry = zio_index_lookup(page);

    if (!entry) {
        zio_uffd_zeropage(uffd, page, false);
        /* Released originals keep their protection until the next flush;
         * no other untracked page has any. */
        if (release_pending(page))
            zio_uffd_protect(uffd, page, ZIO_PAGE_SIZE, false);
        return true;
    }
    if (entry->kind == ZIO_INTERMEDIATE) {
        materialize(entry);
        return true;
    }
    if (pins > 0)
        return false;
    materialize_page_dependents(entry);
    zio_uffd_protect(uffd, page, ZIO_PAGE_SIZE, false);
    return true;
}

/* Copies program memory under the lock: intermediate source pages are read
 * at their originals, never-touched registered pages are zero-filled
 * first so that reading them cannot fault into userfaultfd. */
static void copy_resolved(void *dst, uintptr_t src, size_t len)
{
    char *out = dst;

    while (len > 0) {
        uintptr_t page = zio_page_down(src);
        size_t piece = page + ZIO_PAGE_SIZE - src;
        struct zio_page *entry = zio_index_lookup(page);
        uintptr_t from = src;

        if (piece > len)
            piece = len;
        if (entry && entry->kind == ZIO_INTERMEDIATE)
            from = entry->inter.src + (src - page);
        else if (!entry)
            zio_uffd_zeropage(uffd, page, false);
        zio_real.memcpy(out, (const void *)from, piece);
        out += piece;
        src += piece;
        len -= piece;
    }
}

static bool overlaps(uintptr_t a, size_t alen, uintptr_t b, size_t blen)
{
    return a < b + blen && b < a + alen;
}

static bool is_foreign(uintptr_t start, size_t len)
{
    if (foreign_overflow)
        return true;
    for (size_t i = 0; i < nr_foreign; i++) {
        if (overlaps(start, len, foreign[i].start, foreign[i].end - foreign[i].start))
            return true;
    }
    return false;
}

/* Where the 4 KB at s really live, following a chain of elided copies;
 * 0 when they straddle pages with unrelated sources. */
static uintptr_t resolve_source(uintptr_t s)
{
    uintptr_t page = zio_page_down(s);
    struct zio_page *first = zio_index_lookup(page), *second;
    bool first_inter = first && first->kind == ZIO_INTERMEDIATE;
    bool second_inter;

    if (first_inter)
        cds_list_move(&first->inter.buf->lru, &lru);
    if (s == page)
        return first_inter ? first->inter.src : s;
    second = zio_index_lookup(page + ZIO_PAGE_SIZE);
    second_inter = second && second->kind == ZIO_INTERMEDIATE;
    if (!first_inter && !second_inter)
        return s;
    if (first_inter && second_inter &&
        second->inter.src == first->inter.src + ZIO_PAGE_SIZE)
        return first->inter.src + (s - page);
    return 0;
}

static bool plan_reserve(size_t pages)
{
    size_t cap = plan_cap ? plan_cap : 256;
    void *mem;

    if (pages <= plan_cap)
        return true;
    while (cap < pages)
        cap *= 2;
    /* One mapping for both arrays: an unaligned source reaches into two
     * pages, so each core page can make at most two new originals. */
    mem = mmap(NULL, 3 * cap * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return false;
    if (plan)
        munmap(plan, 3 * plan_cap * sizeof(uintptr_t));
    plan = mem;
    fresh = plan + cap;
    plan_cap = cap;
    return true;
}

/* Links inter to the original page it reads from.  A page that becomes an
 * original here is write-protected by protect_new_originals() before the
 * copy is done.  False if out of memory. */
static bool attach_original(struct zio_page *inter, int slot, uintptr_t page)
{
    struct zio_page *orig = zio_index_lookup(page);

    if (!orig) {
        orig = zio_index_insert(page, ZIO_ORIGINAL);
        if (!orig)
            return false;
        fresh[nr_fresh++] = page;
    }
    inter->inter.deps[slot].original = orig;
    inter->inter.deps[slot].owner = inter;
    cds_list_add_tail(&inter->inter.deps[slot].node, &orig->orig.dependents);
    orig->orig.nr_dependents++;
    return true;
}

/* One ioctl per run of new originals instead of one per page: each
 * write-protect flushes the TLB. */
static void protect_new_originals(void)
{
    size_t i = 0;

    while (i < nr_fresh) {
        size_t first = i;
        uintptr_t end = fresh[i] + ZIO_PAGE_SIZE;

        for (i++; i < nr_fresh && fresh[i] == end; i++)
            end += ZIO_PAGE_SIZE;
        if (zio_uffd_protect(uffd, fresh[first], end - fresh[first], true))
            continue;
        /* Unprotectable: nobody may depend on these pages. */
        for (size_t k = first; k < i; k++) {
            struct zio_page *orig = zio_index_lookup(fresh[k]);

            if (orig)
                materialize_page_dependents(orig);
        }
    }
    nr_fresh = 0;
}

static void collect_garbage(void)
{
    while (zio_index_count(ZIO_INTERMEDIATE) > zio_policy.max_pages && !cds_list_empty(&lru)) {
        struct zio_buf *oldest = cds_list_entry(lru.prev, struct zio_buf, lru);

        materialize_buf(oldest);
        zio_stat_add(gc_evictions, 1);
    }
}

static bool all_tracked(uintptr_t start, uintptr_t end)
{
    for (uintptr_t page = start; page < end; page += ZIO_PAGE_SIZE) {
        if (!zio_index_lookup(page))
            return false;
    }
    return true;
}

/* Pages that already are originals are registered (an invariant): a chain
 * of copies from one input registers it once.  *fresh is set when some
 * page of the run is not an original yet. */
static bool register_originals(uintptr_t start, uintptr_t end, bool *fresh)
{
    if (all_tracked(start, end))
        return true;
    *fresh = true;
    return !is_foreign(start, end - start) && zio_uffd_register(uffd, start, end - start);
}

/* Everything that can make the elision fail, checked before any change.
 * *originals_new tells whether the copy makes pages originals that were
 * not. */
static bool plan_copy(uintptr_t dst, uintptr_t src, size_t len,
                      const struct zio_split *split, size_t *elidable,
                      bool *originals_new)
{
    size_t pages = (split->core_end - split->core_start) / ZIO_PAGE_SIZE;
    uintptr_t lo = zio_page_down(dst), hi = zio_page_up(dst + len);
    uintptr_t run_start = 0, run_end = 0;

    if (!plan_reserve(pages))
        return false;
    if (pins > 0) {
        for (uintptr_t page = lo; page < hi; page += ZIO_PAGE_SIZE) {
            struct zio_page *entry = zio_index_lookup(page);

            if (entry && entry->kind == ZIO_ORIGINAL)
                return false;
        }
    }
    *elidable = 0;
    *originals_new = false;
    for (size_t i = 0; i < pages; i++) {
        uintptr_t s = resolve_source(src + (split->core_start - dst) + i * ZIO_PAGE_SIZE);

        if (s && overlaps(s, ZIO_PAGE_SIZE, lo, hi - lo))
            s = 0;
        plan[i] = s;
        if (!s)
            continue;
        (*elidable)++;
        /* Register the originals' pages, one ioctl per contiguous run. */
        uintptr_t first = zio_page_down(s), last = zio_page_up(s + ZIO_PAGE_SIZE);
        if (run_end && first <= run_end && last >= run_start) {
            if (first < run_start)
                run_start = first;
            if (last > run_end)
                run_end = last;
            continue;
        }
        if (run_end && !register_originals(run_start, run_end, originals_new))
            return false;
        run_start = first;
        run_end = last;
    }
    if (*elidable == 0)
        return false;
    if (!register_originals(run_start, run_end, originals_new))
        return false;
    return zio_uffd_register(uffd, split->core_start, split->core_end - split->core_start);
}

/* Brings the originals into memory so that they can be write-protected:
 * a never-touched page of a registered range reads as zeros but has no
 * page to protect.  mincore() finds those in one call per run. */
static void make_originals_present(size_t pages)
{
    unsigned char resident[512];

    for (size_t i = 0; i < pages; i++) {
        uintptr_t start, end;

        if (!plan[i])
            continue;
        start = zio_page_down(plan[i]);
        end = zio_page_up(plan[i] + ZIO_PAGE_SIZE);
        /* Extend over following pages whose sources fall in or continue
         * this run.  Sources need not ascend: an elided page of the source
         * reads from wherever its own copy came from, possibly earlier in
         * the run, and must not cut the run short of pages already in it. */
        while (i + 1 < pages && plan[i + 1] && zio_page_down(plan[i + 1]) <= end &&
               zio_page_down(plan[i + 1]) >= start &&
               (end - start) / ZIO_PAGE_SIZE < sizeof(resident) - 2) {
            uintptr_t next_end = zio_page_up(plan[++i] + ZIO_PAGE_SIZE);

            if (next_end > end)
                end = next_end;
        }
        /* Pages that already are originals are mapped (an invariant). */
        if (all_tracked(start, end) || mincore((void *)start, end - start, resident) != 0)
            continue;
        for (size_t k = 0; k < (end - start) / ZIO_PAGE_SIZE; k++) {
            uintptr_t page = start + k * ZIO_PAGE_SIZE;

            if (!(resident[k] & 1) && !zio_index_lookup(page))
                zio_uffd_zeropage(uffd, page, false);
        }
    }
}

static bool elide_locked(uintptr_t dst, uintptr_t src, size_t len, const struct zio_split *split)
{
    size_t pages = (split->core_end - split->core_start) / ZIO_PAGE_SIZE;
    uintptr_t lo = zio_page_down(dst), hi = zio_page_up(dst + len);
    struct zio_buf *buf;
    size_t elidable;
    bool originals_new;

    if (forks_pending > 0 || is_foreign(dst, len) ||
        !plan_copy(dst, src, len, split, &elidable, &originals_new))
        return false;

    /* From here on the copy is ours.  Old state of the destination goes
     * first: its core is about to be replaced, its fringes written. */
    for (uintptr_t page = lo; page < hi; page += ZIO_PAGE_SIZE) {
        bool core = page >= split->core_start && page < split->core_end;
        struct zio_page *entry = zio_index_lookup(page);

        if (!core)
            prepare_page_for_write(page);
        else if (entry && entry->kind == ZIO_INTERMEDIATE)
            drop_intermediate(entry);
        else if (entry)
            materialize_page_dependents(entry);
    }
    if (originals_new)
        make_originals_present(pages);
    /* Cheap when the core is already unmapped: the elided pages of a
     * buffer that died untouched, handed out again by the allocator. */
    if (zio_real.madvise((void *)split->core_start, split->core_end - split->core_start,
                         MADV_DONTNEED) != 0)
        return false;

    copy_resolved((void *)dst, src, split->head_len);
    copy_resolved((void *)split->core_end, src + (split->core_end - dst), split->tail_len);

    buf = zio_pool_get(&buf_pool);
    if (buf) {
        buf->start = split->core_start;
        buf->end = split->core_end;
        buf->live = 1;      /* held by us until the loop is done */
        buf->elided = elidable;
        buf->touched = 0;
        cds_list_add(&buf->lru, &lru);
    }
    for (size_t i = 0; i < pages; i++) {
        uintptr_t page = split->core_start + i * ZIO_PAGE_SIZE;
        uintptr_t s = plan[i];
        struct zio_page *inter = (s && buf) ? zio_index_insert(page, ZIO_INTERMEDIATE) : NULL;

        if (!inter) {
            /* Straddles unrelated sources, or out of memory: fill it now. */
            copy_resolved(bounce, src + (page - dst), ZIO_PAGE_SIZE);
            zio_uffd_copy(uffd, page, (uintptr_t)bounce, ZIO_PAGE_SIZE);
            continue;
        }
        inter->inter.src = s;
        inter->inter.buf = buf;
        buf->live++;
        if (!attach_original(inter, 0, zio_page_down(s)) ||
            (zio_page_down(s) != zio_page_down(s + ZIO_PAGE_SIZE - 1) &&
             !attach_original(inter, 1, zio_page_down(s + ZIO_PAGE_SIZE - 1))))
            materialize(inter);
    }
    protect_new_originals();
    if (buf) {
        zio_stat_add(bytes_elided, (buf->live - 1) * ZIO_PAGE_SIZE);
        put_buf(buf);
    }
    zio_stat_add(copies_elided, 1);
    collect_garbage();
    return true;
}

/* Does the copy's core read only pages already tracked (elided copies or
 * their originals)?  Then it extends a chain and costs only index work.
 * Otherwise it starts one: its source must be write-protected first, an
 * ioctl and a TLB shootdown per run, which costs more than copying
 * anything below protect_min.  A reader: inside rcu_read_lock() or under
 * the engine lock; nothing tracked also means no index to look in yet. */
static bool extends_chain(uintptr_t dst, uintptr_t src, const struct zio_split *split)
{
    uintptr_t from = src + (split->core_start - dst), to = src + (split->core_end - dst);

    return tracking_anything() && all_tracked(zio_page_down(from), zio_page_up(to));
}

bool zio_engine_copy(void *dstv, const void *srcv, size_t len)
{
    uintptr_t dst = (uintptr_t)dstv, src = (uintptr_t)srcv;
    struct zio_split split;
    sigset_t saved;
    bool candidate, done;

    if (in_engine || state == ENGINE_BROKEN || !zio_split_copy(dst, len, &split) ||
        overlaps(dst, len, src, len) || zio_cold_check(split.core_start))
        return false;

    /* Only IO data is worth tracking: a recent input, or already elided;
     * below protect_min, only a copy that extends a chain. */
    urcu_bp_read_lock();
    if (len < zio_policy.protect_min)
        candidate = extends_chain(dst, src, &split);
    else
        candidate = zio_input_overlaps(src, src + len) || zio_index_any_in(src, src + len);
    urcu_bp_read_unlock();
    /* An input kept longer than the ring remembers (a value a server
     * stores and sends again much later) is still known: when the last
     * elided copy of its pages goes, the pages stay registered as a
     * dormant span.  Dormant spans also cover freed memory, whose copies
     * are rare and would at worst be elided for nothing.  The table
     * changes under the engine lock, so it is read there. */
    if (!candidate && !(len >= zio_policy.protect_min && dormant_any()))
        return false;

    engine_lock(&saved);
    if (!candidate)
        candidate = zio_dormant_overlaps(&dormant, src, src + len);
    done = candidate && engine_start() && elide_locked(dst, src, len, &split);
    engine_unlock(&saved);
    if (candidate && !done)
        zio_stat_add(fallbacks, 1);
    return done;
}

static void on_fault(uintptr_t addr, bool wp)
{
    uintptr_t page = zio_page_down(addr);
    struct zio_page *entry;
    sigset_t saved;

    engine_lock(&saved);
    entry = zio_index_lookup(page);
    if (wp) {
        zio_stat_add(faults_wp, 1);
        if (entry && entry->kind == ZIO_ORIGINAL && pins > 0) {
            size_t i;

            for (i = 0; i < nr_deferred && deferred[i] != page; i++)
                ;
            while (i == nr_deferred && nr_deferred == DEFERRED_MAX && pins > 0)
                pthread_cond_wait(&unpinned, &engine_mutex);
            if (pins > 0) {
                if (i == nr_deferred)
                    deferred[nr_deferred++] = page;
                engine_unlock(&saved);
                return;
            }
            entry = zio_index_lookup(page);
        }
        if (entry && entry->kind == ZIO_ORIGINAL)
            materialize_page_dependents(entry);
        else
            zio_uffd_protect(uffd, page, ZIO_PAGE_SIZE, false);
    } else {
        zio_stat_add(faults_missing, 1);
        if (entry && entry->kind == ZIO_INTERMEDIATE) {
            struct zio_buf *buf = entry->inter.buf;

            buf->touched++;
            if (zio_policy_too_touched(&zio_policy, buf->touched * ZIO_PAGE_SIZE,
                                       buf->elided * ZIO_PAGE_SIZE)) {
                zio_cold_mark(buf->start);
                materialize_buf(buf);
            } else {
                materialize(entry);
            }
        } else {
            /* Dead memory that reads as zeros.  Unregistering its dormant
             * span wakes the faulting thread; should that fail, the zero
             * page does (on an unregistered page it is a no-op). */
            release_dormant_span(page);
            zio_uffd_zeropage(uffd, page, true);
        }
    }
    engine_unlock(&saved);
}

bool zio_engine_realloc_needed(void *ptr, size_t usable)
{
    uintptr_t start = (uintptr_t)ptr;
    bool tracked;

    if (!tracking_anything())
        return false;
    urcu_bp_read_lock();
    tracked = zio_index_any_in(start, start + usable);
    urcu_bp_read_unlock();
    return tracked;
}

/* mincore() counts swapped-out pages as unmapped: that only costs an
 * unregistration that was not needed. */
static bool all_mapped(uintptr_t start, uintptr_t end)
{
    unsigned char resident[256];

    start = zio_page_down(start);
    while (start < end) {
        size_t pages = (zio_page_up(end) - start) / ZIO_PAGE_SIZE;

        if (pages > sizeof(resident))
            pages = sizeof(resident);
        if (mincore((void *)start, pages * ZIO_PAGE_SIZE, resident) != 0)
            return false;
        for (size_t i = 0; i < pages; i++) {
            if (!(resident[i] & 1))
                return false;
        }
        start += pages * ZIO_PAGE_SIZE;
    }
    return true;
}

void zio_engine_prepare_overwrite(const void *bufv, size_t len)
{
    uintptr_t start = (uintptr_t)bufv, end = start + len;
    sigset_t saved;
    bool tracked;

    if (in_engine || (!tracking_anything() && !dormant_any()))
        return;
    urcu_bp_read_lock();
    tracked = zio_index_any_in(start, end);
    urcu_bp_read_unlock();
    if (!tracked && !dormant_any())
        return;
    engine_lock(&saved);
    /* The kernel would otherwise take each unmapped page of a dormant span
     * through the handler thread; a buffer read into again and again stays
     * mapped and registered. */
    if (zio_dormant_overlaps(&dormant, start, end) && !all_mapped(start, end))
        release_dormant(start, end);
    for (uintptr_t page = zio_page_down(start); page < end; page += ZIO_PAGE_SIZE) {
        struct zio_page *entry = zio_index_lookup(page);

        /* A pinned original is left for the fault path to defer. */
        if (entry && (entry->kind == ZIO_INTERMEDIATE || pins == 0))
            prepare_page_for_write(page);
    }
    engine_unlock(&saved);
}

struct forget_walk {
    uintptr_t start, end;
    enum zio_forget mode;
    bool blocked;       /* met an original pinned by an output */
};

static void forget_entry(struct zio_page *entry, struct forget_walk *walk)
{
    if (entry->kind == ZIO_INTERMEDIATE) {
        if (walk->mode != ZIO_KEEP)
            drop_intermediate(entry);
        else
            materialize(entry);
    } else if (pins > 0) {
        walk->blocked = true;
    } else {
        /* The whole range goes: fill dependents in runs across it. */
        materialize_dependents(entry, walk->end);
    }
}

static void forget_visit(struct zio_page *entry, void *arg)
{
    struct forget_walk *walk = arg;

    if (entry->addr >= walk->start && entry->addr < walk->end && !walk->blocked)
        forget_entry(entry, walk);
}

void zio_engine_forget(uintptr_t start, uintptr_t end, enum zio_forget mode)
{
    struct forget_walk walk = { .start = start, .end = end, .mode = mode };
    size_t entries, pages = (end - start) / ZIO_PAGE_SIZE;
    /* Memory that goes away or moves takes its dormant spans with it;
     * freed memory keeps them (it stays mapped and unmapped pages stay so). */
    bool dormant_too = mode != ZIO_DISCARD && dormant_any();
    sigset_t saved;

    if (in_engine || start >= end || (!tracking_anything() && !dormant_too))
        return;
    if (pages <= 1024 && !dormant_too) {
        bool tracked;

        urcu_bp_read_lock();
        tracked = zio_index_any_in(start, end);
        urcu_bp_read_unlock();
        if (!tracked)
            return;
    }
    engine_lock(&saved);
    do {
        walk.blocked = false;
        entries = zio_index_count(ZIO_INTERMEDIATE) + zio_index_count(ZIO_ORIGINAL);
        if (pages <= 4 * entries) {
            for (uintptr_t page = start; page < end && !walk.blocked; page += ZIO_PAGE_SIZE) {
                struct zio_page *entry = zio_index_lookup(page);

                if (entry)
                    forget_entry(entry, &walk);
            }
        } else {
            zio_index_for_each(forget_visit, &walk);
        }
        /* The originals' memory is about to go away or move: wait for the
         * outputs reading it. */
        if (walk.blocked)
            pthread_cond_wait(&unpinned, &engine_mutex);
    } while (walk.blocked);
    if (mode != ZIO_DISCARD) {
        flush_dead();
        release_dormant(start, end);
    }
    /* Freed memory joins the dormant spans when the lock is dropped. */
    if (mode == ZIO_DISCARD && state == ENGINE_ON && pages <= UNREGISTER_MAX_PAGES)
        add_dead(start, end);
    engine_unlock(&saved);
}

void zio_engine_note_foreign(uintptr_t start, size_t len)
{
    sigset_t saved;

    engine_lock(&saved);
    if (nr_foreign == FOREIGN_MAX)
        foreign_overflow = true;    /* stop eliding rather than guess */
    else
        foreign[nr_foreign++] = (struct range){ start, start + len };
    engine_unlock(&saved);
}

void zio_engine_drop_foreign(uintptr_t start, size_t len)
{
    sigset_t saved;

    if (nr_foreign == 0)
        return;
    engine_lock(&saved);
    for (size_t i = 0; i < nr_foreign;) {
        /* Only whole mappings are dropped; a partly unmapped one stays
         * listed, which merely keeps us from eliding near it. */
        if (foreign[i].start >= start && foreign[i].end <= start + len)
            foreign[i] = foreign[--nr_foreign];
        else
            i++;
    }
    engine_unlock(&saved);
}

static bool append_iov(struct iovec *out, int *count, int max, uintptr_t base, size_t len)
{
    if (*count > 0) {
        struct iovec *last = &out[*count - 1];

        if ((uintptr_t)last->iov_base + last->iov_len == base) {
            last->iov_len += len;
            return true;
        }
    }
    if (*count == max)
        return false;
    out[*count].iov_base = (void *)base;
    out[*count].iov_len = len;
    (*count)++;
    return true;
}

static bool any_intermediate(const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        uintptr_t start = (uintptr_t)iov[i].iov_base;
        uintptr_t end = start + iov[i].iov_len;

        if (iov[i].iov_len < ZIO_PAGE_SIZE / 2)
            continue;   /* could touch at most a sliver of one page */
        for (uintptr_t page = zio_page_down(start); page < end; page += ZIO_PAGE_SIZE) {
            struct zio_page *entry = zio_index_lookup(page);

            if (entry && entry->kind == ZIO_INTERMEDIATE)
                return true;
        }
    }
    return false;
}

int zio_engine_output_begin(const struct iovec *iov, int iovcnt,
                            struct iovec *out, int out_max)
{
    int count = 0;
    bool substituted = false, fits = true;
    sigset_t saved;

    if (in_engine || zio_index_count(ZIO_INTERMEDIATE) == 0)
        return -1;
    urcu_bp_read_lock();
    fits = any_intermediate(iov, iovcnt);
    urcu_bp_read_unlock();
    if (!fits)
        return -1;

    engine_lock(&saved);
    for (int i = 0; i < iovcnt && fits; i++) {
        uintptr_t pos = (uintptr_t)iov[i].iov_base;
        uintptr_t end = pos + iov[i].iov_len;

        while (pos < end && fits) {
            uintptr_t page = zio_page_down(pos);
            uintptr_t piece_end = page + ZIO_PAGE_SIZE < end ? page + ZIO_PAGE_SIZE : end;
            struct zio_page *entry = zio_index_lookup(page);
            uintptr_t base = pos;

            if (entry && entry->kind == ZIO_INTERMEDIATE) {
                base = entry->inter.src + (pos - page);
                substituted = true;
            }
            fits = append_iov(out, &count, out_max, base, piece_end - pos);
            pos = piece_end;
        }
    }
    /* All or nothing: a shortened gather would split datagrams. */
    if (!substituted || !fits) {
        engine_unlock(&saved);
        return -1;
    }
    pins++;
    engine_unlock(&saved);
    zio_stat_add(outputs_gathered, 1);
    return count;
}

void zio_engine_output_end(void)
{
    sigset_t saved;

    engine_lock(&saved);
    if (--pins == 0) {
        for (size_t i = 0; i < nr_deferred; i++) {
            struct zio_page *entry = zio_index_lookup(deferred[i]);

            if (entry && entry->kind == ZIO_ORIGINAL)
                materialize_page_dependents(entry);
            else
                zio_uffd_protect(uffd, deferred[i], ZIO_PAGE_SIZE, false);
        }
        nr_deferred = 0;
        pthread_cond_broadcast(&unpinned);
    }
    engine_unlock(&saved);
}

static void materialize_visit(struct zio_page *entry, void *arg)
{
    (void)arg;
    if (entry->kind == ZIO_INTERMEDIATE)
        materialize(entry);
}

/* A child gets no userfaultfd registrations, so it must inherit memory
 * that holds every byte: fill all elided pages before the fork and elide
 * nothing until it is done.  The lock is not held across fork() itself:
 * other threads may hold allocator locks that fork() needs while they wait
 * for a fault, and faults need the lock. */
void zio_engine_fork_prepare(void)
{
    sigset_t saved;

    engine_lock(&saved);
    forks_pending++;
    while (pins > 0)
        pthread_cond_wait(&unpinned, &engine_mutex);
    if (state == ENGINE_ON) {
        zio_index_for_each(materialize_visit, NULL);
    }
    engine_unlock(&saved);
    urcu_bp_before_fork();
}

void zio_engine_fork_parent(void)
{
    sigset_t saved;

    urcu_bp_after_fork_parent();
    engine_lock(&saved);
    forks_pending--;
    engine_unlock(&saved);
}

void zio_engine_fork_child(void)
{
    urcu_bp_after_fork_child();
    /* Threads other than this one are gone, possibly mid-operation: the
     * lock and the deferred work they held go with them.  The descriptor
     * still speaks for the parent's address space and the handler thread
     * did not come along: start afresh on first use. */
    pthread_mutex_init(&engine_mutex, NULL);
    pthread_cond_init(&unpinned, NULL);
    if (state == ENGINE_ON) {
        close(uffd);
        uffd = -1;
        state = ENGINE_OFF;
    }
    if (index_ready)
        zio_index_reset();
    nr_released = 0;
    nr_dead = 0;
    dormant.n = 0;
    nr_deferred = 0;
    pins = 0;
    forks_pending = 0;
}
