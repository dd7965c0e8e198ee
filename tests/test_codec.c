/* The envelope codec: round trips, unknown fields, truncation, the
 * allocation budget and validation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "cupsconn.h"
#include "frame.h"
#include "hash.h"
#include "runner.h"

/* Encodes env and returns the body (without the frame header). */
static uint8_t *
encode(const codec_env_t *env, size_t *len)
{
	uint8_t *frame, *body;
	size_t flen;

	ck_assert_int_eq(codec_encode_frame(env, &frame, &flen), 0);
	*len = flen - FRAME_HDR_LEN;
	body = malloc(*len);
	memcpy(body, frame + FRAME_HDR_LEN, *len);
	free(frame);
	return body;
}

static void
sample_set(codec_env_t *env, Printredir__PrinterSet *set,
    Printredir__Printer *pr, Printredir__Printer **prs, Printredir__Driver *drv,
    Printredir__Driver **drvs, uint8_t hash[HASH_LEN])
{
	codec_env_init(env, PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET);
	printredir__printer_set__init(set);
	printredir__printer__init(pr);
	printredir__driver__init(drv);
	env->printer_set = set;
	set->has_generation = 1;
	set->generation = 7;
	pr->name = "Office_Laser";
	pr->host_device_uri = "ipp://10.0.2.5:631/printers/Office_Laser";
	pr->make_model = "HP Color LaserJet CM3530 MFP PDF";
	pr->has_driver_state = 1;
	pr->driver_state = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	hash_sha256("ppd", 3, hash);
	pr->has_driver_sha256 = 1;
	pr->driver_sha256.data = hash;
	pr->driver_sha256.len = HASH_LEN;
	prs[0] = pr;
	set->n_printers = 1;
	set->printers = prs;
	drv->has_sha256 = 1;
	drv->sha256 = pr->driver_sha256;
	drv->has_size = 1;
	drv->size = 3;
	drv->has_data = 1;
	drv->data.data = (uint8_t *)"ppd";
	drv->data.len = 3;
	drvs[0] = drv;
	set->n_drivers = 1;
	set->drivers = drvs;
}

START_TEST(round_trip)
{
	codec_env_t env, *out = NULL;
	Printredir__PrinterSet set;
	Printredir__Printer pr, *prs[1];
	Printredir__Driver drv, *drvs[1];
	uint8_t hash[HASH_LEN], *body;
	size_t len;
	char err[256];

	sample_set(&env, &set, &pr, prs, &drv, drvs, hash);
	body = encode(&env, &len);
	ck_assert_int_eq(codec_decode(body, len, CODEC_BUDGET(len), &out), 0);
	ck_assert_int_eq(codec_validate(out, err, sizeof(err)), 0);
	ck_assert_int_eq(out->type, PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET);
	ck_assert_uint_eq(out->printer_set->generation, 7);
	ck_assert_str_eq(out->printer_set->printers[0]->name, "Office_Laser");
	ck_assert_mem_eq(out->printer_set->printers[0]->driver_sha256.data, hash, HASH_LEN);
	ck_assert_mem_eq(out->printer_set->drivers[0]->data.data, "ppd", 3);
	codec_free(out);
	free(body);
}
END_TEST

START_TEST(unknown_fields_are_ignored)
{
	codec_env_t env, *out = NULL;
	Printredir__Heartbeat hb = PRINTREDIR__HEARTBEAT__INIT;
	uint8_t *body, *ext;
	size_t len;
	char err[256];
	/* Field 99, wire type 2 (length-delimited), 3 bytes: a newer peer's field. */
	static const uint8_t unknown[] = { 0x9a, 0x06, 0x03, 'n', 'e', 'w' };

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HEARTBEAT);
	env.heartbeat = &hb;
	hb.has_seq = 1;
	hb.seq = 5;
	body = encode(&env, &len);
	ext = malloc(len + sizeof(unknown));
	memcpy(ext, body, len);
	memcpy(ext + len, unknown, sizeof(unknown));
	ck_assert_int_eq(codec_decode(ext, len + sizeof(unknown),
	    CODEC_BUDGET(len + sizeof(unknown)), &out), 0);
	ck_assert_int_eq(codec_validate(out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out->heartbeat->seq, 5);
	codec_free(out);
	free(ext);
	free(body);
}
END_TEST

