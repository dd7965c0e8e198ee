/*
 * Install: makes the guest's CUPS match the broker's wish, through libcups
 * IPP requests only (no shell, no lpadmin).  Runs on a worker thread with its
 * own connection; while a pass installs, a preparer thread makes the guest's
 * PPDs ahead of the requests and a second connection keeps cupsd busy
 * (struct pipeline).
 *
 * Ownership: every queue the agent makes carries AGENT_MARK_ATTR, a CUPS
 * "-default" option kept in the guest's printers.conf, whose value records
 * hashes of the device URI, the driver and the make-and-model the agent set:
 *
 *   printredir-guest-agent;u=URIHASH;d=DRIVERHASH;m=MODELHASH
 *
 * A queue without the mark is a person's and is never touched.  A marked
 * queue whose URI or model no longer matches its mark was edited by hand and
 * is left alone, unless a crash of the guest explains it (queue_verdict).
 * Because the mark lives in CUPS, a crash between any two requests loses
 * nothing: the next pass sees what is there and converges.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cups/cups.h>

#include "agent.h"
#include "cupsconn.h"
#include "log.h"
#include "ppd.h"
#include "statefile.h"

#define CONNECT_TIMEOUT_MS 5000
#define MARK_HASH 16		/* hex digits of each hash in the mark */
/* How a report names a driver the broker built (driverless_fallback). */
#define GENERIC(w) ((w)->generic ? " (generic driver)" : "")
/* What the rewrite of a PPD for the guest (ppd_rewrite_pdf) may add. */
#define GUEST_PPD_GROWTH 4096

struct queue {
	char *name;
	char *uri;
	char *make_model;
	char *mark;		/* NULL: not ours */
	int seen;		/* matched a wanted printer */
	/* What tune_queue compares with the host's: */
	int stopped, rejecting;
	char reasons[512];	/* shown ones (cupsconn_reason_shown), space-separated */
	char *message, *info, *location;
	char *defaults;		/* "name=value" lines, the first of each name */
	char *settings;		/* SETTINGS_ATTR: what the agent set last */
};

struct list {
	struct queue *v;
	size_t n;
};

static void
list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].uri);
		free(l->v[i].make_model);
		free(l->v[i].mark);
		free(l->v[i].message);
		free(l->v[i].info);
		free(l->v[i].location);
		free(l->v[i].defaults);
		free(l->v[i].settings);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static char *
attr_dup(ipp_attribute_t *a)
{
	const char *s = a ? ippGetString(a, 0, NULL) : NULL;

	return s ? strdup(s) : NULL;
}

static int default_of(const char *lines, const char *name, size_t nlen, char *out,
    size_t outlen);

/* One attribute of a guest queue that tune_queue looks at, into q. */
static void
read_setting(struct queue *q, ipp_attribute_t *a, const char *n)
{
	char value[CODEC_MAX_VALUE + 1], *nd;
	size_t len, nlen = strlen(n);

	if (!strcmp(n, "printer-state"))
		q->stopped = ippGetInteger(a, 0) == IPP_PSTATE_STOPPED;
	else if (!strcmp(n, "printer-is-accepting-jobs"))
		q->rejecting = !ippGetBoolean(a, 0);
	else if (!strcmp(n, "printer-state-message") && q->message == NULL)
		q->message = attr_dup(a);
	else if (!strcmp(n, "printer-info") && q->info == NULL)
		q->info = attr_dup(a);
	else if (!strcmp(n, "printer-location") && q->location == NULL)
		q->location = attr_dup(a);
	else if (!strcmp(n, SETTINGS_ATTR) && q->settings == NULL)
		q->settings = attr_dup(a);
	else if (!strcmp(n, "printer-state-reasons")) {
		for (int i = 0; i < ippGetCount(a); i++) {
			const char *r = ippGetString(a, i, NULL);

			if (cupsconn_reason_shown(r) &&
			    strlen(q->reasons) + strlen(r) + 2 < sizeof(q->reasons))
				snprintf(q->reasons + strlen(q->reasons),
				    sizeof(q->reasons) - strlen(q->reasons), "%s%s",
				    q->reasons[0] ? " " : "", r);
		}
	} else if (nlen > 8 && nlen - 8 <= CODEC_MAX_KEYWORD &&
	    !strcmp(n + nlen - 8, "-default") &&
	    cupsconn_default_value(a, value, sizeof(value)) == 0 &&
	    !default_of(q->defaults, n, nlen - 8, NULL, 0)) {
		/* cupsd lists a queue's own option before its driver's. */
		len = q->defaults ? strlen(q->defaults) : 0;
		if ((nd = realloc(q->defaults, len + nlen + strlen(value) + 2)) != NULL) {
			snprintf(nd + len, nlen + strlen(value) + 2, "%.*s=%s\n",
			    (int)(nlen - 8), n, value);
			q->defaults = nd;
		}
	}
}

/* Every queue of the guest; 0 or -EHOSTDOWN. */
static int
list_queues(http_t *http, struct list *l, char *err, size_t errlen)
{
	static const char *attrs[] = {
		"printer-name", "device-uri", "printer-make-and-model", AGENT_MARK_ATTR,
		"printer-state", "printer-is-accepting-jobs", "printer-state-reasons",
		"printer-state-message", "printer-info", "printer-location",
		"printer-defaults",
	};
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	ipp_status_t st;
	char why[256];

	req = ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    sizeof(attrs) / sizeof(attrs[0]), NULL, attrs);
	resp = cupsconn_query(http, req, "/", &st, why, sizeof(why));
	if (resp == NULL || (st > IPP_STATUS_OK_CONFLICTING &&
	    st != IPP_STATUS_ERROR_NOT_FOUND)) {
		snprintf(err, errlen, "listing guest queues failed: %s", why);
		ippDelete(resp);
		return -EHOSTDOWN;
	}
	for (a = ippFirstAttribute(resp); a; a = ippNextAttribute(resp)) {
		struct queue q = { 0 }, *nv;

		while (a && ippGetGroupTag(a) != IPP_TAG_PRINTER)
			a = ippNextAttribute(resp);
		if (a == NULL)
			break;
		for (; a && ippGetGroupTag(a) == IPP_TAG_PRINTER; a = ippNextAttribute(resp)) {
			const char *n = ippGetName(a);

			if (n == NULL)
				break;
			if (!strcmp(n, "printer-name"))
				q.name = attr_dup(a);
			else if (!strcmp(n, "device-uri"))
				q.uri = attr_dup(a);
			else if (!strcmp(n, "printer-make-and-model"))
				q.make_model = attr_dup(a);
			else if (!strcmp(n, AGENT_MARK_ATTR))
				q.mark = attr_dup(a);
			else
				read_setting(&q, a, n);
		}
		if (q.mark && strncmp(q.mark, AGENT_MARK_VALUE ";",
		    strlen(AGENT_MARK_VALUE) + 1) != 0) {
			free(q.mark);	/* someone else's value: not ours */
			q.mark = NULL;
		}
		if (q.name == NULL || (nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
			free(q.name);
			free(q.uri);
			free(q.make_model);
			free(q.mark);
			free(q.message);
			free(q.info);
			free(q.location);
			free(q.defaults);
			free(q.settings);
		} else {
			l->v = nv;
			l->v[l->n++] = q;
		}
		if (a == NULL)
			break;
	}
	ippDelete(resp);
	return 0;
}

