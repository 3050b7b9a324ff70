/* api.h - the low-level TAS application interface (libtas).
 *
 * For programs that want TAS without the POSIX socket layer; libtas's socket
 * shim is built on it.  A program registers with the service, opens a
 * context (an event queue with an eventfd to sleep on), listens and connects
 * through it, and moves payload in place: it peeks at a connection's receive
 * ring and consumes what it used, and it fills free space of the transmit
 * ring and commits it.  The only copy is the one the program makes itself.
 *
 * Addresses and ports are IPv4, network byte order.  Functions that can fail
 * return 0 (or a count) on success and a negative errno value on failure.
 *
 * Threading: calls on one context, its listeners and its connections must
 * not run concurrently (one context per thread, or a lock around each).
 * Control requests of different contexts are serialised by the library.
 */
#ifndef TAS_API_H
#define TAS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct tas_context;
struct tas_listener;
struct tas_conn;

/* Connect to the service listening in run_dir (NULL: $TAS_RUN_DIR, or
 * /run/tas) and register this process.  Further calls return the first
 * call's result. */
int tas_init(const char *run_dir);

/* The service's own IPv4 address (valid after tas_init). */
uint32_t tas_local_ip(void);

/* Forget the registration inherited from the parent after fork() without
 * telling the service anything: the parent keeps its connections.  Every
 * context, listener and connection of the parent becomes unusable in the
 * child; tas_init registers the child anew. */
void tas_forget_after_fork(void);

int tas_context_create(struct tas_context **ctx);

/* The eventfd that becomes readable when the context may have events, once
 * tas_context_prepare_sleep returned true. */
int tas_context_fd(const struct tas_context *ctx);

/* Event bits, OR-ed per connection or listener. */
#define TAS_EV_RX        (1u << 0)  /* bytes arrived, or the peer's FIN */
#define TAS_EV_TX        (1u << 1)  /* transmit space was freed */
#define TAS_EV_CONNECTED (1u << 2)  /* tas_connect finished: see tas_conn_status */
#define TAS_EV_CLOSED    (1u << 3)  /* the connection ended: see tas_conn_status */
#define TAS_EV_ACCEPT    (1u << 4)  /* listener: tas_accept has something */

struct tas_event {
    uint32_t events;                /* TAS_EV_* */
    struct tas_conn *conn;          /* or NULL for a listener event */
    struct tas_listener *listener;
};

/* Take in everything the service queued for ctx and return up to max
 * events, without blocking.  Returns the count, or -EPROTO once the service
 * corrupted one of the context's queues (the context is dead then). */
int tas_context_poll(struct tas_context *ctx, struct tas_event *ev, int max);

/* Connections released with tas_conn_close/abort whose end the slow path
 * has not confirmed yet (until then their FIN or data may be in flight). */
unsigned tas_context_closing(const struct tas_context *ctx);

/* Sleeping: prepare_sleep asks the service for a wakeup through the
 * eventfd and returns false if events arrived meanwhile (do not sleep then).
 * After waking, awake withdraws the request and clear_fd resets the
 * eventfd without blocking. */
bool tas_context_prepare_sleep(struct tas_context *ctx);
void tas_context_awake(struct tas_context *ctx);
void tas_context_clear_fd(struct tas_context *ctx);

/* Spinning before sleeping, for a waker on another core that is quicker
 * than an eventfd: prepare_spin returns false if there is something to
 * take in already (poll instead), else fills *mark; spin_news(ctx, mark) is
 * true once the service has queued anything since.  spin_news makes no
 * system call and reads only what the service writes, so a thread may call
 * it without holding what guards the context against other threads. */
bool tas_context_prepare_spin(struct tas_context *ctx, uint64_t *mark);
bool tas_context_spin_news(const struct tas_context *ctx, uint64_t mark);

/* Port reservations and listening.  flags: TAS_BIND_* */
#define TAS_BIND_REUSEPORT (1u << 0)
#define TAS_BIND_REUSEADDR (1u << 1)

int tas_bind(struct tas_context *ctx, uint32_t ip, uint16_t *port,
             unsigned flags);
int tas_unbind(struct tas_context *ctx, uint32_t ip, uint16_t port);
int tas_listen(struct tas_context *ctx, uint32_t ip, uint16_t port,
               int backlog, unsigned flags, struct tas_listener **out);
/* Stop listening; connections not yet accepted are reset. */
int tas_listener_close(struct tas_listener *l);
/* Has the listener reported a connection that tas_accept may return? */
bool tas_listener_ready(const struct tas_listener *l);
/* -EAGAIN when no connection is waiting. */
int tas_accept(struct tas_listener *l, struct tas_conn **out);
/* Starts an active open; TAS_EV_CONNECTED follows.  local_port 0: any. */
int tas_connect(struct tas_context *ctx, uint32_t ip, uint16_t port,
                uint16_t local_port, struct tas_conn **out);

void tas_listener_set_data(struct tas_listener *l, void *data);
void *tas_listener_data(const struct tas_listener *l);
void tas_conn_set_data(struct tas_conn *c, void *data);
void *tas_conn_data(const struct tas_conn *c);

void tas_conn_addrs(const struct tas_conn *c, uint32_t *local_ip,
                    uint16_t *local_port, uint32_t *remote_ip,
                    uint16_t *remote_port);

/* 0 while established, -EINPROGRESS while connecting, -EPIPE after an
 * orderly end, or the error that ended it (-ECONNREFUSED, -ECONNRESET,
 * -ETIMEDOUT, -EPROTO when the service broke the rules). */
int tas_conn_status(const struct tas_conn *c);

/* Receive side: up to two pieces of readable bytes (the ring wraps);
 * returns their total.  Consuming gives the space back to the peer. */
size_t tas_conn_rx_peek(const struct tas_conn *c, struct iovec iov[2]);
void tas_conn_rx_consume(struct tas_conn *c, size_t n);
/* The peer sent FIN: once rx_peek returns 0 there is nothing more. */
bool tas_conn_rx_fin(const struct tas_conn *c);

/* Transmit side: up to two pieces of free ring space; returns the total.
 * Commit hands the first n bytes written there to the fast path.  Only the
 * pieces of the latest tx_space call are valid: a ring whose bytes were
 * all acknowledged meanwhile starts again at its beginning. */
size_t tas_conn_tx_space(struct tas_conn *c, struct iovec iov[2]);
void tas_conn_tx_commit(struct tas_conn *c, size_t n);
/* Bytes committed and not yet acknowledged by the peer. */
size_t tas_conn_tx_unacked(const struct tas_conn *c);
size_t tas_conn_rx_capacity(const struct tas_conn *c);
/* Payload bytes per segment the slow path negotiated (0 if unknown). */
unsigned tas_conn_mss(const struct tas_conn *c);
size_t tas_conn_tx_capacity(const struct tas_conn *c);

/* FIN after the queued bytes; receiving goes on. */
int tas_conn_shutdown(struct tas_conn *c);
/* Release the connection: orderly (FIN after queued bytes) or abortive
 * (RST).  c must not be used afterwards. */
int tas_conn_close(struct tas_conn *c);
int tas_conn_abort(struct tas_conn *c);

#endif /* TAS_API_H */