START_TEST(truncated_input_is_refused)
{
	codec_env_t env, *out = NULL;
	Printredir__PrinterSet set;
	Printredir__Printer pr, *prs[1];
	Printredir__Driver drv, *drvs[1];
	uint8_t hash[HASH_LEN], *body;
	size_t len;
	int refused = 0;

	sample_set(&env, &set, &pr, prs, &drv, drvs, hash);
	body = encode(&env, &len);
	/* Every strict prefix either fails to decode or fails validation,
	 * and none leaks (ASan). */
	for (size_t cut = 1; cut < len; cut++) {
		char err[256];
		int rc = codec_decode(body, cut, CODEC_BUDGET(cut), &out);

		if (rc == 0) {
			rc = codec_validate(out, err, sizeof(err));
			codec_free(out);
		} else {
			ck_assert_int_eq(rc, -EBADMSG);
		}
		if (rc != 0)
			refused++;
	}
	/* A cut inside the last length-delimited field can never decode. */
	ck_assert_int_eq(codec_decode(body, len - 1, CODEC_BUDGET(len), &out), -EBADMSG);
	ck_assert_ptr_null(out);
	ck_assert_int_gt(refused, (int)len / 2);
	free(body);
}
END_TEST

START_TEST(allocation_budget_is_enforced)
{
	/* 100,000 empty Printer sub-messages: 2 bytes each on the wire, but
	 * each costs protobuf-c a pointer and a struct of over 100 bytes. */
	size_t n = 100000, len = 2 + 2 * n + 2, o = 0;
	uint8_t *body = malloc(len + 16), *set;
	codec_env_t *out = NULL;
	size_t setlen = 2 * n;

	body[o++] = 0x08;	/* version = 1 */
	body[o++] = 0x01;
	body[o++] = 0x10;	/* type = printer set */
	body[o++] = 0x04;
	body[o++] = 0x6a;	/* field 13, length-delimited */
	/* varint of setlen */
	for (size_t v = setlen; ; v >>= 7) {
		body[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		if (v <= 0x7f)
			break;
	}
	set = body + o;
	for (size_t i = 0; i < n; i++) {
		set[2 * i] = 0x12;	/* printers, field 2 */
		set[2 * i + 1] = 0;
	}
	len = o + setlen;
	ck_assert_int_eq(codec_decode(body, len, CODEC_BUDGET(len), &out), -ENOMEM);
	ck_assert_ptr_null(out);
	/* The same bytes decode with an unbounded budget: the refusal above is
	 * the budget's doing, not a malformed message. */
	ck_assert_int_eq(codec_decode(body, len, (size_t)1 << 30, &out), 0);
	ck_assert_uint_eq(out->printer_set->n_printers, n);
	codec_free(out);
	free(body);
}
END_TEST

START_TEST(garbage_is_refused)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	codec_env_t *out = NULL;

	ck_assert_int_eq(codec_decode(junk, sizeof(junk), CODEC_BUDGET(sizeof(junk)),
	    &out), -EBADMSG);
	ck_assert_ptr_null(out);
}
END_TEST

static int
validate_bytes(codec_env_t *env, char *err, size_t errlen)
{
	codec_env_t *out = NULL;
	uint8_t *body;
	size_t len;
	int rc;

	body = encode(env, &len);
	ck_assert_int_eq(codec_decode(body, len, CODEC_BUDGET(len), &out), 0);
	rc = codec_validate(out, err, errlen);
	codec_free(out);
	free(body);
	return rc;
}

