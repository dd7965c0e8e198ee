/*
 * printredir: the CUPS backend of the guest's redirected queues.
 *
 * A guest queue with the device URI "printredir:NAME" prints on the host
 * queue NAME.  cupsd runs this backend as lp for each job (argv: job-id user
 * title copies options [file]); the backend hands the job to the guest agent
 * over a local unix stream socket, PRINTREDIR_JOB_SOCKET when that is an
 * absolute path, else JOB_SOCKET_DEFAULT.  A socket rather than a network
 * connection because the agent owns the one authenticated channel to the
 * host: the backend holds no key, needs no network, and the agent can tell
 * from the connection ending whether a job was withdrawn.
 *
 * The conversation, in frames (common/frame.h, flags 0) of one envelope each
 * (common/codec.h):
 *
 *   backend -> agent  JobStart (stream 0, no uuid, guest_job_id = argv[1]),
 *                     JobData chunks of at most CODEC_JOB_CHUNK bytes, then
 *                     a JobData with last set;
 *   agent -> backend  one JobResult, which may come early (a refusal, a
 *                     retry, "already printed"): the backend then stops
 *                     sending and reports it.
 *
 * The connection ending without "last" withdraws the job; that is how a
 * cancel (cupsd's SIGTERM) reaches the host.
 *
 * The exit code is how cupsd learns the outcome (cups/backend.h):
 *
 *   accepted                      CUPS_BACKEND_OK
 *   retry, no agent, agent lost   CUPS_BACKEND_RETRY: cupsd keeps the job and
 *   or garbled answer             tries again after JobRetryInterval, so a
 *                                 guest printing while the host is away loses
 *                                 nothing
 *   refused                       CUPS_BACKEND_CANCEL: this job ends, the
 *                                 queue goes on
 *   bad device URI                CUPS_BACKEND_STOP: the queue itself is wrong
 *   bad arguments, unreadable     CUPS_BACKEND_FAILED
 *   input
 *
 * The "ERROR:" line before an exit becomes the guest job's state message, so
 * whatever the agent says is sanitized first.  SIGTERM closes the socket and
 * ends the process by that signal, which cupsd takes as the normal end of a
 * cancelled or stopped job.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cups/backend.h>
#include <cups/cups.h>

#include "codec.h"
#include "cupsconn.h"
#include "frame.h"
#include "log.h"

#define URI_PREFIX "printredir:"
#define JOB_SOCKET_DEFAULT "/run/printredir/jobs.sock"
#define RESULT_CAP (64 * 1024)		/* largest answer frame we read */
#define DETAIL_MAX 512			/* bytes of the agent's detail we show */
/* The agent reads a backend's frames up to a chunk and some envelope, so the
 * JobStart stays within a chunk whatever its options. */
#define START_MAX CODEC_JOB_CHUNK

/* How the exchange with the agent ended. */
enum end {
	END_NONE,		/* still going */
	END_RESULT,		/* a JobResult arrived */
	END_AGENT,		/* the agent went away or answered garbage */
	END_INPUT,		/* the document could not be read */
	END_TERM,		/* SIGTERM */
};

struct job {
	const char *sock_path;
	int sock, in;
	int in_done;			/* "last" is queued or sent */
	int write_dead;			/* the agent stopped reading */
	uint8_t *out;			/* the frame being written, or NULL */
	size_t out_len, out_off;
	uint64_t bytes;
	unsigned chunks;
	struct frame_reader rd;
	codec_env_t *result;		/* the agent's JobResult */
	sigset_t waitmask;		/* the signal mask while waiting */
	char why[512];			/* the reason for END_AGENT / END_INPUT */
	char bad[256];			/* what was wrong with the agent's frame */
};

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/*
 * Copies untrusted text into out[outlen] (outlen >= 4) as something one
 * status line may hold: control characters become spaces, bytes that are not
 * UTF-8 become '?', and a longer text is cut at a character and ends in "...".
 */
