/*
 * guest-tray: the per-session helper that asks the desk user about a
 * workspace restart.  It connects to the agent's tray socket, shows the
 * agent's prompt as a freedesktop notification (libnotify) with the actions
 * "Restart now" and "Later", sends the answer back, and shows the countdown
 * of a forced restart.  It reconnects whenever the agent restarts.
 *
 *   guest-tray [-s unix:PATH] [-d] [-V] [-h]
 *
 * The protocol is the agent's (guest-agent/tray.c): one JSON object a line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json.h>
#include <libnotify/notify.h>

#include "addr.h"
#include "cli.h"
#include "jsonget.h"
#include "log.h"

#define RECONNECT_S 2
#define LINE_MAX_TRAY 4096

static const char *sock_path = "/run/printredir/tray.sock";
static int fd = -1, debug, have_server;
static guint watch;
static char buf[LINE_MAX_TRAY];
static size_t len;
static NotifyNotification *shown;
static GMainLoop *loop;

static void connect_later(void);

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "guest-tray: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void
send_line(json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		fprintf(stderr, "guest-tray: cannot reach the agent: %s\n", strerror(errno));
	json_object_put(o);
}

static void
answer(NotifyNotification *n, char *action, gpointer data)
{
	json_object *o = json_object_new_object();

	(void)n;
	json_object_object_add(o, "type", json_object_new_string("answer"));
	json_object_object_add(o, "id", json_object_new_int64((int64_t)(intptr_t)data));
	json_object_object_add(o, "choice", json_object_new_string(
	    strcmp(action, "now") == 0 ? "now" : "later"));
	say("answered %s", action);
	send_line(o);
}

static void
show(const char *summary, const char *body, int64_t id, int actions)
{
	GError *err = NULL;

	if (shown) {
		notify_notification_close(shown, NULL);
		g_object_unref(shown);
	}
	shown = notify_notification_new(summary, body, "printer");
	notify_notification_set_urgency(shown, NOTIFY_URGENCY_CRITICAL);
	notify_notification_set_timeout(shown, NOTIFY_EXPIRES_NEVER);
	if (actions) {
		notify_notification_add_action(shown, "now", "Restart now", answer,
		    (gpointer)(intptr_t)id, NULL);
		notify_notification_add_action(shown, "later", "Later", answer,
		    (gpointer)(intptr_t)id, NULL);
	}
	if (!notify_notification_show(shown, &err)) {
		fprintf(stderr, "guest-tray: cannot show a notification: %s\n",
		    err ? err->message : "unknown error");
		g_clear_error(&err);
	}
}

static const char *
jstr(json_object *o, const char *key)
{
	const char *v = jget_str(o, key);

	return v ? v : "";
}

/*
 * Acts on one line from the agent.  Anything else than a prompt or a
 * countdown with what it needs, of the right types, is ignored: a line
 * must never stop the helper.
 */
static void
handle(const char *line)
{
	json_object *o = jget_parse(line, strlen(line), json_type_object, NULL, 0);
	json_object *apps, *app;
	char body[2048];
	char quoted[48], *esc;
	const char *type;
	int64_t n;
	size_t off, listed = 0;

	if (o == NULL) {
		say("ignoring a line that is not a JSON object");
		goto out;
	}
	type = jstr(o, "type");
	if (strcmp(type, "prompt") == 0) {
		if (!jget_i64(o, "id", &n)) {
			say("ignoring a prompt without an integer id");
			goto out;
		}
		/* Notification servers read the body as markup: names from the
		 * host and the guest's processes are text, never markup. */
		esc = g_markup_escape_text(jstr(o, "printers"), -1);
		off = (size_t)snprintf(body, sizeof(body),
		    "New printers are ready: %s.\nApplications offer them after a "
		    "restart of the workspace.\nOpen applications:", esc);
		g_free(esc);
		apps = jget_arr(o, "apps");
		for (size_t i = 0; apps != NULL &&
		    i < json_object_array_length(apps) && off + 2 < sizeof(body); i++) {
			app = json_object_array_get_idx(apps, i);
			if (!json_object_is_type(app, json_type_string))
				continue;
			esc = g_markup_escape_text(json_object_get_string(app), -1);
			off += (size_t)snprintf(body + off, sizeof(body) - off, "%s%s",
			    listed++ > 0 ? ", " : " ", esc);
			g_free(esc);
		}
		say("prompt %s", body);
		show("Restart to use the new printers", body, n, 1);
	} else if (strcmp(type, "countdown") == 0) {
		if (!jget_i64(o, "seconds", &n)) {
			say("ignoring a countdown without integer seconds");
			goto out;
		}
		esc = g_markup_escape_text(jstr(o, "printers"), -1);
		snprintf(body, sizeof(body), "The workspace restarts in %lld seconds "
		    "to offer the new printers (%s). Save your work now.",
		    (long long)n, esc);
		g_free(esc);
		say("countdown %s", body);
		show("Workspace restart", body, 0, 0);
	} else
		say("ignoring a line of type \"%s\"",
		    log_quote(type, quoted, sizeof(quoted)));
out:
	json_object_put(o);
}

