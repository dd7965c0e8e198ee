/*
 * Drivers: each redirected queue's PPD, fetched from the print server that
 * serves the queue, checked, hashed and kept in a content-addressed cache in
 * state_dir/drivers so that a broker restart refetches nothing unchanged.
 *
 * The fetcher's threads (fetch.c) resolve printers side by side: the cache
 * is theirs under cache_lock, which drivers_resolve holds except while it
 * waits on a print server (NET() around each network call), so that a slow
 * server holds up only the printer it serves.  A source, once made, stays
 * where it is (v holds pointers), so a thread may keep one across a wait;
 * what it reads of one after a wait is read again under the lock.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cups/cups.h>
#include <cups/ppd.h>
#include <json.h>

#include "broker.h"
#include "compress.h"
#include "cupsconn.h"
#include "jsonget.h"
#include "log.h"
#include "ppd.h"
#include "statefile.h"

#define INDEX_MAX (16 << 20)
#define DB_RETRY_SECS 300	/* a driver database miss is asked again after */
#define HTTP_TIMEOUT_MS 5000

/* Where a driver came from, and what we got last time. */
struct source {
	char *key;		/* the PPD's URL, or "db:SERVER:make and model" */
	time_t last_modified;	/* HTTP Last-Modified, 0 if none */
	time_t checked;		/* when we last asked */
	int found;
	uint8_t sha[HASH_LEN];
	char *ppd_name;		/* driver database entry */
};

static struct {
	char dir[PATH_MAX];
	struct source **v;
	size_t n;
	struct driver *blobs;	/* compressed drivers in memory, by hash */
	size_t nblobs;
} cache;

static uv_mutex_t cache_lock;

/* A network call, made without cache_lock. */
#define NET(call) (uv_mutex_unlock(&cache_lock), (call), uv_mutex_lock(&cache_lock))

static struct source *
source_get(const char *key)
{
	struct source **nv, *src;

	for (size_t i = 0; i < cache.n; i++)
		if (strcmp(cache.v[i]->key, key) == 0)
			return cache.v[i];
	nv = realloc(cache.v, (cache.n + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	cache.v = nv;
	if ((src = calloc(1, sizeof(*src))) == NULL)
		return NULL;
	if ((src->key = strdup(key)) == NULL) {
		free(src);
		return NULL;
	}
	return cache.v[cache.n++] = src;
}

static void
blob_path(const uint8_t sha[HASH_LEN], char *out, size_t len)
{
	char hex[HASH_HEX_LEN];

	hash_hex(sha, hex);
	snprintf(out, len, "%s/%s.ppd", cache.dir, hex);
}

static void
index_save(void)
{
	json_object *doc = json_object_new_object(), *arr = json_object_new_array();
	char hex[HASH_HEX_LEN], path[PATH_MAX + 16];
	const char *text;
	int rc;

	for (size_t i = 0; i < cache.n; i++) {
		const struct source *s = cache.v[i];
		json_object *o;

		if (!s->found)
			continue;
		o = json_object_new_object();
		hash_hex(s->sha, hex);
		json_object_object_add(o, "key", json_object_new_string(s->key));
		json_object_object_add(o, "sha256", json_object_new_string(hex));
		json_object_object_add(o, "last_modified",
		    json_object_new_int64(s->last_modified));
		json_object_object_add(o, "checked", json_object_new_int64(s->checked));
		if (s->ppd_name)
			json_object_object_add(o, "ppd_name",
			    json_object_new_string(s->ppd_name));
		json_object_array_add(arr, o);
	}
	json_object_object_add(doc, "sources", arr);
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY);
	snprintf(path, sizeof(path), "%s/index.json", cache.dir);
	if ((rc = statefile_write(path, text, strlen(text), 0600)) != 0)
		log_warnx("driver cache: cannot write %s: %s", path, strerror(-rc));
	json_object_put(doc);
}

/*
 * Why entry o of the index cannot be used, or NULL when it can: then e has
 * its numbers and hash, and *key and *ppd_name (NULL when none) its strings,
 * owned by o.
 */
static const char *
index_entry_check(json_object *o, struct drivers_entry *e, const char **key,
    const char **ppd_name)
{
	const char *hex;

	if (!json_object_is_type(o, json_type_object))
		return "it is not an object";
	if ((*key = jget_str(o, "key")) == NULL)
		return "\"key\" is missing, null or not a string";
	if ((hex = jget_str(o, "sha256")) == NULL)
		return "\"sha256\" is missing, null or not a string";
	if (hash_from_hex(hex, e->sha) != 0)
		return "\"sha256\" is not a SHA-256 in hex";
	if (!jget_i64(o, "last_modified", &e->last_modified))
		return "\"last_modified\" is missing, null or not an integer";
	if (!jget_i64(o, "checked", &e->checked))
		return "\"checked\" is missing, null or not an integer";
	/* ppd_name is written only for drivers from a driver database; a
	 * member that is there must be a string. */
	*ppd_name = jget_str(o, "ppd_name");
	if (*ppd_name == NULL && json_object_object_get_ex(o, "ppd_name", NULL))
		return "\"ppd_name\" is null or not a string";
	return NULL;
}

int
drivers_index_parse(const char *text, size_t len, const char *what,
    struct drivers_entry **out, size_t *nout)
{
	json_object *doc = NULL, *arr;
	struct drivers_entry *v = NULL;
	const char *why, *first_why = NULL;
	size_t n = 0, total = 0, first = 0, ignored = 0;
	char err[256];
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if ((doc = jget_parse(text, len, json_type_object, err, sizeof(err))) == NULL) {
		log_warnx("driver cache: %s ignored: %s; every driver will be "
		    "fetched again", what, err);
		return -EINVAL;
	}
	if ((arr = jget_arr(doc, "sources")) == NULL) {
		log_warnx("driver cache: %s ignored: \"sources\" is missing, null or "
		    "not an array; every driver will be fetched again", what);
		rc = -EINVAL;
		goto out;
	}
	total = json_object_array_length(arr);
	if ((v = calloc(total + 1, sizeof(*v))) == NULL) {
		log_warnx("driver cache: out of memory reading %s", what);
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < total; i++) {
		struct drivers_entry e = { 0 };
		const char *key, *ppd_name;

		if ((why = index_entry_check(json_object_array_get_idx(arr, i),
		    &e, &key, &ppd_name)) != NULL) {
			if (ignored++ == 0) {
				first = i;
				first_why = why;
			}
			continue;
		}
		v[n].key = strdup(key);
		v[n].ppd_name = ppd_name ? strdup(ppd_name) : NULL;
		if (v[n].key == NULL || (ppd_name && v[n].ppd_name == NULL)) {
			log_warnx("driver cache: out of memory reading %s", what);
			n++;
			rc = -ENOMEM;
			goto out;
		}
		memcpy(v[n].sha, e.sha, HASH_LEN);
		v[n].last_modified = e.last_modified;
		v[n].checked = e.checked;
		n++;
	}
	if (ignored > 0)
		log_warnx("driver cache: %s: ignored %zu of %zu entries (first: "
		    "entry %zu: %s); their drivers will be fetched again", what,
		    ignored, total, first, first_why);
out:
	json_object_put(doc);
	if (rc != 0) {
		drivers_index_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return 0;
}

void
drivers_index_free(struct drivers_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].ppd_name);
	}
	free(v);
}

