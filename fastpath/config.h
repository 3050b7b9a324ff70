/* config.h - the fast path's share of the service config file. */
#ifndef FP_CONFIG_H
#define FP_CONFIG_H

#include <stddef.h>

/* Rewrites argv for `--config FILE`: the result is
 *   argv[0] EAL... -- FILE-OPTIONS... COMMAND-LINE-OPTIONS...
 * where EAL is the command line's EAL arguments if it has any, else the
 * file's `eal = ...`.  Without --config, argv is returned unchanged.
 * Returns 0, or -1 with a message in err.  The new vector lives as long as
 * the process, as EAL may keep pointers into it. */
int fp_config_args(int argc, char **argv, int *out_argc, char ***out_argv,
                   char *err, size_t err_len);

#endif
