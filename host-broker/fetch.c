/*
 * The fetcher: FETCH_THREADS worker threads that resolve printers' drivers
 * (drivers.c), each one printer at a time, so that the watcher never waits
 * on a print server.  The watcher looks each printer's last result up by name
 * and queues the printer to be fetched again; a printer with no result yet
 * goes to the head of the queue, before the revalidation of known ones.
 * When a result changes, the fetcher tells the watcher, which lists again
 * without queueing anything.
 *
 * A print server that trickles its answers therefore costs the printers it
 * serves their fetch_timeout, and holds one thread meanwhile; the others
 * go on with the rest.  Only when every thread waits on a slow server does
 * a new printer wait too, at most one fetch_timeout.
 *
 * drivers.c locks its own cache; the queue and the results are under
 * f.lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "log.h"

#define FETCH_THREADS 4

/* What the fetcher found for one printer. */
struct result {
	char *name;
	char *device_uri, *make_model;	/* of the printer it was found for */
	int driver;			/* Printredir__DriverState */
	int generic;			/* the broker built the driver */
	uint8_t sha[HASH_LEN];
	char *detail;
	struct driver d;		/* d.z NULL unless driver is AVAILABLE */
};

/* A printer to fetch: what drivers_resolve reads of it.  urgent: it has
 * no result yet, or one for another device or model; such a printer waits
 * for it (held back, or offered with its old driver), regular ones are
 * only checked again. */
struct item {
	char *name, *device_uri, *make_model;
	int urgent;
};

static struct {
	uv_thread_t threads[FETCH_THREADS];
	int nthreads;
	uv_mutex_t lock;
	uv_cond_t cond;			/* the queue grew, or stop */
	uv_cond_t idle;			/* the queue is empty and no fetch runs */
	int started, stop;
	int busy;			/* threads resolving a printer */
	int urgent;			/* urgent items queued or being resolved */
	struct item *queue;
	size_t nqueue;
	struct result *results;
	size_t nresults;
	struct broker_conf conf;	/* the latest, under lock */
	unsigned conf_gen;		/* fetch_conf calls so far */
	void (*on_change)(void);
} f;

static void
item_free(struct item *it)
{
	free(it->name);
	free(it->device_uri);
	free(it->make_model);
}

static void
result_free(struct result *r)
{
	free(r->name);
	free(r->device_uri);
	free(r->make_model);
	free(r->detail);
	free(r->d.z);
}

static struct result *
result_find(const char *name)
{
	for (size_t i = 0; i < f.nresults; i++)
		if (strcmp(f.results[i].name, name) == 0)
			return &f.results[i];
	return NULL;
}

static char *
dupz(const char *s)
{
	return strdup(s ? s : "");
}

/* Stores r (taken) as the result for its printer; 1 when it changed. */
static int
result_put(struct result *r)
{
	struct result *old = result_find(r->name), *nv;
	int changed;

	if (old != NULL) {
		changed = old->driver != r->driver || old->generic != r->generic ||
		    memcmp(old->sha, r->sha, HASH_LEN) != 0 ||
		    strcmp(old->detail, r->detail) != 0;
		result_free(old);
		*old = *r;
		return changed;
	}
	nv = realloc(f.results, (f.nresults + 1) * sizeof(*nv));
	if (nv == NULL) {
		result_free(r);
		return 0;
	}
	f.results = nv;
	f.results[f.nresults++] = *r;
	return 1;
}

/* Resolves one printer, away from the lock, under configuration gen: 1
 * when its result changed. */
