/*
 * The envelope codec: encoding to a ready-to-send frame, decoding through a
 * budgeted allocator, validation of every message type, and the one table of
 * message names.
 */
#ifndef PRINTREDIR_CODEC_H
#define PRINTREDIR_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "printredir.pb-c.h"

typedef Printredir__Envelope codec_env_t;

/* Limits every decoded message is validated against. */
#define CODEC_MAX_NAME 127		/* CUPS queue names are at most 127 bytes */
#define CODEC_MAX_STRING 4096		/* URIs, details, ids */
#define CODEC_MAX_PRINTERS 4096
#define CODEC_MAX_DRIVERS 4096
#define CODEC_MAX_HASHES 65536		/* drivers a broker remembers per guest */
#define CODEC_INVENTORY_PAGE 1024	/* hashes in one DriverInventory */
#define CODEC_MAX_CAPS 64
#define CODEC_NONCE_LEN 32
#define CODEC_JOB_CHUNK (128 * 1024)	/* document bytes in one JobData */
#define CODEC_JOB_WINDOW 16		/* chunks in flight per job */
#define CODEC_MAX_COPIES 9999
#define CODEC_MAX_OPTIONS 256		/* options of one job */
#define CODEC_MAX_REASONS 16		/* printer-state-reasons of one printer */
#define CODEC_MAX_KEYWORD 63		/* a reason, a default's name */
#define CODEC_MAX_DEFAULTS 32		/* a queue's defaults */
#define CODEC_MAX_VALUE 255		/* a default's value */
#define CODEC_MAX_PPD_DEFAULTS 128	/* a host queue's PPD's default choices */
#define CODEC_MAX_PPD_WORD 40		/* a PPD option or choice name */

/*
 * A decoded envelope never costs more than CODEC_BUDGET(n) bytes of heap for
 * an n-byte body: protobuf-c allocates far more than the wire size for
 * repeated empty sub-messages, and a peer must not be able to exploit that.
 */
#define CODEC_BUDGET(n) (8 * (size_t)(n) + 65536)

/*
 * Decodes an envelope body of len bytes with a budget of `budget` bytes
 * (pass CODEC_BUDGET(len)).  On success *out is owned by the caller and is
 * freed with codec_free.  Returns 0, -ENOMEM when the budget was exceeded,
 * or -EBADMSG when the bytes do not decode.  Does not validate: call
 * codec_validate next.
 */
int codec_decode(const uint8_t *body, size_t len, size_t budget, codec_env_t **out);

/* Frees a decoded envelope; NULL is allowed. */
void codec_free(codec_env_t *env);

/*
 * Checks a guest id as an administrator writes it (guest_id, keygen): 1 to
 * CODEC_MAX_NAME bytes, no space and no control character.  Returns 0 or
 * -EINVAL with the reason in err ("is longer than...", "may not hold...").
 */
int codec_check_id(const char *id, char *err, size_t errlen);

/*
 * Checks that the envelope is well formed: a version, a known type whose body
 * is the one set, and every field of that body within the limits above,
 * except the printers of a PrinterSet: those are checked one by one.
 * Returns 0 or -EBADMSG with the reason in err.
 */
int codec_validate(const codec_env_t *env, char *err, size_t errlen);

/*
 * Makes text from elsewhere fit to send, in place: a control character
 * (C0, DEL, C1) becomes a space, a byte that is not UTF-8 a "?", and it is
 * cut to at most max bytes at a character boundary.  Returns 1 when it
 * changed anything.
 */
int codec_clean_text(char *s, size_t max);
/* 1 when codec_validate takes s for a string of at most max bytes (NULL or
 * empty only when not required): UTF-8 without a control character. */
int codec_text_ok(const char *s, size_t max, int required);

/*
 * One printer of a PrinterSet: its name (codec_check_printer_name), then
 * every field within the limits above.  A printer that fails is refused on
 * its own.  Returns 0 or -EBADMSG with the reason in err.
 */
int codec_check_printer_name(const Printredir__Printer *p, char *err, size_t errlen);
int codec_check_printer(const Printredir__Printer *p, char *err, size_t errlen);
/* 1 when s is an IPP keyword or PPD option name codec_validate takes: 1 to
 * CODEC_MAX_KEYWORD bytes of letters, digits, "-", "_" and ".", starting
 * with a letter. */
int codec_keyword_ok(const char *s);
/* 1 when s is a PPD option or choice name codec_validate takes: 1 to
 * CODEC_MAX_PPD_WORD bytes of [A-Za-z0-9._+-]. */
int codec_ppd_word_ok(const char *s);

/*
 * Encodes env as a complete frame (header and body) into a new buffer owned
 * by the caller (free()).  Returns 0, -EMSGSIZE when it does not fit a frame,
 * or -ENOMEM.
 */
int codec_encode_frame(const codec_env_t *env, uint8_t **out, size_t *len);

/* Sets env's version and type and selects the matching body (the caller fills
 * the body in): a one-line way to build an envelope. */
void codec_env_init(codec_env_t *env, Printredir__MsgType type);

/* Short name of a message type for logs, "unknown" for anything else. */
const char *codec_type_name(int type);

/* Name of a printer state / restart phase as used in reports and status. */
const char *codec_printer_state_name(int state);
const char *codec_restart_phase_name(int phase);

/* The item after the one at s of a list whose items end with sep (the
 * last may not): the end of the string after the last. */
static inline const char *
codec_next_item(const char *s, char sep)
{
	const char *e = strchr(s, sep);

	return e ? e + 1 : s + strlen(s);
}

#endif
