/* The handshake: the pure state machine (good key, wrong key, replay, wrong
 * version) and the same over real libuv streams (errors reach the other side
 * as error frames, silence times out). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "frame.h"
#include "peer.h"
#include "runner.h"

static const uint8_t key_good[] = "0123456789abcdef-shared-key";
static const uint8_t key_bad[] = "0123456789abcdef-wrong--key";

/* A mailbox: auth_send encodes envelopes here; the test delivers them. */
struct mailbox {
	uint8_t *msgs[8];
	size_t lens[8];
	int n;
};

static int
box_send(void *arg, const codec_env_t *env)
{
	struct mailbox *b = arg;
	uint8_t *frame;
	size_t len;

	ck_assert_int_lt(b->n, 8);
	ck_assert_int_eq(codec_encode_frame(env, &frame, &len), 0);
	b->msgs[b->n] = frame;
	b->lens[b->n] = len;
	b->n++;
	return 0;
}

static void
box_clear(struct mailbox *b)
{
	for (int i = 0; i < b->n; i++)
		free(b->msgs[i]);
	b->n = 0;
}

/* Delivers every message in from to a; returns auth_handle's last result. */
static int
deliver(struct mailbox *from, struct auth *a, struct mailbox *reply, char *err,
    size_t errlen)
{
	int rc = 0;

	for (int i = 0; i < from->n && rc == 0; i++) {
		codec_env_t *env = NULL;
		size_t blen = from->lens[i] - FRAME_HDR_LEN;

		ck_assert_int_eq(codec_decode(from->msgs[i] + FRAME_HDR_LEN, blen,
		    CODEC_BUDGET(blen), &env), 0);
		ck_assert_int_eq(codec_validate(env, err, errlen), 0);
		rc = auth_handle(a, env, box_send, reply, err, errlen);
		codec_free(env);
	}
	box_clear(from);
	return rc;
}

/* The broker holds the master key; an agent the key of its id under the
 * master key given (what `host-broker keygen ID` writes). */
static struct auth_params
params(enum auth_role role, const uint8_t *master, const char *id)
{
	static char keys[4][AUTH_GUEST_KEY_LEN + 1];
	static unsigned next;
	struct auth_params p = {
		.role = role, .key = master, .keylen = strlen((const char *)master),
		.id = id,
	};

	if (role == AUTH_AGENT) {
		char *k = keys[next++ % 4];

		ck_assert_int_eq(auth_guest_key(master, p.keylen, id, k), 0);
		p.key = (const uint8_t *)k;
		p.keylen = AUTH_GUEST_KEY_LEN;
	}
	return p;
}

START_TEST(guest_key_is_the_documented_derivation)
{
	char k[AUTH_GUEST_KEY_LEN + 1];

	/* openssl dgst -sha256 -hmac MASTER of "printredir guest key v1\0guest-1" */
	ck_assert_int_eq(auth_guest_key(key_good, strlen((const char *)key_good),
	    "guest-1", k), 0);
	ck_assert_str_eq(k, "5faa7c0659bb79c1e223601bb1b38f344d603df4fabf3c83790f5b673993546b");
}
END_TEST

/* Runs a whole handshake between pa and pb; returns the broker's verdict on
 * the agent's proof (1 done, or a negative errno). */
static int
broker_verdict(struct auth_params *pa, struct auth_params *pb, char *err,
    size_t errlen)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	int rc;

	ck_assert_int_eq(auth_start(&agent, pa, box_send, &to_broker), 0);
	ck_assert_int_eq(auth_start(&broker, pb, box_send, &to_agent), 0);
	deliver(&to_broker, &broker, &to_agent, err, errlen);
	deliver(&to_agent, &agent, &to_broker, err, errlen);
	rc = deliver(&to_broker, &broker, &to_agent, err, errlen);
	box_clear(&to_agent);
	return rc;
}

START_TEST(a_guest_key_proves_only_its_own_id)
{
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	char err[256] = "";

	ck_assert_int_eq(broker_verdict(&pa, &pb, err, sizeof(err)), 1);
	/* guest-1's key, claiming to be guest-2. */
	pa.id = "guest-2";
	ck_assert_int_eq(broker_verdict(&pa, &pb, err, sizeof(err)), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "agent \"guest-2\" does not hold its key"));
	ck_assert_ptr_nonnull(strstr(err, "host-broker keygen guest-2"));
	/* The master key itself is no guest's key. */
	pa.id = "guest-1";
	pa.key = key_good;
	pa.keylen = strlen((const char *)key_good);
	ck_assert_int_eq(broker_verdict(&pa, &pb, err, sizeof(err)), -EACCES);
}
END_TEST

