/*
 * The agent's hub, the only module that knows every other one: its
 * configuration, the broker's wish (the latest printer set) and the drivers
 * it brought, applying the wish to the guest's CUPS on a worker thread one
 * pass at a time, saving the state, building every report, and running the
 * restart policy (restart.c) with real timers, trays and a process.  The
 * leaves (link.c, tray.c) call back through the ops tables below.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "compress.h"
#include "conf.h"
#include "log.h"
#include "statefile.h"
#include "version.h"

#define OFF(f) offsetof(struct agent_conf, f)
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000		/* guest CUPS unavailable */
#define FAILED_RETRY_MAX_MS 300000	/* some printers failed to install */
/* How often the guest's CUPS is looked at between changes: a cupsd that was
 * killed or crashed comes back without what it had not yet written to
 * printers.conf (up to DirtyCleanInterval, 30 s, after an install), and
 * nothing else would tell the running agent. */
#define CHECK_MS 5000

static const struct conf_key agent_keys[] = {
	{ "agent", "broker", CONF_ADDR, OFF(broker), "unix:/run/printredir/broker.sock", 0, 0, 0, 0 },
	{ "agent", "cups", CONF_STRING, OFF(cups), "", 0, 0, 0, 1 },
	{ "agent", "key_file", CONF_STRING, OFF(key_file), "/etc/printredir/key", 0, 0, 0, 0 },
	{ "agent", "state_dir", CONF_STRING, OFF(state_dir), "/var/lib/printredir/agent", 0, 0, 0, 0 },
	{ "agent", "guest_id", CONF_STRING, OFF(guest_id), "", 0, 0, 0, 1 },
	{ "agent", "redirection", CONF_BOOL, OFF(redirection), "yes", 0, 0, 0, 0 },
	{ "agent", "job_socket", CONF_ADDR, OFF(job_socket), "unix:/run/printredir/jobs.sock", 0, 0, 0, 0 },
	{ "agent", "backend_user", CONF_STRING, OFF(backend_user), "lp", 0, 0, 0, 0 },
	{ "agent", "filter_dir", CONF_STRING, OFF(filter_dir), "/usr/lib/cups/filter", 0, 0, 0, 0 },
	{ "agent", "max_ppd", CONF_INT, OFF(max_ppd), "4194304", 1024, 1 << 28, 0, 0 },
	{ "agent", "frame_cap", CONF_INT, OFF(frame_cap), "8388608", 65536, 1 << 30, 0, 0 },
	{ "restart", "command", CONF_STRING, OFF(restart_command), "systemctl reboot", 0, 0, 0, 1 },
	{ "restart", "boot_id_file", CONF_STRING, OFF(boot_id_file),
	  "/proc/sys/kernel/random/boot_id", 0, 0, 0, 0 },
	{ "restart", "defer_interval", CONF_DURATION, OFF(defer_interval), "1h", 1, 7 * 86400, 0, 0 },
	{ "restart", "max_deferrals", CONF_INT, OFF(max_deferrals), "3", 0, 1000, 0, 0 },
	{ "restart", "deadline", CONF_DURATION, OFF(deadline), "1d", 1, 30 * 86400, 0, 0 },
	{ "restart", "countdown", CONF_DURATION, OFF(countdown), "5m", 0, 86400, 0, 0 },
	{ "restart", "apps_uid_min", CONF_INT, OFF(apps_uid_min), "1000", 0, 4294967295LL, 0, 0 },
	{ "restart", "apps_ignore", CONF_STRING, OFF(apps_ignore),
	  "bash sh dash zsh fish tcsh tmux screen sshd ssh-agent gpg-agent systemd "
	  "(sd-pam) dbus-daemon dbus-broker dbus-launch pipewire pipewire-pulse "
	  "wireplumber pulseaudio gnome-keyring-d at-spi-bus-laun at-spi2-registr "
	  "xdg-desktop-por xdg-document-po xdg-permission- gvfsd gvfsd-fuse "
	  "dconf-service Xvfb Xorg Xwayland dunst notification-da xfce4-notifyd "
	  "guest-tray", 0, 0, 0, 1 },
	{ "restart", "tray_socket", CONF_ADDR, OFF(tray_socket), "unix:/run/printredir/tray.sock", 0, 0, 0, 0 },
};
#define NKEYS (sizeof(agent_keys) / sizeof(agent_keys[0]))

int
agent_load_conf(const char *path, struct agent_conf *conf, char *err,
    size_t errlen)
{
	char host[256], why[128];
	int rc;

	memset(conf, 0, sizeof(*conf));
	if (strcmp(path, AGENT_CONF_DEFAULT) == 0 && access(path, F_OK) != 0)
		rc = conf_load_buf(path, "", 0, agent_keys, NKEYS, conf, err, errlen);
	else
		rc = conf_load(path, agent_keys, NKEYS, conf, err, errlen);
	if (rc != 0)
		return rc;
	if (conf->guest_id[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "guest");
		host[sizeof(host) - 1] = '\0';
		free(conf->guest_id);
		conf->guest_id = strdup(host);
	}
	if (conf->guest_id == NULL || codec_check_id(conf->guest_id, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: guest_id %s", path,
		    conf->guest_id ? why : "is out of memory");
		agent_free_conf(conf);
		return -EINVAL;
	}
	/* Over vsock the broker is the host, never another guest. */
	if (conf->broker.kind == ADDR_VSOCK && conf->broker.cid != 2 &&
	    conf->broker.cid != 1) {
		snprintf(err, errlen, "%s: broker = vsock:%u:...: the broker is the host, "
		    "vsock:host:PORT (CID 2; \"local\", CID 1, only for tests "
		    "within one machine)", path, (unsigned)conf->broker.cid);
		agent_free_conf(conf);
		return -EINVAL;
	}
	if (conf->job_socket.kind != ADDR_UNIX) {
		snprintf(err, errlen, "%s: job_socket must be a unix:PATH address: "
		    "the backend's credentials are checked", path);
		agent_free_conf(conf);
		return -EINVAL;
	}
	return 0;
}

void
agent_free_conf(struct agent_conf *conf)
{
	conf_free(agent_keys, NKEYS, conf);
}

void
agent_policy(const struct agent_conf *conf, char out[HASH_HEX_LEN])
{
	char key[8400];
	uint8_t d[HASH_LEN];

	snprintf(key, sizeof(key), "%s\n%lld\n%s", PRINTREDIR_VERSION, conf->max_ppd,
	    conf->filter_dir);
	hash_sha256(key, strlen(key), d);
	hash_hex(d, out);
}

