/*
 * Guests: every agent connection, from the handshake to the last report.
 * A guest is known by the id it proves in the handshake; its reports and
 * restart state outlive the connection (state_dir/guests.json) so that
 * `host-broker status` shows the last known state after a broker restart.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "broker.h"
#include "jsonget.h"
#include "log.h"
#include "peer.h"
#include "statefile.h"

#define MAX_CONNECTIONS 1024
/* Connections that have not proved a key yet have their own small budget
 * and a short deadline: when it is full the oldest is dropped, so a flood
 * of idle keyless connections holds a real agent back by seconds at most. */
#define PREAUTH_MAX 64
#define PREAUTH_DEADLINE_MS 5000
#define CHANNEL_DEADLINE_MS (24 * 3600 * 1000)	/* a VM may take its time */
#define GUESTS_FILE_MAX (64 << 20)
/* Guest records kept, connected or not: past it, the one seen longest ago
 * and not connected is forgotten first (MAX_CONNECTIONS are connected at
 * most, so there is always one). */
#define GUESTS_MAX 2048
/* The detail of a printer report is kept up to this many bytes. */
#define REPORT_DETAIL_MAX 512
/* guests.json is written at most this often: reports of many guests at
 * once are one write. */
#define SAVE_DELAY_MS 1000

struct guest_printer {
	char *name;
	int state;			/* Printredir__PrinterState */
	char *detail;
	/* What its guest queue shows, when not idle and accepting without a
	 * reason (not kept in guests.json: the next report says it again). */
	int stopped, rejecting;
	char *reasons;			/* space-separated; NULL none */
	char *message;
};

struct guest {
	struct guest *next;
	char *id;
	struct peer *peer;		/* NULL while disconnected */
	time_t last_seen;
	uint64_t generation;		/* last generation it reported on */
	uint64_t sent;			/* last generation sent to it */
	int restart;			/* Printredir__RestartPhase */
	uint32_t deferrals;
	int64_t restart_until;
	char *restart_detail;
	char *default_printer;		/* the guest's default queue, as reported */
	char *default_detail;		/* whose choice it is */
	int dry_run;			/* its agent runs --dry-run */
	struct guest_printer *printers;
	size_t nprinters;
	uint8_t (*hashes)[HASH_LEN];	/* drivers it holds, as far as we know */
	size_t nhashes;
	int inventoried;		/* its DriverInventory is complete */
	struct job_stats jobs;		/* since the broker started */
	/* What the broker wrote to it since the broker started: */
	uint64_t bytes_closed;		/* bytes to its connections now closed */
	uint64_t driver_bytes;		/* compressed driver bytes of the sets */
	uint64_t sent_at;		/* uv_hrtime() a generation new to it
					 * was sent; 0 once it reported on it */
	double change_latency;		/* seconds from then to its report on
					 * it; < 0 unknown (since the broker
					 * started) */
};

static int nconnections;
static uint64_t bytes_seen;	/* guests_note_bytes: the last total */
static struct peer *pending[PREAUTH_MAX];	/* oldest first */
static int npending;

static void
pending_remove(const struct peer *p)
{
	for (int i = 0; i < npending; i++)
		if (pending[i] == p) {
			memmove(&pending[i], &pending[i + 1],
			    (size_t)(npending - i - 1) * sizeof(pending[0]));
			npending--;
			return;
		}
}

#define FORGET_CHECK_MS (3600 * 1000)	/* how often stale guests are looked for */

static void
guest_printers_free(struct guest *g)
{
	for (size_t i = 0; i < g->nprinters; i++) {
		free(g->printers[i].name);
		free(g->printers[i].detail);
		free(g->printers[i].reasons);
		free(g->printers[i].message);
	}
	free(g->printers);
	g->printers = NULL;
	g->nprinters = 0;
}

static void
guest_free(struct guest *g)
{
	guest_printers_free(g);
	free(g->id);
	free(g->restart_detail);
	free(g->default_printer);
	free(g->default_detail);
	free(g->hashes);
	free(g);
}

static struct guest *
guest_find(struct broker *b, const char *id)
{
	for (struct guest *g = b->guests; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static struct guest *
guest_of(struct broker *b, const struct peer *p)
{
	for (struct guest *g = b->guests; g; g = g->next)
		if (g->peer == p)
			return g;
	return NULL;
}

/* Makes room for one more record: forgets the guest seen longest ago
 * among those not connected, once GUESTS_MAX are kept. */
static void
guest_make_room(struct broker *b)
{
	struct guest **pp, **oldest = NULL;
	size_t n = 0;

	for (pp = &b->guests; *pp; pp = &(*pp)->next) {
		n++;
		if ((*pp)->peer == NULL &&
		    (oldest == NULL || (*pp)->last_seen < (*oldest)->last_seen))
			oldest = pp;
	}
	if (n < GUESTS_MAX || oldest == NULL)
		return;
	struct guest *g = *oldest;

	log_info("guest %s forgotten: %d guests are known, the most kept", g->id,
	    GUESTS_MAX);
	b->status_rev++;
	*oldest = g->next;
	guest_free(g);
}

static struct guest *
guest_add(struct broker *b, const char *id)
{
	struct guest *g;

	guest_make_room(b);
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->id = strdup(id)) == NULL) {
		free(g);
		return NULL;
	}
	g->restart = PRINTREDIR__RESTART_PHASE__RESTART_NONE;
	g->change_latency = -1;
	g->next = b->guests;
	b->guests = g;
	return g;
}

/* --- persistence -------------------------------------------------------- */

