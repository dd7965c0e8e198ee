/*
 * A guest's job on a host queue.  Each job has a thread of its own that
 * talks to the host's cupsd through libcups, blocking, and hands what the
 * loop must know (credit, the verdict) over through one uv_async.  The loop
 * pushes document chunks into a queue the thread drains into Send-Document;
 * the queue never holds more chunks than credit was granted for.
 *
 * A withdrawal (submit_abort) sets a flag under the lock and wakes the
 * thread; a write to cupsd under way is cut by shutting down the thread's
 * own duplicate of the socket, and every other blocking libcups call looks
 * at the flag each TICK_S through httpSetTimeout's callback.  The thread
 * then cancels the host job, on a connection of its own, and the verdict
 * reaches the loop like any other.
 *
 * Once cupsd holds the whole document the thread follows the host job to
 * its end, and only then is the guest answered: a host cupsd killed before
 * it saved its jobs (it writes them up to DirtyCleanInterval later) forgets
 * them, and the guest, told to retry, sends the job again.  The journal
 * (joblog.c) is asked first and told each step, so that a job is never
 * printed twice; the sentinel below tells a job the host forgot from one
 * it printed and no longer keeps (PreserveJobHistory, MaxJobs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cups/cups.h>

#include "cupsconn.h"
#include "log.h"
#include "statefile.h"
#include "broker.h"

#define CONNECT_TIMEOUT_MS 5000
#define TICK_S 0.5		/* a blocked libcups call looks at the abort flag */
#define STALL_S 60		/* cupsd silent this long: the job is retried */
#define IDLE_S 300		/* the guest sent nothing this long: retried */
#define DETAIL_MAX 512
#define FOLLOW_FIRST_MS 50	/* a host job is looked at after this, then */
#define FOLLOW_MAX_MS 1000	/* ... twice as long each time, up to this */
#define FOLLOW_PENDING_MS 250	/* ... or this while it waits to print: cupsd
				 * may forget it until it saves it, and what
				 * it forgets before printing is sent again */
/* A job attribute naming the journal key a host job was created for.  A
 * cupsd killed before it saved its jobs forgets them and hands their ids
 * out again: a host job id alone does not say the job is ours.  (Guests
 * cannot set it: printredir-* options are never passed on.) */
#define JOB_KEY_ATTR "printredir-job"

/* ==== one job ========================================================= */

struct chunk {
	struct chunk *next;
	size_t len;
	int last;
	unsigned char data[];
};

struct submit {
	uv_loop_t *loop;
	uv_async_t async;		/* thread -> loop: credit, the end */
	uv_thread_t thread;
	uv_mutex_t lock;
	uv_cond_t cond;			/* loop -> thread: a chunk, abort */
	const struct submit_ops *ops;
	void *data;

	/* The job, copied; read-only once the thread runs. */
	char *cups, *uuid, *printer, *user, *title, *format;
	int copies, num_options;
	cups_option_t *options;
	struct joblog *log;
	struct sentinel *sentinel;

	/* Loop thread only. */
	unsigned credit_given;		/* announced through on_credit */
	unsigned pushed;
	int pushed_last;
	int abort_called;
	int closing;			/* on_done has been called */

	/* Thread only. */
	uint64_t deadline;		/* uv_hrtime() a libcups call gives up at */

	/* Under lock. */
	struct chunk *head, **tail;
	size_t held;			/* bytes queued or being written */
	int got_last;
	unsigned owed;			/* credit granted, not yet announced */
	int aborted;
	int sock;			/* socket of a write in progress, or -1 */
	int finished;			/* the verdict below is final */
	enum submit_outcome outcome;
	int host_job_id;
	char detail[DETAIL_MAX];
};

/* What the thread works with. */
struct run {
	struct submit *s;
	http_t *http;
	int job_id;			/* the host job we created or look after */
	int complete;			/* ... holds the whole document */
	int done;			/* ... ended: the outcome is final */
	int64_t t0;			/* ... made by then (epoch ms), -1 unknown */
	enum submit_outcome o;
	char detail[DETAIL_MAX];
};

static int
is_aborted(struct submit *s)
{
	int a;

	uv_mutex_lock(&s->lock);
	a = s->aborted;
	uv_mutex_unlock(&s->lock);
	return a;
}

