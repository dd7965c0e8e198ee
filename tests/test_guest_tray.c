/*
 * guest-tray, the real program: lines from the agent with null, missing
 * or wrong-typed members, or that are not JSON objects at all, are ignored
 * and never stop it.  It runs without a notification server (no session
 * bus), which it handles by only logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "runner.h"

static char tray[512];

/* Waits up to ms for fd to be readable; fails the test otherwise. */
static void
wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, ms) == 1, "guest-tray did not answer");
}

/* Whether the file at path holds needle, within ms. */
static int
log_has(const char *path, const char *needle, int ms)
{
	char buf[65536];
	size_t n;
	FILE *f;

	for (int waited = 0; waited <= ms; waited += 50) {
		if ((f = fopen(path, "r")) != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			fclose(f);
			if (strstr(buf, needle) != NULL)
				return 1;
		}
		usleep(50 * 1000);
	}
	return 0;
}

START_TEST(hostile_lines_do_not_stop_it)
{
	static const char *lines[] = {
		"{\"type\":null}",
		"{\"type\":5,\"id\":1}",
		"{\"choice\":null}",
		"{\"type\":\"prompt\"}",
		"{\"type\":\"prompt\",\"id\":null,\"apps\":null}",
		"{\"type\":\"prompt\",\"id\":\"7\",\"printers\":null}",
		"{\"type\":\"prompt\",\"id\":1,\"printers\":5,"
		    "\"apps\":[null,5,{},\"ok-app\",[]]}",
		"{\"type\":\"prompt\",\"id\":1,\"apps\":{\"a\":1}}",
		"{\"type\":\"countdown\",\"seconds\":null}",
		"{\"type\":\"countdown\",\"seconds\":\"10\"}",
		"{\"type\":\"countdown\"}",
		"{\"type\":\"countdown\",\"seconds\":30,\"printers\":{}}",
		"{\"type\":\"\\u001b[2Jodd\"}",
		"{\"type\":\"prompt\",\"id\":3,\"printers\":\"<b>bold</b>\","
		    "\"apps\":[\"<a href='http://evil/'>link</a>\"]}",
		"null", "[]", "\"prompt\"", "17", "{", "not json at all", "",
		"{\"type\":\"prompt\",\"id\":2,\"printers\":\"final\","
		    "\"apps\":[\"last\"]}",
	};
	char sock[400], logpath[400], hello[256];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, fd, st, logfd;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/tray.sock", runner_tmpdir());
	snprintf(logpath, sizeof(logpath), "%s/tray.log", runner_tmpdir());
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char arg[420];

		snprintf(arg, sizeof(arg), "unix:%s", sock);
		dup2(logfd, 1);
		dup2(logfd, 2);
		/* No session bus: no notification server, and no autolaunch. */
		setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent", 1);
		unsetenv("DISPLAY");
		/* This is about crashes; GLib keeps memory to the end. */
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		execl(tray, "guest-tray", "-d", "-s", arg, (char *)NULL);
		_exit(127);
	}
	close(logfd);

	wait_readable(lfd, 10000);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	wait_readable(fd, 10000);
	ck_assert_int_gt(recv(fd, hello, sizeof(hello) - 1, 0), 0);
	ck_assert_ptr_nonnull(strstr(hello, "\"hello\""));

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ck_assert_int_eq(send(fd, lines[i], strlen(lines[i]),
		    MSG_NOSIGNAL), (ssize_t)strlen(lines[i]));
		ck_assert_int_eq(send(fd, "\n", 1, MSG_NOSIGNAL), 1);
	}

	ck_assert_msg(log_has(logpath, "prompt New printers are ready: final",
	    10000), "guest-tray did not get to the last line");
	ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0);	/* alive */
	/* Only the string among the apps is listed. */
	ck_assert(log_has(logpath, "Open applications: ok-app\n", 0));
	ck_assert(log_has(logpath, "Open applications: last\n", 0));
	ck_assert(log_has(logpath, "countdown The workspace restarts in 30 "
	    "seconds to offer the new printers ()", 0));
	ck_assert(log_has(logpath, "ignoring a prompt without an integer id",
	    0));
	ck_assert(log_has(logpath, "ignoring a line of type \"\\x1b[2Jodd\"", 0));
	/* Names are text in the notification, never markup. */
	ck_assert(log_has(logpath, "ready: &lt;b&gt;bold&lt;/b&gt;.", 0));
	ck_assert(log_has(logpath, "applications: &lt;a href=", 0));
	ck_assert(!log_has(logpath, "<a href", 0));
	ck_assert(!log_has(logpath, "<b>bold", 0));

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "guest-tray ended with status 0x%x", st);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(command_line)
{
	static const struct {
		const char *arg;
		int status;
		const char *err;
	} cases[] = {
		{ "-s tcp:127.0.0.1:7", 2, "guest-tray: -s: the tray socket is "
		    "a local unix:PATH address. Try 'guest-tray --help'.\n" },
		{ "-s nowhere", 2, "guest-tray: -s: expected unix:PATH, "
		    "tcp:HOST:PORT, vsock:CID:PORT or virtio-serial:PATH. Try "
		    "'guest-tray --help'.\n" },
		{ "--frobnicate", 2, "guest-tray: unknown option '--frobnicate'. "
		    "Try 'guest-tray --help'.\n" },
		{ "stray", 2, "guest-tray: unexpected argument 'stray'. Try "
		    "'guest-tray --help'.\n" },
		{ "--help", 0, "" },
		{ "-V", 0, "" },
	};
	char cmd[1024], err[512], path[400];
	size_t n;
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/err", runner_tmpdir());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "'%s' %s >/dev/null 2>'%s'", tray,
		    cases[i].arg, path);
		st = system(cmd);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == cases[i].status,
		    "%s: status 0x%x", cases[i].arg, st);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		n = fread(err, 1, sizeof(err) - 1, f);
		err[n] = '\0';
		fclose(f);
		ck_assert_str_eq(err, cases[i].err);
	}
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("guest_tray");
	TCase *tc = tcase_create("lines");

	snprintf(tray, sizeof(tray), "%s/guest-tray", runner_builddir());
	if (access(tray, X_OK) != 0)
		runner_skip("build/guest-tray is not built");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, hostile_lines_do_not_stop_it);
	tcase_add_test(tc, command_line);
	suite_add_tcase(s, tc);
	return s;
}
