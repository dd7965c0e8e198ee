#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "statefile.h"
#include "version.h"

static const char label_agent[] = "printredir-v1 agent";
static const char label_broker[] = "printredir-v1 broker";
static const char label_session[] = "printredir v2 session";
static const char label_guest_key[] = "printredir guest key v1";

static int __attribute__((format(printf, 5, 6)))
fail(struct auth *a, int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	a->state = AUTH_FAILED;
	a->error_code = code;
	va_start(ap, fmt);
	verrf(err, errlen, fmt, ap);
	va_end(ap);
	return code == PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED ? -EACCES : -EPROTO;
}

/* HMAC(K, label | first | second | agent id). */
static int
proof(const struct auth *a, const char *label, const uint8_t *first,
    const uint8_t *second, const char *agent_id, uint8_t out[HASH_LEN])
{
	struct hash_part parts[] = {
		{ label, strlen(label) + 1 },
		{ first, CODEC_NONCE_LEN },
		{ second, CODEC_NONCE_LEN },
		{ agent_id, strlen(agent_id) },
	};

	return hash_hmac(a->key, a->keylen, parts, 4, out);
}

int
auth_guest_key(const uint8_t *master, size_t len, const char *id,
    char out[AUTH_GUEST_KEY_LEN + 1])
{
	struct hash_part parts[] = {
		{ label_guest_key, sizeof(label_guest_key) },
		{ id, strlen(id) },
	};
	uint8_t mac[HASH_LEN];
	int rc;

	if ((rc = hash_hmac(master, len, parts, 2, mac)) != 0)
		return rc;
	hash_hex(mac, out);
	return 0;
}

static int
send_hello(struct auth *a, auth_send_fn send, void *arg)
{
	codec_env_t env;
	Printredir__Hello hello = PRINTREDIR__HELLO__INIT;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HELLO);
	env.hello = &hello;
	hello.has_version = hello.has_min_version = 1;
	hello.version = a->p.max_version;
	hello.min_version = a->p.min_version;
	hello.has_role = 1;
	hello.role = a->p.role == AUTH_AGENT ? PRINTREDIR__ROLE__ROLE_AGENT :
	    PRINTREDIR__ROLE__ROLE_BROKER;
	hello.peer_id = (char *)a->p.id;
	hello.software = (char *)"printredir " PRINTREDIR_VERSION;
	hello.n_capabilities = a->p.ncaps;
	hello.capabilities = (char **)a->p.caps;
	return send(arg, &env);
}

int
auth_start(struct auth *a, const struct auth_params *p, auth_send_fn send,
    void *arg)
{
	memset(a, 0, sizeof(*a));
	a->p = *p;
	if (a->p.min_version == 0)
		a->p.min_version = PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION;
	if (a->p.max_version == 0)
		a->p.max_version = PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION;
	if (p->key == NULL || p->keylen < AUTH_KEY_MIN || p->keylen > AUTH_KEY_MAX ||
	    p->id == NULL || *p->id == '\0' || strlen(p->id) > CODEC_MAX_NAME)
		return -EINVAL;
	a->state = AUTH_WAIT_HELLO;
	/* Ours from here on: the caller may change its key (SIGHUP) at once.
	 * The broker's turns into the guest's key at the agent's Hello. */
	memcpy(a->key, p->key, p->keylen);
	a->keylen = p->keylen;
	a->p.key = NULL;
	if (hash_random(a->nonce, sizeof(a->nonce)) != 0)
		return -EIO;
	if (a->p.role == AUTH_AGENT) {
		a->state = AUTH_WAIT_CHALLENGE;
		return send_hello(a, send, arg);
	}
	return 0;
}

/* The peer's Hello: its role, the version both speak, its id. */
static int
on_hello(struct auth *a, const Printredir__Hello *h, char *err, size_t errlen)
{
	Printredir__Role want = a->p.role == AUTH_AGENT ?
	    PRINTREDIR__ROLE__ROLE_BROKER : PRINTREDIR__ROLE__ROLE_AGENT;
	uint32_t lo, hi;

	if (h->role != want)
		return fail(a, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err, errlen,
		    "peer \"%s\" is not %s", h->peer_id,
		    want == PRINTREDIR__ROLE__ROLE_BROKER ? "a broker" : "an agent");
	lo = h->min_version > a->p.min_version ? h->min_version : a->p.min_version;
	hi = h->version < a->p.max_version ? h->version : a->p.max_version;
	if (lo > hi)
		return fail(a, PRINTREDIR__ERROR_CODE__ERR_UNSUPPORTED_VERSION, err,
		    errlen, "unsupported protocol version: peer \"%s\" speaks %u..%u, "
		    "we speak %u..%u; upgrade the older side", h->peer_id,
		    h->min_version, h->version, a->p.min_version, a->p.max_version);
	a->version = hi;
	snprintf(a->peer_id, sizeof(a->peer_id), "%s", h->peer_id);
	return 0;
}

/* Broker: the agent's Hello.  Nothing about the broker goes out before the
 * agent has proved its key: only a challenge. */
