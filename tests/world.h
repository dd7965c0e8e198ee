/*
 * The test world of tests/sandbox/sandbox for the unit suites that need
 * real cupsd instances: one world per program, started in the runner
 * process (an unchecked fixture) and inherited by the forked tests.  The
 * world lives in DIR = TOP/world, where TOP is a mkdtemp folder that also
 * holds the script's logs.
 *
 * The state is the program's own (static), so none of these is thread-safe;
 * strings returned stay valid until world_stop() or the next
 * world_env_load().
 */
#ifndef PRINTREDIR_WORLD_H
#define PRINTREDIR_WORLD_H

#include <stddef.h>

/*
 * Skips the program with runner_skip() unless the world can start here: it
 * runs as root (cupsd starts as root and drops to lp) and cupsd is
 * installed.  Call it from test_suite() only.
 */
void world_require(void);

/*
 * Makes TOP, /tmp/printredir-NAME.XXXXXX with mode 0755 (cupsd's children
 * run as lp and must reach the world), and finds the script below
 * runner_srcdir().  NAME must not be NULL.  Fails the current test (or the
 * fixture) when the folder cannot be made.
 */
void world_init(const char *name);

/*
 * Runs `sandbox CMD DIR` with stdin from /dev/null, stdout and stderr
 * appended to TOP/LOG.  Returns the script's exit status, or -1 when it
 * could not run or died of a signal.  CMD and LOG must not be NULL.
 */
int world_run(const char *cmd, const char *log);

/* Copies TOP/LOG to stderr under a header line; nothing when it is absent. */
void world_show_log(const char *log);

/*
 * Reads DIR/env: comments, KEY=value and KEY='value with spaces' lines.
 * Returns 0, or a negative errno with a message in err (errlen bytes,
 * not NULL) on an unreadable file or a bad line.
 */
int world_env_load(char *err, size_t errlen);

/* The value of KEY in DIR/env, or NULL when it has none. */
const char *world_env_get(const char *key);

/* The same, but a missing KEY fails the current test. */
const char *world_env_need(const char *key);

/*
 * world_init(NAME), `sandbox start`, world_env_load(): the fixture's setup.
 * Exit status 77 of the script (it cannot run here) skips the program with
 * runner_skip(); any other failure shows the log, stops what was started
 * and fails the fixture.
 */
void world_start(const char *name);

/*
 * Runs `sandbox stop` if the world was started (stop is idempotent),
 * removes the logs and TOP (a message on stderr when something is left),
 * and forgets the env.  Safe to call when nothing was started: the
 * fixture's teardown.
 */
void world_stop(void);

/* DIR, the world's own folder; "" before world_init() and after
 * world_stop(). */
const char *world_dir(void);

#endif