START_TEST(good_key_completes_both_ways)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	char err[256] = "";

	ck_assert_int_eq(auth_start(&agent, &pa, box_send, &to_broker), 0);
	ck_assert_int_eq(auth_start(&broker, &pb, box_send, &to_agent), 0);
	ck_assert_int_eq(to_broker.n, 1);	/* the agent speaks first */
	ck_assert_int_eq(to_agent.n, 0);
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), 0);
	/* A challenge only: nothing about the broker before the agent's proof. */
	ck_assert_int_eq(to_agent.n, 1);
	ck_assert_ptr_null(memmem(to_agent.msgs[0], to_agent.lens[0], "host", 4));
	ck_assert_ptr_null(memmem(to_agent.msgs[0], to_agent.lens[0], "printredir", 10));
	ck_assert_int_eq(deliver(&to_agent, &agent, &to_broker, err, sizeof(err)), 0);
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), 1);
	ck_assert_int_eq(to_agent.n, 2);	/* then its hello and its proof */
	ck_assert_int_eq(deliver(&to_agent, &agent, &to_broker, err, sizeof(err)), 1);
	ck_assert_int_eq(agent.state, AUTH_DONE);
	ck_assert_int_eq(broker.state, AUTH_DONE);
	ck_assert_str_eq(broker.peer_id, "guest-1");
	ck_assert_str_eq(agent.peer_id, "host");
	ck_assert_uint_eq(agent.version, PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION);
}
END_TEST

START_TEST(wrong_key_is_refused_by_the_broker)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_bad, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	char err[256] = "";

	auth_start(&agent, &pa, box_send, &to_broker);
	auth_start(&broker, &pb, box_send, &to_agent);
	deliver(&to_broker, &broker, &to_agent, err, sizeof(err));
	deliver(&to_agent, &agent, &to_broker, err, sizeof(err));
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), -EACCES);
	ck_assert_int_eq(broker.error_code, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED);
	ck_assert_ptr_nonnull(strstr(err, "guest-1"));
	ck_assert_ptr_nonnull(strstr(err, "key_file"));
	ck_assert_int_eq(to_agent.n, 0);	/* no proof sent back */
}
END_TEST

START_TEST(broker_without_the_key_is_refused_by_the_agent)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_bad, "impostor");
	uint8_t mac[HASH_LEN];
	char err[256] = "";

	auth_start(&agent, &pa, box_send, &to_broker);
	auth_start(&broker, &pb, box_send, &to_agent);
	deliver(&to_broker, &broker, &to_agent, err, sizeof(err));
	deliver(&to_agent, &agent, &to_broker, err, sizeof(err));
	/* The impostor cannot verify the agent; it sends a hello and a
	 * made-up proof. */
	box_clear(&to_broker);
	memset(mac, 0x5a, sizeof(mac));
	{
		codec_env_t env;
		Printredir__Hello h = PRINTREDIR__HELLO__INIT;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HELLO);
		env.hello = &h;
		h.has_version = h.has_min_version = h.has_role = 1;
		h.version = h.min_version = PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION;
		h.role = PRINTREDIR__ROLE__ROLE_BROKER;
		h.peer_id = (char *)"impostor";
		box_send(&to_agent, &env);
	}
	{
		codec_env_t env;
		Printredir__AuthResponse r = PRINTREDIR__AUTH_RESPONSE__INIT;

		codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE);
		env.auth_response = &r;
		r.has_mac = 1;
		r.mac.data = mac;
		r.mac.len = HASH_LEN;
		box_send(&to_agent, &env);
	}
	ck_assert_int_eq(deliver(&to_agent, &agent, &to_broker, err, sizeof(err)), -EACCES);
	ck_assert_ptr_nonnull(strstr(err, "broker \"impostor\""));
}
END_TEST

