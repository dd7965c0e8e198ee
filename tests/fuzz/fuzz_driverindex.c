/*
 * Fuzz target: the driver cache's index reader (drivers/index.json).  Every
 * entry it keeps has a key; every warning it logs names the file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host-broker/broker.h"
#include "log.h"

#define WHAT "fuzz-index.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
sink(int pri, const char *msg)
{
	if (pri <= LOG_WARNING && strstr(msg, WHAT) == NULL &&
	    strstr(msg, "out of memory") == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct drivers_entry *v = NULL;
	size_t n = 0;

	log_set_sink(sink);
	if (drivers_index_parse((const char *)data, size, WHAT, &v, &n) != 0) {
		if (v != NULL || n != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].key == NULL || strlen(v[i].key) > size)
			abort();
	drivers_index_free(v, n);
	return 0;
}