static struct queue *
find_name(struct list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (cupsconn_same_name(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

/* Same destination, ignoring a trailing slash and a query string. */
static int
same_uri(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return 0;
	la = strcspn(a, "?");
	lb = strcspn(b, "?");
	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static void
short_hash(const char *s, char out[MARK_HASH + 1])
{
	uint8_t d[HASH_LEN];
	char hex[HASH_HEX_LEN];

	hash_sha256(s ? s : "", s ? strlen(s) : 0, d);
	hash_hex(d, hex);
	memcpy(out, hex, MARK_HASH);
	out[MARK_HASH] = '\0';
}

static void
make_mark(const char *uri, const uint8_t sha[HASH_LEN], const char *model,
    char *out, size_t len)
{
	char u[MARK_HASH + 1], m[MARK_HASH + 1], hex[HASH_HEX_LEN];

	short_hash(uri, u);
	short_hash(model, m);
	hash_hex(sha, hex);
	snprintf(out, len, "%s;u=%s;d=%.*s;m=%s", AGENT_MARK_VALUE, u, MARK_HASH,
	    hex, m);
}

/* The field k ("u", "d", "m") of a mark; "" when absent. */
static void
mark_field(const char *mark, char k, char out[MARK_HASH + 1])
{
	char pat[4] = { ';', k, '=', '\0' };
	const char *p = strstr(mark, pat);

	out[0] = '\0';
	if (p)
		snprintf(out, MARK_HASH + 1, "%.*s", (int)strcspn(p + 3, ";"), p + 3);
}

/* Whether the guest's cupsd holds a PPD for queue name (-1: cannot tell). */
static int
queue_has_ppd(http_t *http, const char *name)
{
	char res[300];
	http_status_t st;

	snprintf(res, sizeof(res), "/printers/%s.ppd", name);
	httpClearFields(http);
	if (httpGet(http, res) != 0)
		return -1;
	while ((st = httpUpdate(http)) == HTTP_STATUS_CONTINUE)
		;
	httpFlush(http);
	return st == HTTP_STATUS_OK ? 1 : st == HTTP_STATUS_NOT_FOUND ? 0 : -1;
}

static int guest_driver(const struct install_ctx *ctx, const uint8_t sha[HASH_LEN],
    int copy, char *nick, size_t nicklen, char *err, size_t errlen);

/* Whether model is the NickName of a driver the agent wrote for the guest. */
static int
agent_driver_model(const struct install_ctx *ctx, const char *model)
{
	DIR *d = opendir(ctx->drivers_dir);
	struct dirent *e;
	char path[4200], nick[256], hex[HASH_HEX_LEN], err[1024];
	char *ppd;
	uint8_t sha[HASH_LEN];
	size_t len;
	int found = 0, rc;

	while (d && !found && (e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 74 || strcmp(e->d_name + 64, ".guest.ppd") != 0)
			continue;
		snprintf(hex, sizeof(hex), "%.64s", e->d_name);
		if (hash_from_hex(hex, sha) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ctx->drivers_dir, e->d_name);
		rc = statefile_read(path, (size_t)ctx->conf->max_ppd + GUEST_PPD_GROWTH,
		    &ppd, &len);
		if (rc == 0) {
			rc = ppd_check_parse(ppd, len, nick, sizeof(nick), NULL, 0);
			free(ppd);
		}
		/* Written without a sync (guest_driver()), it may have been cut
		 * short by a crash of the guest: made again from its driver. */
		if (rc != 0)
			rc = guest_driver(ctx, sha, 1, nick, sizeof(nick), err, sizeof(err));
		found = rc == 0 && strcmp(nick, model ? model : "") == 0;
	}
	if (d)
		closedir(d);
	return found;
}

enum queue_verdict {
	QUEUE_INTACT,		/* as the agent set it up */
	QUEUE_TORN,		/* the agent's, half-written by a crash: set it up again */
	QUEUE_EDITED,		/* a person changed it: leave it alone */
};

/*
 * What became of a marked queue since the agent set it up.  cupsd writes a
 * queue's PPD at once but printers.conf, which holds the mark, up to
 * DirtyCleanInterval later: after a crash a queue the agent removed can come
 * back without its PPD, and one it updated can carry the old mark beside the
 * new driver.  Neither is a person's edit.
 */
static enum queue_verdict
queue_verdict(http_t *http, const struct install_ctx *ctx,
    const struct queue *q, const char **what)
{
	char want[MARK_HASH + 1], got[MARK_HASH + 1];

	mark_field(q->mark, 'u', want);
	short_hash(q->uri, got);
	if (strcmp(want, got) != 0) {
		*what = "device URI";
		return QUEUE_EDITED;
	}
	mark_field(q->mark, 'm', want);
	short_hash(q->make_model, got);
	if (strcmp(want, got) == 0)
		return QUEUE_INTACT;
	if (queue_has_ppd(http, q->name) == 0 || agent_driver_model(ctx, q->make_model))
		return QUEUE_TORN;
	*what = "driver";
	return QUEUE_EDITED;
}

static void
put_result(struct result *r, const char *name, int state, const char *queue,
    int changed, const char *fmt, va_list ap)
{
	free(r->name);
	free(r->queue);
	free(r->detail);
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->state = state;
	r->queue = strdup(queue ? queue : "");
	r->changed = changed;
	if (vasprintf(&r->detail, fmt, ap) < 0)
		r->detail = NULL;
}

static int
add_result(struct result **v, size_t *n, const char *name, int state,
    const char *queue, int changed, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int
add_result(struct result **v, size_t *n, const char *name, int state,
    const char *queue, int changed, const char *fmt, ...)
{
	struct result *nv = realloc(*v, (*n + 1) * sizeof(**v));
	va_list ap;

	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	memset(&nv[*n], 0, sizeof(nv[*n]));
	va_start(ap, fmt);
	put_result(&nv[*n], name, state, queue, changed, fmt, ap);
	va_end(ap);
	(*n)++;
	return 0;
}

/* Replaces the line r (one add_result() made). */
static void
set_result(struct result *r, int state, const char *queue, int changed,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
set_result(struct result *r, int state, const char *queue, int changed,
    const char *fmt, ...)
{
	char *name = r->name;
	va_list ap;

	r->name = NULL;
	va_start(ap, fmt);
	put_result(r, name ? name : "", state, queue, changed, fmt, ap);
	va_end(ap);
	free(name);
}

static int
ipp_ok(ipp_t *resp)
{
	return resp != NULL && ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING;
}

/* --- a queue's settings and condition ------------------------------------- */

#define SETTINGS_MAX 255	/* bytes of SETTINGS_ATTR, an IPP name */
#define SETTING_HASH 6		/* hex digits of a value's hash in it */

/* The value of default name (nlen bytes) in "name=value" lines into out:
 * 1, or 0 when lines has none. */
static int
default_of(const char *lines, const char *name, size_t nlen, char *out,
    size_t outlen)
{
	for (const char *l = lines; l && *l; l = codec_next_item(l, '\n')) {
		if (strncmp(l, name, nlen) == 0 && l[nlen] == '=') {
			if (out)
				snprintf(out, outlen, "%.*s", (int)strcspn(l + nlen + 1, "\n"),
				    l + nlen + 1);
			return 1;
		}
	}
	return 0;
}

static void
value_hash(const char *v, char out[SETTING_HASH + 1])
{
	char h[MARK_HASH + 1];

	short_hash(v ? v : "", h);
	memcpy(out, h, SETTING_HASH);
	out[SETTING_HASH] = '\0';
}

/* The hash SETTINGS_ATTR records for key in rec: 1, or 0 when none. */
static int
record_get(const char *rec, const char *key, char out[SETTING_HASH + 1])
{
	size_t klen = strlen(key);

	for (const char *e = rec; e && *e; e = codec_next_item(e, ';'))
		if (strncmp(e, key, klen) == 0 && e[klen] == ':') {
			snprintf(out, SETTING_HASH + 1, "%.*s", (int)strcspn(e + klen + 1, ";"),
			    e + klen + 1);
			return 1;
		}
	return 0;
}

/* Appends "key:hash" to rec; 0, or -1 when it would not fit. */
static int
record_put(char *rec, const char *key, const char *hash)
{
	size_t len = strlen(rec);
	int n = snprintf(rec + len, SETTINGS_MAX + 1 - len, "%s%s:%s", len ? ";" : "",
	    key, hash);

	if (n < 0 || len + (size_t)n > SETTINGS_MAX) {
		rec[len] = '\0';
		return -1;
	}
	return 0;
}

static void
add_text(ipp_t *req, const char *attr, const char *key, const char *value)
{
	if (strcmp(attr, "printer-info") == 0 || strcmp(attr, "printer-location") == 0)
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_TEXT, attr, NULL, value);
	else if (strspn(value, "0123456789") == strlen(value) && strlen(value) < 10)
		ippAddInteger(req, IPP_TAG_PRINTER, IPP_TAG_INTEGER, attr, atoi(value));
	else if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
		ippAddBoolean(req, IPP_TAG_PRINTER, attr, value[0] == 't');
	else
		ippAddString(req, IPP_TAG_PRINTER, codec_keyword_ok(value) ?
		    IPP_TAG_KEYWORD : IPP_TAG_NAME, attr, NULL, value);
	(void)key;
}

/*
 * One setting of the host queue (attr, recorded under key) into req unless
 * the guest queue q already has it, or a person changed it there since the
 * agent set it (then it is kept, and named in kept).  *rec gets what the
 * queue holds of it afterwards.  1 when it goes into req.
 */
static int
one_setting(ipp_t *req, const struct queue *q, const char *attr, const char *key,
    const char *want, const char *cur, char *rec, char *kept, size_t keptlen)
{
	char had[SETTING_HASH + 1], now[SETTING_HASH + 1], h[SETTING_HASH + 1];

	value_hash(want, h);
	if (q != NULL && record_get(q->settings, key, had)) {
		value_hash(cur, now);
		if (strcmp(had, now) != 0) {
			/* Not what the agent set: a person's choice. */
			if (record_put(rec, key, had) == 0 && strlen(kept) + strlen(attr) + 3 < keptlen)
				snprintf(kept + strlen(kept), keptlen - strlen(kept), "%s%.*s",
				    kept[0] ? ", " : "", (int)(strlen(attr) -
				    (strcmp(attr + strlen(attr) - 8, "-default") ? 0 : 8)), attr);
			return 0;
		}
	}
	if (record_put(rec, key, h) != 0)
		return 0;	/* no room to remember it: not set */
	if (q != NULL && cur != NULL && strcmp(cur, want) == 0)
		return 0;
	add_text(req, attr, key, want);
	return 1;
}

/*
 * Adds to req what the guest queue q (NULL: being made) lacks of w: the
 * host queue's condition (always the host's), description, location and
 * defaults (the host's, but for those a person changed in the guest: named
 * in kept).  Returns how many attributes it added.
 */
static int
add_settings(ipp_t *req, const struct want *w, const struct queue *q, char *kept,
    size_t keptlen, int *ppd)
{
	char rec[SETTINGS_MAX + 1] = "", reasons[512] = "", *copy, *save = NULL;
	char had[SETTING_HASH + 1], h[SETTING_HASH + 1], hex[HASH_HEX_LEN];
	const char *reasonv[CODEC_MAX_REASONS];
	int n = 0, nreasons = 0;

	kept[0] = '\0';
	/* The condition: reasons the broker sent, checked again here (they
	 * may come from agent.json). */
	if ((copy = strdup(w->reasons ? w->reasons : "")) != NULL) {
		for (char *r = strtok_r(copy, " ", &save); r && nreasons < CODEC_MAX_REASONS;
		    r = strtok_r(NULL, " ", &save))
			if (cupsconn_reason_shown(r) && strlen(reasons) + strlen(r) + 2 <
			    sizeof(reasons)) {
				snprintf(reasons + strlen(reasons), sizeof(reasons) -
				    strlen(reasons), "%s%s", reasons[0] ? " " : "", r);
				nreasons++;
			}
		free(copy);
	}
	if (q == NULL || q->stopped != w->stopped) {
		ippAddInteger(req, IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
		    w->stopped ? IPP_PSTATE_STOPPED : IPP_PSTATE_IDLE);
		n++;
	}
	if (q == NULL || q->rejecting != w->rejecting) {
		ippAddBoolean(req, IPP_TAG_PRINTER, "printer-is-accepting-jobs", !w->rejecting);
		n++;
	}
	if ((q == NULL && reasons[0]) || (q != NULL && strcmp(q->reasons, reasons) != 0)) {
		int k = 0;

		if ((copy = strdup(reasons)) != NULL) {
			save = NULL;
			for (char *r = strtok_r(copy, " ", &save); r; r = strtok_r(NULL, " ", &save))
				reasonv[k++] = r;
			if (k == 0)
				reasonv[k++] = "none";
			ippAddStrings(req, IPP_TAG_PRINTER, IPP_TAG_KEYWORD,
			    "printer-state-reasons", k, NULL, reasonv);
			free(copy);
			n++;
		}
	}
	/* The message goes with the condition; the guest's own ones (a job's
	 * "Sending data") are left alone while it is normal. */
	if (codec_text_ok(w->message, CODEC_MAX_VALUE, 0) && (w->message && *w->message ?
	    q == NULL || strcmp(q->message ? q->message : "", w->message) != 0 :
	    q != NULL && n > 0)) {
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-state-message",
		    NULL, w->message ? w->message : "");
		n++;
	}

	/* The settings, a person's choice kept. */
	n += one_setting(req, q, "printer-info", "i", w->info && *w->info ? w->info :
	    w->name, q ? (q->info ? q->info : "") : NULL, rec, kept, keptlen);
	if (codec_text_ok(w->location, CODEC_MAX_STRING, 0))
		n += one_setting(req, q, "printer-location", "l", w->location ?
		    w->location : "", q ? (q->location ? q->location : "") : NULL, rec,
		    kept, keptlen);
	for (const char *l = w->defaults; l && *l; l = codec_next_item(l, '\n')) {
		char name[CODEC_MAX_KEYWORD + 1], attr[CODEC_MAX_KEYWORD + 9];
		char value[CODEC_MAX_VALUE + 1], cur[CODEC_MAX_VALUE + 1];
		size_t nlen = strcspn(l, "="), vlen;

		if (nlen == 0 || nlen > CODEC_MAX_KEYWORD || l[nlen] != '=')
			continue;
		vlen = strcspn(l + nlen + 1, "\n");
		if (vlen == 0 || vlen > CODEC_MAX_VALUE)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)nlen, l);
		snprintf(value, sizeof(value), "%.*s", (int)vlen, l + nlen + 1);
		if (!codec_keyword_ok(name) || !codec_text_ok(value, CODEC_MAX_VALUE, 1) ||
		    strncmp(name, "printredir-", 11) == 0 || strchr(name, ':') ||
		    strcmp(name, "i") == 0 || strcmp(name, "l") == 0 || strcmp(name, "p") == 0)
			continue;
		snprintf(attr, sizeof(attr), "%s-default", name);
		n += one_setting(req, q, attr, name, value, q && default_of(q->defaults,
		    name, nlen, cur, sizeof(cur)) ? cur : NULL, rec, kept, keptlen);
	}
	/* A default the agent set that the host no longer has goes, unless a
	 * person changed it since. */
	for (const char *e = q ? q->settings : NULL; e && *e; e = codec_next_item(e, ';')) {
		char key[CODEC_MAX_KEYWORD + 1], now[SETTING_HASH + 1];
		char cur[CODEC_MAX_VALUE + 1], attr[CODEC_MAX_KEYWORD + 9];
		size_t klen = strcspn(e, ":;");

		if (klen == 0 || klen > CODEC_MAX_KEYWORD || e[klen] != ':')
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)klen, e);
		if (!codec_keyword_ok(key) || strcmp(key, "i") == 0 || strcmp(key, "l") == 0 ||
		    strcmp(key, "p") == 0 ||
		    record_get(rec, key, had) || !record_get(q->settings, key, had))
			continue;
		value_hash(default_of(q->defaults, key, klen, cur, sizeof(cur)) ? cur : "", now);
		if (strcmp(had, now) == 0) {
			snprintf(attr, sizeof(attr), "%s-default", key);
			ippAddOutOfBand(req, IPP_TAG_PRINTER, IPP_TAG_DELETEATTR, attr);
			n++;
		}
	}
	/* The defaults the queue's PPD gives (queue_ppd): made again when the
	 * host's defaults or the driver change. */
	hash_hex(w->sha, hex);
	if (asprintf(&copy, "%s\f%s\f%s", w->defaults ? w->defaults : "",
	    w->ppd_defaults ? w->ppd_defaults : "", hex) >= 0) {
		int some = (w->defaults && *w->defaults) ||
		    (w->ppd_defaults && *w->ppd_defaults);

		value_hash(copy, h);
		free(copy);
		*ppd = q == NULL || (!record_get(q->settings, "p", had) ? some :
		    strcmp(had, h) != 0);
		if (some)
			record_put(rec, "p", h);
	}
	if (q == NULL || strcmp(q->settings ? q->settings : "", rec[0] ? rec : "none") != 0) {
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_NAME, SETTINGS_ATTR, NULL,
		    rec[0] ? rec : "none");
		n++;
	}
	return n;
}

