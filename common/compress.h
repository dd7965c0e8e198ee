/*
 * zlib compression of driver bytes for the wire.
 */
#ifndef PRINTREDIR_COMPRESS_H
#define PRINTREDIR_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* Compresses len bytes into a new buffer owned by the caller (free()).
 * Returns 0, -ENOMEM or -EIO. */
int compress_buf(const void *data, size_t len, uint8_t **out, size_t *outlen);

/*
 * Decompresses into a new buffer owned by the caller, refusing to produce
 * more than max bytes (a small compressed blob can expand enormously), and
 * requiring exactly `expect` bytes when expect is not 0.  Returns 0, -EFBIG
 * (over max or not the expected size), -EBADMSG (corrupt) or -ENOMEM.
 */
int compress_inflate(const void *data, size_t len, size_t expect, size_t max,
    uint8_t **out, size_t *outlen);

#endif