static void
index_load(void)
{
	char path[PATH_MAX + 16], *text = NULL, blob[PATH_MAX + 80];
	struct drivers_entry *v = NULL;
	size_t len, n = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/index.json", cache.dir);
	if ((rc = statefile_read(path, INDEX_MAX, &text, &len)) != 0) {
		if (rc != -ENOENT)
			log_warnx("driver cache: cannot read %s: %s; starting empty",
			    path, strerror(-rc));
		return;
	}
	if (drivers_index_parse(text, len, path, &v, &n) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct source *s;

		/* An entry whose blob is gone is useless: drop it. */
		blob_path(v[i].sha, blob, sizeof(blob));
		if (access(blob, R_OK) != 0)
			continue;
		if ((s = source_get(v[i].key)) == NULL)
			break;
		memcpy(s->sha, v[i].sha, HASH_LEN);
		s->found = 1;
		s->last_modified = (time_t)v[i].last_modified;
		s->checked = (time_t)v[i].checked;
		free(s->ppd_name);
		s->ppd_name = v[i].ppd_name;
		v[i].ppd_name = NULL;
	}
	log_debug("driver cache: %zu entries from %s", cache.n, path);
out:
	drivers_index_free(v, n);
	free(text);
}

static void
init_lock(void)
{
	uv_mutex_init(&cache_lock);
}

int
drivers_init(const struct broker_conf *conf)
{
	static uv_once_t once = UV_ONCE_INIT;

	uv_once(&once, init_lock);
	snprintf(cache.dir, sizeof(cache.dir), "%s/drivers", conf->state_dir);
	if (mkdir(cache.dir, 0700) != 0 && errno != EEXIST) {
		log_warn("cannot create %s", cache.dir);
		return -errno;
	}
	index_load();
	return 0;
}

const struct driver *
drivers_find(const struct snapshot *s, const uint8_t sha[HASH_LEN])
{
	for (size_t i = 0; i < s->ndrivers; i++)
		if (memcmp(s->drivers[i].sha, sha, HASH_LEN) == 0)
			return &s->drivers[i];
	return NULL;
}