/*
 * guests.json: an array of one object per guest.  Each guest's object is
 * made and written on its own, so that memory holds one guest's printers
 * as json-c objects at a time, not every guest's (100 guests with 200
 * printers each made a 13 MB tree for a 2 MB file).
 */
static void
save(struct broker *b)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (f == NULL) {
		log_warnx("cannot save the guests' state: out of memory");
		return;
	}
	fputs("[", f);
	for (struct guest *g = b->guests; g; g = g->next) {
		json_object *o = json_object_new_object(), *ps = json_object_new_array();

		json_object_object_add(o, "id", json_object_new_string(g->id));
		json_object_object_add(o, "last_seen", json_object_new_int64(g->last_seen));
		json_object_object_add(o, "generation", json_object_new_uint64(g->generation));
		json_object_object_add(o, "restart", json_object_new_int(g->restart));
		json_object_object_add(o, "deferrals", json_object_new_int64(g->deferrals));
		json_object_object_add(o, "restart_until",
		    json_object_new_int64(g->restart_until));
		if (g->restart_detail)
			json_object_object_add(o, "restart_detail",
			    json_object_new_string(g->restart_detail));
		if (g->dry_run)
			json_object_object_add(o, "dry_run", json_object_new_boolean(1));
		for (size_t i = 0; i < g->nprinters; i++) {
			json_object *p = json_object_new_object();

			json_object_object_add(p, "name",
			    json_object_new_string(g->printers[i].name));
			json_object_object_add(p, "state",
			    json_object_new_int(g->printers[i].state));
			json_object_object_add(p, "detail", json_object_new_string(
			    g->printers[i].detail ? g->printers[i].detail : ""));
			json_object_array_add(ps, p);
		}
		json_object_object_add(o, "printers", ps);
		fprintf(f, "%s\n  %s", g == b->guests ? "" : ",",
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED));
		json_object_put(o);
	}
	fputs("\n]\n", f);
	if (fclose(f) != 0 || text == NULL) {
		log_warnx("cannot save the guests' state: out of memory");
		free(text);
		return;
	}
	snprintf(path, sizeof(path), "%s/guests.json", b->conf.state_dir);
	if ((rc = statefile_write(path, text, len, 0600)) != 0)
		log_warnx("cannot write %s: %s", path, strerror(-rc));
	free(text);
	b->guests_dirty = 0;
}

static void
on_save_timer(uv_timer_t *t)
{
	struct broker *b = t->data;

	if (b->guests_dirty)
		save(b);
}

/* Saves within SAVE_DELAY_MS; guests_free saves what is left. */
static void
save_soon(struct broker *b)
{
	b->guests_dirty = 1;
	b->status_rev++;
	if (b->save_timer.loop != NULL && !uv_is_closing((uv_handle_t *)&b->save_timer) &&
	    !uv_is_active((uv_handle_t *)&b->save_timer))
		uv_timer_start(&b->save_timer, on_save_timer, SAVE_DELAY_MS, 0);
}

/*
 * Why guest entry o of guests.json cannot be used, or NULL when it can:
 * then g holds what it says except its printers.  Every member but
 * restart_detail is always written.
 */
static const char *
guest_entry_check(json_object *o, struct guest *g, const char **id,
    json_object **printers)
{
	int64_t restart, deferrals;

	if (!json_object_is_type(o, json_type_object))
		return "it is not an object";
	if ((*id = jget_str(o, "id")) == NULL)
		return "\"id\" is missing, null or not a string";
	if (!jget_i64(o, "last_seen", &g->last_seen))
		return "\"last_seen\" is missing, null or not an integer";
	if (!jget_u64(o, "generation", &g->generation))
		return "\"generation\" is missing, null, negative or not an integer";
	if (!jget_i64(o, "restart", &restart) || restart < INT_MIN ||
	    restart > INT_MAX)
		return "\"restart\" is missing, null or not a small integer";
	g->restart = (int)restart;
	if (!jget_i64(o, "deferrals", &deferrals) || deferrals < 0 ||
	    deferrals > UINT32_MAX)
		return "\"deferrals\" is missing, null or not a count";
	g->deferrals = (uint32_t)deferrals;
	if (!jget_i64(o, "restart_until", &g->restart_until))
		return "\"restart_until\" is missing, null or not an integer";
	if (jget_str(o, "restart_detail") == NULL &&
	    json_object_object_get_ex(o, "restart_detail", NULL))
		return "\"restart_detail\" is null or not a string";
	if ((*printers = jget_arr(o, "printers")) == NULL)
		return "\"printers\" is missing, null or not an array";
	return NULL;
}

/* The same for one of its printer reports. */
static const char *
guest_printer_check(json_object *o, struct guest_printer *p)
{
	int64_t state;

	if (!json_object_is_type(o, json_type_object))
		return "it is not an object";
	if (jget_str(o, "name") == NULL)
		return "\"name\" is missing, null or not a string";
	if (!jget_i64(o, "state", &state) || state < INT_MIN || state > INT_MAX)
		return "\"state\" is missing, null or not a small integer";
	if (jget_str(o, "detail") == NULL)
		return "\"detail\" is missing, null or not a string";
	p->state = (int)state;
	return NULL;
}

/* Reads guest entry o into a new guest of b; 0, -EINVAL with why in
 * *why (guest ignored), or -ENOMEM.  Bad printer reports are counted in
 * *pignored, the first one's place and reason put in first[]. */
