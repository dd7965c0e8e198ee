/*
 * The shared check runner: every tests/test_NAME.c defines test_suite() and
 * is linked with runner.c, which provides main().
 */
#ifndef PRINTREDIR_RUNNER_H
#define PRINTREDIR_RUNNER_H

#include <check.h>

/* Defined by each test program. */
Suite *test_suite(void);

/* Makes the program exit 77 (skipped) with the reason on stderr: for a real
 * component that cannot start here.  Call it from test_suite() only: inside
 * a forked test, check counts an exit as an error. */
void runner_skip(const char *why) __attribute__((noreturn));

/* The project's top folder (TOP_SRCDIR, or "."). */
const char *runner_srcdir(void);

/* The build folder (BUILD, or "build"). */
const char *runner_builddir(void);

/* A fresh temporary folder for the current test, removed after it. */
const char *runner_tmpdir(void);

/*
 * Declares that the current test expects a warning or error log line
 * containing substr.  Any other warning or error fails the test.
 */
void runner_expect_log(const char *substr);

#endif
