/*
 * Endpoint addresses: the text form used in configuration files and on
 * command lines.  This header and addr.c need no libuv, so that a program
 * without a loop (guest-tray) can parse addresses; addr_uv.h has the glue
 * that listens on, accepts from and connects to them.
 *
 * Text forms (the prefix is case-sensitive):
 *
 *   unix:PATH         PATH non-empty, absolute or relative, at most 107 bytes
 *                     (sun_path without its NUL). No abstract sockets.
 *   tcp:HOST:PORT     HOST a hostname (letters, digits, '.', '-', '_'), an
 *                     IPv4 address, or an IPv6 address in brackets
 *                     (tcp:[::1]:7000; no zone ids). PORT decimal 1-65535,
 *                     no sign, no leading or trailing junk.
 *   vsock:CID:PORT    CID decimal u32, or "any" (VMADDR_CID_ANY), "host" (2)
 *                     or "local" (1). PORT decimal u32.
 *   virtio-serial:PATH  the guest's end of a virtio-serial port, a character
 *                     device such as /dev/virtio-ports/org.printredir.0;
 *                     PATH as for unix:.  Connect only: a byte stream with
 *                     no connection events (the host's end is a socket the
 *                     broker connects to, see the broker's `channels`).
 *
 * The text form never names port 0; addr_listen() (addr_uv.h) nevertheless
 * accepts a struct addr built by hand with tcp port 0 and binds an
 * ephemeral port, which is what tests want.
 */
#ifndef PRINTREDIR_ADDR_H
#define PRINTREDIR_ADDR_H

#include <stddef.h>
#include <stdint.h>

enum addr_kind {
	ADDR_UNIX = 1,
	ADDR_TCP,
	ADDR_VSOCK,
	ADDR_VIRTIO,		/* virtio-serial */
};

struct addr {
	enum addr_kind kind;
	char path[108];		/* ADDR_UNIX: sun_path size, NUL included;
				 * ADDR_VIRTIO: the device */
	char host[256];		/* ADDR_TCP: name or address, no brackets */
	uint16_t port;		/* ADDR_TCP */
	uint32_t cid;		/* ADDR_VSOCK */
	uint32_t vport;		/* ADDR_VSOCK */
};

/* Longest text form addr_format() writes, NUL included ("tcp:[HOST]:65535"). */
#define ADDR_TEXT_MAX (sizeof("virtio-serial:") + 107 > sizeof("tcp:[]:65535") + 255 ? \
	sizeof("virtio-serial:") + 107 : sizeof("tcp:[]:65535") + 255)

/*
 * Parses text (not NULL) into *out (not NULL). *out is written only on
 * success and then fully (unused fields zeroed). On failure returns -EINVAL
 * and, when err is not NULL, a message such as "expected unix:PATH,
 * tcp:HOST:PORT or vsock:CID:PORT" that names neither file nor key, so that
 * callers can prefix their own context.
 */
int addr_parse(const char *text, struct addr *out, char *err, size_t errlen);

/*
 * Writes the text form of *a (not NULL) to buf (len bytes, not NULL when
 * len > 0). The text parses back to an equal struct addr (as addr_parse()
 * writes it: unused fields zero). VMADDR_CID_ANY is written as "any".
 * Returns 0, -ENOSPC if buf is too small (buf then holds a truncated string when len > 0) or -EINVAL for a bad kind or an
 * empty path or host.
 */
int addr_format(const struct addr *a, char *buf, size_t len);

#endif
