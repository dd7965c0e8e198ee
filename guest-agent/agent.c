/*
 * The agent's core: its configuration, the broker's wish (the latest
 * printer set), the drivers it brought, and applying the wish to the guest's
 * CUPS on a worker thread, one pass at a time, reporting each pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "compress.h"
#include "conf.h"
#include "log.h"
#include "statefile.h"

#define OFF(f) offsetof(struct agent_conf, f)
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000		/* guest CUPS unavailable */
#define FAILED_RETRY_MAX_MS 300000	/* some printers failed to install */

static const struct conf_key agent_keys[] = {
	{ "agent", "broker", CONF_ADDR, OFF(broker), "unix:/run/printredir/broker.sock", 0, 0, 0, 0 },
	{ "agent", "cups", CONF_STRING, OFF(cups), "", 0, 0, 0, 1 },
	{ "agent", "key_file", CONF_STRING, OFF(key_file), "/etc/printredir/key", 0, 0, 0, 0 },
	{ "agent", "state_dir", CONF_STRING, OFF(state_dir), "/var/lib/printredir/agent", 0, 0, 0, 0 },
	{ "agent", "guest_id", CONF_STRING, OFF(guest_id), "", 0, 0, 0, 1 },
	{ "agent", "redirection", CONF_BOOL, OFF(redirection), "yes", 0, 0, 0, 0 },
	{ "agent", "backend", CONF_STRING, OFF(backend), "printredir", 0, 0, 0, 0 },
	{ "agent", "filter_dir", CONF_STRING, OFF(filter_dir), "/usr/lib/cups/filter", 0, 0, 0, 0 },
	{ "agent", "allow_commands", CONF_STRING, OFF(allow_commands), "", 0, 0, 0, 1 },
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
	char host[256];
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
	if (conf->guest_id == NULL || strlen(conf->guest_id) > CODEC_MAX_NAME) {
		snprintf(err, errlen, "%s: guest_id is longer than %d bytes", path,
		    CODEC_MAX_NAME);
		agent_free_conf(conf);
		return -EINVAL;
	}
	for (const char *p = conf->guest_id; *p; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f) {
			snprintf(err, errlen, "%s: guest_id may not hold spaces or "
			    "control characters", path);
			agent_free_conf(conf);
			return -EINVAL;
		}
	}
	if (strcmp(conf->backend, "printredir") != 0 && strcmp(conf->backend, "ipp") != 0) {
		snprintf(err, errlen, "%s: backend must be printredir or ipp, not \"%.64s\"",
		    path, conf->backend);
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
agent_free_wants(struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(w[i].name);
		free(w[i].uri);
		free(w[i].host_device_uri);
		free(w[i].make_model);
		free(w[i].info);
		free(w[i].location);
		free(w[i].detail);
	}
	free(w);
}

size_t
agent_held_drivers(const struct agent *a, uint8_t (**out)[HASH_LEN])
{
	DIR *d = opendir(a->drivers_dir);
	struct dirent *e;
	size_t n = 0;
	uint8_t (*v)[HASH_LEN] = NULL, (*nv)[HASH_LEN];

	while (d && (e = readdir(d)) != NULL && n < CODEC_MAX_HASHES) {
		char hex[HASH_HEX_LEN];

		if (strlen(e->d_name) != 68 || strcmp(e->d_name + 64, ".ppd") != 0)
			continue;
		memcpy(hex, e->d_name, 64);
		hex[64] = '\0';
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			break;
		v = nv;
		if (hash_from_hex(hex, v[n]) == 0)
			n++;
	}
	if (d)
		closedir(d);
	*out = v;
	return n;
}