/*
 * 0 when name is a file of the driver cache, its driver's SHA-256 in sha:
 * SHA.ppd as received, and with rewritten SHA.guest.ppd (install.c) too.
 */
static int
driver_file(const char *name, int rewritten, uint8_t sha[HASH_LEN])
{
	char hex[HASH_HEX_LEN];

	if (strlen(name) < 68 || (strcmp(name + 64, ".ppd") != 0 &&
	    !(rewritten && strcmp(name + 64, ".guest.ppd") == 0)))
		return -EINVAL;
	memcpy(hex, name, 64);
	hex[64] = '\0';
	return hash_from_hex(hex, sha);
}

/* The SHA-256 of every driver held in drivers_dir; *out is the caller's. */
static size_t
held_drivers(const struct agent *a, uint8_t (**out)[HASH_LEN])
{
	DIR *d = opendir(a->drivers_dir);
	struct dirent *e;
	size_t n = 0;
	uint8_t (*v)[HASH_LEN] = NULL, (*nv)[HASH_LEN];

	while (d && (e = readdir(d)) != NULL && n < CODEC_MAX_HASHES) {
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			break;
		v = nv;
		if (driver_file(e->d_name, 0, v[n]) == 0)
			n++;
	}
	if (d)
		closedir(d);
	*out = v;
	return n;
}

/* 1 when a printer of set uses the driver sha. */
static int
set_uses(const Printredir__PrinterSet *set, const uint8_t *sha)
{
	for (size_t i = 0; i < set->n_printers; i++) {
		const Printredir__Printer *p = set->printers[i];

		if (p->has_driver_sha256 && p->driver_sha256.len == HASH_LEN &&
		    memcmp(p->driver_sha256.data, sha, HASH_LEN) == 0)
			return 1;
	}
	return 0;
}

/* install_ctx.stage_driver, and store_blobs() with out NULL. */
static int
driver_stage(const struct agent_conf *conf, const char *drivers_dir,
    struct blobs *blobs, const uint8_t sha[HASH_LEN], char **out,
    size_t *len, char *err, size_t errlen)
{
	struct driver_blob *b = NULL;
	char hex[HASH_HEX_LEN], path[4200];
	uint8_t *ppd = NULL, got[HASH_LEN];
	size_t n = 0;
	int rc;

	for (size_t i = 0; blobs != NULL && i < blobs->n && b == NULL; i++)
		if (memcmp(blobs->v[i].sha, sha, HASH_LEN) == 0)
			b = &blobs->v[i];
	if (b == NULL || b->staged)
		return -ENOENT;		/* none; or staged, to be read there */
	hash_hex(sha, hex);
	if (b->size > (uint64_t)conf->max_ppd) {
		snprintf(err, errlen, "driver %s is %llu bytes, over max_ppd; not stored",
		    hex, (unsigned long long)b->size);
		return -EFBIG;
	}
	if (b->zlib)
		rc = compress_inflate(b->data, b->len, (size_t)b->size,
		    (size_t)conf->max_ppd, &ppd, &n);
	else if (b->len == b->size && (ppd = malloc(b->len ? b->len : 1)) != NULL) {
		memcpy(ppd, b->data, b->len);
		n = b->len;
		rc = 0;
	} else
		rc = -EBADMSG;
	if (rc != 0) {
		snprintf(err, errlen, "driver %s does not unpack: %s; not stored", hex,
		    strerror(-rc));
		return rc;
	}
	if (hash_sha256(ppd, n, got) != 0 || memcmp(got, sha, HASH_LEN) != 0) {
		snprintf(err, errlen, "driver %s does not match its SHA-256; not stored",
		    hex);
		free(ppd);
		return -EBADMSG;
	}
	snprintf(path, sizeof(path), "%s/%s.ppd", drivers_dir, hex);
	if ((rc = statefile_stage(path, ppd, n, 0644)) != 0) {
		snprintf(err, errlen, "cannot store driver %s: %s", path, strerror(-rc));
		free(ppd);
		return rc;
	}
	b->staged = 1;
	if (out != NULL) {
		*out = (char *)ppd;
		*len = n;
	} else
		free(ppd);
	return 0;
}

/*
 * The drivers of set that its printers use and that the agent does not
 * hold, copied for the passes; NULL when out of memory (the next
 * connection's inventory lacks them, and the broker sends them again).
 */
static struct blobs *
blobs_of_set(struct agent *a, const Printredir__PrinterSet *set)
{
	struct blobs *b = calloc(1, sizeof(*b) + set->n_drivers * sizeof(b->v[0]));
	char hex[HASH_HEX_LEN], path[4200];

	if (b == NULL)
		return NULL;
	b->refs = 1;
	for (size_t i = 0; i < set->n_drivers; i++) {
		const Printredir__Driver *d = set->drivers[i];
		struct driver_blob *v = &b->v[b->n];
		int twice = 0;

		hash_hex(d->sha256.data, hex);
		if (!set_uses(set, d->sha256.data)) {
			log_warnx("generation %llu: driver %s is no printer's; not stored",
			    (unsigned long long)set->generation, hex);
			continue;
		}
		for (size_t k = 0; k < b->n && !twice; k++)
			twice = memcmp(b->v[k].sha, d->sha256.data, HASH_LEN) == 0;
		snprintf(path, sizeof(path), "%s/%s.ppd", a->drivers_dir, hex);
		if (twice || access(path, F_OK) == 0)
			continue;
		if ((v->data = malloc(d->data.len ? d->data.len : 1)) == NULL)
			break;
		memcpy(v->data, d->data.data, d->data.len);
		memcpy(v->sha, d->sha256.data, HASH_LEN);
		v->len = d->data.len;
		v->size = d->size;
		v->zlib = d->compression == PRINTREDIR__COMPRESSION__COMPRESSION_ZLIB;
		b->n++;
	}
	return b;
}

static void
blobs_unref(struct blobs *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].data);
	free(b);
}

/*
 * After a pass: stores what it did not (a driver no printer of it needed,
 * or a pass that did not get so far; not what a crash left under a
 * temporary name), and makes every driver of b durable under its name, for
 * one wait on the disk rather than two for each driver (statefile_commit).
 * A crash before leaves no driver under its name, only temporary files that
 * collect_drivers() removes: none is announced to the broker damaged, and
 * it sends them again.  When the wish's drivers are all stored, it lets go
 * of them.
 */
