/*
 * conf: every value type, defaults, and every error path, each checked for
 * its code and for a message naming the file, the line and the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <ini.h>

#include "addr.h"
#include "conf.h"
#include "runner.h"

struct cfg {
	int before;			/* not in the schema: never touched */
	char *name;
	char *key_file;
	char *note;
	int redirect;
	long long workers;
	long long offset;
	long long big;
	struct addr listen;
	long long retry;
	long long grace;
	struct addr connect;
	int after;			/* not in the schema either */
};

#define K(sec, key, type, field, def, min, max, req, empty) \
	{ sec, key, type, offsetof(struct cfg, field), def, min, max, req, \
	    empty }

static const struct conf_key keys[] = {
	K("broker", "name", CONF_STRING, name, "printredir", 0, 0, 0, 0),
	K("broker", "key_file", CONF_STRING, key_file, NULL, 0, 0, 1, 0),
	K("broker", "note", CONF_STRING, note, NULL, 0, 0, 0, 1),
	K("broker", "redirect", CONF_BOOL, redirect, "yes", 0, 0, 0, 0),
	K("broker", "workers", CONF_INT, workers, "4", 1, 64, 0, 0),
	K("broker", "offset", CONF_INT, offset, "-5", -100, 100, 0, 0),
	K("broker", "big", CONF_INT, big, NULL, 0, 0, 0, 0),
	K("broker", "listen", CONF_ADDR, listen,
	    "unix:/run/printredir/broker.sock", 0, 0, 0, 0),
	K("agent", "retry", CONF_DURATION, retry, "30s", 1, 7 * 86400, 0, 0),
	K("agent", "grace", CONF_DURATION, grace, NULL, 0, 0, 0, 0),
	K("agent", "connect", CONF_ADDR, connect, NULL, 0, 0, 0, 0),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

#define FILE_NAME "test.conf"
#define BASE "[broker]\nkey_file = /etc/printredir/psk\n"	/* 2 lines */

static char err[1024];

static void
cfg_init(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->before = 0x1234;
	c->after = 0x5678;
}

static int
load(const char *text, struct cfg *c)
{
	cfg_init(c);
	err[0] = '\0';
	return conf_load_buf(FILE_NAME, text, strlen(text), keys, NKEYS, c,
	    err, sizeof(err));
}

static void
load_ok(const char *text, struct cfg *c)
{
	int rc = load(text, c);

	ck_assert_msg(rc == 0, "conf_load_buf = %d: %s\n--\n%s", rc, err,
	    text);
	ck_assert_int_eq(c->before, 0x1234);
	ck_assert_int_eq(c->after, 0x5678);
}

/*
 * Loading text fails with code, leaves the struct untouched, and the
 * message contains every string of the NULL-terminated list.
 */
static void
expect_fail(const char *text, size_t len, int code, ...)
{
	struct cfg c, before;
	const char *sub;
	va_list ap;
	int rc;

	memset(&c, 0xa5, sizeof(c));
	before = c;
	err[0] = '\0';
	rc = conf_load_buf(FILE_NAME, text, len, keys, NKEYS, &c, err,
	    sizeof(err));
	ck_assert_msg(rc == code, "rc %d, want %d: %s\n--\n%.*s", rc, code,
	    err, (int)len, text);
	ck_assert_msg(memcmp(&c, &before, sizeof(c)) == 0,
	    "the struct was written on failure: %s", err);
	va_start(ap, code);
	while ((sub = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(err, sub) != NULL,
		    "\"%s\" lacks \"%s\"", err, sub);
	va_end(ap);
}

#define FAIL(text, ...) \
	expect_fail(text, strlen(text), -EINVAL, __VA_ARGS__, (char *)NULL)

START_TEST(test_defaults)
{
	struct cfg c;

	load_ok(BASE, &c);
	ck_assert_str_eq(c.name, "printredir");
	ck_assert_str_eq(c.key_file, "/etc/printredir/psk");
	ck_assert_ptr_null(c.note);
	ck_assert_int_eq(c.redirect, 1);
	ck_assert_int_eq(c.workers, 4);
	ck_assert_int_eq(c.offset, -5);
	ck_assert_int_eq(c.big, 0);
	ck_assert_int_eq(c.listen.kind, ADDR_UNIX);
	ck_assert_str_eq(c.listen.path, "/run/printredir/broker.sock");
	ck_assert_int_eq(c.retry, 30);
	ck_assert_int_eq(c.grace, 0);
	ck_assert_int_eq(c.connect.kind, 0);
	conf_free(keys, NKEYS, &c);
	ck_assert_ptr_null(c.name);
	ck_assert_ptr_null(c.key_file);
	conf_free(keys, NKEYS, &c);	/* twice is harmless */
	conf_free(keys, NKEYS, NULL);
}
END_TEST

START_TEST(test_every_key)
{
	static const char text[] =
	    "\xef\xbb\xbf; printredir broker\n"
	    "# comment\n"
	    "\n"
	    "[broker]\r\n"
	    "name = office printers  ; inline comment\n"
	    "  key_file: /etc/printredir/psk\n"
	    "\tnote = a;b # c\n"
	    "redirect = Off\n"
	    "workers = 64\n"
	    "[agent]\n"
	    "retry = 5m\n"
	    "grace = 2h\n"
	    "connect = tcp:[::1]:7000\n"
	    "[broker]\n"
	    "offset = -100\n"
	    "big = -9223372036854775808\n"
	    "listen = vsock:any:5000\n";
	struct cfg c;

	load_ok(text, &c);
	ck_assert_str_eq(c.name, "office printers");
	ck_assert_str_eq(c.key_file, "/etc/printredir/psk");
	ck_assert_str_eq(c.note, "a;b # c");
	ck_assert_int_eq(c.redirect, 0);
	ck_assert_int_eq(c.workers, 64);
	ck_assert_int_eq(c.offset, -100);
	ck_assert(c.big == LLONG_MIN);
	ck_assert_int_eq(c.listen.kind, ADDR_VSOCK);
	ck_assert_uint_eq(c.listen.cid, 0xffffffffu);
	ck_assert_uint_eq(c.listen.vport, 5000);
	ck_assert_int_eq(c.retry, 300);
	ck_assert_int_eq(c.grace, 7200);
	ck_assert_int_eq(c.connect.kind, ADDR_TCP);
	ck_assert_str_eq(c.connect.host, "::1");
	ck_assert_int_eq(c.connect.port, 7000);
	conf_free(keys, NKEYS, &c);
}
END_TEST

START_TEST(test_bool_forms)
{
	static const struct {
		const char *text;
		int value;
	} forms[] = {
		{ "yes", 1 }, { "YES", 1 }, { "true", 1 }, { "True", 1 },
		{ "on", 1 }, { "ON", 1 }, { "1", 1 },
		{ "no", 0 }, { "No", 0 }, { "false", 0 }, { "FALSE", 0 },
		{ "off", 0 }, { "oFF", 0 }, { "0", 0 },
	};
	char text[128];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(text, sizeof(text), BASE "redirect = %s\n",
		    forms[i].text);
		load_ok(text, &c);
		ck_assert_msg(c.redirect == forms[i].value, "%s",
		    forms[i].text);
		conf_free(keys, NKEYS, &c);
	}
}
END_TEST

START_TEST(test_int_forms)
{
	static const struct {
		const char *key, *text;
		long long value;
	} forms[] = {
		{ "workers", "1", 1 },
		{ "workers", "007", 7 },
		{ "offset", "-0", 0 },
		{ "offset", "100", 100 },
		{ "big", "9223372036854775807", LLONG_MAX },
		{ "big", "-9223372036854775808", LLONG_MIN },
		{ "big", "0", 0 },
	};
	char text[128];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(text, sizeof(text), BASE "%s = %s\n", forms[i].key,
		    forms[i].text);
		load_ok(text, &c);
		if (strcmp(forms[i].key, "workers") == 0)
			ck_assert(c.workers == forms[i].value);
		else if (strcmp(forms[i].key, "offset") == 0)
			ck_assert(c.offset == forms[i].value);
		else
			ck_assert(c.big == forms[i].value);
		conf_free(keys, NKEYS, &c);
	}
}
END_TEST

