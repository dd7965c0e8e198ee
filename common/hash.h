/*
 * Hashing, HMAC and randomness, all from OpenSSL's libcrypto.  printredir
 * writes no cryptography of its own.
 */
#ifndef PRINTREDIR_HASH_H
#define PRINTREDIR_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 32		/* SHA-256 and HMAC-SHA256 output */
#define HASH_HEX_LEN 65		/* 64 hex digits and the NUL */

/* out receives HASH_LEN bytes.  Returns 0 or -EIO. */
int hash_sha256(const void *data, size_t len, uint8_t out[HASH_LEN]);

/* HMAC-SHA256 of the concatenation of n (ptr, len) parts.  Returns 0 or -EIO. */
struct hash_part {
	const void *ptr;
	size_t len;
};
int hash_hmac(const void *key, size_t keylen, const struct hash_part *parts,
    size_t n, uint8_t out[HASH_LEN]);

/* Constant-time comparison of two buffers of the same length: 1 if equal. */
int hash_equal(const void *a, const void *b, size_t len);

/* Cryptographically strong random bytes.  Returns 0 or -EIO. */
int hash_random(void *buf, size_t len);

/* Lower-case hex of a HASH_LEN digest into out (HASH_HEX_LEN bytes). */
void hash_hex(const uint8_t digest[HASH_LEN], char out[HASH_HEX_LEN]);

/* Parses 64 hex digits; returns 0 or -EINVAL. */
int hash_from_hex(const char *hex, uint8_t out[HASH_LEN]);

#endif
