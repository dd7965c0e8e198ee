/*
 * `host-broker status`: asks the running broker over its control socket
 * (control.c) and prints the answer as a table or as JSON.  Plain blocking
 * sockets: this is a short-lived client, no loop needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "broker.h"

#define PROG "host-broker status"
#define STATUS_TIMEOUT_SEC 5
#define STATUS_ANSWER_MAX (16u << 20)
#define SERVICE "printredir-broker"

enum {
	EXIT_GARBLED = 1,	/* the answer is not a status document */
	EXIT_USAGE = 2,		/* bad option or configuration */
	EXIT_NO_BROKER = 3,	/* nobody answers on the control socket */
};

/* Characters between table columns. */
#define GAP 2
/* The longest cell in characters, "..." included; at least 4. */
#define CELL_CAP_MAX 100
/* A cell's bytes: a character is at most 4 bytes of UTF-8. */
#define CELL_BYTES (4 * CELL_CAP_MAX + 1)
#define MAX_COLS 6

enum cell_kind {
	CELL_TEXT,
	CELL_TIME,		/* unix seconds, shown in local time */
	CELL_RESTART,		/* a guest's restart phase, with its deadline */
};

struct column {
	const char *head;
	const char *key;
	size_t cap;		/* characters, "..." included */
	enum cell_kind kind;
	int omit_missing;	/* print nothing instead of "-" */
};

static const struct column printer_cols[] = {
	{ "PRINTER", "name", 40, CELL_TEXT, 0 },
	{ "NETWORK", "network", 8, CELL_TEXT, 0 },
	{ "REDIRECTED", "redirected", 8, CELL_TEXT, 0 },
	{ "DRIVER", "driver", 12, CELL_TEXT, 0 },
	{ "MAKE AND MODEL", "make_model", 30, CELL_TEXT, 0 },
	{ "DETAIL", "detail", 100, CELL_TEXT, 0 },
};

static const struct column guest_cols[] = {
	{ "GUEST", "id", 32, CELL_TEXT, 0 },
	{ "CONNECTED", "connected", 8, CELL_TEXT, 0 },
	{ "LAST SEEN", "last_seen", 24, CELL_TIME, 0 },
	{ "GENERATION", "generation", 20, CELL_TEXT, 0 },
	{ "RESTART", "restart", 40, CELL_RESTART, 0 },
	{ "DEFERRALS", "deferrals", 10, CELL_TEXT, 0 },
};

/* A guest's printers, one indented line each under the guest's row. */
static const struct column guest_printer_cols[] = {
	{ "", "name", 40, CELL_TEXT, 0 },
	{ "", "state", 24, CELL_TEXT, 0 },
	{ "", "detail", 100, CELL_TEXT, 1 },
};

/* Why a restart failed or what it waits for: a line under the guest. */
static const struct column restart_detail_col =
	{ "", "restart_detail", 100, CELL_TEXT, 1 };

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Decodes one UTF-8 character at s (n bytes left, n > 0) into *cp and
 * returns its length, or 0 when the bytes there are not valid UTF-8.
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
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
	*cp = c;
	return len;
}

/*
 * Copies text (len bytes, untrusted) into buf (CELL_BYTES) as at most cap
 * characters, the last three "..." when it is cut.  Control characters
 * (C0, DEL, C1: terminal escapes) and bytes that are not UTF-8 become '?'.
 * Returns the width in characters.
 */
static size_t
cell_put(const char *text, size_t len, size_t cap, char *buf)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t total = 0, keep, o = 0, w = 0, i, n;
	uint32_t cp;

	if (cap > CELL_CAP_MAX)
		cap = CELL_CAP_MAX;
	for (i = 0; i < len; i += n, total++)
		if ((n = utf8_next(s + i, len - i, &cp)) == 0)
			n = 1;
	keep = total > cap ? cap - 3 : total;
	for (i = 0; w < keep; i += n, w++) {
		n = utf8_next(s + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			buf[o++] = '?';
			n = n == 0 ? 1 : n;
		} else {
			memcpy(buf + o, s + i, n);
			o += n;
		}
	}
	if (keep < total) {
		memcpy(buf + o, "...", 3);
		o += 3;
		w += 3;
	}
	buf[o] = '\0';
	return w;
}

/* Local time of unix seconds n into buf; "" for 0 or less. */
static void
local_time(int64_t n, const char *fmt, char *buf, size_t len)
{
	time_t t = (time_t)n;
	struct tm tm;

	buf[0] = '\0';
	if (n <= 0)
		return;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, fmt, &tm) == 0)
		snprintf(buf, len, "%" PRId64, n);
}

