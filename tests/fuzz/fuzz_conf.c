/*
 * Fuzz target: the configuration loader on a schema with every value type,
 * as both daemons use it; then each address it accepted must survive
 * addr_format() and addr_parse() unchanged. The input is also tried as one
 * address text, with the same round-trip oracle.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_cfg {
	char *key_file;
	char *name;
	int redirect;
	long long max_drivers;
	long long offset;
	long long retry;
	long long deadline;
	struct addr listen;
	struct addr connect;
};

#define F(sec, key, type, field, def, min, max, req, empty) \
	{ sec, key, type, offsetof(struct fuzz_cfg, field), def, min, max, \
	    req, empty }

static const struct conf_key keys[] = {
	F("broker", "key_file", CONF_STRING, key_file, NULL, 0, 0, 1, 0),
	F("broker", "name", CONF_STRING, name, "", 0, 0, 0, 1),
	F("broker", "redirect", CONF_BOOL, redirect, "on", 0, 0, 0, 0),
	F("broker", "max_drivers", CONF_INT, max_drivers, "100", 1, 10000, 0,
	    0),
	F("broker", "offset", CONF_INT, offset, NULL, 0, 0, 0, 0),
	F("broker", "listen", CONF_ADDR, listen, "unix:/run/printredir.sock",
	    0, 0, 0, 0),
	F("agent", "connect", CONF_ADDR, connect, NULL, 0, 0, 0, 0),
	F("restart", "retry", CONF_DURATION, retry, "5m", 1, 86400, 0, 0),
	F("restart", "deadline", CONF_DURATION, deadline, NULL, 0, 0, 0, 0),
};

/* A parsed address must format and parse back to itself. */
static void
round_trip(const struct addr *a)
{
	char text[ADDR_TEXT_MAX];
	struct addr b;

	if (a->kind == 0)
		return;		/* unset key without default */
	if (addr_format(a, text, sizeof(text)) != 0 ||
	    addr_parse(text, &b, NULL, 0) != 0 ||
	    memcmp(a, &b, sizeof(b)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cfg cfg;
	struct addr a;
	char err[512], *text;

	memset(&cfg, 0, sizeof(cfg));
	if (conf_load_buf("fuzz.conf", (const char *)data, size, keys,
	    sizeof(keys) / sizeof(keys[0]), &cfg, err, sizeof(err)) == 0) {
		if (cfg.key_file == NULL || cfg.name == NULL)
			abort();
		round_trip(&cfg.listen);
		round_trip(&cfg.connect);
		conf_free(keys, sizeof(keys) / sizeof(keys[0]), &cfg);
	}

	if (size > 4096)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (addr_parse(text, &a, err, sizeof(err)) == 0)
		round_trip(&a);
	free(text);
	return 0;
}