static int
guest_parse(struct broker *b, json_object *o, size_t i, const char **why,
    size_t *pignored, char *first, size_t firstlen)
{
	struct guest tmp = { 0 }, *g;
	json_object *ps = NULL;
	const char *id = NULL, *pwhy;
	size_t np;

	if ((*why = guest_entry_check(o, &tmp, &id, &ps)) != NULL)
		return -EINVAL;
	if (guest_find(b, id) != NULL) {
		*why = "a second entry for the same guest id";
		return -EINVAL;
	}
	if ((g = guest_add(b, id)) == NULL)
		return -ENOMEM;
	g->last_seen = tmp.last_seen;
	g->generation = tmp.generation;
	g->restart = tmp.restart;
	g->deferrals = tmp.deferrals;
	g->restart_until = tmp.restart_until;
	g->dry_run = jget_bool(o, "dry_run", 0);
	if (jget_str(o, "restart_detail") != NULL &&
	    (g->restart_detail = strdup(jget_str(o, "restart_detail"))) == NULL)
		return -ENOMEM;
	np = json_object_array_length(ps);
	if ((g->printers = calloc(np + 1, sizeof(*g->printers))) == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < np; j++) {
		json_object *p = json_object_array_get_idx(ps, j);
		struct guest_printer *gp = &g->printers[g->nprinters];

		if ((pwhy = guest_printer_check(p, gp)) != NULL) {
			if ((*pignored)++ == 0 && first[0] == '\0')
				snprintf(first, firstlen, "guest entry %zu, printer "
				    "%zu: %s", i, j, pwhy);
			continue;
		}
		gp->name = strdup(jget_str(p, "name"));
		gp->detail = strdup(jget_str(p, "detail"));
		g->nprinters++;
		if (gp->name == NULL || gp->detail == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
guests_parse_state(struct broker *b, const char *text, size_t len,
    const char *what)
{
	json_object *arr = NULL;
	const char *why;
	char err[256], first[256] = "";
	size_t total, gignored = 0, pignored = 0;
	int rc = 0;

	if ((arr = jget_parse(text, len, json_type_array, err, sizeof(err))) == NULL) {
		log_warnx("%s ignored: %s; guests start unknown", what, err);
		rc = -EINVAL;
		goto out;
	}
	total = json_object_array_length(arr);
	for (size_t i = 0; i < total; i++) {
		rc = guest_parse(b, json_object_array_get_idx(arr, i), i, &why,
		    &pignored, first, sizeof(first));
		if (rc == -ENOMEM) {
			log_warnx("out of memory reading %s", what);
			goto out;
		}
		if (rc == -EINVAL && gignored++ == 0 && first[0] == '\0')
			snprintf(first, sizeof(first), "guest entry %zu: %s", i, why);
		rc = 0;
	}
	if (gignored > 0 || pignored > 0)
		log_warnx("%s: ignored %zu of %zu guest entries and %zu printer "
		    "reports (first: %s); the rest is kept", what, gignored, total,
		    pignored, first);
out:
	json_object_put(arr);
	return rc;
}

static void
load(struct broker *b)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/guests.json", b->conf.state_dir);
	if ((rc = statefile_read(path, GUESTS_FILE_MAX, &text, &len)) != 0) {
		if (rc != -ENOENT)
			log_warnx("cannot read %s: %s; guests start unknown", path,
			    strerror(-rc));
		return;
	}
	(void)guests_parse_state(b, text, len, path);
	free(text);
}

/* --- sending printer sets --------------------------------------------------- */

static int
holds(const struct guest *g, const uint8_t sha[HASH_LEN])
{
	for (size_t i = 0; i < g->nhashes; i++)
		if (memcmp(g->hashes[i], sha, HASH_LEN) == 0)
			return 1;
	return 0;
}

static void
remember(struct guest *g, const uint8_t sha[HASH_LEN])
{
	uint8_t (*nh)[HASH_LEN];

	if (holds(g, sha))
		return;
	nh = realloc(g->hashes, (g->nhashes + 1) * sizeof(*nh));
	if (nh == NULL)
		return;
	g->hashes = nh;
	memcpy(g->hashes[g->nhashes++], sha, HASH_LEN);
}

/* What a Printer message borrows besides the printer's own strings. */
struct printer_extras {
	Printredir__PrinterCondition cond;
	char *reasons[CODEC_MAX_REASONS];
	Printredir__JobOption *opt, **optp;	/* owned, when it has some */
	Printredir__JobOption *ppd, **ppdp;	/* likewise */
	char *rbuf, *dbuf, *pbuf;	/* owned copies, cut in place */
};

/* "name=value" lines (buf, cut in place) into v/pv: how many, at most max. */
static size_t
encode_lines(char *buf, Printredir__JobOption *v, Printredir__JobOption **pv,
    size_t max)
{
	char *save = NULL, *eq;
	size_t n = 0;

	for (char *tok = strtok_r(buf, "\n", &save); tok && n < max;
	    tok = strtok_r(NULL, "\n", &save)) {
		if ((eq = strchr(tok, '=')) == NULL)
			continue;
		*eq = '\0';
		printredir__job_option__init(&v[n]);
		v[n].name = tok;
		v[n].value = eq + 1;
		pv[n] = &v[n];
		n++;
	}
	return n;
}

/* The condition and defaults of p into o, borrowing x; -ENOMEM. */
static int
encode_extras(const struct printer *p, Printredir__Printer *o,
    struct printer_extras *x)
{
	char *save = NULL, *tok;

	o->has_is_default = p->is_default;
	o->is_default = p->is_default != 0;
	o->has_generic_driver = p->generic;
	o->generic_driver = p->generic != 0;
	if (p->stopped || p->rejecting || (p->reasons && *p->reasons)) {
		printredir__printer_condition__init(&x->cond);
		x->cond.has_stopped = x->cond.stopped = p->stopped != 0;
		x->cond.has_rejecting = x->cond.rejecting = p->rejecting != 0;
		x->cond.message = p->message && *p->message ? p->message : NULL;
		if ((x->rbuf = strdup(p->reasons ? p->reasons : "")) == NULL)
			return -ENOMEM;
		for (tok = strtok_r(x->rbuf, " ", &save); tok &&
		    x->cond.n_reasons < CODEC_MAX_REASONS; tok = strtok_r(NULL, " ", &save))
			x->reasons[x->cond.n_reasons++] = tok;
		x->cond.reasons = x->reasons;
		o->condition = &x->cond;
	}
	if (p->defaults && *p->defaults) {
		if ((x->dbuf = strdup(p->defaults)) == NULL ||
		    (x->opt = calloc(CODEC_MAX_DEFAULTS, sizeof(*x->opt))) == NULL ||
		    (x->optp = calloc(CODEC_MAX_DEFAULTS, sizeof(*x->optp))) == NULL)
			return -ENOMEM;
		o->n_defaults = encode_lines(x->dbuf, x->opt, x->optp, CODEC_MAX_DEFAULTS);
		o->defaults = x->optp;
	}
	if (p->ppd_defaults && *p->ppd_defaults) {
		if ((x->pbuf = strdup(p->ppd_defaults)) == NULL ||
		    (x->ppd = calloc(CODEC_MAX_PPD_DEFAULTS, sizeof(*x->ppd))) == NULL ||
		    (x->ppdp = calloc(CODEC_MAX_PPD_DEFAULTS, sizeof(*x->ppdp))) == NULL)
			return -ENOMEM;
		o->n_ppd_defaults = encode_lines(x->pbuf, x->ppd, x->ppdp,
		    CODEC_MAX_PPD_DEFAULTS);
		o->ppd_defaults = x->ppdp;
	}
	return 0;
}

static void
send_set(struct broker *b, struct guest *g)
{
	const struct snapshot *s = &b->current;
	codec_env_t env;
	Printredir__PrinterSet set = PRINTREDIR__PRINTER_SET__INIT;
	Printredir__Printer *pv = NULL, **pp = NULL;
	Printredir__Driver *dv = NULL, **dp = NULL;
	struct printer_extras *xv = NULL;
	size_t np = 0, nd = 0;
	int rc;

	if (!b->have_snapshot || g->peer == NULL || !peer_is_ready(g->peer) ||
	    !g->inventoried)
		return;
	pv = calloc(s->n + 1, sizeof(*pv));
	pp = calloc(s->n + 1, sizeof(*pp));
	dv = calloc(s->ndrivers + 1, sizeof(*dv));
	dp = calloc(s->ndrivers + 1, sizeof(*dp));
	xv = calloc(s->n + 1, sizeof(*xv));
	if (!pv || !pp || !dv || !dp || !xv)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		const struct printer *p = &s->printers[i];
		Printredir__Printer *o = &pv[np];

		if (!p->redirected)
			continue;
		printredir__printer__init(o);
		o->name = p->name;
		o->make_model = p->make_model;
		o->info = p->info;
		o->location = p->location;
		o->host_device_uri = p->device_uri;
		o->detail = p->detail;
		o->has_driver_state = 1;
		o->driver_state = p->driver;
		if (encode_extras(p, o, &xv[np]) != 0)
			goto out;
		if (p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE) {
			const struct driver *d = drivers_find(s, p->sha);

			o->has_driver_sha256 = 1;
			o->driver_sha256.data = (uint8_t *)p->sha;
			o->driver_sha256.len = HASH_LEN;
			if (d && !holds(g, d->sha)) {
				int dup = 0;

				for (size_t k = 0; k < nd; k++)
					dup |= dv[k].sha256.data == d->sha;
				if (!dup) {
					printredir__driver__init(&dv[nd]);
					dv[nd].has_sha256 = 1;
					dv[nd].sha256.data = (uint8_t *)d->sha;
					dv[nd].sha256.len = HASH_LEN;
					dv[nd].has_compression = 1;
					dv[nd].compression = PRINTREDIR__COMPRESSION__COMPRESSION_ZLIB;
					dv[nd].has_size = 1;
					dv[nd].size = d->size;
					dv[nd].has_data = 1;
					dv[nd].data.data = d->z;
					dv[nd].data.len = d->zlen;
					dp[nd] = &dv[nd];
					nd++;
				}
			}
		}
		pp[np] = o;
		np++;
	}
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET);
	env.printer_set = &set;
	set.has_generation = 1;
	set.generation = b->generation;
	set.n_printers = np;
	set.printers = pp;
	set.n_drivers = nd;
	set.drivers = dp;
	rc = peer_send(g->peer, &env);
	if (rc == 0) {
		/* The agent keeps the drivers of its last set and collects the
		 * rest: after this set it holds what this set uses. */
		struct guest kept = { 0 };

		for (size_t k = 0; k < nd; k++)
			g->driver_bytes += dv[k].data.len;
		b->status_rev++;

		/* A set it has applied already (a reconnection) is no change. */
		if (b->generation > g->generation)
			g->sent_at = uv_hrtime();
		g->sent = b->generation;
		for (size_t k = 0; k < np; k++)
			if (pp[k]->has_driver_sha256 &&
			    (holds(g, pp[k]->driver_sha256.data) ||
			    drivers_find(s, pp[k]->driver_sha256.data)))
				remember(&kept, pp[k]->driver_sha256.data);
		free(g->hashes);
		g->hashes = kept.hashes;
		g->nhashes = kept.nhashes;
		log_info("guest %s: sent generation %llu (%zu printers, %zu drivers)",
		    g->id, (unsigned long long)b->generation, np, nd);
	} else {
		log_warnx("guest %s: cannot send generation %llu: %s", g->id,
		    (unsigned long long)b->generation, strerror(-rc));
	}
out:
	for (size_t i = 0; xv && i < s->n; i++) {
		free(xv[i].rbuf);
		free(xv[i].dbuf);
		free(xv[i].pbuf);
		free(xv[i].opt);
		free(xv[i].optp);
		free(xv[i].ppd);
		free(xv[i].ppdp);
	}
	free(xv);
	free(pv);
	free(pp);
	free(dv);
	free(dp);
}

