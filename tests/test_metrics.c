/*
 * Metrics (metrics.c): the status document in the Prometheus text format,
 * checked line by line and by promtool (Debian's prometheus package), and
 * the textfile the broker writes for node_exporter: written, replaced
 * atomically, moved by a reload, removed at stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../host-broker/broker.h"
#include "printredir.pb-c.h"
#include "runner.h"
#include "statefile.h"

/* ---- documents ---- */

static void
add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s != NULL ?
	    json_object_new_string(s) : NULL);
}

static void
add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static struct json_object *
printer(const char *name, int redir, const char *driver)
{
	struct json_object *p = json_object_new_object();

	add_str(p, "name", name);
	json_object_object_add(p, "network", json_object_new_boolean(1));
	json_object_object_add(p, "redirected", json_object_new_boolean(redir));
	add_str(p, "driver", driver);
	return p;
}

/* A printer's condition as control.c writes it. */
static void
condition(struct json_object *p, const char *state, int accepting, const char *reason)
{
	struct json_object *c = json_object_new_object(), *r = json_object_new_array();

	add_str(c, "state", state);
	json_object_object_add(c, "accepting", json_object_new_boolean(accepting));
	if (reason != NULL)
		json_object_array_add(r, json_object_new_string(reason));
	json_object_object_add(c, "reasons", r);
	json_object_object_add(p, "condition", c);
}

static struct json_object *
guest_printer(const char *name, const char *state)
{
	struct json_object *p = json_object_new_object();

	add_str(p, "name", name);
	add_str(p, "state", state);
	add_str(p, "detail", "");
	return p;
}

static struct json_object *
jobs(int64_t accepted, int64_t bytes, int64_t retried, int64_t refused)
{
	struct json_object *j = json_object_new_object();

	add_int(j, "accepted", accepted);
	add_int(j, "bytes", bytes);
	add_int(j, "retried", retried);
	add_int(j, "refused", refused);
	add_str(j, "last_error", NULL);
	return j;
}

static struct json_object *
guest(const char *id, int connected, const char *restart, int64_t deferrals)
{
	struct json_object *g = json_object_new_object();

	add_str(g, "id", id);
	json_object_object_add(g, "connected", json_object_new_boolean(connected));
	add_int(g, "last_seen", 1795576801);
	add_int(g, "generation", 4);
	add_str(g, "restart", restart);
	add_str(g, "restart_detail", NULL);
	add_int(g, "restart_until", 1795579200);
	add_int(g, "deferrals", deferrals);
	json_object_object_add(g, "printers", json_object_new_array());
	json_object_object_add(g, "jobs", jobs(0, 0, 0, 0));
	add_int(g, "bytes_sent", 0);
	add_int(g, "driver_bytes_sent", 0);
	return g;
}

/* A host with three printers and two guests, as the broker serves it. */
static struct json_object *
sample_doc(void)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *b = json_object_new_object();
	struct json_object *ps = json_object_new_array();
	struct json_object *gs = json_object_new_array();
	struct json_object *js = json_object_new_array();
	struct json_object *g, *gp, *j;

	add_str(b, "version", "0.1-12-gabc");
	add_int(b, "generation", 4);
	add_str(b, "name", "host1");
	add_str(b, "host_cups", "default");
	add_str(b, "host_events", "push");
	add_str(b, "error", NULL);
	add_int(b, "last_change_at", 1795576790);
	json_object_object_add(b, "last_change_latency",
	    json_object_new_double_s(0.312, "0.312"));
	json_object_object_add(doc, "broker", b);

	json_object_array_add(ps, printer("Office_Laser", 1, "available"));
	json_object_array_add(ps, printer("Raw_Queue", 1, "missing"));
	condition(json_object_array_get_idx(ps, 0), "idle", 1, NULL);
	condition(json_object_array_get_idx(ps, 1), "idle", 1, "offline-report");
	json_object_array_add(ps, printer("Local_USB", 0, NULL));
	json_object_object_add(doc, "printers", ps);

	g = guest("guest-1", 1, "done", 0);
	gp = json_object_object_get(g, "printers");
	json_object_array_add(gp, guest_printer("Office_Laser", "installed"));
	json_object_array_add(gp, guest_printer("Raw_Queue", "driver-missing"));
	json_object_object_add(g, "jobs", jobs(12, 52531875, 2, 1));
	json_object_object_add(g, "last_change_latency",
	    json_object_new_double_s(1.25, "1.25"));
	add_int(g, "bytes_sent", 1843921);
	add_int(g, "driver_bytes_sent", 1790002);
	json_object_array_add(gs, g);
	g = guest("guest-22", 0, "deferred", 2);
	add_int(g, "generation", 3);
	json_object_array_add(gs, g);
	json_object_object_add(doc, "guests", gs);

	j = json_object_new_object();
	add_str(j, "guest", "guest-1");
	add_str(j, "printer", "Office_Laser");
	add_int(j, "bytes", 4096);
	json_object_array_add(js, j);
	json_object_object_add(doc, "jobs", js);
	return doc;
}

