#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "frame.h"
#include "hash.h"
#include "log.h"

/* Every block carries its size so that free needs no bookkeeping. */
struct budget {
	size_t limit, used;
	int exceeded;
};

#define BLOCK_HDR 16	/* keeps the user pointer 16-byte aligned */

static void *
budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	size_t cost = size + BLOCK_HDR;
	unsigned char *p;

	if (b == NULL)
		return NULL;
	if (cost < size || cost > b->limit - b->used) {
		b->exceeded = 1;
		return NULL;
	}
	p = malloc(cost);
	if (p == NULL)
		return NULL;
	b->used += cost;
	return p + BLOCK_HDR;
}

static void
budget_free(void *data, void *ptr)
{
	(void)data;	/* the budget counts what was allocated, not what is live */
	if (ptr != NULL)
		free((unsigned char *)ptr - BLOCK_HDR);
}

int
codec_decode(const uint8_t *body, size_t len, size_t budget, codec_env_t **out)
{
	struct budget b = { .limit = budget, .used = 0, .exceeded = 0 };
	ProtobufCAllocator allocator = {
		.alloc = budget_alloc, .free = budget_free, .allocator_data = &b,
	};
	codec_env_t *env;

	*out = NULL;
	env = printredir__envelope__unpack(&allocator, len, body);
	if (env == NULL)
		return b.exceeded ? -ENOMEM : -EBADMSG;
	*out = env;
	return 0;
}

void
codec_free(codec_env_t *env)
{
	ProtobufCAllocator allocator = {
		.alloc = budget_alloc, .free = budget_free, .allocator_data = NULL,
	};

	if (env != NULL)
		printredir__envelope__free_unpacked(env, &allocator);
}

int
codec_encode_frame(const codec_env_t *env, uint8_t **out, size_t *len)
{
	size_t n = printredir__envelope__get_packed_size(env);
	uint8_t *buf;

	*out = NULL;
	if (n == 0 || n > UINT32_MAX)
		return -EMSGSIZE;
	buf = malloc(FRAME_HDR_LEN + n);
	if (buf == NULL)
		return -ENOMEM;
	frame_put_header(buf, n, 0);
	printredir__envelope__pack(env, buf + FRAME_HDR_LEN);
	*out = buf;
	*len = FRAME_HDR_LEN + n;
	return 0;
}

static const struct {
	int type;
	const char *name;
	int body_case;
} msg_table[] = {
	{ PRINTREDIR__MSG_TYPE__MSG_HELLO, "hello",
	  PRINTREDIR__ENVELOPE__BODY_HELLO },
	{ PRINTREDIR__MSG_TYPE__MSG_AUTH_CHALLENGE, "auth-challenge",
	  PRINTREDIR__ENVELOPE__BODY_AUTH_CHALLENGE },
	{ PRINTREDIR__MSG_TYPE__MSG_AUTH_RESPONSE, "auth-response",
	  PRINTREDIR__ENVELOPE__BODY_AUTH_RESPONSE },
	{ PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET, "printer-set",
	  PRINTREDIR__ENVELOPE__BODY_PRINTER_SET },
	{ PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT, "install-report",
	  PRINTREDIR__ENVELOPE__BODY_INSTALL_REPORT },
	{ PRINTREDIR__MSG_TYPE__MSG_RESTART_STATE, "restart-state",
	  PRINTREDIR__ENVELOPE__BODY_RESTART_STATE },
	{ PRINTREDIR__MSG_TYPE__MSG_HEARTBEAT, "heartbeat",
	  PRINTREDIR__ENVELOPE__BODY_HEARTBEAT },
	{ PRINTREDIR__MSG_TYPE__MSG_ERROR, "error",
	  PRINTREDIR__ENVELOPE__BODY_ERROR },
	{ PRINTREDIR__MSG_TYPE__MSG_DRIVER_INVENTORY, "driver-inventory",
	  PRINTREDIR__ENVELOPE__BODY_DRIVER_INVENTORY },
	{ PRINTREDIR__MSG_TYPE__MSG_JOB_START, "job-start",
	  PRINTREDIR__ENVELOPE__BODY_JOB_START },
	{ PRINTREDIR__MSG_TYPE__MSG_JOB_DATA, "job-data",
	  PRINTREDIR__ENVELOPE__BODY_JOB_DATA },
	{ PRINTREDIR__MSG_TYPE__MSG_JOB_CREDIT, "job-credit",
	  PRINTREDIR__ENVELOPE__BODY_JOB_CREDIT },
	{ PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT, "job-result",
	  PRINTREDIR__ENVELOPE__BODY_JOB_RESULT },
};

