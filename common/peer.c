#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "peer.h"

#define READ_CHUNK (64 * 1024)
#define CLOSE_GRACE_MS 1000	/* how long an error frame may take to drain */

struct peer {
	uv_stream_t *stream;
	uv_timer_t timer;
	struct peer_config cfg;
	char name[128];
	const struct peer_ops *ops;
	void *data;
	struct frame_reader rd;
	struct auth auth;
	struct seal_key tx, rx;		/* after the handshake */
	codec_env_t *hello;		/* the peer's Hello, kept for its fields */
	int ready, sealed, closing, handles;
	int write_dead;			/* the peer is gone for writes: read what it said */
	void (*closed)(void *arg);	/* peer_watch_close */
	void *closed_arg;
	size_t queued;
	uint64_t sent;			/* bytes written to the stream */
	uint64_t last_rx;
	uint64_t hb_seq;
	char reason[256];
};

struct wreq {
	uv_write_t req;
	struct peer *p;
	size_t len;
	uint8_t *buf;
};

static void
on_handle_closed(uv_handle_t *h)
{
	struct peer *p = h->data;

	if (h == (uv_handle_t *)p->stream)
		free(h);
	if (--p->handles > 0)
		return;
	p->ops->on_close(p, p->reason, p->data);
	if (p->closed)
		p->closed(p->closed_arg);
	frame_reader_free(&p->rd);
	codec_free(p->hello);
	seal_clear(&p->tx);
	seal_clear(&p->rx);
	explicit_bzero(&p->auth, sizeof(p->auth));
	free(p);
}

static void
close_handles(struct peer *p)
{
	if (!uv_is_closing((uv_handle_t *)p->stream))
		uv_close((uv_handle_t *)p->stream, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}

static void
on_write_dead(uv_timer_t *t)
{
	peer_close(t->data, 0, NULL);
}

static void
on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct peer *p = w->p;

	p->queued -= w->len;
	if (status == 0)
		p->sent += w->len;
	free(w->buf);
	free(w);
	if (status < 0 && !p->closing && !p->write_dead) {
		snprintf(p->reason, sizeof(p->reason), "write failed: %s",
		    uv_strerror(status));
		if (status == UV_EPIPE || status == UV_ECONNRESET) {
			/* The peer closed, maybe after an Error frame saying why
			 * that is still to be read: read on, briefly. */
			p->write_dead = 1;
			uv_timer_stop(&p->timer);
			uv_timer_start(&p->timer, on_write_dead, CLOSE_GRACE_MS, 0);
			return;
		}
		p->closing = 1;
		close_handles(p);
	}
}

/* Seals the frame in *buf (header and body, *len bytes) in place, growing
 * it by the tag. */
static int
seal_frame(struct peer *p, uint8_t **buf, size_t *len)
{
	size_t body = *len - FRAME_HDR_LEN;
	uint8_t *nb;

	if (body + SEAL_TAG_LEN > UINT32_MAX)
		return -EMSGSIZE;
	if ((nb = realloc(*buf, *len + SEAL_TAG_LEN)) == NULL)
		return -ENOMEM;
	*buf = nb;
	frame_put_header(nb, body + SEAL_TAG_LEN, FRAME_SEALED);
	*len += SEAL_TAG_LEN;
	return seal_encrypt(&p->tx, nb, FRAME_HDR_LEN, nb + FRAME_HDR_LEN, body,
	    nb + FRAME_HDR_LEN + body);
}

/* Queues a frame, sealed after the handshake; bounded unless force (the
 * final error frame). */
static int
send_env(struct peer *p, const codec_env_t *env, int force)
{
	struct wreq *w;
	uv_buf_t b;
	size_t len;
	uint8_t *buf;
	int rc;

	if (p->write_dead)
		return -EPIPE;
	if ((rc = codec_encode_frame(env, &buf, &len)) != 0)
		return rc;
	if (p->sealed && (rc = seal_frame(p, &buf, &len)) != 0) {
		free(buf);
		return rc;
	}
	if (!force && p->queued + len > p->cfg.max_queue) {
		free(buf);
		peer_close(p, 0, NULL);
		snprintf(p->reason, sizeof(p->reason),
		    "stalled: more than %zu bytes waiting to be written",
		    p->cfg.max_queue);
		return -ENOBUFS;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		free(buf);
		return -ENOMEM;
	}
	w->p = p;
	w->buf = buf;
	w->len = len;
	b = uv_buf_init((char *)buf, (unsigned)len);
	if ((rc = uv_write(&w->req, p->stream, &b, 1, on_write)) != 0) {
		free(buf);
		free(w);
		return rc;
	}
	p->queued += len;
	if (log_is_debug())
		log_debug("%s: sent %s (%zu bytes)", p->name,
		    codec_type_name(env->type), len);
	return 0;
}