START_TEST(replayed_response_is_refused)
{
	struct auth agent, broker, broker2;
	struct mailbox to_broker = { 0 }, to_agent = { 0 }, sink = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	struct mailbox recorded = { 0 };
	char err[256] = "";

	/* Session 1, recorded by an eavesdropper: the agent's hello and proof. */
	auth_start(&agent, &pa, box_send, &to_broker);
	auth_start(&broker, &pb, box_send, &to_agent);
	recorded.msgs[0] = malloc(to_broker.lens[0]);
	memcpy(recorded.msgs[0], to_broker.msgs[0], to_broker.lens[0]);
	recorded.lens[0] = to_broker.lens[0];
	deliver(&to_broker, &broker, &to_agent, err, sizeof(err));
	deliver(&to_agent, &agent, &to_broker, err, sizeof(err));
	recorded.msgs[1] = malloc(to_broker.lens[0]);
	memcpy(recorded.msgs[1], to_broker.msgs[0], to_broker.lens[0]);
	recorded.lens[1] = to_broker.lens[0];
	recorded.n = 2;
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), 1);
	box_clear(&to_agent);

	/* Session 2: the eavesdropper replays both messages to a broker.  The
	 * broker's fresh challenge makes the old proof worthless. */
	auth_start(&broker2, &pb, box_send, &sink);
	ck_assert_int_eq(deliver(&recorded, &broker2, &sink, err, sizeof(err)), -EACCES);
	ck_assert_int_eq(broker2.error_code, PRINTREDIR__ERROR_CODE__ERR_AUTH_FAILED);
	/* The broker answered the hello with a challenge and nothing more. */
	ck_assert_int_eq(sink.n, 1);
	box_clear(&sink);
}
END_TEST

START_TEST(wrong_version_is_refused_with_both_ranges)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	char err[256] = "";

	pa.min_version = 4;
	pa.max_version = 5;
	auth_start(&agent, &pa, box_send, &to_broker);
	auth_start(&broker, &pb, box_send, &to_agent);
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), -EPROTO);
	ck_assert_int_eq(broker.error_code, PRINTREDIR__ERROR_CODE__ERR_UNSUPPORTED_VERSION);
	ck_assert_ptr_nonnull(strstr(err, "speaks 4..5"));
	ck_assert_ptr_nonnull(strstr(err, "we speak 3..3"));
	ck_assert_int_eq(to_agent.n, 0);
}
END_TEST

/* Protocol 1 sent every frame in clear, and protocol 2 printed over IPP:
 * a peer that speaks only those gets an explicit "unsupported version",
 * never a session. */
START_TEST(a_version_1_peer_is_refused)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "old-guest");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	char err[256] = "";

	pa.min_version = 1;
	pa.max_version = 2;
	auth_start(&agent, &pa, box_send, &to_broker);
	auth_start(&broker, &pb, box_send, &to_agent);
	ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), -EPROTO);
	ck_assert_int_eq(broker.error_code, PRINTREDIR__ERROR_CODE__ERR_UNSUPPORTED_VERSION);
	ck_assert_ptr_nonnull(strstr(err, "\"old-guest\" speaks 1..2, we speak 3..3"));
}
END_TEST

/* Both sides derive the same keys, one per direction, and another session
 * (fresh nonces) derives others. */
START_TEST(session_keys_match_across_and_differ_by_direction)
{
	struct auth agent, broker;
	struct mailbox to_broker = { 0 }, to_agent = { 0 };
	struct auth_params pa = params(AUTH_AGENT, key_good, "guest-1");
	struct auth_params pb = params(AUTH_BROKER, key_good, "host");
	struct seal_key atx, arx, btx, brx, first;
	char err[256] = "";

	for (int session = 0; session < 2; session++) {
		auth_start(&agent, &pa, box_send, &to_broker);
		auth_start(&broker, &pb, box_send, &to_agent);
		ck_assert_int_eq(auth_session_keys(&agent, &atx, &arx), -EINVAL);
		deliver(&to_broker, &broker, &to_agent, err, sizeof(err));
		deliver(&to_agent, &agent, &to_broker, err, sizeof(err));
		ck_assert_int_eq(deliver(&to_broker, &broker, &to_agent, err, sizeof(err)), 1);
		ck_assert_int_eq(deliver(&to_agent, &agent, &to_broker, err, sizeof(err)), 1);
		ck_assert_int_eq(auth_session_keys(&agent, &atx, &arx), 0);
		ck_assert_int_eq(auth_session_keys(&broker, &btx, &brx), 0);
		ck_assert_mem_eq(atx.key, brx.key, SEAL_KEY_LEN);
		ck_assert_mem_eq(btx.key, arx.key, SEAL_KEY_LEN);
		ck_assert_mem_ne(atx.key, arx.key, SEAL_KEY_LEN);
		ck_assert_uint_eq(atx.seq, 0);
		if (session == 0)
			first = atx;
		else
			ck_assert_mem_ne(first.key, atx.key, SEAL_KEY_LEN);
	}
}
END_TEST

