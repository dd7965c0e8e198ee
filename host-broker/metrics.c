/*
 * Fleet metrics: the status document (control.c) in the Prometheus text
 * exposition format, version 0.0.4.  `host-broker status --prometheus`
 * prints it from the document the control socket serves; with [metrics]
 * textfile set, the broker itself writes it every textfile_interval for
 * node_exporter's textfile collector, from the same document built in
 * process.  One renderer for both, so that the two never disagree.
 *
 * Every family has its HELP and TYPE lines, also when it has no sample
 * yet (no guest), so that a dashboard finds every name.  States are
 * one-hot gauges listing every state the protocol knows, plus any other
 * the document names, so that a state's series exists before it is 1.
 * Guest ids and printer names come from the wire: label values are
 * escaped as the format requires and made valid UTF-8.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "broker.h"
#include "jsonget.h"
#include "log.h"
#include "printredir.pb-c.h"
#include "statefile.h"

#define NS "printredir_"
/* The distinct states one count holds: every state of an enum, and a few
 * the document may name besides (a broker of another version). */
#define STATES_MAX 24
/* Until the first write, the textfile timer looks this often whether the
 * watcher has reported. */
#define FIRST_WRITE_POLL_MS 1000

/* --- the exposition format ----------------------------------------------- */

/* The HELP and TYPE lines; help is ours, with no backslash or line end
 * to escape. */
static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A label value between its double quotes: backslash, double quote and
 * line feed escaped, as the format requires, and every byte that is not
 * UTF-8 replaced by U+FFFD, which the format requires too.
 */
static void
put_label_value(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;

	while (n > 0) {
		if (*p == '\\' || *p == '"') {
			fputc('\\', f);
			fputc(*p, f);
			k = 1;
		} else if (*p == '\n') {
			fputs("\\n", f);
			k = 1;
		} else if ((k = log_utf8_next(p, n, NULL)) == 0) {
			fputs("\xef\xbf\xbd", f);
			k = 1;
		} else
			fwrite(p, 1, k, f);
		p += k;
		n -= k;
	}
}

/* name{k1="v1",...} value: labels holds name, value pairs, NULL ended
 * (labels itself may be NULL). */
static void
sample(FILE *f, const char *name, const char *const *labels, const char *value)
{
	fputs(name, f);
	for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		fprintf(f, "%c%s=\"", i == 0 ? '{' : ',', labels[i]);
		put_label_value(f, labels[i + 1]);
		fputc('"', f);
	}
	if (labels != NULL && labels[0] != NULL)
		fputc('}', f);
	fprintf(f, " %s\n", value);
}

static const char *
num_i(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, "%" PRId64, v);
	return buf;
}

static const char *
num_u(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

static const char *
num_seconds(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.3f", v);
	return buf;
}

/* o[key] when it is a number: 1 and *out set, else 0. */
static int
get_number(json_object *o, const char *key, double *out)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_double) ||
	    json_object_is_type(v, json_type_int)))
		return 0;
	*out = json_object_get_double(v);
	return 1;
}

/* --- counts by state ------------------------------------------------------- */

struct states {
	size_t n;
	const char *name[STATES_MAX];	/* static, or owned by the document */
	int64_t count[STATES_MAX];
};

/* Every state of enum d but its 0 (unspecified), named by name(). */
static void
states_init(struct states *s, const ProtobufCEnumDescriptor *d,
    const char *(*name)(int))
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < d->n_values && s->n < STATES_MAX; i++) {
		const char *nm = d->values[i].value == 0 ? NULL :
		    name(d->values[i].value);

		if (nm != NULL)
			s->name[s->n++] = nm;
	}
}

/* Adds k to state nm (not NULL), a new state when the enum lacks it. */
static void
states_add(struct states *s, const char *nm, int64_t k)
{
	size_t i;

	for (i = 0; i < s->n && strcmp(s->name[i], nm) != 0; i++)
		;
	if (i == s->n) {
		if (s->n == STATES_MAX)
			return;
		s->name[s->n++] = nm;
	}
	s->count[i] += k;
}

/* --- the families ------------------------------------------------------------ */