/* The compressed driver for sha, from memory or the disk cache. */
static const struct driver *
blob_get(const uint8_t sha[HASH_LEN])
{
	char path[PATH_MAX + 80], *data = NULL;
	struct driver *nb, d = { 0 };
	size_t len;
	int rc;

	for (size_t i = 0; i < cache.nblobs; i++)
		if (memcmp(cache.blobs[i].sha, sha, HASH_LEN) == 0)
			return &cache.blobs[i];
	blob_path(sha, path, sizeof(path));
	if ((rc = statefile_read(path, 64 << 20, &data, &len)) != 0)
		return NULL;
	/* Trust nothing on disk blindly: the name must still be the hash. */
	if (hash_sha256(data, len, d.sha) != 0 || memcmp(d.sha, sha, HASH_LEN) != 0) {
		log_warnx("driver cache: %s does not match its hash; removing it", path);
		unlink(path);
		free(data);
		return NULL;
	}
	d.size = len;
	rc = compress_buf(data, len, &d.z, &d.zlen);
	free(data);
	if (rc != 0)
		return NULL;
	nb = realloc(cache.blobs, (cache.nblobs + 1) * sizeof(*nb));
	if (nb == NULL) {
		free(d.z);
		return NULL;
	}
	cache.blobs = nb;
	cache.blobs[cache.nblobs] = d;
	return &cache.blobs[cache.nblobs++];
}

/* Checks a PPD just fetched and stores it; sets p's driver fields. */
static void
accept_ppd(const struct broker_conf *conf, struct printer *p, struct source *src,
    const char *data, size_t len, const char *from)
{
	char err[256], path[PATH_MAX + 80];
	int rc;

	if ((long long)len > conf->max_ppd) {
		p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED;
		if (asprintf(&p->detail, "driver from %s is over the size cap of %lld bytes",
		    from, conf->max_ppd) < 0)
			p->detail = NULL;
		return;
	}
	if (ppd_check_parse(data, len, NULL, 0, err, sizeof(err)) != 0) {
		p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED;
		if (asprintf(&p->detail, "driver from %s rejected: %s", from, err) < 0)
			p->detail = NULL;
		return;
	}
	hash_sha256(data, len, src->sha);
	blob_path(src->sha, path, sizeof(path));
	if (access(path, R_OK) != 0 &&
	    (rc = statefile_write(path, data, len, 0600)) != 0)
		log_warnx("driver cache: cannot write %s: %s", path, strerror(-rc));
	src->found = 1;
	index_save();
}

static int use_source(struct printer *p, const struct source *src,
    struct snapshot *s, const char *from);

/*
 * accept_ppd, then p uses the driver when it was taken: 1 (or 1 when the
 * checks rejected it: p says so), -1 when it cannot be used; rc otherwise.
 */
static int
take_ppd(const struct broker_conf *conf, struct printer *p, struct source *src,
    struct snapshot *s, const char *data, size_t len, const char *from, int rc)
{
	accept_ppd(conf, p, src, data, len, from);
	if (p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED)
		return 1;
	if (src->found)
		return use_source(p, src, s, from) == 0 ? 1 : -1;
	return rc;
}

/* Adds the driver src names to the snapshot and marks p available. */
static int
use_source(struct printer *p, const struct source *src, struct snapshot *s,
    const char *from)
{
	const struct driver *d = blob_get(src->sha);

	if (d == NULL)
		return -ENOENT;
	memcpy(p->sha, src->sha, HASH_LEN);
	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	free(p->detail);
	if (asprintf(&p->detail, "driver from %s", from) < 0)
		p->detail = NULL;
	return drivers_add(s, d);
}

