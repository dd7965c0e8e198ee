/*
 * The printredir CUPS backend (guest-agent/backend.c), run as cupsd runs it:
 * the real binary as a child, with the job's argv and environment, against a
 * listening socket in the test's folder where the test plays the guest
 * agent's end of the job protocol (JobStart, JobData..., JobResult).  What
 * is checked is what the agent receives and what cupsd would see: the exit
 * code and the stderr lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "frame.h"
#include "runner.h"

#define DOC_SIZE (3u << 20)		/* the 3 MB document */
#define WAIT_MS 8000			/* for anything the backend should do */

/* The children of the current test, ended by kill_children on any exit. */
static pid_t children[4];

static void
kill_children(void)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void
track(pid_t pid)
{
	static int registered;

	if (!registered) {
		atexit(kill_children);
		registered = 1;
	}
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] <= 0) {
			children[i] = pid;
			return;
		}
	ck_abort_msg("too many children");
}

static void
untrack(pid_t pid)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* NAME in the test's folder; the same name gives the same buffer. */
static const char *
tmp_path(const char *name)
{
	static struct {
		const char *name;
		char path[700];
	} paths[8];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (paths[i].name == NULL) {
			paths[i].name = name;
			snprintf(paths[i].path, sizeof(paths[i].path), "%s/%s",
			    runner_tmpdir(), name);
		}
		if (strcmp(paths[i].name, name) == 0)
			return paths[i].path;
	}
	ck_abort_msg("too many paths");
	return NULL;
}

/* Byte i of every test document: no run of it repeats within a chunk. */
static uint8_t
doc_byte(size_t i)
{
	return (uint8_t)(i * 31 + i / 4093);
}

static void
write_doc(const char *path, size_t len)
{
	static uint8_t buf[65536];
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	for (size_t off = 0; off < len; ) {
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = doc_byte(off + i);
		ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
		off += n;
	}
	ck_assert_int_eq(fclose(f), 0);
}

/* The agent's listening socket, where the backend is told to connect. */
static int
listen_agent(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tmp_path("jobs.sock"));
	unlink(sun.sun_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

static int
accept_agent(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* 1 when a connection is waiting on lfd: a backend that should have given
 * up early must not have connected. */
static int
connection_pending(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A child writing the document to a pipe, for ever when len is 0; returns
 * the read end. */
static int
start_feeder(size_t len, pid_t *pid)
{
	int pfd[2];

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		static uint8_t buf[65536];

		close(pfd[0]);
		signal(SIGPIPE, SIG_DFL);
		for (size_t off = 0; len == 0 || off < len; ) {
			size_t n = sizeof(buf);
			ssize_t w;

			if (len != 0 && len - off < n)
				n = len - off;
			for (size_t i = 0; i < n; i++)
				buf[i] = doc_byte(off + i);
			if ((w = write(pfd[1], buf, n)) < 0)
				_exit(0);
			off += (size_t)w;
		}
		_exit(0);
	}
	track(*pid);
	close(pfd[1]);
	return pfd[0];
}

/*
 * Starts the backend with DEVICE_URI=uri (not set when NULL), the agent's
 * socket in the test folder, and argv = "printredir" followed by args
 * (NULL-terminated).  stdin_fd (-1: /dev/null) becomes its standard input;
 * stdout and stderr go to files.
 */
static pid_t
start_backend(const char *uri, const char *const *args, int stdin_fd)
{
	char prog[600], *argv[10];
	const char *out = tmp_path("stdout"), *err = tmp_path("stderr"),
	    *sock = tmp_path("jobs.sock");
	size_t n = 0;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/printredir-backend", runner_builddir());
	argv[n++] = "printredir";
	while (args[n - 1] != NULL && n < 9) {
		argv[n] = (char *)args[n - 1];
		n++;
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);

		if (in < 0 || dup2(in, STDIN_FILENO) < 0 ||
		    freopen(out, "w", stdout) == NULL || freopen(err, "w", stderr) == NULL)
			_exit(99);
		signal(SIGPIPE, SIG_DFL);
		if (uri != NULL)
			setenv("DEVICE_URI", uri, 1);
		else
			unsetenv("DEVICE_URI");
		setenv("PRINTREDIR_JOB_SOCKET", sock, 1);
		setenv("FINAL_CONTENT_TYPE", "application/vnd.cups-pdf", 1);
		setenv("CONTENT_TYPE", "application/pdf", 1);
		execv(prog, argv);
		_exit(98);
	}
	track(pid);
	if (stdin_fd >= 0)
		close(stdin_fd);
	return pid;
}

/* Waits for the backend: its exit code, or 128 + the signal that ended it. */
static int
wait_backend(pid_t pid)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	int status;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		ck_assert_int_ge(r, 0);
		if (r == pid) {
			untrack(pid);
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		}
		nanosleep(&nap, NULL);
	}
	ck_abort_msg("the backend did not exit in %d ms", WAIT_MS);
	return -1;
}