void
guests_publish(struct broker *b)
{
	for (struct guest *g = b->guests; g; g = g->next)
		if (g->peer)
			send_set(b, g);
}

/* --- peer callbacks ------------------------------------------------------------ */

static void
on_ready(struct peer *p, void *data)
{
	struct broker *b = data;
	struct guest *g;
	char msg[256];

	pending_remove(p);
	if (!broker_guest_allowed(&b->conf, peer_id(p))) {
		/* Before any record: an unknown id leaves no trace in status. */
		snprintf(msg, sizeof(msg), "guest \"%s\" is not allowed on this host "
		    "([guests] allow)", peer_id(p));
		log_warnx("%s: %s", peer_name(p), msg);
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED, msg);
		return;
	}
	if ((g = guest_find(b, peer_id(p))) == NULL &&
	    (g = guest_add(b, peer_id(p))) == NULL) {
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_INTERNAL, "out of memory");
		return;
	}
	if (g->peer != NULL) {
		log_warnx("guest %s connected again; dropping its older connection",
		    g->id);
		struct peer *old = g->peer;

		/* Its closing Error frame is not counted: the guest is
		 * this connection's from now on. */
		g->bytes_closed += peer_bytes_sent(old);
		g->peer = NULL;
		peer_close(old, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
		    "replaced by a newer connection of the same guest");
	}
	g->peer = p;
	g->last_seen = time(NULL);
	/* What it already holds is never sent again: its first set waits for
	 * its driver inventory. */
	free(g->hashes);
	g->hashes = NULL;
	g->nhashes = 0;
	g->inventoried = 0;
	log_info("guest %s connected (%s)", g->id, peer_name(p));
	save_soon(b);
}