START_TEST(test_duration_forms)
{
	static const struct {
		const char *text;
		long long value;
	} forms[] = {
		{ "1", 1 }, { "30", 30 }, { "30s", 30 }, { "5m", 300 },
		{ "2h", 7200 }, { "1d", 86400 }, { "7d", 604800 },
		{ "604800s", 604800 }, { "0001m", 60 },
	};
	char text[128];
	struct cfg c;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(text, sizeof(text), BASE "[agent]\nretry = %s\n",
		    forms[i].text);
		load_ok(text, &c);
		ck_assert_msg(c.retry == forms[i].value, "%s", forms[i].text);
		conf_free(keys, NKEYS, &c);
	}
	/* No bounds in the schema: anything up to LLONG_MAX seconds. */
	load_ok(BASE "[agent]\ngrace = 106751991167300d\n", &c);
	ck_assert(c.grace == 106751991167300LL * 86400);
	conf_free(keys, NKEYS, &c);
	load_ok(BASE "[agent]\ngrace = 0\n", &c);
	ck_assert_int_eq(c.grace, 0);
	conf_free(keys, NKEYS, &c);
}
END_TEST

START_TEST(test_addr_forms)
{
	struct cfg c;

	load_ok(BASE "listen = tcp:0.0.0.0:7000\n[agent]\n"
	    "connect = vsock:host:5000\n", &c);
	ck_assert_int_eq(c.listen.kind, ADDR_TCP);
	ck_assert_str_eq(c.listen.host, "0.0.0.0");
	ck_assert_int_eq(c.listen.port, 7000);
	ck_assert_int_eq(c.connect.kind, ADDR_VSOCK);
	ck_assert_uint_eq(c.connect.cid, 2);
	conf_free(keys, NKEYS, &c);

	load_ok(BASE "listen = unix:relative.sock\n", &c);
	ck_assert_str_eq(c.listen.path, "relative.sock");
	conf_free(keys, NKEYS, &c);
}
END_TEST