static const char *
slurp(const char *name)
{
	static char buf[2][65536];
	static int next;
	char *b = buf[next++ % 2];
	FILE *f = fopen(tmp_path(name), "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(b, 1, sizeof(buf[0]) - 1, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

/* Reads exactly n bytes; 0, or -1 at end of file (or a reset) first. */
static int
read_exact(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t *b = buf;

	while (n > 0) {
		ssize_t r;

		ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
take_env(void *arg, const uint8_t *body, size_t len)
{
	codec_env_t **env = arg;

	ck_assert_int_eq(codec_decode(body, len, CODEC_BUDGET(len), env), 0);
	return 0;
}

/*
 * The next envelope from the backend, checked as the agent checks it, or
 * NULL when the connection ends (cleanly or in the middle of a frame).
 */
static size_t last_frame_len;		/* of the last frame recv_env read */

static codec_env_t *
recv_env(int fd)
{
	static uint8_t body[CODEC_JOB_CHUNK + 4096];
	uint8_t hdr[FRAME_HDR_LEN];
	struct frame_reader rd;
	codec_env_t *env = NULL;
	char err[256];
	size_t len;

	if (read_exact(fd, hdr, sizeof(hdr)) != 0)
		return NULL;
	ck_assert_int_eq(hdr[3], 0);		/* flags: plain */
	len = (size_t)hdr[4] << 24 | (size_t)hdr[5] << 16 | (size_t)hdr[6] << 8 | hdr[7];
	ck_assert_uint_le(len, sizeof(body));
	last_frame_len = FRAME_HDR_LEN + len;
	if (read_exact(fd, body, len) != 0)
		return NULL;
	frame_reader_init(&rd, sizeof(body));
	ck_assert_int_eq(frame_reader_feed(&rd, hdr, sizeof(hdr), take_env, &env,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(frame_reader_feed(&rd, body, len, take_env, &env, err,
	    sizeof(err)), 0);
	frame_reader_free(&rd);
	ck_assert_ptr_nonnull(env);
	ck_assert_msg(codec_validate(env, err, sizeof(err)) == 0,
	    "the agent would refuse: %s", err);
	return env;
}

static void
send_bytes(int fd, const void *buf, size_t len)
{
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

static void
send_result(int fd, Printredir__JobOutcome outcome, const char *detail,
    uint32_t host_job)
{
	Printredir__JobResult r = PRINTREDIR__JOB_RESULT__INIT;
	codec_env_t env;
	uint8_t *buf;
	size_t len;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT);
	env.job_result = &r;
	r.has_outcome = 1;
	r.outcome = outcome;
	r.detail = (char *)detail;
	r.has_host_job_id = host_job != 0;
	r.host_job_id = host_job;
	ck_assert_int_eq(codec_encode_frame(&env, &buf, &len), 0);
	send_bytes(fd, buf, len);
	free(buf);
}

static codec_env_t *
recv_start(int fd)
{
	codec_env_t *env = recv_env(fd);

	ck_assert_ptr_nonnull(env);
	ck_assert_int_eq(env->body_case, PRINTREDIR__ENVELOPE__BODY_JOB_START);
	return env;
}

/* The document as the agent sees it arrive. */
struct doc {
	size_t got;		/* bytes so far, each checked against doc_byte */
	int last;		/* the chunk marked last was seen */
};

/* Reads one JobData into d; 0 when the connection ended instead. */
static int
recv_chunk(int fd, struct doc *d)
{
	codec_env_t *env = recv_env(fd);
	Printredir__JobData *jd;

	if (env == NULL)
		return 0;
	ck_assert_int_eq(env->body_case, PRINTREDIR__ENVELOPE__BODY_JOB_DATA);
	jd = env->job_data;
	ck_assert_int_eq(d->last, 0);		/* nothing after "last" */
	ck_assert_uint_le(jd->data.len, CODEC_JOB_CHUNK);
	ck_assert(!jd->has_abort || !jd->abort);
	for (size_t i = 0; i < jd->data.len; i++)
		if (jd->data.data[i] != doc_byte(d->got + i))
			ck_abort_msg("document byte %zu differs", d->got + i);
	d->got += jd->data.len;
	d->last = jd->has_last && jd->last;
	codec_free(env);
	return 1;
}

/* Reads JobData until "last" (with until_last) or the connection's end. */
static void
recv_doc(int fd, struct doc *d, int until_last)
{
	while (!(until_last && d->last) && recv_chunk(fd, d))
		;
}

static const char *
option(const Printredir__JobStart *js, const char *name)
{
	for (size_t i = 0; i < js->n_options; i++)
		if (strcmp(js->options[i]->name, name) == 0)
			return js->options[i]->value;
	return NULL;
}

/* The common case: a small file job answered with outcome; returns the
 * backend's exit code. */
static int
run_small_job(Printredir__JobOutcome outcome, const char *detail)
{
	const char *args[] = { "7", "alice", "t", "1", "", tmp_path("doc"), NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	pid_t pid;

	write_doc(tmp_path("doc"), 1000);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	codec_free(recv_start(fd));
	recv_doc(fd, &d, 1);
	ck_assert_uint_eq(d.got, 1000);
	ck_assert_int_eq(d.last, 1);
	send_result(fd, outcome, detail, 77);
	close(fd);
	close(lfd);
	return wait_backend(pid);
}

START_TEST(sends_the_job_start_and_the_whole_document)
{
	const char *args[] = { "42", "alice", "Quarterly report", "3",
	    "sides=two-sided-long-edge InputSlot=Tray2 job-priority=50",
	    tmp_path("doc"), NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	Printredir__JobStart *js;
	codec_env_t *env;
	pid_t pid;

	write_doc(tmp_path("doc"), DOC_SIZE);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	env = recv_start(fd);
	js = env->job_start;
	ck_assert_uint_eq(js->stream, 0);
	ck_assert(js->uuid == NULL || js->uuid[0] == '\0');
	ck_assert_str_eq(js->printer, "office");
	ck_assert_str_eq(js->user, "alice");
	ck_assert_str_eq(js->title, "Quarterly report");
	ck_assert(js->has_copies);
	ck_assert_uint_eq(js->copies, 3);
	ck_assert_uint_eq(js->n_options, 3);
	ck_assert_pstr_eq(option(js, "sides"), "two-sided-long-edge");
	ck_assert_pstr_eq(option(js, "InputSlot"), "Tray2");
	ck_assert_pstr_eq(option(js, "job-priority"), "50");
	ck_assert_str_eq(js->format, "application/vnd.cups-pdf");
	ck_assert(js->has_guest_job_id);
	ck_assert_uint_eq(js->guest_job_id, 42);
	codec_free(env);

	recv_doc(fd, &d, 1);
	ck_assert_uint_eq(d.got, DOC_SIZE);
	ck_assert_int_eq(d.last, 1);
	send_result(fd, PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED, "", 314);
	ck_assert_int_eq(wait_backend(pid), 0);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"),
	    "INFO: printredir: printed on the host queue office (host job 314)\n"));
	ck_assert_ptr_null(strstr(slurp("stderr"), "ERROR:"));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(a_retry_keeps_the_job)
{
	ck_assert_int_eq(run_small_job(PRINTREDIR__JOB_OUTCOME__JOB_RETRY,
	    "the host queue office is paused"), 6);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"),
	    "ERROR: printredir: the host queue office is paused\n"));
}
END_TEST

START_TEST(a_refusal_cancels_the_job)
{
	ck_assert_int_eq(run_small_job(PRINTREDIR__JOB_OUTCOME__JOB_REFUSED,
	    "document-format-not-supported"), 5);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: the host "
	    "refused the job: document-format-not-supported\n"));
	ck_assert_ptr_null(strstr(slurp("stderr"), "INFO: printredir: printed"));
}
END_TEST

START_TEST(the_agents_detail_is_sanitized)
{
	char detail[6000];
	const char *err, *line, *eol;

	/* A detail that would forge a second status line and color the log. */
	ck_assert_int_eq(run_small_job(PRINTREDIR__JOB_OUTCOME__JOB_REFUSED,
	    "bad\x1b[31m\nINFO: printed\r\tok \xff\xfe end"), 5);
	err = slurp("stderr");
	ck_assert_ptr_nonnull(strstr(err, "ERROR: printredir: the host refused the "
	    "job: bad [31m INFO: printed  ok ?? end\n"));
	ck_assert_ptr_null(strstr(err, "\nINFO: printed"));
	ck_assert_ptr_null(strchr(err, '\x1b'));

	/* A long one is cut. */
	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	ck_assert_int_eq(run_small_job(PRINTREDIR__JOB_OUTCOME__JOB_RETRY, detail), 6);
	err = slurp("stderr");
	line = strstr(err, "ERROR: printredir: xxx");
	ck_assert_ptr_nonnull(line);
	eol = strchr(line, '\n');
	ck_assert_ptr_nonnull(eol);
	ck_assert_int_le(eol - line, 600);
	ck_assert_int_eq(strncmp(eol - 3, "...", 3), 0);
}
END_TEST

START_TEST(no_agent_means_retry)
{
	const char *args[] = { "7", "alice", "t", "1", "", tmp_path("doc"), NULL };
	char want[800];

	write_doc(tmp_path("doc"), 10);
	ck_assert_int_eq(wait_backend(start_backend("printredir:office", args, -1)), 6);
	snprintf(want, sizeof(want), "ERROR: printredir: the printredir agent is "
	    "not running (%s: No such file or directory)\n", tmp_path("jobs.sock"));
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), want));
}
END_TEST

