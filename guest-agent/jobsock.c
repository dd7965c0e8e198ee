/*
 * The job socket: where the printredir backend (backend.c), run by the
 * guest's cupsd for each job on a redirected queue, hands the job over.
 * Only root and the backend user may connect (peer credentials).
 *
 * For each connection: the backend's JobStart, then the guest job's
 * job-uuid asked from the guest's CUPS (on a worker thread: libcups
 * blocks), then the job goes to the broker on a stream of its own, and its
 * chunks follow one per credit the broker grants.  Reading from the backend
 * stops while there is no credit, so the kernel's socket buffer holds the
 * backend back and neither side has more than the window in memory.  The
 * broker's JobResult goes back to the backend, whose exit status tells the
 * guest's cupsd to finish, retry or cancel the job.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cups/cups.h>

#include "agent.h"
#include "cupsconn.h"
#include "frame.h"
#include "log.h"

#define JOBS_BACKLOG 64
#define JOBS_MAX 64			/* backends connected at once */
#define LOOKUP_TIMEOUT_MS 5000
/* A backend's JobStart comes at once: a connection without one this long
 * is closed, so that idle connections cannot hold the JOBS_MAX slots. */
#define HEADER_TIMEOUT_MS 10000
/* A backend's frames: one chunk and its envelope. */
#define LOCAL_FRAME_CAP (CODEC_JOB_CHUNK + 16384)

enum ljob_state {
	LJOB_HEADER,		/* waiting for the backend's JobStart */
	LJOB_LOOKUP,		/* asking the guest's CUPS for the job-uuid */
	LJOB_SENDING,		/* a stream to the broker is open */
	LJOB_DONE,		/* the result is on its way to the backend */
};

struct qenv {
	struct qenv *next;
	codec_env_t *env;
};

struct ljob {
	struct ljob *next;
	struct jobsock *owner;
	uv_stream_t *stream;
	enum ljob_state state;
	struct frame_reader fr;
	uint64_t since;			/* uv_now() when it connected */
	codec_env_t *start;		/* the backend's JobStart */
	uint32_t sid;			/* stream to the broker; 0 before */
	unsigned credit;
	struct qenv *q, **qtail;	/* chunks read but not yet sent */
	int got_last;
	int reading;
	int closing;
	uint8_t *out;			/* the result frame being written */
	uv_write_t wreq;
	/* The lookup, on a worker thread. */
	uv_work_t work;
	int working;
	char uuid[CODEC_MAX_NAME + 1];
	char err[256];
};

struct jobsock {
	uv_loop_t *loop;
	struct addr sock;
	uid_t backend_uid;
	char *cups;
	const struct jobsock_ops *ops;
	void *data;
	uv_stream_t *server;
	uv_timer_t *sweep;		/* closes connections without a JobStart */
	struct ljob *list;
	int n;
	uint32_t next_sid;
	int stopping;
};

static void ljob_close(struct ljob *j, const char *why);
static void pump(struct ljob *j);

static void
jobsock_free(struct jobsock *js)
{
	free(js->cups);
	free(js);
}

/* --- the backend's end ---------------------------------------------------- */

static void
on_result_written(uv_write_t *req, int status)
{
	(void)status;
	ljob_close(req->data, NULL);
}

/* Tells the backend how its job ended, then closes the connection. */
static void
answer(struct ljob *j, Printredir__JobOutcome outcome, const char *detail,
    uint32_t host_job)
{
	Printredir__JobResult r = PRINTREDIR__JOB_RESULT__INIT;
	codec_env_t env;
	size_t len;
	uv_buf_t b;

	if (j->state == LJOB_DONE || j->closing)
		return;
	j->state = LJOB_DONE;
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT);
	env.job_result = &r;
	r.has_outcome = 1;
	r.outcome = outcome;
	r.detail = (char *)detail;
	r.has_host_job_id = host_job != 0;
	r.host_job_id = host_job;
	if (codec_encode_frame(&env, &j->out, &len) != 0) {
		ljob_close(j, "out of memory");
		return;
	}
	j->wreq.data = j;
	b = uv_buf_init((char *)j->out, (unsigned)len);
	if (uv_write(&j->wreq, j->stream, &b, 1, on_result_written) != 0)
		ljob_close(j, "cannot answer the backend");
}

