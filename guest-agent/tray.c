/*
 * The tray socket: per-session tray helpers (guest-tray) connect here, are
 * asked when a restart needs the user, and answer "now" or "later".  A leaf:
 * it knows no other module and calls up through struct tray_ops.
 *
 * One JSON object per line, at most LINE_MAX_TRAY bytes:
 *   tray  -> agent  {"type":"hello","notifications":true}
 *   agent -> tray   {"type":"prompt","id":7,"printers":"...","apps":["..."]}
 *   tray  -> agent  {"type":"answer","id":7,"choice":"now"|"later"}
 *   agent -> tray   {"type":"countdown","seconds":300,"printers":"..."}
 * A tray is accepted only from a local user (SO_PEERCRED): root or a uid of
 * at least apps_uid_min.  A tray that says it cannot show notifications does
 * not count as one that can ask.  A line that does not decode (not JSON, an
 * unknown type, a member missing, null or of the wrong type) is logged and
 * ignored; a line too long closes that tray.  Nothing a tray sends can stop
 * the agent: desk users are not trusted with printer redirection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <json.h>

#include "addr_uv.h"
#include "agent.h"
#include "jsonget.h"
#include "log.h"

#define LINE_MAX_TRAY 4096
#define TRAY_BACKLOG 16

#define TRAY_STR_(x) #x
#define TRAY_STR(x) TRAY_STR_(x)

struct tray {
	struct tray *next;
	struct trays *owner;
	uv_stream_t *stream;
	uid_t uid;
	int can_notify;
	uint64_t asked;			/* the prompt it was sent last, 0 none */
	char buf[LINE_MAX_TRAY];
	size_t len;
};

struct trays {
	uv_loop_t *loop;
	struct addr sock;
	long long uid_min;
	const struct tray_ops *ops;
	void *data;
	uv_stream_t *server;
	struct tray *list;
	int stopping;
	int last_count;		/* what on_count said last */
	uint64_t last_refusal_said;	/* uv_now() of the last "refusing" */
};

/*
 * A desk user may open the tray socket: connections are capped per user and
 * in all, so that no user can take the agent's file descriptors (which it
 * needs for CUPS, its state and the broker).  A session has one tray.
 */
#define TRAYS_PER_UID 4
#define TRAYS_MAX 64

/* Why t (just accepted, already in the list) is one too many, or NULL. */
static const char *
over_cap(const struct trays *ts, const struct tray *t)
{
	int all = 0, mine = 0;

	for (const struct tray *o = ts->list; o; o = o->next) {
		if (uv_is_closing((uv_handle_t *)o->stream))
			continue;
		all++;
		mine += o->uid == t->uid;
	}
	if (mine > TRAYS_PER_UID)
		return "this user has " TRAY_STR(TRAYS_PER_UID) " trays connected already";
	if (all > TRAYS_MAX)
		return TRAY_STR(TRAYS_MAX) " trays are connected already";
	return NULL;
}

/* 1 when t said it can show notifications and is not leaving. */
static int
can_ask(const struct tray *t)
{
	return t->can_notify && !uv_is_closing((uv_handle_t *)t->stream);
}

int
tray_count(const struct trays *ts)
{
	int n = 0;

	for (const struct tray *t = ts ? ts->list : NULL; t; t = t->next)
		n += can_ask(t);
	return n;
}

/* Tells the hub when the number of trays that can ask changes. */
static void
count_changed(struct trays *ts)
{
	int n = tray_count(ts);

	if (ts->stopping || n == ts->last_count)
		return;
	ts->last_count = n;
	ts->ops->on_count(ts->data, n);
}

static void
on_closed(uv_handle_t *h)
{
	struct tray *t = h->data;
	struct trays *ts = t->owner;

	for (struct tray **pp = &ts->list; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t->stream);
	free(t);
	if (ts->stopping && ts->list == NULL && ts->server == NULL)
		free(ts);
}

static void
tray_close(struct tray *t, const char *why)
{
	if (uv_is_closing((uv_handle_t *)t->stream))
		return;
	log_info("tray of uid %u left: %s", (unsigned)t->uid, why);
	uv_close((uv_handle_t *)t->stream, on_closed);
	count_changed(t->owner);
}

struct wreq {
	uv_write_t req;
	char *text;
};

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status;
	free(w->text);
	free(w);
}

