/*
 * Install: makes the guest's CUPS match the broker's wish, through libcups
 * IPP requests only (no shell, no lpadmin).  Runs on a worker thread with its
 * own connection.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cups/cups.h>

#include "agent.h"
#include "cupsconn.h"
#include "log.h"
#include "ppd.h"
#include "statefile.h"

#define CONNECT_TIMEOUT_MS 5000
#define MARK_HASH 16		/* hex digits of each hash in the mark */
/* What the rewrite of a PPD for the guest (ppd_rewrite_pdf) may add. */
#define GUEST_PPD_GROWTH 4096

struct queue {
	char *name;
	char *uri;
	char *make_model;
	char *mark;		/* NULL: not ours */
	int seen;		/* matched a wanted printer */
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

/* Every queue of the guest; 0 or -EHOSTDOWN. */
static int
list_queues(http_t *http, struct list *l, char *err, size_t errlen)
{
	static const char *attrs[] = {
		"printer-name", "device-uri", "printer-make-and-model", AGENT_MARK_ATTR,
	};
	ipp_t *req, *resp;
	ipp_attribute_t *a;

	req = ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    sizeof(attrs) / sizeof(attrs[0]), NULL, attrs);
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL || (ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING &&
	    ippGetStatusCode(resp) != IPP_STATUS_ERROR_NOT_FOUND)) {
		snprintf(err, errlen, "listing guest queues failed: %s",
		    cupsLastErrorString());
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

/* Whether model is the NickName of a driver the agent wrote for the guest. */
static int
agent_driver_model(const struct install_ctx *ctx, const char *model)
{
	DIR *d = opendir(ctx->drivers_dir);
	struct dirent *e;
	char path[4200], nick[256];
	char *ppd;
	size_t len, n;
	int found = 0;

	while (d && !found && (e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (n < 11 || strcmp(e->d_name + n - 10, ".guest.ppd") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ctx->drivers_dir, e->d_name);
		if (statefile_read(path, (size_t)ctx->conf->max_ppd + GUEST_PPD_GROWTH,
		    &ppd, &len) != 0)
			continue;
		found = ppd_check_parse(ppd, len, nick, sizeof(nick), NULL, 0) == 0 &&
		    strcmp(nick, model ? model : "") == 0;
		free(ppd);
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
	nv[*n].name = strdup(name);
	nv[*n].state = state;
	nv[*n].queue = strdup(queue ? queue : "");
	nv[*n].changed = changed;
	va_start(ap, fmt);
	if (vasprintf(&nv[*n].detail, fmt, ap) < 0)
		nv[*n].detail = NULL;
	va_end(ap);
	(*n)++;
	return 0;
}

static int
ipp_ok(ipp_t *resp)
{
	return resp != NULL && ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING;
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
static int
put_queue(http_t *http, const struct want *w, const char *dev,
    const char *ppd_path, const char *mark, char *err, size_t errlen)
{
	ipp_t *req, *resp;
	int ok;

	req = cupsconn_request(IPP_OP_CUPS_ADD_MODIFY_PRINTER, w->name);
	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_URI, "device-uri", NULL, dev);
	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-info", NULL,
	    w->info && *w->info ? w->info : w->name);
	if (w->location && *w->location)
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-location",
		    NULL, w->location);
	ippAddBoolean(req, IPP_TAG_PRINTER, "printer-is-accepting-jobs", 1);
	ippAddInteger(req, IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
	    IPP_PSTATE_IDLE);
	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_NAME, AGENT_MARK_ATTR, NULL, mark);
	resp = cupsDoFileRequest(http, req, "/admin/", ppd_path);
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
 * The guest's PPD for w's driver (ppd_rewrite_pdf, then ppd_check_safe under
 * the agent's policy) in *guest (free()).  Returns 0, -EPERM when the driver
 * is refused, -ENOENT when it is not here; err says why.
 */
static int
guest_driver(const struct install_ctx *ctx, const struct want *w,
    const char *hex, char **guest, size_t *glen, char *err, size_t errlen)
{
	const struct agent_conf *conf = ctx->conf;
	struct ppd_policy pol = {
		.max_size = (size_t)conf->max_ppd, .filter_dir = conf->filter_dir,
	};
	char path[4200], policy[8400], *ppd = NULL;
	const char *known;
	size_t len = 0;
	int rc;

	*guest = NULL;
	snprintf(policy, sizeof(policy), "%lld\n%s", conf->max_ppd, conf->filter_dir);
	if ((known = refused_reason(w->sha, policy)) != NULL) {
		snprintf(err, errlen, "%s", known);
		return -EPERM;
	}
	snprintf(path, sizeof(path), "%s/%s.ppd", ctx->drivers_dir, hex);
	rc = statefile_read(path, (size_t)conf->max_ppd + 1, &ppd, &len);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "driver is over the size cap of %lld bytes",
		    conf->max_ppd);
		return -EPERM;
	}
	if (rc != 0) {
		snprintf(err, errlen, "driver %.12s... was not received from the broker", hex);
		return -ENOENT;
	}
	/* Only the options of the print server's driver reach the guest: the
	 * rewritten PPD hands every job over as PDF, and is what is checked. */
	rc = ppd_rewrite_pdf(ppd, len, (size_t)conf->max_ppd + GUEST_PPD_GROWTH,
	    guest, glen, err, errlen);
	free(ppd);
	if (rc == 0 && ppd_check_safe(*guest, *glen, &pol, err, errlen) != 0)
		rc = -EPERM;
	if (rc != 0) {
		remember_refusal(w->sha, err);
		free(*guest);
		*guest = NULL;
		return -EPERM;
	}
	return 0;
}