static void
store_blobs(struct agent *a, struct blobs *b)
{
	const char **paths;
	char (*path)[4200], hex[HASH_HEX_LEN], err[512];
	size_t n = 0;
	int rc = 0;

	if (b == NULL || b->n == 0)
		goto out;
	rc = -ENOMEM;
	paths = calloc(b->n, sizeof(*paths));
	path = calloc(b->n, sizeof(*path));
	for (size_t i = 0; paths != NULL && path != NULL && i < b->n; i++) {
		hash_hex(b->v[i].sha, hex);
		snprintf(path[n], sizeof(path[n]), "%s/%s.ppd", a->drivers_dir, hex);
		if (access(path[n], F_OK) == 0)
			continue;	/* a pass before stored it */
		if (!b->v[i].staged && driver_stage(&a->conf, a->drivers_dir, b,
		    b->v[i].sha, NULL, NULL, err, sizeof(err)) != 0) {
			log_warnx("%s", err);
			continue;
		}
		paths[n] = path[n];
		n++;
	}
	if (paths != NULL && path != NULL)
		rc = statefile_commit(paths, n);
	for (size_t i = 0; i < b->n; i++)
		b->v[i].staged = 0;	/* committed, or gone with the failure */
	if (rc != 0)
		log_warnx("cannot store the drivers of the last printer set: %s",
		    strerror(-rc));
	free(paths);
	free(path);
out:
	if (b != NULL && b == a->wish.blobs && rc == 0) {
		blobs_unref(a->wish.blobs);
		a->wish.blobs = NULL;
	}
}

/* 1 when a printer of the wish uses driver sha. */
static int
wished(const struct agent *a, const uint8_t sha[HASH_LEN])
{
	for (size_t i = 0; i < a->wish.n; i++)
		if (memcmp(a->wish.want[i].sha, sha, HASH_LEN) == 0)
			return 1;
	return 0;
}

/*
 * Removes the drivers no printer of the wish uses, so that the cache holds
 * no more than the broker's last set (CODEC_MAX_DRIVERS), and the temporary
 * files a crash left.  Only between passes: the worker reads and writes
 * drivers_dir.
 */
static void
collect_drivers(struct agent *a)
{
	DIR *d = opendir(a->drivers_dir);
	struct dirent *e;
	uint8_t sha[HASH_LEN];
	char path[sizeof(a->drivers_dir) + sizeof(e->d_name) + 1];
	size_t n = 0;

	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		int tmp = len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0;
		char name[sizeof(e->d_name)];

		/* A temporary file here is a crash's (statefile_stage(), or a
		 * pass's guest copy): no write is under way between passes. */
		snprintf(name, sizeof(name), "%.*s", (int)(tmp ? len - 4 : len),
		    e->d_name);
		if (driver_file(name, 1, sha) != 0 || (!tmp && wished(a, sha)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->drivers_dir, e->d_name);
		if (unlink(path) == 0)
			n++;
		else
			log_warnx("cannot remove %s: %s", path, strerror(errno));
	}
	if (d)
		closedir(d);
	if (n > 0)
		log_info("%zu driver file%s no printer uses removed from the cache",
		    n, n == 1 ? "" : "s");
}

/* --- state and reports -------------------------------------------------------- */

static void
save(struct agent *a)
{
	struct state s = {
		.guest_id = a->conf.guest_id, .wish = &a->wish, .applied = &a->applied,
		.link = &a->link_status, .restart = &a->restart,
	};

	state_save(a->conf.state_dir, &s);
}

/*
 * Sends the last install report if the broker has not had it.  Not while a
 * pass may change it, but during a check: that reports again only what it
 * finds changed.  1 when it went out (and the state is saved so).
 */
/* What an installed printer's guest queue shows, for the report. */
struct shown {
	Printredir__PrinterCondition c;
	char *reasons[CODEC_MAX_REASONS];
	char *buf;
};

/* The condition the agent gave printer name's queue, from the wish; NULL
 * when it can print (idle, accepting, no reason). */
static Printredir__PrinterCondition *
shown_condition(const struct agent *a, const char *name, struct shown *s)
{
	const struct want *w = NULL;
	char *save = NULL;

	for (size_t i = 0; i < a->wish.n && w == NULL; i++)
		if (strcmp(a->wish.want[i].name, name) == 0)
			w = &a->wish.want[i];
	if (w == NULL || (!w->stopped && !w->rejecting && !(w->reasons && *w->reasons)))
		return NULL;
	printredir__printer_condition__init(&s->c);
	s->c.has_stopped = s->c.stopped = w->stopped != 0;
	s->c.has_rejecting = s->c.rejecting = w->rejecting != 0;
	s->c.message = w->message && *w->message &&
	    codec_text_ok(w->message, CODEC_MAX_VALUE, 1) ? w->message : NULL;
	if ((s->buf = strdup(w->reasons ? w->reasons : "")) != NULL)
		for (char *r = strtok_r(s->buf, " ", &save); r &&
		    s->c.n_reasons < CODEC_MAX_REASONS; r = strtok_r(NULL, " ", &save))
			if (codec_keyword_ok(r))
				s->reasons[s->c.n_reasons++] = r;
	s->c.reasons = s->reasons;
	return &s->c;
}

static int
flush_report(struct agent *a)
{
	codec_env_t env;
	Printredir__InstallReport r = PRINTREDIR__INSTALL_REPORT__INIT;
	Printredir__PrinterReport *v, **pv;
	struct shown *cond = NULL;
	const struct applied *ap = &a->applied;
	int sent = 0;

	if (!ap->report_pending || (a->apply.busy && !a->apply.checking))
		return 0;
	v = calloc(ap->n + 1, sizeof(*v));
	pv = calloc(ap->n + 1, sizeof(*pv));
	if (v == NULL || pv == NULL)
		goto out;
	cond = calloc(ap->n + 1, sizeof(*cond));
	if (cond == NULL)
		goto out;
	for (size_t i = 0; i < ap->n; i++) {
		printredir__printer_report__init(&v[i]);
		v[i].name = ap->results[i].name;
		v[i].has_state = 1;
		v[i].state = ap->results[i].state;
		v[i].detail = ap->results[i].detail;
		v[i].guest_queue = ap->results[i].queue && *ap->results[i].queue ?
		    ap->results[i].queue : NULL;
		if (ap->results[i].state == PRINTREDIR__PRINTER_STATE__PRINTER_INSTALLED)
			v[i].condition = shown_condition(a, ap->results[i].name, &cond[i]);
		pv[i] = &v[i];
	}
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT);
	env.install_report = &r;
	r.has_generation = 1;
	r.generation = ap->gen ? ap->gen : a->wish.gen;
	r.n_printers = ap->n;
	r.printers = pv;
	r.default_printer = ap->dflt.now[0] ? (char *)ap->dflt.now : NULL;
	r.default_detail = ap->dflt.detail[0] ? (char *)ap->dflt.detail : NULL;
	r.has_dry_run = a->dry_run;
	r.dry_run = a->dry_run;
	if (link_send(a->link, &env) == 0) {
		a->applied.report_pending = 0;
		save(a);
		sent = 1;
	}