static void
retry(struct ljob *j, const char *detail)
{
	answer(j, PRINTREDIR__JOB_OUTCOME__JOB_RETRY, detail, 0);
}

static void
on_closed(uv_handle_t *h)
{
	struct ljob *j = h->data;
	struct jobsock *js = j->owner;
	struct qenv *e, *next;

	free(h);
	for (struct ljob **pp = &js->list; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	js->n--;
	for (e = j->q; e; e = next) {
		next = e->next;
		codec_free(e->env);
		free(e);
	}
	codec_free(j->start);
	frame_reader_free(&j->fr);
	free(j->out);
	free(j);
	if (js->stopping && js->list == NULL && js->server == NULL)
		jobsock_free(js);
}

/* Ends the connection; a stream the broker had still open is withdrawn.
 * The job is freed once the handle is closed and no lookup runs. */
static void
ljob_close(struct ljob *j, const char *why)
{
	if (j->closing)
		return;
	j->closing = 1;
	if (why)
		log_info("job socket: backend connection closed: %s", why);
	if (j->state == LJOB_SENDING && j->sid != 0) {
		Printredir__JobData d = PRINTREDIR__JOB_DATA__INIT;
		codec_env_t env;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_DATA);
		env.job_data = &d;
		d.has_stream = d.has_abort = 1;
		d.stream = j->sid;
		d.abort = 1;
		(void)j->owner->ops->send(j->owner->data, &env);
	}
	if (!j->working)
		uv_close((uv_handle_t *)j->stream, on_closed);
}

/* --- reading the backend -------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char slab[65536];

	(void)h;
	(void)hint;
	/* One read at a time on the loop thread, consumed before the next. */
	*buf = uv_buf_init(slab, sizeof(slab));
}

int
jobsock_parse_frame(const uint8_t *body, size_t len, int first, codec_env_t **out,
    char *err, size_t errlen)
{
	codec_env_t *env = NULL;

	*out = NULL;
	if (codec_decode(body, len, CODEC_BUDGET(len), &env) != 0) {
		snprintf(err, errlen, "not an envelope");
		return -EBADMSG;
	}
	if (codec_validate(env, err, errlen) != 0)
		goto bad;
	if (env->type != (first ? PRINTREDIR__MSG_TYPE__MSG_JOB_START :
	    PRINTREDIR__MSG_TYPE__MSG_JOB_DATA)) {
		snprintf(err, errlen, "a %s message where %s belongs",
		    codec_type_name(env->type), first ? "the job start" : "job data");
		goto bad;
	}
	/* The agent names the job to the broker: its id in the guest's
	 * cupsd, which the backend gives, and its uuid, which cupsd does. */
	if (first && (!env->job_start->has_guest_job_id ||
	    (env->job_start->uuid != NULL && env->job_start->uuid[0] != '\0'))) {
		snprintf(err, errlen, "a job start %s", !env->job_start->has_guest_job_id ?
		    "without the job's id" : "naming a uuid (the guest's cupsd gives it)");
		goto bad;
	}
	/* A backend withdraws its job by closing the connection. */
	if (!first && env->job_data->abort) {
		snprintf(err, errlen, "job data with abort set");
		goto bad;
	}
	*out = env;
	return 0;
bad:
	codec_free(env);
	return -EBADMSG;
}

static void
start_lookup(struct ljob *j);

