/*
 * The agent's state on disk: the broker's latest wish, what was applied and
 * reported, the link, and the restart.  One JSON file written atomically
 * (common/statefile.c), so a crash at any instant leaves either the old
 * state or the new one.  The queues themselves carry the agent's mark in the
 * guest's CUPS, so ownership never depends on this file alone.
 *
 * Reading trusts nothing: a file damaged by a disk, a person or a bug is
 * read member by member, and what does not check is logged and left out.
 * A wish that does not read whole is dropped whole (the broker sends it
 * again on connecting), never applied in part: a missing printer would
 * remove its queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "agent.h"
#include "cupsconn.h"
#include "jsonget.h"
#include "log.h"
#include "statefile.h"

#define STATE_MAX (64 << 20)
#define STATE_FILE "agent.json"

void
state_path(const char *state_dir, char *out, size_t len)
{
	snprintf(out, len, "%s/" STATE_FILE, state_dir);
}

static void
put_str(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s ? s : ""));
}

static void
put_true(json_object *o, const char *key, int v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_boolean(1));
}

static void
put_some(json_object *o, const char *key, const char *s)
{
	if (s && *s)
		put_str(o, key, s);
}

static json_object *
wants_json(const struct wish *w)
{
	json_object *arr = json_object_new_array();
	char hex[HASH_HEX_LEN];

	for (size_t i = 0; i < w->n; i++) {
		const struct want *p = &w->want[i];
		json_object *o = json_object_new_object();

		put_str(o, "name", p->name);
		put_str(o, "host_device_uri", p->host_device_uri);
		put_str(o, "make_model", p->make_model);
		put_str(o, "info", p->info);
		put_str(o, "location", p->location);
		json_object_object_add(o, "driver", json_object_new_int(p->driver));
		hash_hex(p->sha, hex);
		put_str(o, "sha256", p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE ?
		    hex : "");
		put_str(o, "detail", p->detail);
		/* What most printers lack is left out (read back as false or
		 * ""): a state file of 200 printers is written on every pass. */
		put_true(o, "is_default", p->is_default);
		put_true(o, "generic", p->generic);
		put_true(o, "stopped", p->stopped);
		put_true(o, "rejecting", p->rejecting);
		put_some(o, "reasons", p->reasons);
		put_some(o, "message", p->message);
		put_some(o, "defaults", p->defaults);
		put_some(o, "ppd_defaults", p->ppd_defaults);
		if (p->invalid)
			put_str(o, "invalid", p->invalid);
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *
results_json(const struct applied *ap)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; i < ap->n; i++) {
		const struct result *r = &ap->results[i];
		json_object *o = json_object_new_object();

		put_str(o, "name", r->name);
		json_object_object_add(o, "state", json_object_new_int(r->state));
		put_str(o, "state_name", codec_printer_state_name(r->state));
		put_str(o, "detail", r->detail);
		put_str(o, "queue", r->queue);
		json_object_array_add(arr, o);
	}
	return arr;
}

static json_object *
restart_json(const struct restart *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "phase", json_object_new_int(r->phase));
	put_str(o, "phase_name", codec_restart_phase_name(r->phase));
	json_object_object_add(o, "generation", json_object_new_uint64(r->generation));
	json_object_object_add(o, "deferrals", json_object_new_int64(r->deferrals));
	json_object_object_add(o, "until", json_object_new_int64(r->until));
	json_object_object_add(o, "first_prompt", json_object_new_int64(r->first_prompt));
	json_object_object_add(o, "requested_at", json_object_new_int64(r->requested_at));
	put_str(o, "boot_id", r->boot_id);
	put_str(o, "printers", r->printers);
	put_str(o, "detail", r->detail);
	json_object_object_add(o, "report_pending", json_object_new_boolean(r->report_pending));
	json_object_object_add(o, "nobody_asked", json_object_new_boolean(r->nobody_asked));
	return o;
}

int
state_save(const char *state_dir, const struct state *s)
{
	json_object *doc = json_object_new_object(), *link = json_object_new_object();
	char path[4200];
	const char *text;
	int rc;

	json_object_object_add(doc, "version", json_object_new_int(1));
	put_str(doc, "guest_id", s->guest_id);
	json_object_object_add(doc, "want_generation", json_object_new_uint64(s->wish->gen));
	json_object_object_add(doc, "want", wants_json(s->wish));
	json_object_object_add(doc, "applied_generation",
	    json_object_new_uint64(s->applied->gen));
	json_object_object_add(doc, "applied_redirection",
	    json_object_new_boolean(s->applied->redirection));
	json_object_object_add(doc, "results", results_json(s->applied));
	json_object_object_add(doc, "report_pending",
	    json_object_new_boolean(s->applied->report_pending));
	put_str(doc, "checked_policy", s->applied->policy);
	put_str(doc, "default_set", s->applied->dflt.set);
	put_str(doc, "default_before", s->applied->dflt.before);
	put_str(doc, "default_printer", s->applied->dflt.now);
	put_str(doc, "default_detail", s->applied->dflt.detail);
	json_object_object_add(link, "connected", json_object_new_boolean(s->link->up));
	json_object_object_add(link, "since", json_object_new_int64(s->link->since));
	put_str(link, "error", s->link->error);
	json_object_object_add(doc, "link", link);
	json_object_object_add(doc, "restart", restart_json(s->restart));

	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	state_path(state_dir, path, sizeof(path));
	rc = statefile_write(path, text, strlen(text), 0600);
	if (rc != 0)
		log_warnx("cannot write %s: %s", path, strerror(-rc));
	json_object_put(doc);
	return rc;
}

