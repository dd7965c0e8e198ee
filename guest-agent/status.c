/*
 * `guest-agent status`: the agent's own view, read from its state file, for
 * the desk-side technician.  It needs no running agent.  The state file
 * holds what the broker and the guest's CUPS said (printer names, details,
 * errors), so every string is printed through common/table, capped and
 * safe for a terminal, never raw.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "agent.h"
#include "cli.h"
#include "jsonget.h"
#include "statefile.h"
#include "table.h"

#define PROG "guest-agent status"
#define STATUS_STATE_MAX (64 << 20)

enum {
	EXIT_DAMAGED = 1,	/* the state file is not the agent's JSON */
	EXIT_USAGE = 2,		/* bad option or configuration */
	EXIT_NO_STATE = 3,	/* no state file to read */
};

static const struct table_col result_cols[] = {
	{ "PRINTER", "name", 40, TABLE_TEXT, 0, NULL },
	{ "STATE", "state_name", 24, TABLE_TEXT, 0, NULL },
	{ "DETAIL", "detail", TABLE_CELL_MAX, TABLE_TEXT, 0, NULL },
};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/* Writes the printers' table, or a line saying there are none. */
static void
render_results(json_object *doc, FILE *out)
{
	json_object *arr = jget_arr(doc, "results");
	size_t len = arr != NULL ? json_object_array_length(arr) : 0;
	struct table t;

	if (len == 0) {
		fputs("No printers yet.\n", out);
		return;
	}
	table_init(&t, result_cols, NCOLS(result_cols));
	for (size_t i = 0; i < len; i++)
		table_fit(&t, json_object_array_get_idx(arr, i));
	table_print_head(&t, out);
	for (size_t i = 0; i < len; i++)
		table_print_row(&t, out, "", json_object_array_get_idx(arr, i));
}

/*
 * Writes the agent's state document doc (not NULL; not taken; members of
 * any type, missing or null are shown as absent) as `guest-agent status`
 * prints it, for the agent configured by conf (not NULL).  Returns 0, or
 * -EIO when out fails.  Declared here for tests; status_main() is its user.
 */
int status_render(json_object *doc, const struct agent_conf *conf, FILE *out);

int
status_render(json_object *doc, const struct agent_conf *conf, FILE *out)
{
	json_object *link = jget_obj(doc, "link"), *r = jget_obj(doc, "restart");
	char id[TABLE_CELL_BYTES], when[64], error[TABLE_CELL_BYTES];
	char phase[TABLE_CELL_BYTES], detail[TABLE_CELL_BYTES];
	uint64_t want = 0, applied = 0;
	int64_t since = 0;
	const char *p;

	table_put(conf->guest_id, TABLE_CELL_MAX, id);
	fprintf(out, "guest %s, redirection %s\n", id,
	    conf->redirection ? "on" : "off");

	jget_i64(link, "since", &since);
	table_local_time(since, "%Y-%m-%d %H:%M:%S", when, sizeof(when));
	table_put(jget_str(link, "error"), TABLE_CELL_MAX, error);
	if (jget_bool(link, "connected", 0))
		fprintf(out, "broker: connected since %s\n",
		    *when != '\0' ? when : "-");
	else
		fprintf(out, "broker: not connected%s%s%s%s\n",
		    *when != '\0' ? " since " : "", when,
		    *error != '\0' ? ": " : "", error);

	jget_u64(doc, "want_generation", &want);
	jget_u64(doc, "applied_generation", &applied);
	fprintf(out, "generation: %" PRIu64 " from the broker, %" PRIu64
	    " applied%s\n", want, applied,
	    jget_bool(doc, "report_pending", 0) ?
	    ", report not yet delivered" : "");

	p = jget_str(r, "phase_name");
	if (p != NULL && *p != '\0' && strcmp(p, "unknown") != 0) {
		table_put(p, 24, phase);
		table_put(jget_str(r, "detail"), TABLE_CELL_MAX, detail);
		fprintf(out, "restart: %s%s%s\n", phase,
		    *detail != '\0' ? ": " : "", detail);
	} else
		fputs("restart: none\n", out);

	fputc('\n', out);
	render_results(doc, out);
	return ferror(out) ? -EIO : 0;
}

/*
 * Prints the status of the agent configured at conf_path (not NULL) on
 * out, as the table or, with json, as the state document itself.  Says
 * what went wrong on stderr.  Returns the exit status.  Declared here for
 * tests, like status_render().
 */
int status_show(const char *conf_path, int json, FILE *out);

int
status_show(const char *conf_path, int json, FILE *out)
{
	struct agent_conf conf;
	json_object *doc = NULL;
	char err[1024], file[4200], why[128], *text = NULL;
	const char *s;
	int loaded = 0, rc;

	if (agent_load_conf(conf_path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	loaded = 1;
	state_path(conf.state_dir, file, sizeof(file));
	rc = statefile_read(file, STATUS_STATE_MAX, &text, NULL);
	if (rc != 0) {
		fprintf(stderr, PROG ": cannot read %s: %s (%s)\n", file,
		    strerror(-rc), rc == -ENOENT ? "the agent has not run yet "
		    "with this state_dir" : "check state_dir in the "
		    "configuration");
		rc = EXIT_NO_STATE;
		goto out;
	}
	doc = jget_parse(text, strlen(text), json_type_object, why, sizeof(why));
	if (doc == NULL) {
		fprintf(stderr, PROG ": %s is damaged (%s)\n", file, why);
		rc = EXIT_DAMAGED;
		goto out;
	}
	if (json) {
		/* json-c escapes control characters: this is safe as is. */
		s = json_object_to_json_string_ext(doc,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		fprintf(out, "%s\n", s != NULL ? s : "null");
	} else
		status_render(doc, &conf, out);
	rc = 0;
out:
	json_object_put(doc);
	free(text);
	if (loaded)
		agent_free_conf(&conf);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: guest-agent status [-c FILE] [--json]\n"
	    "\n"
	    "Prints the agent's view from its state file: the broker link,\n"
	    "the generation applied and every printer's state.\n"
	    "\n"
	    "  -c, --config FILE  agent configuration; its state_dir holds the\n"
	    "                     state file (default " AGENT_CONF_DEFAULT ")\n"
	    "      --json         print the state file as JSON\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "Exit status: 0 done, 1 the state file is damaged, 2 usage or\n"
	    "configuration error, 3 no state file.\n");
}

int
status_main(int argc, char **argv)
{
	const char *path = AGENT_CONF_DEFAULT;
	int json = 0, rc;
	const struct cli_opt opts[] = {
		{ 'c', "config", CLI_STRING, &path },
		{ 0, "json", CLI_FLAG, &json },
		{ 0 },
	};
	const struct cli cli = { PROG, usage, opts, 0, 0, NULL };

	if ((rc = cli_parse(&cli, argc, argv, NULL)) >= 0)
		return rc;
	if (*path == '\0')
		return cli_error(&cli, "the configuration file name is empty");
	rc = status_show(path, json, stdout);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, PROG ": cannot write the output: %s\n",
		    strerror(errno));
		rc = EXIT_DAMAGED;
	}
	return rc;
}
