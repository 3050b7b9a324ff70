/*
 * garbage: an application that writes random garbage into its own queues,
 * rings and control messages, for acceptance 2 of issue 4 (garbage.sh).
 *
 *   garbage RUN_DIR ROUNDS SEED
 *
 * Each round registers anew over the raw protocol (rawapp.h), opens a
 * context, does one kind of damage, wakes the fast path and gives the
 * service a moment to throw it out (EOF on sp.sock) before leaving on its
 * own.  The kinds of damage:
 *
 *   entries   well-formed ring, random TX entries (flow ids around the
 *             ones in use, random byte counts and flags)
 *   indexes   random head of its TX ring and tail/waiting of its RX and
 *             event rings, so the fast path sees a corrupt ring
 *   context   random bytes over the whole context: indexes and slots
 *   region    random bytes over the region header and the payload area
 *   control   random request types and bodies on sp.sock
 *
 * Prints one summary line "rounds N, disconnected D" (rounds the service
 * ended itself) and exits 0; the test judges the service, not this program.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawapp.h"

/* How long a round waits to be thrown out: the fast path notices within a
 * poll loop, the slow path on its next exception batch. */
#define ROUND_WAIT_MS 5

/* Random flow ids stay below this, so they hit the flows of the
 * applications being served as often as free ids. */
#define FLOW_ID_SPAN 64u

enum damage { DAMAGE_ENTRIES, DAMAGE_INDEXES, DAMAGE_CONTEXT, DAMAGE_REGION,
              DAMAGE_CONTROL, DAMAGE__COUNT };

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: reproducible from SEED, good enough for garbage. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void fill_random(void *p, size_t len)
{
    uint8_t *b = p;
    for (size_t i = 0; i < len; i += sizeof(uint64_t)) {
        uint64_t r = rnd();
        memcpy(b + i, &r, len - i < sizeof(r) ? len - i : sizeof(r));
    }
}

/* A byte count that is mostly small, sometimes huge. */
static uint32_t random_count(void)
{
    return rnd() & 1 ? (uint32_t)(rnd() % 4096) : (uint32_t)rnd();
}

static void post_entries(struct rawapp *a)
{
    unsigned n = 1 + (unsigned)(rnd() % 32);
    for (unsigned i = 0; i < n; i++) {
        struct tas_app_tx_entry *e = tas_ring_prod_slot(&a->tx);
        if (!e)
            break;
        e->flow_id = rnd() % 8 ? (uint32_t)(rnd() % FLOW_ID_SPAN) : (uint32_t)rnd();
        e->tx_bytes = random_count();
        e->rx_bytes = random_count();
        e->flags = rnd() % 4 ? 0 : (uint32_t)rnd();
        rawapp_tx_commit(a);
    }
}

static void scribble_indexes(struct rawapp *a)
{
    struct tas_app_ctx_shared *ctx = tas_app_ctx(a->region, &a->geo, a->ctx_id);
    ctx->tx.head = (uint32_t)rnd();
    ctx->rx.tail = (uint32_t)rnd();
    ctx->sp.tail = (uint32_t)rnd();
    ctx->rx.waiting = (uint32_t)rnd();
    ctx->sp.waiting = (uint32_t)rnd();
}

static void send_control_garbage(struct rawapp *a)
{
    struct tas_ctl_conn body;
    fill_random(&body, sizeof(body));
    /* Mostly real request types, whose bodies the slow path must check.
     * Not CONNECT: a random remote address is no place to send SYNs to.
     * Whatever is accepted (a random BIND, say) is released by the clean-up
     * of this registration, which is part of what the test checks. */
    uint16_t type = rnd() % 4 ? (uint16_t)(TAS_CTL_REGISTER + rnd() % TAS_CTL_ABORT)
                              : (uint16_t)rnd();
    if (type == TAS_CTL_CONNECT)
        type = TAS_CTL_ABORT;
    rawapp_request(a, type, &body);
}

static void damage(struct rawapp *a, enum damage kind)
{
    uint8_t *region = a->region;
    switch (kind) {
    case DAMAGE_ENTRIES:
        post_entries(a);
        break;
    case DAMAGE_INDEXES:
        scribble_indexes(a);
        break;
    case DAMAGE_CONTEXT:
        fill_random(tas_app_ctx(a->region, &a->geo, a->ctx_id), a->geo.ctx_stride);
        break;
    case DAMAGE_REGION:
        fill_random(region, sizeof(struct tas_app_header));
        fill_random(region + a->geo.payload_off, a->geo.payload_size < 65536 ?
                    a->geo.payload_size : 65536);
        break;
    case DAMAGE_CONTROL:
        send_control_garbage(a);
        break;
    case DAMAGE__COUNT:
        break;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: garbage RUN_DIR ROUNDS SEED\n");
        return 2;
    }
    char *end;
    unsigned long rounds = strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || rounds == 0) {
        fprintf(stderr, "garbage: bad round count '%s'\n", argv[2]);
        return 2;
    }
    rng_state = (strtoull(argv[3], NULL, 10) + 1) * 0x9e3779b97f4a7c15ull | 1;

    unsigned long disconnected = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        struct rawapp a;
        rawapp_attach(&a, argv[1]);
        damage(&a, (enum damage)(rnd() % DAMAGE__COUNT));
        uint64_t one = 1;
        if (write(a.kick_fd, &one, sizeof(one)) != sizeof(one))
            rawapp_die("kick of the fast path", errno);
        disconnected += rawapp_disconnected(&a, ROUND_WAIT_MS);
        rawapp_detach(&a);
    }
    printf("rounds %lu, disconnected %lu\n", rounds, disconnected);
    return 0;
}