static int
resolve(const struct broker_conf *conf, unsigned gen, const struct item *it)
{
	struct printer p = {
		.name = it->name, .device_uri = it->device_uri,
		.make_model = it->make_model,
	};
	struct snapshot s = { 0 };
	struct result r = { 0 };
	int changed;

	drivers_resolve(conf, &p, &s);
	r.name = dupz(it->name);
	r.device_uri = dupz(it->device_uri);
	r.make_model = dupz(it->make_model);
	r.driver = p.driver;
	r.generic = p.generic;
	r.detail = p.detail ? p.detail : dupz(NULL);
	memcpy(r.sha, p.sha, HASH_LEN);
	for (size_t i = 0; i < s.ndrivers; i++) {
		if (p.driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE &&
		    memcmp(s.drivers[i].sha, p.sha, HASH_LEN) == 0 && r.d.z == NULL) {
			r.d = s.drivers[i];	/* moved into r */
			continue;
		}
		free(s.drivers[i].z);
	}
	free(s.drivers);
	if (r.name == NULL || r.detail == NULL || r.device_uri == NULL ||
	    r.make_model == NULL ||
	    (r.driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE && r.d.z == NULL)) {
		/* Out of memory: no result, the next pass asks again. */
		result_free(&r);
		return 0;
	}
	uv_mutex_lock(&f.lock);
	if (gen == f.conf_gen) {
		changed = result_put(&r);
	} else {
		/* Found under a configuration that is gone: ask again. */
		result_free(&r);
		changed = 0;
	}
	uv_mutex_unlock(&f.lock);
	return changed;
}

static void
fetch_thread(void *arg)
{
	struct broker_conf conf = { 0 };
	struct item it;
	unsigned gen = 0;
	int have_conf = 0, changed;

	(void)arg;
	uv_mutex_lock(&f.lock);
	for (;;) {
		while (!f.stop && f.nqueue == 0) {
			if (f.busy == 0)
				uv_cond_broadcast(&f.idle);
			uv_cond_wait(&f.cond, &f.lock);
		}
		if (f.stop)
			break;
		f.busy++;
		it = f.queue[0];
		memmove(&f.queue[0], &f.queue[1], --f.nqueue * sizeof(*f.queue));
		if (!have_conf || gen != f.conf_gen) {
			broker_free_conf(&conf);
			if (broker_copy_conf(&f.conf, &conf) != 0)
				fatalx("out of memory");
			have_conf = 1;
			gen = f.conf_gen;
		}
		uv_mutex_unlock(&f.lock);
		changed = resolve(&conf, gen, &it);
		item_free(&it);	/* it.urgent stays */
		uv_mutex_lock(&f.lock);
		f.busy--;
		f.urgent -= it.urgent;
		/* Told once this thread is idle: the watcher waits for the
		 * fetcher to be (see settle_fetches). */
		if (changed && f.on_change) {
			uv_mutex_unlock(&f.lock);
			f.on_change();
			uv_mutex_lock(&f.lock);
		}
	}
	uv_cond_broadcast(&f.idle);
	uv_mutex_unlock(&f.lock);
	if (have_conf)
		broker_free_conf(&conf);
}

int
fetch_start(const struct broker_conf *conf, void (*on_change)(void))
{
	int rc;

	uv_mutex_init(&f.lock);
	uv_cond_init(&f.cond);
	uv_cond_init(&f.idle);
	f.on_change = on_change;
	if (broker_copy_conf(conf, &f.conf) != 0)
		return -ENOMEM;
	f.started = 1;
	for (int i = 0; i < FETCH_THREADS; i++) {
		if ((rc = uv_thread_create(&f.threads[i], fetch_thread, NULL)) != 0) {
			log_warnx("cannot start a driver fetcher thread: %s",
			    uv_strerror(rc));
			/* With none, nothing is ever fetched: fail the start. */
			if (f.nthreads == 0) {
				f.started = 0;
				broker_free_conf(&f.conf);
				return rc;
			}
			break;
		}
		f.nthreads++;
	}
	return 0;
}

void
fetch_conf(const struct broker_conf *conf)
{
	uv_mutex_lock(&f.lock);
	broker_free_conf(&f.conf);
	if (broker_copy_conf(conf, &f.conf) != 0)
		fatalx("out of memory");
	f.conf_gen++;
	/* What was found under the old policy says nothing under the new. */
	for (size_t i = 0; i < f.nresults; i++)
		result_free(&f.results[i]);
	f.nresults = 0;
	uv_mutex_unlock(&f.lock);
}

/* Queues p unless it is queued already (then its fields are refreshed);
 * at the head when urgent.  Under lock. */
