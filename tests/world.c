/*
 * The test world of tests/sandbox/sandbox, shared by the unit suites that
 * print on real cupsd instances: the temporary folder, the script's runs
 * and logs, and the DIR/env file it writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"
#include "world.h"

extern char **environ;

#define MAX_VARS 256

/* Set up once in the runner process and inherited by the forked tests. */
static char top[256];		/* mkdtemp folder holding the world and logs */
static char dir[512];		/* the sandbox DIR */
static char script[1024];	/* tests/sandbox/sandbox */
static int started;

static struct {
	char *key;
	char *value;
} vars[MAX_VARS];
static int nvars;

static void
env_clear(void)
{
	for (int i = 0; i < nvars; i++) {
		free(vars[i].key);
		free(vars[i].value);
	}
	nvars = 0;
}

void
world_require(void)
{
	if (geteuid() != 0)
		runner_skip("must run as root: cupsd starts as root and drops to "
		    "user lp");
	if (access("/usr/sbin/cupsd", X_OK) != 0 &&
	    access("/usr/local/sbin/cupsd", X_OK) != 0)
		runner_skip("cupsd not installed: install cups-daemon (make deps)");
}

void
world_init(const char *name)
{
	int n;

	ck_assert_msg(top[0] == '\0', "a world is set up already");
	n = snprintf(top, sizeof(top), "/tmp/printredir-%s.XXXXXX", name);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(top), "world name too long");
	if (mkdtemp(top) == NULL) {
		top[0] = '\0';
		ck_abort_msg("mkdtemp: %s", strerror(errno));
	}
	/* cupsd's children run as lp and must reach the world. */
	ck_assert_int_eq(chmod(top, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/world", top);
	n = snprintf(script, sizeof(script), "%s/tests/sandbox/sandbox",
	    runner_srcdir());
	ck_assert_msg(n > 0 && (size_t)n < sizeof(script), "source folder "
	    "path too long");
}

int
world_run(const char *cmd, const char *log)
{
	char logpath[600];
	char *argv[] = {script, (char *)cmd, dir, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	snprintf(logpath, sizeof(logpath), "%s/%s", top, log);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, logpath,
	    O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawn(&pid, script, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "world: cannot run %s: %s\n", script,
		    strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
world_show_log(const char *log)
{
	char path[600], buf[4096];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", top, log);
	fp = fopen(path, "r");
	if (fp == NULL)
		return;
	fprintf(stderr, "---- %s ----\n", path);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(fp);
}

int
world_env_load(char *err, size_t errlen)
{
	char path[600], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;
	int rc = 0;

	env_clear();
	snprintf(path, sizeof(path), "%s/env", dir);
	fp = fopen(path, "r");
	if (fp == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		char *eq, *v;
		size_t n;

		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL || eq == line || nvars == MAX_VARS) {
			snprintf(err, errlen, "%s: bad line '%s'", path, line);
			rc = -EINVAL;
			goto out;
		}
		*eq = '\0';
		v = eq + 1;
		n = strlen(v);
		if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
			v[n - 1] = '\0';
			v++;
		}
		vars[nvars].key = strdup(line);
		vars[nvars].value = strdup(v);
		if (vars[nvars].key == NULL || vars[nvars].value == NULL) {
			nvars++;
			snprintf(err, errlen, "%s: out of memory", path);
			rc = -ENOMEM;
			goto out;
		}
		nvars++;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -EIO;
	}
out:
	if (fp != NULL)
		fclose(fp);
	free(line);
	if (rc != 0)
		env_clear();
	return rc;
}

const char *
world_env_get(const char *key)
{
	for (int i = 0; i < nvars; i++)
		if (strcmp(vars[i].key, key) == 0)
			return vars[i].value;
	return NULL;
}

const char *
world_env_need(const char *key)
{
	const char *v = world_env_get(key);

	ck_assert_msg(v != NULL, "%s/env has no %s", dir, key);
	return v;
}

void
world_start(const char *name)
{
	char what[1600], err[5120];
	int rc;

	world_init(name);
	rc = world_run("start", "start.log");
	/* A failed start may have left processes behind: stop them too. */
	started = 1;
	if (rc != 0) {
		world_show_log("start.log");
		snprintf(what, sizeof(what), "%s start %s", script, dir);
		world_stop();
		if (rc == 77)
			runner_skip("tests/sandbox/sandbox cannot run here "
			    "(see above)");
		ck_abort_msg("%s failed with status %d (output above)", what,
		    rc);
	}
	if (world_env_load(err, sizeof(err)) != 0) {
		world_stop();
		ck_abort_msg("%s", err);
	}
}

/* Removes the script's logs, the only files the world leaves in TOP. */
static void
remove_logs(void)
{
	char path[600];
	struct dirent *e;
	DIR *d = opendir(top);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n <= 4 || strcmp(e->d_name + n - 4, ".log") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", top, e->d_name);
		unlink(path);
	}
	closedir(d);
}

void
world_stop(void)
{
	if (top[0] == '\0')
		return;
	if (started && world_run("stop", "stop.log") != 0)
		world_show_log("stop.log");
	started = 0;
	env_clear();
	remove_logs();
	if (rmdir(top) != 0)
		fprintf(stderr, "world: cannot remove %s: %s\n", top,
		    strerror(errno));
	top[0] = '\0';
	dir[0] = '\0';
}

const char *
world_dir(void)
{
	return dir;
}