START_TEST(test_empty_values)
{
	struct cfg c;

	/* empty_ok strings store "", and an inline comment can empty a value */
	load_ok(BASE "note =\n", &c);
	ck_assert_str_eq(c.note, "");
	conf_free(keys, NKEYS, &c);
	load_ok(BASE "note = ; nothing\n", &c);
	ck_assert_str_eq(c.note, "");
	conf_free(keys, NKEYS, &c);

	FAIL("[broker]\nkey_file =\n", FILE_NAME ":2: ",
	    "key \"key_file\" in [broker]: empty value");
	FAIL(BASE "name =   \n", FILE_NAME ":3: ",
	    "key \"name\" in [broker]: empty value");
	FAIL(BASE "workers =\n", FILE_NAME ":3: ", "\"workers\"",
	    "empty value");
	FAIL(BASE "redirect = ; off\n", FILE_NAME ":3: ", "\"redirect\"",
	    "empty value");
	FAIL(BASE "listen =\n", FILE_NAME ":3: ", "\"listen\"", "empty value");
	FAIL(BASE "[agent]\nretry =\n", FILE_NAME ":4: ", "\"retry\" in "
	    "[agent]", "empty value");
}
END_TEST

START_TEST(test_bad_bool)
{
	FAIL(BASE "redirect = maybe\n", FILE_NAME ":3: key \"redirect\" in "
	    "[broker]: expected yes/no, true/false, on/off or 1/0, got "
	    "\"maybe\"");
	FAIL(BASE "redirect = yes please\n", FILE_NAME ":3: ", "\"redirect\"",
	    "got \"yes please\"");
	FAIL(BASE "redirect = 2\n", FILE_NAME ":3: ", "\"redirect\"");
	FAIL(BASE "redirect = \"yes\"\n", FILE_NAME ":3: ", "\"redirect\"",
	    "got \"\\x22yes\\x22\"");
}
END_TEST

