/*
 * The libuv glue for the endpoint addresses of addr.h: listening, accepting,
 * connecting, and the socket file of a unix address.  Every handle these
 * functions hand out is allocated with malloc and is the caller's: close it
 * with uv_close() and free() it in the close callback.
 */
#ifndef PRINTREDIR_ADDR_UV_H
#define PRINTREDIR_ADDR_UV_H

#include <sys/types.h>

#include <uv.h>

#include "addr.h"

/*
 * Binds *a, listens with backlog and calls cb for each connection, with
 * handle->data set to data (may be NULL). On success *out is a new handle
 * allocated with malloc: a uv_pipe_t for unix and vsock (the server socket
 * is made by hand and given to uv_pipe_open; accept connections into a
 * uv_pipe_t), a uv_tcp_t for tcp. The caller owns it: uv_close() it and
 * free() it in the close callback. On failure *out is NULL, nothing is
 * left behind once the loop runs again, and err says why.
 *
 * unix: an existing socket file is removed first only when nobody answers
 * on it (connect fails with ECONNREFUSED); a live server gives -EADDRINUSE
 * (and sees that probe as a connection closed at once), a file that is not
 * a socket -EEXIST. The socket file is created with permissions mode & 0777
 * by setting the process umask around bind(), so call this from one thread
 * only (at startup). Closing the handle does not remove the file: call
 * addr_unlink(). mode is ignored for tcp and vsock.
 *
 * tcp: numeric hosts are used as they are; a hostname is resolved with a
 * blocking getaddrinfo (uv_getaddrinfo without callback) and the first
 * address is bound. Port 0 binds an ephemeral port.
 */
int addr_listen(uv_loop_t *loop, const struct addr *a, int mode, int backlog,
    uv_connection_cb cb, void *data, uv_stream_t **out, char *err,
    size_t errlen);

/* Who is at the other end of an accepted connection, when the kernel says. */
struct addr_cred {
	int known;	/* 1 for a unix socket (SO_PEERCRED), else 0 */
	uid_t uid;	/* the peer's effective uid when it connected */
	pid_t pid;	/* the peer's process id when it connected */
};

/*
 * Accepts one pending connection on server (a handle from addr_listen(),
 * not NULL; call this from its connection callback after checking status).
 * On success returns 0 and *out (not NULL) is a new handle of the kind the
 * server takes, allocated with malloc: a uv_pipe_t for unix and vsock, a
 * uv_tcp_t for tcp, on the server's loop, with data NULL.  The caller owns
 * it exactly as for addr_listen(): uv_close() it and free() it in the close
 * callback.
 *
 * cred may be NULL.  Otherwise it is always written: for a unix connection
 * with the peer's uid and pid from SO_PEERCRED (known = 1), for tcp and
 * vsock with known = 0 and the rest zero.
 *
 * On failure returns a negative errno (-ENOMEM, an error of uv_accept(), or
 * of reading the peer's credentials), *out is NULL, and nothing is left
 * behind once the loop runs again: the handle, if any, is closed and freed,
 * and a connection that could not be accepted is dropped so that the
 * server keeps serving the next ones.
 */
int addr_accept(uv_stream_t *server, uv_stream_t **out, struct addr_cred *cred);

/*
 * The text form (addr_format) of where an accepted connection comes from:
 * "vsock:CID:PORT" or "tcp:HOST:PORT" from getpeername(), and for a unix
 * socket, whose peers have no address, the listening address *local.
 * Returns what addr_format() returns.
 */
int addr_peer_format(uv_stream_t *client, const struct addr *local, char *buf,
    size_t len);

/*
 * Connects to *a. On success *out is a new handle allocated with malloc (a
 * uv_pipe_t for unix and vsock, a uv_tcp_t for tcp), owned by the caller
 * exactly as for addr_listen(), and cb(req, status) is called exactly once
 * from the loop, never from inside this call, with req->handle == *out.
 * status is 0 or a negative errno (UV_ECANCELED if *out is closed first);
 * on failure the caller still closes and frees *out. req (not NULL) is the
 * caller's and must live until cb; req->data is left alone.
 *
 * Returning an error instead means nothing was allocated, *out is NULL and
 * cb will not be called: every kind can fail either way, so callers handle
 * both.
 *
 * tcp: a hostname is resolved with a blocking getaddrinfo and only the first
 * address is tried; prefer numeric hosts.
 *
 * vsock: libuv has no vsock connect, so the AF_VSOCK socket is made and
 * connected by hand with a blocking connect() bounded by a 2 s timeout
 * (normally immediate: the peer is this machine's hypervisor), then given to
 * uv_pipe_open(). Connect errors are therefore returned synchronously. cb
 * is driven by a zero-length uv_write so that it runs from the loop and is
 * cancelled like any libuv request if *out is closed first.
 */
int addr_connect(uv_loop_t *loop, const struct addr *a, uv_connect_t *req,
    uv_stream_t **out, uv_connect_cb cb, char *err, size_t errlen);

/*
 * For a unix address: removes the socket file if it is a socket. Does
 * nothing for other kinds, for a missing file or for a file that is not a
 * socket. a may be NULL.
 */
void addr_unlink(const struct addr *a);

/*
 * For a unix address: creates the folder the socket lives in (and its
 * parents) with mode 0755 if missing, as /run/printredir must be at boot.
 * Returns 0 or a negative errno; does nothing for other kinds.
 */
int addr_make_dir(const struct addr *a);

/*
 * Returns the local port (1-65535) a tcp handle from addr_listen() is bound
 * to, -EINVAL if stream is not tcp, or another negative errno.
 */
int addr_bound_port(uv_stream_t *stream);

#endif