#define NMSG (sizeof(msg_table) / sizeof(msg_table[0]))

const char *
codec_type_name(int type)
{
	for (size_t i = 0; i < NMSG; i++)
		if (msg_table[i].type == type)
			return msg_table[i].name;
	return "unknown";
}

void
codec_env_init(codec_env_t *env, Printredir__MsgType type)
{
	printredir__envelope__init(env);
	env->has_version = 1;
	env->version = PRINTREDIR__PROTOCOL_VERSION__PROTOCOL_VERSION;
	env->has_type = 1;
	env->type = type;
	for (size_t i = 0; i < NMSG; i++)
		if (msg_table[i].type == (int)type)
			env->body_case = msg_table[i].body_case;
}

const char *
codec_printer_state_name(int state)
{
	static const char *names[] = {
		"unknown", "pending", "installed", "driver-missing",
		"driver-rejected", "failed", "duplicate-skipped", "removed",
	};

	if (state < 0 || (size_t)state >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[state];
}

const char *
codec_restart_phase_name(int phase)
{
	static const char *names[] = {
		"unknown", "none", "not-required", "pending", "prompting",
		"deferred", "forced", "restarting", "done", "failed",
	};

	if (phase < 0 || (size_t)phase >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[phase];
}

/* Validation helpers: each returns 0 or -EBADMSG with err filled in. */

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* A string from the wire: bounded, and no control characters, which would
 * otherwise reach logs, status tables and CUPS attributes. */
/*
 * Why the n bytes of s are not text a person may be shown: NULL when they
 * are UTF-8 without a control character (C0, DEL or C1), and also without
 * a space when spaces is 0.
 */
static const char *
text_fault(const char *s, size_t n, int spaces)
{
	uint32_t cp;

	for (size_t i = 0, len; i < n; i += len) {
		if ((len = log_utf8_next((const unsigned char *)s + i, n - i, &cp)) == 0)
			return "is not UTF-8";
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return "has a control character";
		if (cp == ' ' && !spaces)
			return "has a space";
	}
	return NULL;
}

static int
check_str(const char *s, size_t max, int required, const char *what,
    char *err, size_t errlen)
{
	const char *why;
	size_t n;

	if (s == NULL || *s == '\0')
		return required ? bad(err, errlen, "%s is missing", what) : 0;
	n = strnlen(s, max + 1);
	if (n > max)
		return bad(err, errlen, "%s is longer than %zu bytes", what, max);
	if ((why = text_fault(s, n, 1)) != NULL)
		return bad(err, errlen, "%s %s", what, why);
	return 0;
}

int
codec_text_ok(const char *s, size_t max, int required)
{
	return check_str(s, max, required, "", NULL, 0) == 0;
}

int
codec_clean_text(char *s, size_t max)
{
	size_t n = strlen(s), i = 0, len;
	uint32_t cp;
	int changed = 0;

	while (i < n) {
		len = log_utf8_next((unsigned char *)s + i, n - i, &cp);
		if (len == 0) {
			s[i] = '?';
			len = 1;
			changed = 1;
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			memset(s + i, ' ', len);
			changed = 1;
		}
		if (i + len > max) {
			s[i] = '\0';
			return 1;
		}
		i += len;
	}
	return changed;
}

#define CODEC_STR_(x) #x
#define CODEC_STR(x) CODEC_STR_(x)

int
codec_check_id(const char *id, char *err, size_t errlen)
{
	const char *why = NULL;

	if (id == NULL || *id == '\0')
		why = "is empty";
	else if (strnlen(id, CODEC_MAX_NAME + 1) > CODEC_MAX_NAME)
		why = "is longer than " CODEC_STR(CODEC_MAX_NAME) " bytes";
	else if (text_fault(id, strlen(id), 0) != NULL)
		why = "must be UTF-8 without spaces or control characters";
	if (why == NULL)
		return 0;
	errf(err, errlen, "%s", why);
	return -EINVAL;
}

static int
check_hash(int has, ProtobufCBinaryData d, const char *what, char *err, size_t errlen)
{
	if (!has || d.len != HASH_LEN)
		return bad(err, errlen, "%s is not a SHA-256 (%zu bytes)", what,
		    has ? d.len : 0);
	return 0;
}

static int
check_enum(const ProtobufCEnumDescriptor *d, int has, int v, const char *what,
    char *err, size_t errlen)
{
	if (!has || v == 0 || protobuf_c_enum_descriptor_get_value(d, v) == NULL)
		return bad(err, errlen, "%s is missing or unknown (%d)", what,
		    has ? v : 0);
	return 0;
}

#define TRY(x) do { int rc_ = (x); if (rc_ != 0) return rc_; } while (0)

static int
check_hello(const Printredir__Hello *h, char *err, size_t errlen)
{
	if (!h->has_version || !h->has_min_version || h->min_version > h->version)
		return bad(err, errlen, "hello: version range missing or inverted");
	TRY(check_enum(&printredir__role__descriptor, h->has_role, h->role,
	    "hello: role", err, errlen));
	if (h->n_capabilities > CODEC_MAX_CAPS)
		return bad(err, errlen, "hello: %zu capabilities, at most %d",
		    h->n_capabilities, CODEC_MAX_CAPS);
	for (size_t i = 0; i < h->n_capabilities; i++)
		TRY(check_str(h->capabilities[i], CODEC_MAX_NAME, 1,
		    "hello: capability", err, errlen));
	TRY(check_str(h->peer_id, CODEC_MAX_NAME, 1, "hello: peer id", err, errlen));
	TRY(check_str(h->software, CODEC_MAX_NAME, 0, "hello: software", err, errlen));
	return 0;
}

static int
check_nonce(int has, ProtobufCBinaryData d, const char *what, char *err, size_t errlen)
{
	if (!has || d.len != CODEC_NONCE_LEN)
		return bad(err, errlen, "%s must be %d bytes", what, CODEC_NONCE_LEN);
	return 0;
}

int
codec_check_printer_name(const Printredir__Printer *p, char *err, size_t errlen)
{
	return check_str(p->name, CODEC_MAX_NAME, 1, "printer: name", err, errlen);
}

int
codec_keyword_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CODEC_MAX_KEYWORD || !isalpha((unsigned char)s[0]))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == n;
}