out:
	for (size_t i = 0; cond && i < ap->n; i++)
		free(cond[i].buf);
	free(cond);
	free(v);
	free(pv);
	return sent;
}

/* Sends the restart state if the broker has not had it. */
static void
flush_restart(struct agent *a)
{
	codec_env_t env;
	Printredir__RestartState rs = PRINTREDIR__RESTART_STATE__INIT;
	struct restart *r = &a->restart;

	if (!r->report_pending || r->phase == 0)
		return;
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_RESTART_STATE);
	env.restart_state = &rs;
	rs.has_phase = 1;
	rs.phase = r->phase;
	rs.has_until = r->until != 0;
	rs.until = r->until;
	rs.has_deferrals = 1;
	rs.deferrals = r->deferrals;
	rs.detail = r->detail;
	rs.has_generation = 1;
	rs.generation = r->generation;
	if (link_send(a->link, &env) == 0) {
		r->report_pending = 0;
		save(a);
	}
}

/* --- the restart policy's actions ---------------------------------------------- */

static void restart_event(struct agent *a, struct restart_input *in);

static void
on_restart_timer(uv_timer_t *t)
{
	struct restart_input in = { .event = RESTART_EV_TIMER };

	restart_event(t->data, &in);
}

/* Keeps the one timer in step with restart.timer_at. */
static void
sync_timer(struct agent *a)
{
	struct timespec ts;
	int64_t ms;

	if (a->stopping)
		return;
	if (a->restart.timer_at == 0) {
		uv_timer_stop(&a->restarter.timer);
		return;
	}
	/* timer_at is wall-clock seconds, as persisted. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = a->restart.timer_at * 1000 - ((int64_t)ts.tv_sec * 1000 +
	    ts.tv_nsec / 1000000);
	uv_timer_start(&a->restarter.timer, on_restart_timer,
	    ms > 0 ? (uint64_t)ms : 0, 0);
}

static void
on_restart_exit(uv_process_t *p, int64_t status, int signo)
{
	struct agent *a = p->data;
	struct restart_input in = { .event = RESTART_EV_EXITED, .status = status,
	    .signo = signo };

	a->restarter.running = 0;
	uv_close((uv_handle_t *)p, NULL);
	if (status == 0 && signo == 0)
		log_info("restart command finished; waiting for the new boot");
	if (!a->stopping)
		restart_event(a, &in);
}

/* Runs the restart command, split on blanks: the administrator's words,
 * never a shell's, and nothing from the wire. */
static void
run_restart(struct agent *a)
{
	char cmd[1024], *argv[33], *save_ptr = NULL, *tok;
	uv_process_options_t opt = { 0 };
	struct restart_input in = { .event = RESTART_EV_EXITED };
	int argc = 0, rc;

	if (a->restarter.running)
		return;
	snprintf(cmd, sizeof(cmd), "%s", a->conf.restart_command);
	for (tok = strtok_r(cmd, " \t", &save_ptr); tok && argc < 32;
	    tok = strtok_r(NULL, " \t", &save_ptr))
		argv[argc++] = tok;
	argv[argc] = NULL;
	opt.file = argv[0];
	opt.args = argv;
	opt.exit_cb = on_restart_exit;
	a->restarter.proc.data = a;
	if (argc == 0 || (rc = uv_spawn(a->loop, &a->restarter.proc, &opt)) != 0) {
		if (argc > 0)
			uv_close((uv_handle_t *)&a->restarter.proc, NULL);
		in.error = argc == 0 ? "the command is empty" : uv_strerror(rc);
		restart_event(a, &in);
		return;
	}
	a->restarter.running = 1;
}

static void restart_event(struct agent *a, struct restart_input *in);

/* Tells the policy which applications run, and in which sessions. */
static void
check_apps(struct agent *a)
{
	static struct app unknown = { .uid = -1, .name = "(unknown)" };
	struct restart_input in = { .event = RESTART_EV_APPS };
	struct app *apps = NULL;
	char **names = NULL, *unknown_name[1] = { unknown.name };
	size_t napps = 0, n = 0;

	if (apps_running("/proc", a->conf.apps_uid_min, a->conf.apps_ignore,
	    &apps, &napps) != 0 || (names = calloc(napps + 1, sizeof(*names))) == NULL) {
		/* Never restart silently on a guess: ask every session. */
		log_warn("cannot list running applications; asking the user");
		a->apps = &unknown;
		a->napps = 1;
		in.apps = unknown_name;
		in.napps = 1;
	} else {
		/* The policy names each application once, whoever runs it. */
		for (size_t i = 0; i < napps; i++)
			if (n == 0 || strcmp(names[n - 1], apps[i].name) != 0)
				names[n++] = apps[i].name;
		a->apps = apps;
		a->napps = napps;
		in.apps = names;
		in.napps = n;
	}
	restart_event(a, &in);
	a->apps = NULL;
	a->napps = 0;
	free(names);
	apps_free(apps, napps);
}

/* Asks the restart policy and does what it says. */
static void
restart_event(struct agent *a, struct restart_input *in)
{
	const struct restart_policy pol = {
		.enabled = a->conf.restart_command[0] != '\0',
		.command = a->conf.restart_command,
		.defer_interval = a->conf.defer_interval,
		.max_deferrals = a->conf.max_deferrals,
		.deadline = a->conf.deadline,
		.countdown = a->conf.countdown,
	};
	struct restart_actions act;
	struct timespec ts;

	/* The clock sync_timer arms the timer by: time() may still say the
	 * second before (it reads a coarser clock), and a timer due now would
	 * be an early tick, armed again at 0 ms, a thousand times a tick. */
	clock_gettime(CLOCK_REALTIME, &ts);
	in->now = ts.tv_sec;
	/* On applications, only the trays of their sessions can be asked. */
	in->ntrays = in->event == RESTART_EV_APPS ?
	    tray_count_concerned(a->trays, a->apps, a->napps) : tray_count(a->trays);
	in->boot_id = a->boot_id;
	log_debug("restart event %s in phase %s", restart_event_name(in->event),
	    codec_restart_phase_name(a->restart.phase));
	restart_step(&a->restart, &pol, in, &act);
	if (act.todo & RESTART_DO_IGNORED)
		log_debug("restart: ignoring an answer to prompt %llu",
		    (unsigned long long)in->prompt_id);
	if (act.todo & RESTART_DO_REPORT) {
		log_info("restart %s: %s", codec_restart_phase_name(a->restart.phase),
		    a->restart.detail);
		save(a);
		flush_restart(a);
	}
	if (act.todo & RESTART_DO_COUNTDOWN)
		tray_countdown(a->trays, a->conf.countdown, a->restart.printers);
	/* The policy prompts only when in->ntrays trays can ask: these. */
	if (act.todo & RESTART_DO_PROMPT)
		tray_prompt(a->trays, a->restart.prompt_id, a->restart.printers,
		    a->apps, a->napps);
	sync_timer(a);
	if (act.todo & RESTART_DO_RUN)
		run_restart(a);
	if (act.todo & RESTART_DO_CHECK_APPS)
		check_apps(a);
}

static void
on_tray_count(void *data, int ntrays)
{
	struct restart_input in = { .event = RESTART_EV_TRAYS };

	(void)ntrays;	/* restart_event counts them itself */
	restart_event(data, &in);
}

static void
on_tray_answer(void *data, uint64_t id, int now)
{
	struct restart_input in = { .event = RESTART_EV_ANSWER, .prompt_id = id,
	    .restart_now = now };

	restart_event(data, &in);
}

static const struct tray_ops tray_ops = {
	.on_count = on_tray_count, .on_answer = on_tray_answer,
};

/* --- applying, on a worker thread ---------------------------------------------- */

struct job {
	struct agent *a;
	struct want *want;
	size_t nwant;
	uint64_t gen;
	int redirection;
	int recheck;
	char policy[HASH_HEX_LEN];	/* the pass's (agent_policy) */
	int check;			/* a periodic look: silent when nothing changed */
	struct guest_default dflt;	/* in and out */
	struct result *results;
	size_t nresults;
	int rc;
	struct blobs *blobs;		/* the wish's drivers not stored yet */
};

static void apply(struct agent *a);
static void reload(struct agent *a);

/* --dry-run: what a pass says without a CUPS; nothing changes. */
static int
dry_apply(const struct want *want, size_t n, struct result **out, size_t *nout)
{
	struct result *r = calloc(n + 1, sizeof(*r));

	*out = r;
	*nout = 0;
	if (r == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct want *w = &want[i];
		/* The report says once that the agent runs dry (dry_run),
		 * not once a printer. */
		const char *detail = "";

		r[i].state = PRINTREDIR__PRINTER_STATE__PRINTER_PENDING;
		if (w->invalid) {
			r[i].state = PRINTREDIR__PRINTER_STATE__PRINTER_FAILED;
			detail = w->invalid;
		} else if (w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_MISSING) {
			r[i].state = PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_MISSING;
			detail = w->detail ? w->detail : "";
		} else if (w->driver == PRINTREDIR__DRIVER_STATE__DRIVER_REJECTED) {
			r[i].state = PRINTREDIR__PRINTER_STATE__PRINTER_DRIVER_REJECTED;
			detail = w->detail ? w->detail : "";
		}
		r[i].name = strdup(w->name);
		r[i].detail = strdup(detail);
		*nout = i + 1;
		if (r[i].name == NULL || r[i].detail == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int
stage_for_pass(const struct install_ctx *ctx, const uint8_t sha[HASH_LEN],
    char **out, size_t *len, char *err, size_t errlen)
{
	return driver_stage(ctx->conf, ctx->drivers_dir, ctx->blobs, sha, out, len,
	    err, errlen);
}

static void
work(uv_work_t *req)
{
	struct job *j = req->data;
	struct install_ctx ctx = {
		.conf = &j->a->conf, .drivers_dir = j->a->drivers_dir, .recheck = j->recheck,
		.blobs = j->blobs, .stage_driver = stage_for_pass,
	};
	size_t n = j->redirection ? j->nwant : 0;

	if (j->a->dry_run)
		j->rc = dry_apply(j->want, n, &j->results, &j->nresults);
	else
		j->rc = install_apply(&ctx, j->want, n, &j->results, &j->nresults,
		    &j->dflt);
}

static void
on_retry(uv_timer_t *t)
{
	apply(t->data);
}

/* Arms the retry timer: 1 s, then doubling up to max_ms. */
static void
backoff(struct agent *a, unsigned max_ms)
{
	struct applier *ap = &a->apply;

	ap->retry_ms = ap->retry_ms ? ap->retry_ms * 2 : RETRY_MIN_MS;
	if (ap->retry_ms > max_ms)
		ap->retry_ms = max_ms;
	if (!a->stopping)
		uv_timer_start(&ap->retry, on_retry, ap->retry_ms, 0);
}

/* Only a pass that added or changed a queue needs a restart. */
static void
need_restart(struct agent *a, uint64_t gen)
{
	struct restart_input in = { .event = RESTART_EV_CHANGED, .generation = gen };
	char names[512] = "";
	size_t o = 0, n = 0;

	for (size_t i = 0; i < a->applied.n; i++) {
		if (!a->applied.results[i].changed)
			continue;
		if (o + 4 < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
			    n ? ", " : "", a->applied.results[i].name);
		n++;
	}
	if (n == 0)
		return;
	in.printers = names;
	restart_event(a, &in);
}

/* Whether a pass's report x gives each printer the state and queue the last
 * one, y, gave it, and the pass changed no queue.  (Details may differ in
 * words: "installed" after "updated".) */
static int
same_results(const struct result *x, size_t nx, const struct result *y, size_t ny)
{
	if (nx != ny)
		return 0;
	for (size_t i = 0; i < nx; i++)
		if (x[i].state != y[i].state || x[i].changed ||
		    strcmp(x[i].name, y[i].name) != 0 ||
		    strcmp(x[i].queue ? x[i].queue : "", y[i].queue ? y[i].queue : "") != 0)
			return 0;
	return 1;
}

/* What waited for the pass that just ended: a reload, or another pass. */
static void
after_pass(struct agent *a)
{
	if (a->stopping)
		return;
	if (a->apply.reload) {
		/* reload() applies again when it takes the new configuration. */
		a->apply.reload = 0;
		a->apply.again = 0;
		reload(a);
	} else if (a->apply.again) {
		a->apply.again = 0;
		apply(a);
	}
}

/*
 * A recheck ended: every driver of the agent's queues has been checked under
 * the pass's policy, but those it could not read (not here, or damaged),
 * which the next pass checks again.
 */
static void
recheck_done(struct agent *a, const struct job *j)
{
	for (size_t i = 0; i < j->nresults; i++)
		if (j->results[i].unchecked) {
			a->apply.recheck = 1;
			return;
		}
	memcpy(a->applied.policy, j->policy, sizeof(a->applied.policy));
}

static void
after_work(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct agent *a = j->a;
	struct applied *ap = &a->applied;
	size_t nfailed = 0;

	(void)status;
	a->apply.busy = 0;
	a->apply.checking = 0;
	if (j->check && j->rc == 0 && j->gen == ap->gen && j->redirection == ap->redirection &&
	    same_results(j->results, j->nresults, ap->results, ap->n) &&
	    memcmp(&j->dflt, &ap->dflt, sizeof(j->dflt)) == 0) {
		/* The periodic look found the guest's CUPS as the last pass left it. */
		result_free(j->results, j->nresults);
		want_free(j->want, j->nwant);
		store_blobs(a, j->blobs);
		blobs_unref(j->blobs);
		free(j);
		after_pass(a);
		return;
	}
	if (j->check && j->rc == 0)
		log_info("the guest's CUPS no longer holds what the last pass left "
		    "(restarted?): applying generation %llu again", (unsigned long long)j->gen);
	result_free(ap->results, ap->n);
	ap->results = j->results;
	ap->n = j->nresults;
	ap->gen = j->gen;
	ap->redirection = j->redirection;
	ap->report_pending = 1;
	if (j->rc == 0)
		ap->dflt = j->dflt;
	for (size_t i = 0; i < j->nresults; i++)
		nfailed += j->results[i].state == PRINTREDIR__PRINTER_STATE__PRINTER_FAILED;
	if (j->rc == -EHOSTDOWN) {
		backoff(a, RETRY_MAX_MS);
		log_warnx("guest print service unavailable; trying again in %u s",
		    a->apply.retry_ms / 1000);
		/* Not applied after all: a restart must try again. */
		ap->gen = 0;
		a->apply.recheck |= j->recheck;
	} else {
		log_info("generation %llu applied (%zu reports)",
		    (unsigned long long)j->gen, j->nresults);
		/* Any other pass runs under the policy of the last recheck: a
		 * policy change makes the next pass one. */
		if (j->recheck && !a->dry_run)
			recheck_done(a, j);
		if (nfailed > 0) {
			/* Each pass is idempotent: the next one redoes only these. */
			backoff(a, FAILED_RETRY_MAX_MS);
			log_warnx("%zu printer%s failed to install; trying again in %u s",
			    nfailed, nfailed == 1 ? "" : "s", a->apply.retry_ms / 1000);
		} else {
			a->apply.retry_ms = 0;
		}
	}
	/* The report first: should the agent stop before the state is saved,
	 * its next start only reports the same again. */
	if (!flush_report(a))
		save(a);
	/* Before collect_drivers() takes the staged ones for a crash's. */
	store_blobs(a, j->blobs);
	blobs_unref(j->blobs);
	if (j->rc == 0 && !a->stopping) {
		need_restart(a, j->gen);
		collect_drivers(a);
	}
	want_free(j->want, j->nwant);
	free(j);
	after_pass(a);
}

static void start_pass(struct agent *a, int check);

/* Starts (or queues) applying the current wish to the guest's CUPS. */
static void
apply(struct agent *a)
{
	start_pass(a, 0);
}

/* Every CHECK_MS, when nothing else is under way, the same pass again: it
 * puts back what the guest's CUPS lost, and says nothing when it finds all
 * as it was. */
static void
on_check(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->apply.busy || a->wish.gen == 0 || a->applied.gen != a->wish.gen ||
	    uv_is_active((uv_handle_t *)&a->apply.retry))
		return;
	start_pass(a, 1);
}

static void
start_pass(struct agent *a, int check)
{
	struct job *j;

	if (a->stopping)
		return;
	if (a->apply.busy) {
		a->apply.again = 1;
		return;
	}
	uv_timer_stop(&a->apply.retry);
	j = calloc(1, sizeof(*j));
	if (j == NULL || want_copy(a->wish.want, a->wish.n, &j->want) != 0) {
		free(j);
		log_warnx("out of memory; the printer set is applied later");
		backoff(a, RETRY_MAX_MS);
		return;
	}
	j->a = a;
	j->nwant = a->wish.n;
	j->gen = a->wish.gen;
	j->redirection = a->conf.redirection;
	j->recheck = a->apply.recheck;
	j->check = check && !j->recheck;
	j->dflt = a->applied.dflt;
	if ((j->blobs = a->wish.blobs) != NULL)
		j->blobs->refs++;
	agent_policy(&a->conf, j->policy);
	a->apply.recheck = 0;
	a->apply.work.data = j;
	a->apply.busy = 1;
	a->apply.checking = j->check;
	uv_queue_work(a->loop, &a->apply.work, work, after_work);
}

/* --- the broker link's callbacks ------------------------------------------------- */

static void
on_link_up(void *data, const char *broker_id)
{
	struct agent *a = data;
	uint8_t (*hashes)[HASH_LEN] = NULL;
	size_t n;

	(void)broker_id;
	a->link_status.up = 1;
	a->link_status.error[0] = '\0';
	a->link_status.since = time(NULL);
	save(a);
	/* The drivers held first: the broker then sends no byte of them. */
	n = held_drivers(a, &hashes);
	link_send_inventory(a->link, (const uint8_t (*)[HASH_LEN])hashes, n);
	free(hashes);
	/* What the broker may have missed while the link was down. */
	flush_report(a);
	flush_restart(a);
}

static void
on_link_down(void *data, const char *reason, int was_up)
{
	struct agent *a = data;

	/* A broker that stays away fails the same way every few seconds:
	 * write the state only when something changed. */
	if (!was_up && strcmp(a->link_status.error, reason) == 0)
		return;
	snprintf(a->link_status.error, sizeof(a->link_status.error), "%s", reason);
	if (was_up) {
		a->link_status.up = 0;
		a->link_status.since = time(NULL);
		jobsock_link_down(a->jobs);
	}
	save(a);
}

static void
on_job(void *data, const codec_env_t *env)
{
	struct agent *a = data;

	jobsock_on_message(a->jobs, env);
}

/* A validated PrinterSet from the broker, its drivers staged: make it the
 * wish, apply it. */
/* A condition's reasons, space-separated ("" none); NULL when out of memory. */
static char *
join_reasons(const Printredir__PrinterCondition *c)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; c && i < c->n_reasons; i++)
		len += strlen(c->reasons[i]) + 1;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	for (size_t i = 0; c && i < c->n_reasons; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, c->reasons[i]);
	}
	return s;
}

