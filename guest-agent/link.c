/*
 * The link to the broker: connect, handshake (common/peer.c), receive
 * printer sets, send reports.  It keeps connecting forever with exponential
 * backoff and jitter, capped at about 30 s; a dead broker is noticed by the
 * peer's heartbeats.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "peer.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static void try_connect(struct agent *a);

static void
on_reconnect_timer(uv_timer_t *t)
{
	try_connect(t->data);
}

static void
schedule(struct agent *a)
{
	unsigned ms;

	if (a->stopping)
		return;
	if (a->backoff_ms == 0)
		a->backoff_ms = BACKOFF_MIN_MS;
	/* Jitter of +-25% keeps many guests from reconnecting in step. */
	ms = a->backoff_ms - a->backoff_ms / 4 + (unsigned)(rand() % (a->backoff_ms / 2 + 1));
	a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    a->backoff_ms * 2;
	log_debug("next connection attempt in %u ms", ms);
	uv_timer_start(&a->reconnect, on_reconnect_timer, ms, 0);
}

static void
on_ready(struct peer *p, void *data)
{
	struct agent *a = data;

	log_info("connected to broker \"%s\"", peer_id(p));
	a->backoff_ms = 0;
	a->link_up = 1;
	a->link_error[0] = '\0';
	a->link_since = time(NULL);
	state_save(a);
	agent_flush_report(a);
	restart_flush(a);
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	struct agent *a = data;

	switch (env->type) {
	case PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET:
		agent_on_printer_set(a, env->printer_set);
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
	struct agent *a = data;
	int was_up = a->link_up;

	(void)p;
	a->peer = NULL;
	a->link_up = 0;
	snprintf(a->link_error, sizeof(a->link_error), "%s", reason);
	a->link_since = time(NULL);
	if (!a->stopping) {
		if (was_up)
			log_warnx("lost the broker: %s", reason);
		else
			log_warnx("broker connection failed: %s", reason);
		state_save(a);
	}
	schedule(a);
}

static const struct peer_ops ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};

static void
on_connect(uv_connect_t *req, int status)
{
	struct agent *a = req->data;
	uint8_t (*hashes)[HASH_LEN] = NULL;
	struct peer_config cfg = { 0 };
	static const char *caps[] = { "zlib" };
	char name[ADDR_TEXT_MAX + 16];

	a->connecting = 0;
	if (status < 0 || a->stopping) {
		uv_close((uv_handle_t *)req->handle, (uv_close_cb)free);
		if (status < 0) {
			addr_format(&a->conf.broker, name, sizeof(name));
			if (strcmp(a->link_error, uv_strerror(status)) != 0)
				log_warnx("cannot reach the broker at %s: %s; retrying",
				    name, uv_strerror(status));
			snprintf(a->link_error, sizeof(a->link_error), "%s",
			    uv_strerror(status));
			schedule(a);
		}
		return;
	}
	addr_format(&a->conf.broker, name, sizeof(name));
	cfg.auth.role = AUTH_AGENT;
	cfg.auth.key = a->key;
	cfg.auth.keylen = a->keylen;
	cfg.auth.id = a->conf.guest_id;
	cfg.auth.caps = caps;
	cfg.auth.ncaps = 1;
	cfg.auth.nhashes = agent_held_drivers(a, &hashes);
	cfg.auth.hashes = (const uint8_t (*)[HASH_LEN])hashes;
	cfg.frame_cap = (size_t)a->conf.frame_cap;
	cfg.name = name;
	a->peer = peer_new(req->handle, &cfg, &ops, a);
	free(hashes);	/* the Hello was encoded inside peer_new */
}

static void
try_connect(struct agent *a)
{
	uv_stream_t *stream = NULL;
	char err[512];

	if (a->stopping || a->peer || a->connecting)
		return;
	a->connect_req.data = a;
	if (addr_connect(a->loop, &a->conf.broker, &a->connect_req, &stream,
	    on_connect, err, sizeof(err)) != 0) {
		if (strcmp(a->link_error, err) != 0)
			log_warnx("cannot reach the broker: %s; retrying", err);
		snprintf(a->link_error, sizeof(a->link_error), "%s", err);
		schedule(a);
		return;
	}
	a->connecting = 1;
}

void
link_start(struct agent *a)
{
	srand((unsigned)time(NULL) ^ (unsigned)uv_os_getpid());
	uv_timer_init(a->loop, &a->reconnect);
	a->reconnect.data = a;
	try_connect(a);
}

void
link_stop(struct agent *a)
{
	a->stopping = 1;
	if (a->reconnect.loop && !uv_is_closing((uv_handle_t *)&a->reconnect))
		uv_close((uv_handle_t *)&a->reconnect, NULL);
	if (a->peer)
		peer_close(a->peer, PRINTREDIR__ERROR_CODE__ERR_SHUTDOWN,
		    "agent is shutting down");
}

int
link_send(struct agent *a, const codec_env_t *env)
{
	if (a->peer == NULL || !peer_is_ready(a->peer))
		return -ENOTCONN;
	return peer_send(a->peer, env);
}
