#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "printredir";
static int log_stderr = 1;
static int log_verbose;
static log_sink_fn log_sink;

void
log_init(const char *ident, int to_stderr, int verbose)
{
	log_ident = ident;
	log_stderr = to_stderr;
	log_verbose = verbose;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_is_debug(void)
{
	return log_verbose > 0;
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

static void
vlog(int pri, const char *fmt, va_list ap, int with_errno)
{
	char msg[2048];
	int saved = errno;
	int n;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (with_errno && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved));
	if (log_sink)
		log_sink(pri, msg);
	if (log_stderr) {
		const char *lvl = pri <= LOG_ERR ? "error" : pri == LOG_WARNING ?
		    "warning" : pri == LOG_DEBUG ? "debug" : "info";
		struct timespec ts;
		struct tm tm;

		/* A foreground log often ends up in a file: say when. */
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s: %s\n", tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, lvl, msg);
	} else {
		syslog(pri, "%s", msg);
	}
	errno = saved;
}

#define LOG_BODY(pri, with_errno) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	vlog(pri, fmt, ap, with_errno);		\
	va_end(ap);				\
} while (0)

void log_warn(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_DEBUG, 0); }

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}

/*
 * The one escaping of untrusted bytes for messages: printable ASCII as it
 * is, but for '"' and '\\'; newline, return and tab as \n, \r, \t; the
 * rest as \xNN.  At most max input bytes, as many as fit in out[outlen]
 * (outlen > 0) with "..." when more were left; always NUL-terminated.
 */
static char *
escape(const unsigned char *p, size_t len, size_t max, char *out, size_t outlen)
{
	size_t i, o = 0;
	char one[8];
	int n;

	for (i = 0; i < len && i < max; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			n = snprintf(one, sizeof(one), "%c", p[i]);
		else if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
			n = snprintf(one, sizeof(one), "\\%c",
			    p[i] == '\n' ? 'n' : p[i] == '\r' ? 'r' : 't');
		else
			n = snprintf(one, sizeof(one), "\\x%02x", p[i]);
		/* Keep room for "..." and the NUL. */
		if (o + (size_t)n + 4 > outlen)
			break;
		memcpy(out + o, one, (size_t)n);
		o += (size_t)n;
	}
	if (i < len && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

char *
log_sample(const void *data, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return out;
	return escape(data, len, len, out, outlen);
}

const char *
log_quote(const char *in, char *buf, size_t len)
{
	return escape((const unsigned char *)in, strlen(in), 64, buf, len);
}

void
verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
}

void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, errlen, fmt, ap);
	va_end(ap);
}

size_t
log_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		if (cp != NULL)
			*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return len;
}