uint64_t
peer_bytes_sent(const struct peer *p)
{
	return p->sent;
}

int
peer_send(struct peer *p, const codec_env_t *env)
{
	if (p->closing)
		return -ESHUTDOWN;
	return send_env(p, env, 0);
}

int
peer_send_inventory(struct peer *p, const uint8_t (*hashes)[HASH_LEN], size_t n)
{
	static ProtobufCBinaryData v[CODEC_INVENTORY_PAGE];
	size_t off = 0;
	int rc;

	do {
		codec_env_t env;
		Printredir__DriverInventory inv = PRINTREDIR__DRIVER_INVENTORY__INIT;
		size_t k = n - off < CODEC_INVENTORY_PAGE ? n - off : CODEC_INVENTORY_PAGE;

		for (size_t i = 0; i < k; i++) {
			v[i].data = (uint8_t *)hashes[off + i];
			v[i].len = HASH_LEN;
		}
		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_DRIVER_INVENTORY);
		env.driver_inventory = &inv;
		inv.n_hashes = k;
		inv.hashes = v;
		inv.has_last = 1;
		inv.last = off + k == n;
		rc = peer_send(p, &env);
		off += k;
	} while (rc == 0 && off < n);
	return rc;
}

static int
auth_send(void *arg, const codec_env_t *env)
{
	return send_env(arg, env, 0);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	struct peer *p = req->data;

	(void)status;
	free(req);
	close_handles(p);
}

static void
on_close_grace(uv_timer_t *t)
{
	close_handles(t->data);
}

void
peer_close(struct peer *p, int code, const char *msg)
{
	uv_shutdown_t *req;

	if (p->closing)
		return;
	p->closing = 1;
	/* After a failed write, what the peer said (its Error frame) is the
	 * reason; without it, the failed write is. */
	if (!p->write_dead || (msg && strncmp(msg, "peer closed", 11) == 0))
		snprintf(p->reason, sizeof(p->reason), "%s", msg ? msg : "closed");
	uv_read_stop(p->stream);
	uv_timer_stop(&p->timer);
	if (p->write_dead) {
		close_handles(p);
		return;
	}
	if (code != 0) {
		codec_env_t env;
		Printredir__Error e = PRINTREDIR__ERROR__INIT;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_ERROR);
		env.error = &e;
		e.has_code = 1;
		e.code = code;
		e.message = (char *)(msg ? msg : "");
		(void)send_env(p, &env, 1);
	}
	/* Let queued frames (the error above) drain, but not forever. */
	req = malloc(sizeof(*req));
	if (req != NULL) {
		req->data = p;
		if (uv_shutdown(req, p->stream, on_shutdown) == 0) {
			uv_timer_start(&p->timer, on_close_grace, CLOSE_GRACE_MS, 0);
			return;
		}
		free(req);
	}
	close_handles(p);
}

static void
on_timer(uv_timer_t *t)
{
	struct peer *p = t->data;
	uint64_t now = uv_now(t->loop);

	if (!p->ready) {
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_TIMEOUT,
		    "handshake timed out");
		return;
	}
	if (now - p->last_rx >= 3ull * p->cfg.heartbeat_ms) {
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_TIMEOUT,
		    "peer silent for 3 heartbeats");
		return;
	}

	codec_env_t env;
	Printredir__Heartbeat hb = PRINTREDIR__HEARTBEAT__INIT;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HEARTBEAT);
	env.heartbeat = &hb;
	hb.has_seq = 1;
	hb.seq = ++p->hb_seq;
	(void)peer_send(p, &env);
}

static int handle_frame(struct peer *p, const uint8_t *body, size_t len);

/*
 * Opens a sealed body into *plain (malloc, *plainlen bytes).  0, or a
 * negative errno with why in err: a frame that does not open was altered,
 * cut, reordered or replayed on the way, or sealed with another key.
 */
