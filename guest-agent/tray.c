/*
 * The tray socket: per-session tray helpers (guest-tray) connect here, are
 * asked when a restart needs the user, and answer "now" or "later".
 *
 * One JSON object per line, at most LINE_MAX bytes:
 *   tray  -> agent  {"type":"hello","notifications":true}
 *   agent -> tray   {"type":"prompt","id":7,"printers":"...","apps":["..."]}
 *   tray  -> agent  {"type":"answer","id":7,"choice":"now"|"later"}
 *   agent -> tray   {"type":"countdown","seconds":300,"printers":"..."}
 * A tray is accepted only from a local user (SO_PEERCRED): root or a uid of
 * at least apps_uid_min.  A tray that says it cannot show notifications does
 * not count as one that can ask.  Anything else from a tray is ignored; a
 * line too long closes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <json.h>

#include "agent.h"
#include "log.h"

#define LINE_MAX_TRAY 4096

struct tray {
	struct tray *next;
	struct agent *a;
	uv_pipe_t pipe;
	uid_t uid;
	int can_notify;
	char buf[LINE_MAX_TRAY];
	size_t len;
};

int
tray_count(const struct agent *a)
{
	int n = 0;

	for (const struct tray *t = a->trays; t; t = t->next)
		n += t->can_notify;
	return n;
}

static void
on_closed(uv_handle_t *h)
{
	struct tray *t = h->data;
	struct agent *a = t->a;
	struct tray **pp;

	for (pp = &a->trays; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	free(t);
	if (!a->stopping)
		restart_trays_changed(a);
}

static void
tray_close(struct tray *t, const char *why)
{
	if (uv_is_closing((uv_handle_t *)&t->pipe))
		return;
	log_info("tray of uid %u left: %s", (unsigned)t->uid, why);
	uv_close((uv_handle_t *)&t->pipe, on_closed);
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
	if (uv_write(&w->req, (uv_stream_t *)&t->pipe, &b, 1, on_write) != 0) {
		free(w->text);
		free(w);
	}
}

static void
handle_line(struct tray *t, const char *line)
{
	json_object *o = json_tokener_parse(line), *v;
	const char *type;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "type", &v)) {
		log_debug("tray of uid %u sent something that is not a message; ignored",
		    (unsigned)t->uid);
		json_object_put(o);
		return;
	}
	type = json_object_get_string(v);
	if (strcmp(type, "hello") == 0) {
		int before = tray_count(t->a);

		t->can_notify = json_object_object_get_ex(o, "notifications", &v) &&
		    json_object_get_boolean(v);
		if (!t->can_notify)
			log_warnx("tray of uid %u has no notification server: its "
			    "session cannot be asked", (unsigned)t->uid);
		else if (before == 0)
			log_info("tray of uid %u can ask the user", (unsigned)t->uid);
		if (t->can_notify)
			restart_trays_changed(t->a);
	} else if (strcmp(type, "answer") == 0 && t->can_notify) {
		json_object *id, *choice;

		if (json_object_object_get_ex(o, "id", &id) &&
		    json_object_object_get_ex(o, "choice", &choice)) {
			const char *c = json_object_get_string(choice);

			if (!strcmp(c, "now") || !strcmp(c, "later")) {
				log_info("tray of uid %u answered \"%s\"", (unsigned)t->uid, c);
				restart_answer(t->a, (uint64_t)json_object_get_int64(id),
				    !strcmp(c, "now"));
			}
		}
	}
	json_object_put(o);
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
	while ((nl = memchr(t->buf, '\n', t->len)) != NULL) {
		*nl = '\0';
		handle_line(t, t->buf);
		t->len -= (size_t)(nl + 1 - t->buf);
		memmove(t->buf, nl + 1, t->len);
	}
	if (t->len == sizeof(t->buf))
		tray_close(t, "line too long");
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct agent *a = server->data;
	struct tray *t;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (status < 0 || (t = calloc(1, sizeof(*t))) == NULL)
		return;
	t->a = a;
	uv_pipe_init(a->loop, &t->pipe, 0);
	t->pipe.data = t;
	t->next = a->trays;
	a->trays = t;
	if (uv_accept(server, (uv_stream_t *)&t->pipe) != 0 ||
	    uv_fileno((uv_handle_t *)&t->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		tray_close(t, "no peer credentials");
		return;
	}
	t->uid = cred.uid;
	if (cred.uid != 0 && (long long)cred.uid < a->conf.apps_uid_min) {
		log_warnx("refusing a tray of uid %u (pid %d): not a desktop user",
		    (unsigned)cred.uid, (int)cred.pid);
		tray_close(t, "refused");
		return;
	}
	log_info("tray of uid %u (pid %d) connected", (unsigned)cred.uid, (int)cred.pid);
	uv_read_start((uv_stream_t *)&t->pipe, on_alloc, on_read);
}

static json_object *
base(const char *type)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

int
tray_prompt(struct agent *a, uint64_t id, const char *printers, char **apps,
    size_t napps)
{
	json_object *o = base("prompt"), *arr = json_object_new_array();
	int n = 0;

	json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(o, "printers", json_object_new_string(printers));
	for (size_t i = 0; i < napps; i++)
		json_object_array_add(arr, json_object_new_string(apps[i]));
	json_object_object_add(o, "apps", arr);
	for (struct tray *t = a->trays; t; t = t->next)
		if (t->can_notify && !uv_is_closing((uv_handle_t *)&t->pipe)) {
			send_json(t, o);
			n++;
		}
	json_object_put(o);
	return n;
}

void
tray_countdown(struct agent *a, long long secs, const char *printers)
{
	json_object *o = base("countdown");

	json_object_object_add(o, "seconds", json_object_new_int64(secs));
	json_object_object_add(o, "printers", json_object_new_string(printers));
	for (struct tray *t = a->trays; t; t = t->next)
		if (t->can_notify && !uv_is_closing((uv_handle_t *)&t->pipe))
			send_json(t, o);
	json_object_put(o);
}

int
tray_start(struct agent *a)
{
	char err[512];
	int rc;

	/* Any local user's session may connect; credentials decide. */
	rc = addr_listen(a->loop, &a->conf.tray_socket, 0666, 16, on_connection, a,
	    &a->tray_server, err, sizeof(err));
	if (rc != 0)
		log_warnx("no tray socket (%s): users cannot be asked, restarts "
		    "are deferred until forced", err);
	return rc;
}

void
tray_stop(struct agent *a)
{
	for (struct tray *t = a->trays; t; t = t->next)
		tray_close(t, "agent stopping");
	if (a->tray_server) {
		uv_close((uv_handle_t *)a->tray_server, (uv_close_cb)free);
		a->tray_server = NULL;
		addr_unlink(&a->conf.tray_socket);
	}
}
