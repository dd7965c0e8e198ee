/*
 * The watcher: a worker thread with its own libcups connection to the host's
 * scheduler.  It lists every queue (CUPS-Get-Printers), classifies it,
 * takes the drivers of the redirected ones from the fetcher (fetch.c), and
 * hands the resulting snapshot to the loop through a uv_async.  A printer
 * whose driver was never fetched is held back until it is, except on the
 * first listing (and after a new configuration), which waits for all.
 *
 * Between listings it follows a printer subscription.  Pushed when it can:
 * the subscription's recipient is printredir's notifier, which cupsd runs
 * and which writes each event to the broker's events socket (push.c), so
 * an event wakes this thread at once and an idle host costs nothing.
 * Pulled otherwise (the host cupsd is another machine's, or has no
 * printredir notifier): Get-Notifications every poll_ms, as CUPS 2.4
 * answers at once instead of holding the request (notify-wait), and drops
 * events past its queue limit.  Either way an event, a sequence gap or a
 * lost subscription means "list again", and a full listing runs every
 * relist_interval anyway.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cups/cups.h>

#include "broker.h"
#include "cupsconn.h"
#include "log.h"
#include "ppd.h"

#define CONNECT_TIMEOUT_MS 5000
#define LEASE_SECS 600
#define SETTLE_MS 100		/* an event burst is over after this much quiet */
#define PUSH_SETTLE_MS 5	/* ...pushed: events come as they happen */
#define SETTLE_MAX_MS 400	/* ...or after this long, whatever happens */
#define RETRY_MS 1000		/* host CUPS unreachable: try again after */

struct watch {
	uv_thread_t thread;
	uv_async_t async;
	uv_mutex_t lock;
	uv_cond_t cond;
	int stop, relist;		/* under lock */
	int republish;			/* under lock: a fetch result changed */
	int pushed, push_lost;		/* under lock: from push.c */
	int events;			/* under lock: EVENTS_* */
	struct snapshot *pending;	/* under lock: latest, not yet taken */
	struct broker *b;
	struct broker_conf conf;	/* deep copy for the thread, under lock */
	int conf_changed;		/* under lock */
};

static struct watch *w;

enum { EVENTS_RELIST, EVENTS_POLL, EVENTS_PUSH };

/* --- classification --------------------------------------------------- */

int
watch_uri_is_network(const char *uri)
{
	static const char *net[] = {
		"ipp", "ipps", "http", "https", "socket", "lpd", "smb", "dnssd",
		"mdns", "ipp14", "implicitclass", "driverless", "snmp",
	};
	char scheme[32];
	size_t n = strcspn(uri, ":");

	if (uri[n] != ':' || n == 0 || n >= sizeof(scheme))
		return 0;
	memcpy(scheme, uri, n);
	scheme[n] = '\0';
	/* beh:/DELETE/ATTEMPTS/DELAY/URI wraps another backend's URI. */
	if (strcasecmp(scheme, "beh") == 0) {
		const char *inner = uri;

		for (int i = 0; i < 4 && inner; i++)
			inner = strchr(inner + 1, '/');
		return inner ? watch_uri_is_network(inner + 1) : 0;
	}
	/* HPLIP: hp:/net/... is a network printer, hp:/usb/... is not. */
	if (strcasecmp(scheme, "hp") == 0 || strcasecmp(scheme, "hpfax") == 0)
		return strncmp(uri + n + 1, "/net/", 5) == 0;
	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++)
		if (strcasecmp(scheme, net[i]) == 0)
			return 1;
	return 0;	/* usb, parallel, serial, file, cups-pdf, unknown: local */
}

/* --- snapshots -------------------------------------------------------- */

static void
printer_free(struct printer *p)
{
	free(p->name);
	free(p->device_uri);
	free(p->make_model);
	free(p->info);
	free(p->location);
	free(p->reasons);
	free(p->message);
	free(p->defaults);
	free(p->ppd_defaults);
	free(p->detail);
}

void
snapshot_free(struct snapshot *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		printer_free(&s->printers[i]);
	for (size_t i = 0; i < s->ndrivers; i++)
		free(s->drivers[i].z);
	free(s->printers);
	free(s->drivers);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static int
str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int
same_printer(const struct printer *p, const struct printer *q)
{
	return str_eq(p->name, q->name) && str_eq(p->device_uri, q->device_uri) &&
	    str_eq(p->make_model, q->make_model) && str_eq(p->info, q->info) &&
	    str_eq(p->location, q->location) && str_eq(p->detail, q->detail) &&
	    p->is_default == q->is_default && p->stopped == q->stopped &&
	    p->rejecting == q->rejecting && str_eq(p->reasons, q->reasons) &&
	    str_eq(p->message, q->message) && str_eq(p->defaults, q->defaults) &&
	    str_eq(p->ppd_defaults, q->ppd_defaults) &&
	    p->generic == q->generic &&
	    p->network == q->network && p->redirected == q->redirected &&
	    p->driver == q->driver && memcmp(p->sha, q->sha, HASH_LEN) == 0;
}

int
snapshot_equal(const struct snapshot *a, const struct snapshot *b)
{
	if (a->n != b->n)
		return 0;
	/* Both are sorted by name (CUPS-Get-Printers answers in name order,
	 * and we sort anyway). */
	for (size_t i = 0; i < a->n; i++)
		if (!same_printer(&a->printers[i], &b->printers[i]))
			return 0;
	return 1;
}

int
snapshot_offered_equal(const struct snapshot *a, const struct snapshot *b)
{
	size_t i = 0, k = 0;

	for (;;) {
		while (i < a->n && !a->printers[i].redirected)
			i++;
		while (k < b->n && !b->printers[k].redirected)
			k++;
		if (i == a->n || k == b->n)
			return i == a->n && k == b->n;
		if (!same_printer(&a->printers[i++], &b->printers[k++]))
			return 0;
	}
}

static int
by_name(const void *x, const void *y)
{
	return strcmp(((const struct printer *)x)->name,
	    ((const struct printer *)y)->name);
}

/* --- talking to the host's cupsd ----------------------------------------- */

int
watch_cups_is_local(const char *cups)
{
	char host[256];
	const char *spec = cups != NULL && *cups != '\0' ? cups : cupsServer();
	size_t n;

	if (spec[0] == '/')
		return 1;
	if (spec[0] == '[') {
		n = strcspn(spec + 1, "]");
		spec++;
	} else {
		n = strcspn(spec, ":");
	}
	if (n >= sizeof(host))
		return 0;
	memcpy(host, spec, n);
	host[n] = '\0';
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "::1") == 0;
}