int
codec_ppd_word_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= CODEC_MAX_PPD_WORD && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

static int
check_condition(const Printredir__PrinterCondition *c, const char *what,
    char *err, size_t errlen)
{
	if (c == NULL)
		return 0;
	if (c->n_reasons > CODEC_MAX_REASONS)
		return bad(err, errlen, "%s: %zu state reasons, at most %d", what,
		    c->n_reasons, CODEC_MAX_REASONS);
	for (size_t i = 0; i < c->n_reasons; i++)
		if (!codec_keyword_ok(c->reasons[i]))
			return bad(err, errlen, "%s: a state reason is not a keyword", what);
	return check_str(c->message, CODEC_MAX_VALUE, 0, "printer: state message",
	    err, errlen);
}

int
codec_check_printer(const Printredir__Printer *p, char *err, size_t errlen)
{
	TRY(codec_check_printer_name(p, err, errlen));
	TRY(check_str(p->make_model, CODEC_MAX_STRING, 0, "printer: make and model", err, errlen));
	TRY(check_str(p->info, CODEC_MAX_STRING, 0, "printer: info", err, errlen));
	TRY(check_str(p->location, CODEC_MAX_STRING, 0, "printer: location", err, errlen));
	TRY(check_str(p->detail, CODEC_MAX_STRING, 0, "printer: detail", err, errlen));
	TRY(check_str(p->host_device_uri, CODEC_MAX_STRING, 0, "printer: device uri", err, errlen));
	TRY(check_enum(&printredir__driver_state__descriptor, p->has_driver_state,
	    p->driver_state, "printer: driver state", err, errlen));
	if (p->driver_state == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE)
		TRY(check_hash(p->has_driver_sha256, p->driver_sha256,
		    "printer: driver hash", err, errlen));
	TRY(check_condition(p->condition, "printer", err, errlen));
	if (p->n_defaults > CODEC_MAX_DEFAULTS)
		return bad(err, errlen, "printer: %zu defaults, at most %d",
		    p->n_defaults, CODEC_MAX_DEFAULTS);
	for (size_t i = 0; i < p->n_defaults; i++) {
		if (!codec_keyword_ok(p->defaults[i]->name))
			return bad(err, errlen, "printer: a default's name is not a keyword");
		TRY(check_str(p->defaults[i]->value, CODEC_MAX_VALUE, 1,
		    "printer: a default's value", err, errlen));
	}
	if (p->n_ppd_defaults > CODEC_MAX_PPD_DEFAULTS)
		return bad(err, errlen, "printer: %zu PPD defaults, at most %d",
		    p->n_ppd_defaults, CODEC_MAX_PPD_DEFAULTS);
	for (size_t i = 0; i < p->n_ppd_defaults; i++)
		if (!codec_ppd_word_ok(p->ppd_defaults[i]->name) ||
		    !codec_ppd_word_ok(p->ppd_defaults[i]->value))
			return bad(err, errlen, "printer: a PPD default is not an option "
			    "and a choice name");
	return 0;
}

