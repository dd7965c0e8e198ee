/*
 * Channels: the host's ends of the VMs' own channels.  A hypervisor makes
 * one listening unix socket per VM in a folder (QEMU's
 * `-chardev socket,path=DIR/NAME.sock,server=on,wait=off` behind a
 * virtserialport named org.printredir.0, libvirt's <channel type='unix'>,
 * or the hybrid vsock socket of Firecracker and Cloud Hypervisor).  The
 * broker connects to every socket that appears there, connects again when
 * the connection ends (a VM that restarts), and forgets the sockets that go
 * away.  Each connection is a guest connection like any other (guests.c):
 * the agent at its other end still proves its key.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr_uv.h"
#include "broker.h"
#include "log.h"
#include "peer.h"

#define SCAN_MS 500		/* how often the folder is looked at */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 5000	/* a VM that restarts is back within seconds */
#define MAX_CHANNELS 1024

struct channel {
	struct channel *next;
	struct channels *owner;
	struct addr addr;
	char name[ADDR_TEXT_MAX + 16];
	uv_connect_t req;
	uv_stream_t *connecting;	/* while a connection attempt runs */
	struct peer *peer;		/* while connected */
	int seen, gone;
	int last_status;		/* of the last connection attempt */
	unsigned backoff_ms;
	uint64_t next_try;
};

struct channels {
	struct broker *b;
	uv_timer_t timer;
	struct channel *list;
	size_t n;
	int stopping;
};

static void
channel_free_if_idle(struct channel *c)
{
	struct channels *cs = c->owner;

	if (!c->gone || c->connecting || c->peer)
		return;
	for (struct channel **pp = &cs->list; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	cs->n--;
	free(c);
	if (cs->stopping && cs->list == NULL && cs->timer.data == NULL)
		free(cs);
}

static void
retry_later(struct channel *c)
{
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RETRY_MIN_MS;
	if (c->backoff_ms > RETRY_MAX_MS)
		c->backoff_ms = RETRY_MAX_MS;
	c->next_try = uv_now(c->owner->b->loop) + c->backoff_ms;
}

static void
on_peer_closed(void *arg)
{
	struct channel *c = arg;

	c->peer = NULL;
	/* Not at once: the hypervisor may be making the socket again. */
	retry_later(c);
	channel_free_if_idle(c);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct channel *c = req->data;

	c->connecting = NULL;
	if (status < 0 || c->gone) {
		if (!uv_is_closing((uv_handle_t *)req->handle))
			uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
		/* A socket the broker's user may not write is an administrator's
		 * to fix (the hypervisor's umask): said once, not each retry. */
		if (status == UV_EACCES && c->last_status != status)
			log_warnx("channel %s: %s: the broker's user needs write "
			    "permission on the VM's socket (README, Administrators)",
			    c->addr.path, uv_strerror(status));
		else if (status < 0 && status != UV_ECANCELED)
			log_debug("channel %s: %s", c->addr.path, uv_strerror(status));
		c->last_status = status;
		retry_later(c);
		channel_free_if_idle(c);
		return;
	}
	log_info("channel %s: connected; waiting for its agent", c->addr.path);
	c->backoff_ms = 0;
	c->last_status = 0;
	if ((c->peer = guests_adopt_channel(c->owner->b, req->handle, c->name)) != NULL)
		peer_watch_close(c->peer, on_peer_closed, c);
	else
		retry_later(c);
}

static void
try_connect(struct channel *c)
{
	uv_stream_t *stream = NULL;
	char err[256];

	c->req.data = c;
	if (addr_connect(c->owner->b->loop, &c->addr, &c->req, &stream, on_connect,
	    err, sizeof(err)) != 0) {
		log_debug("channel %s: %s", c->addr.path, err);
		retry_later(c);
		return;
	}
	c->connecting = stream;
}

static struct channel *
find(struct channels *cs, const char *path)
{
	for (struct channel *c = cs->list; c; c = c->next)
		if (!c->gone && strcmp(c->addr.path, path) == 0)
			return c;
	return NULL;
}

/* Looks at the folder: new sockets are connected to, vanished ones left. */
static void
scan(struct channels *cs)
{
	const char *dir = cs->b->conf.channels;
	uint64_t now = uv_now(cs->b->loop);
	DIR *d = opendir(dir);
	struct dirent *e;
	struct channel *c;

	for (c = cs->list; c; c = c->next)
		c->seen = 0;
	while (d && (e = readdir(d)) != NULL) {
		char path[sizeof(c->addr.path) + 1];
		struct stat st;

		if (e->d_name[0] == '.' || (size_t)snprintf(path, sizeof(path), "%s/%s",
		    dir, e->d_name) >= sizeof(c->addr.path))
			continue;	/* too long for a socket address */
		if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		if ((c = find(cs, path)) == NULL) {
			if (cs->n >= MAX_CHANNELS || (c = calloc(1, sizeof(*c))) == NULL)
				continue;
			c->owner = cs;
			c->addr.kind = ADDR_UNIX;
			memcpy(c->addr.path, path, strlen(path) + 1);	/* fits: see above */
			snprintf(c->name, sizeof(c->name), "channel %s", path);
			c->next = cs->list;
			cs->list = c;
			cs->n++;
			log_info("channel %s: new", path);
		}
		c->seen = 1;
	}
	if (d)
		closedir(d);
	for (c = cs->list; c; ) {
		struct channel *next = c->next;

		if (!c->seen && !c->gone) {
			log_info("channel %s: gone", c->addr.path);
			c->gone = 1;
			if (c->connecting)
				uv_close((uv_handle_t *)c->connecting, (uv_close_cb)free);
			if (c->peer)
				peer_close(c->peer, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
				    "the VM's channel went away");
			channel_free_if_idle(c);
		} else if (!c->gone && !c->connecting && !c->peer && now >= c->next_try) {
			try_connect(c);
		}
		c = next;
	}
}

static void
on_timer(uv_timer_t *t)
{
	scan(t->data);
}

int
channels_start(struct broker *b)
{
	struct channels *cs;
	struct stat st;

	if (b->conf.channels[0] == '\0')
		return 0;
	if (stat(b->conf.channels, &st) != 0 || !S_ISDIR(st.st_mode))
		log_warnx("channels = %s is not a folder yet; its VMs are served "
		    "once it is", b->conf.channels);
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return -ENOMEM;
	cs->b = b;
	uv_timer_init(b->loop, &cs->timer);
	cs->timer.data = cs;
	uv_timer_start(&cs->timer, on_timer, 0, SCAN_MS);
	b->channels = cs;
	return 0;
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct channels *cs = h->data;

	cs->timer.data = NULL;
	if (cs->list == NULL)
		free(cs);
}

void
channels_stop(struct broker *b)
{
	struct channels *cs = b->channels;
	struct channel *c, *next;

	if (cs == NULL)
		return;
	b->channels = NULL;
	cs->stopping = 1;
	for (c = cs->list; c; c = next) {
		next = c->next;
		c->gone = 1;
		if (c->connecting)
			uv_close((uv_handle_t *)c->connecting, (uv_close_cb)free);
		/* A peer still waiting for its agent is no guest's yet, and
		 * its handshake may take a day: guests_stop would miss it. */
		if (c->peer)
			peer_close(c->peer, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
			    "broker is shutting down");
		channel_free_if_idle(c);
	}
	uv_close((uv_handle_t *)&cs->timer, on_timer_closed);
}
