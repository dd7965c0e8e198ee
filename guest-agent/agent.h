/*
 * guest-agent: the daemon's private header.  Read it and you know the
 * daemon: what each file does and the functions it offers the others.
 *
 *   main.c     the command line, signals, the `status` subcommand; it
 *              talks to the hub only
 *   agent.c    the hub, and the only module that knows every other one:
 *              configuration, the broker's wish, applying it on a worker
 *              thread, saving state, building every report, and turning the
 *              restart policy's actions into timers, prompts and a process
 *   link.c     leaf: the connection to the broker (connect, backoff,
 *              handshake); calls up through struct link_ops
 *   tray.c     leaf: the socket the per-session tray helpers connect to and
 *              its line protocol; calls up through struct tray_ops
 *   jobsock.c  leaf: the job socket the backend hands jobs to, and their
 *              streams to the broker; calls up through struct jobsock_ops
 *   restart.c  leaf: the workspace restart policy, a pure state machine
 *   install.c  leaf: the guest's CUPS, queues and drivers (worker thread)
 *   state.c    leaf: the state file, agent.json, atomically
 *   apps.c     leaf: which applications run in the guest (/proc)
 *   want.c     the wants and results the hub hands between modules: copy,
 *              free (data only; every module may use it)
 *   status.c   the `guest-agent status` client (reads agent.json)
 *   guest-tray.c  the per-session tray helper (its own program, libnotify)
 *   backend.c  the guest queues' CUPS backend (its own program)
 *
 * Leaves never call each other: only agent.c (and main.c, through agent.c)
 * calls into them, and they call back through the ops tables they are given.
 */
#ifndef PRINTREDIR_AGENT_H
#define PRINTREDIR_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr_uv.h"
#include "codec.h"
#include "hash.h"

#define AGENT_CONF_DEFAULT "/etc/printredir/agent.conf"
/* The ownership mark the agent sets on its own queues, as a CUPS "-default"
 * option so that it lives in the guest's printers.conf. */
#define AGENT_MARK_ATTR "printredir-owner-default"
#define AGENT_MARK_VALUE "printredir-guest-agent"
/* What the agent set last of a queue's settings (install.c), kept the same
 * way, so that one a person changed since is left alone. */
#define SETTINGS_ATTR "printredir-settings-default"

struct agent_conf {
	struct addr broker;
	char *cups;			/* guest CUPS: host:port or socket; "" = local */
	char *key_file;
	char *state_dir;
	char *guest_id;			/* "" = host name */
	int redirection;
	struct addr job_socket;		/* where the backend hands jobs over */
	char *backend_user;		/* who runs the backend (cupsd's User) */
	char *filter_dir;		/* where the guest's CUPS filters live */
	long long max_ppd;		/* bytes */
	long long frame_cap;

	/* [restart] */
	char *restart_command;		/* "" = printers need no restart */
	char *boot_id_file;
	long long defer_interval;	/* seconds */
	long long max_deferrals;
	long long deadline;		/* seconds from the first prompt */
	long long countdown;		/* seconds of notice before a forced restart */
	long long apps_uid_min;
	char *apps_ignore;
	struct addr tray_socket;
};

/* One printer the broker wants in the guest (from a PrinterSet). */
struct want {
	char *name;			/* host queue name = guest queue name */
	char *host_device_uri;
	char *make_model;
	char *info;
	char *location;
	int driver;			/* Printredir__DriverState */
	uint8_t sha[HASH_LEN];
	char *detail;			/* broker's word on a missing driver */
	char *invalid;			/* NULL, or why its description was refused
					 * (then only name is set) */
	int is_default;			/* the host's default printer */
	int generic;			/* a driver the broker built (fallback) */
	int stopped, rejecting;		/* the host queue's condition... */
	char *reasons;			/* ...its reasons, space-separated */
	char *message;			/* ...and its message */
	char *defaults;			/* the host queue's defaults, "name=value"
					 * lines; checked where they are used */
	char *ppd_defaults;		/* its own PPD's choices, "Option=Choice"
					 * lines; likewise */
};

/* The most bytes of want.defaults: CODEC_MAX_DEFAULTS lines. */
#define WANT_MAX_DEFAULTS (CODEC_MAX_DEFAULTS * (CODEC_MAX_KEYWORD + CODEC_MAX_VALUE + 2))
#define WANT_MAX_PPD_DEFAULTS (CODEC_MAX_PPD_DEFAULTS * (2 * CODEC_MAX_PPD_WORD + 2))

