/*
 * Fuzz target: the tray protocol decoder (guest-agent/tray.c), which reads
 * lines from any desk user's session.  Whatever the line, it decodes to a
 * well-formed message or is refused with a reason, and never crashes.
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
	struct tray_msg m;
	char err[128];
	int rc;

	err[0] = '\0';
	rc = tray_parse_line((const char *)data, size, &m, err, sizeof(err));
	if (rc == 0) {
		if (m.type != TRAY_MSG_HELLO && m.type != TRAY_MSG_ANSWER)
			abort();
		if (m.type == TRAY_MSG_ANSWER && m.id > INT64_MAX)
			abort();
		if ((m.notifications != 0 && m.notifications != 1) ||
		    (m.now != 0 && m.now != 1))
			abort();
	} else if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
		abort();	/* a refusal always says why */
	}
	return 0;
}
