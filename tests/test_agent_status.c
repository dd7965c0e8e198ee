/*
 * `guest-agent status`: the table it prints from the agent's state file,
 * with hostile strings (terminal escapes, broken UTF-8, very long names)
 * and damaged members, and the whole path from agent.conf to the output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "../guest-agent/agent.h"
#include "jsonget.h"
#include "table.h"
#include "runner.h"

/* guest-agent/status.c; for tests only. */
extern int status_render(json_object *doc, const struct agent_conf *conf,
    FILE *out);
extern int status_show(const char *conf_path, int json, FILE *out);

static json_object *
result(const char *name, const char *state, const char *detail)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "name", json_object_new_string(name));
	json_object_object_add(r, "state", json_object_new_int(1));
	json_object_object_add(r, "state_name", json_object_new_string(state));
	json_object_object_add(r, "detail", json_object_new_string(detail));
	json_object_object_add(r, "queue", json_object_new_string(name));
	return r;
}

/* A state document as guest-agent/state.c writes it. */
static json_object *
state_doc(const char *link_error, const char *phase, const char *rdetail)
{
	json_object *doc = json_object_new_object();
	json_object *link = json_object_new_object();
	json_object *r = json_object_new_object();
	json_object *rs = json_object_new_array();

	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "guest_id", json_object_new_string("g1"));
	json_object_object_add(doc, "want_generation", json_object_new_uint64(5));
	json_object_object_add(doc, "want", json_object_new_array());
	json_object_object_add(doc, "applied_generation",
	    json_object_new_uint64(4));
	json_object_array_add(rs, result("net_office", "installed", ""));
	json_object_array_add(rs, result("raw_queue", "driver-missing",
	    "install it by hand in the guest"));
	json_object_object_add(doc, "results", rs);
	json_object_object_add(doc, "report_pending",
	    json_object_new_boolean(1));
	json_object_object_add(link, "connected", json_object_new_boolean(0));
	/* 2026-11-25 03:20:01 UTC */
	json_object_object_add(link, "since", json_object_new_int64(1795576801));
	json_object_object_add(link, "error", json_object_new_string(link_error));
	json_object_object_add(doc, "link", link);
	json_object_object_add(r, "phase", json_object_new_int(3));
	json_object_object_add(r, "phase_name", json_object_new_string(phase));
	json_object_object_add(r, "detail", json_object_new_string(rdetail));
	json_object_object_add(doc, "restart", r);
	return doc;
}

static void
conf_init(struct agent_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->guest_id = "g1";
	conf->redirection = 1;
}

/* Renders doc into a malloc'd string; the caller frees it. */
static char *
render(json_object *doc, const struct agent_conf *conf)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(status_render(doc, conf, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Nothing a terminal would act on: no C0 but '\n', no DEL, no C1. */
static void
assert_terminal_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		ck_assert_msg(*p >= 0x20 || *p == '\n',
		    "control byte 0x%02x at %zu", *p, (size_t)(p -
		    (const unsigned char *)text));
		ck_assert_msg(*p != 0x7f, "DEL in the output");
		ck_assert_msg(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0),
		    "C1 control in the output");
	}
}

