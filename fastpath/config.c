/* config.c - reads the config file shared with the slow path (--config).
 *
 * The file is INI (libinih).  [service] run-dir concerns both daemons and
 * [fastpath] this one: `eal` holds the DPDK EAL arguments split on blanks,
 * every other key is one of tas-fastpath's long options.  Rather than a
 * second parser, the file is turned into command-line arguments placed
 * before the real ones, so getopt's last-one-wins lets the command line
 * override the file and every value goes through the same checks.  EAL
 * arguments cannot be overridden one by one (EAL rejects some repeats), so
 * any EAL argument on the command line replaces the file's `eal` whole.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"

struct arg_list {
    char **argv;
    int argc;
    int cap;
};

struct file_args {
    struct arg_list eal;
    struct arg_list opts;
    bool failed;
};

static int arg_push(struct arg_list *a, const char *s)
{
    if (a->argc + 1 >= a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        char **grown = realloc(a->argv, (size_t)cap * sizeof(*grown));
        if (!grown)
            return -1;
        a->argv = grown;
        a->cap = cap;
    }
    a->argv[a->argc] = strdup(s);
    if (!a->argv[a->argc])
        return -1;
    a->argc++;
    a->argv[a->argc] = NULL;
    return 0;
}

static int push_words(struct arg_list *a, const char *value)
{
    char *copy = strdup(value), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *w = strtok_r(copy, " \t", &save); w && rc == 0; w = strtok_r(NULL, " \t", &save))
        rc = arg_push(a, w);
    free(copy);
    return rc;
}

/* ini_parse handler: nonzero keeps going, zero reports the line. */
static int config_entry(void *user, const char *section, const char *key, const char *value)
{
    struct file_args *f = user;
    bool ours = strcmp(section, "fastpath") == 0 ||
                (strcmp(section, "service") == 0 && strcmp(key, "run-dir") == 0);
    if (!ours)
        return 1;
    if (strcmp(section, "fastpath") == 0 && strcmp(key, "eal") == 0) {
        f->failed = push_words(&f->eal, value) != 0;
        return !f->failed;
    }
    char opt[128];
    snprintf(opt, sizeof(opt), "--%s", key);
    f->failed = arg_push(&f->opts, opt) != 0 || arg_push(&f->opts, value) != 0;
    return !f->failed;
}

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int append(struct arg_list *to, const struct arg_list *from)
{
    for (int i = 0; i < from->argc; i++)
        if (arg_push(to, from->argv[i]) != 0)
            return -1;
    return 0;
}

int fp_config_args(int argc, char **argv, int *out_argc, char ***out_argv,
                   char *err, size_t err_len)
{
    const char *path = NULL;
    struct arg_list cmd_eal = { 0 }, cmd_opts = { 0 };
    struct file_args file = { 0 };
    struct arg_list *side = &cmd_eal;
    int rc = 0;

    for (int i = 1; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 == argc)
                return fail(err, err_len, "--config needs a file name");
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else if (strcmp(argv[i], "--") == 0 && side == &cmd_eal) {
            side = &cmd_opts;
        } else {
            rc = arg_push(side, argv[i]);
        }
    }
    if (!path) {
        *out_argc = argc;
        *out_argv = argv;
        return 0;
    }
    int line = rc == 0 ? ini_parse(path, config_entry, &file) : 0;
    if (line < 0)
        return fail(err, err_len, "cannot read config %s", path);
    if (line > 0 && !file.failed)
        return fail(err, err_len, "%s:%d: not a valid line", path, line);
    if (cmd_eal.argc == 0 && file.eal.argc == 0)
        return fail(err, err_len, "%s has no [fastpath] eal = ... line (cores and "
                    "device, e.g. 'eal = -l 2 -a 0000:3b:00.0')", path);

    struct arg_list all = { 0 };
    if (rc == 0 && !file.failed)
        rc = arg_push(&all, argv[0]);
    if (rc == 0 && !file.failed)
        rc = append(&all, cmd_eal.argc ? &cmd_eal : &file.eal);
    if (rc == 0 && !file.failed)
        rc = arg_push(&all, "--");
    if (rc == 0 && !file.failed)
        rc = append(&all, &file.opts);
    if (rc == 0 && !file.failed)
        rc = append(&all, &cmd_opts);
    if (rc != 0 || file.failed)
        return fail(err, err_len, "out of memory reading %s", path);
    *out_argc = all.argc;
    *out_argv = all.argv;
    return 0;
}
