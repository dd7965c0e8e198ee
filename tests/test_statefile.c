/* Atomic state files, with a crash simulated between write and rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"
#include "statefile.h"

static char path[512];

static void
setup(void)
{
	snprintf(path, sizeof(path), "%s/state.json", runner_tmpdir());
}

START_TEST(write_then_read)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;

	ck_assert_int_eq(statefile_write(path, "{\"a\":1}", 7, 0600), 0);
	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_str_eq(buf, "{\"a\":1}");
	free(buf);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	/* Overwrite replaces the content whole. */
	ck_assert_int_eq(statefile_write(path, "x", 1, 0600), 0);
	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "x");
	free(buf);
}
END_TEST

static void
crash_here(const char *tmp)
{
	(void)tmp;
	_exit(9);	/* as sudden as a power cut for this process */
}

START_TEST(crash_between_write_and_rename_keeps_the_old_content)
{
	char tmp[600], *buf = NULL;
	size_t len;
	pid_t pid;
	int status;

	ck_assert_int_eq(statefile_write(path, "old", 3, 0600), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		statefile_test_hook = crash_here;
		statefile_write(path, "new content", 11, 0600);
		_exit(0);	/* not reached when the hook runs */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 9);	/* it did crash there */

	/* A reader sees the old content, whole. */
	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "old");
	free(buf);
	/* The crashed writer's temporary file is there, complete... */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(statefile_read(tmp, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "new content");
	free(buf);
	/* ...and the next write replaces it and succeeds. */
	ck_assert_int_eq(statefile_write(path, "next", 4, 0600), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "next");
	free(buf);
}
END_TEST

START_TEST(read_errors)
{
	char *buf = NULL;
	size_t len;
	char big[64];

	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), -ENOENT);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(statefile_write(path, big, sizeof(big), 0600), 0);
	ck_assert_int_eq(statefile_read(path, 10, &buf, &len), -EFBIG);
	ck_assert_ptr_null(buf);
	ck_assert_int_eq(statefile_read(runner_tmpdir(), 1024, &buf, &len), -EINVAL);
}
END_TEST

/* Regression (found in a real VM): files of /proc say they hold 0 bytes;
 * the agent's default boot_id_file is one, and read as empty it made every
 * real restart look like one that did not happen. */
START_TEST(proc_files_read_whole)
{
	char *text = NULL;
	size_t len = 0;

	ck_assert_int_eq(statefile_read("/proc/sys/kernel/random/boot_id", 256, &text,
	    &len), 0);
	ck_assert_uint_eq(len, 37);		/* a UUID and its newline */
	ck_assert_int_eq(text[8], '-');
	free(text);
	/* The cap holds for them too. */
	ck_assert_int_eq(statefile_read("/proc/sys/kernel/random/boot_id", 10, &text,
	    &len), -EFBIG);
	ck_assert_ptr_null(text);
}
END_TEST

static void
crash_the_second_time(const char *tmp)
{
	static int calls;

	(void)tmp;
	if (++calls == 2)
		_exit(9);
}

/*
 * A batch: staged files leave their paths alone until the commit, which
 * puts every one in place whole; a crash in the middle of the commit leaves
 * each path with its old content or its new one, never a mix.
 */
START_TEST(staged_files_appear_at_the_commit)
{
	char a[600], b[600], tmp[620], *buf = NULL;
	const char *paths[2] = { a, b };
	size_t len;
	pid_t pid;
	int status;

	snprintf(a, sizeof(a), "%s/a.ppd", runner_tmpdir());
	snprintf(b, sizeof(b), "%s/b.ppd", runner_tmpdir());
	ck_assert_int_eq(statefile_write(a, "old a", 5, 0644), 0);
	ck_assert_int_eq(statefile_stage(a, "new a", 5, 0644), 0);
	ck_assert_int_eq(statefile_stage(b, "new b", 5, 0644), 0);
	/* Until the commit: the old content, and no b; but a reader that
	 * verifies what it reads may take what is staged for b. */
	ck_assert_int_eq(statefile_read(a, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "old a");
	free(buf);
	ck_assert_int_eq(access(b, F_OK), -1);
	ck_assert_int_eq(statefile_read_staged(b, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "new b");
	free(buf);
	ck_assert_int_eq(statefile_read_staged(a, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "old a");
	free(buf);

	/* A crash in the commit, after a's rename and before b's. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		statefile_test_hook = crash_the_second_time;
		statefile_commit(paths, 2);
		_exit(0);	/* not reached when the hook runs */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 9);
	ck_assert_int_eq(statefile_read(a, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "new a");
	free(buf);
	ck_assert_int_eq(access(b, F_OK), -1);

	/* Staged again and committed: whole, no temporary file left. */
	ck_assert_int_eq(statefile_stage(b, "new b", 5, 0600), 0);
	ck_assert_int_eq(statefile_commit(paths + 1, 1), 0);
	ck_assert_int_eq(statefile_read(b, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "new b");
	free(buf);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(statefile_read_staged(b, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "new b");
	free(buf);
	ck_assert_int_eq(statefile_read_staged(tmp, 1024, &buf, &len), -ENOENT);
	/* A path that was never staged fails, the others go through. */
	ck_assert_int_eq(statefile_stage(a, "newer a", 7, 0644), 0);
	paths[1] = b;
	ck_assert_int_eq(statefile_commit(paths, 2), -ENOENT);
	ck_assert_int_eq(statefile_read(a, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "newer a");
	free(buf);
}
END_TEST

START_TEST(write_without_sync_replaces_whole)
{
	char *buf = NULL, tmp[600];
	size_t len;

	ck_assert_int_eq(statefile_write_nosync(path, "first", 5, 0644), 0);
	ck_assert_int_eq(statefile_write_nosync(path, "second", 6, 0644), 0);
	ck_assert_int_eq(statefile_read(path, 1024, &buf, &len), 0);
	ck_assert_str_eq(buf, "second");
	free(buf);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(access(tmp, F_OK), -1);
}
END_TEST

START_TEST(write_into_missing_folder_fails_cleanly)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/no/such/dir/state", runner_tmpdir());
	ck_assert_int_eq(statefile_write(p, "x", 1, 0600), -ENOENT);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("statefile");
	TCase *tc = tcase_create("statefile");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, write_then_read);
	tcase_add_test(tc, crash_between_write_and_rename_keeps_the_old_content);
	tcase_add_test(tc, read_errors);
	tcase_add_test(tc, proc_files_read_whole);
	tcase_add_test(tc, write_into_missing_folder_fails_cleanly);
	tcase_add_test(tc, staged_files_appear_at_the_commit);
	tcase_add_test(tc, write_without_sync_replaces_whole);
	suite_add_tcase(s, tc);
	return s;
}