static void
clean_text(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)in, *end = p + strlen(in);
	size_t o = 0, keep = 0, n;
	uint32_t cp = 0;

	while (*p != '\0') {
		if (o + 3 <= outlen - 1)
			keep = o;
		n = log_utf8_next(p, (size_t)(end - p), &cp);
		if (o + (n ? n : 1) > outlen - 1) {
			memcpy(out + keep, "...", 4);
			return;
		}
		if (n == 0) {
			out[o++] = '?';
			p++;
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			out[o++] = ' ';
			p += n;
		} else {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		}
	}
	out[o] = '\0';
}


/* The host queue named by the device URI, or NULL with an ERROR line. */
static const char *
queue_name(const char *uri)
{
	char q[64];
	const char *name;

	if (strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) != 0) {
		fprintf(stderr, "ERROR: printredir: the device URI \"%s\" does not start "
		    "with \"" URI_PREFIX "\"\n", log_quote(uri, q, sizeof(q)));
		return NULL;
	}
	name = uri + strlen(URI_PREFIX);
	if (strchr(name, '%') != NULL || !cupsconn_valid_name(name)) {
		fprintf(stderr, "ERROR: printredir: \"%s\" in the device URI is not "
		    "a host queue name\n", log_quote(name, q, sizeof(q)));
		return NULL;
	}
	return name;
}

/*
 * Fills js from the job's arguments.  opts (the parsed options, freed by the
 * caller with cupsFreeOptions) and the JobOption arrays are owned by the
 * caller; what the codec or the agent would refuse is left out with a
 * WARNING line.
 */
static void
job_start(Printredir__JobStart *js, const char *printer, char **argv,
    char *title, size_t titlelen, int nopts,
    cups_option_t *opts, Printredir__JobOption *jo, Printredir__JobOption **jop)
{
	char q1[64], q2[64], *end;
	const char *format;
	unsigned long id;
	long copies;

	js->has_stream = 1;
	js->stream = 0;
	js->printer = (char *)printer;
	js->user = argv[2];
	clean_text(argv[3], title, titlelen);
	js->title = title;

	/* The copies are the host's to make: the agent's PPDs say
	 * *cupsManualCopies: False, so the guest's filters made one, and a raw
	 * job has none made either. */
	errno = 0;
	copies = strtol(argv[4], &end, 10);
	if (errno != 0 || end == argv[4] || *end != '\0' || copies < 1 ||
	    copies > CODEC_MAX_COPIES) {
		fprintf(stderr, "WARNING: printredir: copies \"%s\" is not 1 to %d, "
		    "printing 1\n", log_quote(argv[4], q1, sizeof(q1)), CODEC_MAX_COPIES);
		copies = 1;
	}
	js->has_copies = 1;
	js->copies = (uint32_t)copies;

	if ((format = getenv("FINAL_CONTENT_TYPE")) == NULL || *format == '\0')
		format = getenv("CONTENT_TYPE");
	if (format == NULL || *format == '\0')
		format = "application/octet-stream";
	if (!codec_text_ok(format, CODEC_MAX_NAME, 1)) {
		fprintf(stderr, "WARNING: printredir: the document format \"%s\" is "
		    "not a MIME type, sending application/octet-stream\n",
		    log_quote(format, q1, sizeof(q1)));
		format = "application/octet-stream";
	}
	js->format = (char *)format;

	js->n_options = 0;
	js->options = jop;
	for (int i = 0; i < nopts; i++) {
		const char *why = NULL;
		size_t k = js->n_options;

		if (!codec_text_ok(opts[i].name, CODEC_MAX_NAME, 1))
			why = "its name is too long or holds a control character";
		else if (!codec_text_ok(opts[i].value, CODEC_MAX_STRING, 0))
			why = "its value is too long or holds a control character";
		else if (k == CODEC_MAX_OPTIONS)
			why = "the job has too many options";
		else {
			printredir__job_option__init(&jo[k]);
			jo[k].name = opts[i].name;
			jo[k].value = opts[i].value;
			jop[k] = &jo[k];
			js->n_options = k + 1;
			if (printredir__job_start__get_packed_size(js) > START_MAX) {
				js->n_options = k;
				why = "the job's options are too large together";
			}
		}
		if (why != NULL)
			fprintf(stderr, "WARNING: printredir: option \"%s\" (value \"%s\") "
			    "is left out: %s\n", log_quote(opts[i].name, q1, sizeof(q1)),
			    log_quote(opts[i].value, q2, sizeof(q2)), why);
	}

	errno = 0;
	id = strtoul(argv[1], &end, 10);
	if (errno == 0 && end != argv[1] && *end == '\0' && id <= UINT32_MAX) {
		js->has_guest_job_id = 1;
		js->guest_job_id = (uint32_t)id;
	}
}