START_TEST(test_bad_int)
{
	const char *range = "expected an integer from 1 to 64";

	FAIL(BASE "workers = many\n", FILE_NAME ":3: key \"workers\" in "
	    "[broker]: expected an integer from 1 to 64, got \"many\"");
	FAIL(BASE "workers = 4x\n", FILE_NAME ":3: ", "\"workers\"", range,
	    "\"4x\"");
	FAIL(BASE "workers = 4 4\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = 0x10\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = +4\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = -\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = --4\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = 4.0\n", FILE_NAME ":3: ", range);
	FAIL(BASE "workers = 65\n", FILE_NAME ":3: key \"workers\" in "
	    "[broker]: 65 is out of range (1 to 64)");
	FAIL(BASE "workers = 0\n", FILE_NAME ":3: ", "0 is out of range");
	FAIL(BASE "workers = -1\n", FILE_NAME ":3: ", "-1 is out of range");
	FAIL(BASE "offset = -101\n", FILE_NAME ":3: ", "\"offset\"",
	    "-101 is out of range (-100 to 100)");
	/* Overflow of long long, and of the digit accumulator. */
	FAIL(BASE "big = 9223372036854775808\n", FILE_NAME ":3: ",
	    "\"big\"", "9223372036854775808 is out of range "
	    "(-9223372036854775808 to 9223372036854775807)");
	FAIL(BASE "big = -9223372036854775809\n", FILE_NAME ":3: ",
	    "is out of range");
	FAIL(BASE "big = 99999999999999999999999999\n", FILE_NAME ":3: ",
	    "is out of range");
	FAIL(BASE "big = 99999999999999999999999999x\n", FILE_NAME ":3: ",
	    "expected an integer");
}
END_TEST

START_TEST(test_bad_duration)
{
	const char *like = "expected a duration like 30, 30s, 5m, 2h or 1d";

	FAIL(BASE "[agent]\nretry = soon\n", FILE_NAME ":4: key \"retry\" in "
	    "[agent]: expected a duration like 30, 30s, 5m, 2h or 1d, got "
	    "\"soon\"");
	FAIL(BASE "[agent]\nretry = 5x\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = 5 m\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = 5mm\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = 5M\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = m\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = -5\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = 1h30m\n", FILE_NAME ":4: ", like);
	FAIL(BASE "[agent]\nretry = 0\n", FILE_NAME ":4: ", "\"retry\"",
	    "duration 0 is out of range (1 to 604800 seconds)");
	FAIL(BASE "[agent]\nretry = 8d\n", FILE_NAME ":4: ",
	    "duration 8d is out of range");
	FAIL(BASE "[agent]\ngrace = 106751991167301d\n", FILE_NAME ":4: ",
	    "\"grace\"", "out of range (0 to 9223372036854775807 seconds)");
	FAIL(BASE "[agent]\ngrace = 99999999999999999999999s\n",
	    FILE_NAME ":4: ", "out of range");
}
END_TEST

START_TEST(test_bad_addr)
{
	FAIL(BASE "listen = http://localhost:631\n", FILE_NAME ":3: key "
	    "\"listen\" in [broker]: expected unix:PATH, tcp:HOST:PORT, "
	    "vsock:CID:PORT or virtio-serial:PATH");
	FAIL(BASE "listen = tcp:localhost:0\n", FILE_NAME ":3: ",
	    "\"listen\"", "port must be a number from 1 to 65535");
	FAIL(BASE "[agent]\nconnect = vsock:guest:1\n", FILE_NAME ":4: ",
	    "\"connect\" in [agent]", "CID must be");
}
END_TEST

