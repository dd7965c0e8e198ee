/*
 * Endpoint addresses through libuv: listening on, accepting from and
 * connecting to the addresses of addr.h.  See addr_uv.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include <uv.h>

#include "addr_uv.h"
#include "log.h"
#include "statefile.h"

/* How long a vsock connect() may block the loop. */
#define VSOCK_CONNECT_TIMEOUT_SEC 2

/* A vsock or virtio-serial "connect" in flight: see open_connected(). */
struct fd_connect {
	uv_write_t write;
	uv_connect_t *req;
	uv_connect_cb cb;
};

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

/* Closes a handle that was initialized but never given to the caller. */
static void
discard(uv_handle_t *h)
{
	if (h != NULL)
		uv_close(h, free_handle);
}

static void
unix_sockaddr(const struct addr *a, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a->path, sizeof(sun->sun_path));
}

/*
 * Removes a stale socket at a->path: returns 0 if the path is now free,
 * -EADDRINUSE if a server answers there, -EEXIST if it is not a socket.
 */
static int
unix_clear_stale(const struct addr *a, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd = -1, rc;

	if (lstat(a->path, &st) < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		if (rc < 0)
			errf(err, errlen, "unix:%s: %s", a->path,
			    strerror(-rc));
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		rc = -EEXIST;
		errf(err, errlen, "unix:%s: the path exists and is not a "
		    "socket", a->path);
		goto out;
	}

	/*
	 * Non-blocking, so that a live server with a full backlog answers
	 * EAGAIN instead of making us wait.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "socket: %s", strerror(-rc));
		goto out;
	}
	unix_sockaddr(a, &sun);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS) {
		rc = -EADDRINUSE;
		errf(err, errlen, "unix:%s: another server is listening "
		    "there", a->path);
		goto out;
	}
	if (errno == ENOENT) {
		rc = 0;		/* went away meanwhile */
		goto out;
	}
	if (errno != ECONNREFUSED) {
		rc = -errno;
		errf(err, errlen, "unix:%s: cannot tell whether the "
		    "existing socket is in use: %s", a->path, strerror(-rc));
		goto out;
	}
	if (unlink(a->path) < 0 && errno != ENOENT) {
		rc = -errno;
		errf(err, errlen, "unix:%s: cannot remove the stale socket: "
		    "%s", a->path, strerror(-rc));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Returns a bound unix socket in *fdp. */
static int
unix_bind(const struct addr *a, int mode, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd = -1, rc;

	rc = unix_clear_stale(a, err, errlen);
	if (rc < 0)
		goto out;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "socket: %s", strerror(-rc));
		goto out;
	}
	unix_sockaddr(a, &sun);

	/*
	 * fchmod() on a socket does not reach the file bind() creates, and a
	 * chmod() after bind() leaves a window with the umask's permissions;
	 * the umask applies at creation.
	 */
	old = umask(~(mode_t)mode & 0777);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	umask(old);
	if (rc < 0) {
		errf(err, errlen, "cannot bind unix:%s: %s", a->path,
		    strerror(-rc));
		goto out;
	}
	*fdp = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static void
vsock_sockaddr(const struct addr *a, struct sockaddr_vm *svm)
{
	memset(svm, 0, sizeof(*svm));
	svm->svm_family = AF_VSOCK;
	svm->svm_cid = a->cid;
	svm->svm_port = a->vport;
}

static int
vsock_bind(const struct addr *a, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_vm svm;
	int fd, rc;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "vsock socket: %s", strerror(-rc));
		goto out;
	}
	vsock_sockaddr(a, &svm);
	if (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0) {
		rc = -errno;
		errf(err, errlen, "cannot bind vsock:%u:%u: %s",
		    (unsigned)a->cid, (unsigned)a->vport, strerror(-rc));
		goto out;
	}
	*fdp = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Fills *ss from a tcp address. Numeric hosts need no lookup; a hostname
 * takes a blocking getaddrinfo and its first answer.
 */
