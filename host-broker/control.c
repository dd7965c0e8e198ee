/*
 * The control socket: a local unix socket where `host-broker status` asks
 * for the status document.  The protocol is one request line and one JSON
 * line back, then the broker closes the connection:
 *
 *   -> status\n
 *   <- {"broker":{...},"printers":[...],"guests":[...],"jobs":[...]}\n
 *   -> summary\n
 *   <- {"broker":{...},"printer_counts":{...},"guests":[...],"jobs":[...]}\n
 *
 * Anything else gets {"error":"..."}.  A client that says too much, says
 * nothing for CONTROL_TIMEOUT_MS or misbehaves otherwise is dropped alone.
 *
 * Each answer's text is kept until the broker's state moves (status_rev),
 * so a monitor asking many times a second costs a write, not a document.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "broker.h"
#include "log.h"
#include "printredir.pb-c.h"
#include "version.h"

/* The longest request line, newline included. */
#define CONTROL_LINE_MAX 256
#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_BACKLOG 16
/* How much of a bad request is quoted back and logged. */
#define CONTROL_SAMPLE 64
/* A larger answer asks for a socket buffer that holds it, up to the
 * maximum (Linux doubles it): a client that does not read its answer
 * keeps that much of the kernel's memory once the broker has let go. */
#define ANSWER_SNDBUF_MIN (208 * 1024)	/* Linux's usual default */
#define ANSWER_SNDBUF_MAX (1 << 20)

/* An answer's text and newline, shared by the clients it is written to. */
struct answer {
	int refs;
	size_t len;
	char *text;
};

/*
 * The server's context, hung on the server handle's data: the broker, the
 * list of open clients, so that control_stop() can close them, and the
 * last status and summary answers with the status_rev they were made at.
 */
struct control {
	struct broker *b;
	struct client *clients;
	struct answer *cached[2];	/* [summary] */
	uint64_t cached_rev[2];
};

/* One connection.  Freed once both of its handles are closed. */
struct client {
	uv_stream_t *pipe;		/* from addr_accept(), freed when closed */
	uv_timer_t timer;
	uv_write_t wreq;
	struct control *ctl;		/* NULL once detached by control_stop() */
	struct client *next, **pprev;
	char line[CONTROL_LINE_MAX];
	size_t len;
	struct answer *out;		/* held until the write callback */
	int open_handles;
	int closing;
};

/* An answer of text (malloc()ed, len bytes, its newline included), which
 * it takes; NULL when out of memory, text then freed. */
static struct answer *
answer_take(char *text, size_t len)
{
	struct answer *a = malloc(sizeof(*a));

	if (a == NULL) {
		free(text);
		return NULL;
	}
	a->refs = 1;
	a->len = len;
	a->text = text;
	return a;
}

static struct answer *
answer_new(const char *text)
{
	size_t n = strlen(text);
	char *t = malloc(n + 1);

	if (t == NULL)
		return NULL;
	memcpy(t, text, n);
	t[n] = '\n';
	return answer_take(t, n + 1);
}

static void
answer_put(struct answer *a)
{
	if (a != NULL && --a->refs == 0) {
		free(a->text);
		free(a);
	}
}

static void
client_closed(uv_handle_t *h)
{
	struct client *c = h->data;

	if (h == (uv_handle_t *)c->pipe)
		free(h);
	if (--c->open_handles > 0)
		return;
	answer_put(c->out);
	free(c);
}

static void
client_detach(struct client *c)
{
	if (c->ctl == NULL)
		return;
	*c->pprev = c->next;
	if (c->next != NULL)
		c->next->pprev = c->pprev;
	c->ctl = NULL;
}

/* Idempotent; a pending write is cancelled and its callback runs first. */
static void
client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	client_detach(c);
	uv_close((uv_handle_t *)c->pipe, client_closed);
	uv_close((uv_handle_t *)&c->timer, client_closed);
}

static void
on_timeout(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->out != NULL)
		log_warnx("control: dropping a client that did not read its "
		    "answer within %d s", CONTROL_TIMEOUT_MS / 1000);
	else
		log_warnx("control: dropping a client that sent no request "
		    "within %d s", CONTROL_TIMEOUT_MS / 1000);
	client_close(c);
}