/*
 * The restart phase, and for a deferred or forced restart the time it is
 * due ("deferred until 2026-11-25 04:00").
 */
static size_t
restart_text(struct json_object *row, const struct column *col, char *buf)
{
	struct json_object *v = NULL, *u = NULL;
	char when[48], tmp[128];
	const char *phase;

	json_object_object_get_ex(row, col->key, &v);
	json_object_object_get_ex(row, "restart_until", &u);
	phase = json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : "";
	if (*phase == '\0')
		phase = "-";
	when[0] = '\0';
	if (json_object_is_type(u, json_type_int) &&
	    (strcmp(phase, "deferred") == 0 || strcmp(phase, "forced") == 0))
		local_time(json_object_get_int64(u), "%Y-%m-%d %H:%M", when,
		    sizeof(when));
	snprintf(tmp, sizeof(tmp), "%.64s%s%s", phase, *when ? " until " : "",
	    when);
	return cell_put(tmp, strlen(tmp), col->cap, buf);
}

/* Renders row[col->key] into buf (CELL_BYTES); returns its width. */
static size_t
cell_text(struct json_object *row, const struct column *col, char *buf)
{
	struct json_object *v = NULL;
	char tmp[64];
	const char *s = NULL;
	size_t len = 0;
	int64_t n;

	if (col->kind == CELL_RESTART)
		return restart_text(row, col, buf);
	json_object_object_get_ex(row, col->key, &v);
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		s = json_object_get_boolean(v) ? "yes" : "no";
		len = strlen(s);
		break;
	case json_type_int:
		n = json_object_get_int64(v);
		if (col->kind == CELL_TIME)
			local_time(n, "%Y-%m-%d %H:%M:%S", tmp, sizeof(tmp));
		else
			snprintf(tmp, sizeof(tmp), "%" PRId64, n);
		s = tmp;
		len = strlen(s);
		break;
	case json_type_double:
		snprintf(tmp, sizeof(tmp), "%g", json_object_get_double(v));
		s = tmp;
		len = strlen(s);
		break;
	case json_type_string:
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		break;
	default:
		/* null, missing, or an object or array where none belongs */
		break;
	}
	if (s == NULL || len == 0) {
		s = col->omit_missing ? "" : "-";
		len = strlen(s);
	}
	return cell_put(s, len, col->cap, buf);
}

static size_t
text_width(const char *s)
{
	char buf[CELL_BYTES];

	return cell_put(s, strlen(s), CELL_CAP_MAX, buf);
}

/* Widens widths[] to fit row's cells. */
static void
fit_row(struct json_object *row, const struct column *cols, size_t n,
    size_t *widths)
{
	char buf[CELL_BYTES];
	size_t w;

	for (size_t i = 0; i < n; i++) {
		w = cell_text(row, &cols[i], buf);
		if (w > widths[i])
			widths[i] = w;
	}
}

/*
 * Prints one line: each cell padded to its column's width, no padding
 * after the last non-empty cell, so that lines carry no trailing blanks.
 */
static void
print_cells(FILE *out, const char *indent, char cells[][CELL_BYTES],
    const size_t *cw, const size_t *widths, size_t n)
{
	size_t last = n;

	while (last > 0 && cells[last - 1][0] == '\0')
		last--;
	fputs(indent, out);
	for (size_t i = 0; i < last; i++) {
		fputs(cells[i], out);
		if (i + 1 < last)
			fprintf(out, "%*s", (int)(widths[i] - cw[i] + GAP), "");
	}
	fputc('\n', out);
}

static void
print_head(FILE *out, const struct column *cols, size_t n,
    const size_t *widths)
{
	char cells[MAX_COLS][CELL_BYTES];
	size_t cw[MAX_COLS];

	for (size_t i = 0; i < n; i++)
		cw[i] = cell_put(cols[i].head, strlen(cols[i].head),
		    CELL_CAP_MAX, cells[i]);
	print_cells(out, "", cells, cw, widths, n);
}

static void
print_row(FILE *out, const char *indent, struct json_object *row,
    const struct column *cols, size_t n, const size_t *widths)
{
	char cells[MAX_COLS][CELL_BYTES];
	size_t cw[MAX_COLS];

	for (size_t i = 0; i < n; i++)
		cw[i] = cell_text(row, &cols[i], cells[i]);
	print_cells(out, indent, cells, cw, widths, n);
}