static json_object *
array_at(json_object *doc, const char *key, size_t *n)
{
	json_object *a = jget_arr(doc, key);

	*n = a != NULL && json_object_is_type(a, json_type_array) ?
	    json_object_array_length(a) : 0;
	return a;
}

static void
render_host(json_object *doc, json_object *b, FILE *f)
{
	json_object *counts = jget_obj(doc, "printer_counts"), *ps, *p;
	struct states drivers, one;
	const char *drv, *name;
	char v[32];
	size_t n;
	int64_t host = 0, redirected = 0;
	uint64_t u;
	double d;

	family(f, NS "generation", "gauge", "Generation of the printer set the "
	    "broker offers guests; it moves with every change on the host.");
	if (jget_u64(b, "generation", &u))
		sample(f, NS "generation", NULL, num_u(v, sizeof(v), u));
	family(f, NS "host_cups_up", "gauge", "1 when the broker's last look "
	    "at the host's CUPS succeeded, 0 when it could not list its queues.");
	sample(f, NS "host_cups_up", NULL, jget_str(b, "error") == NULL ? "1" : "0");
	family(f, NS "host_events_pushed", "gauge", "1 when the host's cupsd "
	    "pushes its changes to the broker, 0 when the broker pulls them or "
	    "only lists the host periodically.");
	sample(f, NS "host_events_pushed", NULL, jget_str(b, "host_events") != NULL &&
	    strcmp(jget_str(b, "host_events"), "push") == 0 ? "1" : "0");

	states_init(&drivers, &printredir__driver_state__descriptor,
	    control_driver_name);
	ps = array_at(doc, "printers", &n);
	if (counts != NULL) {
		host = jget_int(counts, "host", 0);
		redirected = jget_int(counts, "redirected", 0);
		for (size_t i = 0; i < drivers.n; i++)
			drivers.count[i] = jget_int(counts, drivers.name[i], 0);
	}
	for (size_t i = 0; counts == NULL && i < n; i++) {
		p = json_object_array_get_idx(ps, i);
		host++;
		if (!jget_bool(p, "redirected", 0))
			continue;
		redirected++;
		if ((drv = jget_str(p, "driver")) != NULL)
			states_add(&drivers, drv, 1);
	}
	family(f, NS "host_printers", "gauge", "Print queues on the host, "
	    "redirected or not.");
	sample(f, NS "host_printers", NULL, num_i(v, sizeof(v), host));
	family(f, NS "printers_redirected", "gauge", "Host printers offered "
	    "to guests.");
	sample(f, NS "printers_redirected", NULL, num_i(v, sizeof(v), redirected));
	family(f, NS "printer_drivers", "gauge", "Redirected host printers by "
	    "the state of their driver on the print server (missing: install "
	    "it by hand in the guests; rejected: it failed the broker's checks).");
	for (size_t i = 0; i < drivers.n; i++) {
		const char *l[] = { "state", drivers.name[i], NULL };

		sample(f, NS "printer_drivers", l,
		    num_i(v, sizeof(v), drivers.count[i]));
	}
	family(f, NS "printer_driver_state", "gauge", "1 for the state of each "
	    "redirected printer's driver, 0 for the other states (not in "
	    "--summary).");
	for (size_t i = 0; counts == NULL && i < n; i++) {
		p = json_object_array_get_idx(ps, i);
		if (!jget_bool(p, "redirected", 0) ||
		    (name = jget_str(p, "name")) == NULL ||
		    (drv = jget_str(p, "driver")) == NULL)
			continue;
		states_init(&one, &printredir__driver_state__descriptor,
		    control_driver_name);
		states_add(&one, drv, 1);
		for (size_t k = 0; k < one.n; k++) {
			const char *l[] = { "printer", name, "state", one.name[k], NULL };

			sample(f, NS "printer_driver_state", l, one.count[k] ? "1" : "0");
		}
	}
	family(f, NS "printer_can_print", "gauge", "1 when a redirected host "
	    "printer is not stopped, accepts jobs and has no reason a user is to "
	    "see (offline-report, media-empty-error...), else 0 (not in "
	    "--summary).");
	for (size_t i = 0; counts == NULL && i < n; i++) {
		json_object *c, *reasons;
		int ok;

		p = json_object_array_get_idx(ps, i);
		if (!jget_bool(p, "redirected", 0) || (name = jget_str(p, "name")) == NULL ||
		    (c = jget_obj(p, "condition")) == NULL)
			continue;
		reasons = jget_arr(c, "reasons");
		ok = jget_str(c, "state") != NULL && strcmp(jget_str(c, "state"), "stopped") != 0 &&
		    jget_bool(c, "accepting", 0) &&
		    (reasons == NULL || json_object_array_length(reasons) == 0);
		sample(f, NS "printer_can_print", (const char *[]){ "printer", name, NULL },
		    ok ? "1" : "0");
	}
	family(f, NS "last_change_timestamp_seconds", "gauge", "When the broker "
	    "last sent guests a new printer set (Unix time).");
	if (get_number(b, "last_change_at", &d))
		sample(f, NS "last_change_timestamp_seconds", NULL,
		    num_i(v, sizeof(v), (int64_t)d));
	family(f, NS "last_change_latency_seconds", "gauge", "Seconds from the "
	    "broker noticing the host's last change to sending it to guests.");
	if (get_number(b, "last_change_latency", &d))
		sample(f, NS "last_change_latency_seconds", NULL,
		    num_seconds(v, sizeof(v), d));
}

