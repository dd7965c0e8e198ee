/*
 * The broker's shared pieces: its configuration schema and loading, what
 * a new snapshot of the host means for the guests (the generation), its
 * persistence, and which guests may connect.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>

#include "broker.h"
#include "conf.h"
#include "cupsconn.h"
#include "jsonget.h"
#include "log.h"
#include "notify.h"
#include "statefile.h"

/* broker.json holds one number. */
#define BROKER_STATE_MAX 4096

#define OFF(f) offsetof(struct broker_conf, f)

static const struct conf_key broker_keys[] = {
	{ "broker", "cups", CONF_STRING, OFF(cups), "", 0, 0, 0, 1 },
	{ "broker", "listen", CONF_ADDR, OFF(listen), "unix:/run/printredir/broker.sock", 0, 0, 0, 0 },
	{ "broker", "channels", CONF_STRING, OFF(channels), "", 0, 0, 0, 1 },
	{ "broker", "control", CONF_ADDR, OFF(control), "unix:/run/printredir/control.sock", 0, 0, 0, 0 },
	{ "broker", "key_file", CONF_STRING, OFF(key_file), "/etc/printredir/key", 0, 0, 0, 0 },
	{ "broker", "state_dir", CONF_STRING, OFF(state_dir), "/var/lib/printredir/broker", 0, 0, 0, 0 },
	{ "broker", "redirect_local", CONF_BOOL, OFF(redirect_local), "no", 0, 0, 0, 0 },
	{ "broker", "print_server", CONF_STRING, OFF(print_server), "", 0, 0, 0, 1 },
	{ "broker", "name", CONF_STRING, OFF(name), "", 0, 0, 0, 1 },
	{ "broker", "relist_interval", CONF_DURATION, OFF(relist_interval), "30s", 1, 86400, 0, 0 },
	{ "broker", "poll_interval_ms", CONF_INT, OFF(poll_ms), "250", 20, 10000, 0, 0 },
	{ "broker", "host_events", CONF_STRING, OFF(host_events), "auto", 0, 0, 0, 0 },
	{ "broker", "events", CONF_ADDR, OFF(events), "unix:/run/printredir/cups-events.sock", 0, 0, 0, 0 },
	{ "broker", "frame_cap", CONF_INT, OFF(frame_cap), "8388608", 65536, 1 << 30, 0, 0 },
	{ "broker", "max_ppd", CONF_INT, OFF(max_ppd), "4194304", 1024, 1 << 28, 0, 0 },
	{ "broker", "fetch_timeout", CONF_DURATION, OFF(fetch_timeout), "30s", 1, 600, 0, 0 },
	{ "broker", "printers", CONF_STRING, OFF(printers), "all", 0, 0, 0, 0 },
	{ "broker", "max_printers", CONF_INT, OFF(max_printers), "0", 0, CODEC_MAX_PRINTERS, 0, 0 },
	{ "broker", "probe_interval", CONF_DURATION, OFF(probe_interval), "30s", 0, 86400, 0, 0 },
	{ "broker", "driverless_fallback", CONF_BOOL, OFF(driverless_fallback), "no", 0, 0, 0, 0 },
	{ "guests", "allow", CONF_STRING, OFF(allow), "", 0, 0, 0, 1 },
	{ "guests", "forget_after", CONF_DURATION, OFF(forget_after), "30d", 60,
	  3650LL * 86400, 0, 0 },
	{ "jobs", "user", CONF_STRING, OFF(job_user), "as-is", 0, 0, 0, 0 },
	{ "jobs", "account", CONF_STRING, OFF(job_account), "", 0, 0, 0, 1 },
	{ "jobs", "max_per_guest", CONF_INT, OFF(jobs_per_guest), "4", 1, 64, 0, 0 },
	{ "jobs", "formats", CONF_STRING, OFF(job_formats),
	  "application/pdf application/vnd.cups-pdf", 0, 0, 0, 0 },
	{ "jobs", "keep_journal", CONF_DURATION, OFF(journal_keep), "7d", 3600,
	  365LL * 86400, 0, 0 },
	{ "metrics", "textfile", CONF_STRING, OFF(metrics_textfile), "", 0, 0, 0, 1 },
	{ "metrics", "textfile_interval", CONF_DURATION, OFF(metrics_interval), "15s",
	  1, 3600, 0, 0 },
};
#define NKEYS (sizeof(broker_keys) / sizeof(broker_keys[0]))

/* [jobs] user: whose name a guest's job carries on the host. */
static int
check_job_user(struct broker_conf *conf, char *err, size_t errlen)
{
	if (strcmp(conf->job_user, "as-is") == 0)
		conf->job_user_mode = JOB_USER_AS_IS;
	else if (strcmp(conf->job_user, "prefixed") == 0)
		conf->job_user_mode = JOB_USER_PREFIXED;
	else if (strcmp(conf->job_user, "account") == 0)
		conf->job_user_mode = JOB_USER_ACCOUNT;
	else {
		snprintf(err, errlen, "[jobs] user = \"%s\": say as-is, prefixed or "
		    "account", conf->job_user);
		return -EINVAL;
	}
	if (conf->job_user_mode == JOB_USER_ACCOUNT &&
	    codec_check_id(conf->job_account, err, errlen) != 0) {
		char why[128];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "[jobs] user = account needs account = NAME, "
		    "which %s", conf->job_account[0] ? why : "is missing");
		return -EINVAL;
	}
	return 0;
}

