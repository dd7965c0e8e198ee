/*
 * rawpeer: a hostile peer for tests/hostile.  It sends the bytes it is told
 * to over a unix socket, as a broken or malicious program would (bytes that
 * are not frames, a frame cut short, a Hello no agent would send, a request
 * line that never ends, one byte a second), and prints what comes back and
 * how the connection ended.
 *
 *   rawpeer (-c PATH | -l PATH) [-b MS] [-w] [-f] [-t SECONDS]
 *           [-V MIN,MAX] STEP...
 *
 *   -c PATH     connect to the unix socket PATH
 *   -l PATH     listen on PATH and take one connection (as a broker would);
 *               PATH is removed once it is taken
 *   -b MS       send one byte every MS milliseconds
 *   -w          shut down the writing side after the last step
 *   -f          print what comes back as frames, one line each; without it
 *               the bytes are copied to stdout as they are
 *   -t SECONDS  wait this long for a connection, for each "expect", and
 *               after the last step for the other side to close (default 10)
 *   -V MIN,MAX  the protocol versions of the "hello" steps (default: this
 *               build's)
 *
 * STEPs, in order:
 *   hex:HEX          these bytes
 *   text:TEXT        TEXT as it is (the shell's $'...' gives any byte but NUL)
 *   file:PATH        the bytes of a file
 *   frame:HEX        HEX as the body of a plain frame
 *   hello:ID         an agent's Hello claiming ID (any bytes but NUL)
 *   job:JOBID:QUEUE  a backend's JobStart for guest job JOBID on QUEUE
 *   expect           wait for the next frame from the other side (one
 *                    that came while an earlier step was sent counts)
 *
 * Output with -f, one line a frame received (tab-separated):
 *   frame FLAGS LENGTH TYPE [DETAIL]
 * TYPE is the envelope's message name, "sealed" or "undecodable"; DETAIL is
 * an error's code and message or a job result's outcome and detail.  Last,
 * on stderr:
 *   end eof|timeout|reset received=BYTES sent=BYTES ms=MS
 * Exit status 0 when the steps ran, 1 when an "expect" saw nothing, 2 for
 * bad arguments.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"
#include "frame.h"
#include "statefile.h"

static int fd = -1, frames_out, byte_ms = -1, timeout_s = 10;
static uint32_t vmin, vmax;
static size_t received, sent;
static long long t0;
static const char *ended;		/* why the connection ended, NULL while open */

/* What came in, for the frame parser (-f). */
static uint8_t *in;
static size_t inlen;
static unsigned frames_in, frames_expected;

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *
enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);

	return e ? e->name : "?";
}

static void
print_frame(unsigned flags, const uint8_t *body, size_t len)
{
	codec_env_t *env = NULL;

	printf("frame\t%u\t%zu\t", flags, len);
	if (flags & FRAME_SEALED)
		printf("sealed");
	else if (codec_decode(body, len, CODEC_BUDGET(len), &env) != 0)
		printf("undecodable");
	else if (env->type == PRINTREDIR__MSG_TYPE__MSG_ERROR && env->error)
		printf("error\t%s\t%s", enum_name(&printredir__error_code__descriptor,
		    env->error->code), env->error->message ? env->error->message : "");
	else if (env->type == PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT && env->job_result)
		printf("job-result\t%s\t%s",
		    enum_name(&printredir__job_outcome__descriptor, env->job_result->outcome),
		    env->job_result->detail ? env->job_result->detail : "");
	else
		printf("%s", codec_type_name(env->type));
	printf("\n");
	fflush(stdout);
	codec_free(env);
}

/* Prints the complete frames in what came in; bytes that are not frames
 * are printed once as such. */
