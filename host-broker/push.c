/*
 * Push from the host's cupsd: the events socket its printredir notifier
 * (notifier.c, run by cupsd for the watcher's push subscription) connects
 * to.  The notifier says hello with the subscription's token, then writes
 * one line per event; each event wakes the watcher (watch_push_event),
 * which lists the host's queues at once.  A notifier that goes away (the
 * subscription ended, cupsd stopped) makes the watcher check its
 * subscription (watch_push_lost).  A line is at most PUSH_LINE_MAX bytes; a
 * peer that sends anything else, or no hello within PUSH_HELLO_MS, loses
 * its connection, and at most PUSH_CLIENTS are open at once.  The lines are
 * hints, never data: what the broker offers comes from its own listing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker.h"
#include "log.h"

#define PUSH_LINE_MAX 160
#define PUSH_HELLO_MS 5000
#define PUSH_CLIENTS 8
#define HELLO "printredir-notifier 1 "

struct push_client {
	struct push_client *next;
	uv_stream_t *pipe;
	uv_timer_t timer;
	int open_handles;
	int hello;		/* said hello with our token */
	size_t len;
	char line[PUSH_LINE_MAX];
};

static struct {
	uv_stream_t *server;
	struct addr addr;
	char token[33];
	char uri[sizeof(((struct addr *)0)->path) + 16];
	struct push_client *clients;
	int nclients;
	int notifiers;		/* clients that said hello */
} p;

const char *
push_recipient(void)
{
	return p.server != NULL ? p.uri : NULL;
}

const char *
push_token(void)
{
	return p.token;
}

int
push_notifiers(void)
{
	return p.notifiers;
}

static void
client_closed(uv_handle_t *h)
{
	struct push_client *c = h->data;

	if (h == (uv_handle_t *)c->pipe)
		free(h);
	if (--c->open_handles == 0)
		free(c);
}

static void
client_close(struct push_client *c)
{
	struct push_client **pp;

	for (pp = &p.clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	p.nclients--;
	if (c->hello) {
		p.notifiers--;
		log_debug("push: the host CUPS notifier went away");
		watch_push_lost();
	}
	uv_close((uv_handle_t *)c->pipe, client_closed);
	uv_close((uv_handle_t *)&c->timer, client_closed);
}

static void
on_hello_timeout(uv_timer_t *t)
{
	log_warnx("push: dropping an events connection that said no hello in "
	    "%d ms", PUSH_HELLO_MS);
	client_close(t->data);
}

/* One line (without its newline); 0, or -1 to drop the client. */
static int
client_line(struct push_client *c, char *line)
{
	if (!c->hello) {
		if (strncmp(line, HELLO, strlen(HELLO)) != 0 ||
		    strcmp(line + strlen(HELLO), p.token) != 0) {
			/* A notifier of an older subscription (an earlier
			 * broker's), or not a notifier at all. */
			log_debug("push: an events connection without our token");
			return -1;
		}
		c->hello = 1;
		p.notifiers++;
		uv_timer_stop(&c->timer);
		log_debug("push: the host CUPS notifier is connected");
		return 0;
	}
	if (strncmp(line, "event ", 6) != 0) {
		log_warnx("push: dropping the notifier, which sent a line that is "
		    "not an event");
		return -1;
	}
	watch_push_event();
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct push_client *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->line + c->len, (unsigned)(sizeof(c->line) - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct push_client *c = s->data;
	char *nl;

	(void)buf;
	if (nread < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)nread;
	while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->line) + 1;

		*nl = '\0';
		if (client_line(c, c->line) != 0) {
			client_close(c);
			return;
		}
		memmove(c->line, c->line + used, c->len - used);
		c->len -= used;
	}
	if (c->len == sizeof(c->line)) {
		log_warnx("push: dropping an events connection whose line is over "
		    "%d bytes", PUSH_LINE_MAX);
		client_close(c);
	}
}

static void
on_conn(uv_stream_t *server, int status)
{
	struct push_client *c;
	int rc;

	if (status < 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    addr_accept(server, &c->pipe, NULL) < 0) {
		free(c);
		return;
	}
	uv_timer_init(server->loop, &c->timer);
	c->pipe->data = c->timer.data = c;
	c->open_handles = 2;
	c->next = p.clients;
	p.clients = c;
	p.nclients++;
	if (p.nclients > PUSH_CLIENTS) {
		log_warnx("push: over %d events connections; dropping the new one",
		    PUSH_CLIENTS);
		client_close(c);
		return;
	}
	rc = uv_timer_start(&c->timer, on_hello_timeout, PUSH_HELLO_MS, 0);
	if (rc == 0)
		rc = uv_read_start(c->pipe, on_alloc, on_read);
	if (rc < 0)
		client_close(c);
}

static void
server_closed(uv_handle_t *h)
{
	free(h);
}

int
push_start(struct broker *b)
{
	uint8_t raw[16];
	char err[256];
	int rc;

	if (strcmp(b->conf.host_events, "poll") == 0)
		return 0;
	if (!watch_cups_is_local(b->conf.cups)) {
		log_info("host CUPS %s is not on this machine: pulling its events "
		    "every %lld ms", b->conf.cups, b->conf.poll_ms);
		return 0;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -errno;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(p.token + 2 * i, 3, "%02x", raw[i]);
	p.addr = b->conf.events;
	snprintf(p.uri, sizeof(p.uri), "printredir:%s", p.addr.path);
	/* The notifier runs as cupsd's User (lp): anyone may connect, and
	 * only the hello with the token counts. */
	rc = addr_listen(b->loop, &p.addr, 0666, 16, on_conn, NULL, &p.server,
	    err, sizeof(err));
	if (rc < 0) {
		log_warnx("events socket: %s; pulling host CUPS events every %lld ms "
		    "instead", err, b->conf.poll_ms);
		return 0;
	}
	return 0;
}

void
push_stop(void)
{
	while (p.clients != NULL)
		client_close(p.clients);
	if (p.server != NULL) {
		uv_close((uv_handle_t *)p.server, server_closed);
		p.server = NULL;
		addr_unlink(&p.addr);
	}
}
