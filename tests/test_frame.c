/* Framing: reassembly across any split, the cap, and bad headers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "runner.h"

struct got {
	int n;
	size_t lens[16];
	uint8_t first[16];
	int stop_after;
};

static int
collect(void *arg, const uint8_t *body, size_t len)
{
	struct got *g = arg;

	ck_assert_int_lt(g->n, 16);
	g->lens[g->n] = len;
	g->first[g->n] = body[0];
	g->n++;
	return g->stop_after && g->n == g->stop_after ? 42 : 0;
}

/* Builds n frames with bodies of the given lengths, body bytes = index. */
static uint8_t *
frames(const size_t *lens, int n, size_t *total)
{
	size_t t = 0, o = 0;
	uint8_t *buf;

	for (int i = 0; i < n; i++)
		t += FRAME_HDR_LEN + lens[i];
	buf = malloc(t);
	for (int i = 0; i < n; i++) {
		frame_put_header(buf + o, lens[i], 0);
		memset(buf + o + FRAME_HDR_LEN, 'a' + i, lens[i]);
		o += FRAME_HDR_LEN + lens[i];
	}
	*total = t;
	return buf;
}

START_TEST(joined_frames_in_one_read)
{
	size_t lens[] = { 1, 300, 5 }, total;
	uint8_t *buf = frames(lens, 3, &total);
	struct frame_reader r;
	struct got g = { 0 };

	frame_reader_init(&r, 1024);
	ck_assert_int_eq(frame_reader_feed(&r, buf, total, collect, &g, NULL, 0), 0);
	ck_assert_int_eq(g.n, 3);
	ck_assert_uint_eq(g.lens[1], 300);
	ck_assert_int_eq(g.first[2], 'c');
	frame_reader_free(&r);
	free(buf);
}
END_TEST

START_TEST(split_at_every_byte)
{
	size_t lens[] = { 17, 1, 64 }, total;
	uint8_t *buf = frames(lens, 3, &total);

	/* Every possible single split point, and byte-by-byte. */
	for (size_t cut = 0; cut <= total; cut++) {
		struct frame_reader r;
		struct got g = { 0 };

		frame_reader_init(&r, 1024);
		ck_assert_int_eq(frame_reader_feed(&r, buf, cut, collect, &g, NULL, 0), 0);
		ck_assert_int_eq(frame_reader_feed(&r, buf + cut, total - cut, collect,
		    &g, NULL, 0), 0);
		ck_assert_int_eq(g.n, 3);
		ck_assert_uint_eq(g.lens[0], 17);
		ck_assert_uint_eq(g.lens[2], 64);
		ck_assert_int_eq(g.first[2], 'c');
		frame_reader_free(&r);
	}
	struct frame_reader r;
	struct got g = { 0 };

	frame_reader_init(&r, 1024);
	for (size_t i = 0; i < total; i++)
		ck_assert_int_eq(frame_reader_feed(&r, buf + i, 1, collect, &g, NULL, 0), 0);
	ck_assert_int_eq(g.n, 3);
	frame_reader_free(&r);
	free(buf);
}
END_TEST

START_TEST(exact_cap_is_accepted)
{
	size_t lens[] = { 100 }, total;
	uint8_t *buf = frames(lens, 1, &total);
	struct frame_reader r;
	struct got g = { 0 };

	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, buf, total, collect, &g, NULL, 0), 0);
	ck_assert_int_eq(g.n, 1);
	frame_reader_free(&r);
	free(buf);
}
END_TEST

START_TEST(one_past_cap_is_refused_before_allocation)
{
	uint8_t hdr[FRAME_HDR_LEN];
	struct frame_reader r;
	struct got g = { 0 };
	char err[128];

	frame_put_header(hdr, 101, 0);
	frame_reader_init(&r, 100);
	/* Only the header: the reader must refuse without waiting for a body. */
	ck_assert_int_eq(frame_reader_feed(&r, hdr, sizeof(hdr), collect, &g,
	    err, sizeof(err)), -EMSGSIZE);
	ck_assert_ptr_null(r.body);
	ck_assert_ptr_nonnull(strstr(err, "101"));
	ck_assert_int_eq(g.n, 0);
	frame_reader_free(&r);

	/* A 4 GiB claim is refused the same way, with no 4 GiB malloc. */
	memcpy(hdr + 4, "\xff\xff\xff\xff", 4);
	frame_reader_init(&r, FRAME_DEFAULT_CAP);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, sizeof(hdr), collect, &g,
	    err, sizeof(err)), -EMSGSIZE);
	frame_reader_free(&r);
}
END_TEST

START_TEST(zero_length_is_refused)
{
	uint8_t hdr[FRAME_HDR_LEN];
	struct frame_reader r;
	struct got g = { 0 };
	char err[128];

	frame_put_header(hdr, 0, 0);
	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, sizeof(hdr), collect, &g,
	    err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "empty frame");
	frame_reader_free(&r);
}
END_TEST

