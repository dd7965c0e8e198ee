/*
 * guest-agent: the daemon's private header.  Read it and you know the
 * daemon: what each file does and the functions it offers the others.
 *
 *   main.c     start-up, signals, dispatch to the `status` subcommand
 *   agent.c    configuration, the desired set, applying generations
 *   link.c     the connection to the broker: backoff, handshake, reports
 *   install.c  the guest's CUPS: queues and drivers, duplicates, ownership
 *   state.c    what the agent owns and reported, on disk, atomically
 *   status.c   the `guest-agent status` client
 *   restart.c  the workspace restart policy: silent, prompted, deferred, forced
 *   apps.c     which applications run in the guest (/proc)
 *   tray.c     the socket the per-session tray helpers connect to
 *   tray-main.c  the tray helper itself (build/guest-tray, libnotify)
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

struct agent_conf {
	struct addr broker;
	char *cups;			/* guest CUPS: host:port or socket; "" = local */
	char *key_file;
	char *state_dir;
	char *guest_id;			/* "" = host name */
	int redirection;
	char *backend;			/* "printredir" or "ipp" */
	char *filter_dir;		/* where the guest's CUPS filters live */
	char *allow_commands;		/* SHA-256 hex of allowed command templates */
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

/* The workspace restart, persisted with the rest of the state. */
struct restart {
	int phase;			/* Printredir__RestartPhase */
	uint64_t generation;		/* the change that needs it */
	uint32_t deferrals;
	int64_t until;			/* deferred until / forced at */
	int64_t first_prompt;		/* the deadline counts from here */
	int64_t requested_at;		/* when the command ran */
	char boot_id[64];		/* the boot the agent asked to leave */
	char printers[512];		/* the new printers, for the user */
	char detail[512];
	int report_pending;
	int nobody_asked;		/* deferred because no tray was there */
};

/* One printer the broker wants in the guest (from a PrinterSet). */
struct want {
	char *name;			/* host queue name = guest queue name */
	char *uri;			/* the guest queue's device URI */
	char *host_device_uri;
	char *make_model;
	char *info;
	char *location;
	int driver;			/* Printredir__DriverState */
	uint8_t sha[HASH_LEN];
	char *detail;			/* broker's word on a missing driver */
};

/* What the agent did with one printer (an install report line). */
struct result {
	char *name;
	int state;			/* Printredir__PrinterState */
	char *detail;
	char *queue;			/* the guest queue concerned, if any */
	int changed;			/* a queue was added or modified for it */
};

struct agent {
	uv_loop_t *loop;
	struct agent_conf conf;
	const char *conf_path;
	uint8_t *key;
	size_t keylen;
	char drivers_dir[4096];

	/* The broker's latest wish, persisted so a restart can finish it. */
	uint64_t want_gen;
	struct want *want;
	size_t nwant;

	/* What was applied last, and whether the broker has heard of it. */
	uint64_t applied_gen;
	int applied_redirection;
	struct result *results;
	size_t nresults;
	int report_pending;

	/* Applying runs on a worker thread, one at a time. */
	int busy, again;
	uv_work_t work;
	uv_timer_t retry;		/* guest CUPS unavailable or installs failed */
	unsigned retry_ms;

	struct restart restart;
	uv_timer_t restart_timer;
	uv_process_t restart_proc;
	int restart_running;
	uint64_t prompt_id;

	/* Tray helpers (tray.c). */
	uv_stream_t *tray_server;
	struct tray *trays;

	/* The broker link. */
	struct peer *peer;
	uv_timer_t reconnect;
	unsigned backoff_ms;
	uv_connect_t connect_req;
	int connecting, stopping, link_up;
	char link_error[512];
	int64_t link_since;
};

/* --- agent.c ---------------------------------------------------------------- */
int agent_load_conf(const char *path, struct agent_conf *conf, char *err,
    size_t errlen);
void agent_free_conf(struct agent_conf *conf);
/* A validated PrinterSet from the broker: store its drivers, make it the
 * wish, apply it.  Does not take env. */
