/*
 * Schema-driven configuration loader on libinih. See conf.h for the syntax.
 *
 * The file is read into memory first and fed to ini_parse_stream() one line
 * per reader call. The reader counts lines, so the handler knows the line
 * it is called for: Debian's libinih passes no line number to a handler
 * declared as its header says, and ini_parse() only returns the line of the
 * first error. The reader also refuses a line that would not fit inih's
 * buffer, which inih would otherwise split silently into two lines.
 *
 * Values are parsed into a scratch copy of the caller's struct and copied
 * out only when the whole file is good.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "addr.h"
#include "conf.h"
#include "log.h"

/* Room for a sanitized name or value in a message. */
#define SHOW_MAX 80

struct parse {
	const char *name;		/* file name for messages */
	const char *buf;		/* the whole text */
	size_t len, pos;
	int line;			/* line last handed to inih */
	const struct conf_key *keys;
	size_t nkeys;
	unsigned char *tmp;		/* scratch copy of the caller's data */
	int *set_line;			/* per key: line that set it, or 0 */
	int rc;				/* first error, 0 if none */
	char *err;
	size_t errlen;
};

/* Debian's libinih options, saved around a parse. */
struct inih_opts {
	bool multiline, bom, inline_comments, no_value, stop_first, use_stack;
	int max_line;
	char *inline_prefixes, *start_prefixes;
};

static size_t
field_size(enum conf_type t)
{
	switch (t) {
	case CONF_STRING:
		return sizeof(char *);
	case CONF_BOOL:
		return sizeof(int);
	case CONF_INT:
	case CONF_DURATION:
		return sizeof(long long);
	case CONF_ADDR:
		return sizeof(struct addr);
	}
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Parses the decimal digits at *sp into *out and advances *sp past them.
 * Returns -EINVAL without digits, -ERANGE past ULLONG_MAX.
 */
static int
parse_digits(const char **sp, unsigned long long *out)
{
	const char *s = *sp;
	unsigned long long v = 0;
	int rc = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (ULLONG_MAX - d) / 10)
			rc = -ERANGE;	/* keep going: junk beats overflow */
		else
			v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return rc;
}

static int
parse_int(const char *v, long long *out)
{
	unsigned long long mag;
	int neg = 0, rc;

	if (*v == '-') {
		neg = 1;
		v++;
	}
	rc = parse_digits(&v, &mag);
	if (rc == -EINVAL || *v != '\0')
		return -EINVAL;
	if (rc < 0)
		return rc;
	if (neg) {
		if (mag > (unsigned long long)LLONG_MAX + 1)
			return -ERANGE;
		*out = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN :
		    -(long long)mag;
	} else {
		if (mag > (unsigned long long)LLONG_MAX)
			return -ERANGE;
		*out = (long long)mag;
	}
	return 0;
}

static int
parse_duration(const char *v, long long *out)
{
	unsigned long long n, unit = 1;
	int rc;

	rc = parse_digits(&v, &n);
	if (rc == -EINVAL)
		return rc;
	switch (*v) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 60 * 60;
		break;
	case 'd':
		unit = 24 * 60 * 60;
		break;
	default:
		return -EINVAL;
	}
	if (*v != '\0' && v[1] != '\0')
		return -EINVAL;
	if (rc < 0 || n > (unsigned long long)LLONG_MAX / unit)
		return -ERANGE;
	*out = (long long)(n * unit);
	return 0;
}

/* min == max == 0 means no bounds beyond what the type can hold. */
static int
in_range(const struct conf_key *k, long long n)
{
	if (k->min == 0 && k->max == 0)
		return 1;
	return n >= k->min && n <= k->max;
}

/*
 * Parses v for key k into the field at dst. The message in msg has no file
 * or key: the caller adds them.
 */