START_TEST(validation_refuses_bad_messages)
{
	codec_env_t env;
	Printredir__PrinterSet set;
	Printredir__Printer pr, *prs[1];
	Printredir__Driver drv, *drvs[1];
	Printredir__Heartbeat hb = PRINTREDIR__HEARTBEAT__INIT;
	uint8_t hash[HASH_LEN];
	char err[256], longname[200];

	/* Type and body disagree. */
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HELLO);
	env.body_case = PRINTREDIR__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "mismatched"));

	/* Unknown type. */
	env.type = 99;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "unknown message type 99"));

	/* No version. */
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_HEARTBEAT);
	env.heartbeat = &hb;
	env.has_version = 0;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);

	/* A printer name over the CUPS limit: the set is taken, that printer
	 * is refused on its own (one bad printer must not spoil the set). */
	sample_set(&env, &set, &pr, prs, &drv, drvs, hash);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	pr.name = longname;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	ck_assert_int_eq(codec_check_printer_name(&pr, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "printer: name"));

	/* A control character in a string from the wire. */
	pr.name = "evil\nname";
	ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "printer: name has a control character");
	pr.name = "ok";
	pr.info = "Floor 2\tEast";
	ck_assert_int_eq(codec_check_printer_name(&pr, err, sizeof(err)), 0);
	ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "printer: info has a control character");
	pr.info = NULL;
	ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), 0);

	/* A condition and defaults: keywords, bounded counts. */
	{
		Printredir__PrinterCondition cond = PRINTREDIR__PRINTER_CONDITION__INIT;
		Printredir__JobOption opt = PRINTREDIR__JOB_OPTION__INIT, *opts[] = { &opt };
		char *reasons[CODEC_MAX_REASONS + 1];

		for (size_t i = 0; i <= CODEC_MAX_REASONS; i++)
			reasons[i] = "offline-report";
		cond.reasons = reasons;
		cond.n_reasons = 1;
		cond.message = "Printer is offline";
		pr.condition = &cond;
		opt.name = "sides";
		opt.value = "two-sided-long-edge";
		pr.defaults = opts;
		pr.n_defaults = 1;
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), 0);
		cond.n_reasons = CODEC_MAX_REASONS + 1;
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "state reasons"));
		cond.n_reasons = 1;
		reasons[0] = "offline report";
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "not a keyword"));
		reasons[0] = "offline-report";
		opt.name = "sides;rm";
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "default's name"));
		opt.name = "Duplex";
		opt.value = "";
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "default's value is missing"));
		/* A PPD choice is a PPD word, nothing else. */
		pr.defaults = NULL;
		pr.n_defaults = 0;
		opt.value = "DuplexNoTumble";
		pr.ppd_defaults = opts;
		pr.n_ppd_defaults = 1;
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), 0);
		opt.value = "x\"\n*cupsFilter: evil";
		ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "PPD default"));
		pr.ppd_defaults = NULL;
		pr.n_ppd_defaults = 0;
		pr.condition = NULL;
		pr.defaults = NULL;
		pr.n_defaults = 0;
	}

	/* A driver hash of the wrong length. */
	pr.driver_sha256.len = 5;
	ck_assert_int_eq(codec_check_printer(&pr, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "SHA-256"));
}
END_TEST

/* What the broker does to text before it sends it (codec_clean_text). */
START_TEST(clean_text)
{
	char a[] = "Floor 2\tEast\r\n", b[] = "caf\xe9 ok", c[] = "plain",
	    d[] = "\xc3\xa9t\xc3\xa9", e[] = "abc\xc3\xa9";

	ck_assert_int_eq(codec_clean_text(a, 100), 1);
	ck_assert_str_eq(a, "Floor 2 East  ");
	ck_assert_int_eq(codec_clean_text(b, 100), 1);
	ck_assert_str_eq(b, "caf? ok");
	ck_assert_int_eq(codec_clean_text(c, 100), 0);
	ck_assert_str_eq(c, "plain");
	ck_assert_int_eq(codec_clean_text(d, 100), 0);	/* UTF-8 is kept */
	ck_assert_int_eq(codec_clean_text(e, 4), 1);	/* cut before the é */
	ck_assert_str_eq(e, "abc");
}
END_TEST

/* Queue names as CUPS sees them, and the ones no person means. */
START_TEST(queue_names)
{
	ck_assert_int_eq(cupsconn_valid_name("office"), 1);
	ck_assert_int_eq(cupsconn_valid_name("Büro_2"), 1);
	ck_assert_int_eq(cupsconn_valid_name("a-b.c"), 1);
	ck_assert_int_eq(cupsconn_valid_name("."), 0);
	ck_assert_int_eq(cupsconn_valid_name(".."), 0);
	ck_assert_int_eq(cupsconn_valid_name("-x"), 0);
	ck_assert_int_eq(cupsconn_valid_name("caf\xe9"), 0);
	ck_assert_int_eq(cupsconn_valid_name("a b"), 0);
	ck_assert_int_eq(cupsconn_valid_name("a/b"), 0);
	ck_assert_int_eq(cupsconn_valid_name(""), 0);
	ck_assert_int_eq(cupsconn_same_name("Office", "office"), 1);
	ck_assert_int_eq(cupsconn_same_name("Office", "Office2"), 0);
}
END_TEST