START_TEST(test_syntax_errors)
{
	FAIL(BASE "bareword\n", FILE_NAME ":3: syntax error: expected "
	    "[section], key = value or a comment");
	FAIL("[broker\nkey_file = /k\n", FILE_NAME ":1: syntax error: "
	    "section header without ']'");
	FAIL("[broker ; comment]\nkey_file = /k\n", FILE_NAME ":1: ",
	    "without ']'");
	/* Continuation lines are off: an indented word is an error. */
	FAIL(BASE "name = first\n   second\n", FILE_NAME ":4: ",
	    "syntax error");
	/* A BOM is skipped only at the very start. */
	FAIL(BASE "\xef\xbb\xbfname = x\n", FILE_NAME ":3: ",
	    "unknown key \"\\xef\\xbb\\xbfname\" in [broker]");
	/* The first error wins, syntax or not. */
	FAIL(BASE "oops\nworkers = 99\n", FILE_NAME ":3: ", "syntax error");
	FAIL(BASE "workers = 99\noops\n", FILE_NAME ":3: ", "\"workers\"");
}
END_TEST

START_TEST(test_sections_and_keys)
{
	FAIL("key_file = /k\n[broker]\n", FILE_NAME ":1: key \"key_file\" is "
	    "outside any [section]");
	FAIL("[]\nkey_file = /k\n", FILE_NAME ":2: ", "outside any [section]");
	FAIL(BASE "[brokr]\nlisten = unix:/x\n", FILE_NAME ":4: unknown "
	    "section [brokr] (key \"listen\")");
	FAIL(BASE "[ broker ]\nname = x\n", FILE_NAME ":4: ",
	    "unknown section [ broker ]");
	FAIL(BASE "[Broker]\nname = x\n", FILE_NAME ":4: ",
	    "unknown section [Broker]");
	FAIL(BASE "lisen = unix:/x\n", FILE_NAME ":3: unknown key \"lisen\" "
	    "in [broker]");
	FAIL(BASE "Name = x\n", FILE_NAME ":3: ", "unknown key \"Name\"");
	FAIL(BASE "= x\n", FILE_NAME ":3: ", "unknown key \"\" in [broker]");
	/* A key of another section is unknown here. */
	FAIL(BASE "retry = 5\n", FILE_NAME ":3: ",
	    "unknown key \"retry\" in [broker]");
	/* Hostile names come back escaped. */
	FAIL(BASE "\x1b[31mred = x\n", FILE_NAME ":3: ",
	    "unknown key \"\\x1b[31mred\"");
}
END_TEST

START_TEST(test_duplicates)
{
	FAIL(BASE "\nkey_file = /other\n", FILE_NAME ":4: duplicate key "
	    "\"key_file\" in [broker] (first set on line 2)");
	FAIL(BASE "[agent]\nretry = 5\n[broker]\nkey_file = /x\n",
	    FILE_NAME ":6: ", "duplicate key \"key_file\"", "line 2");
	/* Same name in two sections is two keys. */
	FAIL(BASE "workers = 2\nworkers = 2\n", FILE_NAME ":4: ",
	    "\"workers\"", "first set on line 3");
}
END_TEST

START_TEST(test_required)
{
	struct cfg c;

	FAIL("[broker]\nname = x\n", FILE_NAME ": missing required key "
	    "\"key_file\" in [broker]");
	FAIL("", FILE_NAME ": missing required key \"key_file\"");
	FAIL("; only a comment\n", FILE_NAME ": missing required key");
	/* No line number in that message. */
	expect_fail("[broker]\n", 9, -EINVAL, (char *)NULL);
	ck_assert_msg(strncmp(err, FILE_NAME ": ", strlen(FILE_NAME) + 2) ==
	    0, "%s", err);

	/* Present and empty is an empty value, not a missing key. */
	FAIL("[broker]\nkey_file=\n", FILE_NAME ":2: ", "empty value");

	load_ok(BASE, &c);
	conf_free(keys, NKEYS, &c);
}
END_TEST