static void
enqueue(const struct printer *p, int urgent)
{
	struct item it = { dupz(p->name), dupz(p->device_uri), dupz(p->make_model),
	    urgent }, *nq;
	size_t i;

	for (i = 0; i < f.nqueue; i++)
		if (strcmp(f.queue[i].name, p->name) == 0)
			break;
	if (!it.name || !it.device_uri || !it.make_model) {
		item_free(&it);
		return;
	}
	if (i < f.nqueue) {
		it.urgent |= f.queue[i].urgent;
		f.urgent += it.urgent - f.queue[i].urgent;
		item_free(&f.queue[i]);
		memmove(&f.queue[i], &f.queue[i + 1], (--f.nqueue - i) * sizeof(*f.queue));
	} else {
		f.urgent += it.urgent;
	}
	if ((nq = realloc(f.queue, (f.nqueue + 1) * sizeof(*nq))) == NULL) {
		f.urgent -= it.urgent;
		item_free(&it);
		return;
	}
	f.queue = nq;
	if (it.urgent) {
		memmove(&f.queue[1], &f.queue[0], f.nqueue * sizeof(*f.queue));
		f.queue[0] = it;
	} else {
		f.queue[f.nqueue] = it;
	}
	f.nqueue++;
	uv_cond_signal(&f.cond);
}

int
fetch_lookup(struct printer *p, struct snapshot *s, int queue)
{
	const struct result *r;
	int found = 0, stale = 0;

	uv_mutex_lock(&f.lock);
	r = result_find(p->name);
	if (r != NULL && (r->driver != PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE ||
	    drivers_add(s, &r->d) == 0)) {
		p->driver = r->driver;
		p->generic = r->generic;
		memcpy(p->sha, r->sha, HASH_LEN);
		free(p->detail);
		p->detail = strdup(r->detail);
		found = 1;
		/* Found for the printer as it was: until the new result is
		 * in, it keeps the old one. */
		stale = strcmp(r->device_uri, p->device_uri ? p->device_uri : "") != 0 ||
		    strcmp(r->make_model, p->make_model ? p->make_model : "") != 0;
	}
	if (queue || !found || stale)
		enqueue(p, !found || stale);
	uv_mutex_unlock(&f.lock);
	return found + stale;
}

void
fetch_wait_idle(void)
{
	uv_mutex_lock(&f.lock);
	while (!f.stop && (f.nqueue > 0 || f.busy))
		uv_cond_wait(&f.idle, &f.lock);
	uv_mutex_unlock(&f.lock);
}

int
fetch_busy(void)
{
	int busy;

	uv_mutex_lock(&f.lock);
	busy = f.urgent > 0;
	uv_mutex_unlock(&f.lock);
	return busy;
}

void
fetch_keep(const struct snapshot *s)
{
	uv_mutex_lock(&f.lock);
	for (size_t i = 0; i < f.nresults; ) {
		int listed = 0;

		for (size_t k = 0; k < s->n && !listed; k++)
			listed = strcmp(s->printers[k].name, f.results[i].name) == 0;
		if (listed) {
			i++;
			continue;
		}
		result_free(&f.results[i]);
		f.results[i] = f.results[--f.nresults];
	}
	uv_mutex_unlock(&f.lock);
}

void
fetch_cancel(void)
{
	if (!f.started)
		return;
	uv_mutex_lock(&f.lock);
	f.stop = 1;
	uv_cond_broadcast(&f.cond);
	uv_cond_broadcast(&f.idle);
	uv_mutex_unlock(&f.lock);
}

void
fetch_stop(void)
{
	if (!f.started)
		return;
	fetch_cancel();
	for (int i = 0; i < f.nthreads; i++)
		uv_thread_join(&f.threads[i]);
	for (size_t i = 0; i < f.nqueue; i++)
		item_free(&f.queue[i]);
	for (size_t i = 0; i < f.nresults; i++)
		result_free(&f.results[i]);
	free(f.queue);
	free(f.results);
	broker_free_conf(&f.conf);
	uv_mutex_destroy(&f.lock);
	uv_cond_destroy(&f.cond);
	uv_cond_destroy(&f.idle);
	memset(&f, 0, sizeof(f));
}