/* Renders doc into a malloc'd string; the caller frees it. */
static char *
render(struct json_object *doc, int expect_rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(metrics_render(doc, f), expect_rc);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/*
 * `promtool check metrics` on text: its exit status (0: parses and passes
 * every lint), what it said in *said (malloc'd).
 */
static int
promtool(const char *text, char **said)
{
	char in[512], out[512];
	pid_t pid;
	int status, fd;
	size_t len;

	snprintf(in, sizeof(in), "%s/promtool.in", runner_tmpdir());
	snprintf(out, sizeof(out), "%s/promtool.out", runner_tmpdir());
	ck_assert_int_eq(statefile_write(in, text, strlen(text), 0644), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(in, O_RDONLY);
		dup2(fd, 0);
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
		fprintf(stderr, "cannot run promtool: %s (make deps installs "
		    "Debian's prometheus package, which has it)\n",
		    strerror(errno));
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(statefile_read(out, 1 << 20, said, &len), 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* promtool takes text with no word to say. */
static void
assert_promtool_clean(const char *text)
{
	char *said = NULL;
	int rc = promtool(text, &said);

	ck_assert_msg(rc == 0 && *said == '\0', "promtool check metrics: exit "
	    "%d: %s\non:\n%s", rc, said, text);
	free(said);
}

/* ---- rendering ---- */

static const char sample_text[] =
    "# HELP printredir_generation Generation of the printer set the broker offers guests; it moves with every change on the host.\n"
    "# TYPE printredir_generation gauge\n"
    "printredir_generation 4\n"
    "# HELP printredir_host_cups_up 1 when the broker's last look at the host's CUPS succeeded, 0 when it could not list its queues.\n"
    "# TYPE printredir_host_cups_up gauge\n"
    "printredir_host_cups_up 1\n"
    "# HELP printredir_host_events_pushed 1 when the host's cupsd pushes its changes to the broker, 0 when the broker pulls them or only lists the host periodically.\n"
    "# TYPE printredir_host_events_pushed gauge\n"
    "printredir_host_events_pushed 1\n"
    "# HELP printredir_host_printers Print queues on the host, redirected or not.\n"
    "# TYPE printredir_host_printers gauge\n"
    "printredir_host_printers 3\n"
    "# HELP printredir_printers_redirected Host printers offered to guests.\n"
    "# TYPE printredir_printers_redirected gauge\n"
    "printredir_printers_redirected 2\n"
    "# HELP printredir_printer_drivers Redirected host printers by the state of their driver on the print server (missing: install it by hand in the guests; rejected: it failed the broker's checks).\n"
    "# TYPE printredir_printer_drivers gauge\n"
    "printredir_printer_drivers{state=\"available\"} 1\n"
    "printredir_printer_drivers{state=\"missing\"} 1\n"
    "printredir_printer_drivers{state=\"rejected\"} 0\n"
    "# HELP printredir_printer_driver_state 1 for the state of each redirected printer's driver, 0 for the other states (not in --summary).\n"
    "# TYPE printredir_printer_driver_state gauge\n"
    "printredir_printer_driver_state{printer=\"Office_Laser\",state=\"available\"} 1\n"
    "printredir_printer_driver_state{printer=\"Office_Laser\",state=\"missing\"} 0\n"
    "printredir_printer_driver_state{printer=\"Office_Laser\",state=\"rejected\"} 0\n"
    "printredir_printer_driver_state{printer=\"Raw_Queue\",state=\"available\"} 0\n"
    "printredir_printer_driver_state{printer=\"Raw_Queue\",state=\"missing\"} 1\n"
    "printredir_printer_driver_state{printer=\"Raw_Queue\",state=\"rejected\"} 0\n"
    "# HELP printredir_printer_can_print 1 when a redirected host printer is not stopped, accepts jobs and has no reason a user is to see (offline-report, media-empty-error...), else 0 (not in --summary).\n"
    "# TYPE printredir_printer_can_print gauge\n"
    "printredir_printer_can_print{printer=\"Office_Laser\"} 1\n"
    "printredir_printer_can_print{printer=\"Raw_Queue\"} 0\n"
    "# HELP printredir_last_change_timestamp_seconds When the broker last sent guests a new printer set (Unix time).\n"
    "# TYPE printredir_last_change_timestamp_seconds gauge\n"
    "printredir_last_change_timestamp_seconds 1795576790\n"
    "# HELP printredir_last_change_latency_seconds Seconds from the broker noticing the host's last change to sending it to guests.\n"
    "# TYPE printredir_last_change_latency_seconds gauge\n"
    "printredir_last_change_latency_seconds 0.312\n"
    "# HELP printredir_guests_connected Guests whose agent is connected now.\n"
    "# TYPE printredir_guests_connected gauge\n"
    "printredir_guests_connected 1\n"
    "# HELP printredir_guest_connected 1 when the guest's agent is connected, 0 when the broker only remembers it.\n"
    "# TYPE printredir_guest_connected gauge\n"
    "printredir_guest_connected{guest=\"guest-1\"} 1\n"
    "printredir_guest_connected{guest=\"guest-22\"} 0\n"
    "# HELP printredir_guest_last_seen_timestamp_seconds When the broker last heard from the guest (Unix time).\n"
    "# TYPE printredir_guest_last_seen_timestamp_seconds gauge\n"
    "printredir_guest_last_seen_timestamp_seconds{guest=\"guest-1\"} 1795576801\n"
    "printredir_guest_last_seen_timestamp_seconds{guest=\"guest-22\"} 1795576801\n"
    "# HELP printredir_guest_generation The generation the guest last reported on; behind printredir_generation while it installs.\n"
    "# TYPE printredir_guest_generation gauge\n"
    "printredir_guest_generation{guest=\"guest-1\"} 4\n"
    "printredir_guest_generation{guest=\"guest-22\"} 3\n"
    "# HELP printredir_guest_printers The guest's printers by the state its agent reported (installed, driver-missing, failed...).\n"
    "# TYPE printredir_guest_printers gauge\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"pending\"} 0\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"installed\"} 1\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"driver-missing\"} 1\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"driver-rejected\"} 0\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"failed\"} 0\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"duplicate-skipped\"} 0\n"
    "printredir_guest_printers{guest=\"guest-1\",state=\"removed\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"pending\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"installed\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"driver-missing\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"driver-rejected\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"failed\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"duplicate-skipped\"} 0\n"
    "printredir_guest_printers{guest=\"guest-22\",state=\"removed\"} 0\n"
    "# HELP printredir_guest_last_change_latency_seconds Seconds from the broker sending the guest a new printer set to its agent reporting it applied.\n"
    "# TYPE printredir_guest_last_change_latency_seconds gauge\n"
    "printredir_guest_last_change_latency_seconds{guest=\"guest-1\"} 1.250\n"
    "# HELP printredir_guest_restart_state 1 for the state of the guest's workspace restart, 0 for the other states.\n"
    "# TYPE printredir_guest_restart_state gauge\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"none\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"not-required\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"pending\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"prompting\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"deferred\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"forced\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"restarting\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"done\"} 1\n"
    "printredir_guest_restart_state{guest=\"guest-1\",state=\"failed\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"none\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"not-required\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"pending\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"prompting\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"deferred\"} 1\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"forced\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"restarting\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"done\"} 0\n"
    "printredir_guest_restart_state{guest=\"guest-22\",state=\"failed\"} 0\n"
    "# HELP printredir_guest_restart_deferrals Times the guest's user put off the pending restart.\n"
    "# TYPE printredir_guest_restart_deferrals gauge\n"
    "printredir_guest_restart_deferrals{guest=\"guest-1\"} 0\n"
    "printredir_guest_restart_deferrals{guest=\"guest-22\"} 2\n"
    "# HELP printredir_guest_restart_deadline_timestamp_seconds When a deferred or forced restart is due (Unix time).\n"
    "# TYPE printredir_guest_restart_deadline_timestamp_seconds gauge\n"
    "printredir_guest_restart_deadline_timestamp_seconds{guest=\"guest-22\"} 1795579200\n"
    "# HELP printredir_guest_sent_bytes_total Bytes the broker wrote to the guest's connections (every frame whole: handshake, printer sets, heartbeats), since the broker started.\n"
    "# TYPE printredir_guest_sent_bytes_total counter\n"
    "printredir_guest_sent_bytes_total{guest=\"guest-1\"} 1843921\n"
    "printredir_guest_sent_bytes_total{guest=\"guest-22\"} 0\n"
    "# HELP printredir_guest_driver_sent_bytes_total Compressed driver bytes in the printer sets sent to the guest (part of printredir_guest_sent_bytes_total), since the broker started.\n"
    "# TYPE printredir_guest_driver_sent_bytes_total counter\n"
    "printredir_guest_driver_sent_bytes_total{guest=\"guest-1\"} 1790002\n"
    "printredir_guest_driver_sent_bytes_total{guest=\"guest-22\"} 0\n"
    "# HELP printredir_jobs_in_flight The guest's print jobs the broker is printing on the host now.\n"
    "# TYPE printredir_jobs_in_flight gauge\n"
    "printredir_jobs_in_flight{guest=\"guest-1\"} 1\n"
    "printredir_jobs_in_flight{guest=\"guest-22\"} 0\n"
    "# HELP printredir_jobs_forwarded_total Jobs of the guest the host's CUPS took, since the broker started.\n"
    "# TYPE printredir_jobs_forwarded_total counter\n"
    "printredir_jobs_forwarded_total{guest=\"guest-1\"} 12\n"
    "printredir_jobs_forwarded_total{guest=\"guest-22\"} 0\n"
    "# HELP printredir_jobs_retried_total Jobs of the guest sent back to wait in the guest (host queue stopped, CUPS away), since the broker started.\n"
    "# TYPE printredir_jobs_retried_total counter\n"
    "printredir_jobs_retried_total{guest=\"guest-1\"} 2\n"
    "printredir_jobs_retried_total{guest=\"guest-22\"} 0\n"
    "# HELP printredir_jobs_failed_total Jobs of the guest refused for good, since the broker started.\n"
    "# TYPE printredir_jobs_failed_total counter\n"
    "printredir_jobs_failed_total{guest=\"guest-1\"} 1\n"
    "printredir_jobs_failed_total{guest=\"guest-22\"} 0\n"
    "# HELP printredir_job_bytes_total Document bytes of the guest's jobs received, since the broker started.\n"
    "# TYPE printredir_job_bytes_total counter\n"
    "printredir_job_bytes_total{guest=\"guest-1\"} 52531875\n"
    "printredir_job_bytes_total{guest=\"guest-22\"} 0\n";

START_TEST(exposition_of_a_status_document)
{
	struct json_object *doc = sample_doc();
	char *text = render(doc, 0);

	ck_assert_str_eq(text, sample_text);
	assert_promtool_clean(text);
	free(text);
	json_object_put(doc);
}
END_TEST

/* Guest ids may hold '"' and '\\' (UTF-8 without spaces or controls),
 * a report's printer name anything: escaped, never a broken line. */
START_TEST(label_values_are_escaped)
{
	struct json_object *doc = sample_doc(), *gs, *ps, *g;
	char *text;

	ps = json_object_new_array();
	json_object_array_add(ps, printer("Line\nbreak", 1, "rejected"));
	json_object_array_add(ps, printer("caf\xe9-\xc3\xa9t\xc3\xa9", 1, "available"));
	json_object_object_add(doc, "printers", ps);
	gs = json_object_new_array();
	g = guest("desk\"7\\b", 1, "pending", 1);
	json_object_array_add(json_object_object_get(g, "printers"),
	    guest_printer("Line\nbreak", "driver-rejected"));
	json_object_array_add(gs, g);
	json_object_object_add(doc, "guests", gs);
	json_object_object_add(doc, "jobs", json_object_new_array());
	text = render(doc, 0);

	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_guest_connected"
	    "{guest=\"desk\\\"7\\\\b\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_guest_restart_state"
	    "{guest=\"desk\\\"7\\\\b\",state=\"pending\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_printer_driver_state"
	    "{printer=\"Line\\nbreak\",state=\"rejected\"} 1\n"));
	/* A byte that is not UTF-8 becomes U+FFFD; real UTF-8 stays. */
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_printer_driver_state"
	    "{printer=\"caf\xef\xbf\xbd-\xc3\xa9t\xc3\xa9\",state=\"available\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_guest_printers"
	    "{guest=\"desk\\\"7\\\\b\",state=\"driver-rejected\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_jobs_in_flight"
	    "{guest=\"desk\\\"7\\\\b\"} 0\n"));
	ck_assert_ptr_null(strstr(text, "\xe9-"));
	assert_promtool_clean(text);
	free(text);
	json_object_put(doc);
}
END_TEST