static gboolean
on_readable(gint f, GIOCondition cond, gpointer data)
{
	ssize_t n;
	char *nl;

	(void)cond;
	(void)data;
	n = read(f, buf + len, sizeof(buf) - len);
	if (n <= 0) {
		fprintf(stderr, "guest-tray: the agent went away; reconnecting\n");
		close(fd);
		fd = -1;
		watch = 0;
		connect_later();
		return G_SOURCE_REMOVE;
	}
	len += (size_t)n;
	while ((nl = memchr(buf, '\n', len)) != NULL) {
		*nl = '\0';
		handle(buf);
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len);
	}
	if (len == sizeof(buf))
		len = 0;	/* a line this long is not the agent's */
	return G_SOURCE_CONTINUE;
}

static gboolean
try_connect(gpointer data)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_object *o;

	(void)data;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		say("agent not reachable at %s: %s", sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		return G_SOURCE_CONTINUE;	/* try again in RECONNECT_S */
	}
	len = 0;
	fprintf(stderr, "guest-tray: connected to the agent at %s\n", sock_path);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string("hello"));
	json_object_object_add(o, "notifications", json_object_new_boolean(have_server));
	send_line(o);
	watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, NULL);
	return G_SOURCE_REMOVE;
}

static void
connect_later(void)
{
	g_timeout_add_seconds(RECONNECT_S, try_connect, NULL);
}

static gboolean
on_term(gpointer data)
{
	(void)data;
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "Usage: guest-tray [-s unix:PATH] [-d]\n"
	    "\n"
	    "Asks the desk user about workspace restarts for new printers.\n"
	    "\n"
	    "  -s, --socket unix:PATH  the agent's tray_socket (default unix:%s)\n"
	    "  -d, --debug             say what happens on stderr\n"
	    "  -V, --version           print the version\n"
	    "  -h, --help              print this help\n", sock_path);
}

int
main(int argc, char **argv)
{
	static struct addr a;
	const char *sock = NULL;
	char err[256];
	int rc;
	const struct cli_opt opts[] = {
		{ 's', "socket", CLI_STRING, &sock },
		{ 'd', "debug", CLI_FLAG, &debug },
		{ 0 },
	};
	const struct cli cli = { "guest-tray", usage, opts, 0, 0, NULL };

	if ((rc = cli_parse(&cli, argc, argv, NULL)) >= 0)
		return rc;
	if (sock != NULL) {
		if (addr_parse(sock, &a, err, sizeof(err)) != 0)
			return cli_error(&cli, "-s: %s", err);
		if (a.kind != ADDR_UNIX)
			return cli_error(&cli, "-s: the tray socket is a local "
			    "unix:PATH address");
		sock_path = a.path;
	}
	if (!notify_init("printredir")) {
		fprintf(stderr, "guest-tray: cannot initialise libnotify\n");
		return 1;
	}
	{
		char *name = NULL, *vendor = NULL, *version = NULL, *spec = NULL;

		have_server = notify_get_server_info(&name, &vendor, &version, &spec);
		if (!have_server)
			fprintf(stderr, "guest-tray: no notification server in this "
			    "session: the agent will not ask this user (restarts are "
			    "deferred, then forced with notice)\n");
		else
			say("notification server %s %s", name, version);
		g_free(name);
		g_free(vendor);
		g_free(version);
		g_free(spec);
	}
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_term, NULL);
	g_unix_signal_add(SIGINT, on_term, NULL);
	if (try_connect(NULL) == G_SOURCE_CONTINUE)
		g_timeout_add_seconds(RECONNECT_S, try_connect, NULL);
	g_main_loop_run(loop);
	if (shown)
		g_object_unref(shown);
	notify_uninit();
	g_main_loop_unref(loop);
	return 0;
}
