/*
 * Endpoint addresses: the text form, parsed and written.  No libuv here
 * (addr_uv.c has the glue), so that programs without a loop can use it.
 * See addr.h for the forms.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/vm_sockets.h>

#include "addr.h"
#include "log.h"

#define ADDR_EXPECTED "expected unix:PATH, tcp:HOST:PORT, vsock:CID:PORT or " \
	"virtio-serial:PATH"

/* Parses a decimal u32 spanning all of s: digits only, no sign or spaces. */
static int
parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
hostname_ok(const char *h)
{
	if (*h == '\0')
		return 0;
	for (; *h != '\0'; h++) {
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		    (*h >= '0' && *h <= '9') || *h == '.' || *h == '-' ||
		    *h == '_'))
			return 0;
	}
	return 1;
}

/* unix:PATH and virtio-serial:PATH. */
static int
parse_path(const char *path, enum addr_kind kind, struct addr *a, char *err,
    size_t errlen)
{
	const char *what = kind == ADDR_UNIX ? "unix" : "virtio-serial";
	size_t n = strlen(path);

	if (n == 0) {
		errf(err, errlen, "%s: the path is empty", what);
		return -EINVAL;
	}
	if (n >= sizeof(a->path)) {
		errf(err, errlen, "%s: the path is %zu bytes long, "
		    "at most %zu fit in a socket address", what, n,
		    sizeof(a->path) - 1);
		return -EINVAL;
	}
	a->kind = kind;
	memcpy(a->path, path, n + 1);
	return 0;
}

static int
parse_tcp(const char *s, struct addr *a, char *err, size_t errlen)
{
	char tmp[80];
	struct in6_addr in6;
	const char *host, *hend, *port;
	uint32_t p;
	size_t hlen;

	if (*s == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (hend == NULL) {
			errf(err, errlen, "tcp: missing ']' after the IPv6 "
			    "address");
			return -EINVAL;
		}
		if (hend[1] != ':') {
			errf(err, errlen, "tcp: expected ':PORT' after ']'");
			return -EINVAL;
		}
		port = hend + 2;
	} else {
		host = s;
		hend = strchr(host, ':');
		if (hend == NULL) {
			errf(err, errlen, "tcp: expected tcp:HOST:PORT");
			return -EINVAL;
		}
		port = hend + 1;
		if (strchr(port, ':') != NULL) {
			errf(err, errlen, "tcp: an IPv6 address must be "
			    "written in brackets, like tcp:[::1]:7000");
			return -EINVAL;
		}
	}

	hlen = (size_t)(hend - host);
	if (hlen == 0) {
		errf(err, errlen, "tcp: the host is empty");
		return -EINVAL;
	}
	if (hlen >= sizeof(a->host)) {
		errf(err, errlen, "tcp: the host is %zu bytes long, "
		    "at most %zu are allowed", hlen, sizeof(a->host) - 1);
		return -EINVAL;
	}
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	if (*s == '[') {
		if (inet_pton(AF_INET6, a->host, &in6) != 1) {
			errf(err, errlen, "tcp: \"%s\" in brackets is not an "
			    "IPv6 address", log_quote(a->host, tmp,
			    sizeof(tmp)));
			return -EINVAL;
		}
	} else if (!hostname_ok(a->host)) {
		errf(err, errlen, "tcp: \"%s\" is not a hostname or an "
		    "IPv4 address", log_quote(a->host, tmp, sizeof(tmp)));
		return -EINVAL;
	}

	if (parse_u32(port, &p) < 0 || p == 0 || p > 65535) {
		errf(err, errlen, "tcp: the port must be a number from 1 "
		    "to 65535, got \"%s\"", log_quote(port, tmp, sizeof(tmp)));
		return -EINVAL;
	}
	a->kind = ADDR_TCP;
	a->port = (uint16_t)p;
	return 0;
}

static int
parse_vsock(const char *s, struct addr *a, char *err, size_t errlen)
{
	char tmp[80], cid[16];
	const char *colon = strchr(s, ':');
	size_t n;

	if (colon == NULL) {
		errf(err, errlen, "vsock: expected vsock:CID:PORT");
		return -EINVAL;
	}
	n = (size_t)(colon - s);
	if (n >= sizeof(cid)) {
		errf(err, errlen, "vsock: the CID must be a number, \"any\", "
		    "\"host\" or \"local\"");
		return -EINVAL;
	}
	memcpy(cid, s, n);
	cid[n] = '\0';
	if (strcmp(cid, "any") == 0)
		a->cid = VMADDR_CID_ANY;
	else if (strcmp(cid, "host") == 0)
		a->cid = VMADDR_CID_HOST;
	else if (strcmp(cid, "local") == 0)
		a->cid = VMADDR_CID_LOCAL;
	else if (parse_u32(cid, &a->cid) < 0) {
		errf(err, errlen, "vsock: the CID must be a number from 0 "
		    "to 4294967295, \"any\", \"host\" or \"local\", got \"%s\"",
		    log_quote(cid, tmp, sizeof(tmp)));
		return -EINVAL;
	}
	if (parse_u32(colon + 1, &a->vport) < 0) {
		errf(err, errlen, "vsock: the port must be a number from 0 "
		    "to 4294967295, got \"%s\"",
		    log_quote(colon + 1, tmp, sizeof(tmp)));
		return -EINVAL;
	}
	a->kind = ADDR_VSOCK;
	return 0;
}

int
addr_parse(const char *text, struct addr *out, char *err, size_t errlen)
{
	struct addr a;
	int rc;

	memset(&a, 0, sizeof(a));
	if (strncmp(text, "unix:", 5) == 0)
		rc = parse_path(text + 5, ADDR_UNIX, &a, err, errlen);
	else if (strncmp(text, "virtio-serial:", 14) == 0)
		rc = parse_path(text + 14, ADDR_VIRTIO, &a, err, errlen);
	else if (strncmp(text, "tcp:", 4) == 0)
		rc = parse_tcp(text + 4, &a, err, errlen);
	else if (strncmp(text, "vsock:", 6) == 0)
		rc = parse_vsock(text + 6, &a, err, errlen);
	else {
		errf(err, errlen, ADDR_EXPECTED);
		rc = -EINVAL;
	}
	if (rc == 0)
		*out = a;
	return rc;
}

int
addr_format(const struct addr *a, char *buf, size_t len)
{
	int n;

	switch (a->kind) {
	case ADDR_UNIX:
	case ADDR_VIRTIO:
		if (a->path[0] == '\0' ||
		    memchr(a->path, '\0', sizeof(a->path)) == NULL)
			return -EINVAL;
		n = snprintf(buf, len, "%s:%s", a->kind == ADDR_UNIX ? "unix" :
		    "virtio-serial", a->path);
		break;
	case ADDR_TCP:
		if (a->host[0] == '\0' ||
		    memchr(a->host, '\0', sizeof(a->host)) == NULL)
			return -EINVAL;
		if (strchr(a->host, ':') != NULL)
			n = snprintf(buf, len, "tcp:[%s]:%u", a->host,
			    (unsigned)a->port);
		else
			n = snprintf(buf, len, "tcp:%s:%u", a->host,
			    (unsigned)a->port);
		break;
	case ADDR_VSOCK:
		if (a->cid == VMADDR_CID_ANY)
			n = snprintf(buf, len, "vsock:any:%u",
			    (unsigned)a->vport);
		else
			n = snprintf(buf, len, "vsock:%u:%u", (unsigned)a->cid,
			    (unsigned)a->vport);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= len ? -ENOSPC : 0;
}
