/*
 * Fuzz target: the agent's check of a driver from the wire, as install.c
 * calls it, then the hash listing an administrator runs on the same bytes.
 * Both must return without crashing, leaking or reading past the input; a
 * PPD the check accepts must list its templates without error.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ppd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
count(const char *keyword, const char hex[65], void *arg)
{
	(void)keyword;
	(void)hex;
	(*(int *)arg)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ppd_policy pol = {
		.max_size = 64 * 1024,
		.filter_dir = "/usr/lib/cups/filter",
		.allow = "",
	};
	char err[512];
	int n = 0, rc;

	rc = ppd_check_safe(data, size, &pol, err, sizeof(err));
	if (rc != 0 && rc != -EPERM && rc != -ENOMEM)
		abort();
	if (size > pol.max_size)
		return 0;
	if (ppd_command_hashes(data, size, count, &n) != 0 && rc == 0)
		abort();
	/* An empty allow list only passes a PPD without templates. */
	if (rc == 0 && n != 0)
		abort();
	return 0;
}
