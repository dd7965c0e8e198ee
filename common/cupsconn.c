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
