/* Every program's command line; see cli.h. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

/* The most options a program lists, -h and -V not counted. */
#define CLI_OPTS_MAX 16
/* getopt_long's value for the option at index i that has no short name. */
#define LONG_ONLY(i) (256 + (i))

int
cli_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ". Try '%s --help'.\n", c->prog);
	return 2;
}

/* The index in c->opts of getopt_long's value v, or -1. */
static int
find_opt(const struct cli *c, int n, int v)
{
	for (int i = 0; i < n; i++)
		if (v == (c->opts[i].short_name != 0 ? c->opts[i].short_name :
		    LONG_ONLY(i)))
			return i;
	return -1;
}

/*
 * Names the option getopt_long stopped at, as the user wrote it: its long
 * form up to any '=', else "-X".  typed is argv[optind - 1], the argument
 * that held the option (a long option, or a short one that ended its
 * cluster), as it is when an argument is missing or unwanted.
 */
static void
opt_name(const struct cli *c, int n, const char *typed, char *buf, size_t len)
{
	int i;

	if (typed != NULL && strncmp(typed, "--", 2) == 0) {
		snprintf(buf, len, "%.*s", (int)strcspn(typed, "="), typed);
		return;
	}
	i = find_opt(c, n, optopt);
	if (i >= 0 && c->opts[i].short_name == 0)
		snprintf(buf, len, "--%s", c->opts[i].long_name);
	else
		snprintf(buf, len, "-%c", optopt);
}

int
cli_parse(const struct cli *c, int argc, char **argv, int *first)
{
	struct option longs[CLI_OPTS_MAX + 3];
	char shorts[2 * CLI_OPTS_MAX + 8], name[64];
	const char *typed;
	size_t s = 0;
	int n = 0, l = 0, v, i, nargs;

	shorts[s++] = ':';	/* ':' for a missing argument, no messages */
	for (n = 0; c->opts != NULL && c->opts[n].kind != 0; n++) {
		const struct cli_opt *o = &c->opts[n];
		int arg = o->kind == CLI_STRING;

		if (n == CLI_OPTS_MAX)
			return cli_error(c, "too many options (internal error)");
		if (o->short_name != 0) {
			shorts[s++] = (char)o->short_name;
			if (arg)
				shorts[s++] = ':';
		}
		if (o->long_name != NULL)
			longs[l++] = (struct option){ o->long_name,
			    arg ? required_argument : no_argument, NULL,
			    o->short_name != 0 ? o->short_name : LONG_ONLY(n) };
	}
	memcpy(shorts + s, "hV", 3);
	longs[l++] = (struct option){ "help", no_argument, NULL, 'h' };
	longs[l++] = (struct option){ "version", no_argument, NULL, 'V' };
	longs[l] = (struct option){ NULL, 0, NULL, 0 };

	optind = 0;	/* glibc: start afresh, even after another argv */
	opterr = 0;
	while ((v = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		typed = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
		switch (v) {
		case 'h':
			if (c->usage != NULL)
				c->usage(stdout);
			else
				printf("Usage: %s\n", c->prog);
			return 0;
		case 'V':
			printf("%s (printredir) %s\n", c->prog,
			    PRINTREDIR_VERSION);
			return 0;
		case ':':
			opt_name(c, n, typed, name, sizeof(name));
			return cli_error(c, "option '%s' needs an argument",
			    name);
		case '?':
			/* optopt is 0 for an unknown long option, the
			 * character for a short one, and the option's value
			 * when a flag was given an argument (--json=1). */
			if (optopt != 0 && find_opt(c, n, optopt) >= 0) {
				opt_name(c, n, typed, name, sizeof(name));
				return cli_error(c, "option '%s' takes no "
				    "argument", name);
			}
			if (optopt == 0 && typed != NULL)
				snprintf(name, sizeof(name), "%.*s",
				    (int)strcspn(typed, "="), typed);
			else
				snprintf(name, sizeof(name), "-%c", optopt);
			return cli_error(c, "unknown option '%s'", name);
		default:
			if ((i = find_opt(c, n, v)) < 0)
				return cli_error(c, "unknown option (internal "
				    "error)");
			if (c->opts[i].kind == CLI_FLAG)
				*(int *)c->opts[i].dest = 1;
			else
				*(const char **)c->opts[i].dest = optarg;
			break;
		}
	}
	nargs = argc - optind;
	if (nargs < c->min_args)
		return cli_error(c, "missing %s", c->args_name != NULL ?
		    c->args_name : "arguments");
	if (c->max_args >= 0 && nargs > c->max_args)
		return cli_error(c, "unexpected argument '%s'",
		    argv[optind + c->max_args]);
	if (first != NULL)
		*first = optind;
	return -1;
}

int
cli_daemon_args(const char *prog, int argc, char **argv, void (*usage)(FILE *),
    const char **path, int *debug, int *use_syslog)
{
	*debug = 0;
	*use_syslog = 0;

	const struct cli_opt opts[] = {
		{ 'c', "config", CLI_STRING, path },
		{ 'd', "debug", CLI_FLAG, debug },
		{ 0, "syslog", CLI_FLAG, use_syslog },
		{ 0 },
	};
	const struct cli c = { prog, usage, opts, 0, 0, NULL };

	return cli_parse(&c, argc, argv, NULL);
}