/* Whether list (", "-separated) holds the n bytes at name. */
static int
in_list(const char *list, const char *name, size_t n)
{
	for (const char *t = list; t && *t; t += strspn(t, ", ")) {
		size_t len = strcspn(t, ",");

		if (len == n && strncmp(t, name, n) == 0)
			return 1;
		t += len;
	}
	return 0;
}

/*
 * The PPD for w's queue into path: its guest driver, or, when the host
 * queue's defaults change some of the driver's (ppd_default_choices), a
 * copy with those defaults in a file of its own (*temp set: unlink it after
 * use), so that lp and print dialogs, which send the defaults they read
 * from the PPD, send the host's.  A default named in kept (", "-separated)
 * is a person's choice in the guest and left as it is.  Whatever goes
 * wrong, path is the guest driver (its own defaults) and the error logged.
 */
static void
queue_ppd(const struct install_ctx *ctx, const struct want *w, const char *kept,
    char *path, size_t pathlen, int *temp)
{
	char hex[HASH_HEX_LEN], choices[8192], *ppd = NULL, *out = NULL, *mine;
	size_t len, outlen, o = 0;
	int fd, rc;

	*temp = 0;
	hash_hex(w->sha, hex);
	snprintf(path, pathlen, "%s/%s.guest.ppd", ctx->drivers_dir, hex);
	/* The host's IPP defaults first, but a person's in the guest, then its
	 * PPD's choices: ppd_default_choices takes the first for an option. */
	if ((w->defaults == NULL || *w->defaults == '\0') &&
	    (w->ppd_defaults == NULL || *w->ppd_defaults == '\0'))
		return;
	if ((mine = calloc(1, strlen(w->defaults ? w->defaults : "") +
	    strlen(w->ppd_defaults ? w->ppd_defaults : "") + 2)) == NULL)
		return;
	for (const char *l = w->defaults; l && *l; l = codec_next_item(l, '\n'))
		if (!in_list(kept, l, strcspn(l, "=")))
			o += (size_t)sprintf(mine + o, "%.*s\n", (int)strcspn(l, "\n"), l);
	for (const char *l = w->ppd_defaults; l && *l; l = codec_next_item(l, '\n'))
		o += (size_t)sprintf(mine + o, "%.*s\n", (int)strcspn(l, "\n"), l);
	rc = statefile_read(path, (size_t)ctx->conf->max_ppd + GUEST_PPD_GROWTH, &ppd, &len);
	if (rc == 0 && (rc = ppd_default_choices(ppd, len, mine, choices,
	    sizeof(choices))) == 0 && choices[0] != '\0')
		rc = ppd_set_defaults(ppd, len, choices, &out, &outlen);
	free(mine);
	free(ppd);
	if (rc != 0 || out == NULL) {
		if (rc != 0)
			log_warnx("queue %s keeps its driver's defaults: %s", w->name,
			    strerror(rc < 0 ? -rc : EIO));
		return;
	}
	snprintf(path, pathlen, "%s/.queue-XXXXXX", ctx->drivers_dir);
	if ((fd = mkstemp(path)) < 0 || write(fd, out, outlen) != (ssize_t)outlen ||
	    fchmod(fd, 0644) != 0) {
		log_warnx("queue %s keeps its driver's defaults: %s", w->name, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		snprintf(path, pathlen, "%s/%s.guest.ppd", ctx->drivers_dir, hex);
	} else {
		close(fd);
		*temp = 1;
	}
	free(out);
}

/*
 * Brings the settings and condition of w's queue q, installed and current,
 * to the host's: one request, none when nothing differs.  Appends to r's
 * detail what a person chose in the guest and is kept.
 */
static void
tune_queue(http_t *http, const struct install_ctx *ctx, const struct want *w,
    const struct queue *q, struct result *r)
{
	ipp_t *req = cupsconn_request(IPP_OP_CUPS_ADD_MODIFY_PRINTER, q->name), *resp;
	char kept[512], path[4200], *d;
	int ppd = 0, temp = 0, n = add_settings(req, w, q, kept, sizeof(kept), &ppd);

	if (ppd)
		queue_ppd(ctx, w, kept, path, sizeof(path), &temp);
	if (n == 0 && !ppd) {
		ippDelete(req);
	} else {
		resp = cupsDoFileRequest(http, req, "/admin/", ppd ? path : NULL);
		if (temp)
			unlink(path);
		if (!ipp_ok(resp) && asprintf(&d, "%s; its settings were not updated: %s",
		    r->detail, cupsLastErrorString()) >= 0) {
			free(r->detail);
			r->detail = d;
		}
		ippDelete(resp);
	}
	if (kept[0] && asprintf(&d, "%s; keeps the guest's own %s", r->detail, kept) >= 0) {
		free(r->detail);
		r->detail = d;
	}
}

/*
 * The guest queue's device URI: the printredir backend (backend.c), which
 * hands each job to the agent for the host queue of the same name.
 */
static void
device_uri(const struct want *w, char *out, size_t outlen)
{
	snprintf(out, outlen, "printredir:%s", w->name);
}

/* Adds or updates queue w->name with the checked PPD at ppd_path. */
/* Adds or updates queue w->name (own: as it is now, NULL when new) with
 * the checked PPD at ppd_path, its settings and condition those of w. */
static int
put_queue(http_t *http, const struct install_ctx *ctx, const struct want *w,
    const struct queue *own, const char *dev, const char *mark, char *kept,
    size_t keptlen, char *err, size_t errlen)
{
	ipp_t *req, *resp;
	char path[4200];
	int ok, ppd, temp;

	req = cupsconn_request(IPP_OP_CUPS_ADD_MODIFY_PRINTER, w->name);
	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_URI, "device-uri", NULL, dev);
	add_settings(req, w, own, kept, keptlen, &ppd);
	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_NAME, AGENT_MARK_ATTR, NULL, mark);
	queue_ppd(ctx, w, kept, path, sizeof(path), &temp);
	resp = cupsDoFileRequest(http, req, "/admin/", path);
	if (temp)
		unlink(path);
	ok = ipp_ok(resp);
	if (!ok)
		snprintf(err, errlen, "the guest's CUPS refused the queue: %s%s",
		    cupsLastErrorString(), strstr(cupsLastErrorString(), "scheme") ?
		    " (the printredir backend is not installed in the guest's CUPS: "
		    "make install)" : "");
	ippDelete(resp);
	return ok ? 0 : -EIO;
}

