/* Fuzz target: the frame reader fed in random splits, then the codec and
 * validation on every frame it yields, as peer.c does. */
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_frame(void *arg, const uint8_t *body, size_t len)
{
	codec_env_t *env = NULL;
	char err[256];

	(void)arg;
	if (codec_decode(body, len, CODEC_BUDGET(len), &env) == 0) {
		(void)codec_validate(env, err, sizeof(err));
		codec_free(env);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	char err[256];
	size_t split;

	if (size < 1)
		return 0;
	/* The first byte chooses where the stream is split in two reads. */
	split = data[0] % (size);
	data++;
	size--;
	frame_reader_init(&r, 1 << 20);
	if (frame_reader_feed(&r, data, split < size ? split : size, on_frame, NULL,
	    err, sizeof(err)) == 0 && split < size)
		(void)frame_reader_feed(&r, data + split, size - split, on_frame, NULL,
		    err, sizeof(err));
	frame_reader_free(&r);
	return 0;
}