static http_t *
host_connect(const struct broker_conf *conf, char *err, size_t errlen)
{
	char why[512];
	http_t *http = cupsconn_open(conf->cups, CONNECT_TIMEOUT_MS, why, sizeof(why));

	if (http == NULL)
		snprintf(err, errlen, "host %s", why);
	return http;
}

static char *
dup_attr(ipp_attribute_t *a)
{
	const char *s = a ? ippGetString(a, 0, NULL) : NULL;

	return strdup(s ? s : "");
}

static void
add_reason(struct printer *p, const char *r)
{
	size_t n = 0, len = p->reasons ? strlen(p->reasons) : 0;
	char *nr;

	for (const char *c = p->reasons; c && *c; c++)
		n += *c == ' ';
	if (len > 0 && n + 1 >= CODEC_MAX_REASONS)
		return;
	if ((nr = realloc(p->reasons, len + strlen(r) + 2)) == NULL)
		return;
	snprintf(nr + len, strlen(r) + 2, "%s%s", len ? " " : "", r);
	p->reasons = nr;
}

/*
 * Whether a "-default" attribute of a host queue goes to the guests: the
 * settings of printing (media, sides, color, quality, PPD choices...), not
 * those of the spooler (holds, priorities, banners, notifications), nor
 * the values cupsd gives every queue that sets none (one page a side, no
 * finishing), which every guest queue has already, nor the placeholders it
 * shows for a queue without a driver (monochrome, normal quality).
 */
static int
default_shown(const char *name, const char *value, int raw)
{
	static const char *const spooler[] = {
		"copies", "document-format", "job-account-id", "job-accounting-user-id",
		"job-cancel-after", "job-hold-until", "job-priority", "job-sheets",
		"printer-error-policy", "printer-op-policy",
	};
	static const struct { const char *name, *value; int raw_only; } built_in[] = {
		{ "number-up", "1", 0 }, { "finishings", "3", 0 },
		{ "print-color-mode", "monochrome", 1 }, { "print-quality", "4", 1 },
	};

	if (!codec_keyword_ok(name) || strncmp(name, "printredir-", 11) == 0 ||
	    strncmp(name, "notify-", 7) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(spooler) / sizeof(spooler[0]); i++)
		if (strcmp(name, spooler[i]) == 0)
			return 0;
	for (size_t i = 0; i < sizeof(built_in) / sizeof(built_in[0]); i++)
		if ((raw || !built_in[i].raw_only) && strcmp(name, built_in[i].name) == 0 &&
		    strcmp(value, built_in[i].value) == 0)
			return 0;
	return 1;
}

/* One "-default" attribute into p->defaults, the first of each name. */
static void
add_default(struct printer *p, ipp_attribute_t *a, int raw)
{
	char name[CODEC_MAX_KEYWORD + 1], value[CODEC_MAX_VALUE + 1], *nd;
	const char *n = ippGetName(a), *line;
	size_t nlen = strlen(n) - 8, len = p->defaults ? strlen(p->defaults) : 0;
	size_t count = 0;

	if (nlen == 0 || nlen > CODEC_MAX_KEYWORD)
		return;
	memcpy(name, n, nlen);
	name[nlen] = '\0';
	if (cupsconn_default_value(a, value, sizeof(value)) != 0 || value[0] == '\0' ||
	    !codec_text_ok(value, CODEC_MAX_VALUE, 1) || !default_shown(name, value, raw))
		return;
	for (line = p->defaults; line && *line; line = codec_next_item(line, '\n')) {
		if (strncmp(line, name, nlen) == 0 && line[nlen] == '=')
			return;	/* cupsd lists a queue's own option first */
		if (++count >= CODEC_MAX_DEFAULTS)
			return;
	}
	if ((nd = realloc(p->defaults, len + nlen + strlen(value) + 3)) == NULL)
		return;
	snprintf(nd + len, nlen + strlen(value) + 3, "%s=%s\n", name, value);
	p->defaults = nd;
}