/* Connects to the agent's socket: 0, or -errno with the reason in j->why. */
static int
connect_agent(struct job *j)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(j->sock_path) >= sizeof(sun.sun_path)) {
		snprintf(j->why, sizeof(j->why), "the path is too long");
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, j->sock_path, strlen(j->sock_path) + 1);
	j->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (j->sock < 0) {
		rc = -errno;
		snprintf(j->why, sizeof(j->why), "%s", strerror(errno));
		return rc;
	}
	/* A unix stream connect completes at once or fails (EAGAIN: the agent's
	 * backlog is full, which a retry outlives). */
	if (connect(j->sock, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = -errno;
		snprintf(j->why, sizeof(j->why), "%s", strerror(errno));
		return rc;
	}
	return 0;
}

/* Queues env as the next frame to write: 0, or -errno. */
static int
queue_frame(struct job *j, const codec_env_t *env)
{
	int rc;

	free(j->out);
	j->out = NULL;
	j->out_len = j->out_off = 0;
	if ((rc = codec_encode_frame(env, &j->out, &j->out_len)) != 0)
		snprintf(j->why, sizeof(j->why), "cannot encode a frame: %s",
		    strerror(-rc));
	return rc;
}

/* Reads the next piece of the document into a JobData frame. */
static enum end
read_input(struct job *j)
{
	static uint8_t buf[CODEC_JOB_CHUNK];
	Printredir__JobData jd = PRINTREDIR__JOB_DATA__INIT;
	codec_env_t env;
	ssize_t n;

	n = read(j->in, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return END_NONE;
	if (n < 0) {
		snprintf(j->why, sizeof(j->why), "cannot read the document: %s",
		    strerror(errno));
		return END_INPUT;
	}
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_DATA);
	env.job_data = &jd;
	jd.has_stream = 1;
	jd.has_data = 1;
	jd.data.data = buf;
	jd.data.len = (size_t)n;
	if (n == 0) {
		jd.has_last = 1;
		jd.last = 1;
		j->in_done = 1;
		fprintf(stderr, "DEBUG: printredir: sent %" PRIu64 " bytes in %u chunks, "
		    "waiting for the host\n", j->bytes, j->chunks);
	} else {
		j->bytes += (uint64_t)n;
		j->chunks++;
	}
	return queue_frame(j, &env) == 0 ? END_NONE : END_INPUT;
}

/* Takes one frame from the agent: it must be a JobResult. */
static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	struct job *j = arg;
	codec_env_t *env;
	int rc;

	if ((rc = codec_decode(body, len, CODEC_BUDGET(len), &env)) != 0) {
		snprintf(j->bad, sizeof(j->bad), "an answer that does not decode");
		return rc;
	}
	/* Not codec_validate: a control character in the detail must not turn a
	 * refusal into endless retries; the detail is cleaned when shown. */
	if (env->body_case != PRINTREDIR__ENVELOPE__BODY_JOB_RESULT ||
	    !env->job_result->has_outcome ||
	    (env->job_result->outcome != PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED &&
	    env->job_result->outcome != PRINTREDIR__JOB_OUTCOME__JOB_RETRY &&
	    env->job_result->outcome != PRINTREDIR__JOB_OUTCOME__JOB_REFUSED)) {
		snprintf(j->bad, sizeof(j->bad), "a %s message instead of a job "
		    "result", env->has_type ? codec_type_name(env->type) : "untyped");
		codec_free(env);
		return -EBADMSG;
	}
	j->result = env;
	return 1;
}