static int
delete_queue(http_t *http, const char *name, char *err, size_t errlen)
{
	ipp_t *req, *resp;
	int ok;

	req = cupsconn_request(IPP_OP_CUPS_DELETE_PRINTER, name);
	resp = cupsDoRequest(http, req, "/admin/");
	ok = ipp_ok(resp) || cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND;
	if (!ok)
		snprintf(err, errlen, "the guest's CUPS refused to remove it: %s",
		    cupsLastErrorString());
	ippDelete(resp);
	return ok ? 0 : -EIO;
}

/*
 * Verdicts on drivers that were refused, so a refused foomatic driver (a
 * second of parsing) is not parsed again on every pass.  Only the worker
 * thread touches it, one pass at a time; a new policy (SIGHUP) clears it.
 */
static struct {
	uint8_t sha[HASH_LEN];
	char *reason;
} refused[64];
static char *refused_policy;

static const char *
refused_reason(const uint8_t sha[HASH_LEN], const char *policy)
{
	if (refused_policy == NULL || strcmp(refused_policy, policy) != 0) {
		for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
			free(refused[i].reason);
			refused[i].reason = NULL;
		}
		free(refused_policy);
		refused_policy = strdup(policy);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (refused[i].reason && memcmp(refused[i].sha, sha, HASH_LEN) == 0)
			return refused[i].reason;
	return NULL;
}

