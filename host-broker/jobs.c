/*
 * Guests' print jobs.  An agent opens a job with JobStart on a stream number
 * of its connection, then sends the document in JobData chunks, one per
 * credit we grant; submit.c prints it on the host queue on a thread of its
 * own and tells us when chunks were written (credit back) and how it ended
 * (JobResult back).  Nothing of a job is kept beyond the chunks in flight.
 *
 * A job outlives its connection only until its submitter has noticed: the
 * connection going away withdraws the job (submit_abort), and the result is
 * then only counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "broker.h"
#include "conf.h"
#include "cupsconn.h"
#include "log.h"
#include "peer.h"

struct bjob {
	struct bjob *next;
	struct broker *b;
	struct peer *peer;		/* NULL once the connection is gone */
	char *guest;
	char *printer;
	uint32_t stream;
	char key[HASH_HEX_LEN];		/* the journal's key: guest and job UUID */
	struct submit *s;
	uint64_t bytes;
	int ended;			/* the last chunk or an abort came */
};

static struct bjob *
find(struct broker *b, const struct peer *p, uint32_t stream)
{
	for (struct bjob *j = b->jobs; j; j = j->next)
		if (j->peer == p && j->stream == stream)
			return j;
	return NULL;
}

static void
unlink_job(struct broker *b, struct bjob *j)
{
	b->status_rev++;
	for (struct bjob **pp = &b->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	free(j->guest);
	free(j->printer);
	free(j);
}

static void
send_result(struct peer *p, uint32_t stream, enum submit_outcome o, int host_id,
    const char *detail)
{
	Printredir__JobResult r = PRINTREDIR__JOB_RESULT__INIT;
	codec_env_t env;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT);
	env.job_result = &r;
	r.has_stream = r.has_outcome = 1;
	r.stream = stream;
	r.outcome = o == SUBMIT_ACCEPTED ? PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED :
	    o == SUBMIT_REFUSED ? PRINTREDIR__JOB_OUTCOME__JOB_REFUSED :
	    PRINTREDIR__JOB_OUTCOME__JOB_RETRY;
	r.detail = (char *)detail;
	if (host_id > 0) {
		r.has_host_job_id = 1;
		r.host_job_id = (uint32_t)host_id;
	}
	(void)peer_send(p, &env);
}

static void
count(struct broker *b, const char *guest, enum submit_outcome o, uint64_t bytes,
    const char *detail)
{
	struct job_stats *st = guests_job_stats(b, guest);

	if (st == NULL)
		return;
	st->bytes += bytes;
	if (o == SUBMIT_ACCEPTED) {
		st->accepted++;
		return;
	}
	if (o == SUBMIT_REFUSED)
		st->refused++;
	else
		st->retried++;
	snprintf(st->last_error, sizeof(st->last_error), "%s", detail);
	st->last_error_at = time(NULL);
}

/* A job that never reached a submitter: answered and counted at once. */
static void
refuse(struct broker *b, struct peer *p, const char *guest, uint32_t stream,
    enum submit_outcome o, const char *detail)
{
	log_info("guest %s: job on stream %u not printed: %s", guest, stream, detail);
	count(b, guest, o, 0, detail);
	send_result(p, stream, o, 0, detail);
}

static void
on_credit(struct submit *s, unsigned chunks, void *data)
{
	struct bjob *j = data;
	Printredir__JobCredit c = PRINTREDIR__JOB_CREDIT__INIT;
	codec_env_t env;

	(void)s;
	if (j->peer == NULL || j->ended)
		return;
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_CREDIT);
	env.job_credit = &c;
	c.has_stream = c.has_chunks = 1;
	c.stream = j->stream;
	c.chunks = chunks > CODEC_JOB_WINDOW ? CODEC_JOB_WINDOW : chunks;
	(void)peer_send(j->peer, &env);
}