/* Options as "name=value" lines; NULL when out of memory. */
static char *
join_options(Printredir__JobOption *const *v, size_t n)
{
	size_t len = 1, o = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]->name) + strlen(v[i]->value) + 2;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s=%s\n", v[i]->name, v[i]->value);
	return s;
}

static void
take_set(struct agent *a, const Printredir__PrinterSet *set, struct blobs *blobs)
{
	struct want *v;
	size_t n = set->n_printers, k = 0;
	char (*invalid)[256];
	char **joined;

	if (set->generation == a->wish.gen && a->applied.gen == a->wish.gen &&
	    a->applied.redirection == a->conf.redirection && a->applied.n > 0) {
		/* A replay: nothing to do but make sure the broker has the report. */
		log_debug("generation %llu again: already applied",
		    (unsigned long long)set->generation);
		a->applied.report_pending = 1;
		flush_report(a);
		store_blobs(a, blobs);
		blobs_unref(blobs);
		return;
	}
	v = calloc(n + 1, sizeof(*v));
	invalid = calloc(n + 1, sizeof(*invalid));
	joined = calloc(3 * n + 1, sizeof(*joined));
	if (v == NULL || invalid == NULL || joined == NULL) {
		free(v);
		free(invalid);
		free(joined);
		blobs_unref(blobs);
		return;
	}
	for (size_t i = 0; i < set->n_printers; i++) {
		const Printredir__Printer *p = set->printers[i];
		const struct want w = {
			.name = p->name,
			.host_device_uri = p->host_device_uri, .make_model = p->make_model,
			.info = p->info, .location = p->location, .detail = p->detail,
			.driver = p->driver_state, .is_default = p->is_default,
			.generic = p->generic_driver,
			.stopped = p->condition && p->condition->stopped,
			.rejecting = p->condition && p->condition->rejecting,
			.message = p->condition ? p->condition->message : NULL,
		};
		char err[256];

		if (codec_check_printer_name(p, err, sizeof(err)) != 0) {
			/* Nothing to report it under: the broker's log says it. */
			log_warnx("generation %llu: a printer refused: %s",
			    (unsigned long long)set->generation, err);
			n--;
			continue;
		}
		v[k] = w;
		if (codec_check_printer(p, err, sizeof(err)) != 0) {
			/* Only its name, and why, go further. */
			v[k] = (struct want){ .name = p->name, .invalid = invalid[k] };
			snprintf(invalid[k], sizeof(invalid[k]), "%s", err);
			k++;
			continue;
		}
		if (p->has_driver_sha256 && p->driver_sha256.len == HASH_LEN)
			memcpy(v[k].sha, p->driver_sha256.data, HASH_LEN);
		v[k].reasons = joined[3 * k] = join_reasons(p->condition);
		v[k].defaults = joined[3 * k + 1] = join_options(p->defaults, p->n_defaults);
		v[k].ppd_defaults = joined[3 * k + 2] = join_options(p->ppd_defaults,
		    p->n_ppd_defaults);
		k++;
	}
	/* v borrows the message's strings: copy it into the wish. */
	want_free(a->wish.want, a->wish.n);
	a->wish.want = NULL;
	a->wish.n = 0;
	if (want_copy(v, n, &a->wish.want) == 0)
		a->wish.n = n;
	for (size_t i = 0; i < 3 * n; i++)
		free(joined[i]);
	free(joined);
	free(v);
	free(invalid);
	a->wish.gen = set->generation;
	blobs_unref(a->wish.blobs);
	a->wish.blobs = blobs;
	log_info("generation %llu from the broker: %zu printers",
	    (unsigned long long)set->generation, n);
	save(a);
	apply(a);
}

