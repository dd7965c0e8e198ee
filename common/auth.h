/*
 * The handshake: version and capability exchange, then mutual proof of a
 * pre-shared key.  It is a pure state machine over envelopes (no I/O), driven
 * by common/peer.c and tested on its own.
 *
 *   agent                                   broker
 *     Hello(versions, id, caps, hashes)  ->
 *                                        <-  Hello(versions, id, caps)
 *                                        <-  AuthChallenge(Nb)
 *     AuthResponse(Na, HMAC(K, "agent"  | Nb | Na | agent id)) ->
 *                                        <-  AuthResponse(HMAC(K, "broker" | Na | Nb | agent id))
 *
 * Both nonces are fresh random 32-byte values, so a response recorded from
 * one session proves nothing in another, and the role labels keep one side's
 * proof from being reflected as the other's.  MACs are compared in constant
 * time.
 *
 * K is the guest's own key: the broker holds a master key and derives each
 * guest's from it and the id the guest claims (auth_guest_key), so the broker
 * stores nothing per guest and a guest's key proves only its own id.
 */
#ifndef PRINTREDIR_AUTH_H
#define PRINTREDIR_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "hash.h"

#define AUTH_KEY_MIN 16		/* bytes; shorter keys are refused */
#define AUTH_KEY_MAX 1024
#define AUTH_GUEST_KEY_LEN (2 * HASH_LEN)	/* a guest key: hex text */

enum auth_role { AUTH_AGENT = 1, AUTH_BROKER = 2 };

struct auth_params {
	enum auth_role role;
	const uint8_t *key;		/* the agent's own key, the broker's
					 * master key; copied by auth_start */
	size_t keylen;
	const char *id;			/* our id: guest id or broker name */
	uint32_t min_version, max_version; /* 0, 0 = this build's own */
	const char *const *caps;	/* borrowed, may be NULL when ncaps is 0 */
	size_t ncaps;
	const uint8_t (*hashes)[HASH_LEN]; /* agent: drivers it holds; borrowed */
	size_t nhashes;
};

enum auth_state {
	AUTH_WAIT_HELLO = 1,		/* both: waiting for the peer's Hello */
	AUTH_WAIT_CHALLENGE,		/* agent */
	AUTH_WAIT_RESPONSE,		/* broker: waiting for the agent's proof */
	AUTH_WAIT_PROOF,		/* agent: waiting for the broker's proof */
	AUTH_DONE,
	AUTH_FAILED,
};

struct auth {
	struct auth_params p;
	enum auth_state state;
	uint32_t version;		/* negotiated */
	uint8_t nonce[CODEC_NONCE_LEN];	/* ours */
	uint8_t peer_nonce[CODEC_NONCE_LEN];
	char peer_id[CODEC_MAX_NAME + 1];
	int error_code;			/* Printredir__ErrorCode for the error frame */
	uint8_t key[AUTH_KEY_MAX];	/* the guest's key both sides prove (the
					 * broker's master until the Hello) */
	size_t keylen;
};

/* Sends one envelope; returns 0 or a negative errno. */
typedef int (*auth_send_fn)(void *arg, const codec_env_t *env);

/*
 * Starts a handshake.  The agent's Hello is sent at once; the broker waits.
 * Returns 0 or -EINVAL (key too short or too long, no id).
 */
int auth_start(struct auth *a, const struct auth_params *p, auth_send_fn send,
    void *arg);

/*
 * Feeds one validated envelope received during the handshake.  Returns 0
 * while the handshake goes on, 1 when it has completed (a->version and
 * a->peer_id are set), or a negative errno with the reason in err and the
 * code to send in a->error_code; the connection must then be closed.
 */
int auth_handle(struct auth *a, const codec_env_t *in, auth_send_fn send,
    void *arg, char *err, size_t errlen);

/*
 * The key of guest id under the broker's master key (len bytes): the hex
 * text of HMAC-SHA256(master, "printredir guest key v1" NUL id), which is
 * what `host-broker keygen` writes to the guest's key file.  out gets
 * AUTH_GUEST_KEY_LEN characters and a NUL.  Returns 0 or a negative errno.
 */
int auth_guest_key(const uint8_t *master, size_t len, const char *id,
    char out[AUTH_GUEST_KEY_LEN + 1]);

/*
 * Reads a pre-shared key file: its bytes, less one trailing newline, are the
 * key.  Refuses a file that is not a regular file, that others can read or
 * write (mode & 077, "chmod 600 FILE"), or whose key is shorter than
 * AUTH_KEY_MIN or longer than AUTH_KEY_MAX bytes.  On success *key (owned by
 * the caller, free()) and *keylen are set.  Returns 0 or a negative errno
 * with the reason in err.
 */
int auth_load_key(const char *path, uint8_t **key, size_t *keylen, char *err,
    size_t errlen);

#endif