static void
remember_refusal(const uint8_t sha[HASH_LEN], const char *reason)
{
	static size_t next;
	size_t i = next++ % (sizeof(refused) / sizeof(refused[0]));

	free(refused[i].reason);
	memcpy(refused[i].sha, sha, HASH_LEN);
	refused[i].reason = strdup(reason);
}

/*
 * The guest's PPD for driver sha (ppd_rewrite_pdf, then ppd_check_safe under
 * the agent's policy), its NickName in nick.  With copy, it is written as
 * drivers_dir/SHA.guest.ppd, the file cupsd is sent.  Returns 0, -EPERM
 * when the driver is refused, -ENOENT when it is not here, -EIO when the
 * copy cannot be written; err says why.  During a pass's installs only the
 * preparer thread calls it (refused[] is one thread's at a time).
 */
static int
guest_driver(const struct install_ctx *ctx, const uint8_t sha[HASH_LEN],
    int copy, char *nick, size_t nicklen, char *err, size_t errlen)
{
	const struct agent_conf *conf = ctx->conf;
	struct ppd_policy pol = {
		.max_size = (size_t)conf->max_ppd, .filter_dir = conf->filter_dir,
	};
	char hex[HASH_HEX_LEN], path[4200], policy[8400], *ppd = NULL, *guest = NULL;
	const char *known;
	uint8_t got[HASH_LEN];
	size_t len = 0, glen = 0;
	int rc;

	nick[0] = '\0';
	hash_hex(sha, hex);
	snprintf(policy, sizeof(policy), "%lld\n%s", conf->max_ppd, conf->filter_dir);
	if ((known = refused_reason(sha, policy)) != NULL) {
		snprintf(err, errlen, "%s", known);
		return -EPERM;
	}
	/* A driver of the set not stored yet is stored now, verified (and any
	 * leftover of a crash under its temporary name overwritten).  Else it
	 * is read, staged by an earlier pass whose end has not committed it
	 * yet or under its name, and verified below. */
	snprintf(path, sizeof(path), "%s/%s.ppd", ctx->drivers_dir, hex);
	rc = -ENOENT;
	if (access(path, F_OK) != 0)
		rc = ctx->stage_driver(ctx, sha, &ppd, &len, err, errlen);
	if (rc == 0)
		goto verified;
	if (rc != -ENOENT) {
		log_warnx("%s", err);
		snprintf(err, errlen, "driver %.12s... was not received from the broker "
		    "intact; it is sent again when the agent next connects", hex);
		return -ENOENT;
	}
	rc = statefile_read_staged(path, (size_t)conf->max_ppd + 1, &ppd, &len);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "driver is over the size cap of %lld bytes",
		    conf->max_ppd);
		return -EPERM;
	}
	if (rc != 0) {
		snprintf(err, errlen, "driver %.12s... was not received from the broker", hex);
		return -ENOENT;
	}
	/* Its name is its SHA-256: other bytes under it (a damaged disk, a
	 * person) are not the driver.  Removed, it is left out of the next
	 * connection's inventory and the broker sends it again. */
	if (hash_sha256(ppd, len, got) != 0 || memcmp(got, sha, HASH_LEN) != 0) {
		free(ppd);
		unlink(path);
		snprintf(err, errlen, "driver %.12s... was damaged in the agent's cache; "
		    "it is removed, and the broker sends it again when the agent "
		    "next connects", hex);
		return -ENOENT;
	}