int
drivers_add(struct snapshot *s, const struct driver *d)
{
	struct driver *nd;

	if (drivers_find(s, d->sha) != NULL)
		return 0;
	nd = realloc(s->drivers, (s->ndrivers + 1) * sizeof(*nd));
	if (nd == NULL)
		return -ENOMEM;
	s->drivers = nd;
	nd[s->ndrivers] = *d;
	if ((nd[s->ndrivers].z = malloc(d->zlen ? d->zlen : 1)) == NULL)
		return -ENOMEM;
	memcpy(nd[s->ndrivers].z, d->z, d->zlen);
	s->ndrivers++;
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Reads the whole body, up to max + 1 bytes (so "too big" is visible), until
 * deadline (now_ms()).  Returns NULL when out of memory or past the
 * deadline (*late set): a server that trickles its answer gets no more
 * time than one that sends it.
 */
static char *
read_body(http_t *http, long long max, long long deadline, size_t *len, int *late)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t got;

	*late = 0;
	if (buf == NULL)
		return NULL;
	for (;;) {
		if (now_ms() > deadline) {
			*late = 1;
			free(buf);
			return NULL;
		}
		if (n == cap) {
			if ((long long)n > max)
				break;
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		got = httpRead2(http, buf + n, cap - n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	*len = n;
	return buf;
}

/*
 * GET resource (a PPD) on http, a connection to who ("print server
 * HOST:PORT", "the host's CUPS"), conditional on what we hold under key
 * url, which also names the driver in details.  Returns 1 found (fresh or
 * unchanged, or rejected by the checks: p says which), 0 not there, -1
 * failed; why in err.  Closes http.
 */
static int
get_ppd(const struct broker_conf *conf, struct printer *p, struct snapshot *s,
    http_t *http, const char *who, const char *resource, const char *url,
    char *err, size_t errlen)
{
	struct source *src = source_get(url);
	http_status_t status;
	char *body = NULL;
	size_t len = 0;
	long long deadline = now_ms() + conf->fetch_timeout * 1000;
	time_t last_modified;
	int rc = -1, late;

	if (src == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	httpSetTimeout(http, HTTP_TIMEOUT_MS / 1000.0, NULL, NULL);
	httpClearFields(http);
	if (src->found && src->last_modified > 0)
		httpSetField(http, HTTP_FIELD_IF_MODIFIED_SINCE,
		    httpGetDateString(src->last_modified));
	NET(rc = httpGet(http, resource));
	if (rc != 0) {
		rc = -1;
		snprintf(err, errlen, "%s: request failed", who);
		goto out;
	}
	rc = -1;
	uv_mutex_unlock(&cache_lock);
	while ((status = httpUpdate(http)) == HTTP_STATUS_CONTINUE &&
	    now_ms() <= deadline)
		;
	uv_mutex_lock(&cache_lock);
	if (status == HTTP_STATUS_CONTINUE) {
		snprintf(err, errlen, "%s too slow: no answer within %llds", who,
		    conf->fetch_timeout);
		goto out;
	}
	src->checked = time(NULL);
	if (status == HTTP_STATUS_NOT_MODIFIED && src->found) {
		log_debug("driver for %s unchanged at %s", p->name, url);
		rc = use_source(p, src, s, url) == 0 ? 1 : -1;
		if (rc < 0)
			snprintf(err, errlen, "driver cache lost the PPD of %s", url);
		goto out;
	}
	if (status != HTTP_STATUS_OK) {
		NET(httpFlush(http));
		snprintf(err, errlen, "%s has no driver for this queue (HTTP %d for "
		    "%s)", who, (int)status, resource);
		rc = 0;
		goto out;
	}
	last_modified = httpGetDateTime(httpGetField(http, HTTP_FIELD_LAST_MODIFIED));
	NET(body = read_body(http, conf->max_ppd, deadline, &len, &late));
	if (body == NULL) {
		if (late)
			snprintf(err, errlen, "%s too slow: %s did not arrive within "
			    "%llds", who, url, conf->fetch_timeout);
		else
			snprintf(err, errlen, "out of memory reading %s", url);
		goto out;
	}
	log_info("fetched driver for %s from %s (%zu bytes)", p->name, url, len);
	src->last_modified = last_modified;
	src->found = 0;
	rc = take_ppd(conf, p, src, s, body, len, url, rc);
out:
	free(body);
	httpClose(http);
	return rc;
}

/*
 * GET scheme://host:port/printers/NAME.ppd from a print server: get_ppd's
 * answer.
 */
static int
fetch_http(const struct broker_conf *conf, struct printer *p, struct snapshot *s,
    const char *host, int port, http_encryption_t enc, const char *resource,
    const char *url, char *err, size_t errlen)
{
	http_t *http = NULL;
	char who[300];

	NET(http = httpConnect2(host, port, NULL, AF_UNSPEC, enc, 1, HTTP_TIMEOUT_MS,
	    NULL));
	if (http == NULL) {
		snprintf(err, errlen, "print server %s:%d unreachable: %s", host, port,
		    cupsLastErrorString());
		return -1;
	}
	snprintf(who, sizeof(who), "print server %s:%d", host, port);
	return get_ppd(conf, p, s, http, who, resource, url, err, errlen);
}

/* The print server's driver database, searched by make and model. */
static int
fetch_db(const struct broker_conf *conf, struct printer *p, struct snapshot *s,
    char *err, size_t errlen)
{
	static const char *attrs[] = { "ppd-name", "ppd-make-and-model" };
	char key[1024], host[256], *colon, from[1200];
	struct source *src;
	http_t *http = NULL;
	ipp_t *req, *resp = NULL;
	ipp_attribute_t *a;
	ipp_status_t st;
	char *data = NULL, failed[256];
	size_t len = 0;
	long long deadline = now_ms() + conf->fetch_timeout * 1000;
	int port = 631, rc = -1, late;

	snprintf(key, sizeof(key), "db:%s:%s", conf->print_server, p->make_model);
	snprintf(from, sizeof(from), "the driver database of %s (\"%s\")",
	    conf->print_server, p->make_model);
	if ((src = source_get(key)) == NULL)
		return -1;
	if (src->found && use_source(p, src, s, from) == 0)
		return 1;
	if (!src->found && src->checked && time(NULL) - src->checked < DB_RETRY_SECS) {
		snprintf(err, errlen, "no driver for \"%s\" in the driver database of %s",
		    p->make_model, conf->print_server);
		return 0;
	}
	snprintf(host, sizeof(host), "%s", conf->print_server);
	if ((colon = strrchr(host, ':')) != NULL && strchr(colon, ']') == NULL) {
		*colon = '\0';
		port = atoi(colon + 1);
	}
	NET(http = httpConnect2(host, port, NULL, AF_UNSPEC,
	    HTTP_ENCRYPTION_IF_REQUESTED, 1, HTTP_TIMEOUT_MS, NULL));
	if (http == NULL) {
		snprintf(err, errlen, "print server %s unreachable: %s",
		    conf->print_server, cupsLastErrorString());
		return -1;
	}
	/* Listing the database takes seconds on a full openprinting install. */
	httpSetTimeout(http, 60.0, NULL, NULL);
	req = ippNewRequest(IPP_OP_CUPS_GET_PPDS);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_TEXT, "ppd-make-and-model",
	    NULL, p->make_model);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    2, NULL, attrs);
	NET(resp = cupsconn_query(http, req, "/", &st, failed, sizeof(failed)));
	src->checked = time(NULL);
	/* cupsd answers a search that matches nothing with not-found: the
	 * same answer as an empty list, not a failure. */
	if (resp != NULL && st == IPP_STATUS_ERROR_NOT_FOUND) {
		snprintf(err, errlen, "no driver for \"%s\" in the driver database of %s",
		    p->make_model, conf->print_server);
		rc = 0;
		goto out;
	}
	if (resp == NULL || st > IPP_STATUS_OK_CONFLICTING) {
		snprintf(err, errlen, "driver database of %s: %s", conf->print_server,
		    failed);
		goto out;
	}
	/* The database ranks by similarity: only the exact model will do.
	 * ppd-name and ppd-make-and-model are paired within each group. */
	{
		const char *name = NULL, *mm = NULL;

		for (a = ippFirstAttribute(resp); a; a = ippNextAttribute(resp)) {
			const char *an = ippGetName(a);

			if (an == NULL) {
				name = mm = NULL;
				continue;
			}
			if (strcmp(an, "ppd-name") == 0)
				name = ippGetString(a, 0, NULL);
			else if (strcmp(an, "ppd-make-and-model") == 0)
				mm = ippGetString(a, 0, NULL);
			if (name && mm) {
				if (strcasecmp(mm, p->make_model) == 0)
					break;
				name = mm = NULL;
			}
		}
		if (!(name && mm)) {
			snprintf(err, errlen, "no driver for \"%s\" in the driver database of %s",
			    p->make_model, conf->print_server);
			rc = 0;
			goto out;
		}
		free(src->ppd_name);
		src->ppd_name = strdup(name);
	}
	/* What cupsGetServerPPD() does, but read into memory with the same
	 * bounds as any fetch (it writes a temporary file of any size). */
	httpSetTimeout(http, HTTP_TIMEOUT_MS / 1000.0, NULL, NULL);
	req = ippNewRequest(IPP_OP_CUPS_GET_PPD);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "ppd-name", NULL,
	    src->ppd_name);
	ippDelete(resp);
	resp = NULL;
	uv_mutex_unlock(&cache_lock);
	if (cupsSendRequest(http, req, "/", ippLength(req)) == HTTP_STATUS_CONTINUE)
		resp = cupsGetResponse(http, "/");
	uv_mutex_lock(&cache_lock);
	if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		ippDelete(req);
		snprintf(err, errlen, "driver database of %s: cannot download %s: %s",
		    conf->print_server, src->ppd_name, cupsLastErrorString());
		goto out;
	}
	ippDelete(req);
	NET(data = read_body(http, conf->max_ppd, deadline, &len, &late));
	if (data == NULL) {
		snprintf(err, errlen, late ? "driver database of %s too slow: %s did "
		    "not arrive within %llds" : "driver database of %s: out of memory "
		    "reading %s", conf->print_server, src->ppd_name, conf->fetch_timeout);
		goto out;
	}
	log_info("fetched driver for %s from %s (%zu bytes)", p->name, from, len);
	rc = take_ppd(conf, p, src, s, data, len, from, rc);
out:
	free(data);
	ippDelete(resp);
	httpClose(http);
	return rc;
}

