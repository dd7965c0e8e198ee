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
 *   push.c     the events socket the host cupsd's notifier (notifier.c, a
 *              program of its own) writes the subscription's events to
 *   drivers.c  fetching PPDs from print servers, checking, hashing,
 *              compressing, the on-disk driver cache (drivers/index.json);
 *              with driverless_fallback, a generic driver when the print
 *              server has none
 *   generic.c  a generic PPD written from a printer's IPP attributes
 *   guests.c   guest sessions: the listener and its pre-handshake budget,
 *              handshake, driver inventory, printer sets by generation,
 *              reports, persisted guest state (guests.json)
 *   jobs.c     guests' print jobs: each JobStart/JobData stream becomes a
 *              host job through submit.c, with credit back to the agent
 *   submit.c   one job on the host's cupsd, on its own thread; the journal
 *              of job UUIDs that keeps a job from printing twice
 *   probe.c    whether each redirected queue's destination answers (a
 *              thread of TCP connects), for the printers' condition
 *   channels.c the VMs' own channels: a folder of sockets the broker
 *              connects to, again after a VM restarts
 *   control.c  the control socket and the JSON status document
 *   metrics.c  the status document as Prometheus metrics, and the textfile
 *              for node_exporter written every [metrics] textfile_interval
 *   status.c   the `host-broker status` client: table, JSON or metrics
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

#include <cups/cups.h>

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
	int redirect_local;
	char *print_server;		/* "" = none */
	char *name;			/* broker id; "" = host name */
	long long relist_interval;	/* seconds */
	long long poll_ms;		/* subscription poll, milliseconds */
	char *host_events;		/* auto (push when it can) | poll */
	struct addr events;		/* the notifier's socket (push.c) */
	long long frame_cap;		/* bytes */
	long long max_ppd;		/* bytes */
	long long fetch_timeout;	/* seconds for one driver from a print server */
	char *printers;			/* all | default-only | host queue names */
	long long max_printers;		/* most printers redirected; 0 = no cap */
	long long probe_interval;	/* seconds between destination probes; 0 off */
	int driverless_fallback;	/* no driver on the print server: build
					 * a generic one (drivers.c) */

	/* [guests] */
	char *allow;			/* ids that may connect; "" = any */
	long long forget_after;		/* seconds a guest's record outlives it */

	/* [jobs] */
	char *job_user;			/* as-is | prefixed | account */
	char *job_account;		/* the one account, for "account" */
	int job_user_mode;		/* JOB_USER_*, from job_user */
	long long jobs_per_guest;	/* jobs of one guest at once */
	char *job_formats;		/* document formats taken from guests */
	long long journal_keep;		/* seconds a job UUID is remembered */

	/* [metrics] */
	char *metrics_textfile;		/* "" = none */
	long long metrics_interval;	/* seconds between two writes */
};

enum { JOB_USER_AS_IS, JOB_USER_PREFIXED, JOB_USER_ACCOUNT };

