/*
 * Sealed frames: the key schedule and the AEAD of protocol version 2, both
 * from OpenSSL's libcrypto (HKDF-SHA256, ChaCha20-Poly1305).  printredir
 * writes no cryptography of its own.
 *
 * Each direction of a connection has its own key and a 64-bit sequence
 * number that starts at 0 and is the nonce (4 zero bytes, then the number
 * big-endian): a frame that is altered, cut, reordered, replayed or sealed
 * with another key does not open.  Nothing here does I/O.
 */
#ifndef PRINTREDIR_SEAL_H
#define PRINTREDIR_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_KEY_LEN 32
#define SEAL_TAG_LEN 16

/* One direction of a connection. */
struct seal_key {
	uint8_t key[SEAL_KEY_LEN];
	uint64_t seq;			/* the next frame's number */
};

/*
 * HKDF-SHA256 (RFC 5869) of ikm with salt and info into out[outlen].
 * salt and info may be NULL when their length is 0.  Returns 0 or -EIO.
 */
int seal_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
    const void *info, size_t infolen, uint8_t *out, size_t outlen);

/*
 * Seals buf[0..len-1] in place with k at k->seq, authenticating aad too,
 * and writes the tag.  Advances k->seq.  Returns 0, -EOVERFLOW when the
 * sequence is used up (the connection must end), or -EIO.
 */
int seal_encrypt(struct seal_key *k, const uint8_t *aad, size_t aadlen,
    uint8_t *buf, size_t len, uint8_t tag[SEAL_TAG_LEN]);

/*
 * Opens buf[0..len-1] in place with k at k->seq.  Returns 0 and advances
 * k->seq, or -EBADMSG when it does not open (buf is then garbage and
 * k->seq unchanged), or -EIO.
 */
int seal_decrypt(struct seal_key *k, const uint8_t *aad, size_t aadlen,
    uint8_t *buf, size_t len, const uint8_t tag[SEAL_TAG_LEN]);

/* Forgets a key (explicit_bzero). */
void seal_clear(struct seal_key *k);

#endif
