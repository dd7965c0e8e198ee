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

/*
 * cupsDoRequest for a request that may be sent twice (one that reads, not
 * one that changes anything): takes req and returns the answer, whatever
 * its status, or NULL.  *status is the answer's status, or why there is
 * none; err (errlen bytes) says it in words.  The answer is read through a
 * buffer of 32 kB: libcups 2.4 reads one a few bytes per recv(), each
 * after a poll(), some 7,000 of each for a listing of 100 queues.  An
 * answer that is not HTTP 200 (authentication, an upgrade) or a request
 * that could not be sent is left to cupsDoRequest, which sends req again.
 */
ipp_t *cupsconn_query(http_t *http, ipp_t *req, const char *resource,
    ipp_status_t *status, char *err, size_t errlen);

/*
 * 1 when name may be a queue name: what cupsd's validate_name() accepts
 * (1-127 bytes, printable, none of space / \ ? ' " #), valid UTF-8 without
 * a C1 control, and not ".", ".." or a leading "-" (a path of its own, or an
 * option to every CUPS command), which cupsd takes but no person means.
 */
int cupsconn_valid_name(const char *name);

/* 1 when a and b name the same queue: cupsd compares names ignoring ASCII
 * case ("Office" is "office"). */
int cupsconn_same_name(const char *a, const char *b);

/*
 * A new IPP request with the operation attributes every one of ours
 * carries: printer-uri (ipp://localhost/printers/QUEUE, or the scheduler's
 * ipp://localhost/ when queue is NULL) and requesting-user-name.
 */
ipp_t *cupsconn_request(ipp_op_t op, const char *queue);

/*
 * Whether a printer-state-reason is one a user is to see on a redirected
 * queue: not "none" nor "paused" (the state says it), nor those of a job
 * under way, which come and go with every job; and a keyword.
 */
int cupsconn_reason_shown(const char *reason);
/*
 * The single value of a "-default" attribute as printredir carries it: a
 * keyword, name or text as it is, an integer or enum in decimal, a boolean
 * "true" or "false".  0, or -1 for any other kind (collections, ranges,
 * resolutions, no-value) or a value of more than len - 1 bytes.
 */
int cupsconn_default_value(ipp_attribute_t *a, char *out, size_t len);

#endif