static int
tcp_resolve(uv_loop_t *loop, const struct addr *a,
    struct sockaddr_storage *ss, char *err, size_t errlen)
{
	uv_getaddrinfo_t gai;
	struct addrinfo hints;
	char port[8];
	int rc;

	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (strchr(a->host, ':') != NULL) {
		rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss);
		if (rc < 0)
			errf(err, errlen, "tcp:[%s]: %s", a->host,
			    uv_strerror(rc));
		return rc;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", (unsigned)a->port);
	rc = uv_getaddrinfo(loop, &gai, NULL, a->host, port, &hints);
	if (rc < 0) {
		errf(err, errlen, "cannot resolve %s: %s", a->host,
		    uv_strerror(rc));
		return rc;
	}
	if (gai.addrinfo->ai_addrlen > sizeof(*ss)) {
		rc = -EAFNOSUPPORT;
		errf(err, errlen, "cannot resolve %s: odd address",
		    a->host);
	} else
		memcpy(ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
	uv_freeaddrinfo(gai.addrinfo);
	return rc;
}

/*
 * A new, initialised libuv stream of type UV_TCP or UV_NAMED_PIPE, or NULL
 * with *rc and err set (the memory of a handle that failed to initialise is
 * freed: it cannot be closed).
 */
static uv_stream_t *
new_stream(uv_loop_t *loop, uv_handle_type type, int *rc, char *err,
    size_t errlen)
{
	int tcp = type == UV_TCP;
	uv_stream_t *s = malloc(tcp ? sizeof(uv_tcp_t) : sizeof(uv_pipe_t));

	if (s == NULL) {
		*rc = -ENOMEM;
		errf(err, errlen, "out of memory");
		return NULL;
	}
	*rc = tcp ? uv_tcp_init(loop, (uv_tcp_t *)s) :
	    uv_pipe_init(loop, (uv_pipe_t *)s, 0);
	if (*rc < 0) {
		free(s);
		errf(err, errlen, "%s: %s", tcp ? "uv_tcp_init" :
		    "uv_pipe_init", uv_strerror(*rc));
		return NULL;
	}
	return s;
}

static int
tcp_listen(uv_loop_t *loop, const struct addr *a, int backlog,
    uv_connection_cb cb, void *data, uv_stream_t **out, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	char text[ADDR_TEXT_MAX];
	uv_tcp_t *tcp = NULL;
	int rc;

	addr_format(a, text, sizeof(text));
	rc = tcp_resolve(loop, a, &ss, err, errlen);
	if (rc < 0)
		goto out;
	if ((tcp = (uv_tcp_t *)new_stream(loop, UV_TCP, &rc, err,
	    errlen)) == NULL)
		goto out;
	tcp->data = data;
	/* libuv reports some bind errors (EADDRINUSE) only at listen. */
	rc = uv_tcp_bind(tcp, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)tcp, backlog, cb);
	if (rc < 0) {
		errf(err, errlen, "cannot listen on %s: %s", text,
		    uv_strerror(rc));
		goto out;
	}
	*out = (uv_stream_t *)tcp;
	tcp = NULL;
out:
	discard((uv_handle_t *)tcp);
	return rc;
}

int
addr_listen(uv_loop_t *loop, const struct addr *a, int mode, int backlog,
    uv_connection_cb cb, void *data, uv_stream_t **out, char *err,
    size_t errlen)
{
	char text[ADDR_TEXT_MAX];
	uv_pipe_t *ph = NULL;
	int fd = -1, bound_unix = 0, rc;

	*out = NULL;
	switch (a->kind) {
	case ADDR_TCP:
		return tcp_listen(loop, a, backlog, cb, data, out, err,
		    errlen);
	case ADDR_UNIX:
		rc = unix_bind(a, mode, &fd, err, errlen);
		bound_unix = rc == 0;
		break;
	case ADDR_VSOCK:
		rc = vsock_bind(a, &fd, err, errlen);
		break;
	case ADDR_VIRTIO:
		rc = -EINVAL;
		errf(err, errlen, "virtio-serial:%s is a port to open, not to listen "
		    "on (the broker reaches such ports through `channels`)", a->path);
		break;
	default:
		rc = -EINVAL;
		errf(err, errlen, "bad address kind %d", (int)a->kind);
		break;
	}
	if (rc < 0)
		goto out;

	addr_format(a, text, sizeof(text));
	if ((ph = (uv_pipe_t *)new_stream(loop, UV_NAMED_PIPE, &rc,
	    err, errlen)) == NULL)
		goto out;
	ph->data = data;
	rc = uv_pipe_open(ph, fd);
	if (rc < 0) {
		errf(err, errlen, "uv_pipe_open: %s", uv_strerror(rc));
		goto out;
	}
	fd = -1;	/* the handle closes it now */
	rc = uv_listen((uv_stream_t *)ph, backlog, cb);
	if (rc < 0) {
		errf(err, errlen, "cannot listen on %s: %s", text,
		    uv_strerror(rc));
		goto out;
	}
	*out = (uv_stream_t *)ph;
	ph = NULL;
out:
	discard((uv_handle_t *)ph);
	if (fd >= 0)
		close(fd);
	if (rc < 0 && bound_unix)
		addr_unlink(a);
	return rc;
}

/*
 * Fills *cred from SO_PEERCRED when stream is a unix socket; known = 0 for
 * other kinds.  Returns 0 or a negative errno.
 */