/* [broker] printers: all, default-only, or host queue names. */
static int
check_printers(const char *list, char *err, size_t errlen)
{
	static const char sep[] = " ,\t";
	char name[256];
	size_t w;

	if (strcmp(list, "all") == 0 || strcmp(list, "default-only") == 0)
		return 0;
	for (const char *p = list + strspn(list, sep); *p; p += strspn(p, sep)) {
		w = strcspn(p, sep);
		snprintf(name, sizeof(name), "%.*s", (int)w, p);
		if (w >= sizeof(name) || !cupsconn_valid_name(name) ||
		    strcmp(name, "all") == 0 || strcmp(name, "default-only") == 0) {
			snprintf(err, errlen, "[broker] printers = \"%s\": say all, "
			    "default-only, or the names of host queues (\"%.*s\" is "
			    "not one)", list, (int)(w > 64 ? 64 : w), p);
			return -EINVAL;
		}
		p += w;
	}
	if (list[strspn(list, sep)] == '\0') {
		snprintf(err, errlen, "[broker] printers is empty: say all, "
		    "default-only, or the names of host queues");
		return -EINVAL;
	}
	return 0;
}

int
broker_printer_chosen(const struct broker_conf *conf, const char *name,
    int is_default)
{
	if (strcmp(conf->printers, "all") == 0)
		return 1;
	if (strcmp(conf->printers, "default-only") == 0)
		return is_default;
	return conf_list_has(conf->printers, name, 1);
}

/*
 * [metrics] textfile: node_exporter's textfile collector reads only the
 * files of its folder named *.prom, and the broker's working folder is not
 * one an administrator would guess.
 */
static int
check_textfile(const char *path, char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	size_t n = strlen(path);

	if (*path == '\0')
		return 0;
	if (*path != '/' || n < 6 || strcmp(path + n - 5, ".prom") != 0 ||
	    strcmp(base, "/.prom") == 0) {
		snprintf(err, errlen, "[metrics] textfile = \"%s\": give an absolute "
		    "path to a file named NAME.prom in node_exporter's textfile "
		    "folder (e.g. /var/lib/prometheus/node-exporter/printredir.prom)",
		    path);
		return -EINVAL;
	}
	return 0;
}

