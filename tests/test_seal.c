/*
 * Sealed frames (common/seal.c): the key schedule and the AEAD against
 * published and independent vectors, and every way a frame on the path can
 * be altered: a flipped bit anywhere, a cut, a reorder, a replay, a key
 * that is not the sender's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "seal.h"
#include "runner.h"

static void
from_hex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

START_TEST(hkdf_rfc5869_case_1)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], want[42];

	memset(ikm, 0x0b, sizeof(ikm));
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	from_hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	    "34007208d5b887185865", want, sizeof(want));
	ck_assert_int_eq(seal_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info,
	    sizeof(info), okm, sizeof(okm)), 0);
	ck_assert_mem_eq(okm, want, sizeof(want));
}
END_TEST

/* Made with another implementation (python3-cryptography's
 * ChaCha20Poly1305): key 80..9f, nonce 00000000 || seq, a frame header as
 * associated data. */
START_TEST(chacha20_poly1305_matches_an_independent_implementation)
{
	static const char pt[] = "Ladies and Gentlemen of the class of '99";
	static const uint8_t aad[] = { 'P', 'R', 1, 1, 0, 0, 0, 0x2a };
	struct seal_key k = { .seq = 0x0102030405060708ULL };
	uint8_t buf[40], tag[SEAL_TAG_LEN], want[40 + SEAL_TAG_LEN];

	for (int i = 0; i < SEAL_KEY_LEN; i++)
		k.key[i] = (uint8_t)(0x80 + i);
	from_hex("add870917296579931fd43fb5c82cb4cabbee663b7b6154f088ad7d0dfef2bcb"
	    "b6c6ca0ecab1eedee9164d619b38b435df84623fe2817e12", want, sizeof(want));
	memcpy(buf, pt, sizeof(buf));
	ck_assert_int_eq(seal_encrypt(&k, aad, sizeof(aad), buf, sizeof(buf), tag), 0);
	ck_assert_mem_eq(buf, want, sizeof(buf));
	ck_assert_mem_eq(tag, want + sizeof(buf), SEAL_TAG_LEN);
	ck_assert_uint_eq(k.seq, 0x0102030405060709ULL);
}
END_TEST

struct sealed {
	uint8_t aad[8];
	uint8_t buf[64];
	size_t len;
	uint8_t tag[SEAL_TAG_LEN];
};

static void
seal_one(struct seal_key *tx, struct sealed *f, const char *text)
{
	memcpy(f->aad, "PR\001\001\000\000\000", 7);
	f->len = strlen(text);
	f->aad[7] = (uint8_t)(f->len + SEAL_TAG_LEN);
	memcpy(f->buf, text, f->len);
	ck_assert_int_eq(seal_encrypt(tx, f->aad, sizeof(f->aad), f->buf, f->len,
	    f->tag), 0);
}

/* Opens a copy of f with rx: the result of seal_decrypt. */
static int
open_copy(struct seal_key *rx, const struct sealed *f, char *out)
{
	struct sealed c = *f;
	int rc = seal_decrypt(rx, c.aad, sizeof(c.aad), c.buf, c.len, c.tag);

	if (rc == 0 && out) {
		memcpy(out, c.buf, c.len);
		out[c.len] = '\0';
	}
	return rc;
}

static void
pair(struct seal_key *tx, struct seal_key *rx)
{
	memset(tx, 0, sizeof(*tx));
	for (int i = 0; i < SEAL_KEY_LEN; i++)
		tx->key[i] = (uint8_t)(7 * i + 1);
	*rx = *tx;
}