START_TEST(short_key_is_refused)
{
	struct auth a;
	struct mailbox box = { 0 };
	struct auth_params p = { .role = AUTH_AGENT, .key = (const uint8_t *)"short",
	    .keylen = 5, .id = "g" };

	ck_assert_int_eq(auth_start(&a, &p, box_send, &box), -EINVAL);
	ck_assert_int_eq(box.n, 0);
}
END_TEST

/* --- key files --------------------------------------------------------- */

/* Writes a key file of mode mode and group gid under a fresh folder. */
static void
key_file(char *path, size_t len, mode_t mode, gid_t gid)
{
	char dir[] = "/tmp/printredir-key.XXXXXX";
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, len, "%s/key", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("0123456789abcdef0123456789abcdef\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	ck_assert_int_eq(chown(path, (uid_t)-1, gid), 0);
}

static void
key_file_gone(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	unlink(path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

/* A daemon that runs as its own user reads root's key through its group
 * (root:_printredir 0640); no other group, and nobody through "others". */
START_TEST(key_file_group_read_only_by_the_readers_group)
{
	char path[PATH_MAX], err[512];
	uint8_t *key = NULL;
	size_t len = 0;
	gid_t other = getegid() == 0 ? 7 : 0;	/* lp, or root's */

	if (geteuid() != 0)
		return;	/* chown to another group needs root */
	key_file(path, sizeof(path), 0640, getegid());
	ck_assert_int_eq(auth_load_key(path, &key, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, 32);
	free(key);
	key_file_gone(path);

	key_file(path, sizeof(path), 0640, other);
	ck_assert_int_eq(auth_load_key(path, &key, &len, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "open to other users"));
	/* ...which root's keygen reads, beside a broker of that group. */
	ck_assert_int_eq(auth_load_key_as(path, AUTH_GID_ANY, &key, &len, err,
	    sizeof(err)), 0);
	free(key);
	key_file_gone(path);

	/* Others, or the group writing, never. */
	key_file(path, sizeof(path), 0644, getegid());
	ck_assert_int_eq(auth_load_key_as(path, AUTH_GID_ANY, &key, &len, err,
	    sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	key_file_gone(path);
	key_file(path, sizeof(path), 0660, getegid());
	ck_assert_int_eq(auth_load_key(path, &key, &len, err, sizeof(err)), -EPERM);
	key_file_gone(path);
}
END_TEST

START_TEST(missing_key_file_is_enoent)
{
	char err[512];
	uint8_t *key = NULL;
	size_t len = 0;

	ck_assert_int_eq(auth_load_key("/nonexistent/printredir/key", &key, &len, err,
	    sizeof(err)), -ENOENT);
	ck_assert_ptr_null(key);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/printredir/key"));
}
END_TEST

/* --- the same over libuv streams ------------------------------------- */

struct side {
	struct peer *p;
	int ready, closed;
	char reason[256];
	uint64_t sent;			/* peer_bytes_sent at its close */
};

static void
on_ready(struct peer *p, void *data)
{
	struct side *s = data;

	(void)p;
	s->ready = 1;
}

static void
on_message(struct peer *p, codec_env_t *env, void *data)
{
	(void)p;
	(void)data;
	codec_free(env);
}

static void
on_close(struct peer *p, const char *reason, void *data)
{
	struct side *s = data;

	s->closed = 1;
	s->sent = peer_bytes_sent(p);
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	s->p = NULL;
}

static const struct peer_ops ops = {
	.on_ready = on_ready, .on_message = on_message, .on_close = on_close,
};

static uv_stream_t *
open_pipe(uv_loop_t *loop, int fd)
{
	uv_pipe_t *pipe = malloc(sizeof(*pipe));

	ck_assert_int_eq(uv_pipe_init(loop, pipe, 0), 0);
	ck_assert_int_eq(uv_pipe_open(pipe, fd), 0);
	return (uv_stream_t *)pipe;
}

static void
stop_when_done(uv_timer_t *t)
{
	struct side *s = t->data;

	if ((s[0].ready && s[1].ready) || (s[0].closed && s[1].closed))
		uv_stop(t->loop);
}

static void
run_pair(const uint8_t *agent_key, const uint8_t *broker_key, struct side s[2])
{
	uv_loop_t loop;
	uv_timer_t t;
	int sv[2];
	struct peer_config ca = { .auth = params(AUTH_AGENT, agent_key, "guest-1"),
	    .name = "agent-side" };
	struct peer_config cb = { .auth = params(AUTH_BROKER, broker_key, "host"),
	    .name = "broker-side" };

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uv_loop_init(&loop);
	s[0].p = peer_new(open_pipe(&loop, sv[0]), &ca, &ops, &s[0]);
	s[1].p = peer_new(open_pipe(&loop, sv[1]), &cb, &ops, &s[1]);
	uv_timer_init(&loop, &t);
	t.data = s;
	uv_timer_start(&t, stop_when_done, 10, 10);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Tear down whatever is still open. */
	for (int i = 0; i < 2; i++)
		if (s[i].p)
			peer_close(s[i].p, 0, "test over");
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(stream_good_key)
{
	struct side s[2] = { 0 };

	run_pair(key_good, key_good, s);
	ck_assert(s[0].ready);
	ck_assert(s[1].ready);
	/* Hello, proof and a sealed frame or two each way: whole frames. */
	ck_assert_uint_gt(s[0].sent, 2 * FRAME_HDR_LEN);
	ck_assert_uint_gt(s[1].sent, 2 * FRAME_HDR_LEN);
}
END_TEST

START_TEST(stream_wrong_key_reaches_the_agent_as_an_error_frame)
{
	struct side s[2] = { 0 };

	runner_expect_log("authentication failed");
	runner_expect_log("peer refused us");
	run_pair(key_bad, key_good, s);
	ck_assert(!s[0].ready);
	ck_assert(!s[1].ready);
	ck_assert(s[1].closed);
	ck_assert_ptr_nonnull(strstr(s[1].reason, "does not hold its key"));
	/* The agent read the broker's error frame: its reason quotes it. */
	ck_assert_ptr_nonnull(strstr(s[0].reason, "peer refused us"));
	ck_assert_ptr_nonnull(strstr(s[0].reason, "key_file"));
}
END_TEST

static void
raw_read_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[4096];

	(void)h;
	(void)hint;
	*b = uv_buf_init(buf, sizeof(buf));
}

struct raw {
	uint8_t got[4096];
	size_t n;
	int eof;
};

static void
raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct raw *r = s->data;

	if (n < 0) {
		r->eof = 1;
		uv_close((uv_handle_t *)s, (uv_close_cb)free);
		return;
	}
	if (n > 0 && r->n + (size_t)n <= sizeof(r->got)) {
		memcpy(r->got + r->n, b->base, (size_t)n);
		r->n += (size_t)n;
	}
}

/* A client that connects and says nothing, or sends given bytes. */
static void
run_raw_client(const void *bytes, size_t len, unsigned handshake_ms,
    struct side *broker, struct raw *raw)
{
	uv_loop_t loop;
	int sv[2];
	struct peer_config cb = { .auth = params(AUTH_BROKER, key_good, "host"),
	    .name = "broker-side", .handshake_ms = handshake_ms };
	uv_stream_t *client;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (len)
		ck_assert_int_eq(write(sv[0], bytes, len), (ssize_t)len);
	uv_loop_init(&loop);
	broker->p = peer_new(open_pipe(&loop, sv[1]), &cb, &ops, broker);
	client = open_pipe(&loop, sv[0]);
	client->data = raw;
	uv_read_start(client, raw_read_alloc, raw_read);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* Decodes the first frame the raw client got; must be an error frame. */
static void
assert_error_frame(const struct raw *raw, int code)
{
	codec_env_t *env = NULL;
	size_t blen;

	ck_assert_uint_gt(raw->n, FRAME_HDR_LEN);
	blen = (size_t)raw->got[4] << 24 | (size_t)raw->got[5] << 16 |
	    (size_t)raw->got[6] << 8 | raw->got[7];
	ck_assert_uint_ge(raw->n, FRAME_HDR_LEN + blen);
	ck_assert_int_eq(codec_decode(raw->got + FRAME_HDR_LEN, blen,
	    CODEC_BUDGET(blen), &env), 0);
	ck_assert_int_eq(env->type, PRINTREDIR__MSG_TYPE__MSG_ERROR);
	ck_assert_int_eq(env->error->code, code);
	codec_free(env);
}

START_TEST(silence_times_out_with_an_error_frame)
{
	struct side broker = { 0 };
	struct raw raw = { 0 };
	uint64_t t0 = uv_hrtime();

	run_raw_client(NULL, 0, 200, &broker, &raw);
	ck_assert(broker.closed);
	ck_assert_str_eq(broker.reason, "handshake timed out");
	ck_assert(raw.eof);
	assert_error_frame(&raw, PRINTREDIR__ERROR_CODE__ERR_TIMEOUT);
	/* What it counts as sent is every byte the client read. */
	ck_assert_uint_eq(broker.sent, raw.n);
	/* It waited for the timeout, not much more. */
	ck_assert_uint_ge(uv_hrtime() - t0, 190 * 1000000ull);
	ck_assert_uint_lt(uv_hrtime() - t0, 5000 * 1000000ull);
}
END_TEST

START_TEST(garbage_gets_an_error_frame_and_is_dropped)
{
	struct side broker = { 0 };
	struct raw raw = { 0 };
	const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	runner_expect_log("not a printredir frame");
	run_raw_client(http, strlen(http), 5000, &broker, &raw);
	ck_assert(broker.closed);
	ck_assert_ptr_nonnull(strstr(broker.reason, "not a printredir frame"));
	assert_error_frame(&raw, PRINTREDIR__ERROR_CODE__ERR_PROTOCOL);
}
END_TEST

START_TEST(oversized_frame_before_auth_is_refused)
{
	struct side broker = { 0 };
	struct raw raw = { 0 };
	uint8_t hdr[FRAME_HDR_LEN];

	/* Before the handshake the cap is PEER_PREAUTH_CAP, not 8 MiB. */
	frame_put_header(hdr, PEER_PREAUTH_CAP + 1, 0);
	runner_expect_log("over the cap");
	run_raw_client(hdr, sizeof(hdr), 5000, &broker, &raw);
	ck_assert(broker.closed);
	assert_error_frame(&raw, PRINTREDIR__ERROR_CODE__ERR_TOO_LARGE);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc = tcase_create("auth");
	TCase *ts = tcase_create("stream");

	tcase_add_test(tc, good_key_completes_both_ways);
	tcase_add_test(tc, guest_key_is_the_documented_derivation);
	tcase_add_test(tc, a_guest_key_proves_only_its_own_id);
	tcase_add_test(tc, a_version_1_peer_is_refused);
	tcase_add_test(tc, session_keys_match_across_and_differ_by_direction);
	tcase_add_test(tc, wrong_key_is_refused_by_the_broker);
	tcase_add_test(tc, broker_without_the_key_is_refused_by_the_agent);
	tcase_add_test(tc, replayed_response_is_refused);
	tcase_add_test(tc, wrong_version_is_refused_with_both_ranges);
	tcase_add_test(tc, short_key_is_refused);
	tcase_add_test(tc, key_file_group_read_only_by_the_readers_group);
	tcase_add_test(tc, missing_key_file_is_enoent);
	suite_add_tcase(s, tc);
	tcase_add_test(ts, stream_good_key);
	tcase_add_test(ts, stream_wrong_key_reaches_the_agent_as_an_error_frame);
	tcase_add_test(ts, silence_times_out_with_an_error_frame);
	tcase_add_test(ts, garbage_gets_an_error_frame_and_is_dropped);
	tcase_add_test(ts, oversized_frame_before_auth_is_refused);
	suite_add_tcase(s, ts);
	return s;
}