/* doc[key] when it is an array with at least one element, else NULL. */
static struct json_object *
nonempty_array(struct json_object *doc, const char *key)
{
	struct json_object *a = NULL;

	if (!json_object_object_get_ex(doc, key, &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) == 0)
		return NULL;
	return a;
}

static void
render_printers(struct json_object *doc, FILE *out)
{
	const size_t n = NCOLS(printer_cols);
	struct json_object *arr = nonempty_array(doc, "printers");
	size_t widths[MAX_COLS], len;

	if (arr == NULL) {
		fputs("The host has no printers.\n", out);
		return;
	}
	len = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++)
		widths[i] = text_width(printer_cols[i].head);
	for (size_t r = 0; r < len; r++)
		fit_row(json_object_array_get_idx(arr, r), printer_cols, n,
		    widths);
	print_head(out, printer_cols, n, widths);
	for (size_t r = 0; r < len; r++)
		print_row(out, "", json_object_array_get_idx(arr, r),
		    printer_cols, n, widths);
}

static void
render_guests(struct json_object *doc, FILE *out)
{
	const size_t n = NCOLS(guest_cols), np = NCOLS(guest_printer_cols);
	struct json_object *arr = nonempty_array(doc, "guests"), *g, *ps;
	size_t widths[MAX_COLS], pwidths[MAX_COLS] = { 0 }, len;
	char detail[CELL_BYTES];

	if (arr == NULL) {
		fputs("No guests have connected yet.\n", out);
		return;
	}
	len = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++)
		widths[i] = text_width(guest_cols[i].head);
	for (size_t r = 0; r < len; r++) {
		g = json_object_array_get_idx(arr, r);
		fit_row(g, guest_cols, n, widths);
		if ((ps = nonempty_array(g, "printers")) == NULL)
			continue;
		for (size_t k = 0; k < json_object_array_length(ps); k++)
			fit_row(json_object_array_get_idx(ps, k),
			    guest_printer_cols, np, pwidths);
	}
	print_head(out, guest_cols, n, widths);
	for (size_t r = 0; r < len; r++) {
		g = json_object_array_get_idx(arr, r);
		print_row(out, "", g, guest_cols, n, widths);
		cell_text(g, &restart_detail_col, detail);
		if (detail[0] != '\0')
			fprintf(out, "  restart: %s\n", detail);
		if ((ps = nonempty_array(g, "printers")) == NULL)
			continue;
		for (size_t k = 0; k < json_object_array_length(ps); k++)
			print_row(out, "  ", json_object_array_get_idx(ps, k),
			    guest_printer_cols, np, pwidths);
	}
}

/*
 * Writes the status document doc (not NULL; not taken) as the table
 * `host-broker status` prints.  Missing or null fields show as "-".
 * Returns 0, -EINVAL when doc has no "broker" object, -EIO when out fails.
 */
int status_render_table(struct json_object *doc, FILE *out);

int
status_render_table(struct json_object *doc, FILE *out)
{
	static const struct column head[] = {
		{ "", "name", 64, CELL_TEXT, 0 },
		{ "", "version", 64, CELL_TEXT, 0 },
		{ "", "generation", 24, CELL_TEXT, 0 },
		{ "", "host_cups", 64, CELL_TEXT, 0 },
		{ "", "error", CELL_CAP_MAX, CELL_TEXT, 1 },
	};
	char cells[NCOLS(head)][CELL_BYTES];
	struct json_object *b = NULL;

	if (!json_object_object_get_ex(doc, "broker", &b) ||
	    !json_object_is_type(b, json_type_object))
		return -EINVAL;
	for (size_t i = 0; i < NCOLS(head); i++)
		cell_text(b, &head[i], cells[i]);
	fprintf(out, "broker %s (printredir %s), generation %s, host CUPS %s\n",
	    cells[0], cells[1], cells[2], cells[3]);
	if (cells[4][0] != '\0')
		fprintf(out, "error: %s\n", cells[4]);
	fputc('\n', out);
	render_printers(doc, out);
	fputc('\n', out);
	render_guests(doc, out);
	return ferror(out) ? -EIO : 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: host-broker status [-c FILE] [--json]\n"
	    "\n"
	    "Asks the running printredir broker which host printers it offers\n"
	    "to guests, and how far each guest got installing them.\n"
	    "\n"
	    "  -c, --config FILE  broker configuration; its 'control' key names\n"
	    "                     the broker's control socket (default\n"
	    "                     " BROKER_CONF_DEFAULT ")\n"
	    "      --json         print the full status document as JSON\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "Exit status: 0 done, 1 the broker's answer is unusable, 2 usage or\n"
	    "configuration error, 3 no broker answers.\n");
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
	va_end(ap);
	return EXIT_USAGE;
}