static int
open_frame(struct peer *p, const uint8_t *body, size_t len, uint8_t **plain,
    size_t *plainlen, char *err, size_t errlen)
{
	uint8_t hdr[FRAME_HDR_LEN];
	uint64_t seq = p->rx.seq;
	int rc;

	*plain = NULL;
	if (!(p->rd.flags & FRAME_SEALED) || len < SEAL_TAG_LEN) {
		snprintf(err, errlen, "a %s frame after the handshake",
		    p->rd.flags & FRAME_SEALED ? "cut" : "plain");
		return -EBADMSG;
	}
	*plainlen = len - SEAL_TAG_LEN;
	if ((*plain = malloc(*plainlen ? *plainlen : 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(*plain, body, *plainlen);
	frame_put_header(hdr, len, p->rd.flags);
	rc = seal_decrypt(&p->rx, hdr, sizeof(hdr), *plain, *plainlen, body + *plainlen);
	if (rc != 0) {
		snprintf(err, errlen, "sealed frame %llu does not open: altered, "
		    "reordered or replayed on the way", (unsigned long long)seq);
		free(*plain);
		*plain = NULL;
	}
	return rc;
}

static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	struct peer *p = arg;
	uint8_t *plain = NULL;
	char err[256];
	int rc;

	if (p->sealed) {
		if ((rc = open_frame(p, body, len, &plain, &len, err, sizeof(err))) != 0) {
			log_warnx("%s: %s; closing the connection, nothing of it is "
			    "acted on", p->name, err);
			peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err);
			return -EBADMSG;
		}
		body = plain;
	} else if (p->rd.flags != 0) {
		snprintf(err, sizeof(err), "a sealed frame before the handshake");
		log_warnx("%s: %s", p->name, err);
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err);
		return -EBADMSG;
	}
	rc = handle_frame(p, body, len);
	free(plain);
	return rc;
}

static int
handle_frame(struct peer *p, const uint8_t *body, size_t len)
{
	codec_env_t *env = NULL;
	char err[256], sample[96];
	int rc;

	rc = codec_decode(body, len, CODEC_BUDGET(len), &env);
	if (rc == 0)
		rc = codec_validate(env, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", rc == -ENOMEM ?
		    "message needs more memory than its size allows" :
		    "message does not decode");
	if (rc != 0) {
		log_warnx("%s: bad frame of %zu bytes: %s (starts \"%s\")", p->name,
		    len, err, log_sample(body, len < 24 ? len : 24, sample,
		    sizeof(sample)));
		codec_free(env);
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err);
		return -EBADMSG;
	}
	if (log_is_debug())
		log_debug("%s: received %s (%zu bytes)", p->name,
		    codec_type_name(env->type), len + FRAME_HDR_LEN);
	p->last_rx = uv_now(p->stream->loop);

	if (!p->ready) {
		rc = auth_handle(&p->auth, env, auth_send, p, err, sizeof(err));
		if (rc < 0) {
			log_warnx("%s: %s", p->name, err);
			codec_free(env);
			peer_close(p, p->auth.error_code, err);
			return rc;
		}
		if (env->type == PRINTREDIR__MSG_TYPE__MSG_HELLO && p->hello == NULL) {
			p->hello = env;
			snprintf(p->name + strlen(p->name),
			    sizeof(p->name) - strlen(p->name), " (%s)", p->auth.peer_id);
		} else {
			codec_free(env);
		}
		if (rc == 1) {
			/* Every frame from now on is sealed, both ways. */
			if ((rc = auth_session_keys(&p->auth, &p->tx, &p->rx)) != 0) {
				peer_close(p, PRINTREDIR__ERROR_CODE__ERR_INTERNAL,
				    "cannot derive the session keys");
				return rc;
			}
			p->sealed = 1;
			p->ready = 1;
			p->rd.cap = p->cfg.frame_cap;
			uv_timer_start(&p->timer, on_timer, p->cfg.heartbeat_ms,
			    p->cfg.heartbeat_ms);
			if (p->ops->on_ready)
				p->ops->on_ready(p, p->data);
		}
		return p->closing ? -ESHUTDOWN : 0;
	}

	switch (env->type) {
	case PRINTREDIR__MSG_TYPE__MSG_HEARTBEAT:
		codec_free(env);
		return 0;
	case PRINTREDIR__MSG_TYPE__MSG_ERROR:
		snprintf(err, sizeof(err), "peer closed the connection: %s",
		    env->error->message ? env->error->message : "no reason given");
		codec_free(env);
		peer_close(p, 0, err);
		return -ESHUTDOWN;
	case PRINTREDIR__MSG_TYPE__MSG_HELLO:
	case PRINTREDIR__MSG_TYPE__MSG_AUTH_CHALLENGE:
	case PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE:
		snprintf(err, sizeof(err), "unexpected %s after the handshake",
		    codec_type_name(env->type));
		codec_free(env);
		peer_close(p, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err);
		return -EBADMSG;
	default:
		p->ops->on_message(p, env, p->data);
		return p->closing ? -ESHUTDOWN : 0;
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	buf->base = malloc(READ_CHUNK);
	buf->len = buf->base ? READ_CHUNK : 0;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct peer *p = s->data;
	char err[256];
	int rc;

	if (nread < 0) {
		peer_close(p, 0, nread == UV_EOF ? "connection closed by peer" :
		    uv_strerror((int)nread));
	} else if (nread > 0 && !p->closing) {
		rc = frame_reader_feed(&p->rd, buf->base, (size_t)nread, on_frame,
		    p, err, sizeof(err));
		if (rc == -EMSGSIZE || rc == -EBADMSG || rc == -ENOMEM) {
			if (!p->closing) {
				log_warnx("%s: %s", p->name, err);
				peer_close(p, rc == -EMSGSIZE ?
				    PRINTREDIR__ERROR_CODE__ERR_TOO_LARGE :
				    PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err);
			}
		}
	}
	/* nread == 0 is EAGAIN, not end of file. */
	free(buf->base);
}

