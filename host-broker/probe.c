/*
 * The prober: whether the destination of each redirected queue answers.
 * The host's cupsd learns that a print server is down only when a job
 * fails on it; a guest user is to see "offline" before printing.  So a
 * thread of its own opens a TCP connection to each destination (the host
 * and port of an ipp, ipps, http, https, socket or lpd device URI) every
 * probe_interval, all of them at once, each given PROBE_TIMEOUT_MS, and
 * closes it unused.  When the set of destinations that do not answer
 * changes, the watcher lists again (on_change) and marks their printers
 * offline-report (watch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cups/cups.h>

#include "broker.h"
#include "log.h"

#define PROBE_TIMEOUT_MS 2000
#define PROBE_MAX 4096			/* destinations probed */

struct dest {
	char host[256];
	int port;
	int down;			/* the last probe failed */
	int fd;				/* during a round */
};

static struct {
	uv_thread_t thread;
	uv_mutex_t lock;
	uv_cond_t cond;
	int started, stop;
	long long interval;		/* seconds; 0 = off */
	struct dest *v;			/* under lock */
	size_t n;
	void (*on_change)(void);
} pr;

/* The host and port a device URI reaches over TCP; 0, or -1 for none. */
int
probe_target(const char *uri, char *host, size_t hostlen, int *port)
{
	static const struct { const char *scheme; int port; } known[] = {
		{ "ipp", 631 }, { "ipps", 631 }, { "http", 80 }, { "https", 443 },
		{ "socket", 9100 }, { "lpd", 515 },
	};
	char scheme[32], user[256], resource[1024];

	if (httpSeparateURI(HTTP_URI_CODING_ALL, uri, scheme, sizeof(scheme), user,
	    sizeof(user), host, (int)hostlen, port, resource, sizeof(resource)) <
	    HTTP_URI_STATUS_OK || host[0] == '\0' || host[0] == '/')
		return -1;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(scheme, known[i].scheme) == 0) {
			if (*port <= 0)
				*port = known[i].port;
			return 0;
		}
	return -1;
}

static struct dest *
find(struct dest *v, size_t n, const char *host, int port)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].port == port && strcasecmp(v[i].host, host) == 0)
			return &v[i];
	return NULL;
}

/* Starts a connection to d; its fd, or -1 when it failed at once. */
static int
start_connect(const struct dest *d)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[16];
	int fd = -1;

	snprintf(port, sizeof(port), "%d", d->port);
	if (getaddrinfo(d->host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* One round over a copy of the destinations; 1 when a verdict changed. */
static int
round_once(void)
{
	struct dest *v;
	struct pollfd *pfd;
	size_t n;
	int changed = 0;

	uv_mutex_lock(&pr.lock);
	n = pr.n;
	v = calloc(n + 1, sizeof(*v));
	pfd = calloc(n + 1, sizeof(*pfd));
	if (v && pfd && n > 0)
		memcpy(v, pr.v, n * sizeof(*v));
	uv_mutex_unlock(&pr.lock);
	if (v == NULL || pfd == NULL) {
		free(v);
		free(pfd);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		v[i].fd = start_connect(&v[i]);
		pfd[i] = (struct pollfd){ .fd = v[i].fd, .events = POLLOUT };
	}
	for (uint64_t start = uv_hrtime();;) {
		uint64_t spent = (uv_hrtime() - start) / 1000000;
		int left = 0;

		for (size_t i = 0; i < n; i++)
			left += pfd[i].fd >= 0;
		if (left == 0 || spent >= PROBE_TIMEOUT_MS ||
		    poll(pfd, n, PROBE_TIMEOUT_MS - (int)spent) <= 0)
			break;
		for (size_t i = 0; i < n; i++) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
			    err == 0 && (pfd[i].revents & POLLOUT))
				v[i].down = -1;		/* answered */
			pfd[i].fd = -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].fd >= 0)
			close(v[i].fd);
	uv_mutex_lock(&pr.lock);
	for (size_t i = 0; i < n; i++) {
		struct dest *d = find(pr.v, pr.n, v[i].host, v[i].port);
		int down = v[i].down != -1;

		if (d == NULL || d->down == down)
			continue;
		d->down = down;
		changed = 1;
		if (down)
			log_warnx("printer destination %s:%d does not answer", d->host, d->port);
		else
			log_info("printer destination %s:%d answers again", d->host, d->port);
	}
	uv_mutex_unlock(&pr.lock);
	free(v);
	free(pfd);
	return changed;
}

