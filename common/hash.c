#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hash.h"

int
hash_sha256(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	unsigned int olen = 0;

	if (!EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) ||
	    olen != HASH_LEN)
		return -EIO;
	return 0;
}

int
hash_hmac(const void *key, size_t keylen, const struct hash_part *parts,
    size_t n, uint8_t out[HASH_LEN])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t olen = 0;
	int rc = -EIO;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		goto out;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, keylen, params))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!EVP_MAC_update(ctx, parts[i].ptr, parts[i].len))
			goto out;
	if (!EVP_MAC_final(ctx, out, &olen, HASH_LEN) || olen != HASH_LEN)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int
hash_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
hash_random(void *buf, size_t len)
{
	if (len > (size_t)INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return -EIO;
	return 0;
}

void
hash_hex(const uint8_t digest[HASH_LEN], char out[HASH_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < HASH_LEN; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[2 * HASH_LEN] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hash_from_hex(const char *hex, uint8_t out[HASH_LEN])
{
	if (strlen(hex) != 2 * HASH_LEN)
		return -EINVAL;
	for (int i = 0; i < HASH_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