/* Unpacks, verifies and stores one driver from the wire. */
static void
store_driver(struct agent *a, const Printredir__Driver *d)
{
	char hex[HASH_HEX_LEN], path[4200];
	uint8_t *ppd = NULL, sha[HASH_LEN];
	size_t len = 0;
	int rc;

	hash_hex(d->sha256.data, hex);
	snprintf(path, sizeof(path), "%s/%s.ppd", a->drivers_dir, hex);
	if (access(path, F_OK) == 0)
		return;
	if (d->size > (uint64_t)a->conf.max_ppd) {
		log_warnx("driver %s is %llu bytes, over max_ppd; not stored", hex,
		    (unsigned long long)d->size);
		return;
	}
	if (d->compression == PRINTREDIR__COMPRESSION__COMPRESSION_ZLIB)
		rc = compress_inflate(d->data.data, d->data.len, (size_t)d->size,
		    (size_t)a->conf.max_ppd, &ppd, &len);
	else if (d->data.len == d->size && (ppd = malloc(d->data.len ? d->data.len : 1))) {
		memcpy(ppd, d->data.data, d->data.len);
		len = d->data.len;
		rc = 0;
	} else
		rc = -EBADMSG;
	if (rc != 0) {
		log_warnx("driver %s does not unpack: %s; not stored", hex, strerror(-rc));
		return;
	}
	if (hash_sha256(ppd, len, sha) != 0 || memcmp(sha, d->sha256.data, HASH_LEN) != 0) {
		log_warnx("driver %s does not match its SHA-256; not stored", hex);
		free(ppd);
		return;
	}
	if ((rc = statefile_write(path, ppd, len, 0644)) != 0)
		log_warnx("cannot store driver %s: %s", path, strerror(-rc));
	free(ppd);
}

static char *
dupz(const char *s)
{
	return strdup(s ? s : "");
}

static int
copy_wants(const struct want *from, size_t n, struct want **out)
{
	struct want *v = calloc(n + 1, sizeof(*v));

	*out = v;
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = from[i];
		v[i].name = dupz(from[i].name);
		v[i].uri = dupz(from[i].uri);
		v[i].host_device_uri = dupz(from[i].host_device_uri);
		v[i].make_model = dupz(from[i].make_model);
		v[i].info = dupz(from[i].info);
		v[i].location = dupz(from[i].location);
		v[i].detail = dupz(from[i].detail);
	}
	return 0;
}

void
agent_on_printer_set(struct agent *a, const Printredir__PrinterSet *set)
{
	struct want *v;
	size_t n = set->n_printers;

	for (size_t i = 0; i < set->n_drivers; i++)
		store_driver(a, set->drivers[i]);
	if (set->generation == a->want_gen && a->applied_gen == a->want_gen &&
	    a->applied_redirection == a->conf.redirection && a->nresults > 0) {
		/* A replay: nothing to do but make sure the broker has the report. */
		log_debug("generation %llu again: already applied",
		    (unsigned long long)set->generation);
		a->report_pending = 1;
		agent_flush_report(a);
		return;
	}
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const Printredir__Printer *p = set->printers[i];

		v[i].name = dupz(p->name);
		v[i].uri = dupz(p->uri);
		v[i].host_device_uri = dupz(p->host_device_uri);
		v[i].make_model = dupz(p->make_model);
		v[i].info = dupz(p->info);
		v[i].location = dupz(p->location);
		v[i].detail = dupz(p->detail);
		v[i].driver = p->driver_state;
		if (p->has_driver_sha256 && p->driver_sha256.len == HASH_LEN)
			memcpy(v[i].sha, p->driver_sha256.data, HASH_LEN);
	}
	agent_free_wants(a->want, a->nwant);
	a->want = v;
	a->nwant = n;
	a->want_gen = set->generation;
	log_info("generation %llu from the broker: %zu printers",
	    (unsigned long long)set->generation, n);
	state_save(a);
	agent_apply(a);
}

/* --- applying, on a worker thread ---------------------------------------------- */

struct job {
	struct agent *a;
	struct want *want;
	size_t nwant;
	uint64_t gen;
	int redirection;
	struct result *results;
	size_t nresults;
	int rc;
};

static void
work(uv_work_t *req)
{
	struct job *j = req->data;
	struct install_ctx ctx = { .conf = &j->a->conf, .drivers_dir = j->a->drivers_dir };

	j->rc = install_apply(&ctx, j->want, j->redirection ? j->nwant : 0,
	    &j->results, &j->nresults);
}

static void
on_retry(uv_timer_t *t)
{
	agent_apply(t->data);
}

/* Arms the retry timer: 1 s, then doubling up to max_ms. */
static void
backoff(struct agent *a, unsigned max_ms)
{
	a->retry_ms = a->retry_ms ? a->retry_ms * 2 : RETRY_MIN_MS;
	if (a->retry_ms > max_ms)
		a->retry_ms = max_ms;
	if (!a->stopping)
		uv_timer_start(&a->retry, on_retry, a->retry_ms, 0);
}

