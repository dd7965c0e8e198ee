/*
 * Fuzz target: the agent's state file reader (guest-agent/state.c).
 * Whatever agent.json holds, what it reads back keeps the invariants the
 * agent relies on: a wish read whole or not at all, names present and
 * bounded, states that exist, and everything freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest-agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wish w = { 0 };
	struct applied ap = { 0 };
	struct link_status ls = { 0 };
	struct restart r = { 0 };
	struct state s = { .guest_id = "fuzz", .wish = &w, .applied = &ap, .link = &ls,
	    .restart = &r };

	if (state_parse((const char *)data, size, &s) != 0)
		abort();
	if (w.n > CODEC_MAX_PRINTERS || (w.n > 0 && w.gen == 0 && w.want == NULL))
		abort();
	for (size_t i = 0; i < w.n; i++)
		if (w.want[i].name == NULL || w.want[i].name[0] == '\0' ||
		    strlen(w.want[i].name) > CODEC_MAX_NAME || w.want[i].host_device_uri == NULL ||
		    w.want[i].detail == NULL)
			abort();
	for (size_t i = 0; i < ap.n; i++)
		if (ap.results[i].name == NULL || ap.results[i].detail == NULL ||
		    ap.results[i].queue == NULL)
			abort();
	if (r.phase < 0 || r.phase > PRINTREDIR__RESTART_PHASE__RESTART_FAILED ||
	    memchr(r.detail, '\0', sizeof(r.detail)) == NULL ||
	    memchr(r.boot_id, '\0', sizeof(r.boot_id)) == NULL)
		abort();
	state_free(&s);
	return 0;
}
