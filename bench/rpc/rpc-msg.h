/* rpc-msg.h - what rpc-load and rpc-echo-server agree on: the modes and
 * the message pattern.
 *
 * Every message carries its sequence number on its connection and bytes
 * derived from it, so whichever side receives can check each message byte
 * for byte and a stack that corrupts, drops or reorders data fails the run.
 */
#ifndef RPC_MSG_H
#define RPC_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Named after what the server does: echo, only receive, only send. */
enum rpc_mode { RPC_ECHO, RPC_RECV, RPC_SEND };

/* In the unidirectional modes a stream never runs dry, so the side that
 * keeps up would never see EAGAIN: both sides watch their descriptors
 * level-triggered there and move at most this many messages per
 * connection per wakeup, so no connection (or the clock) is starved. */
#define RPC_BATCH 16

static inline int rpc_mode_parse(const char *name, enum rpc_mode *mode)
{
    static const char *const names[] = { "echo", "recv", "send" };

    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *mode = (enum rpc_mode)i;
            return 0;
        }
    }
    return -1;
}

static inline void rpc_msg_fill(char *buf, size_t size, uint32_t seq)
{
    for (size_t i = 0; i < size; i++)
        buf[i] = (char)(seq * 31u + i * 7u);
    if (size >= 4)
        memcpy(buf, &seq, 4);
}

/* Is buf the message number seq?  scratch is size bytes to build it in. */
static inline int rpc_msg_ok(const char *buf, char *scratch, size_t size,
                             uint32_t seq)
{
    rpc_msg_fill(scratch, size, seq);
    return memcmp(buf, scratch, size) == 0;
}

#endif