static int
peer_cred(uv_stream_t *stream, struct addr_cred *cred)
{
	struct ucred uc;
	socklen_t len;
	uv_os_fd_t fd;
	int domain, rc;

	memset(cred, 0, sizeof(*cred));
	if (stream->type != UV_NAMED_PIPE)
		return 0;
	if ((rc = uv_fileno((uv_handle_t *)stream, &fd)) < 0)
		return rc;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (domain != AF_UNIX)
		return 0;	/* vsock: the peer is a whole machine */
	len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	cred->known = 1;
	cred->uid = uc.uid;
	cred->pid = uc.pid;
	return 0;
}

/*
 * libuv stops watching a server whose connection callback returns without
 * accepting, and only uv_accept() starts it again: a connection we have no
 * handle for would stop the server for good.  Drop it instead, so that
 * the next one is served.  accepted_fd is libuv's own field on Unix.
 */
static void
drop_pending(uv_stream_t *server)
{
	if (server->accepted_fd >= 0) {
		close(server->accepted_fd);
		server->accepted_fd = -1;
	}
}

int
addr_accept(uv_stream_t *server, uv_stream_t **out, struct addr_cred *cred)
{
	uv_stream_t *client = NULL;
	int rc;

	*out = NULL;
	if (cred != NULL)
		memset(cred, 0, sizeof(*cred));
	if (server->type != UV_TCP && server->type != UV_NAMED_PIPE) {
		rc = -EINVAL;
		goto out;
	}
	if ((client = new_stream(server->loop, server->type, &rc, NULL,
	    0)) == NULL) {
		drop_pending(server);
		goto out;
	}
	client->data = NULL;
	if ((rc = uv_accept(server, client)) < 0)
		goto out;
	if (cred != NULL && (rc = peer_cred(client, cred)) < 0)
		goto out;
	*out = client;
	client = NULL;
out:
	discard((uv_handle_t *)client);
	return rc;
}

