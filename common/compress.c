#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

#include "compress.h"

int
compress_buf(const void *data, size_t len, uint8_t **out, size_t *outlen)
{
	uLongf n = compressBound((uLong)len);
	uint8_t *buf = malloc(n ? n : 1);

	*out = NULL;
	if (buf == NULL)
		return -ENOMEM;
	if (compress2(buf, &n, data, (uLong)len, Z_BEST_COMPRESSION) != Z_OK) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

int
compress_inflate(const void *data, size_t len, size_t expect, size_t max,
    uint8_t **out, size_t *outlen)
{
	z_stream zs = { 0 };
	/* One spare byte when the size is known, so a correct stream always ends
	 * with room left and a longer one is caught. */
	size_t cap = expect ? expect + 1 : (len * 4 < max ? len * 4 : max);
	uint8_t *buf = NULL, *nbuf;
	int zrc, rc = -EBADMSG;

	*out = NULL;
	if (expect > max)
		return -EFBIG;
	if (cap == 0)
		cap = 1;
	if (inflateInit(&zs) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END)
			break;
		if (zrc != Z_OK && zrc != Z_BUF_ERROR)
			goto out;
		if (zs.avail_out != 0)	/* input ended before the stream did */
			goto out;
		if (cap >= max) {
			rc = -EFBIG;
			goto out;
		}
		cap = cap * 2 < max ? cap * 2 : max;
		nbuf = realloc(buf, cap);
		if (nbuf == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		buf = nbuf;
	}
	if (zs.avail_in != 0 || (expect && zs.total_out != expect)) {
		rc = zs.avail_in != 0 ? -EBADMSG : -EFBIG;
		goto out;
	}
	*out = buf;
	*outlen = zs.total_out;
	buf = NULL;
	rc = 0;
out:
	inflateEnd(&zs);
	free(buf);
	return rc;
}
