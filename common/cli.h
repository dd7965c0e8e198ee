/*
 * The command line of every printredir program: one table-driven parser,
 * so that each one answers -h/--help and -V/--version the same way and
 * fails the same way: exit status 2 and one line on stderr,
 *
 *   PROG: unknown option '--frobnicate'. Try 'PROG --help'.
 *
 * A program lists its options and how many operands it takes, and calls
 * cli_parse() first thing:
 *
 *	const char *path = DEFAULT_CONF;
 *	int json = 0, first, rc;
 *	const struct cli_opt opts[] = {
 *		{ 'c', "config", CLI_STRING, &path },
 *		{ 0, "json", CLI_FLAG, &json },
 *		{ 0 },
 *	};
 *	const struct cli cli = { "guest-agent status", usage, opts, 0, 0, NULL };
 *
 *	if ((rc = cli_parse(&cli, argc, argv, &first)) >= 0)
 *		return rc;
 *
 * A subcommand passes its own argv (argv[0] is the subcommand's name) and
 * its full name as prog.  A check that only the program can make (an empty
 * file name, an address of the wrong kind) reports through cli_error() so
 * that it reads like the parser's own.
 */
#ifndef PRINTREDIR_CLI_H
#define PRINTREDIR_CLI_H

#include <stdio.h>

enum cli_kind {
	CLI_FLAG = 1,	/* no argument: *(int *)dest = 1 */
	CLI_STRING,	/* one argument: *(const char **)dest = it, in argv */
};

struct cli_opt {
	int short_name;		/* 'c' for -c; 0 for none */
	const char *long_name;	/* "config" for --config; NULL for none */
	enum cli_kind kind;
	void *dest;		/* int * for CLI_FLAG, const char ** for
				 * CLI_STRING; not NULL */
};

struct cli {
	const char *prog;	/* the name in messages: "host-broker status" */
	/* Prints the full help; called with stdout for --help.  -h, --help,
	 * -V and --version are the parser's own: do not list them in opts. */
	void (*usage)(FILE *out);
	/* The options, ended by an entry whose kind is 0; NULL for none. */
	const struct cli_opt *opts;
	int min_args;		/* operands the program needs */
	int max_args;		/* operands it takes at most; -1: no limit */
	/* The operands' name for "missing" messages ("FILE.ppd..."); NULL
	 * when min_args is 0. */
	const char *args_name;
};

/*
 * Parses argv[1] to argv[argc - 1] (argv not NULL; argv[0] is not looked
 * at) against c (not NULL).  Options and operands may come in any order,
 * "--" ends the options; argv is reordered so that the operands come last.
 * Long options may be abbreviated while unambiguous and take their
 * argument as --config FILE or --config=FILE.
 *
 * Returns -1 to go on: every option given has set its dest (options not
 * given leave theirs alone, so set defaults first), and, when first is not
 * NULL, argv[*first] to argv[argc - 1] are the operands.  Otherwise returns
 * the exit status for main to return at once: 0 after printing the help
 * (c->usage) or the version on stdout, 2 after one line on stderr for an
 * unknown option, a missing or unwanted option argument, or too few or too
 * many operands.  Uses getopt_long and resets its global state, so it may
 * run again on another argv (a subcommand's).
 */
int cli_parse(const struct cli *c, int argc, char **argv, int *first);

/*
 * Says on stderr, as cli_parse() does, "PROG: MESSAGE. Try 'PROG --help'."
 * and returns 2, the exit status of a usage error.  fmt is printf's and
 * takes no trailing period or newline.
 */
int cli_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The daemons' command line, on cli_parse():
 *   PROG [-c FILE] [-d] [--syslog] [-V] [-h]
 * Returns -1 to go on, with *path (left as given when there is no -c),
 * *debug and *use_syslog set; otherwise the exit status as cli_parse().
 */
int cli_daemon_args(const char *prog, int argc, char **argv, void (*usage)(FILE *),
    const char **path, int *debug, int *use_syslog);

#endif