/* The most bytes of a printer's Get-Printer-Attributes answer read. */
#define IPP_ANSWER_MAX (1 << 20)

void
drivers_ppd_resource(const char *name, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "/printers/");

	/* The queue name as a URL path segment. */
	for (const unsigned char *c = (const unsigned char *)name; *c && n + 8 < len; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL)
			out[n++] = (char)*c;
		else
			n += (size_t)snprintf(out + n, len - n, "%%%02X", *c);
	}
	snprintf(out + n, len - n, ".ppd");
}

/* The PPD the host's cupsd holds for p's queue: get_ppd's answer. */
static int
fetch_host_ppd(const struct broker_conf *conf, struct printer *p,
    struct snapshot *s, char *err, size_t errlen)
{
	char resource[1024], url[1500], why[512];
	http_t *http = NULL;

	drivers_ppd_resource(p->name, resource, sizeof(resource));
	snprintf(url, sizeof(url), "host-cups:%s%s", conf->cups[0] ? conf->cups :
	    "default", resource);
	NET(http = cupsconn_open(conf->cups, HTTP_TIMEOUT_MS, why, sizeof(why)));
	if (http == NULL) {
		snprintf(err, errlen, "the host's %s", why);
		return -1;
	}
	return get_ppd(conf, p, s, http, "the host's CUPS", resource, url, err,
	    errlen);
}