/*
 * A validated PrinterSet from the broker: it becomes the wish, applied.  The
 * drivers its printers use are stored by the pass as it needs them, and the
 * rest after it (store_blobs): cupsd takes the first queue while the others'
 * drivers are still being unpacked.
 */
static void
on_printer_set(void *data, const Printredir__PrinterSet *set)
{
	struct agent *a = data;

	take_set(a, set, blobs_of_set(a, set));
}

static const struct link_ops link_ops = {
	.on_up = on_link_up, .on_down = on_link_down,
	.on_printer_set = on_printer_set, .on_job = on_job,
};

static int
on_job_frame(void *data, const codec_env_t *env)
{
	struct agent *a = data;

	return link_send(a->link, env);
}

static const struct jobsock_ops jobsock_ops = { .send = on_job_frame };

/* --- start, reload, stop ------------------------------------------------------------ */

static void
read_boot_id(struct agent *a)
{
	char *text = NULL;
	int rc;

	a->boot_id[0] = '\0';
	if ((rc = statefile_read(a->conf.boot_id_file, 256, &text, NULL)) != 0) {
		log_warnx("cannot read boot_id_file %s: %s", a->conf.boot_id_file,
		    strerror(-rc));
		return;
	}
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(a->boot_id, sizeof(a->boot_id), "%s", text);
	free(text);
}