static int
check_printer_set(const Printredir__PrinterSet *s, char *err, size_t errlen)
{
	if (!s->has_generation)
		return bad(err, errlen, "printer set: generation is missing");
	if (s->n_printers > CODEC_MAX_PRINTERS || s->n_drivers > CODEC_MAX_DRIVERS)
		return bad(err, errlen, "printer set: %zu printers and %zu drivers, "
		    "at most %d each", s->n_printers, s->n_drivers, CODEC_MAX_PRINTERS);
	/* Each printer is checked on its own (codec_check_printer): one bad
	 * printer fails alone, not the set. */
	for (size_t i = 0; i < s->n_drivers; i++) {
		const Printredir__Driver *d = s->drivers[i];

		TRY(check_hash(d->has_sha256, d->sha256, "driver: hash", err, errlen));
		if (d->has_compression &&
		    protobuf_c_enum_descriptor_get_value(&printredir__compression__descriptor,
		    d->compression) == NULL)
			return bad(err, errlen, "driver: unknown compression %d", d->compression);
		if (!d->has_size || !d->has_data || d->data.len == 0)
			return bad(err, errlen, "driver: size or data missing");
	}
	return 0;
}

static int
check_report(const Printredir__InstallReport *r, char *err, size_t errlen)
{
	if (!r->has_generation)
		return bad(err, errlen, "install report: generation is missing");
	if (r->n_printers > CODEC_MAX_PRINTERS)
		return bad(err, errlen, "install report: too many printers");
	for (size_t i = 0; i < r->n_printers; i++) {
		const Printredir__PrinterReport *p = r->printers[i];

		TRY(check_str(p->name, CODEC_MAX_NAME, 1, "report: name", err, errlen));
		TRY(check_enum(&printredir__printer_state__descriptor, p->has_state,
		    p->state, "report: state", err, errlen));
		TRY(check_str(p->detail, CODEC_MAX_STRING, 0, "report: detail", err, errlen));
		TRY(check_str(p->guest_queue, CODEC_MAX_NAME, 0, "report: guest queue", err, errlen));
		TRY(check_condition(p->condition, "report", err, errlen));
	}
	TRY(check_str(r->default_printer, CODEC_MAX_NAME, 0, "report: default printer",
	    err, errlen));
	TRY(check_str(r->default_detail, CODEC_MAX_STRING, 0, "report: default detail",
	    err, errlen));
	return 0;
}

/*
 * A job's header.  stream 0 and an empty uuid are what the backend sends
 * the agent; on the channel both are required (codec_check_job_start).
 */
static int
check_job_start(const Printredir__JobStart *j, char *err, size_t errlen)
{
	TRY(check_str(j->uuid, CODEC_MAX_NAME, 0, "job: uuid", err, errlen));
	TRY(check_str(j->printer, CODEC_MAX_NAME, 1, "job: printer", err, errlen));
	TRY(check_str(j->user, CODEC_MAX_NAME, 1, "job: user", err, errlen));
	TRY(check_str(j->title, CODEC_MAX_STRING, 0, "job: title", err, errlen));
	TRY(check_str(j->format, CODEC_MAX_NAME, 1, "job: format", err, errlen));
	if (!j->has_copies || j->copies < 1 || j->copies > CODEC_MAX_COPIES)
		return bad(err, errlen, "job: copies must be 1 to %d", CODEC_MAX_COPIES);
	if (j->n_options > CODEC_MAX_OPTIONS)
		return bad(err, errlen, "job: %zu options, at most %d", j->n_options,
		    CODEC_MAX_OPTIONS);
	for (size_t i = 0; i < j->n_options; i++) {
		TRY(check_str(j->options[i]->name, CODEC_MAX_NAME, 1, "job: option name",
		    err, errlen));
		TRY(check_str(j->options[i]->value, CODEC_MAX_STRING, 0,
		    "job: option value", err, errlen));
	}
	return 0;
}

