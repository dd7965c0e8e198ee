/*
 * The link to the broker: connect, handshake (common/peer.c), hand printer
 * sets up, send what the hub gives it.  It keeps connecting forever with
 * exponential backoff and jitter, capped at about 30 s (2 s for a
 * virtio-serial port, a local device); a dead broker is
 * noticed by the peer's heartbeats.  A leaf: it knows no other module, and
 * what is sent after a reconnect is the hub's decision (link_ops.on_up).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr_uv.h"
#include "agent.h"
#include "log.h"
#include "peer.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* A virtio-serial port is a local device, cheap to open again, and the
 * host's end may come back at any moment (qemu-guest-agent polls too). */
#define VIRTIO_BACKOFF_MAX_MS 2000

struct link {
	uv_loop_t *loop;
	struct link_config cfg;
	const struct link_ops *ops;
	void *data;
	char name[ADDR_TEXT_MAX];	/* the broker's address, for logs */

	struct peer *peer;
	uv_timer_t reconnect;
	uv_connect_t connect_req;
	unsigned backoff_ms;
	uv_stream_t *connecting;	/* while a connection attempt runs */
	int up, stopping, timer_closed;
	char last_error[512];		/* logged once until it changes */
};

static void try_connect(struct link *l);

/* The link frees itself once the last of its handles is closed. */
static void
maybe_free(struct link *l)
{
	if (l->stopping && l->timer_closed && l->peer == NULL && l->connecting == NULL)
		free(l);
}

static void
on_reconnect_timer(uv_timer_t *t)
{
	try_connect(t->data);
}

static void
schedule(struct link *l)
{
	unsigned ms, max = l->cfg.broker.kind == ADDR_VIRTIO ? VIRTIO_BACKOFF_MAX_MS :
	    BACKOFF_MAX_MS;

	if (l->stopping)
		return;
	if (l->backoff_ms == 0)
		l->backoff_ms = BACKOFF_MIN_MS;
	/* Jitter of +-25% keeps many guests from reconnecting in step. */
	ms = l->backoff_ms - l->backoff_ms / 4 + (unsigned)(rand() % (l->backoff_ms / 2 + 1));
	l->backoff_ms = l->backoff_ms * 2 > max ? max : l->backoff_ms * 2;
	log_debug("next connection attempt in %u ms", ms);
	uv_timer_start(&l->reconnect, on_reconnect_timer, ms, 0);
}

/* A connection attempt failed before any handshake: log it once. */
static void
failed(struct link *l, const char *why)
{
	if (strcmp(l->last_error, why) != 0)
		log_warnx("cannot reach the broker at %s: %s; retrying", l->name, why);
	snprintf(l->last_error, sizeof(l->last_error), "%s", why);
	l->ops->on_down(l->data, why, 0);
	schedule(l);
}

static void
on_ready(struct peer *p, void *data)
{
	struct link *l = data;

	log_info("connected to broker \"%s\"", peer_id(p));
	l->up = 1;
	l->last_error[0] = '\0';
	l->ops->on_up(l->data, peer_id(p));
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	struct link *l = data;

	switch (env->type) {
	case PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET:
		/* Only a set taken ends the backoff: a broker that completes
		 * the handshake and then fails us is not tried twice a second. */
		l->backoff_ms = 0;
		l->ops->on_printer_set(l->data, env->printer_set);
		break;
	case PRINTREDIR__MSG_TYPE__MSG_JOB_CREDIT:
	case PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT:
		l->ops->on_job(l->data, env);
		break;
	default:
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL,
		    "message not expected from a broker");
		break;
	}
	codec_free(env);
}

static void
on_close(struct peer *p, const char *reason, void *data)
{
	struct link *l = data;
	int was_up = l->up;

	(void)p;
	l->peer = NULL;
	l->up = 0;
	if (l->stopping) {
		maybe_free(l);
		return;
	}
	if (was_up)
		log_warnx("lost the broker: %s", reason);
	else
		log_warnx("broker connection failed: %s", reason);
	snprintf(l->last_error, sizeof(l->last_error), "%s", reason);
	l->ops->on_down(l->data, reason, was_up);
	schedule(l);
}

static const struct peer_ops peer_ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};

static void
on_connect(uv_connect_t *req, int status)
{
	struct link *l = req->data;
	struct peer_config cfg = { 0 };
	static const char *caps[] = { "zlib" };

	l->connecting = NULL;
	if (status < 0 || l->stopping) {
		if (!uv_is_closing((uv_handle_t *)req->handle))
			uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
		if (l->stopping)
			maybe_free(l);
		else
			failed(l, uv_strerror(status));
		return;
	}
	cfg.auth.role = AUTH_AGENT;
	cfg.auth.key = l->cfg.key;
	cfg.auth.keylen = l->cfg.keylen;
	cfg.auth.id = l->cfg.guest_id;
	cfg.auth.caps = caps;
	cfg.auth.ncaps = 1;
	cfg.frame_cap = l->cfg.frame_cap;
	cfg.name = l->name;
	l->peer = peer_new(req->handle, &cfg, &peer_ops, l);
}

static void
try_connect(struct link *l)
{
	uv_stream_t *stream = NULL;
	char err[512];

	if (l->stopping || l->peer || l->connecting)
		return;
	l->connect_req.data = l;
	if (addr_connect(l->loop, &l->cfg.broker, &l->connect_req, &stream,
	    on_connect, err, sizeof(err)) != 0) {
		failed(l, err);
		return;
	}
	l->connecting = stream;
}

struct link *
link_start(uv_loop_t *loop, const struct link_config *cfg,
    const struct link_ops *ops, void *data)
{
	struct link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->loop = loop;
	l->cfg = *cfg;
	l->ops = ops;
	l->data = data;
	addr_format(&cfg->broker, l->name, sizeof(l->name));
	srand((unsigned)time(NULL) ^ (unsigned)uv_os_getpid());
	uv_timer_init(loop, &l->reconnect);
	l->reconnect.data = l;
	try_connect(l);
	return l;
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct link *l = h->data;

	l->timer_closed = 1;
	maybe_free(l);
}

void
link_stop(struct link *l)
{
	if (l == NULL || l->stopping)
		return;
	l->stopping = 1;
	uv_close((uv_handle_t *)&l->reconnect, on_timer_closed);
	if (l->connecting)	/* its callback then runs with UV_ECANCELED */
		uv_close((uv_handle_t *)l->connecting, (uv_close_cb)free);
	if (l->peer)
		peer_close(l->peer, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
		    "agent is shutting down");
}

int
link_send_inventory(struct link *l, const uint8_t (*hashes)[HASH_LEN], size_t n)
{
	if (l == NULL || l->peer == NULL || !peer_is_ready(l->peer))
		return -ENOTCONN;
	return peer_send_inventory(l->peer, hashes, n);
}

int
link_send(struct link *l, const codec_env_t *env)
{
	if (l == NULL || l->peer == NULL || !peer_is_ready(l->peer))
		return -ENOTCONN;
	return peer_send(l->peer, env);
}
