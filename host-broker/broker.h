/*
 * host-broker: the daemon's private header.  Read it and you know the
 * daemon: what each file does and the functions it offers the others.
 *
 *   main.c     start-up, signals, the `status` and `keygen` subcommands
 *   broker.c   configuration; the hub of the flow: takes each snapshot of
 *              the host, decides whether it is a new generation, persists
 *              the generation (broker.json) and has guests.c publish it;
 *              which guest ids may connect
 *   watch.c    a worker thread that lists the host's queues through libcups,
 *              follows a printer subscription, and resolves each redirected
 *              queue's driver (drivers.c); hands each snapshot to broker.c
 *              on the loop
 *   drivers.c  fetching PPDs from print servers, checking, hashing,
 *              compressing, the on-disk driver cache (drivers/index.json)
 *   guests.c   guest sessions: the listener and its pre-handshake budget,
 *              handshake, driver inventory, printer sets by generation,
 *              reports, persisted guest state (guests.json)
 *   channels.c the VMs' own channels: a folder of sockets the broker
 *              connects to, again after a VM restarts
 *   control.c  the control socket and the JSON status document
 *   status.c   the `host-broker status` client: table or JSON
 *
 * The flow reads watch -> broker -> guests: the watcher only observes, the
 * broker decides, guests.c sends.  The three state files are the broker's
 * own, but a crash, a full disk or a hand edit can damage them: each reader
 * works on a buffer, refuses what it cannot use with one log line, and the
 * daemon carries on (drivers are fetched again, guests start unknown,
 * generations start again from 1).
 */
#ifndef PRINTREDIR_BROKER_H
#define PRINTREDIR_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "addr_uv.h"
#include "codec.h"
#include "hash.h"

#define BROKER_CONF_DEFAULT "/etc/printredir/broker.conf"
#define BROKER_MAX_PPD_DEFAULT (4 << 20)

struct broker_conf {
	char *cups;			/* "" = the local scheduler */
	struct addr listen;
	char *channels;			/* folder of the VMs' sockets; "" = none */
	struct addr control;
	char *key_file;
	char *state_dir;
	char *guest_printer_uri;	/* template with one %s */
	int redirect_local;
	char *print_server;		/* "" = none */
	char *name;			/* broker id; "" = host name */
	long long relist_interval;	/* seconds */
	long long poll_ms;		/* subscription poll, milliseconds */
	long long frame_cap;		/* bytes */
	long long max_ppd;		/* bytes */

	/* [guests] */
	char *allow;			/* ids that may connect; "" = any */
	long long forget_after;		/* seconds a guest's record outlives it */
};

/* A host queue as the broker sees it. */
struct printer {
	char *name;
	char *device_uri;
	char *make_model;
	char *info;
	char *location;
	int network;			/* device URI reaches the network */
	int redirected;			/* offered to guests */
	int driver;			/* Printredir__DriverState */
	uint8_t sha[HASH_LEN];		/* when driver == AVAILABLE */
	char *detail;			/* why missing/rejected, or where from */
};

/* A driver held in memory, compressed, shared by every printer using it. */
struct driver {
	uint8_t sha[HASH_LEN];
	size_t size;			/* uncompressed */
	uint8_t *z;			/* zlib */
	size_t zlen;
};

/* What one pass of the watcher saw: every host queue, drivers resolved. */
struct snapshot {
	struct printer *printers;
	size_t n;
	struct driver *drivers;		/* distinct, by hash */
	size_t ndrivers;
	char *error;			/* host CUPS unreachable: why; else NULL */
};

struct broker {
	uv_loop_t *loop;
	struct broker_conf conf;
	const char *conf_path;
	uint8_t *key;
	size_t keylen;
	uint64_t generation;
	struct snapshot current;	/* what guests are offered now */
	int have_snapshot;		/* the watcher has reported once */
	uv_stream_t *guest_server;
	uv_timer_t forget;		/* hourly: guests_forget (guests.c) */
	uv_stream_t *control_server;
	struct guest *guests;		/* list, see guests.c */
	struct channels *channels;	/* see channels.c; NULL when none */
	int verbose;
};

/* One entry of the driver cache's index, state_dir/drivers/index.json. */
struct drivers_entry {
	char *key;			/* see struct source in drivers.c */
	uint8_t sha[HASH_LEN];
	int64_t last_modified;
	int64_t checked;
	char *ppd_name;			/* NULL when none */
};

struct json_object;

/* broker.c */
int broker_load_conf(const char *path, struct broker_conf *conf, char *err,
    size_t errlen);
