/*
 * The handshake: version and capability exchange, then mutual proof of a
 * pre-shared key.  It is a pure state machine over envelopes (no I/O), driven
 * by common/peer.c and tested on its own.
 *
 *   agent                                   broker
 *     Hello(versions, id, caps)          ->
 *                                        <-  AuthChallenge(Nb)
 *     AuthResponse(Na, HMAC(K, "agent"  | Nb | Na | agent id)) ->
 *                                        <-  Hello(versions, id, caps)
 *                                        <-  AuthResponse(HMAC(K, "broker" | Na | Nb | agent id))
 *
 * The broker says nothing about itself (name, software) before the agent
 * has proved its key.  Then both derive one key per direction
 * (auth_session_keys) and every later frame is sealed (common/seal.h).
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
#include <sys/types.h>
#include <stdint.h>

#include "codec.h"
#include "hash.h"
#include "seal.h"

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
};

enum auth_state {
	AUTH_WAIT_HELLO = 1,		/* broker: waiting for the agent's Hello */
	AUTH_WAIT_CHALLENGE,		/* agent */
	AUTH_WAIT_RESPONSE,		/* broker: waiting for the agent's proof */
	AUTH_WAIT_PROOF,		/* agent: the broker's Hello and proof */
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
 * Starts a handshake (p and what it points to are copied).  The agent's
 * Hello is sent at once; the broker waits.
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
 * After the handshake (state AUTH_DONE): this side's sending (tx) and
 * receiving (rx) keys, HKDF-SHA256 over the guest's key with both nonces as
 * salt and the label, both ids and the version as info; sequence numbers
 * start at 0.  Returns 0, -EINVAL before the handshake is done, or -EIO.
 */
int auth_session_keys(const struct auth *a, struct seal_key *tx, struct seal_key *rx);

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
 * key.  Refuses a file that is not a regular file, that belongs to neither
 * root nor the caller's user, that others can read or write (mode & 077;
 * group read is allowed when the file's group is the caller's own, as for
 * root:_printredir 0640 read by a broker running as _printredir), or whose
 * key is shorter than AUTH_KEY_MIN or longer than AUTH_KEY_MAX bytes.  On
 * success *key (owned by the caller, free()) and *keylen are set.  Returns
 * 0 or a negative errno (-ENOENT when there is no such file) with the reason
 * and the fix in err.
 */
int auth_load_key(const char *path, uint8_t **key, size_t *keylen, char *err,
    size_t errlen);

/*
 * As auth_load_key(), with reader instead of the caller's group as the one
 * group that may read the file besides its owner, or AUTH_GID_ANY for any
 * group (never others, and nobody but the owner may write): for root's
 * `host-broker keygen` beside a broker that runs as its own user and reads
 * the key through its group, which the broker itself checks.
 */
#define AUTH_GID_ANY ((gid_t)-1)
int auth_load_key_as(const char *path, gid_t reader, uint8_t **key,
    size_t *keylen, char *err, size_t errlen);

/*
 * The command that gives a key file at path (not NULL) the owner and mode
 * this process reads it with: "chmod 600 PATH" for root, "chown root:GROUP
 * PATH && chmod 640 PATH" for a daemon that runs as its own user.  Written to
 * out (len bytes, NUL-terminated, cut if short).
 */
void auth_key_advice(const char *path, char *out, size_t len);

#endif
