/* Hashing, HMAC and compression against known answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "hash.h"
#include "runner.h"

START_TEST(sha256_known_answer)
{
	uint8_t d[HASH_LEN], back[HASH_LEN];
	char hex[HASH_HEX_LEN];

	ck_assert_int_eq(hash_sha256("abc", 3, d), 0);
	hash_hex(d, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(hash_from_hex(hex, back), 0);
	ck_assert_mem_eq(back, d, HASH_LEN);
	ck_assert_int_eq(hash_from_hex("abc", back), -EINVAL);
	hex[5] = 'g';
	ck_assert_int_eq(hash_from_hex(hex, back), -EINVAL);
}
END_TEST

START_TEST(hmac_rfc4231_case2)
{
	/* RFC 4231 test case 2, split in two parts to exercise concatenation. */
	struct hash_part parts[] = {
		{ "what do ya want ", 16 }, { "for nothing?", 12 },
	};
	uint8_t mac[HASH_LEN];
	char hex[HASH_HEX_LEN];

	ck_assert_int_eq(hash_hmac("Jefe", 4, parts, 2, mac), 0);
	hash_hex(mac, hex);
	ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(equal_and_random)
{
	uint8_t a[32], b[32];

	ck_assert_int_eq(hash_random(a, sizeof(a)), 0);
	ck_assert_int_eq(hash_random(b, sizeof(b)), 0);
	ck_assert(!hash_equal(a, b, sizeof(a)));
	memcpy(b, a, sizeof(a));
	ck_assert(hash_equal(a, b, sizeof(a)));
	b[31] ^= 1;
	ck_assert(!hash_equal(a, b, sizeof(a)));
}
END_TEST

START_TEST(compress_round_trip_and_bounds)
{
	size_t n = 100000, zlen, olen;
	char *text = malloc(n);
	uint8_t *z, *out;

	for (size_t i = 0; i < n; i++)
		text[i] = "*PPD-Adobe: \"4.3\"\n"[i % 18];
	ck_assert_int_eq(compress_buf(text, n, &z, &zlen), 0);
	ck_assert_uint_lt(zlen, n / 10);
	ck_assert_int_eq(compress_inflate(z, zlen, n, n, &out, &olen), 0);
	ck_assert_uint_eq(olen, n);
	ck_assert_mem_eq(out, text, n);
	free(out);
	/* Unknown size, bounded by max. */
	ck_assert_int_eq(compress_inflate(z, zlen, 0, n, &out, &olen), 0);
	ck_assert_uint_eq(olen, n);
	free(out);
	/* A bomb: more than max bytes out. */
	ck_assert_int_eq(compress_inflate(z, zlen, 0, n - 1, &out, &olen), -EFBIG);
	ck_assert_ptr_null(out);
	/* A size claim that is a lie. */
	ck_assert_int_eq(compress_inflate(z, zlen, n - 5, n, &out, &olen), -EFBIG);
	ck_assert_int_eq(compress_inflate(z, zlen, n + 5, 2 * n, &out, &olen), -EFBIG);
	/* Truncated and corrupt streams. */
	ck_assert_int_eq(compress_inflate(z, zlen / 2, n, n, &out, &olen), -EBADMSG);
	z[zlen / 2] ^= 0xff;
	ck_assert_int_lt(compress_inflate(z, zlen, n, n, &out, &olen), 0);
	ck_assert_int_eq(compress_inflate("junk", 4, 0, n, &out, &olen), -EBADMSG);
	free(z);
	free(text);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("crypto");

	tcase_add_test(tc, sha256_known_answer);
	tcase_add_test(tc, hmac_rfc4231_case2);
	tcase_add_test(tc, equal_and_random);
	tcase_add_test(tc, compress_round_trip_and_bounds);
	suite_add_tcase(s, tc);
	return s;
}
