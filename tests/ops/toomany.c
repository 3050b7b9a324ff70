/* toomany: fills the slow path's application table and checks that one
 * application more gets a clear refusal.
 *
 *   toomany RUN_DIR MAX_APPS [CMD ARGS...]
 *
 * Holds MAX_APPS connections to sp.sock (an id is given out per
 * connection), then sends REGISTER on one more and expects the reply
 * -EUSERS rather than a closed socket.  With CMD, runs it while the table is
 * still full (a libtas program, to see its message) and exits with its
 * status; otherwise exits 0 on the expected refusal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tas/ctl.h"
#include "tas/ctl_io.h"

static int connect_sp(const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir, TAS_SP_SOCK_NAME);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "toomany: connect %s: %s\n", sa.sun_path, strerror(errno));
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: toomany RUN_DIR MAX_APPS [CMD ARGS...]\n");
        return 2;
    }
    int max_apps = atoi(argv[2]);
    for (int i = 0; i < max_apps; i++)
        connect_sp(argv[1]);

    int fd = connect_sp(argv[1]);
    struct tas_ctl_msg m = { .type = TAS_CTL_REGISTER, .seq = 7 };
    m.u.reg.pid = (uint32_t)getpid();
    m.u.reg.abi_version = TAS_ABI_VERSION;
    unsigned nfds;
    int rc = tas_ctl_send(fd, &m, NULL, 0);
    if (rc == 0)
        rc = tas_ctl_recv(fd, &m, NULL, 0, &nfds, 0);
    if (rc != 0) {
        printf("application %d: REGISTER failed on the socket: %s\n", max_apps + 1, strerror(-rc));
        return 1;
    }
    if (m.type != (TAS_CTL_REGISTER | TAS_CTL_REPLY) || m.seq != 7 || m.status != -EUSERS) {
        printf("application %d: reply type %#x seq %u status %d, expected -EUSERS\n",
               max_apps + 1, m.type, m.seq, m.status);
        return 1;
    }
    printf("application %d: REGISTER refused with EUSERS\n", max_apps + 1);
    if (argc == 3)
        return 0;

    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        fprintf(stderr, "toomany: %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