START_TEST(an_agent_closing_mid_stream_means_retry)
{
	const char *args[] = { "7", "alice", "t", "1", "", tmp_path("doc"), NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	pid_t pid;

	write_doc(tmp_path("doc"), DOC_SIZE);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	codec_free(recv_start(fd));
	ck_assert_int_eq(recv_chunk(fd, &d), 1);
	ck_assert_int_eq(d.last, 0);
	close(fd);
	ck_assert_int_eq(wait_backend(pid), 6);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: the "
	    "printredir agent closed the connection without a result\n"));
	ck_assert_ptr_null(strstr(slurp("stderr"), "INFO: printredir: printed"));
	close(lfd);
}
END_TEST

START_TEST(a_garbled_answer_means_retry)
{
	const char *args[] = { "7", "alice", "t", "1", "", tmp_path("doc"), NULL };
	static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	int lfd = listen_agent(), fd;
	pid_t pid;

	write_doc(tmp_path("doc"), 10);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	codec_free(recv_start(fd));
	send_bytes(fd, junk, sizeof(junk) - 1);
	ck_assert_int_eq(wait_backend(pid), 6);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: the "
	    "printredir agent sent a garbled answer (not a printredir frame"));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(an_early_result_stops_the_stream)
{
	const char *args[] = { "7", "alice", "t", "2", "", NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	pid_t pid, feeder;
	codec_env_t *env;

	/* stdin never ends: only the answer can stop the backend. */
	pid = start_backend("printredir:office", args, start_feeder(0, &feeder));
	fd = accept_agent(lfd);
	env = recv_start(fd);
	/* From stdin too, the host makes the copies (the guest's filters do
	 * not: *cupsManualCopies: False). */
	ck_assert_uint_eq(env->job_start->copies, 2);
	codec_free(env);
	ck_assert_int_eq(recv_chunk(fd, &d), 1);
	send_result(fd, PRINTREDIR__JOB_OUTCOME__JOB_REFUSED, "printer deleted", 0);
	ck_assert_int_eq(wait_backend(pid), 5);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: the host "
	    "refused the job: printer deleted\n"));
	recv_doc(fd, &d, 0);
	ck_assert_int_eq(d.last, 0);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(sigterm_withdraws_the_job)
{
	const char *args[] = { "7", "alice", "t", "1", "", NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	pid_t pid, feeder;
	int rc;

	pid = start_backend("printredir:office", args, start_feeder(0, &feeder));
	fd = accept_agent(lfd);
	codec_free(recv_start(fd));
	ck_assert_int_eq(recv_chunk(fd, &d), 1);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	/* Ended by the signal, as cupsd expects of a cancelled job's backend. */
	rc = wait_backend(pid);
	ck_assert_int_eq(rc, 128 + SIGTERM);
	recv_doc(fd, &d, 0);
	ck_assert_int_eq(d.last, 0);
	ck_assert_ptr_null(strstr(slurp("stderr"), "INFO: printredir: printed"));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(bad_device_uris_stop_the_queue)
{
	static const char *const uris[] = {
		"printredir:", "printredir:a/b", "ipp://x", "printredir:a%20b",
		"printredir:a b", "printredir://host/office",
	};
	const char *args[] = { "7", "alice", "t", "1", "", NULL };
	int lfd = listen_agent();

	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		ck_assert_msg(wait_backend(start_backend(uris[i], args, -1)) == 4,
		    "URI %s", uris[i]);
		ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: "));
	}
	ck_assert_int_eq(connection_pending(lfd), 0);
	close(lfd);
}
END_TEST

START_TEST(discovery_prints_nothing_and_bad_calls_fail)
{
	const char *none[] = { NULL };
	const char *three[] = { "7", "alice", "t", NULL };
	int lfd = listen_agent();

	/* cupsd runs every backend without arguments to list devices. */
	ck_assert_int_eq(wait_backend(start_backend(NULL, none, -1)), 0);
	ck_assert_str_eq(slurp("stdout"), "");
	ck_assert_str_eq(slurp("stderr"), "");
	ck_assert_int_eq(wait_backend(start_backend("printredir:office", three, -1)), 1);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "Usage:"));
	ck_assert_int_eq(connection_pending(lfd), 0);
	close(lfd);
}
END_TEST