/* `status --summary --prometheus`: counts instead of lists give the same
 * figures, without the per-printer families' samples. */
START_TEST(summary_gives_the_same_counts)
{
	struct json_object *doc = sample_doc(), *counts, *g, *gc;
	char *full = render(doc, 0), *text, *p;

	json_object_object_del(doc, "printers");
	counts = json_object_new_object();
	add_int(counts, "host", 3);
	add_int(counts, "redirected", 2);
	add_int(counts, "available", 1);
	add_int(counts, "missing", 1);
	add_int(counts, "rejected", 0);
	json_object_object_add(doc, "printer_counts", counts);
	g = json_object_array_get_idx(json_object_object_get(doc, "guests"), 0);
	json_object_object_del(g, "printers");
	gc = json_object_new_object();
	add_int(gc, "installed", 1);
	add_int(gc, "driver-missing", 1);
	json_object_object_add(g, "printer_counts", gc);
	g = json_object_array_get_idx(json_object_object_get(doc, "guests"), 1);
	json_object_object_del(g, "printers");
	json_object_object_add(g, "printer_counts", json_object_new_object());
	text = render(doc, 0);

	/* The full text less the per-printer samples. */
	while ((p = strstr(full, "printredir_printer_driver_state{")) != NULL ||
	    (p = strstr(full, "printredir_printer_can_print{")) != NULL)
		memmove(p, strchr(p, '\n') + 1, strlen(strchr(p, '\n') + 1) + 1);
	ck_assert_str_eq(text, full);
	ck_assert_ptr_nonnull(strstr(text, "# TYPE printredir_printer_driver_state gauge\n"));
	assert_promtool_clean(text);
	free(text);
	free(full);
	json_object_put(doc);
}
END_TEST