static void
on_inventory(struct broker *b, struct guest *g, const Printredir__DriverInventory *d)
{
	if (g->inventoried) {
		peer_close(g->peer, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "a driver inventory after its last page");
		return;
	}
	/* Past as many drivers as a set may carry, it is sent them again:
	 * an agent can always connect, whatever its cache holds. */
	for (size_t i = 0; i < d->n_hashes && g->nhashes < CODEC_MAX_DRIVERS; i++)
		remember(g, d->hashes[i].data);
	if (!d->has_last || !d->last)
		return;
	g->inventoried = 1;
	log_info("guest %s holds %zu drivers", g->id, g->nhashes);
	send_set(b, g);
}

static int
by_printer_name(const void *key, const void *p)
{
	return strcmp(key, ((const struct printer *)p)->name);
}

/* 1 when name is a printer the broker offers now (current is sorted by
 * name: a report names every printer, and 100 guests report at once). */
static int
offered(const struct broker *b, const char *name)
{
	const struct printer *p = bsearch(name, b->current.printers, b->current.n,
	    sizeof(*p), by_printer_name);

	return p != NULL && p->redirected;
}

/* What g's last report said of name, or NULL; reports name the printers in
 * the same order each time, so hint (the index in this one) is tried first. */
static const struct guest_printer *
reported(const struct guest *g, const char *name, size_t hint)
{
	if (hint < g->nprinters && strcmp(g->printers[hint].name, name) == 0)
		return &g->printers[hint];
	for (size_t i = 0; i < g->nprinters; i++)
		if (strcmp(g->printers[i].name, name) == 0)
			return &g->printers[i];
	return NULL;
}

/* A copy of s cut to at most max bytes, at a character boundary. */
static char *
dup_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

/*
 * Keeps what a report says of the printers the broker offers, and of those
 * it reported before and now says removed: a report is bounded by the
 * host's set, whatever names the agent sends.
 */