/* The per-guest families: each one's samples for guest g, of id id. */
typedef void guest_fn(json_object *g, const char *id, FILE *f);

/* name{guest="id"} value, or name{guest="id",state="state"} value. */
static void
guest_sample(FILE *f, const char *name, const char *id, const char *state,
    const char *value)
{
	const char *l[] = { "guest", id, state != NULL ? "state" : NULL, state,
	    NULL };

	sample(f, name, l, value);
}

static void
guest_connected(json_object *g, const char *id, FILE *f)
{
	guest_sample(f, NS "guest_connected", id, NULL,
	    jget_bool(g, "connected", 0) == 1 ? "1" : "0");
}

static void
guest_last_seen(json_object *g, const char *id, FILE *f)
{
	int64_t t;
	char v[32];

	if (jget_i64(g, "last_seen", &t) && t > 0)
		guest_sample(f, NS "guest_last_seen_timestamp_seconds", id, NULL,
		    num_i(v, sizeof(v), t));
}

static void
guest_generation(json_object *g, const char *id, FILE *f)
{
	uint64_t u;
	char v[32];

	if (jget_u64(g, "generation", &u))
		guest_sample(f, NS "guest_generation", id, NULL, num_u(v, sizeof(v), u));
}

/* Its printers by the state its agent reported, from a full document's
 * list or a summary's counts. */
static void
guest_printers(json_object *g, const char *id, FILE *f)
{
	json_object *counts = jget_obj(g, "printer_counts"), *ps;
	const char *st;
	struct states s;
	char v[32];
	size_t n;

	states_init(&s, &printredir__printer_state__descriptor,
	    codec_printer_state_name);
	if (counts != NULL) {
		json_object_object_foreach(counts, key, val)
			if (json_object_is_type(val, json_type_int))
				states_add(&s, key, json_object_get_int64(val));
	} else {
		ps = array_at(g, "printers", &n);
		for (size_t i = 0; i < n; i++)
			if ((st = jget_str(json_object_array_get_idx(ps, i),
			    "state")) != NULL)
				states_add(&s, st, 1);
	}
	for (size_t i = 0; i < s.n; i++)
		guest_sample(f, NS "guest_printers", id, s.name[i],
		    num_i(v, sizeof(v), s.count[i]));
}

static void
guest_latency(json_object *g, const char *id, FILE *f)
{
	double d;
	char v[32];

	if (get_number(g, "last_change_latency", &d))
		guest_sample(f, NS "guest_last_change_latency_seconds", id, NULL,
		    num_seconds(v, sizeof(v), d));
}

