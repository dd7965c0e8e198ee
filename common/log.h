/*
 * Logging for both daemons: stderr in the foreground, syslog (and so the
 * journal) as a service.  The shape follows OpenBSD's log.c.
 */
#ifndef PRINTREDIR_LOG_H
#define PRINTREDIR_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

/*
 * Sets where messages go.  ident is kept by pointer and must outlive the
 * process's logging (a string literal or argv[0]).  With to_stderr set,
 * messages go to stderr; otherwise to syslog under LOG_DAEMON.  verbose > 0
 * lets log_debug through; log_is_debug() tells callers so they can skip
 * costly formatting (frame tracing).
 */
void log_init(const char *ident, int to_stderr, int verbose);
int log_is_debug(void);

/*
 * A sink sees every message that would be emitted (after the verbosity
 * filter), with its syslog priority.  Tests install one to fail on an
 * unexpected error line.  NULL removes it.  The message is only valid during
 * the call.
 */
typedef void (*log_sink_fn)(int priority, const char *msg);
void log_set_sink(log_sink_fn sink);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For broken internal invariants only: logs and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies len bytes of untrusted data into a printable, NUL-terminated sample
 * of at most outlen-1 characters, escaped as log_quote() does (ending in
 * "..." when cut), so a malformed frame can be logged without letting the
 * peer control the log.  Returns out.
 */
char *log_sample(const void *data, size_t len, char *out, size_t outlen);

/*
 * The one quoting of untrusted text (a config value, a name from a peer, a
 * line of a PPD) for a message: at most 64 bytes of in into buf, with '"',
 * '\\' and anything that is not printable ASCII escaped (\n, \r, \t, or
 * \xNN), so that no terminal escape reaches a log; a longer text ends in
 * "...".  len must be at least 12.  Returns buf.
 */
const char *log_quote(const char *in, char *buf, size_t len);

/*
 * The length of the UTF-8 character at s (n bytes left, n > 0), its code
 * point in *cp (cp may be NULL), or 0 when the bytes there are not valid
 * UTF-8: cut short, overlong, a surrogate or past U+10FFFF.  The one UTF-8
 * reader of the project, for every text that came from elsewhere.
 */
size_t log_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * Formats an error message into the caller's err[errlen], if there is one:
 * the modules' way of saying why a call failed.
 */
void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void verrf(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