/*
 * Parses argv (argv[0] is "status").  Returns -1 to go on, else the exit
 * code.  getopt is not used: main.c may already have run it on the same
 * argv, and its state is global.
 */
static int
parse_args(int argc, char **argv, const char **conf_path, int *json)
{
	const char *a;
	int i;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		}
		if (strcmp(a, "--json") == 0)
			*json = 1;
		else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 == argc)
				return usage_error("option '%s' needs a file "
				    "name", a);
			*conf_path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0)
			*conf_path = a + 9;
		else if (strncmp(a, "-c", 2) == 0)
			*conf_path = a + 2;
		else if (a[0] == '-')
			return usage_error("unknown option '%s'", a);
		else
			break;
	}
	if (i < argc)
		return usage_error("unexpected argument '%s'", argv[i]);
	if (**conf_path == '\0')
		return usage_error("the configuration file name is empty");
	return -1;
}

/* Sends all of buf; returns 0 or a negative errno. */
static int
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
no_broker(const char *sock, const char *conf_path, const char *why)
{
	fprintf(stderr, PROG ": no broker answers on %s: %s (is host-broker "
	    "running? start it with 'systemctl start " SERVICE "' or check "
	    "'control' in %s)\n", sock, why, conf_path);
}

/*
 * Asks the broker at a (a unix address) for its status.  On success *out
 * is the NUL-terminated answer (malloc'd, the caller frees it) and its
 * length is *outlen.  Returns 0 or the exit code, having said why.
 */
