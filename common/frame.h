/*
 * Framing: every message on a stream is an 8-byte header followed by the
 * body (one encoded Envelope).
 *
 *   0      2        3       4                 8
 *   +------+--------+-------+-----------------+------------
 *   | "PR" | format | flags | length (u32 BE) | body ...
 *   +------+--------+-------+-----------------+------------
 *
 * flags is 0 for a plain body (the handshake) or FRAME_SEALED for a body
 * sealed with common/seal.c (ciphertext and tag; the header is the
 * associated data).  Any other flag is refused.
 *
 * The length is checked against the reader's cap before any memory is
 * allocated for the body, and a body's buffer grows only as its bytes
 * arrive, within one budget for the bodies in progress on all readers of
 * the process: a peer that announces 8 MiB and sends 10 bytes holds 64 KiB,
 * and many such peers together no more than the budget.  This module does
 * no I/O, so it can be tested and fuzzed without sockets; common/peer.c
 * feeds it from a libuv stream.
 */
#ifndef PRINTREDIR_FRAME_H
#define PRINTREDIR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR_LEN 8
#define FRAME_FORMAT 1
#define FRAME_SEALED 0x01		/* flags: the body is sealed */
#define FRAME_DEFAULT_CAP ((size_t)8 << 20)	/* 8 MiB */
#define FRAME_MAX_CAP ((size_t)1 << 30)	/* what a config may raise it to */
#define FRAME_BUDGET_DEFAULT ((size_t)64 << 20)	/* bodies in progress, all readers */

struct frame_reader {
	size_t cap;			/* largest body accepted */
	uint8_t hdr[FRAME_HDR_LEN];
	size_t hdr_got;
	unsigned flags;			/* the frame's, valid in the callback */
	uint8_t *body;			/* owned; NULL between frames */
	size_t body_len, body_got;
	size_t body_cap;		/* bytes allocated for body, in the budget */
};

/* Called once per complete frame.  body is only valid during the call.  A
 * non-zero return stops frame_reader_feed, which returns it. */
typedef int (*frame_cb)(void *arg, const uint8_t *body, size_t len);

void frame_reader_init(struct frame_reader *r, size_t cap);
/* Frees a partial body; the reader can be reused after frame_reader_init. */
void frame_reader_free(struct frame_reader *r);

/*
 * Consumes n bytes of the stream (any split: a frame may arrive over many
 * calls, many frames in one call).  Returns 0 when all bytes were consumed,
 * the callback's non-zero return, -EMSGSIZE for a body over the cap,
 * -ENOBUFS when the budget for bodies in progress is spent, or -EBADMSG for
 * a header that is not ours or a zero length.  After an error
 * the stream is out of sync and must be closed; err (may be NULL) says why.
 */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t n,
    frame_cb cb, void *arg, char *err, size_t errlen);

/* The budget for the bodies in progress on all readers (bytes), and what
 * they hold now.  Readers are fed on one thread. */
void frame_set_budget(size_t bytes);
size_t frame_in_progress(void);

/* Writes the header for a body of len bytes (len <= UINT32_MAX). */
void frame_put_header(uint8_t hdr[FRAME_HDR_LEN], size_t len, unsigned flags);

#endif
