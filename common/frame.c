#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"

/* A body's buffer starts at this size and doubles as its bytes arrive. */
#define BODY_FIRST ((size_t)64 << 10)

static size_t budget = FRAME_BUDGET_DEFAULT, in_progress;

void
frame_set_budget(size_t bytes)
{
	budget = bytes;
}

size_t
frame_in_progress(void)
{
	return in_progress;
}

static void
body_release(struct frame_reader *r)
{
	free(r->body);
	in_progress -= r->body_cap;
	r->body = NULL;
	r->body_cap = 0;
}

/* Room for at least need bytes of the body, within the budget. */
static int
body_reserve(struct frame_reader *r, size_t need, char *err, size_t errlen)
{
	size_t cap = r->body_cap ? r->body_cap : BODY_FIRST;
	uint8_t *nb;

	while (cap < need)
		cap *= 2;
	if (cap > r->body_len)
		cap = r->body_len;
	if (cap <= r->body_cap)
		return 0;
	if (in_progress - r->body_cap + cap > budget) {
		if (err)
			snprintf(err, errlen, "frames in progress on all connections "
			    "would pass the budget of %zu bytes", budget);
		return -ENOBUFS;
	}
	if ((nb = realloc(r->body, cap)) == NULL) {
		if (err)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	in_progress += cap - r->body_cap;
	r->body = nb;
	r->body_cap = cap;
	return 0;
}

void
frame_reader_init(struct frame_reader *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void
frame_reader_free(struct frame_reader *r)
{
	body_release(r);
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
			r->body_got = 0;
		}
		size_t take = r->body_len - r->body_got;

		if (take > n)
			take = n;
		if ((rc = body_reserve(r, r->body_got + take, err, errlen)) != 0)
			return rc;
		memcpy(r->body + r->body_got, p, take);
		r->body_got += take;
		p += take;
		n -= take;
		if (r->body_got == r->body_len) {
			/* Taken from the reader first: the callback may free it. */
			uint8_t *body = r->body;
			size_t len = r->body_len, cap = r->body_cap;

			r->body = NULL;
			r->body_cap = 0;
			r->hdr_got = 0;
			rc = cb(arg, body, len);
			free(body);
			in_progress -= cap;
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