static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	struct ljob *j = arg;
	codec_env_t *env = NULL;
	struct qenv *e;
	char err[256];

	if (jobsock_parse_frame(body, len, j->state == LJOB_HEADER, &env, err,
	    sizeof(err)) != 0) {
		log_debug("job socket: %s", err);
		return -EBADMSG;
	}
	if (j->state == LJOB_HEADER) {
		j->start = env;
		start_lookup(j);
		return 0;
	}
	if (j->got_last) {
		codec_free(env);
		return -EBADMSG;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		codec_free(env);
		return -ENOMEM;
	}
	j->got_last = env->job_data->last;
	e->env = env;
	*j->qtail = e;
	j->qtail = &e->next;
	return 0;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ljob *j = s->data;
	char err[256] = "";
	int rc;

	if (nread == 0 || j->closing)
		return;
	if (nread < 0) {
		/* The backend went away before its last chunk: cupsd cancelled
		 * the job, or the backend died.  Either way, withdraw it. */
		if (j->state != LJOB_DONE)
			ljob_close(j, j->got_last ? NULL : "the backend ended before "
			    "the whole document was sent");
		return;
	}
	if (j->state == LJOB_DONE)
		return;		/* it may still send while reading our result */
	rc = frame_reader_feed(&j->fr, buf->base, (size_t)nread, on_frame, j, err,
	    sizeof(err));
	if (rc != 0) {
		/* The frame reader says why (a header that is not ours, a frame
		 * over the cap); on_frame does not. */
		ljob_close(j, err[0] != '\0' ? err : rc == -EBADMSG ?
		    "a message that is not a job" : strerror(-rc));
		return;
	}
	pump(j);
}

/* Sends what credit allows; reads on only while nothing waits for credit. */
static void
pump(struct ljob *j)
{
	struct jobsock *js = j->owner;
	int want_read;

	while (j->state == LJOB_SENDING && j->q != NULL && j->credit > 0) {
		struct qenv *e = j->q;
		int rc;

		e->env->job_data->has_stream = 1;
		e->env->job_data->stream = j->sid;
		rc = js->ops->send(js->data, e->env);
		if (rc != 0) {
			retry(j, "the link to the host broker is down");
			return;
		}
		j->credit--;
		j->q = e->next;
		if (j->q == NULL)
			j->qtail = &j->q;
		codec_free(e->env);
		free(e);
	}
	want_read = !j->closing && j->state != LJOB_DONE && !j->got_last &&
	    (j->state == LJOB_HEADER || (j->state == LJOB_SENDING && j->q == NULL));
	if (want_read && !j->reading) {
		if (uv_read_start(j->stream, on_alloc, on_read) == 0)
			j->reading = 1;
	} else if (!want_read && j->reading) {
		uv_read_stop(j->stream);
		j->reading = 0;
	}
}

/* --- the job-uuid, from the guest's CUPS --------------------------------- */

/*
 * The guest's cupsd gives every job a job-uuid that stays with it through
 * retries and restarts: the broker's journal of printed jobs is keyed on
 * it, so that a retry after a lost answer is never printed twice.  A job
 * id alone would not do: a reverted VM starts its ids again.
 */
static void
lookup_work(uv_work_t *w)
{
	struct ljob *j = w->data;
	const Printredir__JobStart *m = j->start->job_start;
	char err[200], uri[HTTP_MAX_URI];
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	http_t *http;
	const char *printer_uri;

	http = cupsconn_open(j->owner->cups, LOOKUP_TIMEOUT_MS, err, sizeof(err));
	if (http == NULL) {
		snprintf(j->err, sizeof(j->err), "cannot reach the guest's CUPS: %s", err);
		return;
	}
	req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES);
	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/jobs/%u", m->guest_job_id);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, "root");
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		snprintf(j->err, sizeof(j->err), "the guest's CUPS does not know job "
		    "%u: %s", m->guest_job_id, cupsLastErrorString());
	} else if ((a = ippFindAttribute(resp, "job-printer-uri", IPP_TAG_URI)) == NULL ||
	    (printer_uri = strstr(ippGetString(a, 0, NULL), "/printers/")) == NULL ||
	    strcmp(printer_uri + strlen("/printers/"), m->printer) != 0) {
		/* The backend names its queue; the job must be on it. */
		snprintf(j->err, sizeof(j->err), "job %u is not a job of queue %s",
		    m->guest_job_id, m->printer);
	} else if ((a = ippFindAttribute(resp, "job-uuid", IPP_TAG_URI)) == NULL ||
	    snprintf(j->uuid, sizeof(j->uuid), "%s", ippGetString(a, 0, NULL)) >=
	    (int)sizeof(j->uuid) || j->uuid[0] == '\0') {
		j->uuid[0] = '\0';
		snprintf(j->err, sizeof(j->err), "job %u has no usable job-uuid",
		    m->guest_job_id);
	}
	ippDelete(resp);
	httpClose(http);
}