static void
probe_thread(void *arg)
{
	(void)arg;
	uv_mutex_lock(&pr.lock);
	while (!pr.stop) {
		if (pr.interval > 0 && pr.n > 0) {
			uv_mutex_unlock(&pr.lock);
			if (round_once() && pr.on_change)
				pr.on_change();
			uv_mutex_lock(&pr.lock);
		}
		if (pr.stop)
			break;
		(void)uv_cond_timedwait(&pr.cond, &pr.lock, (uint64_t)(pr.interval > 0 ?
		    pr.interval : 3600) * 1000000000ull);
	}
	uv_mutex_unlock(&pr.lock);
}

int
probe_start(long long interval, void (*on_change)(void))
{
	int rc;

	uv_mutex_init(&pr.lock);
	uv_cond_init(&pr.cond);
	pr.interval = interval;
	pr.on_change = on_change;
	if ((rc = uv_thread_create(&pr.thread, probe_thread, NULL)) != 0) {
		uv_cond_destroy(&pr.cond);
		uv_mutex_destroy(&pr.lock);
		return rc;
	}
	pr.started = 1;
	return 0;
}

void
probe_set_interval(long long interval)
{
	if (!pr.started)
		return;
	uv_mutex_lock(&pr.lock);
	if (pr.interval != interval) {
		pr.interval = interval;
		for (size_t i = 0; i < pr.n; i++)
			pr.v[i].down = 0;	/* off: nothing is known */
		uv_cond_signal(&pr.cond);
	}
	uv_mutex_unlock(&pr.lock);
}

void
probe_targets(const struct snapshot *s)
{
	struct dest *v;
	size_t n = 0;
	int added = 0;

	if (!pr.started || (v = calloc(s->n + 1, sizeof(*v))) == NULL)
		return;
	uv_mutex_lock(&pr.lock);
	for (size_t i = 0; i < s->n && n < PROBE_MAX; i++) {
		const struct printer *p = &s->printers[i];
		struct dest d = { 0 }, *old;

		if (!p->redirected || probe_target(p->device_uri, d.host,
		    sizeof(d.host), &d.port) != 0 || find(v, n, d.host, d.port))
			continue;
		if ((old = find(pr.v, pr.n, d.host, d.port)) != NULL)
			d.down = old->down;
		else
			added = 1;
		v[n++] = d;
	}
	free(pr.v);
	pr.v = v;
	pr.n = n;
	if (added)	/* a new destination is probed now, not in a while */
		uv_cond_signal(&pr.cond);
	uv_mutex_unlock(&pr.lock);
}

int
probe_down(const char *uri, char *where, size_t wherelen)
{
	char host[256];
	struct dest *d;
	int port, down = 0;

	if (!pr.started || probe_target(uri, host, sizeof(host), &port) != 0)
		return 0;
	uv_mutex_lock(&pr.lock);
	if ((d = find(pr.v, pr.n, host, port)) != NULL && d->down) {
		down = 1;
		snprintf(where, wherelen, "%s:%d", host, port);
	}
	uv_mutex_unlock(&pr.lock);
	return down;
}

void
probe_stop(void)
{
	if (!pr.started)
		return;
	uv_mutex_lock(&pr.lock);
	pr.stop = 1;
	uv_cond_signal(&pr.cond);
	uv_mutex_unlock(&pr.lock);
	uv_thread_join(&pr.thread);
	uv_cond_destroy(&pr.cond);
	uv_mutex_destroy(&pr.lock);
	free(pr.v);
	memset(&pr, 0, sizeof(pr));
}