int
agent_start(struct agent *a)
{
	struct state s = {
		.wish = &a->wish, .applied = &a->applied, .link = &a->link_status,
		.restart = &a->restart,
	};
	const struct link_config lc = {
		.broker = a->conf.broker, .guest_id = a->conf.guest_id,
		.frame_cap = (size_t)a->conf.frame_cap,
	};
	struct link_config cfg = lc;
	struct restart_input start = { .event = RESTART_EV_START };
	struct jobsock_config jc;
	char err[1024], policy[HASH_HEX_LEN];
	int rc;

	if ((rc = auth_load_key(a->conf.key_file, &a->key, &a->keylen, err,
	    sizeof(err))) != 0) {
		/* The packages make no key: say where this guest's comes from. */
		if (rc == -ENOENT)
			log_warnx("%s: this guest needs its key; on the host, run "
			    "host-broker keygen -o FILE %s, and copy FILE here as %s "
			    "(chmod 600)", err, a->conf.guest_id, a->conf.key_file);
		else
			log_warnx("%s", err);
		return 2;
	}
	snprintf(a->drivers_dir, sizeof(a->drivers_dir), "%s/drivers", a->conf.state_dir);
	if ((rc = statefile_mkdirs(a->conf.state_dir, 0700)) != 0 ||
	    (rc = statefile_mkdirs(a->drivers_dir, 0700)) != 0) {
		log_warnx("cannot create %s: %s", a->drivers_dir, strerror(-rc));
		return 1;
	}
	/* A fresh agent has applied nothing, with redirection on: it need not
	 * apply anything before the broker speaks, unless it is off. */
	a->applied.redirection = 1;
	state_load(a->conf.state_dir, &s);
	read_boot_id(a);
	uv_timer_init(a->loop, &a->apply.retry);
	a->apply.retry.data = a;
	uv_timer_init(a->loop, &a->apply.check);
	a->apply.check.data = a;
	uv_timer_start(&a->apply.check, on_check, CHECK_MS, CHECK_MS);
	uv_unref((uv_handle_t *)&a->apply.check);
	uv_timer_init(a->loop, &a->restarter.timer);
	a->restarter.timer.data = a;
	a->started = 1;
	log_info("printredir %s agent \"%s\" started%s", PRINTREDIR_VERSION,
	    a->conf.guest_id, a->dry_run ? " (dry run: no CUPS is touched, "
	    "printers are reported pending)" : "");
	/* Finish what a previous run left: a restart under way, a wish not
	 * applied or lost by the guest's CUPS, a report not delivered, or a
	 * redirection switch. */
	a->trays = tray_start(a->loop, &a->conf.tray_socket, a->conf.apps_uid_min,
	    &tray_ops, a);
	jc.sock = a->conf.job_socket;
	jc.backend_user = a->conf.backend_user;
	jc.cups = a->conf.cups;
	a->jobs = jobsock_start(a->loop, &jc, &jobsock_ops, a);
	restart_event(a, &start);
	/* Also when everything was applied: the guest's CUPS may have lost
	 * queues since (a machine reset before cupsd wrote its configuration),
	 * and a check puts back only what is missing, while the report goes
	 * out as saved.  The installed drivers are checked again (a parse
	 * each) only under a policy they were not checked under: a new agent
	 * or new settings. */
	agent_policy(&a->conf, policy);
	a->apply.recheck = strcmp(a->applied.policy, policy) != 0;
	if (a->wish.gen != 0 || a->wish.gen != a->applied.gen ||
	    a->applied.redirection != a->conf.redirection)
		start_pass(a, a->wish.gen == a->applied.gen &&
		    a->applied.redirection == a->conf.redirection);
	cfg.key = a->key;
	cfg.keylen = a->keylen;
	if ((a->link = link_start(a->loop, &cfg, &link_ops, a)) == NULL) {
		log_warnx("out of memory");
		return 1;
	}
	return 0;
}