START_TEST(table_as_before)
{
	struct agent_conf conf;
	json_object *doc = state_doc("connection refused", "deferred",
	    "the user chose later (1 of 3)");
	char *text;

	setenv("TZ", "UTC", 1);
	tzset();
	conf_init(&conf);
	text = render(doc, &conf);
	ck_assert_str_eq(text,
	    "guest g1, redirection on\n"
	    "broker: not connected since 2026-11-25 03:20:01: connection refused\n"
	    "generation: 5 from the broker, 4 applied, report not yet delivered\n"
	    "restart: deferred: the user chose later (1 of 3)\n"
	    "\n"
	    "PRINTER     STATE           DETAIL\n"
	    "net_office  installed       -\n"
	    "raw_queue   driver-missing  install it by hand in the guest\n");
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(hostile_strings_are_neutralized)
{
	struct agent_conf conf;
	json_object *doc = state_doc("\x1b]0;owned\x07" "refused\x1b[2J",
	    "pending\x1b[31m", "\xc2\x9b" "6n\xff");
	json_object *rs = json_object_new_array();
	char longname[301], longdetail[701], want[128], *text, *line;

	memset(longname, 'L', 300);
	longname[300] = '\0';
	json_object_array_add(rs, result("B\xc3\xbcro\x1b[1A", "installed",
	    "\x1b[H\x1b[2Jcleared the screen"));
	json_object_array_add(rs, result(longname, "failed\x07\x07",
	    "d\x7f" "el"));
	memset(longdetail, 'D', 700);
	longdetail[700] = '\0';
	json_object_array_add(rs, result("big", "failed", longdetail));
	json_object_object_add(doc, "results", rs);
	conf_init(&conf);
	text = render(doc, &conf);
	assert_terminal_safe(text);
	/* Escapes become '?', the rest of the text stays readable. */
	ck_assert_ptr_nonnull(strstr(text, ": ?]0;owned?refused?[2J\n"));
	ck_assert_ptr_nonnull(strstr(text, "restart: pending?[31m: ?6n?\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nB\xc3\xbcro?[1A"));
	ck_assert_ptr_nonnull(strstr(text, "?[H?[2Jcleared the screen\n"));
	/* A long name is cut to 40 characters, the last three dots, and the
	 * other columns still line up after it. */
	ck_assert_ptr_null(strstr(text, longname));
	line = strstr(text, "\nLLLL");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line, "\nLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL...  "
	    "failed??   d?el\n"));
	/* "Büro?[1A" is 8 characters wide: 40 - 8 + 2 blanks follow. */
	snprintf(want, sizeof(want), "\nB\xc3\xbcro?[1A%*sinstalled  "
	    "?[H?[2Jcleared the screen\n", 34, "");
	ck_assert_ptr_nonnull(strstr(text, want));
	/* A long detail is kept up to TABLE_CELL_MAX characters. */
	ck_assert_ptr_null(strstr(text, longdetail));
	longdetail[TABLE_CELL_MAX - 3] = '\0';
	line = strstr(text, longdetail);
	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line + TABLE_CELL_MAX - 3, "...\n");
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(damaged_members_read_as_absent)
{
	struct agent_conf conf;
	json_object *doc = json_tokener_parse("{"
	    "\"link\": {\"connected\": \"yes\", \"since\": \"never\", \"error\": 5},"
	    "\"want_generation\": \"7\", \"applied_generation\": -3,"
	    "\"report_pending\": null,"
	    "\"restart\": {\"phase_name\": null, \"detail\": []},"
	    "\"results\": [null, 5, [], {\"name\": null, \"state_name\": 7,"
	    " \"detail\": {}}]}");
	char *text;

	ck_assert_ptr_nonnull(doc);
	conf_init(&conf);
	conf.redirection = 0;
	text = render(doc, &conf);
	ck_assert_str_eq(text,
	    "guest g1, redirection off\n"
	    "broker: not connected\n"
	    "generation: 0 from the broker, 0 applied\n"
	    "restart: none\n"
	    "\n"
	    "PRINTER  STATE  DETAIL\n"
	    "-        -      -\n"
	    "-        -      -\n"
	    "-        -      -\n"
	    "-        7      -\n");
	free(text);
	json_object_put(doc);

	/* Not even the top members are of the right type. */
	doc = json_tokener_parse("{\"link\": [], \"restart\": 1, "
	    "\"results\": {}}");
	text = render(doc, &conf);
	ck_assert_ptr_nonnull(strstr(text, "\nrestart: none\n\nNo printers "
	    "yet.\n"));
	free(text);
	json_object_put(doc);
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Runs status_show() into a malloc'd string; returns its exit status. */
static int
show(const char *conf_path, int json, char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	int rc;

	ck_assert_ptr_nonnull(f);
	rc = status_show(conf_path, json, f);
	ck_assert_int_eq(fclose(f), 0);
	return rc;
}

/* From agent.conf to the output, as `guest-agent status -c FILE` runs. */
START_TEST(from_the_state_dir)
{
	char conf_path[512], state[512], text_conf[1024], *text;
	json_object *doc = state_doc("", "done", "");

	snprintf(conf_path, sizeof(conf_path), "%s/agent.conf", runner_tmpdir());
	snprintf(state, sizeof(state), "%s/agent.json", runner_tmpdir());
	snprintf(text_conf, sizeof(text_conf), "[agent]\nstate_dir = %s\n"
	    "guest_id = desk-7\nredirection = yes\n", runner_tmpdir());
	write_file(conf_path, text_conf);

	ck_assert_int_eq(show(conf_path, 0, &text), 3);	/* no state yet */
	ck_assert_str_eq(text, "");
	free(text);

	json_object_array_add(jget_arr(doc, "results"), result(
	    "evil\x1b]52;c;cm0gLXJmIH4=\x07", "installed", "\x1b[6n"));
	ck_assert_int_eq(json_object_to_file(state, doc), 0);
	ck_assert_int_eq(show(conf_path, 0, &text), 0);
	assert_terminal_safe(text);
	ck_assert_ptr_nonnull(strstr(text, "guest desk-7, redirection on\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nrestart: done\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nevil?]52;c;cm0gLXJmIH4=?  "
	    "installed       ?[6n\n"));
	free(text);

	/* --json: the document itself, its escapes escaped by json-c. */
	ck_assert_int_eq(show(conf_path, 1, &text), 0);
	assert_terminal_safe(text);
	ck_assert_ptr_nonnull(strstr(text, "evil\\u001b]52"));
	free(text);

	write_file(state, "{\"results\": [");
	ck_assert_int_eq(show(conf_path, 0, &text), 1);
	free(text);
	write_file(state, "[1, 2]");
	ck_assert_int_eq(show(conf_path, 0, &text), 1);
	free(text);
	json_object_put(doc);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("agent_status");
	TCase *tc = tcase_create("render");

	tcase_add_test(tc, table_as_before);
	tcase_add_test(tc, hostile_strings_are_neutralized);
	tcase_add_test(tc, damaged_members_read_as_absent);
	tcase_add_test(tc, from_the_state_dir);
	suite_add_tcase(s, tc);
	return s;
}
