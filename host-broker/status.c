/*
 * `host-broker status`: asks the running broker over its control socket
 * (control.c) and prints the answer as a table, as JSON or as Prometheus
 * metrics (metrics.c).  Plain blocking sockets: this is a short-lived
 * client, no loop needed.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "cli.h"
#include "jsonget.h"
#include "table.h"

#define PROG "host-broker status"
#define STATUS_TIMEOUT_SEC 5
#define STATUS_ANSWER_MAX (16u << 20)
#define SERVICE "printredir-broker"

/* The longest cell of the table and of a message from the broker. */
#define CELL_CAP_MAX 100

enum {
	EXIT_GARBLED = 1,	/* the answer is not a status document */
	EXIT_USAGE = 2,		/* bad option or configuration */
	EXIT_NO_BROKER = 3,	/* nobody answers on the control socket */
};

static void restart_text(json_object *row, const struct table_col *col,
    char *buf, size_t len);

static const struct table_col printer_cols[] = {
	{ "PRINTER", "name", 40, TABLE_TEXT, 0, NULL },
	{ "NETWORK", "network", 8, TABLE_TEXT, 0, NULL },
	{ "REDIRECTED", "redirected", 8, TABLE_TEXT, 0, NULL },
	{ "DRIVER", "driver", 12, TABLE_TEXT, 0, NULL },
	{ "MAKE AND MODEL", "make_model", 30, TABLE_TEXT, 0, NULL },
	{ "DETAIL", "detail", 100, TABLE_TEXT, 0, NULL },
};

static const struct table_col guest_cols[] = {
	{ "GUEST", "id", 32, TABLE_TEXT, 0, NULL },
	{ "CONNECTED", "connected", 8, TABLE_TEXT, 0, NULL },
	{ "LAST SEEN", "last_seen", 24, TABLE_TIME, 0, NULL },
	{ "GENERATION", "generation", 20, TABLE_TEXT, 0, NULL },
	{ "RESTART", "restart", 40, TABLE_TEXT, 0, restart_text },
	{ "DEFERRALS", "deferrals", 10, TABLE_TEXT, 0, NULL },
};

/* A guest's printers, one indented line each under the guest's row. */
static const struct table_col guest_printer_cols[] = {
	{ "", "name", 40, TABLE_TEXT, 0, NULL },
	{ "", "state", 24, TABLE_TEXT, 0, NULL },
	{ "", "detail", 100, TABLE_TEXT, 1, NULL },
};

/* Why a restart failed or what it waits for: a line under the guest. */
static const struct table_col restart_detail_col =
	{ "", "restart_detail", 100, TABLE_TEXT, 1, NULL };

/* Why the guest's last job did not print: a line under the guest. */
static const struct table_col job_error_col =
	{ "", "last_error", 100, TABLE_TEXT, 1, NULL };

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A queue's condition, a line under its row when it cannot print as it
 * should: "stopped, rejecting jobs, offline-report: MESSAGE".
 */
static void
render_condition(json_object *row, const char *indent, FILE *out)
{
	json_object *c = jget_obj(row, "condition"), *reasons;
	char text[1024] = "", cell[TABLE_CELL_BYTES];
	size_t n = 0;

	if (c == NULL)
		return;
	if (jget_str(c, "state") && strcmp(jget_str(c, "state"), "stopped") == 0)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "stopped");
	if (!jget_bool(c, "accepting", 1) && n < sizeof(text))
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%srejecting jobs",
		    n ? ", " : "");
	reasons = jget_arr(c, "reasons");
	for (size_t i = 0; reasons && i < json_object_array_length(reasons) &&
	    n < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", n ? ", " : "",
		    json_object_get_string(json_object_array_get_idx(reasons, i)));
	if (n == 0 || n >= sizeof(text))
		return;
	if (jget_str(c, "message") && *jget_str(c, "message"))
		snprintf(text + n, sizeof(text) - n, ": %s", jget_str(c, "message"));
	table_put(text, CELL_CAP_MAX, cell);
	fprintf(out, "%scondition: %s\n", indent, cell);
}

/* A guest's job counters, one line under its row once it printed. */
static void
render_jobs(json_object *g, FILE *out)
{
	json_object *j = jget_obj(g, "jobs");
	char detail[TABLE_CELL_BYTES];
	uint64_t acc = 0, bytes = 0, retried = 0, refused = 0;

	if (j == NULL)
		return;
	(void)jget_u64(j, "accepted", &acc);
	(void)jget_u64(j, "bytes", &bytes);
	(void)jget_u64(j, "retried", &retried);
	(void)jget_u64(j, "refused", &refused);
	if (acc + retried + refused > 0)
		fprintf(out, "  jobs: %llu printed (%llu bytes), %llu retried, "
		    "%llu refused\n", (unsigned long long)acc,
		    (unsigned long long)bytes, (unsigned long long)retried,
		    (unsigned long long)refused);
	table_cell(j, &job_error_col, detail);
	if (detail[0] != '\0')
		fprintf(out, "  last job error: %s\n", detail);
}

