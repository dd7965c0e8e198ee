/*
 * The command line both daemons share:
 *   PROG [-c FILE] [-d] [--syslog] [-V] [-h]
 */
#ifndef PRINTREDIR_CLI_H
#define PRINTREDIR_CLI_H

#include <stdio.h>

/*
 * Parses argv.  Returns -1 to go on, with *path (left as given when there
 * is no -c), *debug and *use_syslog set; otherwise the exit status: 0 after
 * --version or --help (printed on stdout), 2 after a bad option or argument
 * (said on stderr).
 */
int cli_daemon_args(const char *prog, int argc, char **argv, void (*usage)(FILE *),
    const char **path, int *debug, int *use_syslog);

#endif