static void
on_report(struct broker *b, struct guest *g, const Printredir__InstallReport *r)
{
	struct guest_printer *np;
	size_t n = 0, ignored = 0;

	if (r->generation > b->generation) {
		log_warnx("guest %s: a report on generation %llu, which this broker "
		    "never made (it is at %llu); ignored", g->id,
		    (unsigned long long)r->generation,
		    (unsigned long long)b->generation);
		return;
	}
	np = calloc(r->n_printers + 1, sizeof(*np));
	if (np == NULL)
		return;
	for (size_t i = 0; i < r->n_printers; i++) {
		const Printredir__PrinterReport *pr = r->printers[i];
		const struct guest_printer *was = reported(g, pr->name, n);

		if (!offered(b, pr->name) && !(pr->state ==
		    PRINTREDIR__PRINTER_STATE__PRINTER_REMOVED && was != NULL)) {
			ignored++;
			continue;
		}
		np[n].name = strdup(pr->name);
		np[n].state = pr->state;
		np[n].detail = dup_cut(pr->detail ? pr->detail : "", REPORT_DETAIL_MAX);
		if (np[n].name == NULL || np[n].detail == NULL) {
			free(np[n].name);
			free(np[n].detail);
			break;
		}
		if (pr->condition != NULL) {
			const Printredir__PrinterCondition *c = pr->condition;
			size_t len = 1;

			np[n].stopped = c->stopped;
			np[n].rejecting = c->rejecting;
			for (size_t k = 0; k < c->n_reasons; k++)
				len += strlen(c->reasons[k]) + 1;
			if (c->n_reasons > 0 && (np[n].reasons = calloc(1, len)) != NULL)
				for (size_t k = 0; k < c->n_reasons; k++)
					strcat(strcat(np[n].reasons, k ? " " : ""), c->reasons[k]);
			if (c->message && *c->message)
				np[n].message = dup_cut(c->message, REPORT_DETAIL_MAX);
		}
		/* Logged when it changed: every report names every printer. */
		if (was == NULL || was->state != np[n].state ||
		    strcmp(was->detail ? was->detail : "", np[n].detail) != 0)
			log_info("guest %s: %s %s%s%s", g->id, np[n].name,
			    codec_printer_state_name(np[n].state),
			    *np[n].detail ? ": " : "", np[n].detail);
		n++;
	}
	if (ignored > 0)
		log_warnx("guest %s: its report names %zu printer%s this broker does "
		    "not offer; ignored", g->id, ignored, ignored == 1 ? "" : "s");
	guest_printers_free(g);
	g->printers = np;
	g->nprinters = n;
	g->generation = r->generation;
	free(g->default_printer);
	free(g->default_detail);
	g->default_printer = r->default_printer && *r->default_printer ?
	    strdup(r->default_printer) : NULL;
	g->default_detail = r->default_detail && *r->default_detail ?
	    dup_cut(r->default_detail, REPORT_DETAIL_MAX) : NULL;
	g->dry_run = r->dry_run;
	if (g->sent_at != 0 && r->generation == g->sent) {
		g->change_latency = (double)(uv_hrtime() - g->sent_at) / 1e9;
		g->sent_at = 0;
	}
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	struct broker *b = data;
	struct guest *g = guest_of(b, p);

	if (g == NULL)
		goto out;
	g->last_seen = time(NULL);
	b->status_rev++;
	switch (env->type) {
	case PRINTREDIR__MSG_TYPE__MSG_DRIVER_INVENTORY:
		on_inventory(b, g, env->driver_inventory);
		break;
	case PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT:
		on_report(b, g, env->install_report);
		save_soon(b);
		break;
	case PRINTREDIR__MSG_TYPE__MSG_RESTART_STATE:
		g->restart = env->restart_state->phase;
		g->deferrals = env->restart_state->deferrals;
		g->restart_until = env->restart_state->until;
		free(g->restart_detail);
		g->restart_detail = env->restart_state->detail ?
		    strdup(env->restart_state->detail) : NULL;
		log_info("guest %s: restart %s%s%s", g->id,
		    codec_restart_phase_name(g->restart), g->restart_detail ? ": " : "",
		    g->restart_detail ? g->restart_detail : "");
		save_soon(b);
		break;
	case PRINTREDIR__MSG_TYPE__MSG_JOB_START:
	case PRINTREDIR__MSG_TYPE__MSG_JOB_DATA:
		jobs_on_message(b, p, g->id, env);
		break;
	default:
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "message not expected from an agent");
		break;
	}
out:
	codec_free(env);
}

static void
on_close(struct peer *p, const char *reason, void *data)
{
	struct broker *b = data;
	struct guest *g = guest_of(b, p);

	nconnections--;
	pending_remove(p);
	jobs_peer_closed(b, p);
	if (g == NULL) {
		log_info("%s: closed before the handshake completed: %s",
		    peer_name(p), reason);
		return;
	}
	g->bytes_closed += peer_bytes_sent(p);
	g->peer = NULL;
	g->last_seen = time(NULL);
	log_info("guest %s disconnected: %s", g->id, reason);
	save_soon(b);
}

static const struct peer_ops ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};

/* Makes a guest connection of stream (taken in every case).  A channel's
 * connection is one VM's own: it has no pre-handshake budget or deadline,
 * since the agent opens its end when it starts. */
