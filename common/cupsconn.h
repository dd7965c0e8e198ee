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

/*
 * A new IPP request with the operation attributes every one of ours
 * carries: printer-uri (ipp://localhost/printers/QUEUE, or the scheduler's
 * ipp://localhost/ when queue is NULL) and requesting-user-name.
 */
ipp_t *cupsconn_request(ipp_op_t op, const char *queue);

#endif
