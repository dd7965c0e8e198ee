#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "cupsconn.h"
#include "log.h"

http_t *
cupsconn_open(const char *spec, int timeout_ms, char *err, size_t errlen)
{
	char host[256], *colon;
	int port = ippPort();
	http_t *http;

	snprintf(host, sizeof(host), "%s", spec && *spec ? spec : cupsServer());
	if (host[0] != '/' && (colon = strrchr(host, ':')) != NULL &&
	    strchr(colon, ']') == NULL) {
		*colon = '\0';
		port = atoi(colon + 1);
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	http = httpConnect2(host, port, NULL, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED,
	    1, timeout_ms, NULL);
	if (http == NULL) {
		if (host[0] == '/')
			snprintf(err, errlen, "CUPS at %s unreachable: %s", host,
			    cupsLastErrorString());
		else
			snprintf(err, errlen, "CUPS at %s:%d unreachable: %s", host, port,
			    cupsLastErrorString());
		return NULL;
	}
	httpSetTimeout(http, 30.0, NULL, NULL);
	return http;
}

/* ippReadIO's source: the body of http's answer, a buffer at a time. */
struct body {
	http_t *http;
	size_t off, len;
	ipp_uchar_t buf[32768];
};

/* As ippReadIO wants it: every byte asked for, or fewer only at the end. */
static ssize_t
body_read(void *ctx, ipp_uchar_t *out, size_t want)
{
	struct body *b = ctx;
	size_t got = 0, n;
	ssize_t r;

	while (got < want) {
		if (b->off == b->len) {
			r = httpRead2(b->http, (char *)b->buf, sizeof(b->buf));
			if (r <= 0)
				return got > 0 ? (ssize_t)got : r;
			b->off = 0;
			b->len = (size_t)r;
		}
		n = b->len - b->off < want - got ? b->len - b->off : want - got;
		memcpy(out + got, b->buf + b->off, n);
		b->off += n;
		got += n;
	}
	return (ssize_t)got;
}

/* Why resp, cupsDoRequest's answer, is what it is. */
static ipp_t *
answer(ipp_t *resp, ipp_status_t *status, char *err, size_t errlen)
{
	ipp_attribute_t *a;

	*status = resp != NULL ? ippGetStatusCode(resp) : cupsLastError();
	if (resp == NULL)
		snprintf(err, errlen, "%s", cupsLastErrorString());
	else if ((a = ippFindAttribute(resp, "status-message", IPP_TAG_TEXT)) != NULL)
		snprintf(err, errlen, "%s", ippGetString(a, 0, NULL));
	else
		snprintf(err, errlen, "%s", ippErrorString(*status));
	return resp;
}

ipp_t *
cupsconn_query(http_t *http, ipp_t *req, const char *resource,
    ipp_status_t *status, char *err, size_t errlen)
{
	http_status_t hs;
	struct body *b = NULL;
	ipp_t *resp = NULL;

	if (cupsSendRequest(http, req, resource, ippLength(req)) != HTTP_STATUS_CONTINUE)
		return answer(cupsDoRequest(http, req, resource), status, err, errlen);
	while ((hs = httpUpdate(http)) == HTTP_STATUS_CONTINUE)
		;
	if (hs != HTTP_STATUS_OK && hs != HTTP_STATUS_ERROR) {
		httpFlush(http);
		return answer(cupsDoRequest(http, req, resource), status, err, errlen);
	}
	ippDelete(req);
	if (hs == HTTP_STATUS_OK && (b = calloc(1, sizeof(*b))) != NULL &&
	    (resp = ippNew()) != NULL) {
		b->http = http;
		if (ippReadIO(b, body_read, 1, NULL, resp) != IPP_STATE_DATA) {
			ippDelete(resp);
			resp = NULL;
		}
	}
	free(b);
	if (resp == NULL) {
		*status = IPP_STATUS_ERROR_SERVICE_UNAVAILABLE;
		if (httpError(http) != 0)
			snprintf(err, errlen, "no answer from CUPS: %s",
			    strerror(httpError(http)));
		else
			snprintf(err, errlen, hs == HTTP_STATUS_OK ? "CUPS's answer is "
			    "cut short or not IPP (or out of memory)" :
			    "no answer from CUPS");
		httpFlush(http);
		return NULL;
	}
	/* What is left of the body, so that the connection serves again. */
	if (httpGetState(http) != HTTP_STATE_WAITING)
		httpFlush(http);
	return answer(resp, status, err, errlen);
}

int
cupsconn_valid_name(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name), len;
	uint32_t cp;

	if (n == 0 || n > 127 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    name[0] == '-')
		return 0;
	for (; *p; p += len) {
		if (*p <= ' ' || *p == 0x7f || *p == '/' || *p == '\\' || *p == '?' ||
		    *p == '\'' || *p == '"' || *p == '#')
			return 0;
		if ((len = log_utf8_next(p, n - (size_t)(p - (const unsigned char *)name),
		    &cp)) == 0 || (cp >= 0x80 && cp <= 0x9f))
			return 0;
	}
	return 1;
}

int
cupsconn_same_name(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

ipp_t *
cupsconn_request(ipp_op_t op, const char *queue)
{
	char uri[HTTP_MAX_URI];
	ipp_t *req = ippNewRequest(op);

	if (queue != NULL)
		httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
		    "localhost", 0, "/printers/%s", queue);
	else
		snprintf(uri, sizeof(uri), "ipp://localhost/");
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, cupsUser());
	return req;
}

int
cupsconn_reason_shown(const char *r)
{
	static const char *const transient[] = {
		"none", "paused", "moving-to-paused", "connecting-to-device",
		"cups-waiting-for-job-completed", "cups-remote-pending",
		"cups-remote-pending-held", "cups-remote-processing",
		"cups-remote-stopped", "cups-remote-canceled", "cups-remote-aborted",
		"cups-remote-completed",
	};

	if (!codec_keyword_ok(r))
		return 0;
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strcmp(r, transient[i]) == 0)
			return 0;
	return 1;
}

int
cupsconn_default_value(ipp_attribute_t *a, char *out, size_t len)
{
	int n;

	if (ippGetCount(a) != 1)
		return -1;
	switch (ippGetValueTag(a)) {
	case IPP_TAG_KEYWORD: case IPP_TAG_NAME: case IPP_TAG_TEXT:
	case IPP_TAG_NAMELANG: case IPP_TAG_TEXTLANG: case IPP_TAG_MIMETYPE:
		n = snprintf(out, len, "%s", ippGetString(a, 0, NULL));
		break;
	case IPP_TAG_INTEGER: case IPP_TAG_ENUM:
		n = snprintf(out, len, "%d", ippGetInteger(a, 0));
		break;
	case IPP_TAG_BOOLEAN:
		n = snprintf(out, len, "%s", ippGetBoolean(a, 0) ? "true" : "false");
		break;
	default:
		return -1;
	}
	return n >= 0 && (size_t)n < len ? 0 : -1;
}
