/*
 * The broker's state files read back: broker.json, guests.json and the
 * driver cache's index.  Each damaged form (null, wrong type, missing
 * member, not an object, not JSON) is refused or left out with a log line,
 * never crashed on, and the good entries around it are kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "../host-broker/broker.h"
#include "jsonget.h"
#include "runner.h"

#define SHA_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_B "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *
read_file(const char *dir, const char *name)
{
	char path[1024], *text = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_lt(fread(text, 1, 65535, f), 65535);
	fclose(f);
	return text;
}

/* --- broker.json ---------------------------------------------------------- */

START_TEST(broker_state_good)
{
	static const char text[] = "{\"generation\": 18446744073709551615}\n";
	uint64_t g = 0;
	char err[256] = "";

	ck_assert_int_eq(broker_parse_state(text, strlen(text), &g, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(g, UINT64_MAX);
	/* No NUL at the end needed: the length is the end. */
	ck_assert_int_eq(broker_parse_state("{\"generation\": 12}xyz", 18, &g,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(g, 12);
}
END_TEST

START_TEST(broker_state_damaged)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "{\"generation\": null}", "\"generation\" is missing" },
		{ "{\"generation\": \"7\"}", "\"generation\" is missing" },
		{ "{\"generation\": -1}", "negative" },
		{ "{\"generation\": 1.5}", "not an integer" },
		{ "{\"generation\": {}}", "not an integer" },
		{ "{}", "\"generation\" is missing" },
		{ "[7]", "not a JSON object" },
		{ "7", "not a JSON object" },
		{ "\"x\"", "not a JSON object" },
		{ "null", "only null" },
		{ "", "it is empty" },
		{ " \n", "it is empty" },
		{ "{\"generation\": 7", "not JSON" },
		{ "{\"generation\": 7} {", "more follows" },
		{ "\x89PNG\r\n\x1a\n", "not JSON" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		  "not JSON" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t g = 99;

		err[0] = '\0';
		ck_assert_msg(broker_parse_state(bad[i].text, strlen(bad[i].text), &g,
		    err, sizeof(err)) == -EINVAL, "accepted %s", bad[i].text);
		ck_assert_uint_eq(g, 99);
		ck_assert_msg(strstr(err, bad[i].why) != NULL, "%s: \"%s\" lacks \"%s\"",
		    bad[i].text, err, bad[i].why);
	}
	/* A NUL inside is not JSON either (json-c would stop there). */
	ck_assert_int_eq(broker_parse_state("{\"generation\": 1}\0{", 19, &(uint64_t){ 0 },
	    err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
}
END_TEST

START_TEST(broker_state_damaged_file_logs_and_keeps_going)
{
	struct broker b = { 0 };

	b.conf.state_dir = (char *)runner_tmpdir();
	write_file(b.conf.state_dir, "broker.json", "{\"generation\": null}");
	runner_expect_log("broker.json ignored: \"generation\" is missing");
	broker_load_state(&b);
	ck_assert_uint_eq(b.generation, 0);
	write_file(b.conf.state_dir, "broker.json", "{\"generation\": 5}");
	broker_load_state(&b);
	ck_assert_uint_eq(b.generation, 5);
}
END_TEST

/* --- drivers/index.json --------------------------------------------------- */

START_TEST(driver_index_good)
{
	static const char text[] = "{\"sources\": ["
	    "{\"key\": \"http://ps:631/printers/A.ppd\", \"sha256\": \"" SHA_A "\","
	    " \"last_modified\": 1700000000, \"checked\": 1700000100},"
	    "{\"key\": \"db:ps:HP X\", \"sha256\": \"" SHA_B "\","
	    " \"last_modified\": 0, \"checked\": 5, \"ppd_name\": \"drv:///hp.ppd\"}"
	    "]}";
	struct drivers_entry *v;
	size_t n;

	ck_assert_int_eq(drivers_index_parse(text, strlen(text), "index.json", &v, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].key, "http://ps:631/printers/A.ppd");
	ck_assert_int_eq(v[0].sha[0], 0x9f);
	ck_assert_int_eq(v[0].last_modified, 1700000000);
	ck_assert_int_eq(v[0].checked, 1700000100);
	ck_assert_ptr_null(v[0].ppd_name);
	ck_assert_str_eq(v[1].key, "db:ps:HP X");
	ck_assert_int_eq(v[1].sha[0], 0x60);
	ck_assert_str_eq(v[1].ppd_name, "drv:///hp.ppd");
	drivers_index_free(v, n);
}
END_TEST

START_TEST(driver_index_bad_entries_are_left_out)
{
	/* The good one is kept wherever it stands among the bad ones. */
	static const char text[] = "{\"sources\": ["
	    "{\"key\": null, \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0},"
	    "{\"key\": \"k1\", \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0,"
	    " \"ppd_name\": null},"
	    "{\"key\": \"k2\", \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0,"
	    " \"ppd_name\": 42},"
	    "{\"key\": 3, \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0},"
	    "{\"key\": \"k4\", \"sha256\": null, \"last_modified\": 0, \"checked\": 0},"
	    "{\"key\": \"k5\", \"sha256\": \"abc\", \"last_modified\": 0, \"checked\": 0},"
	    "{\"key\": \"k6\", \"sha256\": \"" SHA_A "\", \"last_modified\": \"x\", \"checked\": 0},"
	    "{\"key\": \"k7\", \"sha256\": \"" SHA_A "\", \"last_modified\": 0},"
	    "{\"key\": \"good\", \"sha256\": \"" SHA_B "\", \"last_modified\": 1, \"checked\": 2},"
	    "{\"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0},"
	    "null, 5, \"s\", [], true"
	    "]}";
	struct drivers_entry *v;
	size_t n;

	runner_expect_log("index.json: ignored 14 of 15 entries (first: entry 0: \"key\" is "
	    "missing, null or not a string); their drivers will be fetched again");
	ck_assert_int_eq(drivers_index_parse(text, strlen(text), "index.json", &v, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].key, "good");
	ck_assert_int_eq(v[0].checked, 2);
	drivers_index_free(v, n);
}
END_TEST

START_TEST(driver_index_not_an_index)
{
	static const char *bad[] = {
		"{\"sources\": null}", "{\"sources\": {}}", "{\"sources\": \"x\"}",
		"{}", "[]", "null", "\"sources\"", "", "{\"sources\": [",
		"garbage", "{\"sources\": []}}",
	};

	runner_expect_log("every driver will be fetched again");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct drivers_entry *v = (void *)1;
		size_t n = 7;

		ck_assert_msg(drivers_index_parse(bad[i], strlen(bad[i]), "index.json",
		    &v, &n) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_null(v);
		ck_assert_uint_eq(n, 0);
	}
}
END_TEST

/*
 * The defect: a null key or ppd_name in drivers/index.json, next to a blob
 * that is there, made the broker segfault at start (strdup(NULL)).
 */
START_TEST(driver_cache_start_survives_a_damaged_index)
{
	struct broker_conf conf = { 0 };
	char dir[1024];

	conf.state_dir = (char *)runner_tmpdir();
	snprintf(dir, sizeof(dir), "%s/drivers", conf.state_dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	/* SHA_A is the SHA-256 of "test": a real blob for the entries. */
	write_file(dir, SHA_A ".ppd", "test");
	write_file(dir, "index.json", "{\"sources\": ["
	    "{\"key\": null, \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0},"
	    "{\"key\": \"k\", \"sha256\": \"" SHA_A "\", \"last_modified\": 0, \"checked\": 0,"
	    " \"ppd_name\": null}]}");
	runner_expect_log("index.json: ignored 2 of 2 entries (first: entry 0: \"key\" is missing");
	ck_assert_int_eq(drivers_init(&conf), 0);
}
END_TEST

/* --- guests.json ---------------------------------------------------------- */

#define GUEST(id, extra) "{\"id\": " id ", \"last_seen\": 100, \"generation\": 3," \
	" \"restart\": 1, \"deferrals\": 2, \"restart_until\": 0" extra "}"
#define PRINTERS ", \"printers\": [{\"name\": \"A\", \"state\": 1, \"detail\": \"\"}]"

static struct broker *
new_broker(void)
{
	struct broker *b = calloc(1, sizeof(*b));

	b->conf.state_dir = (char *)runner_tmpdir();
	return b;
}

/* The guests as the status document shows them; caller puts it. */
static json_object *
status_of(struct broker *b)
{
	json_object *doc = json_object_new_object();

	guests_status(b, doc, 0);
	return doc;
}

/* Guest id's entry in doc, or NULL. */
static json_object *
guest_in(json_object *doc, const char *id)
{
	json_object *arr = jget_arr(doc, "guests");

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		if (strcmp(jget_str(json_object_array_get_idx(arr, i), "id"), id) == 0)
			return json_object_array_get_idx(arr, i);
	return NULL;
}

START_TEST(guests_state_good_round_trip)
{
	static const char text[] = "[" GUEST("\"g1\"", ", \"restart_detail\": \"later\","
	    " \"dry_run\": true, \"printers\": [{\"name\": \"A\", \"state\": 2, \"detail\": \"\"},"
	    " {\"name\": \"B\", \"state\": 4, \"detail\": \"no driver\"}]") ","
	    GUEST("\"g2\"", ", \"printers\": []") "]";
	struct broker *b = new_broker();
	json_object *doc, *g1, *ps;
	char *saved;

	ck_assert_int_eq(guests_parse_state(b, text, strlen(text), "guests.json"), 0);
	doc = status_of(b);
	ck_assert_ptr_nonnull(g1 = guest_in(doc, "g1"));
	ck_assert_ptr_nonnull(guest_in(doc, "g2"));
	ck_assert_int_eq(jget_int(g1, "generation", 0), 3);
	ck_assert_int_eq(jget_int(g1, "deferrals", 0), 2);
	ck_assert_str_eq(jget_str(g1, "restart_detail"), "later");
	ck_assert(jget_bool(g1, "dry_run", 0));
	ck_assert(!jget_bool(guest_in(doc, "g2"), "dry_run", 1));
	/* Bytes count since the broker started: none yet. */
	ck_assert_int_eq(jget_int(g1, "bytes_sent", -1), 0);
	ck_assert_int_eq(jget_int(g1, "driver_bytes_sent", -1), 0);
	ps = jget_arr(g1, "printers");
	ck_assert_uint_eq(json_object_array_length(ps), 2);
	ck_assert_str_eq(jget_str(json_object_array_get_idx(ps, 1), "detail"),
	    "no driver");
	/* An installed printer's detail would only repeat its state. */
	ck_assert_str_eq(jget_str(json_object_array_get_idx(ps, 0), "state"), "installed");
	ck_assert(!json_object_object_get_ex(json_object_array_get_idx(ps, 0), "detail",
	    NULL));
	json_object_put(doc);
	/* What it saves reads back the same. */
	guests_free(b);
	saved = read_file(b->conf.state_dir, "guests.json");
	ck_assert_int_eq(guests_parse_state(b, saved, strlen(saved), "guests.json"), 0);
	doc = status_of(b);
	ck_assert_ptr_nonnull(g1 = guest_in(doc, "g1"));
	ck_assert_uint_eq(json_object_array_length(jget_arr(g1, "printers")), 2);
	ck_assert(jget_bool(g1, "dry_run", 0));
	ck_assert(!jget_bool(guest_in(doc, "g2"), "dry_run", 1));
	json_object_put(doc);
	guests_free(b);
	free(saved);
	free(b);
}
END_TEST

START_TEST(guests_not_seen_for_forget_after_are_forgotten)
{
	struct broker *b = new_broker();
	long long now = (long long)time(NULL);
	char text[512], *saved;
	json_object *doc;

	snprintf(text, sizeof(text), "[{\"id\": \"old\", \"last_seen\": %lld, "
	    "\"generation\": 1, \"restart\": 1, \"deferrals\": 0, \"restart_until\": 0, "
	    "\"printers\": []}, {\"id\": \"recent\", \"last_seen\": %lld, "
	    "\"generation\": 1, \"restart\": 1, \"deferrals\": 0, \"restart_until\": 0, "
	    "\"printers\": []}]", now - 7200, now - 60);
	b->conf.forget_after = 3600;
	ck_assert_int_eq(guests_parse_state(b, text, strlen(text), "guests.json"), 0);
	guests_forget(b, (time_t)now);
	doc = status_of(b);
	ck_assert_ptr_null(guest_in(doc, "old"));
	ck_assert_ptr_nonnull(guest_in(doc, "recent"));
	json_object_put(doc);
	/* And it is gone from the file too. */
	saved = read_file(b->conf.state_dir, "guests.json");
	ck_assert_ptr_null(strstr(saved, "\"old\""));
	ck_assert_ptr_nonnull(strstr(saved, "\"recent\""));
	free(saved);
	guests_drop(b);
	free(b);
}
END_TEST

/* Past GUESTS_MAX (2048) records, the guest seen longest ago goes first. */
START_TEST(guest_records_are_bounded_oldest_first)
{
	struct broker *b = new_broker();
	size_t cap = 2200 * 160, o = 0;
	char *text = malloc(cap);
	json_object *doc;

	ck_assert_ptr_nonnull(text);
	o += (size_t)snprintf(text + o, cap - o, "[");
	for (int i = 0; i < 2200; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{\"id\": \"g%d\", "
		    "\"last_seen\": %d, \"generation\": 1, \"restart\": 1, "
		    "\"deferrals\": 0, \"restart_until\": 0, \"printers\": []}",
		    i ? "," : "", i, 1000 + i);
	snprintf(text + o, cap - o, "]");
	ck_assert_int_eq(guests_parse_state(b, text, strlen(text), "guests.json"), 0);
	doc = status_of(b);
	ck_assert_uint_eq(json_object_array_length(jget_arr(doc, "guests")), 2048);
	ck_assert_ptr_null(guest_in(doc, "g0"));
	ck_assert_ptr_null(guest_in(doc, "g151"));
	ck_assert_ptr_nonnull(guest_in(doc, "g152"));
	ck_assert_ptr_nonnull(guest_in(doc, "g2199"));
	json_object_put(doc);
	guests_drop(b);
	free(text);
	free(b);
}
END_TEST

START_TEST(guests_state_bad_entries_are_left_out)
{
	static const char text[] = "["
	    GUEST("null", PRINTERS) ","
	    GUEST("5", PRINTERS) ","
	    "{\"id\": \"nolastseen\", \"generation\": 3, \"restart\": 1, \"deferrals\": 2,"
	    " \"restart_until\": 0" PRINTERS "},"
	    GUEST("\"printersnull\"", ", \"printers\": null") ","
	    GUEST("\"noprinters\"", "") ","
	    GUEST("\"detailnull\"", ", \"restart_detail\": null" PRINTERS) ","
	    "{\"id\": \"gennull\", \"last_seen\": 1, \"generation\": null, \"restart\": 1,"
	    " \"deferrals\": 0, \"restart_until\": 0" PRINTERS "},"
	    "{\"id\": \"negdefer\", \"last_seen\": 1, \"generation\": 1, \"restart\": 1,"
	    " \"deferrals\": -1, \"restart_until\": 0" PRINTERS "},"
	    "null, 7, \"g\", [],"
	    GUEST("\"good\"", ", \"printers\": [{\"name\": null, \"state\": 1, \"detail\": \"\"},"
	    " {\"name\": \"A\", \"state\": 1, \"detail\": null},"
	    " {\"name\": \"B\", \"state\": \"x\", \"detail\": \"\"},"
	    " {\"name\": \"C\", \"detail\": \"\"}, null, 3,"
	    " {\"name\": \"D\", \"state\": 4, \"detail\": \"kept\"}]") ","
	    GUEST("\"good\"", PRINTERS)
	    "]";
	struct broker *b = new_broker();
	json_object *doc, *good, *ps;

	runner_expect_log("guests.json: ignored 13 of 14 guest entries and 6 printer "
	    "reports (first: guest entry 0: \"id\" is missing, null or not a string); "
	    "the rest is kept");
	ck_assert_int_eq(guests_parse_state(b, text, strlen(text), "guests.json"), 0);
	doc = status_of(b);
	ck_assert_uint_eq(json_object_array_length(jget_arr(doc, "guests")), 1);
	ck_assert_ptr_nonnull(good = guest_in(doc, "good"));
	ps = jget_arr(good, "printers");
	ck_assert_uint_eq(json_object_array_length(ps), 1);
	ck_assert_str_eq(jget_str(json_object_array_get_idx(ps, 0), "detail"), "kept");
	json_object_put(doc);
	guests_free(b);
	free(b);
}
END_TEST

START_TEST(guests_state_not_a_list)
{
	static const char *bad[] = {
		"{}", "null", "\"x\"", "5", "", "[", "garbage", "{\"guests\": []}",
		"[]]",
	};
	struct broker *b = new_broker();

	runner_expect_log("guests.json ignored: ");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(guests_parse_state(b, bad[i], strlen(bad[i]),
		    "guests.json") == -EINVAL, "accepted %s", bad[i]);
	ck_assert_ptr_null(b->guests);
	free(b);
}
END_TEST

/*
 * A broker whose start failed before guests_start() (no key file) crashed
 * at exit in guests_free(); it must neither crash nor overwrite the guests
 * it never read.
 */
START_TEST(guests_free_before_start_keeps_the_file)
{
	struct broker *b = new_broker();
	static const char text[] = "[" GUEST("\"g1\"", PRINTERS) "]";
	char *saved;

	write_file(b->conf.state_dir, "guests.json", text);
	guests_free(b);
	saved = read_file(b->conf.state_dir, "guests.json");
	ck_assert_str_eq(saved, text);
	free(saved);
	free(b);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("brokerstate");
	TCase *tc = tcase_create("brokerstate");

	tcase_add_test(tc, broker_state_good);
	tcase_add_test(tc, broker_state_damaged);
	tcase_add_test(tc, broker_state_damaged_file_logs_and_keeps_going);
	tcase_add_test(tc, driver_index_good);
	tcase_add_test(tc, driver_index_bad_entries_are_left_out);
	tcase_add_test(tc, driver_index_not_an_index);
	tcase_add_test(tc, driver_cache_start_survives_a_damaged_index);
	tcase_add_test(tc, guests_state_good_round_trip);
	tcase_add_test(tc, guests_state_bad_entries_are_left_out);
	tcase_add_test(tc, guests_not_seen_for_forget_after_are_forgotten);
	tcase_add_test(tc, guest_records_are_bounded_oldest_first);
	tcase_add_test(tc, guests_state_not_a_list);
	tcase_add_test(tc, guests_free_before_start_keeps_the_file);
	suite_add_tcase(s, tc);
	return s;
}