/* One printer group of a CUPS-Get-Printers answer into p; 0 or -1. */
static int
read_printer(ipp_t *resp, ipp_attribute_t **cursor, struct printer *p,
    int *skip, char **skip_why)
{
	ipp_attribute_t *a, *defaults[64];
	int temporary = 0, remote = 0, browsed = 0, raw;
	size_t ndefaults = 0;

	memset(p, 0, sizeof(*p));
	*skip = 0;
	for (a = *cursor; a && ippGetGroupTag(a) == IPP_TAG_PRINTER;
	    a = ippNextAttribute(resp)) {
		const char *n = ippGetName(a);

		if (n == NULL)
			break;
		if (!strcmp(n, "printer-name"))
			p->name = dup_attr(a);
		else if (!strcmp(n, "device-uri"))
			p->device_uri = dup_attr(a);
		else if (!strcmp(n, "printer-make-and-model"))
			p->make_model = dup_attr(a);
		else if (!strcmp(n, "printer-info"))
			p->info = dup_attr(a);
		else if (!strcmp(n, "printer-location"))
			p->location = dup_attr(a);
		else if (!strcmp(n, "printer-is-temporary"))
			temporary = ippGetBoolean(a, 0);
		else if (!strcmp(n, "printer-type")) {
			/* Not CUPS_PRINTER_REMOTE: cupsd sets it on every raw
			 * queue whose device is ipp://, which is exactly the
			 * kind of queue we redirect. */
			remote = (ippGetInteger(a, 0) &
			    (CUPS_PRINTER_CLASS | CUPS_PRINTER_DISCOVERED)) != 0;
			p->is_default = (ippGetInteger(a, 0) & CUPS_PRINTER_DEFAULT) != 0;
		}
		else if (!strcmp(n, "cups-browsed-default") || !strcmp(n, "cups-browsed"))
			browsed = 1;
		else if (!strcmp(n, "printer-state"))
			p->stopped = ippGetInteger(a, 0) == IPP_PSTATE_STOPPED;
		else if (!strcmp(n, "printer-config-change-time"))
			p->config_time = ippGetInteger(a, 0);
		else if (!strcmp(n, "printer-is-accepting-jobs"))
			p->rejecting = !ippGetBoolean(a, 0);
		else if (!strcmp(n, "printer-state-message"))
			p->message = dup_attr(a);
		else if (!strcmp(n, "printer-state-reasons")) {
			for (int i = 0; i < ippGetCount(a); i++)
				if (cupsconn_reason_shown(ippGetString(a, i, NULL)))
					add_reason(p, ippGetString(a, i, NULL));
		} else if (strlen(n) > 8 && !strcmp(n + strlen(n) - 8, "-default") &&
		    ndefaults < sizeof(defaults) / sizeof(defaults[0]))
			defaults[ndefaults++] = a;	/* once the model is known */
	}
	*cursor = a;
	if (p->name == NULL)
		return -1;
	/* A queue without a driver shows cupsd's placeholders. */
	raw = p->make_model == NULL || !strcmp(p->make_model, "Remote Printer") ||
	    !strcmp(p->make_model, "Local Raw Printer");
	for (size_t i = 0; i < ndefaults; i++)
		add_default(p, defaults[i], raw);
	if (!p->stopped && !p->rejecting && p->reasons == NULL) {
		free(p->message);	/* "Sending data", "Ready": of no interest */
		p->message = NULL;
	}
	if (p->device_uri == NULL) {
		p->device_uri = strdup("");
		remote = 1;	/* a queue of another host, seen by browsing */
	}
	if (temporary || remote || browsed ||
	    strncmp(p->device_uri, "implicitclass:", 14) == 0) {
		*skip = 1;
		*skip_why = strdup(temporary ? "temporary queue" : browsed ||
		    !strncmp(p->device_uri, "implicitclass:", 14) ?
		    "queue made by cups-browsed for a discovered printer" :
		    "class or remote printer, not a queue of this host");
	}
	return 0;
}

/*
 * The broker sends only what it would accept itself (codec_check_printer):
 * text from the host's CUPS and from the print server is cleaned, and the
 * printer's detail says so.
 */
static void
fit_text(struct printer *p)
{
	char **text[] = { &p->make_model, &p->info, &p->location, &p->device_uri };
	char *d;
	int changed = 0;

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (*text[i] != NULL)
			changed |= codec_clean_text(*text[i], CODEC_MAX_STRING);
	if (p->message != NULL)
		codec_clean_text(p->message, CODEC_MAX_VALUE);
	if (p->detail != NULL)
		codec_clean_text(p->detail, CODEC_MAX_STRING / 2);
	if (changed && asprintf(&d, "%s%sits make and model, description, location "
	    "or device URI held control characters or bytes that are not UTF-8: "
	    "sent with them replaced", p->detail ? p->detail : "",
	    p->detail ? "; " : "") >= 0) {
		free(p->detail);
		p->detail = d;
	}
}

/*
 * What the watcher remembers of each host queue as of its
 * printer-config-change-time, read again only when that moves: its
 * "-default" attributes (printer-defaults is most of a listing's bytes) and
 * the default choices of its own PPD.  The watcher thread's alone.
 */
static struct ppd_memo {
	char *name;
	int config_time;		/* of choices */
	time_t choices_read;		/* when */
	char *choices;			/* NULL: it has none */
	int defaults_time;		/* of defaults; -1 not read */
	time_t defaults_read;		/* when */
	char *defaults;			/* its "-default" attributes (add_default) */
} *memo;

/* Whether what was read at `read`, when the queue's configuration had
 * last changed at `was`, still holds now that it last changed at `is`: the
 * change time counts whole seconds, so a change in the second of the read
 * may have come after it. */
static int
memo_fresh(int was, time_t read, int is)
{
	return was == is && (time_t)is < read;
}
static size_t nmemo;

static void
memo_drop(size_t i)
{
	free(memo[i].name);
	free(memo[i].choices);
	free(memo[i].defaults);
	memo[i] = memo[--nmemo];
}