static int
on_agent_hello(struct auth *a, const Printredir__Hello *h, auth_send_fn send,
    void *arg, char *err, size_t errlen)
{
	char gk[AUTH_GUEST_KEY_LEN + 1];
	codec_env_t env;
	Printredir__AuthChallenge ch = PRINTREDIR__AUTH_CHALLENGE__INIT;
	int rc;

	if ((rc = on_hello(a, h, err, errlen)) != 0)
		return rc;
	rc = auth_guest_key(a->key, a->keylen, a->peer_id, gk);
	memcpy(a->key, gk, AUTH_GUEST_KEY_LEN);
	a->keylen = AUTH_GUEST_KEY_LEN;
	explicit_bzero(gk, sizeof(gk));
	if (rc != 0)
		return rc;
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_AUTH_CHALLENGE);
	env.auth_challenge = &ch;
	ch.has_nonce = 1;
	ch.nonce.data = a->nonce;
	ch.nonce.len = sizeof(a->nonce);
	if ((rc = send(arg, &env)) != 0)
		return rc;
	a->state = AUTH_WAIT_RESPONSE;
	return 0;
}

static int
send_response(auth_send_fn send, void *arg, const uint8_t *nonce,
    const uint8_t mac[HASH_LEN])
{
	codec_env_t env;
	Printredir__AuthResponse r = PRINTREDIR__AUTH_RESPONSE__INIT;

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE);
	env.auth_response = &r;
	if (nonce != NULL) {
		r.has_nonce = 1;
		r.nonce.data = (uint8_t *)nonce;
		r.nonce.len = CODEC_NONCE_LEN;
	}
	r.has_mac = 1;
	r.mac.data = (uint8_t *)mac;
	r.mac.len = HASH_LEN;
	return send(arg, &env);
}

int
auth_handle(struct auth *a, const codec_env_t *in, auth_send_fn send,
    void *arg, char *err, size_t errlen)
{
	uint8_t mac[HASH_LEN];
	int rc;

	if (in->type == PRINTREDIR__MSG_TYPE__MSG_ERROR)
		return fail(a, 0, err, errlen, "peer refused us: %s",
		    in->error->message ? in->error->message : "no reason given");

	switch (a->state) {
	case AUTH_WAIT_HELLO:		/* broker */
		if (in->type != PRINTREDIR__MSG_TYPE__MSG_HELLO)
			break;
		return on_agent_hello(a, in->hello, send, arg, err, errlen);

	case AUTH_WAIT_CHALLENGE:	/* agent */
		if (in->type != PRINTREDIR__MSG_TYPE__MSG_AUTH_CHALLENGE)
			break;
		memcpy(a->peer_nonce, in->auth_challenge->nonce.data, CODEC_NONCE_LEN);
		if ((rc = proof(a, label_agent, a->peer_nonce, a->nonce, a->p.id, mac)) != 0 ||
		    (rc = send_response(send, arg, a->nonce, mac)) != 0)
			return rc;
		a->state = AUTH_WAIT_PROOF;
		return 0;

	case AUTH_WAIT_RESPONSE:	/* broker */
		if (in->type != PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE)
			break;
		if (!in->auth_response->has_nonce ||
		    in->auth_response->nonce.len != CODEC_NONCE_LEN)
			return fail(a, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err,
			    errlen, "auth response without a nonce");
		memcpy(a->peer_nonce, in->auth_response->nonce.data, CODEC_NONCE_LEN);
		if ((rc = proof(a, label_agent, a->nonce, a->peer_nonce, a->peer_id, mac)) != 0)
			return rc;
		if (!hash_equal(mac, in->auth_response->mac.data, HASH_LEN))
			return fail(a, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED, err,
			    errlen, "authentication failed: agent \"%s\" does not "
			    "hold its key (its key_file must be what `host-broker "
			    "keygen %s` writes)", a->peer_id, a->peer_id);
		/* Proved: now the broker says who it is, and proves it back. */
		if ((rc = send_hello(a, send, arg)) != 0 ||
		    (rc = proof(a, label_broker, a->peer_nonce, a->nonce, a->peer_id, mac)) != 0 ||
		    (rc = send_response(send, arg, NULL, mac)) != 0)
			return rc;
		a->state = AUTH_DONE;
		return 1;

	case AUTH_WAIT_PROOF:		/* agent: the broker's Hello, then its proof */
		if (in->type == PRINTREDIR__MSG_TYPE__MSG_HELLO && a->peer_id[0] == '\0')
			return on_hello(a, in->hello, err, errlen);
		if (in->type != PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE ||
		    a->peer_id[0] == '\0')
			break;
		if ((rc = proof(a, label_broker, a->nonce, a->peer_nonce, a->p.id, mac)) != 0)
			return rc;
		if (!hash_equal(mac, in->auth_response->mac.data, HASH_LEN))
			return fail(a, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED, err,
			    errlen, "authentication failed: broker \"%s\" does not "
			    "hold our key (check key_file on both sides)", a->peer_id);
		a->state = AUTH_DONE;
		return 1;

	case AUTH_DONE:
	case AUTH_FAILED:
		break;
	}
	return fail(a, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL, err, errlen,
	    "unexpected %s message during the handshake", codec_type_name(in->type));
}

