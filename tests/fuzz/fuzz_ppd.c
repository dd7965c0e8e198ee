/*
 * Fuzz target: a driver from the wire as install.c takes it: rewritten for
 * a guest queue that hands jobs over as PDF, then checked.  Neither may
 * crash, leak or read past the input; a rewrite that succeeds leaves no
 * command template behind, and the check of the original and of the
 * rewrite answer only as documented.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ppd_policy pol = {
		.max_size = 64 * 1024,
		.filter_dir = "/usr/lib/cups/filter",
	};
	char err[512], *out = NULL;
	size_t outlen = 0;
	int rc;

	rc = ppd_check_safe(data, size, &pol, err, sizeof(err));
	if (rc != 0 && rc != -EPERM && rc != -ENOMEM)
		abort();
	if (size > pol.max_size)
		return 0;
	rc = ppd_rewrite_pdf(data, size, pol.max_size + 4096, &out, &outlen, err,
	    sizeof(err));
	if (rc != 0) {
		if ((rc != -EBADMSG && rc != -EFBIG && rc != -ENOMEM) || out != NULL)
			abort();
		return 0;
	}
	/*
	 * Whatever the input held, no template survives the rewrite: the check
	 * of the result may fail for another reason (the readers disagree), but
	 * never on a template.  Every template refusal starts so.
	 */
	rc = ppd_check_safe(out, outlen, &pol, err, sizeof(err));
	if (rc != 0 && rc != -EPERM && rc != -ENOMEM)
		abort();
	if (rc == -EPERM && strncmp(err, "command template ", 17) == 0)
		abort();
	free(out);
	return 0;
}
