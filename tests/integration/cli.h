/* cli.h - what the test programs (echo-many, holdconn, limitapp) share for
 * their command lines, listening sockets and fatal errors; messages start
 * with the program's name. */
#ifndef TESTS_CLI_H
#define TESTS_CLI_H

/* Prints "PROG: WHAT: strerror(errno)" and exits 1. */
void __attribute__((noreturn)) die(const char *what);

/* S as a number in 1..MAX, or "PROG: bad WHAT 'S' (1..MAX)" and exit 2. */
unsigned long parse_num(const char *s, const char *what, unsigned long max);

/* A TCP socket of type SOCK_STREAM | type_flags listening on port of any
 * address with SO_REUSEADDR, or die() naming the step that failed. */
int listen_tcp(unsigned port, int backlog, int type_flags);

#endif /* TESTS_CLI_H */