int
auth_session_keys(const struct auth *a, struct seal_key *tx, struct seal_key *rx)
{
	const uint8_t *na, *nb;
	const char *agent_id, *broker_id;
	uint8_t salt[2 * CODEC_NONCE_LEN], okm[2 * SEAL_KEY_LEN];
	uint8_t info[sizeof(label_session) + 2 * (CODEC_MAX_NAME + 1) + 4];
	size_t o = 0;
	int rc, agent = a->p.role == AUTH_AGENT;

	if (a->state != AUTH_DONE)
		return -EINVAL;
	na = agent ? a->nonce : a->peer_nonce;
	nb = agent ? a->peer_nonce : a->nonce;
	agent_id = agent ? a->p.id : a->peer_id;
	broker_id = agent ? a->peer_id : a->p.id;
	memcpy(salt, na, CODEC_NONCE_LEN);
	memcpy(salt + CODEC_NONCE_LEN, nb, CODEC_NONCE_LEN);
	/* label NUL agent id NUL broker id NUL version (u32 BE) */
	memcpy(info, label_session, sizeof(label_session));
	o = sizeof(label_session);
	o += (size_t)snprintf((char *)info + o, sizeof(info) - o, "%s", agent_id) + 1;
	o += (size_t)snprintf((char *)info + o, sizeof(info) - o, "%s", broker_id) + 1;
	for (int i = 0; i < 4; i++)
		info[o++] = (uint8_t)(a->version >> (24 - 8 * i));
	/* The first half seals agent -> broker, the second broker -> agent. */
	rc = seal_hkdf(a->key, a->keylen, salt, sizeof(salt), info, o, okm, sizeof(okm));
	if (rc == 0) {
		memset(tx, 0, sizeof(*tx));
		memset(rx, 0, sizeof(*rx));
		memcpy(tx->key, okm + (agent ? 0 : SEAL_KEY_LEN), SEAL_KEY_LEN);
		memcpy(rx->key, okm + (agent ? SEAL_KEY_LEN : 0), SEAL_KEY_LEN);
	}
	explicit_bzero(okm, sizeof(okm));
	return rc;
}

void
auth_key_advice(const char *path, char *out, size_t len)
{
	const struct group *gr;

	if (geteuid() == 0 || (gr = getgrgid(getegid())) == NULL)
		snprintf(out, len, "chmod 600 %s", path);
	else
		snprintf(out, len, "chown root:%s %s && chmod 640 %s", gr->gr_name,
		    path, path);
}

int
auth_load_key(const char *path, uint8_t **key, size_t *keylen, char *err,
    size_t errlen)
{
	return auth_load_key_as(path, getegid(), key, keylen, err, errlen);
}

int
auth_load_key_as(const char *path, gid_t reader, uint8_t **key, size_t *keylen,
    char *err, size_t errlen)
{
	struct stat st = { 0 };
	char *buf = NULL, fix[PATH_MAX * 2 + 64];
	size_t len = 0;
	mode_t open_bits;
	int rc;

	*key = NULL;
	auth_key_advice(path, fix, sizeof(fix));
	/* Owner and mode are checked on the file read, not on a path that
	 * may be swapped in between; a symbolic link is followed to it. */
	rc = statefile_read_st(path, AUTH_KEY_MAX + 2, &buf, &len, &st);
	/* Only the reader's group may read besides the owner: a daemon that
	 * runs as a system user reads root's key through its group. */
	open_bits = reader == AUTH_GID_ANY || st.st_gid == reader ? 037 : 077;
	if (rc == -EINVAL && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file", path);
	} else if (rc == 0 && (st.st_mode & open_bits)) {
		snprintf(err, errlen, "key file %s is open to other users (mode %04o); "
		    "run: %s", path, (unsigned)(st.st_mode & 07777), fix);
		rc = -EPERM;
	} else if (rc == 0 && st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "key file %s belongs to uid %u, neither root nor "
		    "this daemon's user; run: chown root %s", path,
		    (unsigned)st.st_uid, path);
		rc = -EPERM;
	} else if (rc == -EACCES) {
		snprintf(err, errlen, "key file %s: %s to uid %u; run: %s", path,
		    strerror(-rc), (unsigned)geteuid(), fix);
	} else if (rc != 0) {
		snprintf(err, errlen, "key file %s: %s", path,
		    rc == -EFBIG ? "longer than 1024 bytes" : strerror(-rc));
	}
	if (rc != 0) {
		free(buf);
		return rc;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len < AUTH_KEY_MIN || len > AUTH_KEY_MAX) {
		snprintf(err, errlen, "key file %s holds %zu bytes; a key is %d to %d "
		    "bytes (make one with: head -c 32 /dev/urandom | base64 > %s)",
		    path, len, AUTH_KEY_MIN, AUTH_KEY_MAX, path);
		free(buf);
		return -EINVAL;
	}
	*key = (uint8_t *)buf;
	*keylen = len;
	return 0;
}