/* Reads what the agent sent. */
static enum end
read_agent(struct job *j)
{
	uint8_t buf[4096];
	char err[256];
	ssize_t n;
	int rc;

	n = recv(j->sock, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return END_NONE;
	if (n < 0 && errno != ECONNRESET) {
		snprintf(j->why, sizeof(j->why), "lost the connection to the printredir "
		    "agent (%s: %s)", j->sock_path, strerror(errno));
		return END_AGENT;
	}
	if (n <= 0) {
		/* A reset only says the agent closed before reading all we sent. */
		snprintf(j->why, sizeof(j->why), "the printredir agent closed the "
		    "connection without a result");
		return END_AGENT;
	}
	err[0] = '\0';
	rc = frame_reader_feed(&j->rd, buf, (size_t)n, on_frame, j, err, sizeof(err));
	if (rc == 1)
		return END_RESULT;
	if (rc != 0) {
		snprintf(j->why, sizeof(j->why), "the printredir agent sent a garbled "
		    "answer (%s)", err[0] ? err : j->bad);
		return END_AGENT;
	}
	return END_NONE;			/* a partial frame so far */
}

/* Writes what the socket takes of the pending frame. */
static void
write_agent(struct job *j)
{
	ssize_t n;

	n = send(j->sock, j->out + j->out_off, j->out_len - j->out_off,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		/* EPIPE or ECONNRESET: the agent stopped reading, but may have
		 * answered first; keep reading until its answer or end of file. */
		fprintf(stderr, "DEBUG: printredir: the agent stopped reading: %s\n",
		    strerror(errno));
		j->write_dead = 1;
		return;
	}
	j->out_off += (size_t)n;
	if (j->out_off == j->out_len) {
		free(j->out);
		j->out = NULL;
		j->out_len = j->out_off = 0;
	}
}

/*
 * Sends the queued JobStart and then the document, watching the socket all
 * along so that an early answer stops the sending, until a JobResult
 * arrives or the exchange ends otherwise.
 */
static enum end
exchange(struct job *j)
{
	struct pollfd pfd[2];
	enum end e;

	for (;;) {
		int want_input = !j->write_dead && j->out == NULL && !j->in_done;
		nfds_t nfds = 1;

		if (got_term)
			return END_TERM;
		pfd[0].fd = j->sock;
		pfd[0].events = POLLIN;
		if (!j->write_dead && j->out != NULL)
			pfd[0].events |= POLLOUT;
		if (want_input) {
			pfd[1].fd = j->in;
			pfd[1].events = POLLIN;
			nfds = 2;
		}
		if (ppoll(pfd, nfds, NULL, &j->waitmask) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(j->why, sizeof(j->why), "poll: %s", strerror(errno));
			return END_AGENT;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((e = read_agent(j)) != END_NONE)
				return e;
		}
		if (!j->write_dead && j->out != NULL &&
		    (pfd[0].revents & (POLLOUT | POLLERR)))
			write_agent(j);
		if (want_input && pfd[1].revents != 0 &&
		    (e = read_input(j)) != END_NONE)
			return e;
	}
}

/* Says what the agent answered and returns the exit code for it. */
static int
report(const Printredir__JobResult *r, const char *printer)
{
	char detail[DETAIL_MAX + 1];

	clean_text(r->detail ? r->detail : "", detail, sizeof(detail));
	switch (r->outcome) {
	case PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED:
		if (r->has_host_job_id)
			fprintf(stderr, "INFO: printredir: printed on the host queue %s "
			    "(host job %" PRIu32 ")\n", printer, r->host_job_id);
		else
			fprintf(stderr, "INFO: printredir: printed on the host queue %s\n",
			    printer);
		return CUPS_BACKEND_OK;
	case PRINTREDIR__JOB_OUTCOME__JOB_RETRY:
		fprintf(stderr, "ERROR: printredir: %s\n", detail[0] ? detail :
		    "the host cannot take the job now, it will be retried");
		return CUPS_BACKEND_RETRY;
	default:
		fprintf(stderr, "ERROR: printredir: the host refused the job: %s\n",
		    detail[0] ? detail : "no reason given");
		return CUPS_BACKEND_CANCEL;
	}
}

int
main(int argc, char **argv)
{
	struct job j = { .sock = -1, .in = -1 };
	struct sigaction sa = { .sa_handler = on_term };
	Printredir__JobOption *jo = NULL, **jop = NULL;
	Printredir__JobStart js = PRINTREDIR__JOB_START__INIT;
	cups_option_t *opts = NULL;
	char title[CODEC_MAX_STRING + 1], err[256];
	const char *uri, *printer;
	codec_env_t env;
	sigset_t term;
	int nopts = 0, status = CUPS_BACKEND_FAILED;
	enum end e;

	if (argc == 1) {
		/* Device discovery: printredir queues are made by the agent. */
		return CUPS_BACKEND_OK;
	}
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "Usage: %s job-id user title copies options [file]\n",
		    argv[0]);
		return CUPS_BACKEND_FAILED;
	}
	if ((uri = getenv("DEVICE_URI")) == NULL)
		uri = argv[0];
	if ((printer = queue_name(uri)) == NULL)
		return CUPS_BACKEND_STOP;

	/* SIGTERM is blocked except inside ppoll, so it is never lost between
	 * the check of got_term and the wait. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &j.waitmask);
	sigdelset(&j.waitmask, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	frame_reader_init(&j.rd, RESULT_CAP);

	if (argc == 7) {
		if ((j.in = open(argv[6], O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "ERROR: printredir: cannot open the document: %s\n",
			    strerror(errno));
			goto out;
		}
	} else
		j.in = STDIN_FILENO;

	nopts = cupsParseOptions(argv[5], 0, &opts);
	if (nopts > 0 && ((jo = calloc((size_t)nopts, sizeof(*jo))) == NULL ||
	    (jop = calloc((size_t)nopts, sizeof(*jop))) == NULL)) {
		fprintf(stderr, "ERROR: printredir: out of memory\n");
		goto out;
	}
	job_start(&js, printer, argv, title, sizeof(title), nopts, opts,
	    jo, jop);
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_START);
	env.job_start = &js;
	if (codec_validate(&env, err, sizeof(err)) != 0) {
		/* Only the user name is left unchecked above; cupsd sends one
		 * the codec takes, so this job is an oddity to drop, not retry. */
		fprintf(stderr, "ERROR: printredir: the job cannot be sent: %s\n", err);
		status = CUPS_BACKEND_CANCEL;
		goto out;
	}

	if ((j.sock_path = getenv("PRINTREDIR_JOB_SOCKET")) == NULL ||
	    j.sock_path[0] != '/')
		j.sock_path = JOB_SOCKET_DEFAULT;
	fputs("STATE: +connecting-to-device\n", stderr);
	if (connect_agent(&j) != 0) {
		fputs("STATE: -connecting-to-device\n", stderr);
		fprintf(stderr, "ERROR: printredir: the printredir agent is not running "
		    "(%s: %s)\n", j.sock_path, j.why);
		status = CUPS_BACKEND_RETRY;
		goto out;
	}
	fputs("STATE: -connecting-to-device\n", stderr);
	fprintf(stderr, "DEBUG: printredir: sending job %s to the host queue %s "
	    "through %s\n", argv[1], printer, j.sock_path);

	e = queue_frame(&j, &env) != 0 ? END_INPUT : exchange(&j);
	switch (e) {
	case END_RESULT:
		status = report(j.result->job_result, printer);
		break;
	case END_AGENT:
		fprintf(stderr, "ERROR: printredir: %s\n", j.why);
		status = CUPS_BACKEND_RETRY;
		break;
	case END_INPUT:
		fprintf(stderr, "ERROR: printredir: %s\n", j.why);
		status = CUPS_BACKEND_FAILED;
		break;
	case END_NONE:
		break;
	case END_TERM:
		/* Closing without "last" withdraws the job at the agent. */
		fputs("DEBUG: printredir: cancelled, withdrawing the job\n", stderr);
		close(j.sock);
		j.sock = -1;
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
		sigprocmask(SIG_UNBLOCK, &term, NULL);	/* delivers it: no return */
		break;
	}
out:
	if (j.sock >= 0)
		close(j.sock);
	if (j.in > STDIN_FILENO)
		close(j.in);
	free(j.out);
	frame_reader_free(&j.rd);
	codec_free(j.result);
	free(jo);
	free(jop);
	cupsFreeOptions(nopts, opts);
	return status;
}
