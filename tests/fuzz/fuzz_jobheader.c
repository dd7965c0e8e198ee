/*
 * Fuzz target: what a backend writes to the agent's job socket, decoded as
 * guest-agent/jobsock.c decodes it (jobsock_parse_frame): the frames of the
 * stream, the first as the job's header (a JobStart), the others as its
 * JobData, until one is refused, as the agent then closes the connection.
 * Whatever the bytes, a frame decodes to a message within the codec's
 * limits, which the agent can forward once it has added the stream and the
 * job-uuid, or is refused with a reason; and nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "../../guest-agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string as the codec promises it: NULL only when optional, at most max
 * bytes before its NUL, and no control character. */
static void
check_str(const char *s, size_t max, int required)
{
	size_t n;

	if (s == NULL) {
		if (required)
			abort();
		return;
	}
	n = strnlen(s, max + 1);
	if (n > max || (required && n == 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static void
check_start(codec_env_t *env)
{
	Printredir__JobStart *m = env->job_start;
	char uuid[CODEC_MAX_NAME + 1], err[256];
	char *theirs;
	uint8_t *out;
	size_t len;

	if (env->body_case != PRINTREDIR__ENVELOPE__BODY_JOB_START || m == NULL)
		abort();
	check_str(m->uuid, CODEC_MAX_NAME, 0);
	check_str(m->printer, CODEC_MAX_NAME, 1);
	check_str(m->user, CODEC_MAX_NAME, 1);
	check_str(m->title, CODEC_MAX_STRING, 0);
	check_str(m->format, CODEC_MAX_NAME, 1);
	if (!m->has_copies || m->copies < 1 || m->copies > CODEC_MAX_COPIES)
		abort();
	if (m->n_options > CODEC_MAX_OPTIONS || (m->n_options > 0 && m->options == NULL))
		abort();
	for (size_t i = 0; i < m->n_options; i++) {
		check_str(m->options[i]->name, CODEC_MAX_NAME, 1);
		check_str(m->options[i]->value, CODEC_MAX_STRING, 0);
	}

	/* What lookup_done sends the broker: the header with a stream and the
	 * longest job-uuid the agent takes from CUPS, without the guest's job
	 * id.  It must still be valid and encode to a frame. */
	memset(uuid, 'u', CODEC_MAX_NAME);
	uuid[CODEC_MAX_NAME] = '\0';
	theirs = m->uuid;
	m->has_stream = 1;
	m->stream = UINT32_MAX;
	m->uuid = uuid;
	m->has_guest_job_id = 0;
	if (codec_validate(env, err, sizeof(err)) != 0 ||
	    codec_encode_frame(env, &out, &len) != 0 || len > FRAME_DEFAULT_CAP)
		abort();
	m->uuid = theirs;
	free(out);
}

static void
check_data(const codec_env_t *env)
{
	const Printredir__JobData *d = env->job_data;

	if (env->body_case != PRINTREDIR__ENVELOPE__BODY_JOB_DATA || d == NULL ||
	    d->abort || d->data.len > CODEC_JOB_CHUNK ||
	    (d->data.len > 0 && d->data.data == NULL))
		abort();
}

static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	static codec_env_t stale;	/* what *out holds before the call */
	size_t *frames = arg;
	codec_env_t *env = &stale;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = jobsock_parse_frame(body, len, *frames == 0, &env, err, sizeof(err));
	if (rc != 0) {
		/* A refusal leaves nothing to free and always says why. */
		if (env != NULL || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return rc;
	}
	if (env == NULL)
		abort();
	if (*frames == 0) {
		if (env->type != PRINTREDIR__MSG_TYPE__MSG_JOB_START)
			abort();
		check_start(env);
	} else {
		if (env->type != PRINTREDIR__MSG_TYPE__MSG_JOB_DATA)
			abort();
		check_data(env);
	}
	codec_free(env);
	(*frames)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader rd;
	size_t frames = 0;

	/* The agent's cap is one chunk and its envelope; the frame reader's
	 * own checks have their own target (fuzz_frame). */
	frame_reader_init(&rd, CODEC_JOB_CHUNK + 16384);
	(void)frame_reader_feed(&rd, data, size, on_frame, &frames, NULL, 0);
	frame_reader_free(&rd);
	return 0;
}
