/* tas-fastpath-exec - starts tas-fastpath with the settings of the config
 * file the slow path reads, so one file describes the whole service.
 *
 *   tas-fastpath-exec CONFIG [TAS-FASTPATH]
 *
 * From CONFIG (INI, read with libinih) it takes [service] run-dir and the
 * [fastpath] section: `eal` holds the DPDK EAL arguments (cores, device,
 * memory), split on blanks; every other key is a tas-fastpath option of the
 * same name.  It then replaces itself with
 *
 *   tas-fastpath EAL... -- --run-dir DIR --KEY VALUE...
 *
 * so systemd supervises the fast path itself.  The fast path does not read
 * the file on its own yet; this keeps its command line the one interface.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#define MAX_ARGS 256

struct launch {
    char *eal[MAX_ARGS];
    int n_eal;
    char *opts[MAX_ARGS];
    int n_opts;
    const char *bad_key;
};

static int push(char **list, int *n, const char *s)
{
    if (*n >= MAX_ARGS - 1)
        return -1;
    list[*n] = strdup(s);
    if (!list[*n])
        return -1;
    (*n)++;
    return 0;
}

static int split_eal(struct launch *l, const char *value)
{
    char *copy = strdup(value), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *w = strtok_r(copy, " \t", &save); w && rc == 0; w = strtok_r(NULL, " \t", &save))
        rc = push(l->eal, &l->n_eal, w);
    free(copy);
    return rc;
}

static int entry(void *user, const char *section, const char *key, const char *value)
{
    struct launch *l = user;
    char opt[128];
    if (strcmp(section, "service") == 0) {
        if (strcmp(key, "run-dir") != 0)
            return 1;         /* the slow path's business */
    } else if (strcmp(section, "fastpath") != 0) {
        return 1;
    } else if (strcmp(key, "eal") == 0) {
        return split_eal(l, value) == 0;
    }
    if (strlen(key) > sizeof(opt) - 3) {
        l->bad_key = "key too long";
        return 0;
    }
    snprintf(opt, sizeof(opt), "--%s", key);
    return push(l->opts, &l->n_opts, opt) == 0 && push(l->opts, &l->n_opts, value) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: tas-fastpath-exec CONFIG [TAS-FASTPATH]\n");
        return 2;
    }
    const char *binary = argc == 3 ? argv[2] : TAS_FASTPATH_PATH;
    static struct launch l;
    int line = ini_parse(argv[1], entry, &l);
    if (line < 0) {
        fprintf(stderr, "tas-fastpath-exec: cannot read %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (line > 0) {
        fprintf(stderr, "tas-fastpath-exec: %s:%d: %s\n", argv[1], line,
                l.bad_key ? l.bad_key : "not a valid line");
        return 1;
    }
    if (l.n_eal == 0) {
        fprintf(stderr, "tas-fastpath-exec: %s has no [fastpath] eal = ... line "
                        "(cores and device, e.g. 'eal = -l 2 -a 0000:3b:00.0')\n", argv[1]);
        return 1;
    }

    char *args[2 * MAX_ARGS + 2];
    int n = 0;
    args[n++] = (char *)binary;
    for (int i = 0; i < l.n_eal; i++)
        args[n++] = l.eal[i];
    args[n++] = "--";
    for (int i = 0; i < l.n_opts; i++)
        args[n++] = l.opts[i];
    args[n] = NULL;
    execv(binary, args);
    fprintf(stderr, "tas-fastpath-exec: cannot run %s: %s\n", binary, strerror(errno));
    return 1;
}