verified:
	/* Only the options of the print server's driver reach the guest: the
	 * rewritten PPD hands every job over as PDF, and is what is checked. */
	rc = ppd_rewrite_pdf(ppd, len, (size_t)conf->max_ppd + GUEST_PPD_GROWTH,
	    &guest, &glen, err, errlen);
	free(ppd);
	if (rc == 0 && ppd_check_safe_nick(guest, glen, &pol, nick, nicklen, err,
	    errlen) != 0)
		rc = -EPERM;
	if (rc != 0) {
		remember_refusal(sha, err);
		free(guest);
		return -EPERM;
	}
	/*
	 * Not synced: cupsd is sent it at once (from the page cache) and keeps
	 * a copy of its own.  Should a crash of the guest cut it short,
	 * agent_driver_model() makes it again from the driver, which is synced
	 * once the pass is over (agent.c, store_blobs).
	 */
	snprintf(path, sizeof(path), "%s/%s.guest.ppd", ctx->drivers_dir, hex);
	if (copy && (rc = statefile_write_nosync(path, guest, glen, 0644)) != 0) {
		snprintf(err, errlen, "cannot write the guest's copy of driver "
		    "%.12s...: %s", hex, strerror(-rc));
		rc = -EIO;
	}
	free(guest);
	return rc;
}

/*
 * A wanted printer whose queue is to be made, or whose driver is to be
 * checked again, and the guest's PPD for it.
 */
struct item {
	const struct want *w;
	struct queue *own;		/* the agent's queue of that name, or NULL */
	int current;			/* own is up to date: only checked again */
	size_t line;			/* its line in the results */
	/* The preparer's, once ready: */
	int rc;				/* guest_driver() */
	char nick[256];
	char err[1024];
};

/*
 * The items of a pass on their way to cupsd.  The preparer thread makes
 * their PPDs in turn while the senders hand the ready ones to cupsd, each
 * on its own connection, so that the agent's work on a driver (read, verify,
 * rewrite, check, write) overlaps cupsd's on the queues before it instead of
 * adding to it, and cupsd finds the next request waiting when it is done
 * with one.
 */
struct pipeline {
	const struct install_ctx *ctx;
	struct item *v;
	size_t n;
	struct result *res;		/* the pass's results, by item line */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t ready;			/* v[0..ready-1] are prepared */
	size_t next;			/* the next item for a sender */
};

static void *
prepare_all(void *arg)
{
	struct pipeline *p = arg;

	for (size_t i = 0; i < p->n; i++) {
		struct item *it = &p->v[i];

		it->rc = guest_driver(p->ctx, it->w->sha, !it->current, it->nick,
		    sizeof(it->nick), it->err, sizeof(it->err));
		pthread_mutex_lock(&p->lock);
		p->ready = i + 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/*
 * Decides on one wanted printer whose name is free (own NULL) or ours; a
 * torn queue is set up again even when its mark says it is current.  With
 * ctx->recheck (the agent's policy changed), a current queue's driver is
 * checked again, and the queue removed when the policy now refuses it.
 * What needs the driver becomes an item, with a line in the results that
 * install_one() fills.  1 when the queue is current: its line is in the
 * results, and only its settings may need tuning (tune_queue).
 */
static int
plan_one(const struct install_ctx *ctx, const struct want *w, struct queue *own,
    int torn, struct result **res, size_t *nres, struct item *items, size_t *nitems)
{
	char hex[HASH_HEX_LEN], dev[CODEC_MAX_STRING + 16];
	char want_d[MARK_HASH + 1], have_d[MARK_HASH + 1], u[MARK_HASH + 1];
	char have_u[MARK_HASH + 1];
	int current = 0;

	if (own != NULL && !torn) {
		/* Unchanged since we made it: nothing to do. */
		hash_hex(w->sha, hex);
		device_uri(w, dev, sizeof(dev));
		snprintf(want_d, sizeof(want_d), "%.*s", MARK_HASH, hex);
		mark_field(own->mark, 'd', have_d);
		short_hash(dev, u);
		mark_field(own->mark, 'u', have_u);
		current = strcmp(want_d, have_d) == 0 && strcmp(u, have_u) == 0;
		if (current && !ctx->recheck) {
			add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED,
			    own->name, 0, "installed%s, prints to the host queue %s",
			    GENERIC(w), w->name);
			return 1;
		}
	}
	if (add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_PENDING,
	    NULL, 0, "being installed") != 0)
		return 0;
	items[*nitems] = (struct item){ .w = w, .own = own, .current = current,
	    .line = *nres - 1 };
	(*nitems)++;
	return 0;
}