static int
ask(const struct addr *a, const char *sock, const char *conf_path,
    char **out, size_t *outlen)
{
	struct timeval tv = { .tv_sec = STATUS_TIMEOUT_SEC };
	struct sockaddr_un sun;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = -1, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot make a socket: %s (the system "
		    "is short of resources; try again)\n", strerror(errno));
		rc = EXIT_NO_BROKER;
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, PROG ": cannot set a socket timeout: %s\n",
		    strerror(errno));
		rc = EXIT_NO_BROKER;
		goto out;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, sizeof(sun.sun_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = EXIT_NO_BROKER;
		if (errno == EACCES || errno == EPERM)
			fprintf(stderr, PROG ": cannot connect to %s: %s (the "
			    "control socket is for root only: run 'sudo "
			    PROG "')\n", sock, strerror(errno));
		else if (errno == EAGAIN || errno == EINPROGRESS)
			no_broker(sock, conf_path, "the broker is too busy "
			    "to accept, or stuck");
		else
			no_broker(sock, conf_path, strerror(errno));
		goto out;
	}
	if ((rc = send_all(fd, "status\n", 7)) < 0) {
		if (rc == -EAGAIN)
			no_broker(sock, conf_path, "it accepted the "
			    "connection but does not read (timed out)");
		else
			fprintf(stderr, PROG ": the broker on %s hung up while "
			    "being asked: %s (try again; if it persists, see "
			    "'journalctl -u " SERVICE "')\n", sock,
			    strerror(-rc));
		rc = rc == -EAGAIN ? EXIT_NO_BROKER : EXIT_GARBLED;
		goto out;
	}
	for (;;) {
		if (len == STATUS_ANSWER_MAX) {
			fprintf(stderr, PROG ": the answer of the broker on %s "
			    "is %u MiB or more; is 'control' in %s really the "
			    "socket of a printredir broker?\n", sock,
			    STATUS_ANSWER_MAX >> 20, conf_path);
			rc = EXIT_GARBLED;
			goto out;
		}
		if (cap - len < 4096 + 1 && cap < STATUS_ANSWER_MAX + 1) {
			cap = cap == 0 ? 65536 : cap * 2;
			if (cap > STATUS_ANSWER_MAX + 1)
				cap = STATUS_ANSWER_MAX + 1;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, PROG ": out of memory\n");
				rc = EXIT_GARBLED;
				goto out;
			}
			buf = nbuf;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, PROG ": the broker on %s did not "
			    "answer within %d s (it may be stuck: see "
			    "'journalctl -u " SERVICE "', or restart it with "
			    "'systemctl restart " SERVICE "')\n", sock,
			    STATUS_TIMEOUT_SEC);
			rc = EXIT_NO_BROKER;
			goto out;
		}
		if (n < 0) {
			fprintf(stderr, PROG ": reading the answer of the "
			    "broker on %s: %s (try again; if it persists, see "
			    "'journalctl -u " SERVICE "')\n", sock,
			    strerror(errno));
			rc = EXIT_GARBLED;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		fprintf(stderr, PROG ": the broker on %s closed the connection "
		    "without answering (see 'journalctl -u " SERVICE "')\n",
		    sock);
		rc = EXIT_GARBLED;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void
garbled(const char *sock, const char *conf_path, const char *why)
{
	fprintf(stderr, PROG ": unusable answer from %s: %s (check that "
	    "'control' in %s names the socket of a printredir broker, and that "
	    "host-broker and this command come from the same package)\n",
	    sock, why, conf_path);
}

/* Parses exactly one JSON object, blanks around it allowed. */
static int
parse_answer(const char *buf, size_t len, struct json_object **docp,
    const char *sock, const char *conf_path)
{
	struct json_tokener *tok = NULL;
	struct json_object *doc = NULL, *e = NULL;
	enum json_tokener_error jerr;
	char why[160];
	size_t end;
	int rc = EXIT_GARBLED;

	tok = json_tokener_new();
	if (tok == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	doc = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (doc == NULL || jerr != json_tokener_success) {
		snprintf(why, sizeof(why), "not JSON (%s at byte %zu)",
		    jerr == json_tokener_continue ? "cut short" :
		    json_tokener_error_desc(jerr), json_tokener_get_parse_end(tok));
		garbled(sock, conf_path, why);
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (strchr(" \t\r\n", buf[end]) == NULL || buf[end] == '\0') {
			snprintf(why, sizeof(why), "extra bytes after the JSON "
			    "document at byte %zu", end);
			garbled(sock, conf_path, why);
			goto out;
		}
	if (!json_object_is_type(doc, json_type_object)) {
		garbled(sock, conf_path, "the JSON is not an object");
		goto out;
	}
	if (json_object_object_get_ex(doc, "error", &e) &&
	    !json_object_object_get_ex(doc, "broker", NULL)) {
		char msg[CELL_BYTES];
		const char *s = json_object_get_string(e);

		cell_put(s != NULL ? s : "?", s != NULL ? strlen(s) : 1,
		    CELL_CAP_MAX, msg);
		fprintf(stderr, PROG ": the broker on %s refused the request: "
		    "%s (are host-broker and this command from the same "
		    "package?)\n", sock, msg);
		goto out;
	}
	*docp = doc;
	doc = NULL;
	rc = 0;
out:
	json_object_put(doc);
	if (tok != NULL)
		json_tokener_free(tok);
	return rc;
}

int
status_main(int argc, char **argv)
{
	struct broker_conf conf;
	struct json_object *doc = NULL;
	const char *conf_path = BROKER_CONF_DEFAULT, *text;
	char err[512], sock[ADDR_TEXT_MAX], *answer = NULL;
	size_t len = 0;
	int json = 0, loaded = 0, rc;

	memset(&conf, 0, sizeof(conf));
	rc = parse_args(argc, argv, &conf_path, &json);
	if (rc >= 0)
		goto out;
	err[0] = '\0';
	if (broker_load_conf(conf_path, &conf, err, sizeof(err)) < 0) {
		fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more "
		    "information.\n", err[0] != '\0' ? err :
		    "cannot load the configuration");
		rc = EXIT_USAGE;
		goto out;
	}
	loaded = 1;
	if (conf.control.kind != ADDR_UNIX ||
	    addr_format(&conf.control, sock, sizeof(sock)) < 0) {
		fprintf(stderr, PROG ": 'control' in %s must be a unix:PATH "
		    "address (e.g. unix:/run/printredir/control.sock); fix it "
		    "or name another file with -c\n", conf_path);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = ask(&conf.control, sock, conf_path, &answer, &len)) != 0)
		goto out;
	if ((rc = parse_answer(answer, len, &doc, sock, conf_path)) != 0)
		goto out;
	if (json) {
		text = json_object_to_json_string_ext(doc,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (text == NULL) {
			fprintf(stderr, PROG ": out of memory\n");
			rc = EXIT_GARBLED;
			goto out;
		}
		fputs(text, stdout);
		fputc('\n', stdout);
	} else if (status_render_table(doc, stdout) == -EINVAL) {
		garbled(sock, conf_path, "no \"broker\" object in the answer");
		rc = EXIT_GARBLED;
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the output: %s\n",
		    strerror(errno));
		rc = EXIT_GARBLED;
		goto out;
	}
	rc = 0;
out:
	json_object_put(doc);
	free(answer);
	if (loaded)
		broker_free_conf(&conf);
	return rc;
}