/* The memo of queue name, made when there is none; NULL out of memory. */
static struct ppd_memo *
memo_of(const char *name)
{
	struct ppd_memo *nm;

	for (size_t i = 0; i < nmemo; i++)
		if (strcmp(memo[i].name, name) == 0)
			return &memo[i];
	if ((nm = realloc(memo, (nmemo + 1) * sizeof(*nm))) == NULL)
		return NULL;
	memo = nm;
	memo[nmemo] = (struct ppd_memo){ .name = strdup(name), .config_time = -1,
	    .defaults_time = -1 };
	if (memo[nmemo].name == NULL)
		return NULL;
	return &memo[nmemo++];
}

/* At most this many queues whose configuration changed have their
 * defaults read one by one; more, and every queue's are read at once. */
#define MEMO_ONE_BY_ONE 8

/*
 * The defaults of host queue `queue`, or of every host queue (NULL), into
 * the memo, as of their printer-config-change-time: printer-defaults is
 * most of a listing's bytes, so a listing asks for it only when a queue's
 * configuration changed since (list_printers).
 */
static void
memo_defaults(http_t *http, const char *queue)
{
	static const char *attrs[] = {
		"printer-name", "printer-make-and-model", "printer-config-change-time",
		"printer-defaults",
	};
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	ipp_status_t st;
	char failed[256];
	time_t now = time(NULL);

	req = queue ? cupsconn_request(IPP_OP_GET_PRINTER_ATTRIBUTES, queue) :
	    ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    sizeof(attrs) / sizeof(attrs[0]), NULL, attrs);
	if ((resp = cupsconn_query(http, req, "/", &st, failed, sizeof(failed))) == NULL)
		return;
	for (a = ippFirstAttribute(resp); a; ) {
		struct printer p;
		struct ppd_memo *m;
		char *why = NULL;
		int skip;

		while (a && ippGetGroupTag(a) != IPP_TAG_PRINTER)
			a = ippNextAttribute(resp);
		if (a == NULL)
			break;
		if (read_printer(resp, &a, &p, &skip, &why) == 0 &&
		    (m = memo_of(p.name)) != NULL) {
			free(m->defaults);
			m->defaults = p.defaults;
			p.defaults = NULL;
			m->defaults_time = p.config_time;
			m->defaults_read = now;
		}
		free(why);
		printer_free(&p);
	}
	ippDelete(resp);
}

/* Every printer of s gets its defaults from the memo, read again first
 * where it is stale. */
static void
fill_defaults(http_t *http, struct snapshot *s)
{
	size_t stale = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct ppd_memo *m = memo_of(s->printers[i].name);

		if (m != NULL && !memo_fresh(m->defaults_time, m->defaults_read,
		    s->printers[i].config_time))
			stale++;
	}
	if (stale > MEMO_ONE_BY_ONE)
		memo_defaults(http, NULL);
	for (size_t i = 0; i < s->n; i++) {
		struct ppd_memo *m = memo_of(s->printers[i].name);

		if (m != NULL && stale > 0 && stale <= MEMO_ONE_BY_ONE &&
		    !memo_fresh(m->defaults_time, m->defaults_read, s->printers[i].config_time)) {
			memo_defaults(http, s->printers[i].name);
			m = memo_of(s->printers[i].name);	/* it may have moved */
		}
		if (m != NULL && m->defaults != NULL)
			s->printers[i].defaults = strdup(m->defaults);
	}
}

/* The PPD of host queue name on http into *out (*len bytes, at most max):
 * 0, -ENOENT when it has none, -EIO when it could not be read. */