static void
send_json(struct tray *t, json_object *o)
{
	struct wreq *w = calloc(1, sizeof(*w));
	uv_buf_t b;

	if (w == NULL || asprintf(&w->text, "%s\n", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0) {
		free(w);
		return;
	}
	b = uv_buf_init(w->text, (unsigned)strlen(w->text));
	if (uv_write(&w->req, t->stream, &b, 1, on_write) != 0) {
		free(w->text);
		free(w);
	}
}

int
tray_parse_line(const char *line, size_t len, struct tray_msg *msg, char *err,
    size_t errlen)
{
	json_object *o;
	const char *type, *choice, *why = NULL;
	int64_t id;

	memset(msg, 0, sizeof(*msg));
	if (len > LINE_MAX_TRAY) {
		snprintf(err, errlen, "a line over %d bytes", LINE_MAX_TRAY);
		return -EBADMSG;
	}
	if ((o = jget_parse(line, len, json_type_object, err, errlen)) == NULL)
		return -EBADMSG;
	if ((type = jget_str(o, "type")) == NULL) {
		why = "no \"type\" string";
	} else if (strcmp(type, "hello") == 0) {
		msg->type = TRAY_MSG_HELLO;
		msg->notifications = jget_bool(o, "notifications", 0);
	} else if (strcmp(type, "answer") == 0) {
		choice = jget_str(o, "choice");
		if (!jget_i64(o, "id", &id) || id < 0)
			why = "an answer without a valid \"id\"";
		else if (choice == NULL || (strcmp(choice, "now") && strcmp(choice, "later")))
			why = "an answer whose \"choice\" is not \"now\" or \"later\"";
		else {
			msg->type = TRAY_MSG_ANSWER;
			msg->id = (uint64_t)id;
			msg->now = strcmp(choice, "now") == 0;
		}
	} else {
		why = "an unknown \"type\"";
	}
	json_object_put(o);
	if (why) {
		snprintf(err, errlen, "%s", why);
		return -EBADMSG;
	}
	return 0;
}

static void
handle_line(struct tray *t, const char *line, size_t len)
{
	struct trays *ts = t->owner;
	struct tray_msg m;
	char err[128];

	if (tray_parse_line(line, len, &m, err, sizeof(err)) != 0) {
		log_warnx("tray of uid %u: line refused (%s)", (unsigned)t->uid, err);
		return;
	}
	switch (m.type) {
	case TRAY_MSG_HELLO:
		t->can_notify = m.notifications;
		if (!t->can_notify)
			log_warnx("tray of uid %u has no notification server: its "
			    "session cannot be asked", (unsigned)t->uid);
		else
			log_info("tray of uid %u can ask the user", (unsigned)t->uid);
		count_changed(ts);
		break;
	case TRAY_MSG_ANSWER:
		if (!t->can_notify) {
			log_warnx("tray of uid %u answered without a hello; ignored",
			    (unsigned)t->uid);
			break;
		}
		if (m.id == 0 || m.id != t->asked) {
			log_warnx("tray of uid %u answered prompt %llu, which it "
			    "was not asked; ignored", (unsigned)t->uid,
			    (unsigned long long)m.id);
			break;
		}
		log_info("tray of uid %u answered \"%s\"", (unsigned)t->uid,
		    m.now ? "now" : "later");
		ts->ops->on_answer(ts->data, m.id, m.now);
		break;
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct tray *t = h->data;

	(void)hint;
	*b = uv_buf_init(t->buf + t->len, (unsigned)(sizeof(t->buf) - t->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct tray *t = s->data;
	char *nl;

	(void)b;
	if (n < 0) {
		tray_close(t, n == UV_EOF ? "closed" : uv_strerror((int)n));
		return;
	}
	t->len += (size_t)n;
	while (!uv_is_closing((uv_handle_t *)s) &&
	    (nl = memchr(t->buf, '\n', t->len)) != NULL) {
		handle_line(t, t->buf, (size_t)(nl - t->buf));
		t->len -= (size_t)(nl + 1 - t->buf);
		memmove(t->buf, nl + 1, t->len);
	}
	if (t->len == sizeof(t->buf))
		tray_close(t, "line too long");
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct trays *ts = server->data;
	struct addr_cred cred;
	uv_stream_t *stream;
	struct tray *t;
	const char *why;
	int rc;

	if (status < 0)
		return;
	if ((rc = addr_accept(server, &stream, &cred)) != 0) {
		log_warnx("cannot accept a tray: %s", strerror(-rc));
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		uv_close((uv_handle_t *)stream, (uv_close_cb)free);
		return;
	}
	t->owner = ts;
	t->stream = stream;
	stream->data = t;
	t->next = ts->list;
	ts->list = t;
	if (!cred.known) {
		tray_close(t, "no peer credentials");
		return;
	}
	t->uid = cred.uid;
	if (cred.uid != 0 && (long long)cred.uid < ts->uid_min) {
		log_warnx("refusing a tray of uid %u (pid %d): not a desktop user",
		    (unsigned)cred.uid, (int)cred.pid);
		tray_close(t, "refused");
		return;
	}
	if ((why = over_cap(ts, t)) != NULL) {
		/* Said once in a while: a flood must not fill the journal. */
		if (uv_now(ts->loop) - ts->last_refusal_said >= 10000 ||
		    ts->last_refusal_said == 0) {
			log_warnx("refusing a tray of uid %u (pid %d): %s",
			    (unsigned)cred.uid, (int)cred.pid, why);
			ts->last_refusal_said = uv_now(ts->loop);
		}
		tray_close(t, "refused");
		return;
	}
	log_info("tray of uid %u (pid %d) connected", (unsigned)cred.uid, (int)cred.pid);
	uv_read_start(stream, on_alloc, on_read);
}

static json_object *
message(const char *type, const char *printers)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "printers", json_object_new_string(printers));
	return o;
}

/* Sends o (taken) to every tray that can ask. */
static void
broadcast(struct trays *ts, json_object *o)
{
	for (struct tray *t = ts ? ts->list : NULL; t; t = t->next)
		if (can_ask(t))
			send_json(t, o);
	json_object_put(o);
}

/* 1 when t can ask and its session is concerned by one of apps. */
static int
concerned(const struct tray *t, const struct app *apps, size_t napps)
{
	if (!can_ask(t))
		return 0;
	for (size_t i = 0; i < napps; i++)
		if (t->uid == 0 || apps[i].uid < 0 || apps[i].uid == (long)t->uid)
			return 1;
	return 0;
}

int
tray_count_concerned(const struct trays *ts, const struct app *apps, size_t napps)
{
	int n = 0;

	for (const struct tray *t = ts ? ts->list : NULL; t; t = t->next)
		n += concerned(t, apps, napps);
	return n;
}

int
tray_prompt(struct trays *ts, uint64_t id, const char *printers,
    const struct app *apps, size_t napps)
{
	int n = 0;

	for (struct tray *t = ts ? ts->list : NULL; t; t = t->next) {
		json_object *o, *arr;
		const char *last = NULL;

		if (!concerned(t, apps, napps))
			continue;
		o = message("prompt", printers);
		arr = json_object_new_array();
		json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
		/* Its own applications (all for root), each name once: apps
		 * is sorted by name. */
		for (size_t i = 0; i < napps; i++) {
			if ((t->uid != 0 && apps[i].uid >= 0 &&
			    apps[i].uid != (long)t->uid) ||
			    (last != NULL && strcmp(last, apps[i].name) == 0))
				continue;
			json_object_array_add(arr, json_object_new_string(apps[i].name));
			last = apps[i].name;
		}
		json_object_object_add(o, "apps", arr);
		send_json(t, o);
		json_object_put(o);
		t->asked = id;
		n++;
	}
	return n;
}

void
tray_countdown(struct trays *ts, long long secs, const char *printers)
{
	json_object *o = message("countdown", printers);

	json_object_object_add(o, "seconds", json_object_new_int64(secs));
	broadcast(ts, o);
}

struct trays *
tray_start(uv_loop_t *loop, const struct addr *sock, long long uid_min,
    const struct tray_ops *ops, void *data)
{
	struct trays *ts = calloc(1, sizeof(*ts));
	char err[512];
	int rc;

	if (ts == NULL)
		return NULL;
	ts->loop = loop;
	ts->sock = *sock;
	ts->uid_min = uid_min;
	ts->ops = ops;
	ts->data = data;
	(void)addr_make_dir(sock);
	/* Any local user's session may connect; credentials decide. */
	rc = addr_listen(loop, sock, 0666, TRAY_BACKLOG, on_connection, ts, &ts->server,
	    err, sizeof(err));
	if (rc != 0) {
		log_warnx("no tray socket (%s): users cannot be asked, restarts "
		    "are deferred until forced", err);
		free(ts);
		return NULL;
	}
	return ts;
}

static void
on_server_closed(uv_handle_t *h)
{
	struct trays *ts = h->data;

	free(h);
	ts->server = NULL;
	if (ts->list == NULL)
		free(ts);
}

void
tray_stop(struct trays *ts)
{
	if (ts == NULL || ts->stopping)
		return;
	ts->stopping = 1;
	for (struct tray *t = ts->list; t; t = t->next)
		tray_close(t, "agent stopping");
	addr_unlink(&ts->sock);
	uv_close((uv_handle_t *)ts->server, on_server_closed);
}