START_TEST(an_unreadable_document_fails)
{
	const char *args[] = { "7", "alice", "t", "1", "", tmp_path("missing"), NULL };
	int lfd = listen_agent();

	ck_assert_int_eq(wait_backend(start_backend("printredir:office", args, -1)), 1);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "ERROR: printredir: cannot "
	    "open the document: No such file or directory"));
	ck_assert_int_eq(connection_pending(lfd), 0);
	close(lfd);
}
END_TEST

START_TEST(what_the_codec_refuses_is_left_out)
{
	static char opts[6000];
	const char *args[] = { "7", "alice", "tab\there", "0", opts, tmp_path("doc"),
	    NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	Printredir__JobStart *js;
	codec_env_t *env;
	pid_t pid;
	size_t n;

	/* One value over CODEC_MAX_STRING, between two that fit. */
	n = (size_t)snprintf(opts, sizeof(opts), "media=A4 long=");
	memset(opts + n, 'v', CODEC_MAX_STRING + 1);
	snprintf(opts + n + CODEC_MAX_STRING + 1, sizeof(opts) - n - CODEC_MAX_STRING - 1,
	    " InputSlot=Tray2");
	write_doc(tmp_path("doc"), 0);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	env = recv_start(fd);		/* recv_env ran codec_validate on it */
	js = env->job_start;
	ck_assert_str_eq(js->title, "tab here");
	ck_assert_uint_eq(js->copies, 1);
	ck_assert_uint_eq(js->n_options, 2);
	ck_assert_pstr_eq(option(js, "media"), "A4");
	ck_assert_pstr_eq(option(js, "InputSlot"), "Tray2");
	codec_free(env);
	/* An empty document is one empty chunk marked last. */
	recv_doc(fd, &d, 1);
	ck_assert_uint_eq(d.got, 0);
	ck_assert_int_eq(d.last, 1);
	send_result(fd, PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED, NULL, 9);
	ck_assert_int_eq(wait_backend(pid), 0);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "WARNING: printredir: option "
	    "\"long\""));
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "WARNING: printredir: copies "
	    "\"0\""));
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(the_job_start_stays_within_a_chunk)
{
	/* Each option fits the codec; together with the title they would not
	 * fit the agent's frame cap of a chunk and a little more. */
	static char opts[33 * 4100], title[CODEC_MAX_STRING + 1];
	const char *args[] = { "7", "alice", title, "1", opts, tmp_path("doc"),
	    NULL };
	int lfd = listen_agent(), fd;
	struct doc d = { 0 };
	codec_env_t *env;
	size_t n = 0;
	pid_t pid;

	memset(title, 't', CODEC_MAX_STRING);
	for (int i = 0; i < 32; i++) {
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "o%02d=", i);
		memset(opts + n, 'v', 4000);
		n += 4000;
		opts[n++] = ' ';
	}
	opts[n - 1] = '\0';
	write_doc(tmp_path("doc"), 10);
	pid = start_backend("printredir:office", args, -1);
	fd = accept_agent(lfd);
	env = recv_start(fd);
	ck_assert_uint_le(last_frame_len, CODEC_JOB_CHUNK + FRAME_HDR_LEN + 64);
	ck_assert_uint_eq(strlen(env->job_start->title), CODEC_MAX_STRING);
	ck_assert_uint_eq(env->job_start->n_options, 31);
	ck_assert_str_eq(env->job_start->options[30]->name, "o30");
	codec_free(env);
	recv_doc(fd, &d, 1);
	ck_assert_uint_eq(d.got, 10);
	send_result(fd, PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED, NULL, 9);
	ck_assert_int_eq(wait_backend(pid), 0);
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "WARNING: printredir: option "
	    "\"o31\""));
	ck_assert_ptr_nonnull(strstr(slurp("stderr"), "too large together"));
	close(fd);
	close(lfd);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tc = tcase_create("backend");

	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, sends_the_job_start_and_the_whole_document);
	tcase_add_test(tc, a_retry_keeps_the_job);
	tcase_add_test(tc, a_refusal_cancels_the_job);
	tcase_add_test(tc, the_agents_detail_is_sanitized);
	tcase_add_test(tc, no_agent_means_retry);
	tcase_add_test(tc, an_agent_closing_mid_stream_means_retry);
	tcase_add_test(tc, a_garbled_answer_means_retry);
	tcase_add_test(tc, an_early_result_stops_the_stream);
	tcase_add_test(tc, sigterm_withdraws_the_job);
	tcase_add_test(tc, bad_device_uris_stop_the_queue);
	tcase_add_test(tc, discovery_prints_nothing_and_bad_calls_fail);
	tcase_add_test(tc, an_unreadable_document_fails);
	tcase_add_test(tc, what_the_codec_refuses_is_left_out);
	tcase_add_test(tc, the_job_start_stays_within_a_chunk);
	suite_add_tcase(s, tc);
	return s;
}