static int
host_ppd(http_t *http, const char *name, long long max, char **out, size_t *len)
{
	char resource[1024], *buf;
	http_status_t st;
	size_t cap = 65536, n = 0;
	ssize_t got;

	*out = NULL;
	drivers_ppd_resource(name, resource, sizeof(resource));
	httpClearFields(http);
	if (httpGet(http, resource) != 0)
		return -EIO;
	while ((st = httpUpdate(http)) == HTTP_STATUS_CONTINUE)
		;
	if (st != HTTP_STATUS_OK) {
		httpFlush(http);
		return st == HTTP_STATUS_NOT_FOUND ? -ENOENT : -EIO;
	}
	if ((buf = malloc(cap)) == NULL) {
		httpFlush(http);
		return -EIO;
	}
	while ((got = httpRead2(http, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			char *nb;

			if ((long long)cap > max || (nb = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				httpFlush(http);
				return -EIO;
			}
			buf = nb;
			cap *= 2;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

/* p->ppd_defaults from the host queue's own PPD, when it has one; read
 * again when its configuration changed, and at every full listing. */
static void
host_ppd_defaults(http_t *http, const struct broker_conf *conf, struct printer *p,
    int revalidate)
{
	struct ppd_memo *m;
	char choices[CODEC_MAX_PPD_DEFAULTS * (2 * CODEC_MAX_PPD_WORD + 2) + 1], *ppd;
	size_t len;
	int rc;

	if (p->make_model == NULL || !strcmp(p->make_model, "Remote Printer") ||
	    !strcmp(p->make_model, "Local Raw Printer"))
		return;		/* a queue without a driver has no PPD */
	if ((m = memo_of(p->name)) == NULL)
		return;
	if (revalidate || !memo_fresh(m->config_time, m->choices_read, p->config_time)) {
		time_t now = time(NULL);

		choices[0] = '\0';
		if ((rc = host_ppd(http, p->name, conf->max_ppd, &ppd, &len)) == 0) {
			if (ppd_ui_defaults(ppd, len, choices, sizeof(choices)) != 0)
				choices[0] = '\0';
			free(ppd);
		} else if (rc == -EIO) {
			return;		/* tried again at the next listing */
		}
		free(m->choices);
		m->choices = choices[0] ? strdup(choices) : NULL;
		m->config_time = p->config_time;
		m->choices_read = now;
	}
	if (m->choices != NULL)
		p->ppd_defaults = strdup(m->choices);
}

/* Forgets the queues s no longer lists. */
static void
memo_keep(const struct snapshot *s)
{
	for (size_t i = 0; i < nmemo; ) {
		int seen = 0;

		for (size_t k = 0; k < s->n && !seen; k++)
			seen = strcmp(s->printers[k].name, memo[i].name) == 0;
		if (seen)
			i++;
		else
			memo_drop(i);
	}
}

/*
 * Lists the host's queues.  revalidate queues every redirected printer's
 * driver to be fetched again; wait waits for the drivers never fetched
 * (else their printers are held back until they are).  *held counts those
 * and the printers offered with the driver of their old device or model.
 */
static struct snapshot *
list_printers(http_t *http, const struct broker_conf *conf, int *conn_lost,
    int revalidate, int wait, size_t *held)
{
	static const char *attrs[] = {
		"printer-name", "device-uri", "printer-make-and-model", "printer-info",
		"printer-location", "printer-is-temporary", "printer-type",
		"cups-browsed-default", "printer-state", "printer-is-accepting-jobs",
		"printer-state-reasons", "printer-state-message",
		"printer-config-change-time",
	};
	struct snapshot *s = calloc(1, sizeof(*s));
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	ipp_status_t st;
	char failed[256];
	size_t unknown = 0;

	*conn_lost = 0;
	*held = 0;
	if (s == NULL)
		return NULL;
	req = ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    sizeof(attrs) / sizeof(attrs[0]), NULL, attrs);
	resp = cupsconn_query(http, req, "/", &st, failed, sizeof(failed));
	if (resp == NULL || st > IPP_STATUS_OK_CONFLICTING) {
		/* No printers at all is "not found": an empty host, not an error. */
		if (st != IPP_STATUS_ERROR_NOT_FOUND) {
			if (asprintf(&s->error, "listing host printers failed: %s",
			    failed) < 0)
				s->error = NULL;
			*conn_lost = resp == NULL;
		}
		ippDelete(resp);
		return s;
	}
	for (a = ippFirstAttribute(resp); a; ) {
		struct printer p, *np;
		char *skip_why = NULL;
		int skip;

		while (a && ippGetGroupTag(a) != IPP_TAG_PRINTER)
			a = ippNextAttribute(resp);
		if (a == NULL)
			break;
		if (read_printer(resp, &a, &p, &skip, &skip_why) != 0) {
			printer_free(&p);
			continue;
		}
		p.network = watch_uri_is_network(p.device_uri);
		p.redirected = !skip && (p.network || conf->redirect_local);
		if (skip)
			p.detail = skip_why;
		else if (!p.redirected)
			p.detail = strdup("local printer: not redirected "
			    "(redirect_local = no)");
		np = realloc(s->printers, (s->n + 1) * sizeof(*np));
		if (np == NULL) {
			printer_free(&p);
			break;
		}
		s->printers = np;
		s->printers[s->n++] = p;
	}
	ippDelete(resp);
	qsort(s->printers, s->n, sizeof(*s->printers), by_name);
	fill_defaults(http, s);
	for (size_t i = 0, chosen = 0; i < s->n; i++) {
		struct printer *p = &s->printers[i];
		char *why = NULL;
		int out = 1;

		if (!p->redirected)
			continue;
		if (!cupsconn_valid_name(p->name))
			why = strdup("not redirected: no guest's CUPS takes this name "
			    "(\".\", \"..\", a leading \"-\" or bytes that are not UTF-8)");
		else if (!broker_printer_chosen(conf, p->name, p->is_default))
			why = strdup(strcmp(conf->printers, "default-only") == 0 ?
			    "not redirected: not the host's default printer "
			    "(printers = default-only)" :
			    "not redirected: not named in printers");
		else if (conf->max_printers > 0 && chosen++ >= (size_t)conf->max_printers) {
			if (asprintf(&why, "not redirected: over max_printers = %lld "
			    "(the first by name are)", conf->max_printers) < 0)
				why = NULL;
		} else
			out = 0;
		if (out) {
			p->redirected = 0;
			free(p->detail);
			p->detail = why;
		} else {
			host_ppd_defaults(http, conf, p, revalidate);
			switch (fetch_lookup(p, s, revalidate)) {
			case 0:
				unknown++;
				break;
			case 2:
				/* Its device or model changed: offered with the
				 * driver of the old while the new is fetched, but
				 * held as a new printer is, so that one
				 * generation has both. */
				(*held)++;
				break;
			}
		}
	}
	if (unknown > 0 && wait)
		fetch_wait_idle();
	probe_targets(s);
	for (size_t i = 0; i < s->n; i++) {
		struct printer *p = &s->printers[i];
		char where[300];

		if (p->redirected && probe_down(p->device_uri, where, sizeof(where))) {
			if (p->reasons == NULL || strstr(p->reasons, "offline-report") == NULL)
				add_reason(p, "offline-report");
			if (p->message == NULL || *p->message == '\0') {
				free(p->message);
				if (asprintf(&p->message, "its destination %s does not answer",
				    where) < 0)
					p->message = NULL;
			}
		}
		if (p->redirected && p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_UNSPECIFIED &&
		    (!wait || !fetch_lookup(p, s, 0))) {
			(*held)++;
			p->redirected = 0;
			free(p->detail);
			p->detail = strdup("its driver is being fetched from its print "
			    "server: offered once it is in");
		}
		fit_text(p);
	}
	fetch_keep(s);
	memo_keep(s);
	return s;
}

/*
 * Subscribes to the host's printer events: pushed to recipient with token
 * when recipient is not NULL, else pulled.  Returns the subscription id, 0
 * when refused, -1 when the connection is gone.
 */
static int
subscribe(http_t *http, const char *recipient, const char *token,
    int *lease_until)
{
	static const char *events[] = {
		"printer-added", "printer-deleted", "printer-modified",
		"printer-config-changed", "printer-state-changed", "server-restarted",
	};
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	int id = 0;

	req = cupsconn_request(IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS, NULL);
	ippAddStrings(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events",
	    sizeof(events) / sizeof(events[0]), NULL, events);
	if (recipient != NULL) {
		ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_URI,
		    "notify-recipient-uri", NULL, recipient);
		ippAddOctetString(req, IPP_TAG_SUBSCRIPTION, "notify-user-data",
		    token, (int)strlen(token));
	} else {
		ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD,
		    "notify-pull-method", NULL, "ippget");
	}
	ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER,
	    "notify-lease-duration", LEASE_SECS);
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL)
		return -1;
	if (ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING &&
	    (a = ippFindAttribute(resp, "notify-subscription-id", IPP_TAG_INTEGER)))
		id = ippGetInteger(a, 0);
	else if (recipient != NULL)
		log_warnx("host CUPS refused a push subscription (%s): is the "
		    "printredir notifier installed in its ServerBin "
		    "(notifier/printredir)?  Pulling its events instead",
		    cupsLastErrorString());
	else
		log_warnx("host CUPS refused a printer subscription (%s); relying on "
		    "periodic listing", cupsLastErrorString());
	ippDelete(resp);
	*lease_until = (int)time(NULL) + LEASE_SECS;
	return id;
}