/* What the agent did with one printer (an install report line). */
struct result {
	char *name;
	int state;			/* Printredir__PrinterState */
	char *detail;
	char *queue;			/* the guest queue concerned, if any */
	int changed;			/* a queue was added or modified for it */
	int unchecked;			/* its queue's driver could not be checked
					 * again (install_ctx.recheck) */
};

/*
 * The drivers of a printer set as the broker sent them, kept until they are
 * stored: the install pass stores each when it first needs it
 * (driver_stage), so that cupsd takes the first queues while the rest are
 * still unpacked, and what is left is stored after the pass.  Shared by the
 * wish and the passes that use it; only the loop thread counts references.
 */
struct driver_blob {
	uint8_t sha[HASH_LEN];
	uint64_t size;			/* unpacked */
	int zlib;			/* zlib-compressed, else as it is */
	uint8_t *data;
	size_t len;
	int staged;			/* by a pass: committed at its end */
};

struct blobs {
	unsigned refs;
	size_t n;
	struct driver_blob v[];
};

/* The broker's latest wish, persisted so that a restart can finish it. */
struct wish {
	uint64_t gen;
	struct want *want;
	size_t n;
	struct blobs *blobs;		/* its drivers not stored yet; not persisted */
};

/*
 * The guest's default printer (install.c): which queue the agent made the
 * default and which it replaced, kept across passes; and what the last
 * pass found, for the report.
 */
struct guest_default {
	char set[CODEC_MAX_NAME + 1];		/* the agent made it default; "" none */
	char before[CODEC_MAX_NAME + 1];	/* the default it replaced; "" none */
	char now[CODEC_MAX_NAME + 1];		/* the guest's default after the pass */
	char detail[512];			/* whose choice it is */
};

/* What was applied last, and whether the broker has heard of it. */
struct applied {
	uint64_t gen;
	int redirection;
	struct result *results;
	size_t n;
	int report_pending;
	/* The policy its drivers were checked under (agent_policy()), "" when
	 * not known: under another, a start checks them again. */
	char policy[HASH_HEX_LEN];
	struct guest_default dflt;
};

/* The broker link as the state file and `status` show it. */
struct link_status {
	int up;
	int64_t since;
	char error[512];
};

/* The workspace restart (restart.c), persisted but for the marked fields. */
struct restart {
	int phase;			/* Printredir__RestartPhase */
	uint64_t generation;		/* the change that needs it */
	uint32_t deferrals;
	int64_t until;			/* deferred until / forced at / retried at */
	int64_t first_prompt;		/* the deadline counts from here */
	int64_t requested_at;		/* when the command ran */
	char boot_id[64];		/* the boot the agent asked to leave */
	char printers[512];		/* the new printers, for the user */
	char detail[512];
	int report_pending;		/* the broker has not had this state */
	int nobody_asked;		/* deferred because no tray was there */
	/* Not persisted: */
	uint64_t prompt_id;		/* the prompt an answer must name */
	int64_t timer_at;		/* when RESTART_EV_TIMER is due; 0 none */
};

struct link;
struct trays;
struct jobsock;

/* The hub's own pieces: applying runs on a worker thread, one at a time. */
struct applier {
	int busy;
	int again;			/* apply once more when this pass ends */
	int reload;			/* a SIGHUP came during the pass */
	int recheck;			/* the policy changed: the next pass checks installed drivers */
	int checking;			/* the pass under way is a check (start_pass) */
	uv_work_t work;
	uv_timer_t retry;		/* guest CUPS unavailable or installs failed */
	uv_timer_t check;		/* the guest's CUPS looked at again (CHECK_MS) */
	unsigned retry_ms;
};

struct restarter {
	uv_timer_t timer;
	uv_process_t proc;
	int running;
};

struct agent {
	uv_loop_t *loop;
	struct agent_conf conf;
	const char *conf_path;
	uint8_t *key;
	size_t keylen;
	char drivers_dir[4096];
	char boot_id[64];		/* this boot's id, read once at start */
	int started, stopping;
	int dry_run;			/* --dry-run: no CUPS is touched */

	struct wish wish;
	struct applied applied;
	struct link_status link_status;
	struct restart restart;

	struct applier apply;
	struct restarter restarter;
	struct link *link;
	struct trays *trays;
	const struct app *apps;		/* while the policy decides on them */
	size_t napps;
	struct jobsock *jobs;
};