static void
on_written(uv_write_t *req, int status)
{
	struct client *c = req->data;

	if (status < 0 && status != UV_ECANCELED)
		log_debug("control: cannot answer a client: %s",
		    uv_strerror(status));
	client_close(c);
}

/* Sends a (one more reference taken), then closes. */
static void
client_send(struct client *c, struct answer *a)
{
	uv_buf_t buf;
	int rc;

	a->refs++;
	c->out = a;
	/* Room for the whole answer (as far as net.core.wmem_max allows): one
	 * write, not a write per socket buffer and a wait between.  A larger
	 * answer still goes a buffer at a time, under the timeout. */
	if (a->len > ANSWER_SNDBUF_MIN) {
		int size = a->len < ANSWER_SNDBUF_MAX ? (int)a->len : ANSWER_SNDBUF_MAX;

		(void)uv_send_buffer_size((uv_handle_t *)c->pipe, &size);
	}
	buf = uv_buf_init(a->text, (unsigned int)a->len);
	c->wreq.data = c;
	/* The same time again to read the answer: a client that does not
	 * read must not hold its buffer forever. */
	uv_timer_start(&c->timer, on_timeout, CONTROL_TIMEOUT_MS, 0);
	rc = uv_write(&c->wreq, c->pipe, &buf, 1, on_written);
	if (rc < 0) {
		log_debug("control: cannot answer a client: %s",
		    uv_strerror(rc));
		client_close(c);
	}
}

/* Sends text and a newline, then closes.  Takes ownership of nothing. */
static void
client_answer(struct client *c, const char *text)
{
	struct answer *a = answer_new(text);

	if (a == NULL) {
		log_warnx("control: out of memory for a %zu byte answer",
		    strlen(text) + 1);
		client_close(c);
		return;
	}
	client_send(c, a);
	answer_put(a);
}