/* Renews subscription id; 0, or -1 when the host no longer has it. */
static int
renew(http_t *http, int id, int *lease_until)
{
	ipp_t *req = cupsconn_request(IPP_OP_RENEW_SUBSCRIPTION, NULL);
	ipp_t *resp;
	int ok;

	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", id);
	ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER,
	    "notify-lease-duration", LEASE_SECS);
	resp = cupsDoRequest(http, req, "/");
	ok = resp != NULL && ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING;
	ippDelete(resp);
	*lease_until = (int)time(NULL) + LEASE_SECS;
	return ok ? 0 : -1;
}

static void
unsubscribe(http_t *http, int id)
{
	ipp_t *req = cupsconn_request(IPP_OP_CANCEL_SUBSCRIPTION, NULL);

	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", id);
	ippDelete(cupsDoRequest(http, req, "/"));
}

/*
 * Pulls pending events.  Returns the number of events (a gap in the
 * sequence counts as one), 0 for none, -1 when the subscription is gone,
 * -2 when the connection is.
 */
static int
pull_events(http_t *http, int id, int *seq)
{
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	int count = 0;

	req = cupsconn_request(IPP_OP_GET_NOTIFICATIONS, NULL);
	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER,
	    "notify-subscription-ids", id);
	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER,
	    "notify-sequence-numbers", *seq);
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL)
		return httpGetFd(http) < 0 || cupsLastError() >= IPP_STATUS_ERROR_INTERNAL ?
		    -2 : -1;
	if (ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		ippDelete(resp);
		return -1;
	}
	for (a = ippFindAttribute(resp, "notify-sequence-number", IPP_TAG_INTEGER); a;
	    a = ippFindNextAttribute(resp, "notify-sequence-number", IPP_TAG_INTEGER)) {
		int n = ippGetInteger(a, 0);

		if (n < *seq)
			continue;
		if (n > *seq)	/* events were dropped: we list anyway */
			log_debug("host CUPS events %d..%d were dropped", *seq, n - 1);
		*seq = n + 1;
		count++;
	}
	ippDelete(resp);
	return count;
}

/* --- the thread --------------------------------------------------------- */

static void
post(struct snapshot *s)
{
	uv_mutex_lock(&w->lock);
	if (w->pending) {
		/* s shows the change the loop has not taken yet: since then. */
		if (w->pending->noticed != 0 && (s->noticed == 0 ||
		    w->pending->noticed < s->noticed))
			s->noticed = w->pending->noticed;
		snapshot_free(w->pending);
		free(w->pending);
	}
	w->pending = s;
	uv_mutex_unlock(&w->lock);
	uv_async_send(&w->async);
}

static void
set_events(int events)
{
	uv_mutex_lock(&w->lock);
	w->events = events;
	uv_mutex_unlock(&w->lock);
}

static int
events_now(void)
{
	int e;

	uv_mutex_lock(&w->lock);
	e = w->events;
	uv_mutex_unlock(&w->lock);
	return e;
}

/* 1 when an event was pushed since the last call. */
static int
take_pushed(void)
{
	int pushed;

	uv_mutex_lock(&w->lock);
	pushed = w->pushed;
	w->pushed = 0;
	uv_mutex_unlock(&w->lock);
	return pushed;
}

/* Sleeps ms unless asked to stop, relist, or woken by an event; returns 1
 * when it should stop. */
static int
nap(unsigned ms)
{
	int stop;

	uv_mutex_lock(&w->lock);
	if (!w->stop && !w->relist && !w->republish && !w->pushed && !w->push_lost)
		(void)uv_cond_timedwait(&w->cond, &w->lock, (uint64_t)ms * 1000000);
	stop = w->stop;
	uv_mutex_unlock(&w->lock);
	return stop;
}

