/*
 * The agent's state on disk: the broker's latest wish, what was applied and
 * reported, and the link.  One JSON file written atomically (common/
 * statefile.c), so a crash at any instant leaves either the old state or the
 * new one.  The queues themselves carry the agent's mark in the guest's
 * CUPS, so ownership never depends on this file alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "agent.h"
#include "jsonget.h"
#include "log.h"
#include "statefile.h"

#define STATE_MAX (64 << 20)

void
state_path(const struct agent_conf *conf, char *out, size_t len)
{
	snprintf(out, len, "%s/agent.json", conf->state_dir);
}

static json_object *
jstring(const char *s)
{
	return json_object_new_string(s ? s : "");
}

int
state_save(const struct agent *a)
{
	json_object *doc = json_object_new_object(), *wv = json_object_new_array();
	json_object *rv = json_object_new_array(), *link = json_object_new_object();
	char path[4200], hex[HASH_HEX_LEN];
	const char *text;
	int rc;

	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "guest_id", jstring(a->conf.guest_id));
	json_object_object_add(doc, "want_generation", json_object_new_uint64(a->want_gen));
	for (size_t i = 0; i < a->nwant; i++) {
		const struct want *w = &a->want[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", jstring(w->name));
		json_object_object_add(o, "uri", jstring(w->uri));
		json_object_object_add(o, "host_device_uri", jstring(w->host_device_uri));
		json_object_object_add(o, "make_model", jstring(w->make_model));
		json_object_object_add(o, "info", jstring(w->info));
		json_object_object_add(o, "location", jstring(w->location));
		json_object_object_add(o, "driver", json_object_new_int(w->driver));
		hash_hex(w->sha, hex);
		json_object_object_add(o, "sha256", jstring(
		    w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE ? hex : ""));
		json_object_object_add(o, "detail", jstring(w->detail));
		json_object_array_add(wv, o);
	}
	json_object_object_add(doc, "want", wv);
	json_object_object_add(doc, "applied_generation",
	    json_object_new_uint64(a->applied_gen));
	json_object_object_add(doc, "applied_redirection",
	    json_object_new_boolean(a->applied_redirection));
	for (size_t i = 0; i < a->nresults; i++) {
		const struct result *r = &a->results[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", jstring(r->name));
		json_object_object_add(o, "state", json_object_new_int(r->state));
		json_object_object_add(o, "state_name",
		    jstring(codec_printer_state_name(r->state)));
		json_object_object_add(o, "detail", jstring(r->detail));
		json_object_object_add(o, "queue", jstring(r->queue));
		json_object_array_add(rv, o);
	}
	json_object_object_add(doc, "results", rv);
	json_object_object_add(doc, "report_pending",
	    json_object_new_boolean(a->report_pending));
	json_object_object_add(link, "connected",
	    json_object_new_boolean(a->link_up));
	json_object_object_add(link, "since", json_object_new_int64(a->link_since));
	json_object_object_add(link, "error", jstring(a->link_error));
	json_object_object_add(doc, "link", link);
	{
		const struct restart *r = &a->restart;
		json_object *o = json_object_new_object();

		json_object_object_add(o, "phase", json_object_new_int(r->phase));
		json_object_object_add(o, "phase_name",
		    jstring(codec_restart_phase_name(r->phase)));
		json_object_object_add(o, "generation", json_object_new_uint64(r->generation));
		json_object_object_add(o, "deferrals", json_object_new_int64(r->deferrals));
		json_object_object_add(o, "until", json_object_new_int64(r->until));
		json_object_object_add(o, "first_prompt", json_object_new_int64(r->first_prompt));
		json_object_object_add(o, "requested_at", json_object_new_int64(r->requested_at));
		json_object_object_add(o, "boot_id", jstring(r->boot_id));
		json_object_object_add(o, "printers", jstring(r->printers));
		json_object_object_add(o, "detail", jstring(r->detail));
		json_object_object_add(o, "report_pending",
		    json_object_new_boolean(r->report_pending));
		json_object_object_add(doc, "restart", o);
	}

	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	state_path(&a->conf, path, sizeof(path));
	rc = statefile_write(path, text, strlen(text), 0600);
	if (rc != 0)
		log_warnx("cannot write %s: %s", path, strerror(-rc));
	json_object_put(doc);
	return rc;
}

static char *
jdup(json_object *o, const char *key)
{
	const char *v = jget_str(o, key);

	return strdup(v ? v : "");
}

int
state_load(struct agent *a)
{
	char path[4200], *text = NULL;
	json_object *doc, *arr;
	int rc;

	state_path(&a->conf, path, sizeof(path));
	if ((rc = statefile_read(path, STATE_MAX, &text, NULL)) != 0) {
		if (rc == -ENOENT)
			return 0;
		log_warnx("cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	doc = json_tokener_parse(text);
	free(text);
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		log_warnx("%s is damaged; starting from the guest's CUPS alone", path);
		json_object_put(doc);
		return 0;
	}
	a->want_gen = (uint64_t)jget_int(doc, "want_generation", 0);
	a->applied_gen = (uint64_t)jget_int(doc, "applied_generation", 0);
	a->report_pending = jget_bool(doc, "report_pending", 0);
	{
		json_object *v;

		a->applied_redirection = json_object_object_get_ex(doc,
		    "applied_redirection", &v) ? json_object_get_boolean(v) : 1;
	}
	if (json_object_object_get_ex(doc, "want", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		size_t n = json_object_array_length(arr);

		a->want = calloc(n + 1, sizeof(*a->want));
		for (size_t i = 0; a->want && i < n; i++) {
			json_object *o = json_object_array_get_idx(arr, i);
			struct want *w = &a->want[a->nwant];
			char *hex = jdup(o, "sha256");

			w->name = jdup(o, "name");
			w->uri = jdup(o, "uri");
			w->host_device_uri = jdup(o, "host_device_uri");
			w->make_model = jdup(o, "make_model");
			w->info = jdup(o, "info");
			w->location = jdup(o, "location");
			w->detail = jdup(o, "detail");
			w->driver = (int)jget_int(o, "driver", 0);
			if (w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE &&
			    (hex == NULL || hash_from_hex(hex, w->sha) != 0))
				w->driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
			free(hex);
			a->nwant++;
		}
	}
	if (json_object_object_get_ex(doc, "results", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		size_t n = json_object_array_length(arr);

		a->results = calloc(n + 1, sizeof(*a->results));
		for (size_t i = 0; a->results && i < n; i++) {
			json_object *o = json_object_array_get_idx(arr, i);
			struct result *r = &a->results[a->nresults++];

			r->name = jdup(o, "name");
			r->state = (int)jget_int(o, "state", 0);
			r->detail = jdup(o, "detail");
			r->queue = jdup(o, "queue");
		}
	}
	if (json_object_object_get_ex(doc, "restart", &arr) &&
	    json_object_is_type(arr, json_type_object)) {
		struct restart *r = &a->restart;
		char *s;

		r->phase = (int)jget_int(arr, "phase", 0);
		r->generation = (uint64_t)jget_int(arr, "generation", 0);
		r->deferrals = (uint32_t)jget_int(arr, "deferrals", 0);
		r->until = jget_int(arr, "until", 0);
		r->first_prompt = jget_int(arr, "first_prompt", 0);
		r->requested_at = jget_int(arr, "requested_at", 0);
		r->report_pending = jget_bool(arr, "report_pending", 0);
		if ((s = jdup(arr, "boot_id")) != NULL)
			snprintf(r->boot_id, sizeof(r->boot_id), "%s", s);
		free(s);
		if ((s = jdup(arr, "printers")) != NULL)
			snprintf(r->printers, sizeof(r->printers), "%s", s);
		free(s);
		if ((s = jdup(arr, "detail")) != NULL)
			snprintf(r->detail, sizeof(r->detail), "%s", s);
		free(s);
	}
	json_object_put(doc);
	log_debug("state: wish %llu, applied %llu, %zu printers, report %s",
	    (unsigned long long)a->want_gen, (unsigned long long)a->applied_gen,
	    a->nwant, a->report_pending ? "pending" : "delivered");
	return 0;
}
