/*
 * Fuzz target: the AEAD of sealed frames (common/seal.c), with the fixed
 * keys of one connection, one for each direction.  The first byte picks
 * the direction that opens (bit 0), the sequence number it starts at (bits
 * 1-2) and the bit flipped below (bits 3-7; 31 also tries a used-up
 * sequence); the rest is used twice:
 *
 *   - as the stream a peer receives after the handshake: every frame is
 *     opened as common/peer.c opens it (header as associated data), in
 *     order, until one does not open.  A frame that opens must be exactly
 *     what sealing its plaintext at that number gives back, and must not
 *     open with the other direction's key; one that does not open leaves
 *     the sequence number as it was.
 *   - as a plaintext: sealed then opened, it must come back byte for byte,
 *     and with any one bit flipped it must not open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "seal.h"

#define CAP ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the first frame's number starts: 0, 1, 2^32, or the last number a
 * key may use (the next frame then ends the connection). */
static const uint64_t starts[4] = { 0, 1, (uint64_t)1 << 32, UINT64_MAX - 1 };

/* The two directions' keys: [0] agent -> broker, [1] broker -> agent, as
 * auth_session_keys splits them, from a fixed secret. */
static struct seal_key keys[2];

static void
init_keys(void)
{
	static const char ikm[] = "printredir fuzz_seal fixed secret";
	static const char salt[] = "fixed nonces";
	static const char info[] = "printredir session\0agent\0broker";
	static int done;
	uint8_t okm[2 * SEAL_KEY_LEN];

	if (done)
		return;
	if (seal_hkdf(ikm, sizeof(ikm) - 1, salt, sizeof(salt) - 1, info,
	    sizeof(info) - 1, okm, sizeof(okm)) != 0)
		abort();
	memcpy(keys[0].key, okm, SEAL_KEY_LEN);
	memcpy(keys[1].key, okm + SEAL_KEY_LEN, SEAL_KEY_LEN);
	done = 1;
}

struct opener {
	struct frame_reader *rd;
	struct seal_key rx;		/* the receiving direction */
	struct seal_key other;		/* the other direction, at the same number */
	size_t opened;
};

static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	struct opener *o = arg;
	uint8_t hdr[FRAME_HDR_LEN], tag[SEAL_TAG_LEN];
	uint64_t seq = o->rx.seq;
	struct seal_key k;
	uint8_t *plain, *again;
	size_t plainlen;
	int rc;

	/* After the handshake a peer takes sealed frames only. */
	if (!(o->rd->flags & FRAME_SEALED) || len < SEAL_TAG_LEN)
		return -EBADMSG;
	plainlen = len - SEAL_TAG_LEN;
	if ((plain = malloc(plainlen ? plainlen : 1)) == NULL ||
	    (again = malloc(plainlen ? plainlen : 1)) == NULL)
		abort();
	memcpy(plain, body, plainlen);
	frame_put_header(hdr, len, o->rd->flags);
	rc = seal_decrypt(&o->rx, hdr, sizeof(hdr), plain, plainlen, body + plainlen);
	if (rc != 0) {
		if (seq == UINT64_MAX ? rc != -EOVERFLOW : rc != -EBADMSG)
			abort();
		if (o->rx.seq != seq)
			abort();	/* a frame that fails uses no number */
		goto out;
	}
	if (o->rx.seq != seq + 1 || plainlen > CAP)
		abort();
	/* What opened is what the sender sealed, all of it. */
	k = o->rx;
	k.seq = seq;
	memcpy(again, plain, plainlen);
	if (seal_encrypt(&k, hdr, sizeof(hdr), again, plainlen, tag) != 0 ||
	    memcmp(again, body, plainlen) != 0 || memcmp(tag, body + plainlen,
	    SEAL_TAG_LEN) != 0)
		abort();
	/* And the other direction's key does not open it. */
	memcpy(again, body, plainlen);
	o->other.seq = seq;
	if (seal_decrypt(&o->other, hdr, sizeof(hdr), again, plainlen,
	    body + plainlen) != -EBADMSG || o->other.seq != seq)
		abort();
	o->opened++;
