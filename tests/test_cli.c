/*
 * cli: the one command-line parser every program uses; what it sets, and
 * what it says and returns for help, version and every kind of mistake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "cli.h"
#include "runner.h"
#include "version.h"

static const char *conf;
static int json, debug;

static void
usage(FILE *out)
{
	fputs("Usage: prog sub [-c FILE] [--json] [-d]\n", out);
}

static const struct cli_opt opts[] = {
	{ 'c', "config", CLI_STRING, &conf },
	{ 0, "json", CLI_FLAG, &json },
	{ 'd', "debug", CLI_FLAG, &debug },
	{ 0 },
};

/* What one cli_parse() run returned and printed. */
struct run {
	int rc, first;
	char out[1024], err[1024];
};

static void
slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * Parses the NULL-terminated words (words[0] is argv[0]) against c with
 * stdout and stderr caught.
 */
static void
parse(const struct cli *c, char **words, struct run *r)
{
	FILE *o = tmpfile(), *e = tmpfile();
	int argc = 0, so, se;

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(e);
	while (words[argc] != NULL)
		argc++;
	conf = "default.conf";
	json = debug = 0;
	r->first = -7;
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	r->rc = cli_parse(c, argc, words, &r->first);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	slurp(o, r->out, sizeof(r->out));
	slurp(e, r->err, sizeof(r->err));
}

static const struct cli sub = { "prog sub", usage, opts, 0, 0, NULL };

/* A usage error: status 2, nothing on stdout, exactly this on stderr. */
static void
fails(const struct cli *c, char **words, const char *msg)
{
	struct run r;
	char want[512];

	parse(c, words, &r);
	snprintf(want, sizeof(want), "%s: %s. Try '%s --help'.\n", c->prog,
	    msg, c->prog);
	ck_assert_int_eq(r.rc, 2);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, want);
}