/* Makes, updates or removes the queue of an item whose PPD is ready. */
static void
install_one(http_t *http, const struct install_ctx *ctx, const struct item *it,
    struct result *r)
{
	const struct want *w = it->w;
	struct queue *own = it->own;
	char dev[CODEC_MAX_STRING + 16], mark[256];
	char err[1024], gone[1200] = "", kept[512];

	if (it->rc == -ENOENT || it->rc == -EIO) {
		set_result(r, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED, NULL, 0, "%s",
		    it->err);
		r->unchecked = it->current;
		return;
	}
	if (it->rc != 0) {
		/* Installed under a policy that now refuses it: it goes. */
		if (it->current && delete_queue(http, own->name, gone, sizeof(gone)) == 0) {
			log_info("removed queue %s: the policy now refuses its driver",
			    own->name);
			snprintf(gone, sizeof(gone), "; its queue is removed");
		}
		set_result(r, PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_REJECTED, NULL, 0,
		    "driver rejected: %s%s", it->err, gone);
		return;
	}
	if (it->current) {
		set_result(r, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED, own->name, 0,
		    "installed%s, prints to the host queue %s", GENERIC(w), w->name);
		tune_queue(http, ctx, w, own, r);
		return;
	}
	device_uri(w, dev, sizeof(dev));
	make_mark(dev, w->sha, it->nick, mark, sizeof(mark));
	if (put_queue(http, ctx, w, own, dev, mark, kept, sizeof(kept), err,
	    sizeof(err)) != 0) {
		set_result(r, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED, NULL, 0, "%s", err);
		return;
	}
	log_info("%s queue %s (prints to the host queue of that name)",
	    own ? "updated" : "installed", w->name);
	set_result(r, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED, w->name, 1,
	    "%s%s, prints to the host queue %s%s%s", own ? "updated" : "installed",
	    GENERIC(w), w->name, kept[0] ? "; keeps the guest's own " : "", kept);
}

