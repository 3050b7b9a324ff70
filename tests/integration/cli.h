/* cli.h - what the test programs (echo-many, holdconn, limitapp) share for
 * their command lines and fatal errors; messages start with the program's
 * name. */
#ifndef TESTS_CLI_H
#define TESTS_CLI_H

/* Prints "PROG: WHAT: strerror(errno)" and exits 1. */
void __attribute__((noreturn)) die(const char *what);

/* S as a number in 1..MAX, or "PROG: bad WHAT 'S' (1..MAX)" and exit 2. */
unsigned long parse_num(const char *s, const char *what, unsigned long max);

#endif /* TESTS_CLI_H */