static void
parse_frames(void)
{
	for (;;) {
		uint32_t len;

		if (inlen < FRAME_HDR_LEN)
			return;
		if (in[0] != 'P' || in[1] != 'R') {
			printf("not-a-frame\t%zu\n", inlen);
			fflush(stdout);
			inlen = 0;
			return;
		}
		len = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 |
		    (uint32_t)in[6] << 8 | in[7];
		if (inlen < FRAME_HDR_LEN + (size_t)len)
			return;
		print_frame(in[3], in + FRAME_HDR_LEN, len);
		frames_in++;
		inlen -= FRAME_HDR_LEN + len;
		memmove(in, in + FRAME_HDR_LEN + len, inlen);
	}
}

/* Reads what is there within ms milliseconds (-1: until the end). */
static void
pump(int ms)
{
	long long until = now_ms() + ms;
	uint8_t buf[65536];

	while (ended == NULL) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = until - now_ms();
		ssize_t n;

		if (left < 0)
			left = 0;
		if (poll(&p, 1, (int)left) <= 0)
			return;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ended = n == 0 ? "eof" : "reset";
			return;
		}
		received += (size_t)n;
		if (frames_out) {
			uint8_t *nb = realloc(in, inlen + (size_t)n);

			if (nb == NULL)
				exit(3);
			in = nb;
			memcpy(in + inlen, buf, (size_t)n);
			inlen += (size_t)n;
			parse_frames();
		} else {
			fwrite(buf, 1, (size_t)n, stdout);
			fflush(stdout);
		}
	}
}

static void
send_bytes(const uint8_t *b, size_t n)
{
	for (size_t off = 0; off < n && ended == NULL; ) {
		size_t take = byte_ms >= 0 ? 1 : n - off;
		ssize_t w = write(fd, b + off, take);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			/* The other side is gone: what it said last is still to
			 * be read. */
			pump(1000);
			if (ended == NULL)
				ended = "reset";
			return;
		}
		off += (size_t)w;
		sent += (size_t)w;
		pump(byte_ms >= 0 ? byte_ms : 0);
	}
}

static void
send_env(const codec_env_t *env)
{
	uint8_t *f;
	size_t n;

	if (codec_encode_frame(env, &f, &n) != 0)
		exit(3);
	send_bytes(f, n);
	free(f);
}

/* Strict: an even number of hex digits, nothing else. */
static int
unhex(const char *s, uint8_t **out, size_t *n)
{
	static const char digits[] = "0123456789abcdef";
	size_t len = strlen(s);
	uint8_t *b;

	*out = NULL;
	if (len % 2 != 0 || (b = malloc(len / 2 + 1)) == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *d = strchr(digits, tolower((unsigned char)s[i]));
		unsigned v = d ? (unsigned)(d - digits) : 0;

		if (d == NULL) {
			free(b);
			return -1;
		}
		if (i % 2 == 0)
			b[i / 2] = (uint8_t)(v << 4);
		else
			b[i / 2] |= (uint8_t)v;
	}
	*out = b;
	*n = len / 2;
	return 0;
}