static void
guest_restart(json_object *g, const char *id, FILE *f)
{
	const char *phase = jget_str(g, "restart");
	struct states s;

	if (phase == NULL)
		return;
	states_init(&s, &printredir__restart_phase__descriptor,
	    codec_restart_phase_name);
	states_add(&s, phase, 1);
	for (size_t i = 0; i < s.n; i++)
		guest_sample(f, NS "guest_restart_state", id, s.name[i],
		    s.count[i] ? "1" : "0");
}

static void
guest_deferrals(json_object *g, const char *id, FILE *f)
{
	uint64_t u;
	char v[32];

	if (jget_u64(g, "deferrals", &u))
		guest_sample(f, NS "guest_restart_deferrals", id, NULL, num_u(v, sizeof(v), u));
}

/* Only while a deadline holds: restart_until outlives its restart. */
static void
guest_deadline(json_object *g, const char *id, FILE *f)
{
	const char *phase = jget_str(g, "restart");
	int64_t t;
	char v[32];

	if (phase != NULL && (strcmp(phase, "deferred") == 0 ||
	    strcmp(phase, "forced") == 0) && jget_i64(g, "restart_until", &t) &&
	    t > 0)
		guest_sample(f, NS "guest_restart_deadline_timestamp_seconds", id, NULL,
		    num_i(v, sizeof(v), t));
}

static void
guest_sent_bytes(json_object *g, const char *id, FILE *f)
{
	uint64_t u;
	char v[32];

	if (jget_u64(g, "bytes_sent", &u))
		guest_sample(f, NS "guest_sent_bytes_total", id, NULL, num_u(v, sizeof(v), u));
}

static void
guest_driver_bytes(json_object *g, const char *id, FILE *f)
{
	uint64_t u;
	char v[32];

	if (jget_u64(g, "driver_bytes_sent", &u))
		guest_sample(f, NS "guest_driver_sent_bytes_total", id, NULL,
		    num_u(v, sizeof(v), u));
}

/* A counter of the guest's "jobs" object. */
static void
job_counter(json_object *g, const char *id, const char *key, const char *name,
    FILE *f)
{
	uint64_t u;
	char v[32];

	if (jget_u64(jget_obj(g, "jobs"), key, &u))
		guest_sample(f, name, id, NULL, num_u(v, sizeof(v), u));
}

static void
jobs_forwarded(json_object *g, const char *id, FILE *f)
{
	job_counter(g, id, "accepted", NS "jobs_forwarded_total", f);
}

static void
jobs_retried(json_object *g, const char *id, FILE *f)
{
	job_counter(g, id, "retried", NS "jobs_retried_total", f);
}

static void
jobs_failed(json_object *g, const char *id, FILE *f)
{
	job_counter(g, id, "refused", NS "jobs_failed_total", f);
}

static void
job_bytes(json_object *g, const char *id, FILE *f)
{
	job_counter(g, id, "bytes", NS "job_bytes_total", f);
}

struct guest_family {
	const char *name, *type, *help;
	guest_fn *fn;
};

static const struct guest_family guest_families[] = {
	{ NS "guest_connected", "gauge", "1 when the guest's agent is connected, "
	  "0 when the broker only remembers it.", guest_connected },
	{ NS "guest_last_seen_timestamp_seconds", "gauge", "When the broker last "
	  "heard from the guest (Unix time).", guest_last_seen },
	{ NS "guest_generation", "gauge", "The generation the guest last reported "
	  "on; behind " NS "generation while it installs.", guest_generation },
	{ NS "guest_printers", "gauge", "The guest's printers by the state its "
	  "agent reported (installed, driver-missing, failed...).",
	  guest_printers },
	{ NS "guest_last_change_latency_seconds", "gauge", "Seconds from the "
	  "broker sending the guest a new printer set to its agent reporting it "
	  "applied.", guest_latency },
	{ NS "guest_restart_state", "gauge", "1 for the state of the guest's "
	  "workspace restart, 0 for the other states.", guest_restart },
	{ NS "guest_restart_deferrals", "gauge", "Times the guest's user put off "
	  "the pending restart.", guest_deferrals },
	{ NS "guest_restart_deadline_timestamp_seconds", "gauge", "When a "
	  "deferred or forced restart is due (Unix time).", guest_deadline },
	{ NS "guest_sent_bytes_total", "counter", "Bytes the broker wrote to the "
	  "guest's connections (every frame whole: handshake, printer sets, "
	  "heartbeats), since the broker started.", guest_sent_bytes },
	{ NS "guest_driver_sent_bytes_total", "counter", "Compressed driver bytes "
	  "in the printer sets sent to the guest (part of "
	  NS "guest_sent_bytes_total), since the broker started.",
	  guest_driver_bytes },
};

