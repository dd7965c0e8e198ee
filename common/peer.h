/*
 * A connection to the other side on a libuv stream: framing, the envelope
 * codec, the handshake, then every frame sealed both ways (common/seal.h),
 * heartbeats and a bounded write queue.  Both daemons
 * use it for every guest/broker connection.
 *
 * Lifetime: peer_new takes ownership of the stream.  The peer frees itself
 * (and the stream) after it is closed, by the peer or by peer_close; the
 * owner learns it through ops->on_close and must forget the pointer there.
 */
#ifndef PRINTREDIR_PEER_H
#define PRINTREDIR_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "codec.h"

#define PEER_HANDSHAKE_MS 10000
#define PEER_HEARTBEAT_MS 5000		/* idle timeout is 3 heartbeats */
#define PEER_PREAUTH_CAP (64 * 1024)	/* frame cap before the handshake */
#define PEER_DEFAULT_QUEUE ((size_t)64 << 20)

struct peer;

struct peer_ops {
	/* The handshake succeeded.  Optional. */
	void (*on_ready)(struct peer *p, void *data);
	/* A validated message after the handshake (heartbeats are consumed by
	 * the peer).  The callee owns env and frees it with codec_free. */
	void (*on_message)(struct peer *p, codec_env_t *env, void *data);
	/* The peer is gone; reason says why.  Called once, just before the peer
	 * is freed.  Required. */
	void (*on_close)(struct peer *p, const char *reason, void *data);
};

struct peer_config {
	struct auth_params auth;	/* copied; what it points to is borrowed */
	size_t frame_cap;		/* 0 = FRAME_DEFAULT_CAP */
	size_t max_queue;		/* bytes queued for writing; 0 = default */
	unsigned handshake_ms;		/* 0 = PEER_HANDSHAKE_MS */
	unsigned heartbeat_ms;		/* 0 = PEER_HEARTBEAT_MS */
	const char *name;		/* for logs, e.g. "guest unix:/run/x"; copied */
};

/*
 * Wraps stream (an initialized, connected uv_stream_t allocated with
 * malloc; ownership passes to the peer in every case) and starts the
 * handshake.  Returns the peer, or NULL when it could not start (the stream
 * is then closed and freed).
 */
struct peer *peer_new(uv_stream_t *stream, const struct peer_config *cfg,
    const struct peer_ops *ops, void *data);

/*
 * Queues env for sending.  Returns 0, -ESHUTDOWN when the peer is closing,
 * or -ENOBUFS when the write queue is over its bound: the peer is then
 * closed as stalled, alone.
 */
int peer_send(struct peer *p, const codec_env_t *env);

/*
 * Agent: announces the drivers it holds (hashes[0..n-1], borrowed), in
 * pages of CODEC_INVENTORY_PAGE, the last one marked; n may be 0.  Call it
 * once, from on_ready: the broker sends its first set after the last page.
 * Returns 0 or peer_send's error.
 */
int peer_send_inventory(struct peer *p, const uint8_t (*hashes)[HASH_LEN], size_t n);

/*
 * Closes the peer.  With code non-zero (a Printredir__ErrorCode) an error
 * frame with msg is sent first.  Safe to call more than once.
 */
void peer_close(struct peer *p, int code, const char *msg);

/*
 * Also calls fn(arg) when the peer is gone, after ops->on_close: for a
 * second party that must know (the broker's channel that connected it).
 * One watcher; NULL fn removes it.
 */
void peer_watch_close(struct peer *p, void (*fn)(void *arg), void *arg);

int peer_is_ready(const struct peer *p);
/* Bytes written to the stream so far, every frame whole (headers, seals,
 * the handshake and heartbeats included): what the other side was sent. */
uint64_t peer_bytes_sent(const struct peer *p);
/* The peer's id from its Hello ("" before it arrived). */
const char *peer_id(const struct peer *p);
/* The peer's Hello, owned by the peer; NULL before it arrived. */
const Printredir__Hello *peer_hello(const struct peer *p);
const char *peer_name(const struct peer *p);
void *peer_data(const struct peer *p);

#endif