static int
step(const char *s)
{
	uint8_t *b = NULL, hdr[FRAME_HDR_LEN];
	size_t n = 0;
	codec_env_t env;

	if (strncmp(s, "hex:", 4) == 0 || strncmp(s, "frame:", 6) == 0) {
		int framed = s[0] == 'f';

		if (unhex(strchr(s, ':') + 1, &b, &n) != 0)
			return 2;
		if (framed) {
			frame_put_header(hdr, n, 0);
			send_bytes(hdr, sizeof(hdr));
		}
		send_bytes(b, n);
	} else if (strncmp(s, "text:", 5) == 0) {
		send_bytes((const uint8_t *)s + 5, strlen(s + 5));
	} else if (strncmp(s, "file:", 5) == 0) {
		char *data;

		if (statefile_read(s + 5, 64 << 20, &data, &n) != 0)
			return 2;
		b = (uint8_t *)data;
		send_bytes(b, n);
	} else if (strncmp(s, "hello:", 6) == 0) {
		Printredir__Hello h = PRINTREDIR__HELLO__INIT;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HELLO);
		env.hello = &h;
		h.has_version = h.has_min_version = h.has_role = 1;
		h.min_version = vmin;
		h.version = vmax;
		h.role = PRINTREDIR__ROLE__ROLE_AGENT;
		h.peer_id = (char *)s + 6;
		h.software = (char *)"rawpeer";
		send_env(&env);
	} else if (strncmp(s, "job:", 4) == 0) {
		Printredir__JobStart j = PRINTREDIR__JOB_START__INIT;
		char *end;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_START);
		env.job_start = &j;
		j.has_guest_job_id = j.has_stream = j.has_copies = 1;
		j.guest_job_id = (uint32_t)strtoul(s + 4, &end, 10);
		if (*end != ':')
			return 2;
		j.printer = end + 1;
		j.user = (char *)"root";
		j.title = (char *)"rawpeer";
		j.copies = 1;
		j.format = (char *)"application/pdf";
		send_env(&env);
	} else if (strcmp(s, "expect") == 0) {
		long long until = now_ms() + timeout_s * 1000LL;

		/* The frame may have come already, while the last step was
		 * sent: each expect takes the next one not taken. */
		while (frames_in == frames_expected && ended == NULL && now_ms() < until)
			pump(100);
		if (frames_in == frames_expected)
			return 1;
		frames_expected++;
	} else {
		return 2;
	}
	free(b);
	return 0;
}

static int
unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int
open_conn(const char *cpath, const char *lpath)
{
	struct sockaddr_un sa;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1;
	struct pollfd p;

	if (s < 0 || unix_addr(cpath ? cpath : lpath, &sa) != 0)
		return -1;
	if (cpath)
		return connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? s : -1;
	unlink(lpath);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 1) != 0)
		return -1;
	fprintf(stderr, "listening\n");
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	if (poll(&p, 1, timeout_s * 1000) == 1)
		c = accept(s, NULL, NULL);
	close(s);
	unlink(lpath);
	return c;
}

int
main(int argc, char **argv)
{
	const char *cpath = NULL, *lpath = NULL;
	int c, shut = 0, rc = 0;

	vmin = vmax = PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION;
	while ((c = getopt(argc, argv, "c:l:b:wft:V:")) != -1) {
		switch (c) {
		case 'c': cpath = optarg; break;
		case 'l': lpath = optarg; break;
		case 'b': byte_ms = atoi(optarg); break;
		case 'w': shut = 1; break;
		case 'f': frames_out = 1; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'V':
			if (sscanf(optarg, "%u,%u", &vmin, &vmax) != 2)
				return 2;
			break;
		default:
			goto usage;
		}
	}
	if ((cpath == NULL) == (lpath == NULL) || optind == argc)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	if ((fd = open_conn(cpath, lpath)) < 0) {
		fprintf(stderr, "rawpeer: no connection: %s\n", strerror(errno));
		return 1;
	}
	t0 = now_ms();
	for (int i = optind; i < argc && rc == 0 && ended == NULL; i++)
		if ((rc = step(argv[i])) == 2)
			fprintf(stderr, "rawpeer: bad step \"%s\"\n", argv[i]);
	if (shut && ended == NULL)
		shutdown(fd, SHUT_WR);
	if (rc != 2) {
		long long until = now_ms() + timeout_s * 1000LL;

		while (ended == NULL && now_ms() < until)
			pump((int)(until - now_ms()));
		fprintf(stderr, "end %s received=%zu sent=%zu ms=%lld\n",
		    ended ? ended : "timeout", received, sent, now_ms() - t0);
	}
	close(fd);
	free(in);
	return rc;
usage:
	fprintf(stderr, "usage: rawpeer (-c PATH | -l PATH) [-b MS] [-w] [-f] "
	    "[-t SECONDS] [-V MIN,MAX] STEP...\n");
	return 2;
}