static void
set_outcome(struct run *r, enum submit_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_outcome(struct run *r, enum submit_outcome o, const char *fmt, ...)
{
	va_list ap;

	r->o = o;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	/* The detail reaches the guest's job: text only. */
	for (unsigned char *p = (unsigned char *)r->detail; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			*p = ' ';
}

/* libcups's timeout callbacks: keep waiting (1) or give up (0). */
static int
wait_abortable(http_t *http, void *data)
{
	struct submit *s = data;

	(void)http;
	return !is_aborted(s) && uv_hrtime() < s->deadline;
}

static int
wait_bounded(http_t *http, void *data)
{
	struct submit *s = data;

	(void)http;
	return uv_hrtime() < s->deadline;
}

static void
arm(struct submit *s)
{
	s->deadline = uv_hrtime() + (uint64_t)STALL_S * 1000000000ull;
}

static http_t *
host_open(struct submit *s, int abortable, char *err, size_t errlen)
{
	http_t *http = cupsconn_open(s->cups, CONNECT_TIMEOUT_MS, err, errlen);

	if (http != NULL)
		httpSetTimeout(http, TICK_S, abortable ? wait_abortable : wait_bounded, s);
	return http;
}

/* The IPP statuses that say the host will never take this job as it is. */
static enum submit_outcome
classify(ipp_status_t st)
{
	switch (st) {
	case IPP_STATUS_ERROR_BAD_REQUEST:
	case IPP_STATUS_ERROR_FORBIDDEN:
	case IPP_STATUS_ERROR_NOT_AUTHORIZED:
	case IPP_STATUS_ERROR_NOT_POSSIBLE:
	case IPP_STATUS_ERROR_NOT_FOUND:
	case IPP_STATUS_ERROR_GONE:
	case IPP_STATUS_ERROR_REQUEST_ENTITY:
	case IPP_STATUS_ERROR_REQUEST_VALUE:
	case IPP_STATUS_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED:
	case IPP_STATUS_ERROR_ATTRIBUTES_OR_VALUES:
	case IPP_STATUS_ERROR_URI_SCHEME:
	case IPP_STATUS_ERROR_CHARSET:
	case IPP_STATUS_ERROR_CONFLICTING:
	case IPP_STATUS_ERROR_COMPRESSION_NOT_SUPPORTED:
	case IPP_STATUS_ERROR_COMPRESSION_ERROR:
	case IPP_STATUS_ERROR_DOCUMENT_FORMAT_ERROR:
	case IPP_STATUS_ERROR_DOCUMENT_ACCESS:
	case IPP_STATUS_ERROR_ATTRIBUTES_NOT_SETTABLE:
	case IPP_STATUS_ERROR_DOCUMENT_PASSWORD:
	case IPP_STATUS_ERROR_DOCUMENT_PERMISSION:
	case IPP_STATUS_ERROR_DOCUMENT_SECURITY:
	case IPP_STATUS_ERROR_DOCUMENT_UNPRINTABLE:
		return SUBMIT_REFUSED;
	default:
		return SUBMIT_RETRY;	/* cupsd down, busy, server errors */
	}
}

static ipp_t *
job_request(ipp_op_t op, int job_id)
{
	char uri[HTTP_MAX_URI];
	ipp_t *req = ippNewRequest(op);

	snprintf(uri, sizeof(uri), "ipp://localhost/jobs/%d", job_id);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, cupsUser());
	return req;
}

struct host_job {
	int state;			/* ipp_jstate_t */
	int documents;
	int incoming;			/* job-state-reasons has job-incoming */
	char message[128];		/* job-state-message, "" none */
};

/* Get-Job-Attributes: 0; -ENOENT when cupsd does not know the job, -ESTALE
 * when job_id now names another job than the one created for s (cupsd
 * forgot ours and gave its id again), -EIO with why in err. */
static int
look_at_job(struct submit *s, http_t *http, int job_id, struct host_job *hj,
    char *err, size_t errlen)
{
	static const char *const attrs[] = {"job-state", "job-state-reasons",
	    "job-state-message", "number-of-documents", JOB_KEY_ATTR};
	ipp_t *req = job_request(IPP_OP_GET_JOB_ATTRIBUTES, job_id), *resp;
	ipp_attribute_t *a;
	const char *v;
	int rc = 0;

	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    (int)(sizeof(attrs) / sizeof(attrs[0])), NULL, attrs);
	arm(s);
	resp = cupsDoRequest(http, req, "/");
	memset(hj, 0, sizeof(*hj));
	if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND) {
		rc = -ENOENT;
	} else if (resp == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING) {
		errf(err, errlen, "host job %d: %s", job_id, cupsLastErrorString());
		rc = -EIO;
	} else if ((a = ippFindAttribute(resp, JOB_KEY_ATTR, IPP_TAG_ZERO)) == NULL ||
	    (v = ippGetString(a, 0, NULL)) == NULL || strcmp(v, s->uuid) != 0) {
		log_warnx("host job %d is not the one created for job %s: the host's "
		    "cupsd forgot that one and gave its id to another", job_id, s->uuid);
		rc = -ESTALE;
	} else {
		if ((a = ippFindAttribute(resp, "job-state", IPP_TAG_ENUM)) != NULL)
			hj->state = ippGetInteger(a, 0);
		if ((a = ippFindAttribute(resp, "number-of-documents",
		    IPP_TAG_INTEGER)) != NULL)
			hj->documents = ippGetInteger(a, 0);
		if ((a = ippFindAttribute(resp, "job-state-reasons",
		    IPP_TAG_KEYWORD)) != NULL)
			hj->incoming = ippContainsString(a, "job-incoming");
		if ((a = ippFindAttribute(resp, "job-state-message", IPP_TAG_TEXT)) != NULL &&
		    (v = ippGetString(a, 0, NULL)) != NULL)
			snprintf(hj->message, sizeof(hj->message), "%s", v);
	}
	ippDelete(resp);
	return rc;
}

/* The host job holds its document: cupsd counts it, or has moved the job
 * past waiting for it. */
static int
holds_document(const struct host_job *hj)
{
	if (hj->documents >= 1)
		return 1;
	return !hj->incoming && (hj->state == IPP_JSTATE_PROCESSING ||
	    hj->state == IPP_JSTATE_STOPPED || hj->state == IPP_JSTATE_COMPLETED);
}

static void
journal(struct submit *s, enum joblog_state state, int job_id)
{
	int rc = joblog_put(s->log, s->uuid, state, job_id);

	if (rc != 0)
		log_warnx("job journal: cannot record host job %d as %s: %s", job_id,
		    joblog_state_name(state), strerror(-rc));
}

/*
 * Host job job_id was created for this UUID but is not known to hold its
 * whole document (a crash, a lost connection, a withdrawal).  When it does
 * hold it (and may_accept, or it already completed) it is recorded sent:
 * 1, and the caller follows it.  Otherwise it is cancelled and recorded
 * cancelled: 0; also when cupsd no longer knows it, which then never had
 * its whole document from us.  -1 when cupsd cannot say or refuses the
 * cancel, why in err; the journal keeps "created" so that the next attempt
 * looks again.  Runs on a connection of its own, which no withdrawal cuts
 * short, and which never carried a job's authentication into a Create-Job.
 */
static int
settle(struct submit *s, int job_id, int may_accept, char *err, size_t errlen)
{
	struct host_job hj;
	http_t *http;
	ipp_t *resp;
	int rc;

	if ((http = host_open(s, 0, err, errlen)) == NULL)
		return -1;
	for (int tries = 0; tries < 2; tries++) {
		rc = look_at_job(s, http, job_id, &hj, err, errlen);
		if (rc == -EIO)
			goto out;
		if (rc == -ENOENT || rc == -ESTALE) {
			/* Gone from cupsd: nothing left to print twice or to
			 * cancel. */
			journal(s, JOBLOG_CANCELLED, job_id);
			rc = 0;
			goto out;
		}
		if (holds_document(&hj) && (may_accept ||
		    hj.state == IPP_JSTATE_COMPLETED)) {
			journal(s, JOBLOG_SENT, job_id);
			rc = 1;
			goto out;
		}
		if (hj.state == IPP_JSTATE_CANCELED || hj.state == IPP_JSTATE_ABORTED) {
			journal(s, JOBLOG_CANCELLED, job_id);
			rc = 0;
			goto out;
		}
		if (tries > 0) {
			errf(err, errlen, "host job %d is neither finished nor "
			    "cancelled", job_id);
			rc = -1;
			goto out;
		}
		arm(s);
		resp = cupsDoRequest(http, job_request(IPP_OP_CANCEL_JOB, job_id),
		    "/jobs/");
		ippDelete(resp);
		if (cupsLastError() <= IPP_STATUS_OK_CONFLICTING) {
			journal(s, JOBLOG_CANCELLED, job_id);
			rc = 0;
			goto out;
		}
		/* not-possible: it finished meanwhile; look again. */
		if (cupsLastError() != IPP_STATUS_ERROR_NOT_POSSIBLE)
			break;
	}
	errf(err, errlen, "cannot cancel host job %d: %s", job_id,
	    cupsLastErrorString());
	rc = -1;
out:
	httpClose(http);
	return rc;
}