START_TEST(frames_open_in_order)
{
	struct seal_key tx, rx;
	struct sealed f[3];
	char out[80];

	pair(&tx, &rx);
	seal_one(&tx, &f[0], "printer set 1");
	seal_one(&tx, &f[1], "printer set 2");
	seal_one(&tx, &f[2], "");
	ck_assert_mem_ne(f[0].buf, "printer set 1", f[0].len);	/* nothing in clear */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(open_copy(&rx, &f[i], out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(rx.seq, 3);
}
END_TEST

START_TEST(a_flipped_bit_anywhere_does_not_open)
{
	struct seal_key tx, rx;
	struct sealed f;
	char out[80];

	pair(&tx, &rx);
	seal_one(&tx, &f, "printer set");
	/* Every bit of the header, the body and the tag. */
	for (size_t bit = 0; bit < 8 * (sizeof(f.aad) + f.len + SEAL_TAG_LEN); bit++) {
		struct sealed bad = f;
		uint8_t *p;
		size_t byte = bit / 8;

		if (byte < sizeof(f.aad))
			p = &bad.aad[byte];
		else if (byte < sizeof(f.aad) + f.len)
			p = &bad.buf[byte - sizeof(f.aad)];
		else
			p = &bad.tag[byte - sizeof(f.aad) - f.len];
		*p ^= (uint8_t)(1u << (bit % 8));
		ck_assert_msg(open_copy(&rx, &bad, NULL) == -EBADMSG, "bit %zu", bit);
		ck_assert_uint_eq(rx.seq, 0);
	}
	/* The frame as it was sent still opens. */
	ck_assert_int_eq(open_copy(&rx, &f, out), 0);
	ck_assert_str_eq(out, "printer set");
}
END_TEST

START_TEST(a_cut_frame_does_not_open)
{
	struct seal_key tx, rx;
	struct sealed f, cut;

	pair(&tx, &rx);
	seal_one(&tx, &f, "printer set");
	cut = f;
	cut.len--;
	ck_assert_int_eq(open_copy(&rx, &cut, NULL), -EBADMSG);
	cut.len = 0;
	ck_assert_int_eq(open_copy(&rx, &cut, NULL), -EBADMSG);
}
END_TEST

START_TEST(reordered_or_replayed_frames_do_not_open)
{
	struct seal_key tx, rx;
	struct sealed f0, f1;

	pair(&tx, &rx);
	seal_one(&tx, &f0, "first");
	seal_one(&tx, &f1, "second");
	ck_assert_int_eq(open_copy(&rx, &f1, NULL), -EBADMSG);	/* ahead of its turn */
	ck_assert_int_eq(open_copy(&rx, &f0, NULL), 0);
	ck_assert_int_eq(open_copy(&rx, &f0, NULL), -EBADMSG);	/* again */
	ck_assert_int_eq(open_copy(&rx, &f1, NULL), 0);
	ck_assert_int_eq(open_copy(&rx, &f1, NULL), -EBADMSG);
}
END_TEST

START_TEST(another_key_does_not_open)
{
	struct seal_key tx, rx;
	struct sealed f;

	pair(&tx, &rx);
	rx.key[31] ^= 1;
	seal_one(&tx, &f, "printer set");
	ck_assert_int_eq(open_copy(&rx, &f, NULL), -EBADMSG);
}
END_TEST

START_TEST(a_used_up_sequence_ends_the_connection)
{
	struct seal_key tx, rx;
	uint8_t buf[4] = "abc", tag[SEAL_TAG_LEN];

	pair(&tx, &rx);
	tx.seq = UINT64_MAX;
	ck_assert_int_eq(seal_encrypt(&tx, NULL, 0, buf, 3, tag), -EOVERFLOW);
	seal_clear(&tx);
	for (int i = 0; i < SEAL_KEY_LEN; i++)
		ck_assert_int_eq(tx.key[i], 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("seal");

	tcase_add_test(tc, hkdf_rfc5869_case_1);
	tcase_add_test(tc, chacha20_poly1305_matches_an_independent_implementation);
	tcase_add_test(tc, frames_open_in_order);
	tcase_add_test(tc, a_flipped_bit_anywhere_does_not_open);
	tcase_add_test(tc, a_cut_frame_does_not_open);
	tcase_add_test(tc, reordered_or_replayed_frames_do_not_open);
	tcase_add_test(tc, another_key_does_not_open);
	tcase_add_test(tc, a_used_up_sequence_ends_the_connection);
	suite_add_tcase(s, tc);
	return s;
}