int
addr_peer_format(uv_stream_t *client, const struct addr *local, char *buf,
    size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addr a;
	uv_os_fd_t fd;

	memset(&a, 0, sizeof(a));
	if (uv_fileno((uv_handle_t *)client, &fd) != 0 ||
	    getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return addr_format(local, buf, len);
	if (ss.ss_family == AF_VSOCK) {
		const struct sockaddr_vm *v = (const struct sockaddr_vm *)&ss;

		a.kind = ADDR_VSOCK;
		a.cid = v->svm_cid;
		a.vport = v->svm_port;
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		a.kind = ADDR_TCP;
		inet_ntop(AF_INET, &in->sin_addr, a.host, sizeof(a.host));
		a.port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		a.kind = ADDR_TCP;
		inet_ntop(AF_INET6, &in6->sin6_addr, a.host, sizeof(a.host));
		a.port = ntohs(in6->sin6_port);
	} else {
		return addr_format(local, buf, len);
	}
	return addr_format(&a, buf, len);
}

static void
fd_connected(uv_write_t *w, int status)
{
	struct fd_connect *vc = (struct fd_connect *)w;

	/*
	 * The write finishes inside uv_write(), so libuv reports it with
	 * status 0 even when the pipe is closed before the callback runs;
	 * the handle is still valid here (its close callback comes later).
	 */
	if (uv_is_closing((uv_handle_t *)w->handle))
		status = UV_ECANCELED;
	vc->req->handle = w->handle;
	vc->cb(vc->req, status);
	free(vc);
}

/*
 * Hands a connected fd (a vsock socket, a virtio-serial port) to a new
 * uv_pipe_t and arranges for cb.  The zero-length write completes on a
 * later loop iteration, or with
 * UV_ECANCELED if the pipe is closed first, which gives the caller the same
 * callback contract as uv_pipe_connect(). Takes fd in every case.
 */
static int
open_connected(uv_loop_t *loop, int fd, uv_connect_t *req, uv_stream_t **out,
    uv_connect_cb cb, char *err, size_t errlen)
{
	static char nothing;
	struct fd_connect *vc = NULL;
	uv_pipe_t *ph = NULL;
	uv_buf_t buf = uv_buf_init(&nothing, 0);
	int rc;

	vc = malloc(sizeof(*vc));
	if (vc == NULL) {
		rc = -ENOMEM;
		errf(err, errlen, "out of memory");
		goto out;
	}
	if ((ph = (uv_pipe_t *)new_stream(loop, UV_NAMED_PIPE, &rc,
	    err, errlen)) == NULL)
		goto out;
	rc = uv_pipe_open(ph, fd);
	if (rc < 0) {
		errf(err, errlen, "uv_pipe_open: %s", uv_strerror(rc));
		goto out;
	}
	fd = -1;
	vc->req = req;
	vc->cb = cb;
	req->type = UV_CONNECT;
	req->handle = (uv_stream_t *)ph;
	req->cb = cb;
	rc = uv_write(&vc->write, (uv_stream_t *)ph, &buf, 1,
	    fd_connected);
	if (rc < 0) {
		errf(err, errlen, "uv_write: %s", uv_strerror(rc));
		goto out;
	}
	vc = NULL;	/* freed by fd_connected */
	*out = (uv_stream_t *)ph;
	ph = NULL;
out:
	discard((uv_handle_t *)ph);
	free(vc);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * libuv cannot connect a vsock socket, so connect it by hand, blocking
 * for at most VSOCK_CONNECT_TIMEOUT_SEC.
 */
static int
vsock_connect(uv_loop_t *loop, const struct addr *a, uv_connect_t *req,
    uv_stream_t **out, uv_connect_cb cb, char *err, size_t errlen)
{
	struct sockaddr_vm svm;
	struct timeval tv = { .tv_sec = VSOCK_CONNECT_TIMEOUT_SEC };
	int fd, rc;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "vsock socket: %s", strerror(-rc));
		goto out;
	}
	/* Best effort: the kernel's default is the same 2 s. */
	(void)setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv,
	    sizeof(tv));
	vsock_sockaddr(a, &svm);
	if (connect(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0) {
		rc = -errno;
		errf(err, errlen, "cannot connect to vsock:%u:%u: %s",
		    (unsigned)a->cid, (unsigned)a->vport, strerror(-rc));
		goto out;
	}
	rc = open_connected(loop, fd, req, out, cb, err, errlen);
	fd = -1;	/* taken by open_connected */
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * A virtio-serial port is a character device with no connection events:
 * opening it is the "connection".  While the host's end is away, reading
 * gives end of file (the peer then closes and the caller opens it again
 * after its backoff); whatever the other side sent before is the stale
 * tail of an older session, which the handshake refuses.
 */
static int
virtio_open(uv_loop_t *loop, const struct addr *a, uv_connect_t *req,
    uv_stream_t **out, uv_connect_cb cb, char *err, size_t errlen)
{
	int fd = open(a->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		errf(err, errlen, "cannot open virtio-serial:%s: %s", a->path,
		    strerror(e));
		return -e;
	}
	return open_connected(loop, fd, req, out, cb, err, errlen);
}

int
addr_connect(uv_loop_t *loop, const struct addr *a, uv_connect_t *req,
    uv_stream_t **out, uv_connect_cb cb, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	uv_pipe_t *ph = NULL;
	uv_tcp_t *tcp = NULL;
	int rc;

	*out = NULL;
	switch (a->kind) {
	case ADDR_UNIX:
		if ((ph = (uv_pipe_t *)new_stream(loop, UV_NAMED_PIPE,
		    &rc, err, errlen)) == NULL)
			goto out;
		/* Reports every error, even ENOENT, through cb. */
		uv_pipe_connect(req, ph, a->path, cb);
		*out = (uv_stream_t *)ph;
		ph = NULL;
		rc = 0;
		break;
	case ADDR_TCP:
		rc = tcp_resolve(loop, a, &ss, err, errlen);
		if (rc < 0)
			goto out;
		if ((tcp = (uv_tcp_t *)new_stream(loop, UV_TCP, &rc,
		    err, errlen)) == NULL)
			goto out;
		rc = uv_tcp_connect(req, tcp, (struct sockaddr *)&ss, cb);
		if (rc < 0) {
			errf(err, errlen, "cannot connect to tcp:%s:%u: %s",
			    a->host, (unsigned)a->port, uv_strerror(rc));
			goto out;
		}
		*out = (uv_stream_t *)tcp;
		tcp = NULL;
		break;
	case ADDR_VSOCK:
		rc = vsock_connect(loop, a, req, out, cb, err, errlen);
		break;
	case ADDR_VIRTIO:
		rc = virtio_open(loop, a, req, out, cb, err, errlen);
		break;
	default:
		rc = -EINVAL;
		errf(err, errlen, "bad address kind %d", (int)a->kind);
		break;
	}
out:
	discard((uv_handle_t *)ph);
	discard((uv_handle_t *)tcp);
	return rc;
}

void
addr_unlink(const struct addr *a)
{
	struct stat st;

	if (a == NULL || a->kind != ADDR_UNIX)
		return;
	if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(a->path);
}

int
addr_bound_port(uv_stream_t *stream)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	if (stream == NULL || stream->type != UV_TCP)
		return -EINVAL;
	rc = uv_tcp_getsockname((uv_tcp_t *)stream, (struct sockaddr *)&ss,
	    &len);
	if (rc < 0)
		return rc;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

int
addr_make_dir(const struct addr *a)
{
	char dir[sizeof(a->path)], *slash;

	if (a == NULL || a->kind != ADDR_UNIX)
		return 0;
	snprintf(dir, sizeof(dir), "%s", a->path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	return statefile_mkdirs(dir, 0755);
}