/*
 * The restart phase, and for a deferred or forced restart the time it is
 * due ("deferred until 2026-11-25 04:00").
 */
static void
restart_text(json_object *row, const struct table_col *col, char *buf,
    size_t len)
{
	char when[48];
	const char *phase = jget_str(row, col->key);
	int64_t until;

	if (phase == NULL || *phase == '\0')
		phase = "-";
	when[0] = '\0';
	if (jget_i64(row, "restart_until", &until) &&
	    (strcmp(phase, "deferred") == 0 || strcmp(phase, "forced") == 0))
		table_local_time(until, "%Y-%m-%d %H:%M", when, sizeof(when));
	snprintf(buf, len, "%.64s%s%s", phase, *when ? " until " : "", when);
}

/* doc[key] when it is an array with at least one element, else NULL. */
static json_object *
nonempty_array(json_object *doc, const char *key)
{
	json_object *a = jget_arr(doc, key);

	return a != NULL && json_object_array_length(a) > 0 ? a : NULL;
}

/* "N key, M key2" from an object of counts, in its order. */
static void
render_counts(json_object *counts, FILE *out)
{
	const char *sep = "";

	json_object_object_foreach(counts, key, val) {
		fprintf(out, "%s%lld %s", sep, (long long)json_object_get_int64(val), key);
		sep = ", ";
	}
	if (*sep == '\0')
		fputs("none", out);
	fputc('\n', out);
}

static void
render_printers(json_object *doc, FILE *out)
{
	json_object *arr = nonempty_array(doc, "printers"), *counts;
	struct table t;
	size_t len;

	if ((counts = jget_obj(doc, "printer_counts")) != NULL) {
		fputs("host printers: ", out);
		render_counts(counts, out);
		return;
	}
	if (arr == NULL) {
		fputs("The host has no printers.\n", out);
		return;
	}
	len = json_object_array_length(arr);
	table_init(&t, printer_cols, NCOLS(printer_cols));
	for (size_t r = 0; r < len; r++)
		table_fit(&t, json_object_array_get_idx(arr, r));
	table_print_head(&t, out);
	for (size_t r = 0; r < len; r++) {
		table_print_row(&t, out, "", json_object_array_get_idx(arr, r));
		render_condition(json_object_array_get_idx(arr, r), "  ", out);
	}
}

