/*
 * `guest-agent status`: the agent's own view, read from its state file, for
 * the desk-side technician.  It needs no running agent.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "agent.h"
#include "statefile.h"

static const char *
jget(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return dflt;
	return json_object_get_string(v);
}

static void
render(json_object *doc, const struct agent_conf *conf, FILE *out)
{
	json_object *link = NULL, *arr = NULL;
	char when[64] = "-";
	int64_t since = 0;
	int w = 7;

	json_object_object_get_ex(doc, "link", &link);
	if (link) {
		json_object *v;

		if (json_object_object_get_ex(link, "since", &v))
			since = json_object_get_int64(v);
	}
	if (since > 0) {
		time_t t = (time_t)since;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
	}
	fprintf(out, "guest %s, redirection %s\n", conf->guest_id,
	    conf->redirection ? "on" : "off");
	if (link && json_object_get_boolean(json_object_object_get(link, "connected")))
		fprintf(out, "broker: connected since %s\n", when);
	else
		fprintf(out, "broker: not connected%s%s%s%s\n",
		    since > 0 ? " since " : "", since > 0 ? when : "",
		    link && *jget(link, "error", "") ? ": " : "",
		    link ? jget(link, "error", "") : "");
	fprintf(out, "generation: %s from the broker, %s applied%s\n",
	    jget(doc, "want_generation", "0"), jget(doc, "applied_generation", "0"),
	    json_object_get_boolean(json_object_object_get(doc, "report_pending")) ?
	    ", report not yet delivered" : "");
	{
		json_object *r = NULL;

		if (json_object_object_get_ex(doc, "restart", &r) &&
		    strcmp(jget(r, "phase_name", "unknown"), "unknown") != 0)
			fprintf(out, "restart: %s: %s\n", jget(r, "phase_name", "-"),
			    jget(r, "detail", ""));
		else
			fprintf(out, "restart: none\n");
	}
	fprintf(out, "\n");
	if (!json_object_object_get_ex(doc, "results", &arr) ||
	    json_object_array_length(arr) == 0) {
		fprintf(out, "No printers yet.\n");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		int n = (int)strlen(jget(json_object_array_get_idx(arr, i), "name", "-"));

		if (n > w)
			w = n;
	}
	fprintf(out, "%-*s  %-17s  %s\n", w, "PRINTER", "STATE", "DETAIL");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *r = json_object_array_get_idx(arr, i);
		const char *detail = jget(r, "detail", "");

		fprintf(out, "%-*s  %-17s  %s\n", w, jget(r, "name", "-"),
		    jget(r, "state_name", "-"), *detail ? detail : "-");
	}
}

int
status_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_conf conf;
	const char *path = AGENT_CONF_DEFAULT;
	char err[1024], file[4200], *text = NULL;
	json_object *doc;
	int c, json = 0, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: guest-agent status [-c FILE] [--json]\n\n"
			    "Prints the agent's view from its state file: the broker link,\n"
			    "the generation applied and every printer's state.\n");
			return 0;
		default:
			fprintf(stderr, "Try 'guest-agent status --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "guest-agent status: unexpected argument \"%s\"\n"
		    "Try 'guest-agent status --help'.\n", argv[optind]);
		return 2;
	}
	if (agent_load_conf(path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "guest-agent status: %s\n", err);
		return 2;
	}
	state_path(&conf, file, sizeof(file));
	rc = statefile_read(file, 64 << 20, &text, NULL);
	if (rc != 0) {
		fprintf(stderr, "guest-agent status: cannot read %s: %s (%s)\n", file,
		    strerror(-rc), rc == -ENOENT ? "the agent has not run yet with "
		    "this state_dir" : "check state_dir in the configuration");
		agent_free_conf(&conf);
		return 3;
	}
	doc = json_tokener_parse(text);
	free(text);
	if (doc == NULL) {
		fprintf(stderr, "guest-agent status: %s is damaged\n", file);
		agent_free_conf(&conf);
		return 1;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		render(doc, &conf, stdout);
	json_object_put(doc);
	agent_free_conf(&conf);
	return 0;
}