/*
 * New printers are held back for their drivers, which come in one by one,
 * FETCH_THREADS at a time: while the fetcher still works, wait for more
 * results a little (SETTLE_MS after the last, until deadline) so that they
 * make one generation.  The listing that follows sees the results and any
 * host event that came meanwhile, so both are taken here.  1 when the
 * watcher is to stop.
 */
static int
settle_fetches(uint64_t deadline)
{
	while (fetch_busy() && uv_hrtime() < deadline) {
		int other;

		uv_mutex_lock(&w->lock);
		w->republish = 0;	/* nap wakes at the next result */
		w->pushed = 0;
		other = w->relist || w->push_lost;	/* the loop's to do */
		uv_mutex_unlock(&w->lock);
		if (other)
			return 0;
		if (nap(SETTLE_MS))
			return 1;
	}
	return 0;
}

static void
watch_thread(void *arg)
{
	struct broker_conf conf = { 0 };
	http_t *http = NULL;
	int sub = 0, seq = 1, lease_until = 0, need_list = 1, lost;
	int republish = 0, settled = 0, push_refused = 0, verify = 0, full = 1;
	time_t last_list = 0;
	/* When the change the next snapshots are to show was noticed: the
	 * first event of a burst, or the start of a listing nothing asked for
	 * (the first, a relist, a driver come in).  It stays while printers
	 * are held back for their drivers, so that the snapshot that offers
	 * them counts from the event. */
	uint64_t noticed = 0;
	size_t held = 0;
	char err[1024], last_err[1024] = "";

	(void)arg;
	for (;;) {
		uv_mutex_lock(&w->lock);
		if (w->stop) {
			uv_mutex_unlock(&w->lock);
			break;
		}
		if (w->relist) {
			w->relist = 0;
			need_list = full = 1;
		}
		if (w->republish) {
			w->republish = 0;
			republish = 1;
		}
		if (w->push_lost) {
			w->push_lost = 0;
			verify = 1;
		}
		if (w->conf_changed) {
			/* A reloaded configuration: take our own copy. */
			broker_free_conf(&conf);
			if (broker_copy_conf(&w->conf, &conf) != 0)
				fatalx("out of memory");
			w->conf_changed = 0;
			/* Here, between passes: a pass that found the results
			 * gone would hold every printer back. */
			fetch_conf(&conf);
			probe_set_interval(conf.probe_interval);
			need_list = full = 1;
			settled = 0;
			if (http) {
				if (sub)
					unsubscribe(http, sub);
				httpClose(http);	/* "cups" may have changed */
				http = NULL;
			}
		}
		uv_mutex_unlock(&w->lock);

		if (http == NULL) {
			http = host_connect(&conf, err, sizeof(err));
			if (http == NULL) {
				if (strcmp(err, last_err) != 0) {
					struct snapshot *s = calloc(1, sizeof(*s));

					log_warnx("%s; retrying every second", err);
					snprintf(last_err, sizeof(last_err), "%s", err);
					if (s && (s->error = strdup(err)) != NULL)
						post(s);
					else
						free(s);
				}
				if (nap(RETRY_MS))
					break;
				continue;
			}
			if (last_err[0])
				log_info("host CUPS is back");
			last_err[0] = '\0';
			sub = 0;
			push_refused = 0;
			need_list = 1;
		}
		if (sub == 0) {
			const char *to = push_recipient();

			if (strcmp(conf.host_events, "poll") == 0 || push_refused)
				to = NULL;
			sub = subscribe(http, to, push_token(), &lease_until);
			if (sub == 0 && to != NULL) {
				push_refused = 1;
				sub = subscribe(http, NULL, NULL, &lease_until);
			}
			if (sub < 0) {
				log_warnx("lost the connection to host CUPS; reconnecting");
				httpClose(http);
				http = NULL;
				sub = 0;
				continue;
			}
			set_events(sub == 0 ? EVENTS_RELIST :
			    to != NULL && !push_refused ? EVENTS_PUSH : EVENTS_POLL);
			seq = 1;
			need_list = 1;
		} else if (verify || time(NULL) > lease_until - LEASE_SECS / 2) {
			/* Renewing also tells whether cupsd still has it. */
			if (renew(http, sub, &lease_until) != 0) {
				log_info("host CUPS dropped our subscription "
				    "(restarted?); subscribing again");
				sub = 0;
				verify = 0;
				continue;
			}
			need_list |= verify;
		}
		verify = 0;
		if (republish && !need_list && held > 0 &&
		    settle_fetches(uv_hrtime() + SETTLE_MAX_MS * 1000000ull))
			break;
		if (need_list || republish ||
		    time(NULL) - last_list >= conf.relist_interval) {
			/* A host event lists again, but checks with the print
			 * servers only the drivers of new or changed printers. */
			int revalidate = full ||
			    time(NULL) - last_list >= conf.relist_interval;
			struct snapshot *s;

			if (noticed == 0)
				noticed = uv_hrtime();
			s = list_printers(http, &conf, &lost, revalidate, !settled,
			    &held);
			/* The printers of a burst come in over some time (five
			 * lpadmin runs at once: tens of ms on a busy host), and
			 * each event lists again: while new ones wait for their
			 * drivers, offering the ready ones would make a
			 * generation per listing.  A young burst waits for the
			 * fetcher and is listed again, SETTLE_MAX_MS at most. */
			while (s && s->error == NULL && !lost && held > 0 &&
			    uv_hrtime() < noticed + SETTLE_MAX_MS * 1000000ull) {
				int busy = fetch_busy();

				if (busy && settle_fetches(noticed +
				    SETTLE_MAX_MS * 1000000ull))
					break;
				snapshot_free(s);
				free(s);
				s = list_printers(http, &conf, &lost, revalidate,
				    !settled, &held);
				if (!busy)
					break;	/* what was held has its answer */
			}
			if (revalidate)
				last_list = time(NULL);
			need_list = republish = full = 0;
			if (s) {
				settled |= s->error == NULL;
				s->noticed = noticed;
				if (s->error == NULL && held == 0)
					noticed = 0;
				post(s);
			}
			if (lost) {
				httpClose(http);
				http = NULL;
				continue;
			}
		}
		if (sub != 0 && events_now() == EVENTS_PUSH) {
			/* Nothing to do till an event, the next listing or the
			 * subscription's renewal. */
			time_t due = last_list + conf.relist_interval;

			if (due > lease_until - LEASE_SECS / 2)
				due = lease_until - LEASE_SECS / 2;
			if (nap(due > time(NULL) ? (unsigned)(due - time(NULL)) * 1000 : 0))
				break;
			if (take_pushed()) {
				/* Events of one change come together. */
				uint64_t start = uv_hrtime();

				if (noticed == 0)
					noticed = start;
				while (nap(PUSH_SETTLE_MS) == 0 && take_pushed() &&
				    uv_hrtime() - start < SETTLE_MAX_MS * 1000000ull)
					;
				need_list = 1;
			}
			continue;
		}
		if (nap((unsigned)conf.poll_ms))
			break;
		if (sub == 0)
			continue;

		int n = pull_events(http, sub, &seq);

		if (n == -2) {
			log_warnx("lost the connection to host CUPS; reconnecting");
			httpClose(http);
			http = NULL;
			continue;
		}
		if (n == -1) {
			log_info("host CUPS dropped our subscription (restarted?); "
			    "subscribing again");
			sub = 0;
			continue;
		}
		if (n > 0) {
			/* Let a burst finish so that it makes one generation. */
			uint64_t start = uv_hrtime();

			if (noticed == 0)
				noticed = start;
			while (nap(SETTLE_MS) == 0 &&
			    pull_events(http, sub, &seq) > 0 &&
			    uv_hrtime() - start < SETTLE_MAX_MS * 1000000ull)
				;
			need_list = 1;
		}
	}
	if (http && sub)
		unsubscribe(http, sub);
	httpClose(http);
	broker_free_conf(&conf);
	while (nmemo > 0)
		memo_drop(0);
	free(memo);
	memo = NULL;
}