static void
swap_str(char **x, char **y)
{
	char *t = *x;

	*x = *y;
	*y = t;
}

/* Takes the configuration from conf_path; the install worker must be idle,
 * since it reads a->conf. */
static void
reload(struct agent *a)
{
	struct agent_conf conf;
	char err[1024];

	if (agent_load_conf(a->conf_path, &conf, err, sizeof(err)) != 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return;
	}
	/* redirection, filter_dir, cups, max_ppd and [restart]
	 * change live; the rest at the next start. */
	if (memcmp(&conf.broker, &a->conf.broker, sizeof(conf.broker)) != 0 ||
	    memcmp(&conf.tray_socket, &a->conf.tray_socket, sizeof(conf.tray_socket)) != 0 ||
	    memcmp(&conf.job_socket, &a->conf.job_socket, sizeof(conf.job_socket)) != 0 ||
	    strcmp(conf.backend_user, a->conf.backend_user) != 0 ||
	    strcmp(conf.state_dir, a->conf.state_dir) != 0 ||
	    strcmp(conf.key_file, a->conf.key_file) != 0 ||
	    strcmp(conf.guest_id, a->conf.guest_id) != 0)
		log_warnx("reload: broker, tray_socket, job_socket, backend_user, "
		    "state_dir, key_file and guest_id take effect at the next start");
	conf.broker = a->conf.broker;
	conf.tray_socket = a->conf.tray_socket;
	conf.job_socket = a->conf.job_socket;
	swap_str(&conf.backend_user, &a->conf.backend_user);
	swap_str(&conf.state_dir, &a->conf.state_dir);
	swap_str(&conf.key_file, &a->conf.key_file);
	swap_str(&conf.guest_id, &a->conf.guest_id);
	/* A stricter policy applies to what is installed too. */
	if (conf.max_ppd != a->conf.max_ppd || strcmp(conf.filter_dir, a->conf.filter_dir) != 0)
		a->apply.recheck = 1;
	agent_free_conf(&a->conf);
	a->conf = conf;
	log_info("configuration reloaded from %s (redirection %s)", a->conf_path,
	    a->conf.redirection ? "on" : "off");
	apply(a);
}

void
agent_reload(struct agent *a)
{
	if (a->stopping)
		return;
	if (a->apply.busy) {
		log_info("reload: an install pass is running; the new configuration "
		    "is taken when it ends");
		a->apply.reload = 1;
		return;
	}
	reload(a);
}

static void
close_timer(uv_timer_t *t)
{
	if (t->loop && !uv_is_closing((uv_handle_t *)t))
		uv_close((uv_handle_t *)t, NULL);
}

void
agent_stop(struct agent *a)
{
	if (a->stopping)
		return;
	a->stopping = 1;
	close_timer(&a->restarter.timer);
	close_timer(&a->apply.retry);
	close_timer(&a->apply.check);
	tray_stop(a->trays);
	a->trays = NULL;
	jobsock_stop(a->jobs);
	a->jobs = NULL;
	link_stop(a->link);
	a->link = NULL;
}

void
agent_free(struct agent *a)
{
	struct state s = {
		.wish = &a->wish, .applied = &a->applied, .link = &a->link_status,
		.restart = &a->restart,
	};

	/* Not stored: the next connection's inventory lacks them, and the
	 * broker sends them again. */
	blobs_unref(a->wish.blobs);
	a->wish.blobs = NULL;
	if (a->started) {
		a->link_status.up = 0;
		save(a);
	}
	state_free(&s);
	agent_free_conf(&a->conf);
	free(a->key);
	a->key = NULL;
}