/* A host queue as the broker sees it. */
struct printer {
	char *name;
	char *device_uri;
	char *make_model;
	char *info;
	char *location;
	int network;			/* device URI reaches the network */
	int redirected;			/* offered to guests */
	int is_default;			/* the host's default printer */
	int stopped;			/* printer-state stopped */
	int rejecting;			/* not accepting jobs */
	char *reasons;			/* printer-state-reasons that matter to a
					 * user, space-separated; "" none */
	char *message;			/* printer-state-message, when stopped,
					 * rejecting or with a reason; else "" */
	char *defaults;			/* the queue's defaults, "name=value"
					 * lines (watch.c); NULL none */
	char *ppd_defaults;		/* its own PPD's default choices,
					 * "Option=Choice" lines; NULL none */
	int config_time;		/* printer-config-change-time */
	int generic;			/* its driver was built by the broker
					 * (driverless_fallback) */
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
	uint64_t noticed;		/* uv_hrtime() the watcher noticed the
					 * change this snapshot shows; 0 unknown */
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
	uv_timer_t save_timer;		/* guests.json written soon (guests.c) */
	int guests_dirty;		/* guests.json is behind */
	uint64_t status_rev;		/* moves whenever the status document would
					 * change: control.c keeps its text till then */
	uv_stream_t *control_server;
	struct guest *guests;		/* list, see guests.c */
	struct channels *channels;	/* see channels.c; NULL when none */
	struct bjob *jobs;		/* jobs in flight, see jobs.c */
	struct joblog *joblog;		/* see joblog.c */
	struct sentinel *sentinel;	/* the host cupsd's restarts, submit.c */
	struct metrics *metrics;	/* see metrics.c; NULL when no textfile */
	time_t changed_at;		/* the last new generation; 0 none yet */
	double change_latency;		/* its seconds from the watcher noticing
					 * the change to guests.c sending it;
					 * < 0 unknown */
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

/* What a guest's print jobs did, for status; one per guest (guests.c). */
struct job_stats {
	uint64_t accepted;		/* jobs the host's CUPS took */
	uint64_t bytes;			/* document bytes received */
	uint64_t retried;		/* sent back to wait in the guest */
	uint64_t refused;		/* refused for good */
	char last_error[256];		/* "" none */
	int64_t last_error_at;
};

struct json_object;
struct joblog;
struct submit;
struct sentinel;

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
/*
 * Whether [broker] printers chooses the host queue name (the host's default
 * printer when is_default): all of them, the default only, or those named
 * (compared as CUPS compares names, ignoring ASCII case).
 */
int broker_printer_chosen(const struct broker_conf *conf, const char *name,
    int is_default);

/* watch.c */
int watch_start(struct broker *b);
void watch_stop(struct broker *b);
/* Asks the watcher for a full re-list now (SIGHUP, a new config). */
void watch_relist(struct broker *b);
/* Classifies a device URI: 1 network, 0 local. */
int watch_uri_is_network(const char *device_uri);
/* 1 when cups (the "cups" key) is this machine's scheduler. */
int watch_cups_is_local(const char *cups);
/* From push.c, on the loop: the host cupsd sent an event; its notifier
 * went away. */
void watch_push_event(void);
void watch_push_lost(void);
/* How the watcher learns of host changes now: "push", "poll" or "relist"
 * (no subscription: only the periodic listing). */
const char *watch_events(void);

/* push.c */
int push_start(struct broker *b);
void push_stop(void);
/* The push subscription's notify-recipient-uri (NULL: no events socket,
 * pull instead) and its token (notify-user-data); fixed once started. */
const char *push_recipient(void);
const char *push_token(void);
/* Notifiers connected with the token now. */
int push_notifiers(void);

/* fetch.c */
/* Starts the fetcher thread with a copy of conf; on_change (may be NULL)
 * is called on that thread when a printer's result changed. */
int fetch_start(const struct broker_conf *conf, void (*on_change)(void));
/* A new configuration (copied): every result is dropped. */
void fetch_conf(const struct broker_conf *conf);
/*
 * Sets p's driver fields (p->detail replaced) from its last result and
 * adds its driver to s: 1, or 2 when that result is for p's old device URI
 * or make and model.  Without a result: 0, p untouched.  Queues p to be
 * fetched when it has no result, a result for another device URI or make
 * and model (first, as for none), or when queue is set (revalidation).
 */
int fetch_lookup(struct printer *p, struct snapshot *s, int queue);
/* Waits until the queue is empty and no fetch runs, or the fetcher stops. */
void fetch_wait_idle(void);
/* 1 while a printer without a result, or with one for its old device or
 * model, waits to be fetched or is being fetched. */
int fetch_busy(void);
/* Drops the results of printers s does not list. */
void fetch_keep(const struct snapshot *s);
/* Asks the fetcher to stop (fetch_wait_idle returns); fetch_lookup still
 * works until fetch_stop, which joins the thread and frees everything. */
void fetch_cancel(void);
void fetch_stop(void);

/* probe.c */
/* Starts the prober (every interval seconds, 0 = off); on_change is called
 * on its thread when a destination stops or starts answering. */
int probe_start(long long interval, void (*on_change)(void));
void probe_set_interval(long long interval);
/* The destinations to probe: those of s's redirected printers. */
void probe_targets(const struct snapshot *s);
/* 1 with "host:port" in where when uri's destination did not answer the
 * last probe; 0 when it did, is not probed, or was not probed yet. */
int probe_down(const char *uri, char *where, size_t wherelen);
/* The host and port uri reaches over TCP; 0, or -1 when it reaches none
 * (a local device, a discovered printer). */
int probe_target(const char *uri, char *host, size_t hostlen, int *port);
void probe_stop(void);

/* drivers.c */
int drivers_init(const struct broker_conf *conf);
/* Resolves p's driver into p->driver, p->sha, p->detail, p->generic; adds the driver
 * to s->drivers.  Runs on the fetcher thread (blocking libcups calls). */
void drivers_resolve(const struct broker_conf *conf, struct printer *p,
    struct snapshot *s);
const struct driver *drivers_find(const struct snapshot *s, const uint8_t sha[HASH_LEN]);
/* "/printers/NAME.ppd", the queue name escaped, into out (len bytes, 1024
 * is enough): where a cupsd serves a queue's PPD. */
void drivers_ppd_resource(const char *name, char *out, size_t len);
/* Adds a copy of d to s->drivers unless s has it: 0 or -ENOMEM.  Any
 * thread: it touches only s. */
int drivers_add(struct snapshot *s, const struct driver *d);
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

/* generic.c */
/*
 * A generic PDF-input PPD for a printer from its Get-Printer-Attributes
 * answer attrs (media-supported/-default, sides-supported/-default,
 * print-color-mode-supported/-default, color-supported,
 * printer-resolution-supported/-default, document-format-supported,
 * printer-make-and-model): only known keywords and bounded values go in,
 * at most 64 sizes and 8 resolutions; a printer naming no sizes gets A4
 * and Letter.  0 with a malloc'd text in *out (*outlen bytes, NUL after);
 * -ENOTSUP when the printer does not take PDF, -EINVAL, -ENOMEM, with why
 * in err.
 */
int generic_ppd_from_ipp(ipp_t *attrs, char **out, size_t *outlen, char *err,
    size_t errlen);

/* snapshot helpers (watch.c) */
void snapshot_free(struct snapshot *s);
/* 1 when two snapshots would give guests the same printer set. */
int snapshot_equal(const struct snapshot *a, const struct snapshot *b);
/* 1 when a and b offer the guests the same printers (the same redirected
 * ones, alike); the others may differ. */
int snapshot_offered_equal(const struct snapshot *a, const struct snapshot *b);

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
void guests_status(struct broker *b, struct json_object *doc, int summary);
/*
 * Writes the guests array as JSON text to f, building one guest's entry at a
 * time: with 100 guests of 200 printers each the whole array as json-c
 * objects would take tens of MB.  0, or -ENOMEM.
 */
int guests_status_write(struct broker *b, FILE *f, int summary);
/* The bytes written to guests move without a change of state (heartbeats,
 * frames still being written when the state moved): moves b->status_rev
 * when they did since the last call, so that a kept status text is
 * rebuilt.  Before using one. */
void guests_note_bytes(struct broker *b);
/* After a reload: closes the sessions of the guests [guests] allow now
 * refuses.  (A new master key holds from the next handshake: sessions up
 * keep theirs, so that guests can take their new keys in turn.) */
void guests_revoke(struct broker *b);
/* A connection to a VM's channel (stream taken in every case) becomes a
 * guest connection; NULL when refused.  No pre-handshake budget applies. */
struct peer *guests_adopt_channel(struct broker *b, uv_stream_t *stream,
    const char *name);
/* Forgets the records of guests not connected and not seen since now -
 * forget_after; saves when it forgot one. */
void guests_forget(struct broker *b, time_t now);

/* The job counters of guest id; NULL when the guest is not known. */
struct job_stats *guests_job_stats(struct broker *b, const char *id);

/* jobs.c */
/* Opens the journal of submitted jobs (state_dir/jobs.journal). */
int jobs_start(struct broker *b);
/* A job message (JobStart, JobData) from guest id over p; env borrowed.
 * A message that breaks the protocol closes p. */
void jobs_on_message(struct broker *b, struct peer *p, const char *id,
    const codec_env_t *env);
/* p is gone: its jobs are withdrawn (host jobs not complete are cancelled). */
void jobs_peer_closed(struct broker *b, struct peer *p);
/* After the loop has finished (every job has ended): closes the journal. */
void jobs_free(struct broker *b);
/* Adds the jobs in flight to a status document. */
void jobs_status(struct broker *b, struct json_object *doc);

/* joblog.c: the journal of submitted jobs */
/*
 * The journal is a text file of records "UUID STATE HOSTJOBID UNIXTIME\n",
 * one appended (and fdatasync'ed) per change; the last record of a UUID is
 * its state.  At most JOBLOG_MAX_ENTRIES UUIDs are kept, the least recently
 * written dropped first.
 */
#define JOBLOG_MAX_ENTRIES 100000

enum joblog_state {
	JOBLOG_NONE = 0,	/* not in the journal (never seen, or forgotten) */
	JOBLOG_CREATED,		/* the host job exists, its document may not */
	JOBLOG_DONE,		/* the host holds the whole job: never again */
	JOBLOG_CANCELLED,	/* the host job was cancelled: print it anew */
	JOBLOG_SENT,		/* the host job holds the whole document: it is
				 * followed to its end, resubmitted if the host
				 * forgets it */
};

/*
 * Opens (creating it when missing) the journal at path and compacts it:
 * entries older than keep_s seconds are dropped (keep_s <= 0: none), lines
 * that do not parse (a torn last line after a crash) are skipped with a
 * warning, and the file is rewritten atomically.  Returns NULL with the
 * reason in err when the file cannot be read or rewritten.  Thread-safe
 * after opening.  The journal must outlive every submit using it.
 */
struct joblog *joblog_open(const char *path, long keep_s, char *err, size_t errlen);
/* NULL is allowed. */
void joblog_close(struct joblog *l);

/* 1 when uuid may be a journal key: 1-127 printable ASCII bytes, no space. */
int joblog_valid_uuid(const char *uuid);

/*
 * What the journal says of uuid: 0 with *state, *host_job_id and *when
 * (the record's UNIXTIME) set, -ENOENT (*state = JOBLOG_NONE, the others 0)
 * or -EINVAL for a uuid that is not valid.  Any pointer may be NULL.
 */
int joblog_get(struct joblog *l, const char *uuid, enum joblog_state *state,
    int *host_job_id, long long *when);

/*
 * Appends and syncs a record (state JOBLOG_CREATED, DONE, CANCELLED or SENT).
 * Returns 0, -EINVAL, or the negative errno of a failed write, in which
 * case the journal is unchanged.
 */
int joblog_put(struct joblog *l, const char *uuid, enum joblog_state state,
    int host_job_id);

/* The number of UUIDs kept. */
size_t joblog_count(struct joblog *l);
/* "created", "done", "cancelled", "sent" or "none". */
const char *joblog_state_name(enum joblog_state state);
/* Marks uuid as being worked on by one submit: 0, or -EBUSY when another
 * already is (-ENOMEM).  joblog_release ends it. */
int joblog_claim(struct joblog *l, const char *uuid);
void joblog_release(struct joblog *l, const char *uuid);


/*
 * submit.c: one guest job on a host queue as a host application prints
 * it: Create-Job, then Send-Document streamed chunk by chunk, then the host
 * job followed to its end, on a thread of its own so that the broker's loop
 * never waits on cupsd.
 */
enum submit_outcome {
	SUBMIT_ACCEPTED = 1,	/* the host job ended printed */
	SUBMIT_RETRY,		/* not now (queue stopped, cupsd down, aborted) */
	SUBMIT_REFUSED,		/* never (the host refused the job itself) */
};

/* A job to print; NULL strings are allowed where a default is given. */
struct submit_job {
	const char *cups;		/* host scheduler, as cupsconn_open takes
					 * it; NULL = "" (the default) */
	struct joblog *log;		/* not NULL; must outlive the job */
	struct sentinel *sentinel;	/* not NULL; must outlive the job */
	const char *uuid;		/* the journal key (joblog_valid_uuid) */
	const char *printer;		/* host queue */
	const char *user;		/* requesting-user-name, already mapped;
					 * NULL or "" = "anonymous"; spaces and
					 * control characters become '_' */
	const char *title;		/* job-name; NULL or "" = none; made
					 * valid UTF-8 of at most 255 bytes */
	int copies;			/* < 1 = 1 */
	const char *format;		/* document-format (type/subtype, else
					 * REFUSED); NULL or "" =
					 * application/octet-stream */
	int num_options;		/* job attributes: submit_options' */
	cups_option_t *options;
};

/*
 * Whether the host's cupsd started again since a time: a subscription of
 * ours to its server-started event, shared by every job of a broker (see
 * submit.c).  sentinel_free does not cancel the subscription: the next
 * broker takes it over.
 */
struct sentinel *sentinel_new(void);
void sentinel_free(struct sentinel *sn);

struct submit_ops {
	/* The agent may send `chunks` more chunks: CODEC_JOB_WINDOW once the
	 * host job exists, then one per chunk written to cupsd (batched) until
	 * the last chunk has come.  Loop thread; never after submit_abort or
	 * once the job is ending.  May call submit_push and submit_abort. */
	void (*on_credit)(struct submit *s, unsigned chunks, void *data);
	/* The end, called exactly once on the loop thread, also after
	 * submit_abort; s is freed right after it returns (do not call
	 * submit_abort or submit_push from it).  host_job_id is 0 when no host
	 * job was involved (it may name a host job that was cancelled); detail
	 * is never NULL and is printable text for the guest's job. */
	void (*on_done)(struct submit *s, enum submit_outcome o, int host_job_id,
	    const char *detail, void *data);
};

/*
 * Starts job j (everything in it is copied) on its own thread.  The thread
 * first asks the journal: a UUID already submitted is answered ACCEPTED at
 * once without printing it again; a UUID whose host job was created but may
 * not hold its document (a crash in between) has that host job looked at:
 * complete -> ACCEPTED, otherwise cancelled and the job submitted anew.
 * Then: host queue stopped or not accepting -> RETRY with the queue's
 * reason; Create-Job (journal: created) and credit; each pushed chunk is
 * written to cupsd; after the last one, the host's verdict (journal: done)
 * and on_done.  Returns NULL on out-of-memory or when the thread cannot start
 * (nothing is called then).  ops and data are kept by pointer.
 *
 * Every submit holds a uv_async handle on loop and a thread: before it
 * stops the loop for good, the owner withdraws every job (submit_abort) and
 * runs the loop until each on_done has come, which takes at most a few
 * seconds (the cancel of a host job).
 */
struct submit *submit_start(uv_loop_t *loop, const struct submit_job *j,
    const struct submit_ops *ops, void *data);

/*
 * Queues len bytes of the document (copied; len <= CODEC_JOB_CHUNK; buf
 * may be NULL when len is 0), the last chunk marked.  Every chunk, an empty
 * last one included, uses one credit.  Loop thread.  Returns 0, or -ENOBUFS
 * when more chunks are pushed than on_credit granted (the caller drops the
 * peer), -EPIPE after the last chunk, after submit_abort or once the job is
 * ending, -EINVAL when len is too big, -ENOMEM.
 */
int submit_push(struct submit *s, const void *buf, size_t len, int last);

/*
 * Withdraws the job (the guest cancelled it, or its link is gone): a host
 * job not yet complete is cancelled, and on_done follows with RETRY
 * "withdrawn" (or with the verdict the job had already reached).  A write
 * to cupsd in progress is cut at once.  Loop thread.  Safe to call more
 * than once, but never after on_done (s is gone then).
 */
void submit_abort(struct submit *s);

/* Bytes of document the submitter holds now (queued or being written): at
 * most CODEC_JOB_WINDOW * CODEC_JOB_CHUNK.  Loop thread; for tests and
 * status. */
size_t submit_queued_bytes(struct submit *s);

/*
 * The job attributes for a guest's options (the first CODEC_MAX_OPTIONS of
 * j's), checked: names that are not IPP or PPD option names (at most 40
 * bytes), values that are not 1-1023 bytes of UTF-8 text, attributes a
 * guest may not set (requesting user, job-uuid, document-format,
 * job-hold-until, job-priority, job-sheets, notify-*, ...), what the
 * guest's CUPS already applied to the document (page-ranges, number-up,
 * ...) and string values holding a space (they crash Debian's cupsd 2.4.2;
 * collections may) are left out, with a debug line.  The last of a repeated
 * name wins.  Returns the number of options in *out (NULL when 0; free with
 * cupsFreeOptions), or -ENOMEM.
 */
int submit_options(const Printredir__JobStart *j, cups_option_t **out);


/* channels.c: the VMs' own channels, a folder of sockets to connect to */
int channels_start(struct broker *b);
void channels_stop(struct broker *b);

/* control.c */
int control_start(struct broker *b);
void control_stop(struct broker *b);
/*
 * The status document as the metrics render it: the host's printers listed,
 * each guest's counted (as in a summary).  Caller owns it (json_object_put).
 */
struct json_object *control_metrics_doc(struct broker *b);

/*
 * The name the status document gives a driver state ("available",
 * "missing", "rejected"); NULL for none (a queue not redirected).
 */
const char *control_driver_name(int state);
/*
 * A queue's condition as status shows it: {"state": "idle" | "stopped",
 * "accepting", "reasons": [...], "message"}; reasons space-separated.
 * NULL when out of memory.
 */
struct json_object *control_condition_doc(int stopped, int rejecting,
    const char *reasons, const char *message);

/* metrics.c */
/*
 * Writes the status document doc (not NULL; not taken), full or summary,
 * to out in the Prometheus text exposition format, version 0.0.4.  Label
 * values are escaped and made valid UTF-8.  Returns 0, -EINVAL when doc
 * has no "broker" object (nothing written), -EIO when out fails.
 */
int metrics_render(struct json_object *doc, FILE *out);
/* Writes the metrics to [metrics] textfile (atomically, mode 0644) every
 * textfile_interval once the watcher has reported; nothing when textfile
 * is "".  0 or -ENOMEM. */
int metrics_start(struct broker *b);
/* After a reload: the new textfile and interval hold; a textfile no
 * longer named is removed. */
void metrics_reload(struct broker *b);
/* Stops writing and removes the textfile, so that a stopped broker's
 * figures are not served as current. */
void metrics_stop(struct broker *b);

/* status.c */
int status_main(int argc, char **argv);
/* Writes the status document doc (not taken) as the `status` table to out.
 * Returns 0, -EINVAL when doc has no "broker" object, -EIO when out fails. */
int status_render_table(struct json_object *doc, FILE *out);

#endif