static void
render_guests(json_object *doc, FILE *out)
{
	json_object *arr = nonempty_array(doc, "guests"), *g, *ps;
	char detail[TABLE_CELL_BYTES];
	struct table t, pt;
	size_t len;

	if (arr == NULL) {
		fputs("No guests have connected yet.\n", out);
		return;
	}
	len = json_object_array_length(arr);
	table_init(&t, guest_cols, NCOLS(guest_cols));
	table_init(&pt, guest_printer_cols, NCOLS(guest_printer_cols));
	for (size_t r = 0; r < len; r++) {
		g = json_object_array_get_idx(arr, r);
		table_fit(&t, g);
		if ((ps = nonempty_array(g, "printers")) == NULL)
			continue;
		for (size_t k = 0; k < json_object_array_length(ps); k++)
			table_fit(&pt, json_object_array_get_idx(ps, k));
	}
	table_print_head(&t, out);
	for (size_t r = 0; r < len; r++) {
		g = json_object_array_get_idx(arr, r);
		table_print_row(&t, out, "", g);
		table_cell(g, &restart_detail_col, detail);
		if (detail[0] != '\0')
			fprintf(out, "  restart: %s\n", detail);
		if (jget_bool(g, "dry_run", 0))
			fputs("  dry run: the agent installs nothing "
			    "(guest-agent --dry-run)\n", out);
		render_jobs(g, out);
		if (jget_str(g, "default_printer") && *jget_str(g, "default_printer")) {
			char why[TABLE_CELL_BYTES];

			table_put(jget_str(g, "default_printer"), CELL_CAP_MAX, detail);
			table_put(jget_str(g, "default_detail"), CELL_CAP_MAX, why);
			fprintf(out, "  default printer: %s%s%s%s\n", detail,
			    why[0] ? " (" : "", why, why[0] ? ")" : "");
		}
		if ((ps = jget_obj(g, "printer_counts")) != NULL) {
			fputs("  printers: ", out);
			render_counts(ps, out);
		}
		if ((ps = nonempty_array(g, "printers")) == NULL)
			continue;
		for (size_t k = 0; k < json_object_array_length(ps); k++) {
			table_print_row(&pt, out, "  ",
			    json_object_array_get_idx(ps, k));
			render_condition(json_object_array_get_idx(ps, k), "    ", out);
		}
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
	static const struct table_col head[] = {
		{ "", "name", 64, TABLE_TEXT, 0, NULL },
		{ "", "version", 64, TABLE_TEXT, 0, NULL },
		{ "", "generation", 24, TABLE_TEXT, 0, NULL },
		{ "", "host_cups", 64, TABLE_TEXT, 0, NULL },
		{ "", "host_events", 16, TABLE_TEXT, 0, NULL },
		{ "", "error", CELL_CAP_MAX, TABLE_TEXT, 1, NULL },
	};
	char cells[NCOLS(head)][TABLE_CELL_BYTES];
	json_object *b = jget_obj(doc, "broker");

	if (b == NULL)
		return -EINVAL;
	for (size_t i = 0; i < NCOLS(head); i++)
		table_cell(b, &head[i], cells[i]);
	fprintf(out, "broker %s (printredir %s), generation %s, host CUPS %s "
	    "(changes %s)\n", cells[0], cells[1], cells[2], cells[3], cells[4]);
	if (cells[5][0] != '\0')
		fprintf(out, "error: %s\n", cells[5]);
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
	    "Usage: host-broker status [-c FILE] [--json | --prometheus] [--summary]\n"
	    "\n"
	    "Asks the running printredir broker which host printers it offers\n"
	    "to guests, and how far each guest got installing them.\n"
	    "\n"
	    "  -c, --config FILE  broker configuration; its 'control' key names\n"
	    "                     the broker's control socket (default\n"
	    "                     " BROKER_CONF_DEFAULT ")\n"
	    "      --json         print the full status document as JSON\n"
	    "      --prometheus   print it as Prometheus metrics (text format\n"
	    "                     0.0.4, families printredir_*), as the broker\n"
	    "                     writes them to [metrics] textfile for\n"
	    "                     node_exporter's textfile collector\n"
	    "      --summary      counts instead of every printer of the host and\n"
	    "                     of each guest (for many guests, and monitoring;\n"
	    "                     with --prometheus, no printredir_printer_driver_state)\n"
	    "  -V, --version      print the version\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "Exit status: 0 done, 1 the broker's answer is unusable, 2 usage or\n"
	    "configuration error, 3 no broker answers.\n");
}

/*
 * Parses argv (argv[0] is "status").  Returns -1 to go on, else the exit
 * code.
 */
static int
parse_args(int argc, char **argv, const char **conf_path, int *json,
    int *prometheus, int *summary)
{
	const struct cli_opt opts[] = {
		{ 'c', "config", CLI_STRING, conf_path },
		{ 0, "json", CLI_FLAG, json },
		{ 0, "prometheus", CLI_FLAG, prometheus },
		{ 0, "summary", CLI_FLAG, summary },
		{ 0 },
	};
	const struct cli cli = { PROG, usage, opts, 0, 0, NULL };
	int rc;

	if ((rc = cli_parse(&cli, argc, argv, NULL)) >= 0)
		return rc;
	if (**conf_path == '\0')
		return cli_error(&cli, "the configuration file name is empty");
	if (*json && *prometheus)
		return cli_error(&cli, "--json and --prometheus are two outputs: "
		    "choose one");
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
    const char *request, char **out, size_t *outlen)
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
	if ((rc = send_all(fd, request, strlen(request))) < 0) {
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
	struct json_object *doc;
	const char *e;
	char why[128];
	int rc = EXIT_GARBLED;

	if ((doc = jget_parse(buf, len, json_type_object, why, sizeof(why))) == NULL) {
		garbled(sock, conf_path, why);
		goto out;
	}
	if ((e = jget_str(doc, "error")) != NULL &&
	    jget_obj(doc, "broker") == NULL) {
		char msg[TABLE_CELL_BYTES];

		table_put(e, CELL_CAP_MAX, msg);
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
	int json = 0, prometheus = 0, summary = 0, loaded = 0, rc;

	memset(&conf, 0, sizeof(conf));
	rc = parse_args(argc, argv, &conf_path, &json, &prometheus, &summary);
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
	if ((rc = ask(&conf.control, sock, conf_path, summary ? "summary\n" :
	    "status\n", &answer, &len)) != 0)
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
	} else if (prometheus) {
		if (metrics_render(doc, stdout) == -EINVAL) {
			garbled(sock, conf_path, "no \"broker\" object in the answer");
			rc = EXIT_GARBLED;
			goto out;
		}
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