START_TEST(test_value_too_long)
{
	size_t n = strlen(BASE "name = ") + CONF_VALUE_MAX + 2;
	char *text = malloc(n + 1);
	struct cfg c;

	ck_assert_ptr_nonnull(text);
	strcpy(text, BASE "name = ");
	memset(text + strlen(text), 'v', CONF_VALUE_MAX);
	strcpy(text + n - 2, "\n");
	load_ok(text, &c);
	ck_assert_uint_eq(strlen(c.name), CONF_VALUE_MAX);
	conf_free(keys, NKEYS, &c);

	memset(text + strlen(BASE "name = "), 'v', CONF_VALUE_MAX + 1);
	text[n - 1] = '\n';
	text[n] = '\0';
	FAIL(text, FILE_NAME ":3: key \"name\" in [broker]: value too long "
	    "(4097 bytes, at most 4096)");
	free(text);
}
END_TEST

START_TEST(test_line_too_long)
{
	/* A comment line of CONF_LINE_MAX bytes, newline included, is fine. */
	size_t pre = strlen(BASE);
	char *text = malloc(pre + CONF_LINE_MAX + 64);
	struct cfg c;

	ck_assert_ptr_nonnull(text);
	strcpy(text, BASE);
	text[pre] = ';';
	memset(text + pre + 1, 'c', CONF_LINE_MAX - 2);
	strcpy(text + pre + CONF_LINE_MAX - 1, "\nname = ok\n");
	load_ok(text, &c);
	ck_assert_str_eq(c.name, "ok");
	conf_free(keys, NKEYS, &c);

	/*
	 * One byte more. Stock inih would cut the line in two and read the
	 * tail, here "name = evil", as a line of its own.
	 */
	text[pre] = ';';
	memset(text + pre + 1, 'c', CONF_LINE_MAX - 1);
	strcpy(text + pre + CONF_LINE_MAX - 11, "name = evil\nworkers = 5\n");
	ck_assert_uint_eq(strlen(text), pre + CONF_LINE_MAX + 1 + 12);
	FAIL(text, FILE_NAME ":3: line too long (at most 8192 bytes)");

	/* The last line needs no newline and obeys the same limit. */
	strcpy(text, BASE);
	memset(text + pre, 'c', CONF_LINE_MAX);
	text[pre + CONF_LINE_MAX] = '\0';
	FAIL(text, FILE_NAME ":3: line too long");
	free(text);
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = BASE "name = a\0b\nworkers = 5\n";

	expect_fail(text, sizeof(text) - 1, -EINVAL, FILE_NAME ":3: NUL byte",
	    (char *)NULL);
	expect_fail("\0", 1, -EINVAL, FILE_NAME ":1: NUL byte", (char *)NULL);
}
END_TEST

START_TEST(test_no_trailing_newline)
{
	struct cfg c;

	load_ok(BASE "workers = 9", &c);
	ck_assert_int_eq(c.workers, 9);
	conf_free(keys, NKEYS, &c);
	FAIL(BASE "workers = 99", FILE_NAME ":3: ", "out of range");
}
END_TEST

START_TEST(test_buf_too_large)
{
	char *big = malloc(CONF_FILE_MAX + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, '\n', CONF_FILE_MAX + 1);
	memcpy(big, BASE, strlen(BASE));
	expect_fail(big, (size_t)CONF_FILE_MAX + 1, -EFBIG, FILE_NAME
	    ": file too large", (char *)NULL);
	free(big);
}
END_TEST

/* Writes text to a file in the test's folder and returns its path. */
static const char *
write_file(const char *name, const char *text, size_t len)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", runner_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

START_TEST(test_file)
{
	static const char text[] = BASE "workers = 8\n";
	const char *path = write_file("broker.conf", text, strlen(text));
	struct cfg c;
	int rc;

	cfg_init(&c);
	rc = conf_load(path, keys, NKEYS, &c, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(c.workers, 8);
	ck_assert_str_eq(c.key_file, "/etc/printredir/psk");
	conf_free(keys, NKEYS, &c);

	path = write_file("bad.conf", BASE "workers = 80\n",
	    strlen(BASE "workers = 80\n"));
	memset(&c, 0xa5, sizeof(c));
	rc = conf_load(path, keys, NKEYS, &c, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, path) == err, "%s", err);
	ck_assert_msg(strstr(err, "bad.conf:3: key \"workers\" in [broker]")
	    != NULL, "%s", err);
}
END_TEST