/* ==== the host's cupsd starting again ================================== */

/*
 * A host job cupsd no longer knows was either forgotten (cupsd was killed
 * before it saved it, and started again) or printed and dropped from its
 * history (PreserveJobHistory No, MaxJobs).  The first must be sent again,
 * the second never.  The sentinel tells them apart: a subscription of ours
 * to cupsd's server-started event, with no lease, marked in its
 * notify-user-data with the time (ms since the epoch) it was made.  cupsd
 * saves subscriptions as it saves jobs; after a start it has either lost
 * ours or sent it a server-started event.  Either way a new one is made, so
 * "the sentinel was made before t and is still quiet" says that cupsd has
 * not started again since t.  The mark lets a broker that restarted take
 * over its predecessor's sentinel (and judge the jobs it left by the
 * journal's times); sentinels of other users are never touched.
 */
#define SENTINEL_MARK "printredir-sentinel "

struct sentinel {
	uv_mutex_t lock;
	char *cups;			/* the scheduler it is on, NULL none */
	int id;				/* 0: not known yet */
	int64_t since;			/* ms it was made at */
	int warned;			/* that cupsd refuses it */
};

struct sentinel *
sentinel_new(void)
{
	struct sentinel *sn = calloc(1, sizeof(*sn));

	if (sn != NULL)
		uv_mutex_init(&sn->lock);
	return sn;
}

void
sentinel_free(struct sentinel *sn)
{
	if (sn == NULL)
		return;
	uv_mutex_destroy(&sn->lock);
	free(sn->cups);
	free(sn);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Get-Notifications: 0 quiet, 1 cupsd started since it was made (or lost
 * it: it is gone), -EIO. */
static int
sentinel_look(struct submit *s, http_t *http, int id)
{
	ipp_t *req = cupsconn_request(IPP_OP_GET_NOTIFICATIONS, NULL), *resp;
	int rc;

	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER,
	    "notify-subscription-ids", id);
	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER,
	    "notify-sequence-numbers", 1);
	arm(s);
	resp = cupsDoRequest(http, req, "/");
	if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND)
		rc = 1;
	else if (resp == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING)
		rc = -EIO;
	else	/* it subscribes to nothing but server-started */
		rc = ippFindAttribute(resp, "notify-sequence-number",
		    IPP_TAG_INTEGER) != NULL;
	ippDelete(resp);
	return rc;
}

/* Our marked subscription on this cupsd (the newest), setting *since; 0
 * when there is none. */
static int
sentinel_find(struct submit *s, http_t *http, int64_t *since)
{
	static const char *const attrs[] = {"notify-subscription-id",
	    "notify-user-data"};
	ipp_t *req = cupsconn_request(IPP_OP_GET_SUBSCRIPTIONS, NULL), *resp;
	ipp_attribute_t *a;
	int id = 0, best = 0;

	ippAddBoolean(req, IPP_TAG_OPERATION, "my-subscriptions", 1);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    (int)(sizeof(attrs) / sizeof(attrs[0])), NULL, attrs);
	arm(s);
	resp = cupsDoRequest(http, req, "/");
	for (a = ippFirstAttribute(resp); a; a = ippNextAttribute(resp)) {
		const char *name = ippGetName(a);
		char data[64];
		const void *v;
		int len = 0;

		if (name == NULL)
			id = 0;		/* the next subscription's group */
		else if (strcmp(name, "notify-subscription-id") == 0)
			id = ippGetInteger(a, 0);
		else if (strcmp(name, "notify-user-data") == 0 && id > best &&
		    (v = ippGetOctetString(a, 0, &len)) != NULL && len > 0 &&
		    (size_t)len < sizeof(data)) {
			char *end;
			long long t;

			memcpy(data, v, (size_t)len);
			data[len] = '\0';
			if (strncmp(data, SENTINEL_MARK, strlen(SENTINEL_MARK)) != 0)
				continue;
			errno = 0;
			t = strtoll(data + strlen(SENTINEL_MARK), &end, 10);
			if (errno == 0 && *end == '\0' && t > 0) {
				best = id;
				*since = t;
			}
		}
	}
	ippDelete(resp);
	return best;
}

static int
sentinel_make(struct submit *s, http_t *http, int64_t *since)
{
	char data[64];
	ipp_t *req = cupsconn_request(IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS, NULL), *resp;
	ipp_attribute_t *a;
	int id = 0, n;

	*since = now_ms();
	n = snprintf(data, sizeof(data), SENTINEL_MARK "%lld", (long long)*since);
	ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events", NULL,
	    "server-started");
	ippAddString(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-pull-method",
	    NULL, "ippget");
	ippAddInteger(req, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER,
	    "notify-lease-duration", 0);
	ippAddOctetString(req, IPP_TAG_SUBSCRIPTION, "notify-user-data", data, n);
	arm(s);
	resp = cupsDoRequest(http, req, "/");
	if (resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING &&
	    (a = ippFindAttribute(resp, "notify-subscription-id", IPP_TAG_INTEGER)))
		id = ippGetInteger(a, 0);
	ippDelete(resp);
	return id;
}

static void
sentinel_cancel(struct submit *s, http_t *http, int id)
{
	ipp_t *req = cupsconn_request(IPP_OP_CANCEL_SUBSCRIPTION, NULL);

	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER,
	    "notify-subscription-id", id);
	arm(s);
	ippDelete(cupsDoRequest(http, req, "/"));
}

/*
 * Since when (ms) the host's cupsd has run, as far as the sentinel knows:
 * 0 with *since set, -EIO when cupsd cannot be asked, -ENOENT when it
 * refuses the sentinel.
 */
