/* Agent units: configuration, applications from /proc, the state file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../guest-agent/agent.h"
#include "runner.h"

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
fake_proc(const char *root, const char *pid, const char *name, int uid)
{
	char dir[600], path[700], text[256];

	snprintf(dir, sizeof(dir), "%s/%s", root, pid);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/status", dir);
	snprintf(text, sizeof(text), "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\n"
	    "Tgid:\t%s\nUid:\t%d\t%d\t%d\t%d\n", name, pid, uid, uid, uid, uid);
	write_file(path, text);
}

START_TEST(applications_are_user_processes_not_ignored)
{
	char root[600], self[700];
	char **names;
	size_t n;

	snprintf(root, sizeof(root), "%s/proc", runner_tmpdir());
	mkdir(root, 0755);
	fake_proc(root, "1", "systemd", 0);
	fake_proc(root, "200", "cupsd", 7);
	fake_proc(root, "1001", "bash", 1000);
	fake_proc(root, "1002", "firefox-esr", 1000);
	fake_proc(root, "1003", "firefox-esr", 1000);
	fake_proc(root, "1004", "libreoffice", 1001);
	fake_proc(root, "1005", "guest-tray", 1000);
	snprintf(self, sizeof(self), "%s/self", root);
	mkdir(self, 0755);	/* not a pid */

	ck_assert_int_eq(apps_running(root, 1000, "bash, guest-tray", &names, &n), 0);
	ck_assert_uint_eq(n, 2);	/* distinct names, sorted */
	ck_assert_str_eq(names[0], "firefox-esr");
	ck_assert_str_eq(names[1], "libreoffice");
	apps_free(names, n);

	/* A higher threshold leaves only uid 1001. */
	ck_assert_int_eq(apps_running(root, 1001, "", &names, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(names[0], "libreoffice");
	apps_free(names, n);

	/* Nothing running: silent restart territory. */
	ck_assert_int_eq(apps_running(root, 5000, "", &names, &n), 0);
	ck_assert_uint_eq(n, 0);
	apps_free(names, n);
	ck_assert_int_eq(apps_running("/nonexistent-proc", 1000, "", &names, &n), -ENOENT);
}
END_TEST

static int
load(const char *text, struct agent_conf *c, char *err, size_t errlen)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/agent.conf", runner_tmpdir());
	write_file(path, text);
	return agent_load_conf(path, c, err, errlen);
}

START_TEST(config_defaults_and_errors)
{
	struct agent_conf c;
	char err[1024];

	ck_assert_int_eq(load("[agent]\nguest_id = vm-7\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.guest_id, "vm-7");
	ck_assert_int_eq(c.redirection, 1);
	ck_assert_str_eq(c.restart_command, "systemctl reboot");
	ck_assert_int_eq(c.defer_interval, 3600);
	ck_assert_int_eq(c.max_deferrals, 3);
	ck_assert_int_eq(c.apps_uid_min, 1000);
	ck_assert_str_eq(c.filter_dir, "/usr/lib/cups/filter");
	ck_assert_str_eq(c.backend, "printredir");
	ck_assert_int_eq(c.broker.kind, ADDR_UNIX);
	agent_free_conf(&c);

	ck_assert_int_eq(load("[agent]\nbackend = ipp\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.backend, "ipp");
	agent_free_conf(&c);
	ck_assert_int_eq(load("[agent]\nbackend = lpd\n", &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "backend must be printredir or ipp, not \"lpd\""));

	/* An empty command means the printers need no restart. */
	ck_assert_int_eq(load("[restart]\ncommand =\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.restart_command, "");
	ck_assert_str_ne(c.guest_id, "");	/* the host name */
	agent_free_conf(&c);

	ck_assert_int_eq(load("[agent]\nguest_id = two words\n", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "guest_id"));
	ck_assert_int_eq(load("[restart]\ndefer_interval = soon\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "defer_interval"));
	ck_assert_int_eq(load("[agent]\nredirection = perhaps\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_int_eq(load("[agnet]\nbroker = unix:/x\n", &c, err, sizeof(err)),
	    -EINVAL);
}
END_TEST

START_TEST(state_round_trip)
{
	struct agent a = { 0 }, b = { 0 };
	char err[1024];

	ck_assert_int_eq(load("[agent]\nguest_id = g\n", &a.conf, err, sizeof(err)), 0);
	free(a.conf.state_dir);
	a.conf.state_dir = strdup(runner_tmpdir());
	a.want_gen = 9;
	a.applied_gen = 8;
	a.applied_redirection = 1;
	a.report_pending = 1;
	a.nwant = 1;
	a.want = calloc(1, sizeof(*a.want));
	a.want[0].name = strdup("office");
	a.want[0].uri = strdup("ipp://h/printers/office");
	a.want[0].driver = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	a.want[0].sha[0] = 0xab;
	a.nresults = 1;
	a.results = calloc(1, sizeof(*a.results));
	a.results[0].name = strdup("office");
	a.results[0].state = PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED;
	a.results[0].detail = strdup("queue mine already prints there");
	a.restart.phase = PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED;
	a.restart.deferrals = 2;
	a.restart.until = 12345;
	snprintf(a.restart.boot_id, sizeof(a.restart.boot_id), "boot-1");
	ck_assert_int_eq(state_save(&a), 0);

	b.conf = a.conf;
	ck_assert_int_eq(state_load(&b), 0);
	ck_assert_uint_eq(b.want_gen, 9);
	ck_assert_uint_eq(b.applied_gen, 8);
	ck_assert_int_eq(b.report_pending, 1);
	ck_assert_uint_eq(b.nwant, 1);
	ck_assert_str_eq(b.want[0].uri, "ipp://h/printers/office");
	ck_assert_int_eq(b.want[0].sha[0], 0xab);
	ck_assert_uint_eq(b.nresults, 1);
	ck_assert_int_eq(b.results[0].state, PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED);
	ck_assert_int_eq(b.restart.phase, PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED);
	ck_assert_uint_eq(b.restart.deferrals, 2);
	ck_assert_int_eq(b.restart.until, 12345);
	ck_assert_str_eq(b.restart.boot_id, "boot-1");
	agent_free_wants(a.want, a.nwant);
	agent_free_wants(b.want, b.nwant);
	install_free_results(a.results, a.nresults);
	install_free_results(b.results, b.nresults);
	agent_free_conf(&a.conf);
}
END_TEST

START_TEST(damaged_state_starts_fresh)
{
	struct agent a = { 0 };
	char path[700];

	a.conf.state_dir = (char *)runner_tmpdir();
	snprintf(path, sizeof(path), "%s/agent.json", runner_tmpdir());
	write_file(path, "{\"want_generation\": 3, \"want\": [ trunc");
	runner_expect_log("is damaged");
	ck_assert_int_eq(state_load(&a), 0);
	ck_assert_uint_eq(a.want_gen, 0);
	ck_assert_uint_eq(a.nwant, 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("agent");
	TCase *tc = tcase_create("agent");

	tcase_add_test(tc, applications_are_user_processes_not_ignored);
	tcase_add_test(tc, config_defaults_and_errors);
	tcase_add_test(tc, state_round_trip);
	tcase_add_test(tc, damaged_state_starts_fresh);
	suite_add_tcase(s, tc);
	return s;
}