static void
lookup_done(uv_work_t *w, int status)
{
	struct ljob *j = w->data;
	struct jobsock *js = j->owner;
	Printredir__JobStart *m = j->start->job_start;

	j->working = 0;
	if (j->closing) {
		uv_close((uv_handle_t *)j->stream, on_closed);
		return;
	}
	if (status != 0 || j->uuid[0] == '\0') {
		log_warnx("job socket: %s", status ? "lookup cancelled" : j->err);
		retry(j, status ? "the agent is stopping" : j->err);
		return;
	}
	if (++js->next_sid == 0)
		js->next_sid = 1;
	m->has_stream = 1;
	m->stream = js->next_sid;
	m->uuid = j->uuid;	/* borrowed from j until codec_free(j->start) */
	m->has_guest_job_id = 0;
	if (js->ops->send(js->data, j->start) != 0) {
		m->uuid = NULL;
		retry(j, "no link to the host broker");
		return;
	}
	m->uuid = NULL;
	j->sid = m->stream;
	j->state = LJOB_SENDING;
	log_info("job %u on %s (%s, user %s) goes to the host as stream %u",
	    m->guest_job_id, m->printer, j->uuid, m->user, j->sid);
	pump(j);
}

static void
start_lookup(struct ljob *j)
{
	j->state = LJOB_LOOKUP;
	j->work.data = j;
	if (uv_queue_work(j->owner->loop, &j->work, lookup_work, lookup_done) != 0) {
		retry(j, "the agent cannot start the job");
		return;
	}
	j->working = 1;
}

/* --- the broker's end ----------------------------------------------------- */

static struct ljob *
by_sid(struct jobsock *js, uint32_t sid)
{
	for (struct ljob *j = js->list; j; j = j->next)
		if (j->sid == sid && j->state == LJOB_SENDING)
			return j;
	return NULL;
}

void
jobsock_on_message(struct jobsock *js, const codec_env_t *env)
{
	struct ljob *j;

	if (js == NULL)
		return;
	if (env->type == PRINTREDIR__MSG_TYPE__MSG_JOB_CREDIT) {
		if ((j = by_sid(js, env->job_credit->stream)) == NULL)
			return;
		j->credit += env->job_credit->chunks;
		if (j->credit > CODEC_JOB_WINDOW)
			j->credit = CODEC_JOB_WINDOW;
		pump(j);
	} else if (env->type == PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT) {
		const Printredir__JobResult *r = env->job_result;

		if ((j = by_sid(js, r->stream)) == NULL)
			return;
		log_info("stream %u: %s%s%s", j->sid,
		    r->outcome == PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED ? "printed" :
		    r->outcome == PRINTREDIR__JOB_OUTCOME__JOB_REFUSED ?
		    "refused by the host" : "to be retried",
		    r->detail && *r->detail ? ": " : "", r->detail ? r->detail : "");
		answer(j, r->outcome, r->detail ? r->detail : "",
		    r->has_host_job_id ? r->host_job_id : 0);
	}
}

void
jobsock_link_down(struct jobsock *js)
{
	for (struct ljob *j = js ? js->list : NULL; j; j = j->next)
		if (j->state == LJOB_SENDING)
			retry(j, "the link to the host broker went down");
}

