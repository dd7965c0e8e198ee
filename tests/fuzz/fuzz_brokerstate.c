/*
 * Fuzz target: broker.json's reader.  A generation it accepts must come
 * back unchanged from the text the broker writes for it; a refusal must
 * say why.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../host-broker/broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t g = 0, again = 0;
	char err[256] = "", text[64];
	int n;

	if (broker_parse_state((const char *)data, size, &g, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	n = snprintf(text, sizeof(text), "{\"generation\": %" PRIu64 "}\n", g);
	if (broker_parse_state(text, (size_t)n, &again, err, sizeof(err)) != 0 ||
	    again != g)
		abort();
	return 0;
}