static int
host_since(struct submit *s, http_t *http, int64_t *since)
{
	struct sentinel *sn = s->sentinel;
	int rc = 0, seen;

	uv_mutex_lock(&sn->lock);
	if (sn->cups == NULL || strcmp(sn->cups, s->cups) != 0) {
		free(sn->cups);
		sn->cups = strdup(s->cups);
		sn->id = 0;
	}
	if (sn->id == 0)
		sn->id = sentinel_find(s, http, &sn->since);
	if (sn->id != 0) {
		if ((seen = sentinel_look(s, http, sn->id)) < 0) {
			rc = -EIO;
			goto out;
		}
		if (seen) {
			log_info("the host's CUPS started again in the last %lld s",
			    (long long)(now_ms() - sn->since) / 1000);
			sentinel_cancel(s, http, sn->id);
			sn->id = 0;
		}
	}
	if (sn->id == 0 && (sn->id = sentinel_make(s, http, &sn->since)) == 0) {
		rc = cupsLastError() >= IPP_STATUS_ERROR_INTERNAL ? -EIO : -ENOENT;
		if (rc == -ENOENT && !sn->warned)
			log_warnx("the host's CUPS refuses the subscription that tells "
			    "printredir of its restarts (%s): a host job it no longer "
			    "knows is taken as printed", cupsLastErrorString());
		sn->warned |= rc == -ENOENT;
	}
	*since = sn->since;
out:
	uv_mutex_unlock(&sn->lock);
	return rc;
}

/* ==== following a host job to its end ================================== */

/* Sleeps ms unless withdrawn first: 1 when withdrawn. */
static int
pause_abortable(struct submit *s, unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000ull;
	int aborted;

	uv_mutex_lock(&s->lock);
	while (!s->aborted) {
		uint64_t now = uv_hrtime();

		if (now >= end)
			break;
		(void)uv_cond_timedwait(&s->cond, &s->lock, end - now);
	}
	aborted = s->aborted;
	uv_mutex_unlock(&s->lock);
	return aborted;
}

/*
 * Host job r->job_id holds the whole document (journal: sent): waits for
 * its end and sets the outcome.  Printed: done, accepted.  Cancelled or
 * aborted on the host: done (the host decided), refused.  Forgotten by a
 * cupsd that started again before it saved the job: if it never started
 * printing it, cancelled, retry (the guest sends the job again); if it had,
 * its backend had the document and may well outlive cupsd and deliver it
 * (nothing tells), so it is taken as printed rather than risk a second
 * copy.  A withdrawal stops the wait, not the host job: the journal keeps
 * "sent", and the guest's next attempt follows the same host job.
 */
static void
follow(struct run *r)
{
	struct submit *s = r->s;
	struct host_job hj;
	char err[DETAIL_MAX] = "";
	unsigned pause = FOLLOW_FIRST_MS;
	uint64_t lost_at = 0;
	int64_t since = 0;
	http_t *http = NULL;
	int rc, started = 0;

	for (;;) {
		if (http == NULL && (http = host_open(s, 0, err, sizeof(err))) == NULL)
			rc = -EIO;
		else
			rc = look_at_job(s, http, r->job_id, &hj, err, sizeof(err));
		if (rc == -ENOENT) {
			/* Forgotten, or printed and no longer kept. */
			rc = host_since(s, http, &since);
			if (rc == -EIO)
				errf(err, sizeof(err), "cannot ask the host's CUPS whether "
				    "it started again: %s", cupsLastErrorString());
			else if (rc == 0 && r->t0 >= 0 && since > r->t0)
				rc = -ESTALE;
			else {
				journal(s, JOBLOG_DONE, r->job_id);
				set_outcome(r, SUBMIT_ACCEPTED, "printed as host job %d (the "
				    "host keeps no record of it)", r->job_id);
				break;
			}
		}
		if (rc == -ESTALE && started) {
			log_warnx("job %s: the host's cupsd started again and forgot host "
			    "job %d while printing it: taken as printed", s->uuid,
			    r->job_id);
			journal(s, JOBLOG_DONE, r->job_id);
			set_outcome(r, SUBMIT_ACCEPTED, "printed as host job %d (the "
			    "host's CUPS restarted while printing it)", r->job_id);
			break;
		}
		if (rc == -ESTALE) {
			log_warnx("job %s: the host's cupsd started again and forgot host "
			    "job %d before printing it: the guest sends the job again",
			    s->uuid, r->job_id);
			journal(s, JOBLOG_CANCELLED, r->job_id);
			set_outcome(r, SUBMIT_RETRY, "the host's CUPS restarted and lost "
			    "host job %d: sent again", r->job_id);
			break;
		}
		if (rc == 0 && hj.state == IPP_JSTATE_COMPLETED) {
			journal(s, JOBLOG_DONE, r->job_id);
			set_outcome(r, SUBMIT_ACCEPTED, "printed as host job %d", r->job_id);
			break;
		}
		if (rc == 0 && (hj.state == IPP_JSTATE_CANCELED ||
		    hj.state == IPP_JSTATE_ABORTED)) {
			journal(s, JOBLOG_DONE, r->job_id);
			set_outcome(r, SUBMIT_REFUSED, "host job %d was %s on the host%s%s",
			    r->job_id, hj.state == IPP_JSTATE_CANCELED ? "cancelled" :
			    "aborted", *hj.message ? ": " : "", hj.message);
			break;
		}
		if (rc == 0) {
			lost_at = 0;
			started |= hj.state == IPP_JSTATE_PROCESSING ||
			    hj.state == IPP_JSTATE_STOPPED;
		} else if (lost_at == 0) {
			lost_at = uv_hrtime();
		} else if (uv_hrtime() - lost_at > (uint64_t)STALL_S * 1000000000ull) {
			/* The journal keeps "sent": a retry follows it again. */
			set_outcome(r, SUBMIT_RETRY, "cannot follow host job %d: %s",
			    r->job_id, err);
			break;
		}
		if (pause_abortable(s, pause)) {
			set_outcome(r, SUBMIT_RETRY, "withdrawn while host job %d prints",
			    r->job_id);
			break;
		}
		pause *= 2;
		if (pause > (started ? FOLLOW_MAX_MS : FOLLOW_PENDING_MS))
			pause = started ? FOLLOW_MAX_MS : FOLLOW_PENDING_MS;
	}
	httpClose(http);
}