static struct peer *
adopt(struct broker *b, uv_stream_t *client, const char *name, int channel)
{
	struct peer_config cfg = { 0 };
	struct peer *p;

	if (nconnections >= MAX_CONNECTIONS) {
		log_warnx("refusing a guest connection: %d already open",
		    nconnections);
		uv_close((uv_handle_t *)client, (uv_close_cb)free);
		return NULL;
	}
	cfg.auth.role = AUTH_BROKER;
	cfg.auth.key = b->key;
	cfg.auth.keylen = b->keylen;
	cfg.auth.id = b->conf.name;
	cfg.frame_cap = (size_t)b->conf.frame_cap;
	cfg.handshake_ms = channel ? CHANNEL_DEADLINE_MS : PREAUTH_DEADLINE_MS;
	cfg.name = name;
	if (!channel && npending == PREAUTH_MAX) {
		static uint64_t last_said, dropped;
		struct peer *oldest = pending[0];

		/* A flood is said once in a while, not once a connection. */
		dropped++;
		if (last_said == 0 || uv_now(b->loop) - last_said >= 10000) {
			log_warnx("%d connections wait for a handshake: dropped the "
			    "oldest (%llu so far)", PREAUTH_MAX,
			    (unsigned long long)dropped);
			last_said = uv_now(b->loop);
		}
		pending_remove(oldest);
		peer_close(oldest, PRINTREDIR__ERROR_CODE__ERR_TIMEOUT,
		    "too many connections waiting for a handshake");
	}
	nconnections++;
	if ((p = peer_new(client, &cfg, &ops, b)) == NULL)
		nconnections--;
	else if (!channel)
		pending[npending++] = p;
	return p;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct broker *b = server->data;
	uv_stream_t *client;
	char name[ADDR_TEXT_MAX + 16];
	int rc;

	if (status < 0) {
		log_warnx("accepting a guest failed: %s", uv_strerror(status));
		return;
	}
	if ((rc = addr_accept(server, &client, NULL)) < 0) {
		log_warnx("accepting a guest failed: %s", uv_strerror(rc));
		return;
	}
	addr_peer_format(client, &b->conf.listen, name, sizeof(name));
	adopt(b, client, name, 0);
}

struct peer *
guests_adopt_channel(struct broker *b, uv_stream_t *stream, const char *name)
{
	return adopt(b, stream, name, 1);
}

static void
on_forget_timer(uv_timer_t *t)
{
	guests_forget(t->data, time(NULL));
}

int
guests_start(struct broker *b)
{
	char err[512];
	int rc;

	load(b);
	guests_forget(b, time(NULL));
	uv_timer_init(b->loop, &b->forget);
	b->forget.data = b;
	uv_timer_start(&b->forget, on_forget_timer, FORGET_CHECK_MS, FORGET_CHECK_MS);
	uv_timer_init(b->loop, &b->save_timer);
	b->save_timer.data = b;
	rc = addr_listen(b->loop, &b->conf.listen, 0600, 128, on_connection, b,
	    &b->guest_server, err, sizeof(err));
	if (rc != 0)
		log_warnx("cannot listen for guests: %s", err);
	return rc;
}

void
guests_stop(struct broker *b)
{
	struct guest *g;

	if (b->forget.loop && !uv_is_closing((uv_handle_t *)&b->forget))
		uv_close((uv_handle_t *)&b->forget, NULL);
	if (b->save_timer.loop && !uv_is_closing((uv_handle_t *)&b->save_timer))
		uv_close((uv_handle_t *)&b->save_timer, NULL);
	if (b->guest_server) {
		uv_close((uv_handle_t *)b->guest_server, (uv_close_cb)free);
		b->guest_server = NULL;
		addr_unlink(&b->conf.listen);
	}
	for (g = b->guests; g; g = g->next)
		if (g->peer)
			peer_close(g->peer, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
			    "broker is shutting down");
	/* The peers' close callbacks run in the loop's last turns and look
	 * their guests up: the list is freed after that, in guests_free. */
}

void
guests_free(struct broker *b)
{
	/* Nothing known is nothing to save: a start that failed before
	 * guests_start() must not overwrite guests.json with an empty list. */
	if (b->guests != NULL)
		save(b);
	guests_drop(b);
}

void
guests_drop(struct broker *b)
{
	struct guest *g, *next;

	for (g = b->guests; g; g = next) {
		next = g->next;
		guest_free(g);
	}
	b->guests = NULL;
}

void
guests_forget(struct broker *b, time_t now)
{
	struct guest **pp = &b->guests, *g;
	int changed = 0;

	while ((g = *pp) != NULL) {
		if (g->peer == NULL && g->last_seen + b->conf.forget_after < now) {
			log_info("guest %s not seen for %llds: forgotten", g->id,
			    (long long)(now - g->last_seen));
			*pp = g->next;
			guest_free(g);
			changed = 1;
		} else {
			pp = &g->next;
		}
	}
	if (changed) {
		b->status_rev++;
		save(b);
	}
}

void
guests_revoke(struct broker *b)
{
	static const char why[] = "this guest is no longer allowed on this host "
	    "([guests] allow)";

	for (struct guest *g = b->guests; g; g = g->next) {
		if (g->peer == NULL || broker_guest_allowed(&b->conf, g->id))
			continue;
		log_info("guest %s: closing its session: %s", g->id, why);
		peer_close(g->peer, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED, why);
	}
}

struct job_stats *
guests_job_stats(struct broker *b, const char *id)
{
	struct guest *g = guest_find(b, id);

	b->status_rev++;	/* the caller counts a job */
	return g ? &g->jobs : NULL;
}

/* The bytes written to g's connections, the one open included. */
static uint64_t
guest_bytes_sent(const struct guest *g)
{
	return g->bytes_closed + (g->peer ? peer_bytes_sent(g->peer) : 0);
}

void
guests_note_bytes(struct broker *b)
{
	static uint64_t noted_at;
	uint64_t total = 0, now = uv_now(b->loop);

	/* Heartbeats move the totals all the time: the status document, which
	 * a monitor may ask for thousands of times a second, is made again
	 * for them at most once a second. */
	if (now - noted_at < 1000)
		return;
	for (const struct guest *g = b->guests; g; g = g->next)
		total += guest_bytes_sent(g);
	if (total != bytes_seen) {
		bytes_seen = total;
		noted_at = now;
		b->status_rev++;
	}
}

