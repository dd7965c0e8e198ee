/*
 * The journal of the jobs the broker submitted to the host, which keeps,
 * per job UUID, the last of: created (the host job exists, its document may
 * not), sent (the host job holds the whole document and is followed to its
 * end), done, cancelled.  submit.c writes "created" before the first byte
 * of a document leaves, "sent" once cupsd has the whole of it and "done"
 * once the host job ended, so that after a crash anywhere a job is never
 * printed twice nor lost: a "created" or "sent" host job is looked at
 * again before anything else happens.
 *
 * On disk: one text record per change, appended and fdatasync'ed; the file
 * is compacted when it is opened and when it grows well past what it
 * holds.  In memory: a hash of the UUIDs kept, in the order they were last
 * written, so that the oldest go first when the cap is reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "statefile.h"

#define JOBLOG_MAX_UUID 127
#define JOBLOG_LINE_MAX 256	/* a record is at most 127+1+9+1+10+1+19+1 */
#define JOBLOG_BAD_LINES_LOGGED 10
#define JOBLOG_MIN_BUCKETS 1024

struct jl_entry {
	struct jl_entry *hnext;		/* hash chain */
	struct jl_entry *prev, *next;	/* least recently written first */
	long long t;
	int host_job_id;
	enum joblog_state state;
	char uuid[];
};

/* A UUID a submit is working on: a second one waits for it to end. */
struct jl_claim {
	struct jl_claim *next;
	char uuid[];
};

struct joblog {
	uv_mutex_t lock;
	char *path;
	int fd;				/* O_APPEND */
	long keep_s;
	struct jl_entry **buckets;
	size_t nbuckets;		/* a power of two */
	struct jl_entry *oldest, *newest;
	size_t count;
	size_t lines;			/* records in the file */
	struct jl_claim *claims;
};

static const char *const state_words[] = {
	[JOBLOG_CREATED] = "created",
	[JOBLOG_DONE] = "done",
	[JOBLOG_CANCELLED] = "cancelled",
	[JOBLOG_SENT] = "sent",
};

const char *
joblog_state_name(enum joblog_state state)
{
	return state > JOBLOG_NONE && state <= JOBLOG_SENT ? state_words[state] :
	    "none";
}