static void
client_error(struct client *c, const char *msg)
{
	struct json_object *doc = NULL, *s;

	doc = json_object_new_object();
	s = json_object_new_string(msg);
	if (doc == NULL || s == NULL ||
	    json_object_object_add(doc, "error", s) < 0) {
		json_object_put(s);
		log_warnx("control: out of memory for an error answer");
		client_close(c);
		goto out;
	}
	client_answer(c, json_object_to_json_string_ext(doc,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(doc);
}

/* Quotes at most CONTROL_SAMPLE bytes of untrusted data, printable only. */
static char *
sample(const char *data, size_t len, char *out, size_t outlen)
{
	size_t n = len < CONTROL_SAMPLE ? len : CONTROL_SAMPLE;

	log_sample(data, n, out, outlen);
	if (n < len && strlen(out) + 4 <= outlen)
		strcat(out, "...");
	return out;
}

static struct answer *status_answer(struct broker *b, int summary);

static void
client_request(struct client *c, size_t linelen)
{
	char quoted[CONTROL_SAMPLE * 4 + 8], msg[sizeof(quoted) + 64];

	if (linelen > 0 && c->line[linelen - 1] == '\r')
		linelen--;
	if ((linelen == 6 && memcmp(c->line, "status", 6) == 0) ||
	    (linelen == 7 && memcmp(c->line, "summary", 7) == 0)) {
		struct control *ctl = c->ctl;
		struct broker *b = ctl->b;
		int summary = linelen == 7;

		guests_note_bytes(b);
		if (ctl->cached[summary] == NULL ||
		    ctl->cached_rev[summary] != b->status_rev) {
			answer_put(ctl->cached[summary]);
			ctl->cached[summary] = status_answer(b, summary);
			ctl->cached_rev[summary] = b->status_rev;
		}
		if (ctl->cached[summary] == NULL) {
			log_warnx("control: cannot build the status document "
			    "(out of memory)");
			client_error(c, "the broker cannot build its status "
			    "document (out of memory); see its log");
		} else
			client_send(c, ctl->cached[summary]);
		return;
	}
	sample(c->line, linelen, quoted, sizeof(quoted));
	log_warnx("control: unknown request \"%s\"", quoted);
	snprintf(msg, sizeof(msg), "unknown request \"%s\" (the requests "
	    "are \"status\" and \"summary\")", quoted);
	client_error(c, msg);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;

	(void)suggested;
	/* on_read() closes a client whose line is full, so room is left. */
	*buf = uv_buf_init(c->line + c->len,
	    (unsigned int)(sizeof(c->line) - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = s->data;
	char quoted[CONTROL_SAMPLE * 4 + 8];
	char *nl;

	(void)buf;
	if (c->closing)
		return;
	if (nread == UV_EOF && c->len > 0) {
		/* A request without its newline, e.g. printf status | nc -U. */
		uv_read_stop(s);
		client_request(c, c->len);
		return;
	}
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("control: client read: %s",
			    uv_strerror((int)nread));
		client_close(c);
		return;
	}
	if (nread == 0)
		return;
	nl = memchr(c->line + c->len, '\n', (size_t)nread);
	c->len += (size_t)nread;
	if (nl != NULL) {
		uv_read_stop(s);
		client_request(c, (size_t)(nl - c->line));
		return;
	}
	if (c->len == sizeof(c->line)) {
		log_warnx("control: dropping a client whose request is over "
		    "%d bytes: \"%s\"", CONTROL_LINE_MAX,
		    sample(c->line, c->len, quoted, sizeof(quoted)));
		client_close(c);
	}
}


static void
on_conn(uv_stream_t *server, int status)
{
	struct control *ctl = server->data;
	struct client *c;
	int rc;

	if (status < 0) {
		log_warnx("control: accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		log_warnx("control: out of memory for a client");
		return;
	}
	rc = addr_accept(server, &c->pipe, NULL);
	if (rc < 0) {
		log_warnx("control: cannot accept a client: %s",
		    uv_strerror(rc));
		free(c);
		return;
	}
	uv_timer_init(server->loop, &c->timer);	/* cannot fail */
	c->pipe->data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->ctl = ctl;
	c->next = ctl->clients;
	if (c->next != NULL)
		c->next->pprev = &c->next;
	c->pprev = &ctl->clients;
	ctl->clients = c;

	rc = uv_timer_start(&c->timer, on_timeout, CONTROL_TIMEOUT_MS, 0);
	if (rc == 0)
		rc = uv_read_start(c->pipe, on_alloc, on_read);
	if (rc < 0) {
		log_warnx("control: cannot serve a client: %s",
		    uv_strerror(rc));
		client_close(c);
	}
}

static void
server_closed(uv_handle_t *h)
{
	struct control *ctl = h->data;

	answer_put(ctl->cached[0]);
	answer_put(ctl->cached[1]);
	free(ctl);
	free(h);
}

int
control_start(struct broker *b)
{
	struct control *ctl = NULL;
	char text[ADDR_TEXT_MAX], err[256];
	int rc;

	if (b->conf.control.kind != ADDR_UNIX) {
		if (addr_format(&b->conf.control, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "(unset)");
		log_warnx("control = %s: the control socket must be a local "
		    "unix:PATH address (e.g. unix:/run/printredir/control.sock)"
		    "; fix 'control' in %s", text,
		    b->conf_path != NULL ? b->conf_path : "broker.conf");
		rc = -EINVAL;
		goto out;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL) {
		log_warnx("control: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	ctl->b = b;
	rc = addr_listen(b->loop, &b->conf.control, 0600, CONTROL_BACKLOG,
	    on_conn, ctl, &b->control_server, err, sizeof(err));
	if (rc < 0) {
		log_warnx("control socket: %s", err);
		goto out;
	}
	ctl = NULL;		/* freed with the server handle */
	log_debug("control: listening on unix:%s", b->conf.control.path);
out:
	free(ctl);
	return rc;
}

void
control_stop(struct broker *b)
{
	struct control *ctl;

	if (b->control_server == NULL)
		return;
	ctl = b->control_server->data;
	while (ctl->clients != NULL)
		client_close(ctl->clients);
	uv_close((uv_handle_t *)b->control_server, server_closed);
	b->control_server = NULL;
	addr_unlink(&b->conf.control);
}

/* Adds key: string, or key: null when s is NULL.  Returns 0 or -ENOMEM. */
static int
add_string(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = NULL;

	if (s != NULL && (v = json_object_new_string(s)) == NULL)
		return -ENOMEM;
	if (json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int
add_bool(struct json_object *o, const char *key, int v)
{
	struct json_object *j = json_object_new_boolean(v != 0);

	if (j == NULL || json_object_object_add(o, key, j) < 0) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Adds key: v (an integer unless real), or key: null when !known.  Returns
 * 0 or -ENOMEM.
 */
static int
add_number(struct json_object *o, const char *key, int known, double v,
    int real)
{
	struct json_object *j = NULL;
	char text[32];

	if (known && real) {
		/* Milliseconds are enough, and the JSON stays short. */
		snprintf(text, sizeof(text), "%.3f", v);
		j = json_object_new_double_s(v, text);
	} else if (known)
		j = json_object_new_int64((int64_t)v);
	if ((known && j == NULL) || json_object_object_add(o, key, j) < 0) {
		json_object_put(j);
		return -ENOMEM;
	}
	return 0;
}

const char *
control_driver_name(int state)
{
	switch (state) {
	case PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE:
		return "available";
	case PRINTREDIR__DRIVER_STATE__DRIVER_MISSING:
		return "missing";
	case PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED:
		return "rejected";
	default:
		/* Not looked up: a queue that is not redirected. */
		return NULL;
	}
}

/* A queue's defaults, "name=value" lines, as object key of o; none when
 * it has none. */
static int
add_defaults(struct json_object *o, const char *key, const char *lines)
{
	struct json_object *d;
	char *copy, *save = NULL;

	if (lines == NULL || *lines == '\0')
		return 0;	/* most queues: the document stays short */
	d = json_object_new_object();
	copy = strdup(lines);
	if (d == NULL || copy == NULL) {
		free(copy);
		json_object_put(d);
		return -1;
	}
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');

		if (eq != NULL) {
			*eq = '\0';
			json_object_object_add(d, l, json_object_new_string(eq + 1));
		}
	}
	free(copy);
	return json_object_object_add(o, key, d);
}

struct json_object *
control_condition_doc(int stopped, int rejecting, const char *reasons,
    const char *message)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char *copy = strdup(reasons ? reasons : ""), *save = NULL;

	if (o == NULL || arr == NULL || copy == NULL)
		goto fail;
	for (char *r = strtok_r(copy, " ", &save); r; r = strtok_r(NULL, " ", &save))
		if (json_object_array_add(arr, json_object_new_string(r)) < 0)
			goto fail;
	if (add_string(o, "state", stopped ? "stopped" : "idle") < 0 ||
	    add_bool(o, "accepting", !rejecting) < 0 ||
	    json_object_object_add(o, "reasons", arr) < 0)
		goto fail;
	arr = NULL;
	if (add_string(o, "message", message && *message ? message : NULL) < 0)
		goto fail;
	free(copy);
	return o;
fail:
	free(copy);
	json_object_put(arr);
	json_object_put(o);
	return NULL;
}

static struct json_object *
printer_doc(const struct printer *p)
{
	struct json_object *o;
	char hex[HASH_HEX_LEN] = "";
	int available = p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;

	o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (available)
		hash_hex(p->sha, hex);
	if (add_string(o, "name", p->name) < 0 ||
	    add_string(o, "device_uri", p->device_uri) < 0 ||
	    add_bool(o, "network", p->network) < 0 ||
	    add_bool(o, "redirected", p->redirected) < 0 ||
	    add_string(o, "driver", control_driver_name(p->driver)) < 0 ||
	    add_string(o, "driver_sha256", available ? hex : NULL) < 0 ||
	    add_string(o, "make_model", p->make_model) < 0 ||
	    add_string(o, "detail", p->detail) < 0 ||
	    add_bool(o, "default", p->is_default) < 0 ||
	    json_object_object_add(o, "condition", control_condition_doc(p->stopped,
	    p->rejecting, p->reasons, p->message)) < 0 ||
	    add_defaults(o, "defaults", p->defaults) < 0 ||
	    add_defaults(o, "ppd_defaults", p->ppd_defaults) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *
broker_doc(struct broker *b)
{
	struct json_object *o, *gen;
	char host[256];
	const char *name = b->conf.name;

	if (name == NULL || *name == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "unknown");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	o = json_object_new_object();
	if (o == NULL)
		return NULL;
	if (add_string(o, "version", PRINTREDIR_VERSION) < 0)
		goto fail;
	gen = json_object_new_uint64(b->generation);
	if (gen == NULL || json_object_object_add(o, "generation", gen) < 0) {
		json_object_put(gen);
		goto fail;
	}
	if (add_string(o, "name", name) < 0 ||
	    add_string(o, "host_cups", b->conf.cups != NULL &&
	    *b->conf.cups != '\0' ? b->conf.cups : "default") < 0 ||
	    add_string(o, "host_events", watch_events()) < 0 ||
	    add_string(o, "error", b->current.error) < 0)
		goto fail;
	/* The last new generation: when, and how long the change took from
	 * the watcher noticing it to the guests being sent it. */
	if (add_number(o, "last_change_at", b->changed_at != 0,
	    (double)b->changed_at, 0) < 0 ||
	    add_number(o, "last_change_latency", b->changed_at != 0 &&
	    b->change_latency >= 0, b->change_latency, 1) < 0)
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

/* How many host printers, redirected, and each driver state. */
static struct json_object *
printer_counts(const struct broker *b)
{
	struct json_object *o = json_object_new_object();
	int64_t n[4] = { 0 }, redirected = 0;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < b->current.n; i++) {
		const struct printer *p = &b->current.printers[i];

		redirected += p->redirected != 0;
		if (p->redirected && p->driver > 0 && p->driver < 4)
			n[p->driver]++;
	}
	json_object_object_add(o, "host", json_object_new_int64((int64_t)b->current.n));
	json_object_object_add(o, "redirected", json_object_new_int64(redirected));
	for (int d = 1; d < 4; d++)
		json_object_object_add(o, control_driver_name(d), json_object_new_int64(n[d]));
	return o;
}

/* The broker's part of a status document, and the host's printers listed
 * or, with summary, counted. */
static struct json_object *
host_doc(struct broker *b, int summary)
{
	struct json_object *doc = NULL, *o = NULL, *arr = NULL;

	doc = json_object_new_object();
	if (doc == NULL)
		goto fail;
	o = broker_doc(b);
	if (o == NULL || json_object_object_add(doc, "broker", o) < 0)
		goto fail;
	o = NULL;
	if (summary) {
		o = printer_counts(b);
		if (o == NULL || json_object_object_add(doc, "printer_counts", o) < 0)
			goto fail;
		o = NULL;
	} else {
		arr = json_object_new_array();
		if (arr == NULL)
			goto fail;
		for (size_t i = 0; i < b->current.n; i++) {
			o = printer_doc(&b->current.printers[i]);
			if (o == NULL || json_object_array_add(arr, o) < 0)
				goto fail;
			o = NULL;
		}
		if (json_object_object_add(doc, "printers", arr) < 0)
			goto fail;
		arr = NULL;
	}
	return doc;
fail:
	json_object_put(o);
	json_object_put(arr);
	json_object_put(doc);
	return NULL;
}

struct json_object *
control_metrics_doc(struct broker *b)
{
	struct json_object *doc = host_doc(b, 0);

	if (doc != NULL) {
		guests_status(b, doc, 1);
		jobs_status(b, doc);
	}
	return doc;
}

/*
 * The answer to a status or summary request: the document's text, written
 * a part at a time (guests_status_write), so that the broker never holds the
 * whole document as json-c objects, only as text.
 */
static struct answer *
status_answer(struct broker *b, int summary)
{
	struct json_object *head = host_doc(b, summary), *tail = json_object_new_object();
	const char *h, *t;
	struct answer *a = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;

	if (head == NULL || tail == NULL || (f = open_memstream(&text, &len)) == NULL)
		goto out;
	jobs_status(b, tail);
	/* {"broker":...,"printers":[...]  ,"guests":[...],  "jobs":[...]} */
	h = json_object_to_json_string_ext(head, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	t = json_object_to_json_string_ext(tail, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (h == NULL || t == NULL)
		goto out;
	fprintf(f, "%.*s,\"guests\":", (int)strlen(h) - 1, h);
	if (guests_status_write(b, f, summary) != 0)
		goto out;
	fprintf(f, ",%s\n", t + 1);
	if (fclose(f) == 0)
		a = answer_take(text, len);
	else
		free(text);
	f = NULL;
	text = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	json_object_put(head);
	json_object_put(tail);
	return a;
}