static json_object *
job_stats_json(const struct job_stats *st)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "accepted", json_object_new_uint64(st->accepted));
	json_object_object_add(o, "bytes", json_object_new_uint64(st->bytes));
	json_object_object_add(o, "retried", json_object_new_uint64(st->retried));
	json_object_object_add(o, "refused", json_object_new_uint64(st->refused));
	json_object_object_add(o, "last_error", st->last_error[0] ?
	    json_object_new_string(st->last_error) : NULL);
	json_object_object_add(o, "last_error_at", json_object_new_int64(st->last_error_at));
	return o;
}

/* Seconds to the millisecond, or null when unknown (< 0). */
static json_object *
latency_json(double s)
{
	char text[32];

	if (s < 0)
		return NULL;
	snprintf(text, sizeof(text), "%.3f", s);
	return json_object_new_double_s(s, text);
}

/* One guest's entry of the status document. */
/* Whether gp's detail is the agent's plain "installed, prints to the host
 * queue NAME" (or "updated, ..."), or none. */
static int
plain_installed(const struct guest_printer *gp)
{
	static const char tail[] = ", prints to the host queue ";
	const char *d = gp->detail ? gp->detail : "";
	size_t n = strcspn(d, ",");

	if (*d == '\0')
		return 1;
	return ((n == 9 && strncmp(d, "installed", 9) == 0) ||
	    (n == 7 && strncmp(d, "updated", 7) == 0)) &&
	    strncmp(d + n, tail, sizeof(tail) - 1) == 0 &&
	    strcmp(d + n + sizeof(tail) - 1, gp->name) == 0;
}

static json_object *
guest_status(const struct guest *g, int summary)
{
	json_object *o = json_object_new_object(), *ps = summary ?
	    json_object_new_object() : json_object_new_array();

	if (o == NULL || ps == NULL) {
		json_object_put(o);
		json_object_put(ps);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_string(g->id));
	json_object_object_add(o, "connected",
	    json_object_new_boolean(g->peer != NULL && peer_is_ready(g->peer)));
	json_object_object_add(o, "last_seen", json_object_new_int64(g->last_seen));
	json_object_object_add(o, "generation", json_object_new_uint64(g->generation));
	json_object_object_add(o, "restart", json_object_new_string(
	    codec_restart_phase_name(g->restart)));
	json_object_object_add(o, "restart_detail", g->restart_detail ?
	    json_object_new_string(g->restart_detail) : NULL);
	json_object_object_add(o, "restart_until",
	    json_object_new_int64(g->restart_until));
	json_object_object_add(o, "deferrals", json_object_new_int64(g->deferrals));
	json_object_object_add(o, "last_change_latency",
	    latency_json(g->change_latency));
	json_object_object_add(o, "default_printer", g->default_printer ?
	    json_object_new_string(g->default_printer) : NULL);
	if (g->default_detail)
		json_object_object_add(o, "default_detail",
		    json_object_new_string(g->default_detail));
	json_object_object_add(o, "dry_run", json_object_new_boolean(g->dry_run));
	for (size_t i = 0; i < g->nprinters && summary; i++) {
		const char *state = codec_printer_state_name(g->printers[i].state);
		json_object *n = NULL;

		if (!json_object_object_get_ex(ps, state, &n))
			json_object_object_add(ps, state, json_object_new_int64(1));
		else
			json_object_set_int64(n, json_object_get_int64(n) + 1);
	}
	for (size_t i = 0; i < g->nprinters && !summary; i++) {
		const struct guest_printer *gp = &g->printers[i];
		json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(gp->name));
		json_object_object_add(p, "state", json_object_new_string(
		    codec_printer_state_name(gp->state)));
		/* An installed printer's detail mostly says its state and name
		 * again ("installed, prints to the host queue NAME"): without
		 * it the document of 100 guests of 200 printers is half as
		 * long.  The others' say why, and so does one that says more
		 * ("installed (generic driver)", "; keeps the guest's own").
		 * A dry-run agent's pending printers have none: "dry_run" says
		 * why, once. */
		if (gp->detail != NULL && *gp->detail != '\0' &&
		    (gp->state != PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED ||
		    !plain_installed(gp)))
			json_object_object_add(p, "detail",
			    json_object_new_string(gp->detail));
		/* Likewise its condition, but when it cannot print. */
		if (gp->stopped || gp->rejecting || gp->reasons)
			json_object_object_add(p, "condition", control_condition_doc(
			    gp->stopped, gp->rejecting, gp->reasons, gp->message));
		json_object_array_add(ps, p);
	}
	json_object_object_add(o, summary ? "printer_counts" : "printers", ps);
	json_object_object_add(o, "jobs", job_stats_json(&g->jobs));
	json_object_object_add(o, "bytes_sent",
	    json_object_new_uint64(guest_bytes_sent(g)));
	json_object_object_add(o, "driver_bytes_sent",
	    json_object_new_uint64(g->driver_bytes));
	return o;
}

void
guests_status(struct broker *b, struct json_object *doc, int summary)
{
	json_object *arr = json_object_new_array();

	for (struct guest *g = b->guests; g; g = g->next)
		json_object_array_add(arr, guest_status(g, summary));
	json_object_object_add(doc, "guests", arr);
}

int
guests_status_write(struct broker *b, FILE *f, int summary)
{
	json_object *o;

	fputc('[', f);
	for (struct guest *g = b->guests; g; g = g->next) {
		if ((o = guest_status(g, summary)) == NULL)
			return -ENOMEM;
		fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE), f);
		json_object_put(o);
		if (g->next != NULL)
			fputc(',', f);
	}
	fputc(']', f);
	return ferror(f) ? -ENOMEM : 0;
}