/* --- agent.c: the hub ------------------------------------------------------ */
int agent_load_conf(const char *path, struct agent_conf *conf, char *err,
    size_t errlen);
void agent_free_conf(struct agent_conf *conf);
/*
 * What a driver is checked against, in out (HASH_HEX_LEN bytes): a digest
 * of the agent's version (its rewrite and check) and of the settings that
 * bound them (max_ppd, filter_dir).
 */
void agent_policy(const struct agent_conf *conf, char out[HASH_HEX_LEN]);
/* Loads the key and the state, starts every module; a->conf and
 * a->conf_path are set.  0, or the exit status to stop with. */
int agent_start(struct agent *a);
/* SIGHUP: reloads the configuration now, or after the install pass that
 * runs. */
void agent_reload(struct agent *a);
/* Closes every handle; the loop then ends.  Safe to call more than once. */
void agent_stop(struct agent *a);
/* After the loop has ended: saves the state and frees everything. */
void agent_free(struct agent *a);

/* --- want.c: wants and results, copied and freed the same everywhere ------- */
/* Frees w[0..n-1] and w; NULL is allowed. */
void want_free(struct want *w, size_t n);
/* A deep copy of from[0..n-1] into *out (want_free it): 0 or -ENOMEM. */
int want_copy(const struct want *from, size_t n, struct want **out);
/* Frees r[0..n-1] and r; NULL is allowed. */
void result_free(struct result *r, size_t n);

/* --- link.c: the broker connection ------------------------------------------- */
struct link_ops {
	/* The handshake succeeded with broker id. */
	void (*on_up)(void *data, const char *broker_id);
	/* The link is down or could not come up; was_up says which.  The link
	 * keeps trying. */
	void (*on_down)(void *data, const char *reason, int was_up);
	/* A validated PrinterSet; borrowed for the call. */
	void (*on_printer_set)(void *data, const Printredir__PrinterSet *set);
	/* A validated JobCredit or JobResult; borrowed for the call. */
	void (*on_job)(void *data, const codec_env_t *env);
};

struct link_config {
	struct addr broker;
	const uint8_t *key;		/* borrowed for the link's life */
	size_t keylen;
	const char *guest_id;		/* borrowed */
	size_t frame_cap;
};

/* Starts connecting (forever, with backoff).  NULL when out of memory. */
struct link *link_start(uv_loop_t *loop, const struct link_config *cfg,
    const struct link_ops *ops, void *data);
/* Closes the link; it frees itself once its handles are closed.  NULL is
 * allowed. */
void link_stop(struct link *l);
/* Sends env when the link is up: 0, or -ENOTCONN. */
int link_send(struct link *l, const codec_env_t *env);
/* Announces the drivers held (borrowed), paged; once, right after on_up. */
int link_send_inventory(struct link *l, const uint8_t (*hashes)[HASH_LEN], size_t n);

/* --- tray.c: the tray helpers' socket ------------------------------------- */
struct tray_ops {
	/* The number of trays that can ask the user changed. */
	void (*on_count)(void *data, int ntrays);
	/* A tray answered prompt id: restart now (1) or later (0). */
	void (*on_answer)(void *data, uint64_t id, int now);
};

/* One line from a tray, decoded. */
enum tray_msg_type { TRAY_MSG_HELLO = 1, TRAY_MSG_ANSWER };
struct tray_msg {
	enum tray_msg_type type;
	int notifications;		/* hello: the session can show them */
	uint64_t id;			/* answer */
	int now;			/* answer: 1 now, 0 later */
};

/*
 * Decodes one line (len bytes, no newline; need not be NUL-terminated).
 * 0 and *msg filled, or -EBADMSG with why in err: not JSON, not an object,
 * an unknown type, or a member missing, null or of the wrong type.
 */
int tray_parse_line(const char *line, size_t len, struct tray_msg *msg, char *err,
    size_t errlen);
/* Listens on sock; a tray is accepted from root or a uid >= uid_min.  NULL
 * when the socket cannot be made (logged: restarts are then deferred until
 * forced). */
struct trays *tray_start(uv_loop_t *loop, const struct addr *sock, long long uid_min,
    const struct tray_ops *ops, void *data);
/* Closes every tray and the socket.  NULL is allowed. */
void tray_stop(struct trays *t);
struct app;
/*
 * Asks the trays concerned by apps (napps of them, borrowed): a desk user's
 * tray about its own applications only, a tray of uid 0 about all.  Only a
 * tray asked may answer prompt id.  Returns how many were asked.
 */
