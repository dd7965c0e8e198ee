/*
 * main() for every unit suite: fork mode with timeouts (CK_FORK=no to debug),
 * a log sink that fails a test on an unexpected warning, a temporary folder
 * per test, and exit 77 when the suite must be skipped.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runner.h"

#define MAX_EXPECT 16

static const char *expected[MAX_EXPECT];
static int nexpected;
static char tmpdir[256];

void
runner_skip(const char *why)
{
	fprintf(stderr, "SKIP: %s\n", why);
	exit(77);
}

const char *
runner_srcdir(void)
{
	const char *s = getenv("TOP_SRCDIR");

	return s && *s ? s : ".";
}

const char *
runner_builddir(void)
{
	const char *s = getenv("BUILD");

	return s && *s ? s : "build";
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
remove_tmpdir(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

const char *
runner_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/printredir-test.XXXXXX");
		if (mkdtemp(tmpdir) == NULL) {
			tmpdir[0] = '\0';
			ck_abort_msg("mkdtemp failed");
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

void
runner_expect_log(const char *substr)
{
	ck_assert_int_lt(nexpected, MAX_EXPECT);
	expected[nexpected++] = substr;
}

static void
sink(int pri, const char *msg)
{
	if (pri > LOG_WARNING)
		return;
	for (int i = 0; i < nexpected; i++)
		if (strstr(msg, expected[i]) != NULL)
			return;
	ck_abort_msg("unexpected log line: %s", msg);
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("test", 1, getenv("TEST_DEBUG") != NULL);
	log_set_sink(sink);
	sr = srunner_create(test_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