/*
 * Installs or updates one wanted printer whose name is free (own NULL) or
 * ours; a torn queue is set up again even when its mark says it is current.
 * With ctx->recheck (the agent's policy changed), a current queue's driver is
 * checked again, and the queue removed when the policy now refuses it.
 */
static void
install_one(http_t *http, const struct install_ctx *ctx, const struct want *w,
    struct queue *own, int torn, struct result **res, size_t *nres)
{
	char hex[HASH_HEX_LEN], path[4200], err[1024], nick[256], mark[256];
	char want_mark_d[MARK_HASH + 1], have_d[MARK_HASH + 1], u[MARK_HASH + 1];
	char dev[CODEC_MAX_STRING + 16], *guest = NULL, gone[1200] = "";
	size_t glen = 0;
	int rc, current = 0;

	hash_hex(w->sha, hex);
	device_uri(w, dev, sizeof(dev));
	if (own != NULL && !torn) {
		/* Unchanged since we made it: nothing to do. */
		snprintf(want_mark_d, sizeof(want_mark_d), "%.*s", MARK_HASH, hex);
		mark_field(own->mark, 'd', have_d);
		short_hash(dev, u);
		mark_field(own->mark, 'u', mark);
		current = strcmp(want_mark_d, have_d) == 0 && strcmp(u, mark) == 0;
		if (current && !ctx->recheck) {
			add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED,
			    own->name, 0, "installed, prints to the host queue %s", w->name);
			return;
		}
	}
	rc = guest_driver(ctx, w, hex, &guest, &glen, err, sizeof(err));
	if (rc == -ENOENT) {
		add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
		    NULL, 0, "%s", err);
		return;
	}
	if (rc != 0) {
		/* Installed under a policy that now refuses it: it goes. */
		if (current && delete_queue(http, own->name, gone, sizeof(gone)) == 0) {
			log_info("removed queue %s: the policy now refuses its driver",
			    own->name);
			snprintf(gone, sizeof(gone), "; its queue is removed");
		}
		add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_REJECTED,
		    NULL, 0, "driver rejected: %s%s", err, gone);
		return;
	}
	if (current) {
		free(guest);
		add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED,
		    own->name, 0, "installed, prints to the host queue %s", w->name);
		return;
	}
	(void)ppd_check_parse(guest, glen, nick, sizeof(nick), err, sizeof(err));
	snprintf(path, sizeof(path), "%s/%s.guest.ppd", ctx->drivers_dir, hex);
	rc = statefile_write(path, guest, glen, 0644);
	free(guest);
	if (rc != 0) {
		add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
		    NULL, 0, "cannot write %s: %s", path, strerror(-rc));
		return;
	}
	make_mark(dev, w->sha, nick, mark, sizeof(mark));
	if (put_queue(http, w, dev, path, mark, err, sizeof(err)) != 0) {
		add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_FAILED,
		    NULL, 0, "%s", err);
		return;
	}
	log_info("%s queue %s (prints to the host queue of that name)",
	    own ? "updated" : "installed", w->name);
	add_result(res, nres, w->name, PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED,
	    w->name, 1, "%s, prints to the host queue %s",
	    own ? "updated" : "installed", w->name);
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
    size_t nwant, struct result **results, size_t *nresults)
{
	struct result *res = NULL;
	size_t nres = 0;
	struct list l = { 0 };
	http_t *http;
	char err[1024];
	int rc = 0;

	*results = NULL;
	*nresults = 0;
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
		install_one(http, ctx, w, q, v == QUEUE_TORN, &res, &nres);
	}

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
out:
	list_free(&l);
	httpClose(http);
	*results = res;
	*nresults = nres;
	return rc;
}