int
broker_load_conf(const char *path, struct broker_conf *conf, char *err,
    size_t errlen)
{
	char host[256];
	int rc;

	memset(conf, 0, sizeof(*conf));
	/* The default file is optional: the built-in defaults then apply. */
	if (strcmp(path, BROKER_CONF_DEFAULT) == 0 && access(path, F_OK) != 0)
		rc = conf_load_buf(path, "", 0, broker_keys, NKEYS, conf, err, errlen);
	else
		rc = conf_load(path, broker_keys, NKEYS, conf, err, errlen);
	if (rc != 0)
		return rc;
	if ((rc = check_job_user(conf, err, errlen)) != 0 ||
	    (rc = check_printers(conf->printers, err, errlen)) != 0 ||
	    (rc = check_textfile(conf->metrics_textfile, err, errlen)) != 0)
		goto fail;
	if (conf->listen.kind == ADDR_VIRTIO) {
		snprintf(err, errlen, "%s: listen cannot be a virtio-serial port: the "
		    "broker reaches those through channels = FOLDER", path);
		rc = -EINVAL;
		goto fail;
	}
	if (conf->control.kind != ADDR_UNIX) {
		snprintf(err, errlen, "%s: control must be a unix:PATH address", path);
		rc = -EINVAL;
		goto fail;
	}
	if (conf->events.kind != ADDR_UNIX) {
		snprintf(err, errlen, "%s: events must be a unix:PATH address (the "
		    "host cupsd's notifier connects to it)", path);
		rc = -EINVAL;
		goto fail;
	}
	if (strcmp(conf->host_events, "auto") != 0 &&
	    strcmp(conf->host_events, "poll") != 0) {
		snprintf(err, errlen, "%s: host_events = \"%s\": say auto (pushed by "
		    "the host cupsd when it can, else polled) or poll", path,
		    conf->host_events);
		rc = -EINVAL;
		goto fail;
	}
	if (conf->name[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "broker");
		host[sizeof(host) - 1] = '\0';
		free(conf->name);
		if ((conf->name = strdup(host)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	broker_free_conf(conf);
	return rc;
}

void
broker_free_conf(struct broker_conf *conf)
{
	conf_free(broker_keys, NKEYS, conf);
}

int
broker_copy_conf(const struct broker_conf *from, struct broker_conf *to)
{
	*to = *from;
	for (size_t i = 0; i < NKEYS; i++) {
		char **dst = (char **)((char *)to + broker_keys[i].offset);

		if (broker_keys[i].type != CONF_STRING || *dst == NULL)
			continue;
		if ((*dst = strdup(*dst)) == NULL) {
			for (size_t j = 0; j < i; j++)
				if (broker_keys[j].type == CONF_STRING)
					free(*(char **)((char *)to + broker_keys[j].offset));
			return -ENOMEM;
		}
	}
	return 0;
}

int
broker_guest_allowed(const struct broker_conf *conf, const char *id)
{
	return conf->allow[0] == '\0' || conf_list_has(conf->allow, id, 0);
}

size_t
broker_count_redirected(const struct broker *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->current.n; i++)
		n += b->current.printers[i].redirected != 0;
	return n;
}

/*
 * The service manager learns that the broker is ready once it has looked at
 * the host's CUPS the first time, found or not: its sockets already listen
 * (run() starts the watcher last), and a host CUPS that is down is retried
 * in the background, not a reason to fail the start.
 */
static void
tell_manager(const struct broker *b)
{
	if (b->current.error)
		notify_ready("host CUPS: %s", b->current.error);
	else
		notify_ready("generation %llu: %zu host printers, %zu redirected",
		    (unsigned long long)b->generation, b->current.n,
		    broker_count_redirected(b));
}

void
broker_on_snapshot(struct broker *b, struct snapshot *s)
{
	if (s->error) {
		/* Keep offering what we had: a host CUPS restart must not make
		 * every guest drop its printers. */
		if (b->current.error == NULL || strcmp(b->current.error, s->error) != 0)
			b->status_rev++;
		free(b->current.error);
		b->current.error = s->error;
		s->error = NULL;
		goto drop;
	}
	if (b->have_snapshot && snapshot_equal(&b->current, s)) {
		/* The periodic relist, most of the time: status stays as it is
		 * (and so does its cached text) unless an error went. */
		if (b->current.error != NULL)
			b->status_rev++;
		free(b->current.error);
		b->current.error = NULL;
		goto drop;
	}
	b->status_rev++;
	if (b->have_snapshot && snapshot_offered_equal(&b->current, s)) {
		/* Only printers the guests are not offered changed (a new one
		 * held back until its driver is in, a local queue): status
		 * shows them, the guests have nothing new.  Events of a burst
		 * of new printers so make one generation, not one each. */
		snapshot_free(&b->current);
		b->current = *s;
		free(s);
		tell_manager(b);
		return;
	}
	snapshot_free(&b->current);
	b->current = *s;
	free(s);
	b->have_snapshot = 1;
	b->generation++;
	broker_save_state(b);
	log_info("generation %llu: %zu host printers, %zu redirected",
	    (unsigned long long)b->generation, b->current.n,
	    broker_count_redirected(b));
	guests_publish(b);
	/* Sent: how long the host's change took to leave for the guests. */
	b->changed_at = time(NULL);
	b->change_latency = b->current.noticed == 0 ? -1 :
	    (double)(uv_hrtime() - b->current.noticed) / 1e9;
	tell_manager(b);
	return;
drop:
	snapshot_free(s);
	free(s);
	tell_manager(b);
}

void
broker_save_state(struct broker *b)
{
	char path[PATH_MAX], text[128];
	int rc;

	snprintf(path, sizeof(path), "%s/broker.json", b->conf.state_dir);
	snprintf(text, sizeof(text), "{\"generation\": %llu}\n",
	    (unsigned long long)b->generation);
	if ((rc = statefile_write(path, text, strlen(text), 0600)) != 0)
		log_warnx("cannot write %s: %s", path, strerror(-rc));
}

int
broker_parse_state(const char *text, size_t len, uint64_t *generation,
    char *err, size_t errlen)
{
	json_object *doc;
	int rc = 0;

	if ((doc = jget_parse(text, len, json_type_object, err, errlen)) == NULL)
		return -EINVAL;
	if (!jget_u64(doc, "generation", generation)) {
		errf(err, errlen, "\"generation\" is missing, null, negative or not "
		    "an integer");
		rc = -EINVAL;
	}
	json_object_put(doc);
	return rc;
}

void
broker_load_state(struct broker *b)
{
	char path[PATH_MAX], *text = NULL, err[256];
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/broker.json", b->conf.state_dir);
	if ((rc = statefile_read(path, BROKER_STATE_MAX, &text, &len)) != 0) {
		if (rc != -ENOENT)
			log_warnx("cannot read %s: %s; generations start again "
			    "from 1", path, strerror(-rc));
		return;
	}
	if (broker_parse_state(text, len, &b->generation, err, sizeof(err)) != 0)
		log_warnx("%s ignored: %s; generations start again from 1", path,
		    err);
	free(text);
}