START_TEST(driver_inventory_pages_are_bounded)
{
	static ProtobufCBinaryData v[CODEC_INVENTORY_PAGE + 1];
	static uint8_t hashes[CODEC_INVENTORY_PAGE + 1][HASH_LEN];
	codec_env_t env;
	Printredir__DriverInventory inv = PRINTREDIR__DRIVER_INVENTORY__INIT;
	char err[256];

	for (size_t i = 0; i <= CODEC_INVENTORY_PAGE; i++) {
		hashes[i][0] = (uint8_t)i;
		v[i].data = hashes[i];
		v[i].len = HASH_LEN;
	}
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_DRIVER_INVENTORY);
	env.driver_inventory = &inv;
	inv.hashes = v;
	inv.has_last = inv.last = 1;
	inv.n_hashes = CODEC_INVENTORY_PAGE;	/* a full page */
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	inv.n_hashes = 0;			/* an agent that holds nothing */
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	inv.n_hashes = CODEC_INVENTORY_PAGE + 1;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "hashes in a page, at most"));
	inv.n_hashes = 2;
	v[1].len = 31;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "driver inventory: hash"));
}
END_TEST

/* Every bound of the job messages is checked before anything acts on them:
 * a chunk over CODEC_JOB_CHUNK, credit over the window, copies out of
 * range, too many options, a control character in a name. */
START_TEST(job_messages_are_bounded)
{
	static uint8_t chunk[CODEC_JOB_CHUNK + 1];
	static Printredir__JobOption o[CODEC_MAX_OPTIONS + 1];
	static Printredir__JobOption *op[CODEC_MAX_OPTIONS + 1];
	Printredir__JobStart js = PRINTREDIR__JOB_START__INIT;
	Printredir__JobData jd = PRINTREDIR__JOB_DATA__INIT;
	Printredir__JobCredit jc = PRINTREDIR__JOB_CREDIT__INIT;
	Printredir__JobResult jr = PRINTREDIR__JOB_RESULT__INIT;
	codec_env_t env;
	char err[256];

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_START);
	env.job_start = &js;
	js.printer = "office";
	js.user = "alice";
	js.format = "application/pdf";
	js.has_copies = 1;
	js.copies = 2;
	for (size_t i = 0; i <= CODEC_MAX_OPTIONS; i++) {
		printredir__job_option__init(&o[i]);
		o[i].name = "sides";
		o[i].value = "two-sided-long-edge";
		op[i] = &o[i];
	}
	js.options = op;
	js.n_options = CODEC_MAX_OPTIONS;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	js.n_options = CODEC_MAX_OPTIONS + 1;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "options, at most"));
	js.n_options = 1;
	js.copies = 0;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "copies must be 1 to"));
	js.copies = CODEC_MAX_COPIES + 1;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	js.copies = 1;
	js.user = "al\x1bice";
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "job: user has a control character"));
	js.user = NULL;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "job: user is missing"));

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_DATA);
	env.job_data = &jd;
	jd.has_data = 1;
	jd.data.data = chunk;
	jd.data.len = CODEC_JOB_CHUNK;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	jd.data.len = CODEC_JOB_CHUNK + 1;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "bytes in a chunk, at most"));

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_CREDIT);
	env.job_credit = &jc;
	jc.has_chunks = 1;
	jc.chunks = CODEC_JOB_WINDOW;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
	jc.chunks = CODEC_JOB_WINDOW + 1;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);

	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_JOB_RESULT);
	env.job_result = &jr;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "job result: outcome"));
	jr.has_outcome = 1;
	jr.outcome = PRINTREDIR__JOB_OUTCOME__JOB_ACCEPTED;
	ck_assert_int_eq(validate_bytes(&env, err, sizeof(err)), 0);
}
END_TEST

START_TEST(names_table)
{
	ck_assert_str_eq(codec_type_name(PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET), "printer-set");
	ck_assert_str_eq(codec_type_name(1234), "unknown");
	ck_assert_str_eq(codec_printer_state_name(PRINTREDIR__PRINTER_STATE__PRINTER_DUPLICATE_SKIPPED),
	    "duplicate-skipped");
	ck_assert_str_eq(codec_restart_phase_name(PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED),
	    "deferred");
	ck_assert_str_eq(codec_restart_phase_name(-1), "unknown");
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, unknown_fields_are_ignored);
	tcase_add_test(tc, truncated_input_is_refused);
	tcase_add_test(tc, allocation_budget_is_enforced);
	tcase_add_test(tc, garbage_is_refused);
	tcase_add_test(tc, validation_refuses_bad_messages);
	tcase_add_test(tc, driver_inventory_pages_are_bounded);
	tcase_add_test(tc, clean_text);
	tcase_add_test(tc, queue_names);
	tcase_add_test(tc, job_messages_are_bounded);
	tcase_add_test(tc, names_table);
	suite_add_tcase(s, tc);
	return s;
}
