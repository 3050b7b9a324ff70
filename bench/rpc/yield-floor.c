/* yield-floor - what two processes taking turns on one core cost, with no
 * network stack at all.
 *
 * A same-host TAS ping-pong on a 2-core machine runs client and server on
 * the core the fast path leaves free, and they hand the core to each other
 * with sched_yield while they spin for the reply (libtas's TAS_SPIN_US).
 * This program does only that: a parent and a forked child pass a counter
 * in shared memory back and forth, each yielding until it is its turn, and
 * the time per round (two switches) is the floor under any such round
 * trip.  Pin it to one core to measure that case:
 *
 *   taskset -c 0 yield-floor [ROUNDS]
 * Prints one JSON object: rounds, us_per_round.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Waits for each of our turns (turn's parity == side) and passes it on. */
static void take_turns(volatile uint64_t *turn, uint64_t side, long rounds)
{
    for (long i = 0; i < rounds; i++) {
        while (__atomic_load_n(turn, __ATOMIC_ACQUIRE) % 2 != side)
            sched_yield();
        __atomic_add_fetch(turn, 1, __ATOMIC_RELEASE);
    }
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000000;

    if (rounds <= 0) {
        fprintf(stderr, "usage: yield-floor [ROUNDS > 0]\n");
        return 2;
    }
    volatile uint64_t *turn = mmap(NULL, sizeof(*turn), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (turn == MAP_FAILED) {
        perror("yield-floor: mmap");
        return 1;
    }
    double start = now_us();
    pid_t child = fork();
    if (child < 0) {
        perror("yield-floor: fork");
        return 1;
    }
    take_turns(turn, child == 0, rounds);
    if (child == 0)
        _exit(0);
    int status;
    waitpid(child, &status, 0);
    printf("{\"rounds\": %ld, \"us_per_round\": %.3f}\n", rounds,
           (now_us() - start) / rounds);
    return 0;
}