/* Get-Printer-Attributes: 0 when the queue takes jobs, else the verdict. */
static int
check_queue(struct run *r)
{
	static const char *const attrs[] = {"printer-state", "printer-state-reasons",
	    "printer-state-message", "printer-is-accepting-jobs"};
	struct submit *s = r->s;
	char reasons[256] = "";
	const char *msg = NULL;
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	int state = IPP_PSTATE_IDLE, accepting = 1, rc = -1;

	req = cupsconn_request(IPP_OP_GET_PRINTER_ATTRIBUTES, s->printer);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    (int)(sizeof(attrs) / sizeof(attrs[0])), NULL, attrs);
	arm(s);
	resp = cupsDoRequest(r->http, req, "/");
	if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND) {
		set_outcome(r, SUBMIT_REFUSED, "no host queue %s", s->printer);
		goto out;
	}
	if (resp == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING) {
		set_outcome(r, SUBMIT_RETRY, "host CUPS: %s", cupsLastErrorString());
		goto out;
	}
	if ((a = ippFindAttribute(resp, "printer-state", IPP_TAG_ENUM)) != NULL)
		state = ippGetInteger(a, 0);
	if ((a = ippFindAttribute(resp, "printer-is-accepting-jobs",
	    IPP_TAG_BOOLEAN)) != NULL)
		accepting = ippGetBoolean(a, 0);
	if ((a = ippFindAttribute(resp, "printer-state-message", IPP_TAG_TEXT)) != NULL)
		msg = ippGetString(a, 0, NULL);
	if ((a = ippFindAttribute(resp, "printer-state-reasons", IPP_TAG_KEYWORD)) != NULL)
		for (int i = 0; i < ippGetCount(a); i++) {
			const char *k = ippGetString(a, i, NULL);
			size_t n = strlen(reasons);

			if (k == NULL || strcmp(k, "none") == 0)
				continue;
			snprintf(reasons + n, sizeof(reasons) - n, "%s%s", n ? ", " : "", k);
		}
	if (state == IPP_PSTATE_STOPPED || !accepting) {
		set_outcome(r, SUBMIT_RETRY, "host queue %s %s%s%s%s%s%s%s", s->printer,
		    state == IPP_PSTATE_STOPPED ? "is stopped" : "does not accept jobs",
		    state == IPP_PSTATE_STOPPED && !accepting ?
		    " and does not accept jobs" : "",
		    *reasons ? " (" : "", reasons, *reasons ? ")" : "",
		    msg && *msg ? ": " : "", msg && *msg ? msg : "");
		goto out;
	}
	rc = 0;
out:
	ippDelete(resp);
	return rc;
}

static int
create_job(struct run *r)
{
	struct submit *s = r->s;
	char uri[HTTP_MAX_URI], resource[256];
	ipp_t *req, *resp;
	ipp_attribute_t *a;

	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/printers/%s", s->printer);
	snprintf(resource, sizeof(resource), "/printers/%s", s->printer);
	req = ippNewRequest(IPP_OP_CREATE_JOB);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, s->user);
	if (*s->title)
		ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "job-name", NULL,
		    s->title);
	ippAddInteger(req, IPP_TAG_JOB, IPP_TAG_INTEGER, "copies", s->copies);
	cupsEncodeOptions2(req, s->num_options, s->options, IPP_TAG_JOB);
	ippAddString(req, IPP_TAG_JOB, IPP_TAG_NAME, JOB_KEY_ATTR, NULL, s->uuid);
	/* Not cut short by a withdrawal: a job cupsd created while we stopped
	 * listening would be left waiting for its document, unknown to us. */
	httpSetTimeout(r->http, TICK_S, wait_bounded, s);
	arm(s);
	resp = cupsDoRequest(r->http, req, resource);
	httpSetTimeout(r->http, TICK_S, wait_abortable, s);
	if (resp == NULL || cupsLastError() > IPP_STATUS_OK_CONFLICTING ||
	    (a = ippFindAttribute(resp, "job-id", IPP_TAG_INTEGER)) == NULL ||
	    ippGetInteger(a, 0) <= 0) {
		if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND)
			set_outcome(r, SUBMIT_REFUSED, "no host queue %s", s->printer);
		else if (is_aborted(s))
			set_outcome(r, SUBMIT_RETRY, "withdrawn");
		else
			set_outcome(r, cupsLastError() > IPP_STATUS_OK_CONFLICTING ?
			    classify(cupsLastError()) : SUBMIT_RETRY,
			    "host queue %s: %s", s->printer, cupsLastErrorString());
		ippDelete(resp);
		return -1;
	}
	r->job_id = ippGetInteger(a, 0);
	ippDelete(resp);
	return 0;
}

static void
grant(struct submit *s, unsigned chunks)
{
	uv_mutex_lock(&s->lock);
	s->owed += chunks;
	uv_mutex_unlock(&s->lock);
	uv_async_send(&s->async);
}

/* Takes the next chunk, waiting for it; NULL once withdrawn or idle.  wfd
 * is the socket submit_abort may shut down while the chunk is written. */
static struct chunk *
next_chunk(struct run *r, int wfd, int *idle)
{
	struct submit *s = r->s;
	uint64_t end = uv_hrtime() + (uint64_t)IDLE_S * 1000000000ull;
	struct chunk *c = NULL;

	*idle = 0;
	uv_mutex_lock(&s->lock);
	while (s->head == NULL && !s->aborted) {
		uint64_t now = uv_hrtime();

		if (now >= end) {
			*idle = 1;
			break;
		}
		(void)uv_cond_timedwait(&s->cond, &s->lock, end - now);
	}
	if (s->head != NULL && !s->aborted) {
		c = s->head;
		if ((s->head = c->next) == NULL)
			s->tail = &s->head;
		/* submit_abort may cut this write short: the socket is
		 * recorded under the lock that guards the flag. */
		if (c->len > 0)
			s->sock = wfd;
	}
	uv_mutex_unlock(&s->lock);
	return c;
}

