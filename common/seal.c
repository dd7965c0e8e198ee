/* Sealed frames: HKDF-SHA256 and ChaCha20-Poly1305 from libcrypto; see seal.h. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "seal.h"

#define NONCE_LEN 12

int
seal_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
    const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -EIO;

	if (ctx == NULL)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	if (saltlen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)salt, saltlen);
	if (infolen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		rc = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

static void
nonce_of(uint64_t seq, uint8_t nonce[NONCE_LEN])
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* One AEAD operation; enc 1 seals (writes tag), 0 opens (checks it). */
static int
aead(struct seal_key *k, int enc, const uint8_t *aad, size_t aadlen, uint8_t *buf,
    size_t len, uint8_t tag[SEAL_TAG_LEN])
{
	EVP_CIPHER_CTX *c;
	uint8_t nonce[NONCE_LEN];
	int n, rc = -EIO;

	if (k->seq == UINT64_MAX)
		return -EOVERFLOW;
	if (len > INT_MAX || aadlen > INT_MAX || (c = EVP_CIPHER_CTX_new()) == NULL)
		return -EIO;
	nonce_of(k->seq, nonce);
	if (EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, enc) != 1 ||
	    (aadlen > 0 && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len > 0 && EVP_CipherUpdate(c, buf, &n, buf, (int)len) != 1))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, buf + len, &n) != 1) {
		rc = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG_LEN, tag) != 1)
		goto out;
	k->seq++;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int
seal_encrypt(struct seal_key *k, const uint8_t *aad, size_t aadlen, uint8_t *buf,
    size_t len, uint8_t tag[SEAL_TAG_LEN])
{
	return aead(k, 1, aad, aadlen, buf, len, tag);
}

int
seal_decrypt(struct seal_key *k, const uint8_t *aad, size_t aadlen, uint8_t *buf,
    size_t len, const uint8_t tag[SEAL_TAG_LEN])
{
	uint8_t t[SEAL_TAG_LEN];

	memcpy(t, tag, SEAL_TAG_LEN);
	return aead(k, 0, aad, aadlen, buf, len, t);
}

void
seal_clear(struct seal_key *k)
{
	explicit_bzero(k, sizeof(*k));
}