/* A broker that has no guest and never changed: every family is there,
 * HELP and TYPE, with what is known. */
START_TEST(an_empty_broker)
{
	struct json_object *doc = json_object_new_object(), *b;
	char *text;

	b = json_object_new_object();
	add_int(b, "generation", 0);
	add_str(b, "error", "host CUPS unreachable: Connection refused");
	json_object_object_add(b, "last_change_at", NULL);
	json_object_object_add(b, "last_change_latency", NULL);
	json_object_object_add(doc, "broker", b);
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_host_cups_up 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_host_printers 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nprintredir_guests_connected 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE printredir_job_bytes_total counter\n"));
	ck_assert_ptr_null(strstr(text, "\nprintredir_last_change_latency_seconds "));
	assert_promtool_clean(text);
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(not_a_status_document)
{
	struct json_object *doc = json_object_new_object();
	char *text;

	add_str(doc, "error", "unknown request");
	text = render(doc, -EINVAL);
	ck_assert_str_eq(text, "");
	free(text);
	json_object_put(doc);
}
END_TEST

/* The checker itself: a broken exposition does not pass. */
START_TEST(promtool_refuses_a_broken_exposition)
{
	char *said = NULL;

	ck_assert_int_ne(promtool("printredir_x{guest=\"a\"b\"} 1\n", &said), 0);
	free(said);
	ck_assert_int_ne(promtool("# HELP printredir_jobs x\n# TYPE printredir_jobs "
	    "counter\nprintredir_jobs 1\n", &said), 0);
	free(said);
}
END_TEST

/* ---- the textfile ---- */

static int
load(const char *text, struct broker_conf *c, char *err, size_t errlen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/broker.conf", runner_tmpdir());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return broker_load_conf(path, c, err, errlen);
}

START_TEST(textfile_configuration)
{
	static const char *bad[] = {
		"metrics/printredir.prom", "/var/lib/node-exporter/printredir.txt",
		"/var/lib/node-exporter/.prom", "/x.prom.tmp",
	};
	struct broker_conf c;
	char text[512], err[1024];

	ck_assert_int_eq(load("[broker]\nkey_file = /k\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.metrics_textfile, "");
	ck_assert_int_eq(c.metrics_interval, 15);
	broker_free_conf(&c);
	ck_assert_int_eq(load("[metrics]\ntextfile = /var/lib/prometheus/"
	    "node-exporter/printredir.prom\ntextfile_interval = 1m\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.metrics_textfile,
	    "/var/lib/prometheus/node-exporter/printredir.prom");
	ck_assert_int_eq(c.metrics_interval, 60);
	broker_free_conf(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[metrics]\ntextfile = %s\n", bad[i]);
		ck_assert_int_eq(load(text, &c, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, "[metrics] textfile") != NULL &&
		    strstr(err, "NAME.prom") != NULL, "%s: %s", bad[i], err);
	}
	ck_assert_int_eq(load("[metrics]\ntextfile_interval = 0\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "textfile_interval"));
	ck_assert_int_eq(load("[metrics]\ntextfile_interval = 2h\n", &c, err,
	    sizeof(err)), -EINVAL);
}
END_TEST

struct tf {
	uv_loop_t loop;
	struct broker b;
	struct printer printers[2];
	uv_timer_t step;
	char path[512], path2[512];
	int n;				/* steps taken */
	char *first;			/* the first content seen */
	ino_t first_ino;
	int hook_calls;
	int fail;
};

static struct tf *tf_now;

static char *
read_file(const char *path, struct stat *st)
{
	char *text = NULL;
	size_t len;

	if (statefile_read_st(path, 1 << 20, &text, &len, st) != 0)
		return NULL;
	return text;
}

/* A whole exposition: the last family is there, and the last line ends. */
static int
whole(const char *text)
{
	size_t n = strlen(text);

	return strstr(text, "# TYPE printredir_job_bytes_total counter\n") != NULL &&
	    n > 0 && text[n - 1] == '\n';
}

/*
 * Called by statefile_write between the temporary file's fsync and its
 * rename, the worst moment for a reader: the .prom file is still absent or
 * whole, and the new text is in a file node_exporter does not read (it
 * reads *.prom only).
 */
static void
before_rename(const char *tmp)
{
	struct tf *t = tf_now;
	struct stat st;
	char dest[512], *text;
	size_t n = strlen(tmp);

	t->hook_calls++;
	if (n < 9 || strcmp(tmp + n - 9, ".prom.tmp") != 0 || n - 4 >= sizeof(dest)) {
		t->fail = 1;
		return;
	}
	memcpy(dest, tmp, n - 4);
	dest[n - 4] = '\0';
	if ((text = read_file(tmp, &st)) == NULL || !whole(text))
		t->fail = 1;
	free(text);
	if ((text = read_file(dest, &st)) != NULL && !whole(text))
		t->fail = 1;
	free(text);
}

static void
tf_stop(struct tf *t)
{
	metrics_stop(&t->b);
	uv_close((uv_handle_t *)&t->step, NULL);
}

/*
 * Every 100 ms: waits for the first write, changes the host, waits for the
 * file to show it, reloads to another path, waits for that, stops.
 */
static void
on_step(uv_timer_t *h)
{
	struct tf *t = h->data;
	struct stat st;
	char *text = read_file(t->path, &st), *text2;

	t->n++;
	if (t->n > 100) {		/* 10 s */
		t->fail = 2;
		free(text);
		tf_stop(t);
		return;
	}
	if (t->first == NULL) {
		if (text == NULL)
			return;
		t->first = text;
		t->first_ino = st.st_ino;
		ck_assert_int_eq(st.st_mode & 07777, 0644);
		/* A printer more on the host: the status moves. */
		t->b.current.n = 2;
		t->b.generation++;
		t->b.status_rev++;
		return;
	}
	if (t->path2[0] == '\0') {
		if (text == NULL || strstr(text, "printredir_host_printers 2\n") == NULL) {
			free(text);
			return;
		}
		/* Replaced, not rewritten in place. */
		ck_assert_uint_ne(st.st_ino, t->first_ino);
		ck_assert_ptr_nonnull(strstr(text, "\nprintredir_generation 8\n"));
		free(text);
		snprintf(t->path2, sizeof(t->path2), "%s/elsewhere.prom",
		    runner_tmpdir());
		free(t->b.conf.metrics_textfile);
		t->b.conf.metrics_textfile = strdup(t->path2);
		metrics_reload(&t->b);
		/* The old file goes at once: node_exporter must not serve it. */
		ck_assert_int_eq(access(t->path, F_OK), -1);
		return;
	}
	free(text);
	if ((text2 = read_file(t->path2, &st)) == NULL)
		return;
	ck_assert_ptr_nonnull(strstr(text2, "printredir_host_printers 2\n"));
	free(text2);
	tf_stop(t);
}

START_TEST(textfile_written_replaced_and_removed)
{
	struct tf *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	tf_now = t;
	ck_assert_int_eq(uv_loop_init(&t->loop), 0);
	t->b.loop = &t->loop;
	t->b.generation = 7;
	t->b.conf.name = "test-broker";
	t->b.conf.cups = "";
	snprintf(t->path, sizeof(t->path), "%s/printredir.prom", runner_tmpdir());
	t->b.conf.metrics_textfile = strdup(t->path);
	t->b.conf.metrics_interval = 1;
	t->printers[0].name = "Office_Laser";
	t->printers[0].redirected = 1;
	t->printers[0].network = 1;
	t->printers[0].driver = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	t->printers[1].name = "Raw_Queue";
	t->printers[1].redirected = 1;
	t->printers[1].network = 1;
	t->printers[1].driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
	t->b.current.printers = t->printers;
	t->b.current.n = 1;
	statefile_test_hook = before_rename;

	/* Nothing before the watcher's first look. */
	ck_assert_int_eq(metrics_start(&t->b), 0);
	uv_run(&t->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(access(t->path, F_OK), -1);
	t->b.have_snapshot = 1;

	uv_timer_init(&t->loop, &t->step);
	t->step.data = t;
	uv_timer_start(&t->step, on_step, 100, 100);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&t->loop), 0);
	statefile_test_hook = NULL;

	ck_assert_msg(t->fail == 0, "fail %d", t->fail);
	ck_assert_int_ge(t->hook_calls, 3);
	ck_assert_ptr_nonnull(t->first);
	ck_assert_ptr_nonnull(strstr(t->first, "\nprintredir_host_printers 1\n"));
	ck_assert_ptr_nonnull(strstr(t->first, "\nprintredir_generation 7\n"));
	assert_promtool_clean(t->first);
	/* Stopped: both files gone, no temporary file left. */
	ck_assert_int_eq(access(t->path, F_OK), -1);
	ck_assert_int_eq(access(t->path2, F_OK), -1);
	snprintf(t->path, sizeof(t->path), "%s/elsewhere.prom.tmp", runner_tmpdir());
	ck_assert_int_eq(access(t->path, F_OK), -1);
	free(t->first);
	free(t->b.conf.metrics_textfile);
	free(t);
}
END_TEST

/* A folder that is not there: said, tried again, and the broker goes on. */
START_TEST(textfile_folder_missing)
{
	uv_loop_t loop;
	struct broker b = { 0 };
	char path[512];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	b.loop = &loop;
	b.conf.name = "test-broker";
	b.conf.cups = "";
	b.have_snapshot = 1;
	snprintf(path, sizeof(path), "%s/no/such/folder/printredir.prom",
	    runner_tmpdir());
	b.conf.metrics_textfile = path;
	b.conf.metrics_interval = 1;
	runner_expect_log("metrics: cannot write");
	ck_assert_int_eq(metrics_start(&b), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_run(&loop, UV_RUN_ONCE);	/* the next try, a second later */
	metrics_stop(&b);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_ptr_null(b.metrics);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("render");
	TCase *tf = tcase_create("textfile");

	tcase_add_test(tc, exposition_of_a_status_document);
	tcase_add_test(tc, label_values_are_escaped);
	tcase_add_test(tc, summary_gives_the_same_counts);
	tcase_add_test(tc, an_empty_broker);
	tcase_add_test(tc, not_a_status_document);
	tcase_add_test(tc, promtool_refuses_a_broken_exposition);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tf, 30);
	tcase_add_test(tf, textfile_configuration);
	tcase_add_test(tf, textfile_written_replaced_and_removed);
	tcase_add_test(tf, textfile_folder_missing);
	suite_add_tcase(s, tf);
	return s;
}