out:
	free(plain);
	free(again);
	return rc;
}

/*
 * Seals size bytes of data with key at seq, then opens them: flipped at bit
 * number pick (modulo the frame's bits) they do not open; as sealed they
 * open once, into the very bytes.
 */
static void
round_trip(const struct seal_key *key, uint64_t seq, const uint8_t *data,
    size_t size, size_t pick)
{
	struct seal_key tx = *key, rx = *key;
	uint8_t hdr[FRAME_HDR_LEN], bad_hdr[FRAME_HDR_LEN];
	uint8_t tag[SEAL_TAG_LEN], bad_tag[SEAL_TAG_LEN];
	uint8_t *buf = NULL, *copy = NULL;
	size_t bit;
	int rc;

	if (size > CAP)
		return;
	tx.seq = rx.seq = seq;
	if ((buf = malloc(size ? size : 1)) == NULL || (copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	frame_put_header(hdr, size + SEAL_TAG_LEN, FRAME_SEALED);
	rc = seal_encrypt(&tx, hdr, sizeof(hdr), buf, size, tag);
	if (seq == UINT64_MAX) {
		if (rc != -EOVERFLOW || tx.seq != seq)
			abort();
		goto out;
	}
	if (rc != 0 || tx.seq != seq + 1)
		abort();
	if (size >= 16 && memcmp(buf, data, size) == 0)
		abort();	/* nothing is sent in clear */

	/* One bit flipped anywhere: the header, the body or the tag. */
	bit = pick % (8 * (sizeof(hdr) + size + SEAL_TAG_LEN));
	memcpy(bad_hdr, hdr, sizeof(hdr));
	memcpy(copy, buf, size);
	memcpy(bad_tag, tag, sizeof(tag));
	if (bit / 8 < sizeof(hdr))
		bad_hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	else if (bit / 8 < sizeof(hdr) + size)
		copy[bit / 8 - sizeof(hdr)] ^= (uint8_t)(1u << (bit % 8));
	else
		bad_tag[bit / 8 - sizeof(hdr) - size] ^= (uint8_t)(1u << (bit % 8));
	if (seal_decrypt(&rx, bad_hdr, sizeof(bad_hdr), copy, size, bad_tag) != -EBADMSG ||
	    rx.seq != seq)
		abort();

	/* The frame as it was sealed opens, into the very bytes, and only once:
	 * the next number does not open it again. */
	memcpy(copy, buf, size);
	if (seal_decrypt(&rx, hdr, sizeof(hdr), buf, size, tag) != 0 ||
	    rx.seq != seq + 1 || memcmp(buf, data, size) != 0)
		abort();
	if (seal_decrypt(&rx, hdr, sizeof(hdr), copy, size, tag) !=
	    (rx.seq == UINT64_MAX ? -EOVERFLOW : -EBADMSG) || rx.seq != seq + 1)
		abort();
out:
	free(buf);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader rd;
	struct opener o;
	unsigned dir, ctl;
	uint64_t seq;

	if (size < 1)
		return 0;
	init_keys();
	ctl = data[0];
	dir = ctl & 1;
	seq = starts[(ctl >> 1) & 3];
	data++;
	size--;

	memset(&o, 0, sizeof(o));
	o.rd = &rd;
	o.rx = keys[dir];
	o.rx.seq = seq;
	o.other = keys[!dir];
	frame_reader_init(&rd, CAP);
	(void)frame_reader_feed(&rd, data, size, on_frame, &o, NULL, 0);
	frame_reader_free(&rd);
	if (o.rx.seq != seq + o.opened)
		abort();

	round_trip(&keys[dir], seq, data, size, (size_t)(ctl >> 3) * 2654435761u + size);
	/* A used-up sequence seals nothing more. */
	if (ctl >> 3 == 31)
		round_trip(&keys[dir], UINT64_MAX, data, size, 0);
	return 0;
}