/* Reads the IPP message of a buffer (ippReadIO's callback). */
struct membuf {
	const char *data;
	size_t len, off;
};

static ssize_t
membuf_read(void *ctx, ipp_uchar_t *buf, size_t len)
{
	struct membuf *m = ctx;

	if (len > m->len - m->off)
		len = m->len - m->off;
	memcpy(buf, m->data + m->off, len);
	m->off += len;
	return (ssize_t)len;
}

/*
 * Asks the printer at scheme://host:port/resource (the host queue's
 * device, ipp or ipps) for its attributes, bounded in bytes and time, and
 * writes a generic PPD from them (generic.c), checked and cached as any
 * driver.  Returns 1 found (or rejected by the checks), 0 not usable, -1
 * no answer; why in err.
 */
static int
fetch_ipp(const struct broker_conf *conf, struct printer *p, struct snapshot *s,
    int tls, const char *host, int port, const char *resource, char *err,
    size_t errlen)
{
	static const char *attrs[] = {
		"color-supported", "document-format-supported", "media-default",
		"media-supported", "print-color-mode-default",
		"print-color-mode-supported", "printer-make-and-model",
		"printer-resolution-default", "printer-resolution-supported",
		"sides-default", "sides-supported",
	};
	char uri[1024], key[1100], why[256];
	struct source *src;
	struct membuf mb = { 0 };
	http_t *http = NULL;
	http_status_t status = HTTP_STATUS_ERROR;
	ipp_t *req = NULL, *resp = NULL;
	ipp_state_t st = IPP_STATE_IDLE;
	char *body = NULL, *ppd = NULL;
	size_t len = 0, ppdlen = 0;
	long long deadline = now_ms() + conf->fetch_timeout * 1000;
	int rc = -1, late = 0, sent = 0;

	/* Only the URI's parts: no user name or password goes on. */
	if (httpAssembleURI(HTTP_URI_CODING_ALL, uri, sizeof(uri), tls ? "ipps" :
	    "ipp", NULL, host, port, resource) < HTTP_URI_STATUS_OK) {
		snprintf(err, errlen, "the printer's URI does not assemble");
		return 0;
	}
	snprintf(key, sizeof(key), "ipp-attributes:%s", uri);
	if ((src = source_get(key)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	NET(http = httpConnect2(host, port, NULL, AF_UNSPEC, tls ?
	    HTTP_ENCRYPTION_ALWAYS : HTTP_ENCRYPTION_IF_REQUESTED, 1,
	    HTTP_TIMEOUT_MS, NULL));
	if (http == NULL) {
		snprintf(err, errlen, "the printer at %s does not answer: %s", uri,
		    cupsLastErrorString());
		return -1;
	}
	httpSetTimeout(http, HTTP_TIMEOUT_MS / 1000.0, NULL, NULL);
	req = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, cupsUser());
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    (int)(sizeof(attrs) / sizeof(attrs[0])), NULL, attrs);
	httpClearFields(http);
	httpSetField(http, HTTP_FIELD_CONTENT_TYPE, "application/ipp");
	httpSetLength(http, ippLength(req));
	/* What cupsDoRequest does, but its answer is read with the bounds of
	 * any fetch: cupsGetResponse would take any size, any time. */
	uv_mutex_unlock(&cache_lock);
	if (httpPost(http, resource) == 0) {
		while ((st = ippWrite(http, req)) != IPP_STATE_DATA &&
		    st != IPP_STATE_ERROR)
			;
		if (st == IPP_STATE_DATA) {
			sent = 1;
			while ((status = httpUpdate(http)) == HTTP_STATUS_CONTINUE &&
			    now_ms() <= deadline)
				;
		}
	}
	if (status == HTTP_STATUS_OK)
		body = read_body(http, IPP_ANSWER_MAX, deadline, &len, &late);
	uv_mutex_lock(&cache_lock);
	src->checked = time(NULL);
	if (!sent) {
		snprintf(err, errlen, "the printer at %s does not answer: request "
		    "failed", uri);
		goto out;
	}
	if (status == HTTP_STATUS_CONTINUE) {
		snprintf(err, errlen, "the printer at %s does not answer within %llds",
		    uri, conf->fetch_timeout);
		goto out;
	}
	if (status != HTTP_STATUS_OK) {
		snprintf(err, errlen, "the printer at %s does not answer "
		    "Get-Printer-Attributes (HTTP %d)", uri, (int)status);
		goto out;
	}
	if (body == NULL) {
		snprintf(err, errlen, late ? "the printer at %s does not answer "
		    "within %llds" : "out of memory reading the answer of %s", uri,
		    conf->fetch_timeout);
		goto out;
	}
	if (len > IPP_ANSWER_MAX) {
		snprintf(err, errlen, "the printer at %s answers over %d bytes of "
		    "attributes", uri, IPP_ANSWER_MAX);
		rc = 0;
		goto out;
	}
	mb.data = body;
	mb.len = len;
	if ((resp = ippNew()) == NULL ||
	    ippReadIO(&mb, membuf_read, 1, NULL, resp) != IPP_STATE_DATA) {
		snprintf(err, errlen, "the printer at %s answers what is not IPP", uri);
		rc = 0;
		goto out;
	}
	if (ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		snprintf(err, errlen, "the printer at %s refuses Get-Printer-Attributes: "
		    "%s", uri, ippErrorString(ippGetStatusCode(resp)));
		rc = 0;
		goto out;
	}
	if (generic_ppd_from_ipp(resp, &ppd, &ppdlen, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "no generic driver from the attributes of the "
		    "printer at %s: %s", uri, why);
		rc = 0;
		goto out;
	}
	log_info("built a generic driver for %s from the attributes of %s "
	    "(%zu bytes)", p->name, uri, ppdlen);
	src->found = 0;
	rc = take_ppd(conf, p, src, s, ppd, ppdlen, key, rc);
out:
	free(ppd);
	free(body);
	ippDelete(req);
	ippDelete(resp);
	httpClose(http);
	return rc;
}