/* After jobs_in_flight, which counts the document's jobs. */
static const struct guest_family job_families[] = {
	{ NS "jobs_forwarded_total", "counter", "Jobs of the guest the host's "
	  "CUPS took, since the broker started.", jobs_forwarded },
	{ NS "jobs_retried_total", "counter", "Jobs of the guest sent back to "
	  "wait in the guest (host queue stopped, CUPS away), since the broker "
	  "started.", jobs_retried },
	{ NS "jobs_failed_total", "counter", "Jobs of the guest refused for "
	  "good, since the broker started.", jobs_failed },
	{ NS "job_bytes_total", "counter", "Document bytes of the guest's jobs "
	  "received, since the broker started.", job_bytes },
};

#define NFAMILIES(a) (sizeof(a) / sizeof((a)[0]))

static void
render_families(const struct guest_family *fams, size_t nfams, json_object *gs,
    size_t ng, FILE *f)
{
	json_object *g;
	const char *id;

	for (size_t k = 0; k < nfams; k++) {
		family(f, fams[k].name, fams[k].type, fams[k].help);
		for (size_t i = 0; i < ng; i++) {
			g = json_object_array_get_idx(gs, i);
			if ((id = jget_str(g, "id")) != NULL)
				fams[k].fn(g, id, f);
		}
	}
}

/* The jobs in flight of each guest, and of a guest the list lacks (one
 * forgotten while its job ends). */
static void
render_in_flight(json_object *doc, json_object *gs, size_t ng, FILE *f)
{
	json_object *js;
	const char *id, *other;
	size_t nj;
	char v[32];
	int64_t k;

	family(f, NS "jobs_in_flight", "gauge", "The guest's print jobs the "
	    "broker is printing on the host now.");
	js = array_at(doc, "jobs", &nj);
	for (size_t i = 0; i < ng + nj; i++) {
		if (i < ng)
			id = jget_str(json_object_array_get_idx(gs, i), "id");
		else
			id = jget_str(json_object_array_get_idx(js, i - ng), "guest");
		/* Each id once (the guests' are distinct already). */
		for (size_t j = 0; i >= ng && id != NULL && j < i; j++) {
			other = j < ng ? jget_str(json_object_array_get_idx(gs, j), "id") :
			    jget_str(json_object_array_get_idx(js, j - ng), "guest");
			if (other != NULL && strcmp(other, id) == 0)
				id = NULL;
		}
		if (id == NULL)
			continue;
		k = 0;
		for (size_t j = 0; j < nj; j++) {
			other = jget_str(json_object_array_get_idx(js, j), "guest");
			k += other != NULL && strcmp(other, id) == 0;
		}
		guest_sample(f, NS "jobs_in_flight", id, NULL, num_i(v, sizeof(v), k));
	}
}

static void
render_guests(json_object *doc, FILE *f)
{
	json_object *gs;
	size_t ng;
	int64_t connected = 0;
	char v[32];

	gs = array_at(doc, "guests", &ng);
	for (size_t i = 0; i < ng; i++)
		connected += jget_bool(json_object_array_get_idx(gs, i),
		    "connected", 0) == 1;
	family(f, NS "guests_connected", "gauge", "Guests whose agent is "
	    "connected now.");
	sample(f, NS "guests_connected", NULL, num_i(v, sizeof(v), connected));
	render_families(guest_families, NFAMILIES(guest_families), gs, ng, f);
	render_in_flight(doc, gs, ng, f);
	render_families(job_families, NFAMILIES(job_families), gs, ng, f);
}

int
metrics_render(struct json_object *doc, FILE *out)
{
	json_object *b = jget_obj(doc, "broker");

	if (b == NULL)
		return -EINVAL;
	render_host(doc, b, out);
	render_guests(doc, out);
	return ferror(out) ? -EIO : 0;
}

