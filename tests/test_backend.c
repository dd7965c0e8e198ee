/*
 * The printredir CUPS backend (guest-agent/backend.c) as cupsd runs it:
 * what it hands to the ipp backend, and what it refuses.  The real path,
 * guest cupsd -> backend -> host -> print server, is e2e/09-printing.sh;
 * here a stand-in "ipp" backend in a private CUPS_SERVERBIN records what it
 * was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

/* Runs the backend with DEVICE_URI=uri and argc-1 job arguments; returns
 * its exit status and leaves its stderr in err. */
static int
run_backend(const char *uri, int nargs, char *err, size_t errlen)
{
	char prog[600], errpath[700], serverbin[700];
	char *argv[] = { "printredir", "7", "alice", "title", "1", "", NULL };
	int status;
	pid_t pid;
	FILE *f;
	size_t n;

	snprintf(prog, sizeof(prog), "%s/printredir-backend", runner_builddir());
	snprintf(errpath, sizeof(errpath), "%s/stderr", runner_tmpdir());
	snprintf(serverbin, sizeof(serverbin), "%s/serverbin", runner_tmpdir());
	argv[nargs + 1] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (freopen(errpath, "w", stderr) == NULL)
			_exit(99);
		if (uri != NULL)
			setenv("DEVICE_URI", uri, 1);
		setenv("CUPS_SERVERBIN", serverbin, 1);
		setenv("FINAL_CONTENT_TYPE", "application/vnd.cups-raster", 1);
		execv(prog, argv);
		_exit(98);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	f = fopen(errpath, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(err, 1, errlen - 1, f);
	err[n] = '\0';
	fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A stand-in ipp backend that prints its argv[0] and environment. */
static void
fake_ipp(void)
{
	char dir[700], path[800];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/serverbin", runner_tmpdir());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/serverbin/backend", runner_tmpdir());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/ipp", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\necho \"argv0=$0 args=$# uri=$DEVICE_URI "
	    "type=$FINAL_CONTENT_TYPE\" >&2\nexit 0\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
}

START_TEST(hands_the_job_to_ipp_marked_raw)
{
	char err[4096], want[1024];

	fake_ipp();
	ck_assert_int_eq(run_backend("printredir:ipp://10.0.0.5:631/printers/office",
	    5, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "argv0=%s/serverbin/backend/ipp args=5 "
	    "uri=ipp://10.0.0.5:631/printers/office type=application/vnd.cups-raw\n",
	    runner_tmpdir());
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(refuses_other_uris)
{
	char err[4096];

	fake_ipp();
	ck_assert_int_eq(run_backend("ipp://10.0.0.5/printers/office", 5, err,
	    sizeof(err)), 4);
	ck_assert_ptr_nonnull(strstr(err, "ERROR: printredir: device URI "
	    "\"ipp://10.0.0.5/printers/office\" does not start with \"printredir:\""));
	ck_assert_int_eq(run_backend("printredir:socket://10.0.0.5:9100", 5, err,
	    sizeof(err)), 4);
	ck_assert_ptr_nonnull(strstr(err, "is not an ipp, ipps, http or https URI"));
	ck_assert_int_eq(run_backend("printredir:ipp:/no-authority", 5, err,
	    sizeof(err)), 4);
}
END_TEST

START_TEST(discovery_lists_nothing_and_bad_calls_fail)
{
	char err[4096];

	fake_ipp();
	/* cupsd runs every backend without arguments to list devices. */
	ck_assert_int_eq(run_backend(NULL, 0, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(run_backend("printredir:ipp://h/printers/p", 3, err,
	    sizeof(err)), 1);
	ck_assert_ptr_nonnull(strstr(err, "Usage:"));
}
END_TEST

START_TEST(reports_a_missing_ipp_backend)
{
	char err[4096];

	/* No serverbin/backend/ipp at all. */
	ck_assert_int_eq(run_backend("printredir:https://h/printers/p", 5, err,
	    sizeof(err)), 4);
	ck_assert_ptr_nonnull(strstr(err, "ERROR: printredir: cannot run "));
	ck_assert_ptr_nonnull(strstr(err, "/backend/https: No such file"));
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tc = tcase_create("backend");

	tcase_add_test(tc, hands_the_job_to_ipp_marked_raw);
	tcase_add_test(tc, refuses_other_uris);
	tcase_add_test(tc, discovery_lists_nothing_and_bad_calls_fail);
	tcase_add_test(tc, reports_a_missing_ipp_backend);
	suite_add_tcase(s, tc);
	return s;
}