/* --- the loop side -------------------------------------------------------- */

/* The loop's side of the hand-over: the decision is broker.c's. */
static void
on_snapshot(uv_async_t *a)
{
	struct broker *b = a->data;
	struct snapshot *s;

	uv_mutex_lock(&w->lock);
	s = w->pending;
	w->pending = NULL;
	uv_mutex_unlock(&w->lock);
	if (s != NULL)
		broker_on_snapshot(b, s);
}

void
watch_push_event(void)
{
	if (w == NULL)
		return;
	uv_mutex_lock(&w->lock);
	w->pushed = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->lock);
}

void
watch_push_lost(void)
{
	if (w == NULL)
		return;
	uv_mutex_lock(&w->lock);
	w->push_lost = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->lock);
}

const char *
watch_events(void)
{
	static const char *names[] = { "relist", "poll", "push" };

	return w != NULL ? names[events_now()] : "relist";
}

/* On the fetcher's thread: a driver changed, list again to offer it; on
 * the prober's: a destination stopped or started answering. */
static void
on_fetch_change(void)
{
	uv_mutex_lock(&w->lock);
	w->republish = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->lock);
}

int
watch_start(struct broker *b)
{
	int rc;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->b = b;
	if (broker_copy_conf(&b->conf, &w->conf) != 0) {
		free(w);
		w = NULL;
		return -ENOMEM;
	}
	w->conf_changed = 1;
	if ((rc = fetch_start(&b->conf, on_fetch_change)) != 0 ||
	    (rc = probe_start(b->conf.probe_interval, on_fetch_change)) != 0) {
		broker_free_conf(&w->conf);
		free(w);
		w = NULL;
		return rc;
	}
	uv_mutex_init(&w->lock);
	uv_cond_init(&w->cond);
	uv_async_init(b->loop, &w->async, on_snapshot);
	w->async.data = b;
	if ((rc = uv_thread_create(&w->thread, watch_thread, NULL)) != 0) {
		log_warnx("cannot start the watcher thread: %s", uv_strerror(rc));
		return rc;
	}
	return 0;
}

void
watch_relist(struct broker *b)
{
	if (w == NULL)
		return;
	uv_mutex_lock(&w->lock);
	broker_free_conf(&w->conf);
	if (broker_copy_conf(&b->conf, &w->conf) != 0)
		fatalx("out of memory");
	w->conf_changed = 1;
	w->relist = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->lock);
}

static void
free_watch(uv_handle_t *h)
{
	(void)h;
	uv_mutex_destroy(&w->lock);
	uv_cond_destroy(&w->cond);
	broker_free_conf(&w->conf);
	free(w);
	w = NULL;
}

void
watch_stop(struct broker *b)
{
	(void)b;
	if (w == NULL)
		return;
	fetch_cancel();		/* the watcher may wait for it */
	uv_mutex_lock(&w->lock);
	w->stop = 1;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->lock);
	uv_thread_join(&w->thread);
	probe_stop();
	fetch_stop();
	if (w->pending) {
		snapshot_free(w->pending);
		free(w->pending);
		w->pending = NULL;
	}
	uv_close((uv_handle_t *)&w->async, free_watch);
}