/* --- the socket ------------------------------------------------------------ */

static void
on_connection(uv_stream_t *server, int status)
{
	struct jobsock *js = server->data;
	struct addr_cred cred;
	uv_stream_t *stream;
	struct ljob *j;

	if (status < 0 || addr_accept(server, &stream, &cred) != 0)
		return;
	if (!cred.known || (cred.uid != 0 && cred.uid != js->backend_uid) ||
	    js->n >= JOBS_MAX || (j = calloc(1, sizeof(*j))) == NULL) {
		log_warnx("job socket: refusing uid %u (pid %d): %s",
		    (unsigned)cred.uid, (int)cred.pid, js->n >= JOBS_MAX ?
		    "too many jobs at once" : "only root and the backend user may "
		    "hand over jobs");
		uv_close((uv_handle_t *)stream, (uv_close_cb)free);
		return;
	}
	j->owner = js;
	j->stream = stream;
	j->since = uv_now(js->loop);
	j->qtail = &j->q;
	stream->data = j;
	frame_reader_init(&j->fr, LOCAL_FRAME_CAP);
	j->next = js->list;
	js->list = j;
	js->n++;
	pump(j);
}

static void
on_sweep(uv_timer_t *t)
{
	struct jobsock *js = t->data;
	struct ljob *j, *next;

	for (j = js->list; j; j = next) {
		next = j->next;
		if (j->state == LJOB_HEADER && !j->closing &&
		    uv_now(js->loop) - j->since >= HEADER_TIMEOUT_MS)
			ljob_close(j, "no job came within 10 s of connecting");
	}
}

struct jobsock *
jobsock_start(uv_loop_t *loop, const struct jobsock_config *cfg,
    const struct jobsock_ops *ops, void *data)
{
	struct jobsock *js = calloc(1, sizeof(*js));
	struct passwd *pw;
	char err[512];
	int rc;

	if (js == NULL || (js->cups = strdup(cfg->cups)) == NULL)
		goto fail;
	if ((pw = getpwnam(cfg->backend_user)) == NULL) {
		log_warnx("job socket: no user \"%s\" (backend_user): only root may "
		    "hand over jobs", cfg->backend_user);
		js->backend_uid = 0;
	} else {
		js->backend_uid = pw->pw_uid;
	}
	js->loop = loop;
	js->sock = cfg->sock;
	js->ops = ops;
	js->data = data;
	(void)addr_make_dir(&cfg->sock);
	/* Any local process may connect; its credentials decide. */
	rc = addr_listen(loop, &cfg->sock, 0666, JOBS_BACKLOG, on_connection, js,
	    &js->server, err, sizeof(err));
	if (rc != 0) {
		log_warnx("no job socket (%s): the guest's redirected queues cannot "
		    "print", err);
		goto fail;
	}
	if ((js->sweep = malloc(sizeof(*js->sweep))) != NULL) {
		uv_timer_init(loop, js->sweep);
		js->sweep->data = js;
		uv_timer_start(js->sweep, on_sweep, HEADER_TIMEOUT_MS / 4,
		    HEADER_TIMEOUT_MS / 4);
	}
	return js;
fail:
	if (js)
		jobsock_free(js);
	return NULL;
}

static void
on_server_closed(uv_handle_t *h)
{
	struct jobsock *js = h->data;

	free(h);
	js->server = NULL;
	if (js->list == NULL)
		jobsock_free(js);
}

void
jobsock_stop(struct jobsock *js)
{
	if (js == NULL || js->stopping)
		return;
	js->stopping = 1;
	if (js->sweep != NULL)
		uv_close((uv_handle_t *)js->sweep, (uv_close_cb)free);
	for (struct ljob *j = js->list; j; j = j->next) {
		retry(j, "the agent is stopping");
		ljob_close(j, NULL);
	}
	addr_unlink(&js->sock);
	uv_close((uv_handle_t *)js->server, on_server_closed);
}