/* The next item whose PPD is ready, in turn; NULL when none is left. */
static struct item *
take(struct pipeline *p)
{
	struct item *it = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->next < p->n) {
		it = &p->v[p->next++];
		while (p->ready <= (size_t)(it - p->v))
			pthread_cond_wait(&p->cond, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return it;
}

static void
send_all(struct pipeline *p, http_t *http)
{
	struct item *it;

	while ((it = take(p)) != NULL)
		install_one(http, p->ctx, it, &p->res[it->line]);
}

/* The second sender, on a connection of its own; without one the first
 * sends everything. */
static void *
second_sender(void *arg)
{
	struct pipeline *p = arg;
	char err[1024];
	http_t *http;

	if ((http = cupsconn_open(p->ctx->conf->cups, CONNECT_TIMEOUT_MS, err,
	    sizeof(err))) != NULL) {
		send_all(p, http);
		httpClose(http);
	}
	return NULL;
}

/*
 * Installs the items through the pipeline, http being the first sender's
 * connection.  Whatever thread cannot be made, its work is done here: the
 * PPDs all first without a preparer, every request on http without a second
 * sender.
 */
static void
install_all(http_t *http, const struct install_ctx *ctx, struct item *items,
    size_t n, struct result *res)
{
	struct pipeline p = { .ctx = ctx, .v = items, .n = n, .res = res };
	pthread_t preparer, sender;
	int prepared, second = 0;

	if (n == 0)
		return;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	if (!(prepared = pthread_create(&preparer, NULL, prepare_all, &p) == 0))
		prepare_all(&p);
	if (n > 1)
		second = pthread_create(&sender, NULL, second_sender, &p) == 0;
	send_all(&p, http);
	if (second)
		pthread_join(sender, NULL);
	if (prepared)
		pthread_join(preparer, NULL);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
}

/* The guest's default queue into name ("" none); 0, or -1 when cupsd did
 * not answer. */
static int
get_default(http_t *http, char *name, size_t len)
{
	ipp_t *resp = cupsDoRequest(http, ippNewRequest(IPP_OP_CUPS_GET_DEFAULT), "/");
	ipp_attribute_t *a;
	int rc = 0;

	name[0] = '\0';
	if (ipp_ok(resp) && (a = ippFindAttribute(resp, "printer-name", IPP_TAG_NAME)))
		snprintf(name, len, "%s", ippGetString(a, 0, NULL));
	else if (cupsLastError() != IPP_STATUS_ERROR_NOT_FOUND)
		rc = -1;
	ippDelete(resp);
	return rc;
}

static int
set_default(http_t *http, const char *name)
{
	ipp_t *resp = cupsDoRequest(http, cupsconn_request(IPP_OP_CUPS_SET_DEFAULT,
	    name), "/admin/");
	int ok = ipp_ok(resp);

	if (!ok)
		log_warnx("the guest's CUPS refused to make %s its default: %s", name,
		    cupsLastErrorString());
	else
		log_info("%s is the guest's default printer", name);
	ippDelete(resp);
	return ok ? 0 : -1;
}

/*
 * The guest's default after a pass: the queue of the host's default printer
 * (host, "" when none is installed), unless a person chose another since
 * the agent set one; with none, the default the agent replaced comes back.
 */
static void
apply_default(http_t *http, const char *host, struct guest_default *d)
{
	char cur[CODEC_MAX_NAME + 1];

	if (get_default(http, cur, sizeof(cur)) != 0) {
		snprintf(d->detail, sizeof(d->detail), "the guest's default is not known: %s",
		    cupsLastErrorString());
		return;
	}
	if (d->set[0] && cur[0] && !cupsconn_same_name(cur, d->set)) {
		/* Not what the agent made it: a person's choice. */
		snprintf(d->now, sizeof(d->now), "%s", cur);
		snprintf(d->detail, sizeof(d->detail), "chosen in the guest, kept%s%s%s",
		    host[0] ? " (the host's default is " : "", host, host[0] ? ")" : "");
		return;
	}
	if (host[0]) {
		if (!d->set[0])
			snprintf(d->before, sizeof(d->before), "%s", cur);
		if ((cupsconn_same_name(cur, host) || set_default(http, host) == 0)) {
			snprintf(d->set, sizeof(d->set), "%s", host);
			snprintf(cur, sizeof(cur), "%s", host);
			snprintf(d->detail, sizeof(d->detail), "the host's default printer");
		} else {
			snprintf(d->detail, sizeof(d->detail), "the host's default %s could "
			    "not be made the guest's: %s", host, cupsLastErrorString());
		}
	} else if (d->set[0]) {
		/* The agent's default is gone (or redirection is off): give back
		 * the one it replaced, if it is still there. */
		if (d->before[0] && set_default(http, d->before) == 0) {
			snprintf(cur, sizeof(cur), "%s", d->before);
			snprintf(d->detail, sizeof(d->detail), "the guest's own, given back");
		} else {
			snprintf(d->detail, sizeof(d->detail), "%s", cur[0] ? "the guest's own" :
			    "none");
		}
		d->set[0] = d->before[0] = '\0';
	} else {
		snprintf(d->detail, sizeof(d->detail), "%s", cur[0] ? "the guest's own" :
		    "none");
	}
	snprintf(d->now, sizeof(d->now), "%s", cur);
}

/* The name of an earlier printer of want[0..i-1] that CUPS takes for the
 * same queue as want[i], or NULL. */
static const char *
same_name_before(const struct want *want, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (cupsconn_same_name(want[k].name, want[i].name))
			return want[k].name;
	return NULL;
}

int
install_apply(const struct install_ctx *ctx, const struct want *want,
    size_t nwant, struct result **results, size_t *nresults,
    struct guest_default *dflt)
{
	const char *host_default = "";
	struct result *res = NULL;
	struct item *items = calloc(nwant + 1, sizeof(*items));
	size_t nres = 0, nitems = 0;
	struct list l = { 0 };
	http_t *http = NULL;
	char err[1024];
	int rc = 0;

	*results = NULL;
	*nresults = 0;
	if (items == NULL) {
		for (size_t i = 0; i < nwant; i++)
			add_result(&res, &nres, want[i].name,
			    PRINTREDIR__PRINTER_STATE__PRINTER_FAILED, NULL, 0,
			    "out of memory; will retry");
		goto out;
	}
	http = cupsconn_open(ctx->conf->cups, CONNECT_TIMEOUT_MS, err, sizeof(err));
	if (http == NULL || list_queues(http, &l, err, sizeof(err)) != 0) {
		for (size_t i = 0; i < nwant; i++)
			add_result(&res, &nres, want[i].name,
			    PRINTREDIR__PRINTER_STATE__PRINTER_FAILED, NULL, 0,
			    "guest print service unavailable (%s); will retry", err);
		rc = -EHOSTDOWN;
		goto out;
	}

	for (size_t i = 0; i < nwant; i++) {
		const struct want *w = &want[i];
		struct queue *q = find_name(&l, w->name);
		enum queue_verdict v = QUEUE_INTACT;
		const char *what, *twin;

		if (q)
			q->seen = 1;
		if (!cupsconn_valid_name(w->name)) {
			add_result(&res, &nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    NULL, 0, "not a valid CUPS queue name here");
			continue;
		}
		if ((twin = same_name_before(want, i)) != NULL) {
			add_result(&res, &nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    NULL, 0, "the broker sent it besides %s, the same queue name "
			    "to CUPS (names ignore case); only %s is installed", twin, twin);
			continue;
		}
		if (w->invalid != NULL) {
			add_result(&res, &nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    q ? q->name : NULL, 0, "refused: %s%s", w->invalid,
			    q ? " (the queue installed earlier is kept)" : "");
			continue;
		}
		if (q && q->mark == NULL) {
			/* A person's queue holds the name. */
			if (same_uri(q->uri, w->host_device_uri))
				add_result(&res, &nres, w->name,
				    PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED, q->name, 0,
				    "queue %s, installed by hand, already prints to %s",
				    q->name, q->uri);
			else
				add_result(&res, &nres, w->name,
				    PRINTREDIR__PRINTER_STATE__PRINTER_FAILED, q->name, 0,
				    "a queue named %s, not made by printredir, already "
				    "exists in the guest; rename or remove it", q->name);
			continue;
		}
		if (q && (v = queue_verdict(http, ctx, q, &what)) == QUEUE_EDITED) {
			add_result(&res, &nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    q->name, 0, "queue %s was edited by hand (%s changed); "
			    "left alone", q->name, what);
			continue;
		}
		if (q == NULL) {
			/* An equivalent queue a person made under another name. */
			struct queue *dup = NULL;

			for (size_t k = 0; k < l.n && !dup; k++)
				if (l.v[k].mark == NULL &&
				    same_uri(l.v[k].uri, w->host_device_uri))
					dup = &l.v[k];
			if (dup) {
				add_result(&res, &nres, w->name,
				    PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED,
				    dup->name, 0, "queue %s, installed by hand, already "
				    "prints to %s", dup->name, dup->uri);
				continue;
			}
		}
		if (w->driver != PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE) {
			/* The broker's detail already says what to do. */
			add_result(&res, &nres, w->name,
			    w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED ?
			    PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_REJECTED :
			    PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_MISSING,
			    q ? q->name : NULL, 0, "%s%s", w->detail && *w->detail ?
			    w->detail : "the print server has no driver for it: install "
			    "the driver by hand in the guest",
			    q ? " (the queue installed earlier is kept)" : "");
			continue;
		}
		if (plan_one(ctx, w, q, v == QUEUE_TORN, &res, &nres, items, &nitems) == 1)
			tune_queue(http, ctx, w, q, &res[nres - 1]);
	}
	install_all(http, ctx, items, nitems, res);

	/* The agent's own queues that are no longer wanted. */
	for (size_t k = 0; k < l.n; k++) {
		struct queue *q = &l.v[k];
		const char *what;

		if (q->mark == NULL || q->seen)
			continue;
		if (queue_verdict(http, ctx, q, &what) == QUEUE_EDITED) {
			add_result(&res, &nres, q->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    q->name, 0, "no longer on the host, but queue %s was edited "
			    "by hand (%s changed); left alone", q->name, what);
			continue;
		}
		if (delete_queue(http, q->name, err, sizeof(err)) != 0) {
			add_result(&res, &nres, q->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
			    q->name, 0, "%s", err);
			continue;
		}
		log_info("removed queue %s", q->name);
		add_result(&res, &nres, q->name, PRINTREDIR__PRINTER_STATE__PRINTER_REMOVED,
		    q->name, 0, nwant == 0 ? "removed: redirection is off" :
		    "removed: no longer on the host");
	}
	for (size_t i = 0; i < nwant && i < nres; i++)
		if (want[i].is_default && strcmp(res[i].name, want[i].name) == 0 &&
		    res[i].state ==
		    PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED && res[i].queue)
			host_default = res[i].queue;
	apply_default(http, host_default, dflt);
out:
	free(items);
	list_free(&l);
	httpClose(http);
	*results = res;
	*nresults = nres;
	return rc;
}