static int
set_value(const struct conf_key *k, const char *v, void *dst, char *msg,
    size_t msglen)
{
	char shown[SHOW_MAX];
	size_t len = strlen(v);
	long long n, lo, hi;
	int rc;

	if (len > CONF_VALUE_MAX) {
		errf(msg, msglen, "value too long (%zu bytes, at most %d)",
		    len, CONF_VALUE_MAX);
		return -EINVAL;
	}
	if (len == 0 && !(k->type == CONF_STRING && k->empty_ok)) {
		errf(msg, msglen, "empty value");
		return -EINVAL;
	}

	switch (k->type) {
	case CONF_STRING: {
		char *s = strdup(v);

		if (s == NULL) {
			errf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)dst);
		*(char **)dst = s;
		return 0;
	}
	case CONF_BOOL:
		if (parse_bool(v, dst) == 0)
			return 0;
		errf(msg, msglen, "expected yes/no, true/false, on/off or "
		    "1/0, got \"%s\"", log_quote(v, shown, SHOW_MAX));
		return -EINVAL;
	case CONF_INT:
		rc = parse_int(v, &n);
		if (rc == 0 && in_range(k, n)) {
			*(long long *)dst = n;
			return 0;
		}
		lo = k->min == 0 && k->max == 0 ? LLONG_MIN : k->min;
		hi = k->min == 0 && k->max == 0 ? LLONG_MAX : k->max;
		if (rc == -EINVAL)
			errf(msg, msglen, "expected an integer from %lld to "
			    "%lld, got \"%s\"", lo, hi, log_quote(v, shown, SHOW_MAX));
		else
			errf(msg, msglen, "%s is out of range (%lld to "
			    "%lld)", log_quote(v, shown, SHOW_MAX), lo, hi);
		return -EINVAL;
	case CONF_DURATION:
		rc = parse_duration(v, &n);
		if (rc == 0 && in_range(k, n)) {
			*(long long *)dst = n;
			return 0;
		}
		if (rc == -EINVAL)
			errf(msg, msglen, "expected a duration like 30, 30s, "
			    "5m, 2h or 1d, got \"%s\"", log_quote(v, shown, SHOW_MAX));
		else
			errf(msg, msglen, "duration %s is out of range (%lld "
			    "to %lld seconds)", log_quote(v, shown, SHOW_MAX),
			    k->min == 0 && k->max == 0 ? 0 : k->min,
			    k->min == 0 && k->max == 0 ? LLONG_MAX : k->max);
		return -EINVAL;
	case CONF_ADDR:
		return addr_parse(v, dst, msg, msglen);
	}
	errf(msg, msglen, "bad type %d in the schema", (int)k->type);
	return -EINVAL;
}