/* Send-Document, fed chunk by chunk as the guest sends them. */
static void
stream_document(struct run *r)
{
	struct submit *s = r->s;
	http_status_t hs;
	ipp_status_t st;
	int idle, last = 0, wfd = -1;

	arm(s);
	/* No document-name: Debian's cupsd 2.4.2 (2.4.2-3+deb12u10) crashes
	 * starting a job whose document-name-supplied holds a space, see
	 * encodes_safely(). */
	hs = cupsStartDocument(r->http, s->printer, r->job_id, NULL, s->format, 1);
	if (hs != HTTP_STATUS_CONTINUE)
		goto failed;
	/*
	 * Our own descriptor of the socket for submit_abort's shutdown():
	 * libcups may close its descriptor inside a write (httpFlush after an
	 * error), and a number closed there could be another thread's socket
	 * by the time the loop shuts it down.  Without one, an abort waits for
	 * the next timeout tick.
	 */
	wfd = fcntl(httpGetFd(r->http), F_DUPFD_CLOEXEC, 0);
	while (!last) {
		struct chunk *c = next_chunk(r, wfd, &idle);

		if (c == NULL) {
			if (idle)
				set_outcome(r, SUBMIT_RETRY, "the guest sent no document "
				    "data for %d s", IDLE_S);
			else
				set_outcome(r, SUBMIT_RETRY, "withdrawn");
			goto out;
		}
		hs = HTTP_STATUS_CONTINUE;
		if (c->len > 0) {
			arm(s);
			hs = cupsWriteRequestData(r->http, (const char *)c->data, c->len);
		}
		last = c->last;
		uv_mutex_lock(&s->lock);
		s->sock = -1;
		s->held -= c->len;
		if (!s->got_last)
			s->owed++;
		uv_mutex_unlock(&s->lock);
		free(c);
		if (!last)
			uv_async_send(&s->async);
		if (hs != HTTP_STATUS_CONTINUE)
			goto failed;
	}
	arm(s);
	st = cupsFinishDocument(r->http, s->printer);
	if (st <= IPP_STATUS_OK_CONFLICTING) {
		r->complete = 1;
		goto out;
	}
failed:
	if (is_aborted(s))
		set_outcome(r, SUBMIT_RETRY, "withdrawn");
	else if (cupsLastError() <= IPP_STATUS_OK_CONFLICTING)
		set_outcome(r, SUBMIT_RETRY, "host job %d: the connection to the "
		    "host CUPS was lost", r->job_id);
	else
		set_outcome(r, classify(cupsLastError()), "host job %d: %s",
		    r->job_id, cupsLastErrorString());
out:
	if (wfd >= 0)
		close(wfd);
}

/*
 * What the journal says of this job first: printed (done), sent (followed
 * again), created (settled: followed when the host job holds the whole
 * document, else cancelled and printed anew).  Then a new host job.  The
 * thread then follows r->job_id when r->complete.
 */
static void
run_job(struct run *r)
{
	struct submit *s = r->s;
	enum joblog_state state = JOBLOG_NONE;
	char err[DETAIL_MAX];
	long long when = 0;
	int64_t since;
	int id = 0, rc;

	(void)joblog_get(s->log, s->uuid, &state, &id, &when);
	if (state == JOBLOG_DONE) {
		r->job_id = id;
		r->done = 1;
		set_outcome(r, SUBMIT_ACCEPTED, "already printed as host job %d", id);
		return;
	}
	if ((state == JOBLOG_SENT || state == JOBLOG_CREATED) && id > 0) {
		/* Made before the record was written, in that second or
		 * earlier. */
		r->t0 = when * 1000;
		rc = state == JOBLOG_SENT ? 1 : settle(s, id, 1, err, sizeof(err));
		if (rc == 1) {
			log_debug("job %s: host job %d of an earlier attempt holds the "
			    "document: followed", s->uuid, id);
			r->job_id = id;
			r->complete = 1;
			return;
		}
		if (rc < 0) {
			set_outcome(r, SUBMIT_RETRY, "an earlier attempt is unsettled: %s",
			    err);
			return;
		}
		log_debug("job %s: host job %d of an earlier attempt cancelled",
		    s->uuid, id);
	}
	if (is_aborted(s))
		goto withdrawn;
	if ((r->http = host_open(s, 1, err, sizeof(err))) == NULL) {
		set_outcome(r, SUBMIT_RETRY, "host %s", err);
		return;
	}
	if (check_queue(r) != 0) {
		if (is_aborted(s))
			goto withdrawn;
		return;
	}
	/* Whatever cupsd forgets of the job from now on, the sentinel tells. */
	r->t0 = host_since(s, r->http, &since) == 0 ? now_ms() : -1;
	if (create_job(r) != 0)
		return;
	if ((rc = joblog_put(s->log, s->uuid, JOBLOG_CREATED, r->job_id)) != 0) {
		/* Without the record a crash could print it twice. */
		set_outcome(r, SUBMIT_RETRY, "cannot write the job journal: %s",
		    strerror(-rc));
		return;
	}
	log_debug("job %s: host job %d created on %s", s->uuid, r->job_id, s->printer);
	grant(s, CODEC_JOB_WINDOW);
	stream_document(r);
	if (r->complete)
		journal(s, JOBLOG_SENT, r->job_id);
	return;
withdrawn:
	set_outcome(r, SUBMIT_RETRY, "withdrawn");
}

static char *
dup_or(const char *s, const char *dflt)
{
	return strdup(s && *s ? s : dflt);
}

/*
 * A name cupsd takes (valid UTF-8, at most IPP's 255 bytes: it refuses the
 * job otherwise) made of the guest's text: bytes that are not UTF-8 become
 * '?', control characters a space; with no_space (the user name: cupsd
 * hands it to the filters, see encodes_safely()) spaces become '_'.
 */
static void
clean_name(char *text, int no_space)
{
	unsigned char *p = (unsigned char *)text, *end = p + strlen(text);
	size_t n;

	while (*p) {
		if ((n = log_utf8_next(p, (size_t)(end - p), NULL)) == 0) {
			*p = '?';
			n = 1;
		} else if (*p < ' ' || *p == 0x7f)
			*p = ' ';
		if (no_space && *p == ' ')
			*p = '_';
		if ((char *)p + n - text > IPP_MAX_NAME - 1)
			break;
		p += n;
	}
	*p = '\0';
}

/* type/subtype, RFC 6838 characters, no parameters. */
static int
valid_format(const char *f)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789!#$&^_.+-";
	size_t a = strspn(f, chars), b;

	if (a == 0 || a > 127 || f[a] != '/')
		return 0;
	b = strspn(f + a + 1, chars);
	return b > 0 && b <= 127 && f[a + 1 + b] == '\0';
}

