/*
 * Fuzz target: guests.json's reader.  What it keeps must render as a status
 * document (every string read back), never more guests than entries, and
 * every warning it logs names the file.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../host-broker/broker.h"
#include "jsonget.h"
#include "log.h"

#define WHAT "fuzz-guests.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
sink(int pri, const char *msg)
{
	if (pri <= LOG_WARNING && strstr(msg, WHAT) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker b;
	json_object *doc, *arr;

	memset(&b, 0, sizeof(b));
	log_set_sink(sink);
	if (guests_parse_state(&b, (const char *)data, size, WHAT) == -EINVAL &&
	    b.guests != NULL)
		abort();
	for (int summary = 0; summary < 2; summary++) {
		doc = json_object_new_object();
		guests_status(&b, doc, summary);
		if ((arr = jget_arr(doc, "guests")) == NULL ||
		    json_object_array_length(arr) > size / 8 ||
		    json_object_to_json_string(doc) == NULL)
			abort();
		json_object_put(doc);
	}
	guests_drop(&b);
	return 0;
}