void agent_on_printer_set(struct agent *a, const Printredir__PrinterSet *set);
/* Starts (or queues) applying the current wish to the guest's CUPS. */
void agent_apply(struct agent *a);
/* Sends the last install report if the broker has not had it. */
void agent_flush_report(struct agent *a);
/* The SHA-256 of every driver held in drivers_dir; caller frees *out. */
size_t agent_held_drivers(const struct agent *a, uint8_t (**out)[HASH_LEN]);
void agent_free_wants(struct want *w, size_t n);

/* --- link.c ---------------------------------------------------------------- */
void link_start(struct agent *a);
void link_stop(struct agent *a);
/* Sends env when the link is up: 0, or -ENOTCONN. */
int link_send(struct agent *a, const codec_env_t *env);

/* --- state.c ---------------------------------------------------------------- */
/* Loads state_dir/agent.json into a (missing file: a fresh agent). */
int state_load(struct agent *a);
/* Writes it atomically; logs and returns the error. */
int state_save(const struct agent *a);
/* The path of the state file (for status). */
void state_path(const struct agent_conf *conf, char *out, size_t len);

/* --- restart.c --------------------------------------------------------------- */
void restart_start(struct agent *a);	/* after state_load: finish a restart */
void restart_stop(struct agent *a);
/* A pass installed or changed queues of generation gen: a restart is due. */
void restart_needed(struct agent *a, uint64_t gen, const char *printers);
/* Sends the restart state if the broker has not had it. */
void restart_flush(struct agent *a);
/* A tray answered prompt id: now (1) or later (0). */
void restart_answer(struct agent *a, uint64_t id, int now);
/* The trays changed (one connected or left). */
void restart_trays_changed(struct agent *a);

/* --- tray.c ------------------------------------------------------------------ */
int tray_start(struct agent *a);
void tray_stop(struct agent *a);
/* Asks every connected tray; returns how many were asked. */
int tray_prompt(struct agent *a, uint64_t id, const char *printers,
    char **apps, size_t napps);
/* Tells every tray a forced restart comes in secs seconds. */
void tray_countdown(struct agent *a, long long secs, const char *printers);
int tray_count(const struct agent *a);

/* --- apps.c ---------------------------------------------------------------- */
/*
 * The distinct names of the applications running: processes under
 * proc_root ("/proc") whose real uid is >= uid_min and whose name is not in
 * ignore (space or comma separated).  *names is sorted and owned by the
 * caller (apps_free).  Returns 0 or a negative errno.
 */
int apps_running(const char *proc_root, long uid_min, const char *ignore,
    char ***names, size_t *n);
void apps_free(char **names, size_t n);

/* --- status.c --------------------------------------------------------------- */
int status_main(int argc, char **argv);

/* --- install.c: runs on a worker thread; blocking libcups calls --------- */

struct install_ctx {
	const struct agent_conf *conf;
	const char *drivers_dir;	/* state_dir/drivers: SHA256HEX.ppd files */
};

/*
 * Makes the guest's CUPS match want[0..nwant-1]: adds missing queues with
 * their driver from drivers_dir, updates the agent's own queues whose URI or
 * driver changed, removes the agent's own queues that are not wanted, skips
 * printers an equivalent hand-made queue already serves, and never touches a
 * queue without the agent's mark.  With redirection off, pass nwant == 0 and
 * every agent-owned queue is removed.  *results (caller frees with
 * install_free_results) gets one line per wanted printer and one per queue
 * removed.  Every driver passes ppd_check_safe (common/ppd.h) before cupsd
 * sees it; one that fails is reported driver-rejected with the reason.
 * Returns 0, or -EHOSTDOWN when the guest's CUPS cannot be reached (results
 * then say "failed: guest print service unavailable").
 */
int install_apply(const struct install_ctx *ctx, const struct want *want,
    size_t nwant, struct result **results, size_t *nresults);
void install_free_results(struct result *r, size_t n);

#endif