struct peer *
peer_new(uv_stream_t *stream, const struct peer_config *cfg,
    const struct peer_ops *ops, void *data)
{
	struct peer *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		stream->data = NULL;
		uv_close((uv_handle_t *)stream, (uv_close_cb)free);
		return NULL;
	}
	p->stream = stream;
	p->cfg = *cfg;
	p->cfg.name = NULL;
	if (p->cfg.frame_cap == 0)
		p->cfg.frame_cap = FRAME_DEFAULT_CAP;
	if (p->cfg.max_queue == 0)
		p->cfg.max_queue = PEER_DEFAULT_QUEUE;
	if (p->cfg.handshake_ms == 0)
		p->cfg.handshake_ms = PEER_HANDSHAKE_MS;
	if (p->cfg.heartbeat_ms == 0)
		p->cfg.heartbeat_ms = PEER_HEARTBEAT_MS;
	snprintf(p->name, sizeof(p->name), "%s", cfg->name ? cfg->name : "peer");
	p->ops = ops;
	p->data = data;
	stream->data = p;
	p->handles = 2;
	uv_timer_init(stream->loop, &p->timer);
	p->timer.data = p;
	frame_reader_init(&p->rd, PEER_PREAUTH_CAP < p->cfg.frame_cap ?
	    PEER_PREAUTH_CAP : p->cfg.frame_cap);
	p->last_rx = uv_now(stream->loop);

	uv_timer_start(&p->timer, on_timer, p->cfg.handshake_ms, 0);
	if ((rc = uv_read_start(stream, on_alloc, on_read)) != 0 ||
	    (rc = auth_start(&p->auth, &cfg->auth, auth_send, p)) != 0) {
		snprintf(p->reason, sizeof(p->reason), "could not start: %s",
		    rc == -EINVAL ? "bad key or id" : strerror(-rc));
		p->closing = 1;
		close_handles(p);
		/* The owner still hears of it through on_close. */
	}
	return p;
}

void
peer_watch_close(struct peer *p, void (*fn)(void *arg), void *arg)
{
	p->closed = fn;
	p->closed_arg = arg;
}

int
peer_is_ready(const struct peer *p)
{
	return p->ready && !p->closing;
}

const char *
peer_id(const struct peer *p)
{
	return p->auth.peer_id;
}

const Printredir__Hello *
peer_hello(const struct peer *p)
{
	return p->hello ? p->hello->hello : NULL;
}

const char *
peer_name(const struct peer *p)
{
	return p->name;
}

void *
peer_data(const struct peer *p)
{
	return p->data;
}
