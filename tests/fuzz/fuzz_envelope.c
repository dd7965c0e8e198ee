/* Fuzz target: one envelope body through the budgeted decoder and the
 * validator, then re-encoded when it was valid. */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	codec_env_t *env = NULL;
	uint8_t *out;
	size_t len;
	char err[256];

	if (codec_decode(data, size, CODEC_BUDGET(size), &env) != 0)
		return 0;
	if (codec_validate(env, err, sizeof(err)) != 0) {
		codec_free(env);
		return 0;
	}
	if (codec_encode_frame(env, &out, &len) == 0)
		free(out);
	/* The printers of a set, as the agent checks them, one by one. */
	if (env->type == PRINTREDIR__MSG_TYPE__MSG_PRINTER_SET)
		for (size_t i = 0; i < env->printer_set->n_printers; i++)
			(void)codec_check_printer(env->printer_set->printers[i], err,
			    sizeof(err));
	codec_free(env);
	return 0;
}