static void
submit_thread(void *arg)
{
	struct submit *s = arg;
	struct run r = {.s = s, .o = SUBMIT_RETRY, .t0 = -1};
	char err[DETAIL_MAX];
	int claimed = 0;

	snprintf(r.detail, sizeof(r.detail), "failed");
	if (!joblog_valid_uuid(s->uuid))
		set_outcome(&r, SUBMIT_REFUSED, "the job has no valid UUID");
	else if (!cupsconn_valid_name(s->printer))
		set_outcome(&r, SUBMIT_REFUSED, "no host queue with such a name");
	else if (!valid_format(s->format))
		set_outcome(&r, SUBMIT_REFUSED, "the document format is not a MIME "
		    "type");
	else if (joblog_claim(s->log, s->uuid) != 0)
		set_outcome(&r, SUBMIT_RETRY, "the job is being printed already");
	else {
		claimed = 1;
		run_job(&r);
	}
	httpClose(r.http);
	r.http = NULL;
	if (r.job_id > 0 && !r.complete && !r.done) {
		int rc = settle(s, r.job_id, !is_aborted(s), err, sizeof(err));

		if (rc == 1)
			r.complete = 1;
		else if (rc < 0)
			log_warnx("job %s: %s", s->uuid, err);
	}
	if (r.complete)
		follow(&r);
	if (claimed)
		joblog_release(s->log, s->uuid);

	uv_mutex_lock(&s->lock);
	s->outcome = r.o;
	s->host_job_id = r.job_id;
	memcpy(s->detail, r.detail, sizeof(s->detail));
	s->finished = 1;
	uv_mutex_unlock(&s->lock);
	/* The loop joins the thread before it closes the handle. */
	uv_async_send(&s->async);
}

static void
free_job(struct submit *s)
{
	while (s->head) {
		struct chunk *c = s->head;

		s->head = c->next;
		free(c);
	}
	cupsFreeOptions(s->num_options, s->options);
	free(s->cups);
	free(s->uuid);
	free(s->printer);
	free(s->user);
	free(s->title);
	free(s->format);
	uv_mutex_destroy(&s->lock);
	uv_cond_destroy(&s->cond);
	free(s);
}

static void
free_submit(uv_handle_t *h)
{
	free_job(h->data);
}

static void
on_async(uv_async_t *a)
{
	struct submit *s = a->data;
	unsigned owed;
	int finished;

	if (s->closing)
		return;
	uv_mutex_lock(&s->lock);
	owed = s->owed;
	s->owed = 0;
	finished = s->finished;
	uv_mutex_unlock(&s->lock);
	if (owed > 0 && !finished && !s->abort_called && !s->pushed_last) {
		s->credit_given += owed;
		if (s->ops->on_credit)
			s->ops->on_credit(s, owed, s->data);
	}
	if (!finished)
		return;
	/* The thread's last act was the uv_async_send: joining is quick. */
	uv_thread_join(&s->thread);
	s->closing = 1;
	s->ops->on_done(s, s->outcome, s->host_job_id, s->detail, s->data);
	uv_close((uv_handle_t *)&s->async, free_submit);
}

struct submit *
submit_start(uv_loop_t *loop, const struct submit_job *j,
    const struct submit_ops *ops, void *data)
{
	struct submit *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->ops = ops;
	s->data = data;
	s->log = j->log;
	s->sentinel = j->sentinel;
	s->copies = j->copies < 1 ? 1 : j->copies;
	s->sock = -1;
	s->tail = &s->head;
	uv_mutex_init(&s->lock);
	uv_cond_init(&s->cond);
	s->async.data = s;
	s->cups = dup_or(j->cups, "");
	s->uuid = dup_or(j->uuid, "");
	s->printer = dup_or(j->printer, "");
	s->user = dup_or(j->user, "anonymous");
	s->title = dup_or(j->title, "");
	s->format = dup_or(j->format, "application/octet-stream");
	for (int i = 0; i < j->num_options; i++) {
		int n = cupsAddOption(j->options[i].name, j->options[i].value,
		    s->num_options, &s->options);

		if (n == s->num_options && cupsGetOption(j->options[i].name, n,
		    s->options) == NULL)
			goto fail;
		s->num_options = n;
	}
	if (!s->cups || !s->uuid || !s->printer || !s->user || !s->title || !s->format)
		goto fail;
	clean_name(s->user, 1);
	clean_name(s->title, 0);
	if (uv_async_init(loop, &s->async, on_async) != 0)
		goto fail;
	if (uv_thread_create(&s->thread, submit_thread, s) != 0) {
		log_warnx("cannot start a job's thread");
		/* Freed once the handle is closed; nothing is called. */
		s->closing = 1;
		uv_close((uv_handle_t *)&s->async, free_submit);
		return NULL;
	}
	return s;
fail:
	free_job(s);
	return NULL;
}

int
submit_push(struct submit *s, const void *buf, size_t len, int last)
{
	struct chunk *c;
	int finished;

	if (s->closing || s->pushed_last || s->abort_called)
		return -EPIPE;
	if (len > CODEC_JOB_CHUNK || (len > 0 && buf == NULL))
		return -EINVAL;
	uv_mutex_lock(&s->lock);
	finished = s->finished;
	uv_mutex_unlock(&s->lock);
	if (finished)
		return -EPIPE;
	if (s->pushed >= s->credit_given)
		return -ENOBUFS;
	if ((c = malloc(sizeof(*c) + len)) == NULL)
		return -ENOMEM;
	c->next = NULL;
	c->len = len;
	c->last = last != 0;
	if (len > 0)
		memcpy(c->data, buf, len);
	s->pushed++;
	s->pushed_last = c->last;
	uv_mutex_lock(&s->lock);
	*s->tail = c;
	s->tail = &c->next;
	s->held += len;
	if (c->last)
		s->got_last = 1;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->lock);
	return 0;
}

void
submit_abort(struct submit *s)
{
	if (s->closing || s->abort_called)
		return;
	s->abort_called = 1;
	uv_mutex_lock(&s->lock);
	s->aborted = 1;
	/* A write blocked on a full socket would only notice at the next
	 * timeout tick. */
	if (s->sock >= 0) {
		log_debug("job %s: withdrawn during a write to cupsd", s->uuid);
		(void)shutdown(s->sock, SHUT_RDWR);	/* our own dup: never reused */
	}
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->lock);
}

size_t
submit_queued_bytes(struct submit *s)
{
	size_t n;

	uv_mutex_lock(&s->lock);
	n = s->held;
	uv_mutex_unlock(&s->lock);
	return n;
}

/* ==== the options of a guest's job ==================================== */

#define OPTION_NAME_MAX 40
#define OPTION_VALUE_MAX 1023

/*
 * Options that never reach the host job, compared without regard to case
 * as libcups compares option names; a trailing '*' matches any name that
 * starts with what precedes it.
 */