/* Records the first error of a parse: "NAME:LINE: " then the message. */
static void parse_fail(struct parse *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
parse_fail(struct parse *p, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->rc != 0)
		return;
	p->rc = rc;
	if (p->err == NULL || p->errlen == 0)
		return;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * inih's reader: hands out one line per call, with its newline, so that
 * p->line is the line inih works on. NULL ends the parse.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *start, *nl;
	size_t n, content;

	if (p->rc != 0 || p->pos >= p->len || num < 2)
		return NULL;
	start = p->buf + p->pos;
	nl = memchr(start, '\n', p->len - p->pos);
	n = nl != NULL ? (size_t)(nl - start) + 1 : p->len - p->pos;
	p->line++;
	if (memchr(start, '\0', n) != NULL) {
		parse_fail(p, -EINVAL, "NUL byte in the line");
		return NULL;
	}
	content = nl != NULL ? n - 1 : n;
	if (content > CONF_LINE_MAX - 1 || n > (size_t)num - 1) {
		parse_fail(p, -EINVAL, "line too long (at most %d bytes)",
		    CONF_LINE_MAX);
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	p->pos += n;
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct conf_key *k = NULL;
	char msg[512], s1[SHOW_MAX], s2[SHOW_MAX];
	int known_section = 0, rc;
	size_t i;

	if (p->rc != 0)
		return 0;
	if (section[0] == '\0') {
		parse_fail(p, -EINVAL, "key \"%s\" is outside any [section]",
		    log_quote(name, s1, SHOW_MAX));
		return 0;
	}
	for (i = 0; i < p->nkeys; i++) {
		if (strcmp(p->keys[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(p->keys[i].name, name) == 0) {
			k = &p->keys[i];
			break;
		}
	}
	if (!known_section) {
		parse_fail(p, -EINVAL, "unknown section [%s] (key \"%s\")",
		    log_quote(section, s1, SHOW_MAX), log_quote(name, s2, SHOW_MAX));
		return 0;
	}
	if (k == NULL) {
		parse_fail(p, -EINVAL, "unknown key \"%s\" in [%s]",
		    log_quote(name, s1, SHOW_MAX), log_quote(section, s2, SHOW_MAX));
		return 0;
	}
	if (p->set_line[i] != 0) {
		parse_fail(p, -EINVAL, "duplicate key \"%s\" in [%s] (first "
		    "set on line %d)", k->name, k->section, p->set_line[i]);
		return 0;
	}
	p->set_line[i] = p->line;
	rc = set_value(k, value, p->tmp + k->offset, msg, sizeof(msg));
	if (rc < 0) {
		parse_fail(p, rc, "key \"%s\" in [%s]: %s", k->name,
		    k->section, msg);
		return 0;
	}
	return 1;
}

/* Describes the line inih refused, from its first character. */
static const char *
syntax_hint(const struct parse *p, int line)
{
	const char *s = p->buf, *end = p->buf + p->len;
	int l;

	for (l = 1; l < line && s < end; l++) {
		s = memchr(s, '\n', (size_t)(end - s));
		if (s == NULL)
			return "syntax error";
		s++;
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s < end && *s == '[')
		return "syntax error: section header without ']' (a \" ;\" "
		    "inside the brackets starts a comment)";
	return "syntax error: expected [section], key = value or a comment";
}

static int
check_schema(const char *name, const struct conf_key *keys, size_t nkeys,
    char *err, size_t errlen)
{
	size_t i, j;

	for (i = 0; i < nkeys; i++) {
		const struct conf_key *k = &keys[i];

		if (k->section == NULL || k->section[0] == '\0' ||
		    k->name == NULL || k->name[0] == '\0' ||
		    field_size(k->type) == 0 ||
		    ((k->type == CONF_INT || k->type == CONF_DURATION) &&
		    k->min > k->max)) {
			errf(err, errlen, "%s: schema: bad entry %zu", name,
			    i);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(keys[j].section, k->section) == 0 &&
			    strcmp(keys[j].name, k->name) == 0) {
				errf(err, errlen, "%s: schema: key \"%s\" in "
				    "[%s] twice", name, k->name, k->section);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void
free_strings(const struct conf_key *keys, size_t nkeys, unsigned char *base)
{
	size_t i;

	for (i = 0; i < nkeys; i++) {
		if (keys[i].type == CONF_STRING) {
			free(*(char **)(base + keys[i].offset));
			*(char **)(base + keys[i].offset) = NULL;
		}
	}
}

static void
inih_setup(struct inih_opts *saved)
{
	static char inline_prefixes[] = ";";
	static char start_prefixes[] = ";#";

	saved->multiline = ini_allow_multiline;
	saved->bom = ini_allow_bom;
	saved->inline_comments = ini_allow_inline_comments;
	saved->no_value = ini_allow_no_value;
	saved->stop_first = ini_stop_on_first_error;
	saved->use_stack = ini_use_stack;
	saved->max_line = ini_max_line;
	saved->inline_prefixes = ini_inline_comment_prefixes;
	saved->start_prefixes = ini_start_comment_prefixes;

	/*
	 * Continuation lines off: with them on, an indented "key = value"
	 * becomes part of the previous value. The line buffer lives on the
	 * stack (a VLA of ini_max_line bytes in Debian's build).
	 */
	ini_allow_multiline = false;
	ini_allow_bom = true;
	ini_allow_inline_comments = true;
	ini_allow_no_value = false;
	ini_stop_on_first_error = true;
	ini_use_stack = true;
	ini_max_line = CONF_LINE_MAX + 1;	/* + NUL */
	ini_inline_comment_prefixes = inline_prefixes;
	ini_start_comment_prefixes = start_prefixes;
}

static void
inih_restore(const struct inih_opts *saved)
{
	ini_allow_multiline = saved->multiline;
	ini_allow_bom = saved->bom;
	ini_allow_inline_comments = saved->inline_comments;
	ini_allow_no_value = saved->no_value;
	ini_stop_on_first_error = saved->stop_first;
	ini_use_stack = saved->use_stack;
	ini_max_line = saved->max_line;
	ini_inline_comment_prefixes = saved->inline_prefixes;
	ini_start_comment_prefixes = saved->start_prefixes;
}

int
conf_load_buf(const char *name, const char *buf, size_t len,
    const struct conf_key *keys, size_t nkeys, void *out, char *err,
    size_t errlen)
{
	struct parse p;
	struct inih_opts saved;
	char msg[512];
	size_t i, size = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.buf = buf;
	p.len = len;
	p.keys = keys;
	p.nkeys = nkeys;
	p.err = err;
	p.errlen = errlen;

	rc = check_schema(name, keys, nkeys, err, errlen);
	if (rc < 0)
		goto out;
	if (len > CONF_FILE_MAX) {
		rc = -EFBIG;
		errf(err, errlen, "%s: file too large (%zu bytes, at most "
		    "%d)", name, len, CONF_FILE_MAX);
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		size_t end = keys[i].offset + field_size(keys[i].type);

		if (end > size)
			size = end;
	}
	p.tmp = calloc(1, size > 0 ? size : 1);
	p.set_line = calloc(nkeys > 0 ? nkeys : 1, sizeof(*p.set_line));
	if (p.tmp == NULL || p.set_line == NULL) {
		rc = -ENOMEM;
		errf(err, errlen, "%s: out of memory", name);
		goto out;
	}

	inih_setup(&saved);
	rc = ini_parse_stream(reader, &p, handler, &p);
	inih_restore(&saved);
	if (p.rc != 0) {
		rc = p.rc;
		goto out;
	}
	if (rc == -2) {
		rc = -ENOMEM;
		errf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	if (rc != 0) {
		errf(err, errlen, "%s:%d: %s", name, rc,
		    syntax_hint(&p, rc));
		rc = -EINVAL;
		goto out;
	}

	for (i = 0; i < nkeys; i++) {
		const struct conf_key *k = &keys[i];

		if (p.set_line[i] != 0)
			continue;
		if (k->def == NULL) {
			if (k->required) {
				rc = -EINVAL;
				errf(err, errlen, "%s: missing required key "
				    "\"%s\" in [%s]", name, k->name,
				    k->section);
				goto out;
			}
			continue;
		}
		rc = set_value(k, k->def, p.tmp + k->offset, msg, sizeof(msg));
		if (rc < 0) {
			errf(err, errlen, "%s: schema: default of key \"%s\" "
			    "in [%s]: %s", name, k->name, k->section, msg);
			goto out;
		}
	}

	for (i = 0; i < nkeys; i++)
		memcpy((unsigned char *)out + keys[i].offset,
		    p.tmp + keys[i].offset, field_size(keys[i].type));
	free(p.tmp);
	p.tmp = NULL;	/* the strings belong to out now */
	rc = 0;
out:
	if (p.tmp != NULL)
		free_strings(keys, nkeys, p.tmp);
	free(p.tmp);
	free(p.set_line);
	return rc;
}

int
conf_load(const char *path, const struct conf_key *keys, size_t nkeys,
    void *out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = -1, rc;

	/* O_NONBLOCK: a FIFO without a writer must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "%s: cannot open: %s", path,
		    strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		rc = -EINVAL;
		errf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* Read one byte past the cap to tell a full file from a long one. */
	for (;;) {
		if (len == cap) {
			char *nbuf;

			if (cap > CONF_FILE_MAX) {
				rc = -EFBIG;
				errf(err, errlen, "%s: file too large (at "
				    "most %d bytes)", path, CONF_FILE_MAX);
				goto out;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > CONF_FILE_MAX + 1)
				cap = CONF_FILE_MAX + 1;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				rc = -ENOMEM;
				errf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			errf(err, errlen, "%s: cannot read: %s", path,
			    strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = conf_load_buf(path, buf, len, keys, nkeys, out, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void
conf_free(const struct conf_key *keys, size_t nkeys, void *out)
{
	if (out != NULL)
		free_strings(keys, nkeys, out);
}

int
conf_list_has(const char *list, const char *word, int nocase)
{
	static const char sep[] = " ,\t\r\n";
	size_t n = strlen(word);

	for (const char *p = list; p && *p; ) {
		size_t w;

		p += strspn(p, sep);
		w = strcspn(p, sep);
		if (w == n && w > 0 && (nocase ? strncasecmp(p, word, n) :
		    strncmp(p, word, n)) == 0)
			return 1;
		p += w;
	}
	return 0;
}