START_TEST(options_set_their_dest)
{
	struct run r;
	char *none[] = { "sub", NULL };
	char *all[] = { "sub", "-c", "a.conf", "--json", "-d", NULL };
	char *joined[] = { "sub", "--config=b.conf", NULL };
	char *glued[] = { "sub", "-dcc.conf", NULL };
	char *abbrev[] = { "sub", "--js", "--conf", "d.conf", NULL };

	parse(&sub, none, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.first, 1);
	ck_assert_str_eq(conf, "default.conf");	/* left alone */
	ck_assert_int_eq(json, 0);
	ck_assert_str_eq(r.out, "");
	ck_assert_str_eq(r.err, "");

	parse(&sub, all, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_str_eq(conf, "a.conf");
	ck_assert_int_eq(json, 1);
	ck_assert_int_eq(debug, 1);
	ck_assert_int_eq(r.first, 5);

	parse(&sub, joined, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_str_eq(conf, "b.conf");

	parse(&sub, glued, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(debug, 1);
	ck_assert_str_eq(conf, "c.conf");

	parse(&sub, abbrev, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(json, 1);
	ck_assert_str_eq(conf, "d.conf");
}
END_TEST

START_TEST(help_and_version)
{
	struct run r;
	char want[256];
	char *h[] = { "sub", "-h", NULL };
	char *help[] = { "sub", "--json", "--help", "--frobnicate", NULL };
	char *v[] = { "sub", "-V", NULL };
	char *version[] = { "sub", "--version", NULL };

	parse(&sub, h, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "Usage: prog sub [-c FILE] [--json] [-d]\n");
	ck_assert_str_eq(r.err, "");
	/* Help wins over what follows it. */
	parse(&sub, help, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, "Usage: prog sub [-c FILE] [--json] [-d]\n");

	snprintf(want, sizeof(want), "prog sub (printredir) %s\n",
	    PRINTREDIR_VERSION);
	parse(&sub, v, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, want);
	ck_assert_str_eq(r.err, "");
	parse(&sub, version, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.out, want);
}
END_TEST

START_TEST(mistakes_exit_2_with_one_line)
{
	char *unknown_long[] = { "sub", "--frobnicate", NULL };
	char *unknown_long_arg[] = { "sub", "--frob=1", NULL };
	char *unknown_short[] = { "sub", "-x", NULL };
	char *in_cluster[] = { "sub", "--json", "-dxd", NULL };
	char *missing_short[] = { "sub", "--json", "-c", NULL };
	char *missing_cluster[] = { "sub", "-dc", NULL };
	char *missing_long[] = { "sub", "--config", NULL };
	char *unwanted[] = { "sub", "--json=yes", NULL };
	char *unwanted_short_named[] = { "sub", "--debug=1", NULL };
	char *stray[] = { "sub", "-d", "now", NULL };

	fails(&sub, unknown_long, "unknown option '--frobnicate'");
	fails(&sub, unknown_long_arg, "unknown option '--frob'");
	fails(&sub, unknown_short, "unknown option '-x'");
	fails(&sub, in_cluster, "unknown option '-x'");
	fails(&sub, missing_short, "option '-c' needs an argument");
	fails(&sub, missing_cluster, "option '-c' needs an argument");
	fails(&sub, missing_long, "option '--config' needs an argument");
	fails(&sub, unwanted, "option '--json' takes no argument");
	fails(&sub, unwanted_short_named, "option '--debug' takes no argument");
	fails(&sub, stray, "unexpected argument 'now'");
}
END_TEST

START_TEST(operands)
{
	static const struct cli files = { "prog files", usage, opts, 1, -1,
	    "FILE.ppd..." };
	static const struct cli two = { "prog two", usage, opts, 0, 2, NULL };
	struct run r;
	char *none[] = { "files", "-d", NULL };
	char *mixed[] = { "files", "a.ppd", "-d", "b.ppd", NULL };
	char *dashes[] = { "files", "--", "-x.ppd", NULL };
	char *three[] = { "two", "a", "b", "c", NULL };

	fails(&files, none, "missing FILE.ppd...");

	/* Options may follow operands; the operands end up last. */
	parse(&files, mixed, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(debug, 1);
	ck_assert_int_eq(r.first, 2);
	ck_assert_str_eq(mixed[2], "a.ppd");
	ck_assert_str_eq(mixed[3], "b.ppd");

	parse(&files, dashes, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(r.first, 2);
	ck_assert_str_eq(dashes[r.first], "-x.ppd");

	fails(&two, three, "unexpected argument 'c'");
}
END_TEST

/* getopt's state is global: a second argv parses from its start. */
START_TEST(runs_again_on_another_argv)
{
	struct run r;
	char *daemon[] = { "prog", "-d", NULL };
	char *sub_argv[] = { "sub", "--json", NULL };
	const char *path = "x.conf";
	int dbg = 5, use_syslog = 5, rc;
	char *d1[] = { "prog", "-c", "y.conf", "--syslog", NULL };
	char *d2[] = { "prog", "-dq", NULL };

	parse(&sub, daemon, &r);
	ck_assert_int_eq(r.rc, -1);
	parse(&sub, sub_argv, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_int_eq(json, 1);

	rc = cli_daemon_args("prog", 4, d1, usage, &path, &dbg, &use_syslog);
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(path, "y.conf");
	ck_assert_int_eq(dbg, 0);
	ck_assert_int_eq(use_syslog, 1);

	/* Half a cluster left over from a failed parse does not leak. */
	ck_assert_int_eq(cli_daemon_args("prog", 2, d2, usage, &path, &dbg,
	    &use_syslog), 2);
	parse(&sub, sub_argv, &r);
	ck_assert_int_eq(r.rc, -1);
	ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(program_checks_read_alike)
{
	struct run r;
	FILE *e = tmpfile();
	int se;

	ck_assert_ptr_nonnull(e);
	fflush(stderr);
	se = dup(2);
	dup2(fileno(e), 2);
	ck_assert_int_eq(cli_error(&sub, "the %s is empty", "file name"), 2);
	fflush(stderr);
	dup2(se, 2);
	close(se);
	slurp(e, r.err, sizeof(r.err));
	ck_assert_str_eq(r.err, "prog sub: the file name is empty. Try "
	    "'prog sub --help'.\n");
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, options_set_their_dest);
	tcase_add_test(tc, help_and_version);
	tcase_add_test(tc, mistakes_exit_2_with_one_line);
	tcase_add_test(tc, operands);
	tcase_add_test(tc, runs_again_on_another_argv);
	tcase_add_test(tc, program_checks_read_alike);
	suite_add_tcase(s, tc);
	return s;
}
