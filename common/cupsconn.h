/*
 * Small libcups helpers both daemons use.
 */
#ifndef PRINTREDIR_CUPSCONN_H
#define PRINTREDIR_CUPSCONN_H

#include <stddef.h>

#include <cups/cups.h>

/*
 * Connects to a scheduler named as in the configuration: "" for the
 * default (cupsServer()), "HOST:PORT", "HOST" (port 631), "[V6]:PORT" or a
 * socket path starting with '/'.  Blocking, bounded by timeout_ms.  Returns
 * the connection (httpClose) or NULL with the reason in err.
 */
http_t *cupsconn_open(const char *spec, int timeout_ms, char *err, size_t errlen);

/* 1 when name is a queue name cupsd accepts: 1-127 bytes, printable, none of
 * space / \ ? ' " #.  Mirrors cupsd's validate_name(). */
int cupsconn_valid_name(const char *name);

#endif