START_TEST(test_file_errors)
{
	char path[512], want[600], *big;
	struct cfg c;
	int rc;

	snprintf(path, sizeof(path), "%s/missing.conf", runner_tmpdir());
	rc = conf_load(path, keys, NKEYS, &c, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path,
	    strerror(ENOENT));
	ck_assert_str_eq(err, want);

	/* A folder opens but does not read. */
	rc = conf_load(runner_tmpdir(), keys, NKEYS, &c, err, sizeof(err));
	ck_assert_int_eq(rc, -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot read: %s", runner_tmpdir(),
	    strerror(EISDIR));
	ck_assert_str_eq(err, want);

	/* Unreadable: root reads anything, so only as another user. */
	if (geteuid() != 0) {
		const char *p = write_file("secret.conf", BASE, strlen(BASE));

		ck_assert_int_eq(chmod(p, 0), 0);
		rc = conf_load(p, keys, NKEYS, &c, err, sizeof(err));
		ck_assert_int_eq(rc, -EACCES);
		ck_assert_msg(strstr(err, strerror(EACCES)) != NULL, "%s",
		    err);
	}

	/* Exactly CONF_FILE_MAX bytes load, one more does not. */
	big = malloc(CONF_FILE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', CONF_FILE_MAX + 1);
	memcpy(big, BASE, strlen(BASE));
	write_file("big.conf", big, CONF_FILE_MAX);
	snprintf(path, sizeof(path), "%s/big.conf", runner_tmpdir());
	cfg_init(&c);
	rc = conf_load(path, keys, NKEYS, &c, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	conf_free(keys, NKEYS, &c);
	write_file("big.conf", big, CONF_FILE_MAX + 1);
	rc = conf_load(path, keys, NKEYS, &c, err, sizeof(err));
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert_msg(strstr(err, "big.conf: file too large") != NULL, "%s",
	    err);
	free(big);
}
END_TEST

START_TEST(test_failure_frees)
{
	/*
	 * Strings are set before the failing line; under ASan a leak or a
	 * double free shows here, and the caller's struct stays as it was.
	 */
	FAIL("[broker]\nname = a\nkey_file = b\nnote = c\n[agent]\n"
	    "retry = never\n", FILE_NAME ":6: ", "\"retry\"");
	FAIL("[broker]\nname = a\nkey_file = b\nname = c\n",
	    FILE_NAME ":4: ", "duplicate");
	FAIL("[broker]\nname = a\n", "missing required key");
}
END_TEST

START_TEST(test_reuse)
{
	struct cfg c;

	/* Loading again after conf_free() reuses the struct cleanly. */
	load_ok(BASE "name = one\n", &c);
	conf_free(keys, NKEYS, &c);
	ck_assert_int_eq(conf_load_buf(FILE_NAME, BASE "name = two\n",
	    strlen(BASE "name = two\n"), keys, NKEYS, &c, err, sizeof(err)),
	    0);
	ck_assert_str_eq(c.name, "two");
	conf_free(keys, NKEYS, &c);
}
END_TEST

START_TEST(test_small_err_buffer)
{
	struct cfg c;
	char small[12];
	int rc;

	memset(small, 'x', sizeof(small));
	rc = conf_load_buf(FILE_NAME, BASE "workers = 99\n",
	    strlen(BASE "workers = 99\n"), keys, NKEYS, &c, small,
	    sizeof(small));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(small, "test.conf:3");
	rc = conf_load_buf(FILE_NAME, "[x]\n", 4, keys, NKEYS, &c, NULL, 0);
	ck_assert_int_eq(rc, -EINVAL);
	rc = conf_load_buf(FILE_NAME, "[x]\n", 4, keys, NKEYS, &c, small, 1);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(test_inih_options_restored)
{
	int max_line = ini_max_line;
	bool multiline = ini_allow_multiline;
	bool stop = ini_stop_on_first_error;
	char *prefixes = ini_inline_comment_prefixes;
	struct cfg c;

	load_ok(BASE, &c);
	conf_free(keys, NKEYS, &c);
	FAIL(BASE "oops\n", "syntax error");
	FAIL(BASE "workers = 0\n", "out of range");
	ck_assert_int_eq(ini_max_line, max_line);
	ck_assert_int_eq(ini_allow_multiline, multiline);
	ck_assert_int_eq(ini_stop_on_first_error, stop);
	ck_assert_ptr_eq(ini_inline_comment_prefixes, prefixes);
}
END_TEST

START_TEST(test_bad_schema)
{
	static const struct conf_key bad_default[] = {
		{ "s", "n", CONF_INT, 0, "ten", 1, 10, 0, 0 },
	};
	static const struct conf_key twice[] = {
		{ "s", "n", CONF_BOOL, 0, NULL, 0, 0, 0, 0 },
		{ "s", "n", CONF_BOOL, sizeof(int), NULL, 0, 0, 0, 0 },
	};
	static const struct conf_key no_name[] = {
		{ "s", NULL, CONF_BOOL, 0, NULL, 0, 0, 0, 0 },
	};
	static const struct conf_key bad_range[] = {
		{ "s", "n", CONF_INT, 0, NULL, 5, 1, 0, 0 },
	};
	long long v[2];
	int rc;

	rc = conf_load_buf("x.conf", "", 0, bad_default, 1, v, err,
	    sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "x.conf: schema: default of key \"n\" in "
	    "[s]: expected an integer") != NULL, "%s", err);
	rc = conf_load_buf("x.conf", "", 0, twice, 2, v, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "twice") != NULL, "%s", err);
	rc = conf_load_buf("x.conf", "", 0, no_name, 1, v, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "schema") != NULL, "%s", err);
	rc = conf_load_buf("x.conf", "", 0, bad_range, 1, v, err,
	    sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "schema") != NULL, "%s", err);

	/* An empty schema accepts only a file without keys. */
	rc = conf_load_buf("x.conf", "; nothing\n", 10, NULL, 0, v, err,
	    sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	rc = conf_load_buf("x.conf", "[a]\nb=c\n", 8, NULL, 0, v, err,
	    sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "x.conf:2: unknown section [a]") != NULL,
	    "%s", err);
}
END_TEST