static const char *const denied_options[] = {
	/* The broker sets these from JobStart's own fields and its policy:
	 * the user is mapped, copies and the format are fields of their own,
	 * the document is sent uncompressed. */
	"requesting-user-name", "requesting-user-uri", "job-originating-user-name",
	"job-name", "copies", "document-*", "compression", "attributes-charset",
	"attributes-natural-language", "printer-uri", "job-uri", "job-id",
	"job-uuid", "ipp-attribute-fidelity",
	/* Credentials and accounting identities belong to the mapped user. */
	"auth-info", "auth-info-required", "job-authorization-uri",
	"job-accounting-user-id", "job-account-id",
	/* Scheduling on the host is the host's.  The guest's CUPS held and
	 * ordered the job in its own queue already: a held host job would wait
	 * for a release nobody sends while the guest thinks it printed, and a
	 * priority would let a guest jump the host users' jobs. */
	"job-hold-until", "job-hold-until-time", "job-priority",
	/* Banner pages are the host queue's policy (job-sheets-default,
	 * Classification); the guest's own banners are in the document. */
	"job-sheets", "job-sheets-col",
	/* Subscriptions would make the host's cupsd contact any URI or run a
	 * notifier of the guest's choosing. */
	"notify-*",
	/* The guest queue's own settings (the agent's ownership mark), which
	 * the guest's cupsd hands its backend with the job's options. */
	"printredir-*",
	/* What cupsd keeps about a job it holds: never a client's to set. */
	"job-originating-host-name", "job-printer-*", "job-state*", "time-at-*",
	"date-time-at-*", "job-impressions*", "job-media-sheets*", "job-k-octets*",
	"number-of-documents", "job-more-info",
	/* Applied by the guest's CUPS (cups-filters' pdftopdf, texttopdf,
	 * imagetopdf) to the PDF it sends: applied again on the host they
	 * would select, impose, scale or rotate the pages a second time. */
	"page-ranges", "page-set", "number-up", "number-up-layout", "page-border",
	"page-label", "mirror", "booklet", "booklet-signature", "fitplot",
	"fit-to-page", "fill", "crop-to-fit", "print-scaling", "scaling",
	"natural-scaling", "ppi", "position", "orientation-requested", "landscape",
	"outputorder", "output-order", "page-delivery", "page-left", "page-right",
	"page-top", "page-bottom", "media-top-margin", "media-bottom-margin",
	"media-left-margin", "media-right-margin", "cpi", "lpi", "columns",
	"prettyprint", "wrap", "hue", "saturation", "pdfautorotate",
	"pdftopdfautorotate",
};

static int
option_denied(const char *name)
{
	for (size_t i = 0; i < sizeof(denied_options) / sizeof(denied_options[0]); i++) {
		const char *d = denied_options[i];
		size_t n = strlen(d);

		if (d[n - 1] == '*' ? strncasecmp(name, d, n - 1) == 0 :
		    strcasecmp(name, d) == 0)
			return 1;
	}
	return 0;
}

/* IPP keywords ([a-z][a-z0-9-]*) and PPD option names
 * ([A-Za-z][A-Za-z0-9._-]*), the latter holding the former. */
static int
option_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > OPTION_NAME_MAX ||
	    !((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z')))
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

/* Text cupsd takes: valid UTF-8 without control characters. */
static int
option_value_ok(const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t n = strlen(value);

	if (n == 0 || n > OPTION_VALUE_MAX)
		return 0;
	while (*p) {
		size_t len = log_utf8_next(p, (size_t)((const unsigned char *)value + n - p),
		    NULL);

		if (len == 0 || *p < 0x20 || *p == 0x7f)
			return 0;
		p += len;
	}
	return 1;
}

/*
 * Debian's cupsd 2.4.2 (2.4.2-3+deb12u10, seen here) copies a job's string
 * attributes into the filters' options with a loop that never gets past a
 * space: the scheduler writes spaces until it crashes, for every host
 * user.  So an option is kept only when libcups encodes it without a space
 * in any string value; collections ("{media-size={x-dimension=...}}") take
 * another path in cupsd and may hold spaces.
 */
static int
encodes_safely(const char *name, const char *value)
{
	cups_option_t opt = {(char *)name, (char *)value};
	ipp_t *ipp = ippNew();
	ipp_attribute_t *a;
	int ok = 0;

	if (ipp == NULL)
		return 0;
	cupsEncodeOptions2(ipp, 1, &opt, IPP_TAG_JOB);
	for (a = ippFirstAttribute(ipp); a; a = ippNextAttribute(ipp)) {
		ipp_tag_t tag = ippGetValueTag(a);

		ok = 1;
		if (tag == IPP_TAG_BEGIN_COLLECTION)
			continue;
		for (int i = 0; i < ippGetCount(a); i++) {
			const char *v = ippGetString(a, i, NULL);	/* NULL: no text */
			const void *data;
			int len = 0;

			if (tag == IPP_TAG_STRING &&
			    (data = ippGetOctetString(a, i, &len)) != NULL && len > 0 &&
			    memchr(data, ' ', (size_t)len) != NULL)
				ok = 0;
			if (v != NULL && strchr(v, ' ') != NULL)
				ok = 0;
		}
		if (!ok)
			break;
	}
	ippDelete(ipp);
	return ok;
}

int
submit_options(const Printredir__JobStart *j, cups_option_t **out)
{
	cups_option_t *opts = NULL;
	int n = 0;

	*out = NULL;
	for (size_t i = 0; i < j->n_options && i < CODEC_MAX_OPTIONS; i++) {
		const Printredir__JobOption *o = j->options[i];
		char q1[64], q2[64];
		int m;

		if (o == NULL || o->name == NULL || o->value == NULL)
			continue;
		if (!option_name_ok(o->name) || !option_value_ok(o->value) ||
		    option_denied(o->name) || !encodes_safely(o->name, o->value)) {
			log_debug("job option %s=%s left out",
			    log_quote(o->name, q1, sizeof(q1)),
			    log_quote(o->value, q2, sizeof(q2)));
			continue;
		}
		log_debug("job option %s=%s passed on", log_quote(o->name, q1, sizeof(q1)),
		    log_quote(o->value, q2, sizeof(q2)));
		m = cupsAddOption(o->name, o->value, n, &opts);
		if (cupsGetOption(o->name, m, opts) == NULL) {
			cupsFreeOptions(m, opts);
			return -ENOMEM;
		}
		n = m;
	}
	*out = opts;
	return n;
}