int
joblog_valid_uuid(const char *uuid)
{
	size_t n;

	if (uuid == NULL || (n = strlen(uuid)) == 0 || n > JOBLOG_MAX_UUID)
		return 0;
	for (const unsigned char *p = (const unsigned char *)uuid; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

static uint64_t
hash_uuid(const char *s)
{
	uint64_t h = 14695981039346656037ull;	/* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static struct jl_entry *
find_entry(const struct joblog *l, const char *uuid)
{
	struct jl_entry *e = l->buckets[hash_uuid(uuid) & (l->nbuckets - 1)];

	while (e != NULL && strcmp(e->uuid, uuid) != 0)
		e = e->hnext;
	return e;
}

static void
unlink_order(struct joblog *l, struct jl_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->newest = e->prev;
	e->prev = e->next = NULL;
}

static void
append_order(struct joblog *l, struct jl_entry *e)
{
	e->prev = l->newest;
	e->next = NULL;
	if (l->newest)
		l->newest->next = e;
	else
		l->oldest = e;
	l->newest = e;
}

static void
remove_entry(struct joblog *l, struct jl_entry *e)
{
	struct jl_entry **pp = &l->buckets[hash_uuid(e->uuid) & (l->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	unlink_order(l, e);
	l->count--;
	free(e);
}

/* Doubles the table when it gets full; on out-of-memory the chains just
 * grow longer. */
static void
grow(struct joblog *l)
{
	size_t n = l->nbuckets * 2;
	struct jl_entry **b;

	if (l->count <= l->nbuckets)
		return;
	if ((b = calloc(n, sizeof(*b))) == NULL)
		return;
	for (struct jl_entry *e = l->oldest; e; e = e->next) {
		size_t i = hash_uuid(e->uuid) & (n - 1);

		e->hnext = b[i];
		b[i] = e;
	}
	free(l->buckets);
	l->buckets = b;
	l->nbuckets = n;
}

/* Sets uuid's state in memory, making it the most recently written;
 * drops the oldest entry past the cap.  -ENOMEM. */
static int
record(struct joblog *l, const char *uuid, enum joblog_state state, int id,
    long long t)
{
	struct jl_entry *e = find_entry(l, uuid);

	if (e == NULL) {
		size_t n = strlen(uuid) + 1, i;

		if ((e = malloc(sizeof(*e) + n)) == NULL)
			return -ENOMEM;
		memcpy(e->uuid, uuid, n);
		i = hash_uuid(uuid) & (l->nbuckets - 1);
		e->hnext = l->buckets[i];
		l->buckets[i] = e;
		l->count++;
	} else
		unlink_order(l, e);
	append_order(l, e);
	e->state = state;
	e->host_job_id = id;
	e->t = t;
	while (l->count > JOBLOG_MAX_ENTRIES)
		remove_entry(l, l->oldest);
	grow(l);
	return 0;
}

static int
all_digits(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	return strspn(s, "0123456789") == n;
}

/* "UUID STATE HOSTJOBID UNIXTIME", nothing more, nothing less. */
static int
parse_record(char *line, char **uuid, enum joblog_state *state, int *id,
    long long *t)
{
	char *f[4];
	long long v;
	int n = 0;

	for (char *p = line; n < 4; n++) {
		f[n] = p;
		p = strchr(p, ' ');
		if (p == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
		if (n == 3)
			return -1;	/* a fifth field */
	}
	if (n != 4 || !joblog_valid_uuid(f[0]))
		return -1;
	*state = JOBLOG_NONE;
	for (int i = JOBLOG_CREATED; i <= JOBLOG_SENT; i++)
		if (strcmp(f[1], state_words[i]) == 0)
			*state = (enum joblog_state)i;
	if (*state == JOBLOG_NONE || !all_digits(f[2], 10) || !all_digits(f[3], 18))
		return -1;
	v = strtoll(f[2], NULL, 10);
	if (v > INT32_MAX)
		return -1;
	*uuid = f[0];
	*id = (int)v;
	*t = strtoll(f[3], NULL, 10);
	return 0;
}

static void
bad_line(const char *path, size_t lineno, const char *line, size_t *nbad,
    const char *why)
{
	char sample[80];

	if (++*nbad > JOBLOG_BAD_LINES_LOGGED)
		return;
	log_warnx("%s:%zu: %s, skipped: %s", path, lineno, why,
	    log_sample(line, strlen(line), sample, sizeof(sample)));
}

/* Reads the file into memory, last record per UUID winning. */
static int
load(struct joblog *l, char *err, size_t errlen)
{
	char buf[JOBLOG_LINE_MAX + 2];
	size_t lineno = 0, nbad = 0;
	FILE *fp;
	int rc = 0;

	if ((fp = fopen(l->path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		errf(err, errlen, "%s: %s", l->path, strerror(errno));
		return -errno;
	}
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		size_t n = strlen(buf);
		enum joblog_state state;
		long long t;
		char *uuid;
		int id;

		lineno++;
		if (n > 0 && buf[n - 1] == '\n') {
			buf[n - 1] = '\0';
			if (parse_record(buf, &uuid, &state, &id, &t) != 0) {
				bad_line(l->path, lineno, buf, &nbad, "unreadable record");
				continue;
			}
			if ((rc = record(l, uuid, state, id, t)) != 0) {
				errf(err, errlen, "%s: out of memory", l->path);
				break;
			}
		} else if (feof(fp)) {
			/* A crash in the middle of an append. */
			bad_line(l->path, lineno, buf, &nbad, "torn last record");
		} else {
			int c;

			/* Too long, or a NUL byte in it: skip to its end. */
			while ((c = getc(fp)) != EOF && c != '\n')
				;
			bad_line(l->path, lineno, buf, &nbad, "unreadable record");
		}
	}
	if (rc == 0 && ferror(fp)) {
		rc = -EIO;
		errf(err, errlen, "%s: read error", l->path);
	}
	fclose(fp);
	if (nbad > JOBLOG_BAD_LINES_LOGGED)
		log_warnx("%s: %zu more unreadable lines skipped", l->path,
		    nbad - JOBLOG_BAD_LINES_LOGGED);
	return rc;
}

static int
format_record(char *buf, size_t len, const char *uuid, enum joblog_state state,
    int id, long long t)
{
	return snprintf(buf, len, "%s %s %d %lld\n", uuid, state_words[state], id, t);
}

/* Drops expired entries and rewrites the file with one record per UUID,
 * atomically, then appends to the new file.  Lock held. */
static int
compact(struct joblog *l)
{
	long long cutoff = (long long)time(NULL) - l->keep_s;
	size_t cap = 1, len = 0;
	char *buf;
	int fd, rc;

	if (l->keep_s > 0) {
		for (struct jl_entry *e = l->oldest, *next; e; e = next) {
			next = e->next;
			if (e->t < cutoff)
				remove_entry(l, e);
		}
	}
	for (struct jl_entry *e = l->oldest; e; e = e->next)
		cap += strlen(e->uuid) + 48;
	if ((buf = malloc(cap)) == NULL)
		return -ENOMEM;
	for (struct jl_entry *e = l->oldest; e; e = e->next)
		len += (size_t)format_record(buf + len, cap - len, e->uuid, e->state,
		    e->host_job_id, e->t);
	rc = statefile_write(l->path, buf, len, 0600);
	free(buf);
	if (rc != 0)
		return rc;
	fd = open(l->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	l->lines = l->count;
	return 0;
}

static void
free_entries(struct joblog *l)
{
	for (struct jl_entry *e = l->oldest, *next; e; e = next) {
		next = e->next;
		free(e);
	}
	l->oldest = l->newest = NULL;
	l->count = 0;
}

struct joblog *
joblog_open(const char *path, long keep_s, char *err, size_t errlen)
{
	struct joblog *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL || (l->path = strdup(path)) == NULL ||
	    (l->buckets = calloc(JOBLOG_MIN_BUCKETS, sizeof(*l->buckets))) == NULL) {
		errf(err, errlen, "out of memory");
		if (l)
			free(l->path);
		free(l);
		return NULL;
	}
	uv_mutex_init(&l->lock);
	l->fd = -1;
	l->keep_s = keep_s;
	l->nbuckets = JOBLOG_MIN_BUCKETS;
	if (load(l, err, errlen) != 0)
		goto fail;
	if ((rc = compact(l)) != 0) {
		errf(err, errlen, "cannot rewrite %s: %s", path, strerror(-rc));
		goto fail;
	}
	return l;
fail:
	joblog_close(l);
	return NULL;
}

void
joblog_close(struct joblog *l)
{
	if (l == NULL)
		return;
	free_entries(l);
	while (l->claims) {
		struct jl_claim *c = l->claims;

		l->claims = c->next;
		free(c);
	}
	if (l->fd >= 0)
		close(l->fd);
	uv_mutex_destroy(&l->lock);
	free(l->buckets);
	free(l->path);
	free(l);
}

int
joblog_get(struct joblog *l, const char *uuid, enum joblog_state *state,
    int *host_job_id, long long *when)
{
	const struct jl_entry *e;
	enum joblog_state st = JOBLOG_NONE;
	long long t = 0;
	int id = 0;

	if (!joblog_valid_uuid(uuid))
		return -EINVAL;
	uv_mutex_lock(&l->lock);
	if ((e = find_entry(l, uuid)) != NULL) {
		st = e->state;
		id = e->host_job_id;
		t = e->t;
	}
	uv_mutex_unlock(&l->lock);
	if (state)
		*state = st;
	if (host_job_id)
		*host_job_id = id;
	if (when)
		*when = t;
	return e ? 0 : -ENOENT;
}

/* One record at the end of the file; a failed write is cut off again so
 * that the next record does not continue a torn one.  Lock held. */
static int
append_record(struct joblog *l, const char *line, size_t len)
{
	struct stat st;
	size_t done = 0;
	int rc = 0;

	if (l->fd < 0)
		return -EBADF;
	if (fstat(l->fd, &st) != 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(l->fd, line + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (rc == 0 && fdatasync(l->fd) != 0)
		rc = -errno;
	if (rc != 0 && ftruncate(l->fd, st.st_size) != 0)
		log_warn("%s: cannot cut a failed record off", l->path);
	return rc;
}

int
joblog_put(struct joblog *l, const char *uuid, enum joblog_state state,
    int host_job_id)
{
	char line[JOBLOG_LINE_MAX];
	long long now = (long long)time(NULL);
	int n, rc;

	if (!joblog_valid_uuid(uuid) || state < JOBLOG_CREATED ||
	    state > JOBLOG_SENT || host_job_id < 0)
		return -EINVAL;
	n = format_record(line, sizeof(line), uuid, state, host_job_id, now);
	uv_mutex_lock(&l->lock);
	if ((rc = append_record(l, line, (size_t)n)) != 0) {
		uv_mutex_unlock(&l->lock);
		return rc;
	}
	l->lines++;
	if (record(l, uuid, state, host_job_id, now) != 0)
		log_warnx("%s: out of memory, the record of %s is only on disk",
		    l->path, uuid);
	/* Appends only grow the file; rewrite it now and then. */
	if (l->lines > 2 * l->count + 1024 && (rc = compact(l)) != 0)
		log_warnx("cannot compact %s: %s", l->path, strerror(-rc));
	uv_mutex_unlock(&l->lock);
	return 0;
}

size_t
joblog_count(struct joblog *l)
{
	size_t n;

	uv_mutex_lock(&l->lock);
	n = l->count;
	uv_mutex_unlock(&l->lock);
	return n;
}

int
joblog_claim(struct joblog *l, const char *uuid)
{
	size_t n = strlen(uuid) + 1;
	struct jl_claim *c;
	int rc = 0;

	uv_mutex_lock(&l->lock);
	for (c = l->claims; c; c = c->next)
		if (strcmp(c->uuid, uuid) == 0)
			rc = -EBUSY;
	if (rc == 0) {
		if ((c = malloc(sizeof(*c) + n)) == NULL)
			rc = -ENOMEM;
		else {
			memcpy(c->uuid, uuid, n);
			c->next = l->claims;
			l->claims = c;
		}
	}
	uv_mutex_unlock(&l->lock);
	return rc;
}

void
joblog_release(struct joblog *l, const char *uuid)
{
	uv_mutex_lock(&l->lock);
	for (struct jl_claim **pp = &l->claims; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->uuid, uuid) == 0) {
			struct jl_claim *c = *pp;

			*pp = c->next;
			free(c);
			break;
		}
	uv_mutex_unlock(&l->lock);
}

