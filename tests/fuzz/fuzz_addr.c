/* Fuzz target: an address as an administrator writes it (addr_parse), and
 * its text form back (addr_format), which must parse to the same address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a, b;
	char *s, text[ADDR_TEXT_MAX], err[256];

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(s, &a, err, sizeof(err)) == 0 &&
	    addr_format(&a, text, sizeof(text)) == 0 &&
	    (addr_parse(text, &b, err, sizeof(err)) != 0 ||
	    addr_format(&b, text, sizeof(text)) != 0))
		abort();	/* what addr_format writes must parse again */
	free(s);
	return 0;
}
