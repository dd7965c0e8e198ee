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
	if (codec_validate(env, err, sizeof(err)) == 0 &&
	    codec_encode_frame(env, &out, &len) == 0)
		free(out);
	codec_free(env);
	return 0;
}