/* A string member that must be there (a name): NULL when it is not. */
static char *
need_str(json_object *o, const char *key, size_t max)
{
	const char *v = jget_str(o, key);

	return v && v[0] && strlen(v) <= max ? strdup(v) : NULL;
}

/* A string member of at most max bytes that may be missing: "" then. */
static char *
capped_str(json_object *o, const char *key, size_t max)
{
	const char *v = jget_str(o, key);

	return strdup(v && strlen(v) <= max ? v : "");
}

static char *
opt_str(json_object *o, const char *key)
{
	return capped_str(o, key, CODEC_MAX_STRING);
}

static int
enum_ok(const ProtobufCEnumDescriptor *d, int64_t v)
{
	return v >= 0 && v <= INT32_MAX &&
	    protobuf_c_enum_descriptor_get_value(d, (int)v) != NULL;
}

/* One wanted printer; NULL and why when it does not check. */
static const char *
parse_want(json_object *o, struct want *w)
{
	const char *hex = jget_str(o, "sha256");
	int64_t driver;

	if ((w->name = need_str(o, "name", CODEC_MAX_NAME)) == NULL)
		return "no valid name";
	if (!jget_i64(o, "driver", &driver) ||
	    !enum_ok(&printredir__driver_state__descriptor, driver))
		return "no valid driver state";
	w->driver = (int)driver;
	if (w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE &&
	    (hex == NULL || hash_from_hex(hex, w->sha) != 0))
		return "a driver without a valid sha256";
	w->host_device_uri = opt_str(o, "host_device_uri");
	w->make_model = opt_str(o, "make_model");
	w->info = opt_str(o, "info");
	w->location = opt_str(o, "location");
	w->detail = opt_str(o, "detail");
	w->is_default = jget_bool(o, "is_default", 0);
	w->generic = jget_bool(o, "generic", 0);
	w->stopped = jget_bool(o, "stopped", 0);
	w->rejecting = jget_bool(o, "rejecting", 0);
	w->reasons = opt_str(o, "reasons");
	w->message = opt_str(o, "message");
	w->defaults = capped_str(o, "defaults", WANT_MAX_DEFAULTS);
	w->ppd_defaults = capped_str(o, "ppd_defaults", WANT_MAX_PPD_DEFAULTS);
	if (!w->reasons || !w->message || !w->defaults || !w->ppd_defaults)
		return "out of memory";
	if (jget_str(o, "invalid") && *jget_str(o, "invalid") &&
	    (w->invalid = opt_str(o, "invalid")) == NULL)
		return "out of memory";
	if (!w->host_device_uri || !w->make_model || !w->info ||
	    !w->location || !w->detail)
		return "out of memory";
	return NULL;
}

static void
parse_wish(json_object *doc, struct state *s)
{
	json_object *arr = jget_arr(doc, "want");
	struct wish *w = s->wish;
	const char *why = NULL;
	size_t n;
	char what[64] = "the list";

	if (!jget_u64(doc, "want_generation", &w->gen) || arr == NULL) {
		/* A fresh file has neither; a damaged one has one of them. */
		if (json_object_object_get_ex(doc, "want_generation", NULL) ||
		    json_object_object_get_ex(doc, "want", NULL))
			why = "want_generation or want is not of its type";
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > CODEC_MAX_PRINTERS) {
		why = "more printers than a printer set may hold";
		goto out;
	}
	if ((w->want = calloc(n + 1, sizeof(*w->want))) == NULL) {
		why = "out of memory";
		goto out;
	}
	for (w->n = 0; w->n < n; w->n++) {
		why = parse_want(json_object_array_get_idx(arr, w->n), &w->want[w->n]);
		if (why) {
			snprintf(what, sizeof(what), "printer %zu", w->n + 1);
			w->n++;	/* free it too */
			goto out;
		}
	}
out:
	if (why) {
		log_warnx("state: the broker's wish is ignored (%s: %s); "
		    "it comes again from the broker", what, why);
		want_free(w->want, w->n);
		memset(w, 0, sizeof(*w));
		/* Nothing to finish: wait for the broker. */
		s->applied->gen = 0;
	}
}

/* A queue name member into out ("" when missing or not one). */
static void
name_member(json_object *doc, const char *key, char *out, size_t len)
{
	const char *v = jget_str(doc, key);

	snprintf(out, len, "%s", v && cupsconn_valid_name(v) && strlen(v) < len ? v : "");
}