void broker_free_conf(struct broker_conf *conf);
/* Deep copy of conf for another thread; free with broker_free_conf. */
int broker_copy_conf(const struct broker_conf *from, struct broker_conf *to);
/*
 * The watcher saw the host as s (taken, heap-allocated, freed here).  With
 * s->error set, the current set stays and only the error is recorded; a
 * set equal to the current one is dropped (and clears the error); anything
 * else becomes b->current under a new generation, which is saved, logged
 * and published to every guest.  Runs on the loop.
 */
void broker_on_snapshot(struct broker *b, struct snapshot *s);
/* Persists the generation number in state_dir/broker.json. */
void broker_save_state(struct broker *b);
/* Reads it back; a missing or damaged file leaves b->generation alone. */
void broker_load_state(struct broker *b);
/* broker.json's text (len bytes, no NUL needed) into *generation: 0, or
 * -EINVAL with why in err and *generation untouched. */
int broker_parse_state(const char *text, size_t len, uint64_t *generation,
    char *err, size_t errlen);
size_t broker_count_redirected(const struct broker *b);
/* 1 when guest id may connect under conf's [guests] allow. */
int broker_guest_allowed(const struct broker_conf *conf, const char *id);
/* The URI a guest queue prints to for host queue name (caller frees). */
char *broker_guest_uri(const struct broker_conf *conf, const char *name);

/* watch.c */
int watch_start(struct broker *b);
void watch_stop(struct broker *b);
/* Asks the watcher for a full re-list now (SIGHUP, a new config). */
void watch_relist(struct broker *b);
/* Classifies a device URI: 1 network, 0 local. */
int watch_uri_is_network(const char *device_uri);

/* drivers.c */
int drivers_init(const struct broker_conf *conf);
/* Resolves p's driver into p->driver, p->sha, p->detail; adds the driver
 * to s->drivers.  Runs on the watcher thread (blocking libcups calls). */
void drivers_resolve(const struct broker_conf *conf, struct printer *p,
    struct snapshot *s);
const struct driver *drivers_find(const struct snapshot *s, const uint8_t sha[HASH_LEN]);
/*
 * The index's text (len bytes, no NUL needed; what names it in log lines)
 * into a new array *entries of *n usable entries (drivers_index_free).  An
 * unusable entry is left out, and one log line says how many and why the
 * first was; 0 then.  A document that is not an index at all is refused
 * with one log line: -EINVAL (or -ENOMEM), *entries NULL.
 */
int drivers_index_parse(const char *text, size_t len, const char *what,
    struct drivers_entry **entries, size_t *n);
/* Accepts NULL. */
void drivers_index_free(struct drivers_entry *entries, size_t n);

/* snapshot helpers (watch.c) */
void snapshot_free(struct snapshot *s);
/* 1 when two snapshots would give guests the same printer set. */
int snapshot_equal(const struct snapshot *a, const struct snapshot *b);

/* guests.c */
int guests_start(struct broker *b);
/* Closes the listener and every connection (the loop then finishes them). */
void guests_stop(struct broker *b);
/* After the loop has finished: saves (when it knows any guest, so that a
 * failed start leaves guests.json alone) and frees every guest. */
void guests_free(struct broker *b);
/* Frees every guest without saving (the state-file tests and fuzz target). */
void guests_drop(struct broker *b);
/*
 * Adds the guests that guests.json's text (len bytes, no NUL needed; what
 * names it in log lines) describes to b->guests.  Unusable guest entries
 * (and ids b already knows) and unusable printer reports are left out, and
 * one log line says how many and why the first was; 0 then.  A document
 * that is not a list of guests is refused with one log line: -EINVAL (or
 * -ENOMEM, with the guests read so far kept).
 */
int guests_parse_state(struct broker *b, const char *text, size_t len,
    const char *what);
/* The printer set changed: b->generation and b->current are new. */
void guests_publish(struct broker *b);
/* Adds the guests array to a status document (json-c object). */
void guests_status(struct broker *b, struct json_object *doc);
/* A connection to a VM's channel (stream taken in every case) becomes a
 * guest connection; NULL when refused.  No pre-handshake budget applies. */
struct peer *guests_adopt_channel(struct broker *b, uv_stream_t *stream,
    const char *name);
/* Forgets the records of guests not connected and not seen since now -
 * forget_after; saves when it forgot one. */
void guests_forget(struct broker *b, time_t now);

/* channels.c: the VMs' own channels, a folder of sockets to connect to */
int channels_start(struct broker *b);
void channels_stop(struct broker *b);

/* control.c */
int control_start(struct broker *b);
void control_stop(struct broker *b);
/* The full status document; caller owns it (json_object_put). */
struct json_object *control_status_doc(struct broker *b);

/* status.c */
int status_main(int argc, char **argv);
/* Writes the status document doc (not taken) as the `status` table to out.
 * Returns 0, -EINVAL when doc has no "broker" object, -EIO when out fails. */
int status_render_table(struct json_object *doc, FILE *out);

#endif