START_TEST(garbage_header_is_refused)
{
	const char *http = "GET / HTTP/1.1\r\n\r\n";
	uint8_t hdr[FRAME_HDR_LEN];
	struct frame_reader r;
	struct got g = { 0 };
	char err[128];

	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, http, strlen(http), collect, &g,
	    err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "not a printredir frame"));
	ck_assert_ptr_nonnull(strstr(err, "GET / HT"));
	frame_reader_free(&r);

	/* Our magic but another format version. */
	frame_put_header(hdr, 10, 0);
	hdr[2] = 9;
	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, hdr, sizeof(hdr), collect, &g,
	    err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "format 9"));
	frame_reader_free(&r);
}
END_TEST

START_TEST(callback_can_stop_the_reader)
{
	size_t lens[] = { 3, 3, 3 }, total;
	uint8_t *buf = frames(lens, 3, &total);
	struct frame_reader r;
	struct got g = { .stop_after = 2 };

	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, buf, total, collect, &g, NULL, 0), 42);
	ck_assert_int_eq(g.n, 2);
	frame_reader_free(&r);
	free(buf);
}
END_TEST

START_TEST(partial_body_is_freed)
{
	size_t lens[] = { 50 }, total;
	uint8_t *buf = frames(lens, 1, &total);
	struct frame_reader r;
	struct got g = { 0 };

	frame_reader_init(&r, 100);
	ck_assert_int_eq(frame_reader_feed(&r, buf, 20, collect, &g, NULL, 0), 0);
	ck_assert_ptr_nonnull(r.body);
	frame_reader_free(&r);	/* ASan's leak check proves this frees */
	ck_assert_ptr_null(r.body);
	free(buf);
}
END_TEST

/* A peer that announces 8 MiB and sends a few bytes holds no more than the
 * first 64 KiB; bodies in progress on all readers stay within one budget,
 * and what they held comes back when they finish or are freed. */
START_TEST(bodies_in_progress_are_budgeted)
{
	static uint8_t chunk[600 << 10];
	uint8_t hdr[FRAME_HDR_LEN];
	struct frame_reader a, b;
	struct got g = { 0 };
	char err[128];

	ck_assert_uint_eq(frame_in_progress(), 0);
	frame_reader_init(&a, (size_t)8 << 20);
	frame_put_header(hdr, (size_t)8 << 20, 0);
	ck_assert_int_eq(frame_reader_feed(&a, hdr, sizeof(hdr), collect, &g, NULL, 0), 0);
	ck_assert_int_eq(frame_reader_feed(&a, chunk, 10, collect, &g, NULL, 0), 0);
	ck_assert_uint_eq(frame_in_progress(), (size_t)64 << 10);
	frame_reader_free(&a);
	ck_assert_uint_eq(frame_in_progress(), 0);

	frame_set_budget((size_t)1 << 20);
	frame_reader_init(&a, (size_t)8 << 20);
	frame_reader_init(&b, (size_t)8 << 20);
	frame_put_header(hdr, (size_t)700 << 10, 0);
	ck_assert_int_eq(frame_reader_feed(&a, hdr, sizeof(hdr), collect, &g, NULL, 0), 0);
	ck_assert_int_eq(frame_reader_feed(&a, chunk, sizeof(chunk), collect, &g, NULL, 0), 0);
	ck_assert_uint_eq(frame_in_progress(), (size_t)700 << 10);
	ck_assert_int_eq(frame_reader_feed(&b, hdr, sizeof(hdr), collect, &g, NULL, 0), 0);
	ck_assert_int_eq(frame_reader_feed(&b, chunk, sizeof(chunk), collect, &g,
	    err, sizeof(err)), -ENOBUFS);
	ck_assert_str_eq(err, "frames in progress on all connections would pass "
	    "the budget of 1048576 bytes");
	/* a finishes: its bytes are given back, and b has room again. */
	ck_assert_int_eq(frame_reader_feed(&a, chunk, (100 << 10), collect, &g, NULL, 0), 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_uint_eq(g.lens[0], (size_t)700 << 10);
	ck_assert_uint_le(frame_in_progress(), (size_t)64 << 10);
	frame_reader_free(&b);
	ck_assert_uint_eq(frame_in_progress(), 0);
	frame_set_budget(FRAME_BUDGET_DEFAULT);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, joined_frames_in_one_read);
	tcase_add_test(tc, split_at_every_byte);
	tcase_add_test(tc, exact_cap_is_accepted);
	tcase_add_test(tc, one_past_cap_is_refused_before_allocation);
	tcase_add_test(tc, zero_length_is_refused);
	tcase_add_test(tc, garbage_header_is_refused);
	tcase_add_test(tc, callback_can_stop_the_reader);
	tcase_add_test(tc, partial_body_is_freed);
	tcase_add_test(tc, bodies_in_progress_are_budgeted);
	suite_add_tcase(s, tc);
	return s;
}
