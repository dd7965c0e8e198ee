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
	struct app *apps;
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

	ck_assert_int_eq(apps_running(root, 1000, "bash, guest-tray", &apps, &n), 0);
	ck_assert_uint_eq(n, 2);	/* each (uid, name) once, by name */
	ck_assert_str_eq(apps[0].name, "firefox-esr");
	ck_assert_int_eq(apps[0].uid, 1000);
	ck_assert_str_eq(apps[1].name, "libreoffice");
	ck_assert_int_eq(apps[1].uid, 1001);
	apps_free(apps, n);

	/* A higher threshold leaves only uid 1001. */
	ck_assert_int_eq(apps_running(root, 1001, "", &apps, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(apps[0].name, "libreoffice");
	apps_free(apps, n);

	/* The same program in two sessions is one application of each. */
	fake_proc(root, "1006", "firefox-esr", 1001);
	ck_assert_int_eq(apps_running(root, 1000, "bash, guest-tray", &apps, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(apps[1].name, "firefox-esr");
	ck_assert_int_eq(apps[1].uid, 1001);
	apps_free(apps, n);

	/* Nothing running: silent restart territory. */
	ck_assert_int_eq(apps_running(root, 5000, "", &apps, &n), 0);
	ck_assert_uint_eq(n, 0);
	apps_free(apps, n);
	ck_assert_int_eq(apps_running("/nonexistent-proc", 1000, "", &apps, &n), -ENOENT);
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
	ck_assert_int_eq(c.broker.kind, ADDR_UNIX);
	ck_assert_int_eq(c.job_socket.kind, ADDR_UNIX);
	ck_assert_str_eq(c.job_socket.path, "/run/printredir/jobs.sock");
	ck_assert_str_eq(c.backend_user, "lp");
	agent_free_conf(&c);

	/* The backend's credentials are checked: only a unix socket will do. */
	ck_assert_int_eq(load("[agent]\njob_socket = tcp:127.0.0.1:9\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "job_socket must be a unix:PATH"));
	/* Retired with the IPP print path: an old setting is named, not ignored. */
	ck_assert_int_eq(load("[agent]\nbackend = ipp\n", &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "backend"));

	/* An empty command means the printers need no restart. */
	ck_assert_int_eq(load("[restart]\ncommand =\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.restart_command, "");
	ck_assert_str_ne(c.guest_id, "");	/* the host name */
	agent_free_conf(&c);

	ck_assert_int_eq(load("[agent]\nbroker = vsock:7:5000\n", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "the broker is the host"));
	ck_assert_int_eq(load("[agent]\nbroker = vsock:host:5000\n", &c, err,
	    sizeof(err)), 0);
	agent_free_conf(&c);
	ck_assert_int_eq(load("[agent]\nbroker = virtio-serial:/dev/virtio-ports/"
	    "org.printredir.0\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.broker.kind, ADDR_VIRTIO);
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

/* The parts of an agent the state file holds. */
struct parts {
	struct wish wish;
	struct applied applied;
	struct link_status link;
	struct restart restart;
	struct state s;
};

static struct state *
parts_init(struct parts *p)
{
	memset(p, 0, sizeof(*p));
	p->s.guest_id = "g";
	p->s.wish = &p->wish;
	p->s.applied = &p->applied;
	p->s.link = &p->link;
	p->s.restart = &p->restart;
	return &p->s;
}

START_TEST(state_round_trip)
{
	struct parts a, b;
	const char *dir = runner_tmpdir();

	parts_init(&a);
	a.wish.gen = 9;
	a.applied.gen = 8;
	a.applied.redirection = 0;
	a.applied.report_pending = 1;
	a.wish.n = 1;
	a.wish.want = calloc(1, sizeof(*a.wish.want));
	a.wish.want[0].name = strdup("office");
	a.wish.want[0].host_device_uri = strdup("ipp://ps/printers/office");
	a.wish.want[0].driver = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	a.wish.want[0].sha[0] = 0xab;
	a.applied.n = 1;
	a.applied.results = calloc(1, sizeof(*a.applied.results));
	a.applied.results[0].name = strdup("office");
	a.applied.results[0].state = PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED;
	a.applied.results[0].detail = strdup("queue mine already prints there");
	a.restart.phase = PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED;
	a.restart.deferrals = 2;
	a.restart.until = 12345;
	a.restart.nobody_asked = 1;
	snprintf(a.restart.boot_id, sizeof(a.restart.boot_id), "boot-1");
	memset(a.applied.policy, 'c', HASH_HEX_LEN - 1);
	ck_assert_int_eq(state_save(dir, &a.s), 0);

	ck_assert_int_eq(state_load(dir, parts_init(&b)), 0);
	ck_assert_uint_eq(b.wish.gen, 9);
	ck_assert_uint_eq(b.applied.gen, 8);
	ck_assert_int_eq(b.applied.redirection, 0);
	ck_assert_int_eq(b.applied.report_pending, 1);
	ck_assert_uint_eq(b.wish.n, 1);
	ck_assert_str_eq(b.wish.want[0].host_device_uri, "ipp://ps/printers/office");
	ck_assert_int_eq(b.wish.want[0].sha[0], 0xab);
	ck_assert_uint_eq(b.applied.n, 1);
	ck_assert_int_eq(b.applied.results[0].state,
	    PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED);
	ck_assert_int_eq(b.restart.phase, PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED);
	ck_assert_uint_eq(b.restart.deferrals, 2);
	ck_assert_int_eq(b.restart.until, 12345);
	ck_assert_int_eq(b.restart.nobody_asked, 1);
	ck_assert_str_eq(b.restart.boot_id, "boot-1");
	ck_assert_str_eq(b.applied.policy, a.applied.policy);
	state_free(&a.s);
	state_free(&b.s);
}
END_TEST

/*
 * A start checks the installed drivers again only under a policy they were
 * not checked under: the policy changes with each setting that bounds the
 * check, and a checked_policy that is not one the agent made reads as
 * unknown (so a damaged one checks again, never less).
 */
START_TEST(checked_policy_is_the_agents_own)
{
	struct agent_conf c = { .max_ppd = 4194304 };
	char p1[HASH_HEX_LEN], p2[HASH_HEX_LEN], p3[HASH_HEX_LEN];
	static const char *const bad[] = {
		"{\"checked_policy\":null}", "{\"checked_policy\":7}",
		"{\"checked_policy\":\"abc\"}", "{}",
	};

	c.filter_dir = "/usr/lib/cups/filter";
	agent_policy(&c, p1);
	agent_policy(&c, p2);
	ck_assert_str_eq(p1, p2);
	ck_assert_uint_eq(strlen(p1), HASH_HEX_LEN - 1);
	c.max_ppd = 2000;
	agent_policy(&c, p2);
	ck_assert_str_ne(p1, p2);
	c.max_ppd = 4194304;
	c.filter_dir = "/opt/filters";
	agent_policy(&c, p3);
	ck_assert_str_ne(p1, p3);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct parts a;

		ck_assert_int_eq(state_parse(bad[i], strlen(bad[i]), parts_init(&a)), 0);
		ck_assert_msg(a.applied.policy[0] == '\0', "kept from %s", bad[i]);
		state_free(&a.s);
	}
}
END_TEST

START_TEST(damaged_state_starts_fresh)
{
	struct parts a;
	char path[700];

	snprintf(path, sizeof(path), "%s/agent.json", runner_tmpdir());
	write_file(path, "{\"want_generation\": 3, \"want\": [ trunc");
	runner_expect_log("is damaged");
	ck_assert_int_eq(state_load(runner_tmpdir(), parts_init(&a)), 0);
	ck_assert_uint_eq(a.wish.gen, 0);
	ck_assert_uint_eq(a.wish.n, 0);
}
END_TEST

/* Regression: null or wrongly typed members of agent.json are refused with
 * a log line, never dereferenced; a wish is dropped whole, never applied in
 * part. */
START_TEST(state_members_null_or_wrong_type)
{
	static const struct {
		const char *text;
		const char *log;	/* expected warning, NULL for none */
		uint64_t want_gen;	/* what is left of the wish */
		size_t nwant;
		size_t nresults;
		int phase;
	} cases[] = {
		{ "{\"want_generation\":4,\"applied_generation\":4,\"want\":[{\"name\":null,"
		  "\"driver\":1}]}", "wish is ignored", 0, 0, 0, 0 },
		{ "{\"want_generation\":4,\"want\":[{\"name\":\"a\",\"driver\":2},"
		  "{\"name\":\"b\",\"driver\":\"2\"}]}", "wish is ignored", 0, 0, 0, 0 },
		{ "{\"want_generation\":4,\"want\":[null]}", "wish is ignored", 0, 0, 0, 0 },
		{ "{\"want_generation\":4,\"want\":[{\"name\":\"a\",\"driver\":1,"
		  "\"sha256\":null}]}", "wish is ignored", 0, 0, 0, 0 },
		{ "{\"want_generation\":null,\"want\":[]}", "wish is ignored", 0, 0, 0, 0 },
		{ "{\"want_generation\":5,\"want\":[{\"name\":\"a\",\"driver\":2,"
		  "\"host_device_uri\":null,\"info\":7}]}", NULL, 5, 1, 0, 0 },
		{ "{\"results\":[{\"name\":\"a\",\"state\":2},{\"name\":null,\"state\":2},"
		  "{\"name\":\"c\",\"state\":true},7]}", "3 install report lines ignored",
		  0, 0, 1, 0 },
		{ "{\"restart\":{\"phase\":null,\"deferrals\":1}}", "restart state is ignored",
		  0, 0, 0, 0 },
		{ "{\"restart\":{\"phase\":99,\"deferrals\":1}}", "restart state is ignored",
		  0, 0, 0, 0 },
		{ "{\"restart\":{\"phase\":5,\"deferrals\":1,\"boot_id\":null,"
		  "\"detail\":[1]}}", NULL, 0, 0, 0, 5 },
		{ "{\"restart\":null,\"link\":null,\"results\":null}", NULL, 0, 0, 0, 0 },
		{ "[1,2]", "is damaged", 0, 0, 0, 0 },
		{ "null", "is damaged", 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parts a;

		if (cases[i].log)
			runner_expect_log(cases[i].log);
		ck_assert_int_eq(state_parse(cases[i].text, strlen(cases[i].text),
		    parts_init(&a)), 0);
		ck_assert_msg(a.wish.gen == cases[i].want_gen, "case %zu: wish %llu", i,
		    (unsigned long long)a.wish.gen);
		ck_assert_msg(a.wish.n == cases[i].nwant, "case %zu: %zu wanted", i,
		    a.wish.n);
		ck_assert_msg(a.applied.n == cases[i].nresults, "case %zu: %zu results", i,
		    a.applied.n);
		ck_assert_msg(a.restart.phase == cases[i].phase, "case %zu: phase %d", i,
		    a.restart.phase);
		if (a.wish.n)
			ck_assert_str_eq(a.wish.want[0].host_device_uri, "");
		if (cases[i].phase)
			ck_assert_str_eq(a.restart.boot_id, "");
		state_free(&a.s);
	}
}
END_TEST

/* Regression: {"type":null} on the tray socket killed the root agent.
 * Every line decodes to a whole message or is refused with a reason. */
START_TEST(tray_lines_null_or_wrong_type_are_refused)
{
	static const char *const bad[] = {
		"{\"type\":null}", "{\"type\":7}", "{}", "[]", "null", "", "not json",
		"{\"type\":\"answer\",\"id\":1,\"choice\":null}",
		"{\"type\":\"answer\",\"id\":null,\"choice\":\"now\"}",
		"{\"type\":\"answer\",\"id\":\"1\",\"choice\":\"now\"}",
		"{\"type\":\"answer\",\"id\":-1,\"choice\":\"now\"}",
		"{\"type\":\"answer\",\"id\":1,\"choice\":\"maybe\"}",
		"{\"type\":\"answer\",\"id\":1}", "{\"type\":\"prompt\"}",
		"{\"type\":\"hello\"} {\"type\":\"hello\"}", "{\"type\":\"hel",
	};
	struct tray_msg m;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(tray_parse_line(bad[i], strlen(bad[i]), &m, err,
		    sizeof(err)) == -EBADMSG, "accepted: %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for: %s", bad[i]);
	}
	ck_assert_int_eq(tray_parse_line("{\"type\":\"hello\",\"notifications\":true}", 37,
	    &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.type, TRAY_MSG_HELLO);
	ck_assert_int_eq(m.notifications, 1);
	/* A null notifications member: a tray that cannot ask. */
	ck_assert_int_eq(tray_parse_line("{\"type\":\"hello\",\"notifications\":null}", 37,
	    &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.notifications, 0);
	ck_assert_int_eq(tray_parse_line("{\"type\":\"answer\",\"id\":7,\"choice\":\"later\"}",
	    41, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.type, TRAY_MSG_ANSWER);
	ck_assert_uint_eq(m.id, 7);
	ck_assert_int_eq(m.now, 0);
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
	tcase_add_test(tc, checked_policy_is_the_agents_own);
	tcase_add_test(tc, damaged_state_starts_fresh);
	tcase_add_test(tc, state_members_null_or_wrong_type);
	tcase_add_test(tc, tray_lines_null_or_wrong_type_are_refused);
	suite_add_tcase(s, tc);
	return s;
}