/* --- the textfile ------------------------------------------------------------ */

struct metrics {
	uv_timer_t timer;
	struct broker *b;
	char *path;		/* the file written */
	int written;		/* path holds our last write */
	int failing;		/* the last write failed, and said so */
	char *text;		/* the rendering at status_rev rev */
	size_t len;
	uint64_t rev;
};

static void
metrics_closed(uv_handle_t *h)
{
	struct metrics *m = h->data;

	free(m->path);
	free(m->text);
	free(m);
}

/* The rendering of the status now, kept until the status moves. */
static int
render_now(struct metrics *m)
{
	struct json_object *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc = -ENOMEM;

	guests_note_bytes(m->b);
	if (m->text != NULL && m->rev == m->b->status_rev)
		return 0;
	if ((doc = control_metrics_doc(m->b)) == NULL ||
	    (f = open_memstream(&text, &len)) == NULL)
		goto out;
	rc = metrics_render(doc, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	f = NULL;
	if (rc != 0)
		goto out;
	free(m->text);
	m->text = text;
	m->len = len;
	m->rev = m->b->status_rev;
	text = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	json_object_put(doc);
	return rc;
}

static void
on_tick(uv_timer_t *t)
{
	struct metrics *m = t->data;
	struct broker *b = m->b;
	int rc;

	/* Before the watcher's first look, every host figure would read 0. */
	if (!b->have_snapshot && b->current.error == NULL)
		return;
	if ((rc = render_now(m)) == 0)
		rc = statefile_write(m->path, m->text, m->len, 0644);
	if (rc != 0) {
		if (!m->failing)
			log_warnx("metrics: cannot write %s: %s (does its folder "
			    "exist, writable by the broker?); trying again every "
			    "%lld s", m->path, strerror(-rc), b->conf.metrics_interval);
		m->failing = 1;
	} else {
		if (m->failing)
			log_info("metrics: writing %s again", m->path);
		m->failing = 0;
		m->written = 1;
	}
	uv_timer_set_repeat(t, (uint64_t)b->conf.metrics_interval * 1000);
}

static void
remove_textfile(struct metrics *m)
{
	if (m->written && unlink(m->path) != 0 && errno != ENOENT)
		log_warn("metrics: cannot remove %s", m->path);
	m->written = 0;
}

int
metrics_start(struct broker *b)
{
	struct metrics *m;

	if (b->metrics != NULL || b->conf.metrics_textfile == NULL ||
	    b->conf.metrics_textfile[0] == '\0')
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(b->conf.metrics_textfile)) == NULL) {
		free(m);
		log_warnx("metrics: out of memory");
		return -ENOMEM;
	}
	m->b = b;
	uv_timer_init(b->loop, &m->timer);	/* cannot fail */
	m->timer.data = m;
	uv_timer_start(&m->timer, on_tick, 0, FIRST_WRITE_POLL_MS);
	b->metrics = m;
	log_debug("metrics: writing %s every %lld s", m->path,
	    b->conf.metrics_interval);
	return 0;
}

void
metrics_stop(struct broker *b)
{
	struct metrics *m = b->metrics;

	if (m == NULL)
		return;
	remove_textfile(m);
	uv_close((uv_handle_t *)&m->timer, metrics_closed);
	b->metrics = NULL;
}

void
metrics_reload(struct broker *b)
{
	struct metrics *m = b->metrics;
	const char *path = b->conf.metrics_textfile;
	char *copy;

	if (m != NULL && (path == NULL || strcmp(path, m->path) != 0)) {
		if (path == NULL || *path == '\0') {
			metrics_stop(b);
			return;
		}
		if ((copy = strdup(path)) == NULL) {
			log_warnx("metrics: out of memory; writing %s still",
			    m->path);
			return;
		}
		remove_textfile(m);
		free(m->path);
		m->path = copy;
		m->failing = 0;
	}
	if (m == NULL) {
		(void)metrics_start(b);
		return;
	}
	/* The new interval from now, and the new file at once. */
	uv_timer_start(&m->timer, on_tick, 0, FIRST_WRITE_POLL_MS);
}
