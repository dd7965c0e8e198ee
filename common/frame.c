#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"

void
frame_reader_init(struct frame_reader *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void
frame_reader_free(struct frame_reader *r)
{
	free(r->body);
	r->body = NULL;
	r->hdr_got = r->body_len = r->body_got = 0;
}

void
frame_put_header(uint8_t hdr[FRAME_HDR_LEN], size_t len, unsigned flags)
{
	hdr[0] = 'P';
	hdr[1] = 'R';
	hdr[2] = FRAME_FORMAT;
	hdr[3] = (uint8_t)flags;
	hdr[4] = (uint8_t)(len >> 24);
	hdr[5] = (uint8_t)(len >> 16);
	hdr[6] = (uint8_t)(len >> 8);
	hdr[7] = (uint8_t)len;
}

static int
check_header(struct frame_reader *r, char *err, size_t errlen)
{
	char sample[64];
	uint32_t len;

	if (r->hdr[0] != 'P' || r->hdr[1] != 'R') {
		if (err)
			snprintf(err, errlen, "not a printredir frame (header \"%s\")",
			    log_sample(r->hdr, FRAME_HDR_LEN, sample, sizeof(sample)));
		return -EBADMSG;
	}
	if (r->hdr[2] != FRAME_FORMAT || (r->hdr[3] & ~FRAME_SEALED) != 0) {
		if (err)
			snprintf(err, errlen, "unsupported frame format %u flags %u",
			    r->hdr[2], r->hdr[3]);
		return -EBADMSG;
	}
	len = (uint32_t)r->hdr[4] << 24 | (uint32_t)r->hdr[5] << 16 |
	    (uint32_t)r->hdr[6] << 8 | r->hdr[7];
	if (len == 0) {
		if (err)
			snprintf(err, errlen, "empty frame");
		return -EBADMSG;
	}
	if (len > r->cap) {
		if (err)
			snprintf(err, errlen, "frame of %u bytes is over the cap of %zu",
			    len, r->cap);
		return -EMSGSIZE;
	}
	r->body_len = len;
	r->flags = r->hdr[3];
	return 0;
}

int
frame_reader_feed(struct frame_reader *r, const void *data, size_t n,
    frame_cb cb, void *arg, char *err, size_t errlen)
{
	const uint8_t *p = data;
	int rc;

	while (n > 0) {
		if (r->hdr_got < FRAME_HDR_LEN) {
			size_t take = FRAME_HDR_LEN - r->hdr_got;

			if (take > n)
				take = n;
			memcpy(r->hdr + r->hdr_got, p, take);
			r->hdr_got += take;
			p += take;
			n -= take;
			if (r->hdr_got < FRAME_HDR_LEN)
				break;
			if ((rc = check_header(r, err, errlen)) != 0)
				return rc;
			/* The whole frame is here: hand it over without copying. */
			if (n >= r->body_len) {
				rc = cb(arg, p, r->body_len);
				p += r->body_len;
				n -= r->body_len;
				r->hdr_got = 0;
				if (rc != 0)
					return rc;
				continue;
			}
			r->body = malloc(r->body_len);
			if (r->body == NULL) {
				if (err)
					snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			r->body_got = 0;
		}
		size_t take = r->body_len - r->body_got;

		if (take > n)
			take = n;
		memcpy(r->body + r->body_got, p, take);
		r->body_got += take;
		p += take;
		n -= take;
		if (r->body_got == r->body_len) {
			uint8_t *body = r->body;

			r->body = NULL;
			r->hdr_got = 0;
			rc = cb(arg, body, r->body_len);
			free(body);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