static void
on_done(struct submit *s, enum submit_outcome o, int host_id, const char *detail,
    void *data)
{
	struct bjob *j = data;

	(void)s;
	if (o == SUBMIT_ACCEPTED)
		log_info("guest %s: job on %s (%llu bytes): %s", j->guest, j->printer,
		    (unsigned long long)j->bytes, detail);
	else
		log_warnx("guest %s: job on %s %s: %s", j->guest, j->printer,
		    o == SUBMIT_REFUSED ? "refused by the host" : "to be retried",
		    detail);
	count(j->b, j->guest, o, j->bytes, detail);
	if (j->peer)
		send_result(j->peer, j->stream, o, host_id, detail);
	unlink_job(j->b, j);
}

static const struct submit_ops submit_ops = { .on_credit = on_credit, .on_done = on_done };

/* The requesting user on the host, as [jobs] user says. */
static int
map_user(const struct broker_conf *conf, const char *guest, const char *user,
    char *out, size_t outlen)
{
	switch (conf->job_user_mode) {
	case JOB_USER_PREFIXED:
		return snprintf(out, outlen, "%s-%s", guest, user) < (int)outlen ? 0 : -1;
	case JOB_USER_ACCOUNT:
		snprintf(out, outlen, "%s", conf->job_account);
		return 0;
	default:
		snprintf(out, outlen, "%s", user);
		return 0;
	}
}

static int
redirected(const struct broker *b, const char *name)
{
	for (size_t i = 0; i < b->current.n; i++)
		if (b->current.printers[i].redirected &&
		    cupsconn_same_name(b->current.printers[i].name, name))
			return 1;
	return 0;
}

static void
on_start(struct broker *b, struct peer *p, const char *guest,
    const Printredir__JobStart *m)
{
	char user[2 * CODEC_MAX_NAME + 2], keysrc[2 * CODEC_MAX_NAME + 2];
	char key[HASH_HEX_LEN];
	uint8_t sha[HASH_LEN];
	struct submit_job sj = { 0 };
	struct bjob *j;
	int running = 0, nopt;

	if (!m->has_stream || m->stream == 0 || m->uuid == NULL || *m->uuid == '\0') {
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "job start without a stream or a uuid");
		return;
	}
	if (find(b, p, m->stream) != NULL) {
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "job start on a stream already open");
		return;
	}
	if (!redirected(b, m->printer)) {
		refuse(b, p, guest, m->stream, SUBMIT_REFUSED,
		    "the host does not redirect this printer (any more)");
		return;
	}
	/* What the guest's own CUPS made of the document (PDF): raw bytes
	 * would reach the host's printer past its driver. */
	if (!conf_list_has(b->conf.job_formats, m->format, 1)) {
		char why[CODEC_MAX_NAME + 128];

		snprintf(why, sizeof(why), "the host takes no %s documents from "
		    "guests ([jobs] formats)", m->format);
		refuse(b, p, guest, m->stream, SUBMIT_REFUSED, why);
		return;
	}
	/* The key names the guest too: a guest cannot claim another's job. */
	snprintf(keysrc, sizeof(keysrc), "%s%c%s", guest, 0, m->uuid);
	hash_sha256(keysrc, strlen(guest) + 1 + strlen(m->uuid), sha);
	hash_hex(sha, key);
	for (j = b->jobs; j; j = j->next) {
		/* By guest, not by connection: a guest that connects again
		 * while its jobs still print gets no new allowance. */
		running += strcmp(j->guest, guest) == 0;
		if (strcmp(key, j->key) == 0) {
			refuse(b, p, guest, m->stream, SUBMIT_RETRY,
			    "this job is still being printed from an earlier attempt");
			return;
		}
	}
	if (running >= b->conf.jobs_per_guest) {
		refuse(b, p, guest, m->stream, SUBMIT_RETRY,
		    "the guest already has as many jobs printing as [jobs] "
		    "max_per_guest allows");
		return;
	}
	if (map_user(&b->conf, guest, m->user, user, sizeof(user)) != 0) {
		refuse(b, p, guest, m->stream, SUBMIT_REFUSED, "user name too long");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->guest = strdup(guest)) == NULL ||
	    (j->printer = strdup(m->printer)) == NULL)
		goto nomem;
	j->b = b;
	j->peer = p;
	j->stream = m->stream;
	memcpy(j->key, key, sizeof(key));
	if ((nopt = submit_options(m, &sj.options)) < 0)
		goto nomem;
	sj.num_options = nopt;
	sj.cups = b->conf.cups;
	sj.log = b->joblog;
	sj.sentinel = b->sentinel;
	sj.uuid = j->key;
	sj.printer = m->printer;
	sj.user = user;
	sj.title = m->title ? m->title : "";
	sj.copies = (int)m->copies;
	sj.format = m->format;
	j->next = b->jobs;
	b->jobs = j;
	j->s = submit_start(b->loop, &sj, &submit_ops, j);
	cupsFreeOptions(sj.num_options, sj.options);
	if (j->s == NULL) {
		b->jobs = j->next;
		goto nomem;
	}
	log_info("guest %s: job %s on %s for %s (%s, %u copies, %zu options)",
	    guest, m->uuid, m->printer, user, m->format, m->copies, m->n_options);
	return;