static int
check_job_result(const Printredir__JobResult *r, char *err, size_t errlen)
{
	TRY(check_enum(&printredir__job_outcome__descriptor, r->has_outcome,
	    r->outcome, "job result: outcome", err, errlen));
	return check_str(r->detail, CODEC_MAX_STRING, 0, "job result: detail", err,
	    errlen);
}

int
codec_validate(const codec_env_t *env, char *err, size_t errlen)
{
	size_t i;

	if (!env->has_version || env->version == 0)
		return bad(err, errlen, "envelope without a version");
	if (!env->has_type)
		return bad(err, errlen, "envelope without a type");
	for (i = 0; i < NMSG; i++)
		if (msg_table[i].type == (int)env->type)
			break;
	if (i == NMSG)
		return bad(err, errlen, "unknown message type %d", (int)env->type);
	if ((int)env->body_case != msg_table[i].body_case)
		return bad(err, errlen, "%s message with a mismatched body",
		    msg_table[i].name);

	switch (env->body_case) {
	case PRINTREDIR__ENVELOPE__BODY_HELLO:
		return check_hello(env->hello, err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_AUTH_CHALLENGE:
		return check_nonce(env->auth_challenge->has_nonce,
		    env->auth_challenge->nonce, "auth challenge: nonce", err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_AUTH_RESPONSE: {
		const Printredir__AuthResponse *a = env->auth_response;

		if (a->has_nonce && a->nonce.len != 0)
			TRY(check_nonce(a->has_nonce, a->nonce, "auth response: nonce",
			    err, errlen));
		if (!a->has_mac || a->mac.len != HASH_LEN)
			return bad(err, errlen, "auth response: mac must be %d bytes", HASH_LEN);
		return 0;
	}
	case PRINTREDIR__ENVELOPE__BODY_PRINTER_SET:
		return check_printer_set(env->printer_set, err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_INSTALL_REPORT:
		return check_report(env->install_report, err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_RESTART_STATE:
		TRY(check_enum(&printredir__restart_phase__descriptor,
		    env->restart_state->has_phase, env->restart_state->phase,
		    "restart state: phase", err, errlen));
		return check_str(env->restart_state->detail, CODEC_MAX_STRING, 0,
		    "restart state: detail", err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_HEARTBEAT:
		return 0;
	case PRINTREDIR__ENVELOPE__BODY_DRIVER_INVENTORY: {
		const Printredir__DriverInventory *d = env->driver_inventory;

		if (d->n_hashes > CODEC_INVENTORY_PAGE)
			return bad(err, errlen, "driver inventory: %zu hashes in a page, "
			    "at most %d", d->n_hashes, CODEC_INVENTORY_PAGE);
		for (size_t j = 0; j < d->n_hashes; j++)
			TRY(check_hash(1, d->hashes[j], "driver inventory: hash", err,
			    errlen));
		return 0;
	}
	case PRINTREDIR__ENVELOPE__BODY_JOB_START:
		return check_job_start(env->job_start, err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_JOB_DATA:
		if (env->job_data->has_data && env->job_data->data.len > CODEC_JOB_CHUNK)
			return bad(err, errlen, "job data: %zu bytes in a chunk, at most %d",
			    env->job_data->data.len, CODEC_JOB_CHUNK);
		return 0;
	case PRINTREDIR__ENVELOPE__BODY_JOB_CREDIT:
		if (!env->job_credit->has_chunks || env->job_credit->chunks > CODEC_JOB_WINDOW)
			return bad(err, errlen, "job credit: missing or over %d chunks",
			    CODEC_JOB_WINDOW);
		return 0;
	case PRINTREDIR__ENVELOPE__BODY_JOB_RESULT:
		return check_job_result(env->job_result, err, errlen);
	case PRINTREDIR__ENVELOPE__BODY_ERROR:
		if (!env->error->has_code)
			return bad(err, errlen, "error without a code");
		return check_str(env->error->message, CODEC_MAX_STRING, 0,
		    "error: message", err, errlen);
	default:
		return bad(err, errlen, "envelope without a body");
	}
}