/*
 * driverless_fallback: the generic driver of p, whose print server has no
 * driver for it.  This one function decides what a generic driver is made
 * of, in this order:
 *   1. the PPD the host's cupsd holds for the queue (set up with a driver
 *      on the host, or a driverless/IPP Everywhere queue whose PPD cupsd
 *      generated), fetched like a print server's (get_ppd);
 *   2. else (a raw host queue) a PPD written from the IPP attributes of
 *      the printer the queue prints to, ipp:// or ipps:// (fetch_ipp).
 * Either is a PPD, like every driver a guest gets today, and goes through
 * the same checks, hash and cache.  What the guests are told of the
 * printer does not depend on that: its descriptor says only that its
 * driver is generic and which one it is (p->generic, p->sha).  A later
 * version can therefore send the printer's IPP capabilities instead by
 * changing this function (and the agent's install), nothing else.
 *
 * Returns 1 when p has a driver (p->generic set), 0 when not, with what
 * was tried in why.  p's fields are MISSING again then.
 */
static int
fetch_generic(const struct broker_conf *conf, struct printer *p,
    struct snapshot *s, char *why, size_t whylen)
{
	char scheme[32], user[256], host[256], resource[1024];
	char why_host[1024] = "", why_ipp[2048] = "";
	const char *from = NULL;
	int port = 0;