nomem:
	if (j) {
		free(j->guest);
		free(j->printer);
		free(j);
	}
	refuse(b, p, guest, m->stream, SUBMIT_RETRY, "the broker is out of memory");
}

static void
on_data(struct broker *b, struct peer *p, const Printredir__JobData *m)
{
	struct bjob *j = find(b, p, m->stream);
	int rc;

	/* A stream that ended (its result may be on the way) or never opened:
	 * the agent had credit from before, or it withdraws what is gone. */
	if (j == NULL || j->ended)
		return;
	if (m->abort) {
		j->ended = 1;
		submit_abort(j->s);
		return;
	}
	j->bytes += m->has_data ? m->data.len : 0;
	rc = submit_push(j->s, m->has_data ? m->data.data : NULL,
	    m->has_data ? m->data.len : 0, m->last);
	if (m->last)
		j->ended = 1;
	if (rc == -ENOBUFS)
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "job data beyond the credit granted");
}

void
jobs_on_message(struct broker *b, struct peer *p, const char *id,
    const codec_env_t *env)
{
	b->status_rev++;	/* a job's bytes, or a new job */
	if (env->type == PRINTREDIR__MSG_TYPE__MSG_JOB_START)
		on_start(b, p, id, env->job_start);
	else
		on_data(b, p, env->job_data);
}

void
jobs_peer_closed(struct broker *b, struct peer *p)
{
	for (struct bjob *j = b->jobs; j; j = j->next)
		if (j->peer == p) {
			j->peer = NULL;
			j->ended = 1;
			submit_abort(j->s);
		}
}

int
jobs_start(struct broker *b)
{
	char path[4200], err[512];

	snprintf(path, sizeof(path), "%s/jobs.journal", b->conf.state_dir);
	b->joblog = joblog_open(path, (long)b->conf.journal_keep, err, sizeof(err));
	if (b->joblog == NULL) {
		log_warnx("cannot open the job journal: %s", err);
		return -EIO;
	}
	if ((b->sentinel = sentinel_new()) == NULL) {
		log_warnx("out of memory");
		return -ENOMEM;
	}
	return 0;
}

void
jobs_free(struct broker *b)
{
	joblog_close(b->joblog);
	b->joblog = NULL;
	sentinel_free(b->sentinel);
	b->sentinel = NULL;
}

void
jobs_status(struct broker *b, struct json_object *doc)
{
	json_object *arr = json_object_new_array();

	for (struct bjob *j = b->jobs; j; j = j->next) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "guest", json_object_new_string(j->guest));
		json_object_object_add(o, "printer", json_object_new_string(j->printer));
		json_object_object_add(o, "bytes", json_object_new_uint64(j->bytes));
		json_object_array_add(arr, o);
	}
	json_object_object_add(doc, "jobs", arr);
}