/* Only a pass that added or changed a queue needs a restart. */
static void
need_restart(struct agent *a, uint64_t gen)
{
	char names[512] = "";
	size_t o = 0, n = 0;

	for (size_t i = 0; i < a->nresults; i++) {
		if (!a->results[i].changed)
			continue;
		if (o + 4 < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
			    n ? ", " : "", a->results[i].name);
		n++;
	}
	if (n > 0)
		restart_needed(a, gen, names);
}

static void
after_work(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct agent *a = j->a;
	size_t nfailed;

	(void)status;
	a->busy = 0;
	install_free_results(a->results, a->nresults);
	a->results = j->results;
	a->nresults = j->nresults;
	a->applied_gen = j->gen;
	a->applied_redirection = j->redirection;
	a->report_pending = 1;
	nfailed = 0;
	for (size_t i = 0; i < j->nresults; i++)
		nfailed += j->results[i].state == PRINTREDIR__PRINTER_STATE__PRINTER_FAILED;
	if (j->rc == -EHOSTDOWN) {
		backoff(a, RETRY_MAX_MS);
		log_warnx("guest print service unavailable; trying again in %u s",
		    a->retry_ms / 1000);
		/* Not applied after all: a restart must try again. */
		a->applied_gen = 0;
	} else {
		log_info("generation %llu applied (%zu reports)",
		    (unsigned long long)j->gen, j->nresults);
		if (nfailed > 0) {
			/* Each pass is idempotent: the next one redoes only these. */
			backoff(a, FAILED_RETRY_MAX_MS);
			log_warnx("%zu printer%s failed to install; trying again in %u s",
			    nfailed, nfailed == 1 ? "" : "s", a->retry_ms / 1000);
		} else {
			a->retry_ms = 0;
		}
	}
	state_save(a);
	agent_flush_report(a);
	if (j->rc == 0)
		need_restart(a, j->gen);
	agent_free_wants(j->want, j->nwant);
	free(j);
	if (a->again && !a->stopping) {
		a->again = 0;
		agent_apply(a);
	}
}

void
agent_apply(struct agent *a)
{
	struct job *j;

	if (a->stopping)
		return;
	if (a->busy) {
		a->again = 1;
		return;
	}
	uv_timer_stop(&a->retry);
	j = calloc(1, sizeof(*j));
	if (j == NULL || copy_wants(a->want, a->nwant, &j->want) != 0) {
		free(j);
		log_warnx("out of memory; the printer set is applied later");
		return;
	}
	j->a = a;
	j->nwant = a->nwant;
	j->gen = a->want_gen;
	j->redirection = a->conf.redirection;
	a->work.data = j;
	a->busy = 1;
	uv_queue_work(a->loop, &a->work, work, after_work);
}

void
agent_flush_report(struct agent *a)
{
	codec_env_t env;
	Printredir__InstallReport r = PRINTREDIR__INSTALL_REPORT__INIT;
	Printredir__PrinterReport *v, **pv;

	if (!a->report_pending || a->busy)
		return;
	v = calloc(a->nresults + 1, sizeof(*v));
	pv = calloc(a->nresults + 1, sizeof(*pv));
	if (v == NULL || pv == NULL)
		goto out;
	for (size_t i = 0; i < a->nresults; i++) {
		printredir__printer_report__init(&v[i]);
		v[i].name = a->results[i].name;
		v[i].has_state = 1;
		v[i].state = a->results[i].state;
		v[i].detail = a->results[i].detail;
		v[i].guest_queue = a->results[i].queue && *a->results[i].queue ?
		    a->results[i].queue : NULL;
		pv[i] = &v[i];
	}
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_INSTALL_REPORT);
	env.install_report = &r;
	r.has_generation = 1;
	r.generation = a->applied_gen ? a->applied_gen : a->want_gen;
	r.n_printers = a->nresults;
	r.printers = pv;
	if (link_send(a, &env) == 0) {
		a->report_pending = 0;
		state_save(a);
	}
out:
	free(v);
	free(pv);
}