	if (fetch_host_ppd(conf, p, s, why_host, sizeof(why_host)) == 1) {
		if (p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE) {
			from = "the host queue's PPD";
			goto found;
		}
		snprintf(why_host, sizeof(why_host), "%s", p->detail ? p->detail :
		    "the host queue's PPD was rejected");
	}
	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
	if (httpSeparateURI(HTTP_URI_CODING_ALL, p->device_uri, scheme, sizeof(scheme),
	    user, sizeof(user), host, sizeof(host), &port, resource,
	    sizeof(resource)) < HTTP_URI_STATUS_OK ||
	    (strcmp(scheme, "ipp") != 0 && strcmp(scheme, "ipps") != 0)) {
		snprintf(why_ipp, sizeof(why_ipp), "no printer to ask for its IPP "
		    "attributes: the device URI is not ipp:// or ipps://");
	} else if (fetch_ipp(conf, p, s, strcmp(scheme, "ipps") == 0, host, port,
	    resource, why_ipp, sizeof(why_ipp)) == 1) {
		if (p->driver == PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE) {
			from = "the printer's IPP attributes";
			goto found;
		}
		snprintf(why_ipp, sizeof(why_ipp), "%s", p->detail ? p->detail :
		    "the generic driver was rejected");
	}
	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
	free(p->detail);
	p->detail = NULL;
	snprintf(why, whylen, "no generic driver (driverless_fallback): %s; %s",
	    why_host, why_ipp);
	return 0;
found:
	p->generic = 1;
	free(p->detail);
	if (asprintf(&p->detail, "no driver on its print server: generic driver "
	    "built from %s (driverless_fallback)", from) < 0)
		p->detail = NULL;
	return 1;
}

static int
is_generic_model(const char *mm)
{
	return mm == NULL || *mm == '\0' || strcasecmp(mm, "Local Raw Printer") == 0 ||
	    strcasecmp(mm, "Unknown") == 0 || strncasecmp(mm, "Remote Printer", 14) == 0;
}

static void
resolve(const struct broker_conf *conf, struct printer *p, struct snapshot *s)
{
	char scheme[32], user[256], host[256], resource[1024], url[1500];
	char why_server[4096] = "", why_db[4096] = "", why_generic[4096] = "";
	int port = 0, rc_server = 0, rc_db = 0;

	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
	p->generic = 0;
	if (httpSeparateURI(HTTP_URI_CODING_ALL, p->device_uri, scheme, sizeof(scheme),
	    user, sizeof(user), host, sizeof(host), &port, resource,
	    sizeof(resource)) < HTTP_URI_STATUS_OK) {
		snprintf(why_server, sizeof(why_server), "device URI does not parse");
	} else if ((!strcmp(scheme, "ipp") || !strcmp(scheme, "ipps") ||
	    !strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
	    strncmp(resource, "/printers/", 10) == 0) {
		int tls = !strcmp(scheme, "ipps") || !strcmp(scheme, "https");

		snprintf(url, sizeof(url), "%s://%s:%d%s.ppd", tls ? "https" : "http",
		    host, port, resource);
		snprintf(resource + strlen(resource), sizeof(resource) - strlen(resource),
		    ".ppd");
		rc_server = fetch_http(conf, p, s, host, port, tls ?
		    HTTP_ENCRYPTION_ALWAYS : HTTP_ENCRYPTION_IF_REQUESTED, resource,
		    url, why_server, sizeof(why_server));
		if (rc_server == 1)
			return;
	} else {
		snprintf(why_server, sizeof(why_server), "%s printer: not served by a "
		    "CUPS print server", scheme);
	}

	if (conf->print_server[0] != '\0' && !is_generic_model(p->make_model)) {
		if ((rc_db = fetch_db(conf, p, s, why_db, sizeof(why_db))) == 1)
			return;
	} else if (conf->print_server[0] == '\0') {
		snprintf(why_db, sizeof(why_db), "no print_server configured to search "
		    "by make and model");
	} else {
		snprintf(why_db, sizeof(why_db), "queue has no make and model to search for");
	}

	/* Only once the print server has said it has no driver: one that
	 * cannot be asked now would have the guests swap drivers (and
	 * restart) twice over a network blip. */
	if (conf->driverless_fallback && rc_server == 0 && rc_db == 0) {
		if (fetch_generic(conf, p, s, why_generic, sizeof(why_generic)) == 1)
			return;
	} else if (conf->driverless_fallback) {
		snprintf(why_generic, sizeof(why_generic), "no generic driver "
		    "(driverless_fallback) while the print server cannot be asked");
	}
	free(p->detail);
	if (asprintf(&p->detail, "driver missing (%s; %s%s%s): install it by hand "
	    "in the guest", why_server, why_db, why_generic[0] ? "; " : "",
	    why_generic) < 0)
		p->detail = NULL;
}

void
drivers_resolve(const struct broker_conf *conf, struct printer *p,
    struct snapshot *s)
{
	uv_mutex_lock(&cache_lock);
	resolve(conf, p, s);
	uv_mutex_unlock(&cache_lock);
}