static void
parse_applied(json_object *doc, struct applied *ap)
{
	json_object *arr = jget_arr(doc, "results");
	size_t n = arr ? json_object_array_length(arr) : 0, skipped = 0;
	const char *policy;

	if (!jget_u64(doc, "applied_generation", &ap->gen))
		ap->gen = 0;
	ap->redirection = jget_bool(doc, "applied_redirection", 1);
	ap->report_pending = jget_bool(doc, "report_pending", 1);
	/* Anything but a digest as agent_policy() makes is unknown: the
	 * installed drivers are checked again. */
	policy = jget_str(doc, "checked_policy");
	snprintf(ap->policy, sizeof(ap->policy), "%s",
	    policy && strlen(policy) == HASH_HEX_LEN - 1 ? policy : "");
	name_member(doc, "default_set", ap->dflt.set, sizeof(ap->dflt.set));
	name_member(doc, "default_before", ap->dflt.before, sizeof(ap->dflt.before));
	name_member(doc, "default_printer", ap->dflt.now, sizeof(ap->dflt.now));
	snprintf(ap->dflt.detail, sizeof(ap->dflt.detail), "%s",
	    jget_str(doc, "default_detail") && codec_text_ok(jget_str(doc, "default_detail"),
	    sizeof(ap->dflt.detail) - 1, 0) ? jget_str(doc, "default_detail") : "");
	if (n > 2 * CODEC_MAX_PRINTERS)
		n = 2 * CODEC_MAX_PRINTERS;
	if (n == 0 || (ap->results = calloc(n, sizeof(*ap->results))) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		struct result *r = &ap->results[ap->n];
		int64_t state;

		if (!jget_i64(o, "state", &state) ||
		    !enum_ok(&printredir__printer_state__descriptor, state) ||
		    (r->name = need_str(o, "name", CODEC_MAX_NAME)) == NULL) {
			skipped++;
			continue;
		}
		r->state = (int)state;
		r->detail = opt_str(o, "detail");
		r->queue = opt_str(o, "queue");
		ap->n++;
	}
	if (skipped) {
		log_warnx("state: %zu install report line%s ignored (no valid name or "
		    "state); the next pass reports again", skipped, skipped == 1 ? "" : "s");
		ap->report_pending = 1;
	}
}

static void
copy_field(json_object *o, const char *key, char *out, size_t len)
{
	const char *v = jget_str(o, key);

	snprintf(out, len, "%s", v ? v : "");
}

static void
parse_restart(json_object *doc, struct restart *r)
{
	json_object *o = jget_obj(doc, "restart");
	int64_t phase, deferrals;

	if (o == NULL)
		return;
	if (!jget_i64(o, "phase", &phase) ||
	    !enum_ok(&printredir__restart_phase__descriptor, phase) ||
	    !jget_i64(o, "deferrals", &deferrals) || deferrals < 0 ||
	    deferrals > UINT32_MAX) {
		log_warnx("state: the restart state is ignored (phase or deferrals "
		    "missing or out of range)");
		return;
	}
	r->phase = (int)phase;
	r->deferrals = (uint32_t)deferrals;
	if (!jget_u64(o, "generation", &r->generation))
		r->generation = 0;
	r->until = jget_int(o, "until", 0);
	r->first_prompt = jget_int(o, "first_prompt", 0);
	r->requested_at = jget_int(o, "requested_at", 0);
	r->report_pending = jget_bool(o, "report_pending", 1);
	r->nobody_asked = jget_bool(o, "nobody_asked", 0);
	copy_field(o, "boot_id", r->boot_id, sizeof(r->boot_id));
	copy_field(o, "printers", r->printers, sizeof(r->printers));
	copy_field(o, "detail", r->detail, sizeof(r->detail));
}

int
state_parse(const char *text, size_t len, struct state *s)
{
	json_object *doc;
	char err[128];

	if ((doc = jget_parse(text, len, json_type_object, err, sizeof(err))) == NULL) {
		log_warnx("state: %s is damaged (%s); starting from the guest's CUPS alone",
		    STATE_FILE, err);
		return 0;
	}
	parse_applied(doc, s->applied);
	parse_wish(doc, s);
	parse_restart(doc, s->restart);
	json_object_put(doc);
	log_debug("state: wish %llu, applied %llu, %zu printers, report %s",
	    (unsigned long long)s->wish->gen, (unsigned long long)s->applied->gen,
	    s->wish->n, s->applied->report_pending ? "pending" : "delivered");
	return 0;
}

int
state_load(const char *state_dir, struct state *s)
{
	char path[4200], *text = NULL;
	size_t len = 0;
	int rc;

	state_path(state_dir, path, sizeof(path));
	if ((rc = statefile_read(path, STATE_MAX, &text, &len)) != 0) {
		if (rc == -ENOENT)
			return 0;
		log_warnx("cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = state_parse(text, len, s);
	free(text);
	return rc;
}

void
state_free(struct state *s)
{
	want_free(s->wish->want, s->wish->n);
	s->wish->want = NULL;
	s->wish->n = 0;
	result_free(s->applied->results, s->applied->n);
	s->applied->results = NULL;
	s->applied->n = 0;
}