int tray_prompt(struct trays *t, uint64_t id, const char *printers,
    const struct app *apps, size_t napps);
/* Tells every tray a forced restart comes in secs seconds. */
void tray_countdown(struct trays *t, long long secs, const char *printers);
/* Trays that can ask the user (0 for NULL). */
int tray_count(const struct trays *t);
/* Of those, the ones tray_prompt would ask about apps (0 for NULL). */
int tray_count_concerned(const struct trays *t, const struct app *apps,
    size_t napps);

/* --- jobsock.c: the job socket --------------------------------------------- */
struct jobsock_ops {
	/* Sends env to the broker: 0, or -ENOTCONN when the link is down. */
	int (*send)(void *data, const codec_env_t *env);
};

struct jobsock_config {
	struct addr sock;
	const char *backend_user;	/* may connect besides root; borrowed */
	const char *cups;		/* the guest's CUPS (cupsconn_open); copied */
};

/* Listens on cfg->sock.  NULL when the socket cannot be made (logged). */
struct jobsock *jobsock_start(uv_loop_t *loop, const struct jobsock_config *cfg,
    const struct jobsock_ops *ops, void *data);
/* Answers every backend "retry later" and closes the socket.  NULL is
 * allowed. */
void jobsock_stop(struct jobsock *js);
/* A JobCredit or JobResult from the broker (env borrowed).  NULL js is
 * allowed. */
void jobsock_on_message(struct jobsock *js, const codec_env_t *env);
/* The link went down: every job on its way to the broker is answered
 * "retry later" (the guest's cupsd keeps it).  NULL is allowed. */
void jobsock_link_down(struct jobsock *js);
/*
 * Decodes the body of one frame from a backend (len bytes, borrowed): its
 * JobStart when first is set, else a JobData that does not abort; either is
 * validated (codec_validate).  0 with *out owned by the caller (codec_free),
 * or -EBADMSG with *out NULL and why in err.  No I/O: what the job socket
 * reads and the fuzz target go through the same code.
 */
int jobsock_parse_frame(const uint8_t *body, size_t len, int first, codec_env_t **out,
    char *err, size_t errlen);

/* --- restart.c: the restart policy, pure (no timers, no I/O) --------------- */
struct restart_policy {
	int enabled;			/* a restart command is configured */
	const char *command;		/* for messages only */
	long long defer_interval;	/* seconds */
	long long max_deferrals;
	long long deadline;		/* seconds from the first prompt */
	long long countdown;		/* seconds of notice before forcing */
};

enum restart_event {
	RESTART_EV_START,	/* the agent started with this state (boot_id) */
	RESTART_EV_CHANGED,	/* a pass added or changed queues (generation, printers) */
	RESTART_EV_APPS,	/* the answer to RESTART_DO_CHECK_APPS (apps, napps) */
	RESTART_EV_TIMER,	/* timer_at has come */
	RESTART_EV_ANSWER,	/* a tray answered (prompt_id, restart_now) */
	RESTART_EV_TRAYS,	/* the number of trays that can ask changed (ntrays) */
	RESTART_EV_EXITED,	/* the command exited (status, signo) or could not start (error) */
};

struct restart_input {
	enum restart_event event;
	int64_t now;			/* unix seconds */
	int ntrays;			/* trays that can ask the user, always */
	const char *boot_id;		/* this boot's id, always ("" unknown) */
	uint64_t generation;		/* CHANGED */
	const char *printers;		/* CHANGED: the new printers, for the user */
	char *const *apps;		/* APPS: the applications running */
	size_t napps;
	uint64_t prompt_id;		/* ANSWER */
	int restart_now;		/* ANSWER */
	int64_t status;			/* EXITED */
	int signo;			/* EXITED */
	const char *error;		/* EXITED: the command could not start */
};

/* What the hub does after a step, in this order. */
enum {
	RESTART_DO_REPORT = 1 << 0,	/* the phase changed: log, save, report it */
	RESTART_DO_CHECK_APPS = 1 << 1,	/* list the applications, step RESTART_EV_APPS */
	RESTART_DO_PROMPT = 1 << 2,	/* ask the trays (prompt_id, printers, apps) */
	RESTART_DO_COUNTDOWN = 1 << 3,	/* tell the trays: forced in countdown */
	RESTART_DO_RUN = 1 << 4,	/* run the command, step RESTART_EV_EXITED */
	RESTART_DO_IGNORED = 1 << 5,	/* the event did not apply (a stale answer) */
};