START_TEST(test_list_has)
{
	ck_assert_int_eq(conf_list_has("bash sh,dash\tzsh\n fish", "dash", 0), 1);
	ck_assert_int_eq(conf_list_has("bash sh,dash\tzsh\n fish", "fish", 0), 1);
	ck_assert_int_eq(conf_list_has("bash sh", "bas", 0), 0);	/* no prefix */
	ck_assert_int_eq(conf_list_has("bash sh", "bash sh", 0), 0);
	ck_assert_int_eq(conf_list_has("ABCdef", "abcDEF", 0), 0);
	ck_assert_int_eq(conf_list_has("ABCdef", "abcDEF", 1), 1);
	ck_assert_int_eq(conf_list_has("", "x", 0), 0);
	ck_assert_int_eq(conf_list_has(NULL, "x", 0), 0);
	ck_assert_int_eq(conf_list_has(" , ", "", 0), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("values");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_bool_forms);
	tcase_add_test(tc, test_int_forms);
	tcase_add_test(tc, test_duration_forms);
	tcase_add_test(tc, test_addr_forms);
	tcase_add_test(tc, test_empty_values);
	tcase_add_test(tc, test_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_bad_bool);
	tcase_add_test(tc, test_bad_int);
	tcase_add_test(tc, test_bad_duration);
	tcase_add_test(tc, test_bad_addr);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_sections_and_keys);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_required);
	tcase_add_test(tc, test_value_too_long);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_no_trailing_newline);
	tcase_add_test(tc, test_buf_too_large);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_failure_frees);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_inih_options_restored);
	tcase_add_test(tc, test_bad_schema);
	tcase_add_test(tc, test_list_has);
	suite_add_tcase(s, tc);
	return s;
}