struct restart_actions {
	unsigned todo;			/* RESTART_DO_* */
};

/*
 * Advances r by one event.  Afterwards r->timer_at is when the hub must
 * step RESTART_EV_TIMER (0: no timer), and out says what else to do.
 * Nothing here reads a clock, a file or a socket: every input is in in.
 */
void restart_step(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out);
const char *restart_event_name(enum restart_event ev);

/* --- state.c: agent.json ---------------------------------------------------- */
/* The parts of the agent the state file holds; borrowed views. */
struct state {
	const char *guest_id;
	struct wish *wish;
	struct applied *applied;
	struct link_status *link;
	struct restart *restart;
};

/* The path of the state file under state_dir. */
void state_path(const char *state_dir, char *out, size_t len);
/* Writes s atomically to state_dir/agent.json; logs and returns the error. */
int state_save(const char *state_dir, const struct state *s);
/*
 * Reads state_dir/agent.json into s (whose parts start empty).  A missing
 * file is a fresh agent (0).  A damaged file, or a member that is missing,
 * null or of the wrong type, is logged and ignored: the agent starts from
 * the guest's CUPS alone for what it could not read.  Returns 0 or a
 * negative errno from reading the file.
 */
int state_load(const char *state_dir, struct state *s);
/* The same on a buffer (for tests and fuzzing); what it ignored is logged. */
int state_parse(const char *text, size_t len, struct state *s);
/* Frees what state_load put in s's parts. */
void state_free(struct state *s);

/* --- apps.c ---------------------------------------------------------------- */
/* An application running, and whose session it is in (-1: unknown,
 * every session's). */
struct app {
	long uid;
	char *name;
};
/*
 * The applications running, each (uid, name) once: processes under
 * proc_root ("/proc") whose real uid is >= uid_min and whose name is not in
 * ignore (space or comma separated).  *apps is sorted by name, then uid,
 * and owned by the caller (apps_free).  Returns 0 or a negative errno.
 */
int apps_running(const char *proc_root, long uid_min, const char *ignore,
    struct app **apps, size_t *n);
void apps_free(struct app *apps, size_t n);

/* --- status.c --------------------------------------------------------------- */
int status_main(int argc, char **argv);

/* --- install.c: runs on a worker thread; blocking libcups calls; a pass
 * with installs runs two threads of its own while they last (install_all) */

struct install_ctx {
	const struct agent_conf *conf;
	const char *drivers_dir;	/* state_dir/drivers: SHA256HEX.ppd files */
	struct blobs *blobs;		/* drivers to store as they are needed */
	/*
	 * Stores driver sha of blobs, staged (statefile_stage: the pass's end
	 * commits it), unpacked, held to max_ppd and verified against its
	 * SHA-256: 0 with its bytes in *out (free them); -ENOENT when blobs has
	 * no such driver, or this pass staged it already (for its second
	 * printer: read and verify the staged file); else the reason in err,
	 * and nothing is stored.
	 */
	int (*stage_driver)(const struct install_ctx *ctx, const uint8_t sha[HASH_LEN],
	    char **out, size_t *len, char *err, size_t errlen);
	int recheck;			/* the policy changed: check installed drivers again */
};

/*
 * Makes the guest's CUPS match want[0..nwant-1]: adds missing queues with
 * their driver from drivers_dir, updates the agent's own queues whose URI or
 * driver changed, removes the agent's own queues that are not wanted, skips
 * printers an equivalent hand-made queue already serves, and never touches a
 * queue without the agent's mark.  With redirection off, pass nwant == 0 and
 * every agent-owned queue is removed.  *results (caller frees with
 * result_free) gets one line per wanted printer and one per queue
 * removed.  Every driver is read back against its SHA-256 (one damaged in
 * drivers_dir is removed and its printer failed) and passes ppd_check_safe
 * (common/ppd.h) before cupsd sees it; one that fails is reported
 * driver-rejected with the reason.
 * Each queue's description, location, defaults and condition follow the
 * host queue's, but for a setting a person changed in the guest.
 * The host's default printer becomes the guest's default, unless a person
 * chose another since the agent set it (dflt, updated); with no host default
 * installed (redirection off too) the guest's earlier default comes back.
 * Returns 0, or -EHOSTDOWN when the guest's CUPS cannot be reached (results
 * then say "failed: guest print service unavailable").
 */
int install_apply(const struct install_ctx *ctx, const struct want *want,
    size_t nwant, struct result **results, size_t *nresults,
    struct guest_default *dflt);

#endif
