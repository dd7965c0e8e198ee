/*
 * host-broker: brings the host's network printers to the guests.
 *
 * Start-up order matters: configuration and key first (errors are a user's
 * to fix, exit 2), then the state folder, the guest listener and the
 * control socket, and the watcher thread last, so that its first snapshot
 * has somewhere to go.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "broker.h"
#include "log.h"
#include "notify.h"
#include "statefile.h"
#include "version.h"

/* --- signals -------------------------------------------------------------- */

static uv_signal_t sig_term, sig_int, sig_hup;
static int signals_on;

/* Stops whatever has started; the loop then runs the close callbacks. */
static void
shutdown_broker(struct broker *b)
{
	if (signals_on) {
		uv_close((uv_handle_t *)&sig_term, NULL);
		uv_close((uv_handle_t *)&sig_int, NULL);
		uv_close((uv_handle_t *)&sig_hup, NULL);
		signals_on = 0;
	}
	watch_stop(b);
	push_stop();
	metrics_stop(b);
	control_stop(b);
	channels_stop(b);
	guests_stop(b);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct broker *b = s->data;
	struct broker_conf conf;
	char err[1024];
	uint8_t *key = NULL;
	size_t keylen = 0;

	if (signum != SIGHUP) {
		log_info("%s: shutting down", strsignal(signum));
		notify_stopping();
		shutdown_broker(b);
		return;
	}
	if (broker_load_conf(b->conf_path, &conf, err, sizeof(err)) != 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return;
	}
	if (memcmp(&conf.listen, &b->conf.listen, sizeof(conf.listen)) != 0 ||
	    memcmp(&conf.control, &b->conf.control, sizeof(conf.control)) != 0 ||
	    strcmp(conf.state_dir, b->conf.state_dir) != 0)
		log_warnx("reload: listen, control and state_dir take effect at the "
		    "next start");
	/* The master key is read again: a rotated key holds for every
	 * handshake from now on (the sessions up keep theirs). */
	if (auth_load_key(conf.key_file, &key, &keylen, err, sizeof(err)) != 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		broker_free_conf(&conf);
		return;
	}
	if (keylen != b->keylen || memcmp(key, b->key, keylen) != 0)
		log_info("reload: a new master key from %s", conf.key_file);
	explicit_bzero(b->key, b->keylen);
	free(b->key);
	b->key = key;
	b->keylen = keylen;
	/* What can change live: the rest.  Keep the ones that cannot. */
	conf.listen = b->conf.listen;
	conf.control = b->conf.control;
	free(conf.state_dir);
	conf.state_dir = strdup(b->conf.state_dir);
	broker_free_conf(&b->conf);
	b->conf = conf;
	b->status_rev++;
	log_info("configuration reloaded from %s", b->conf_path);
	guests_revoke(b);
	metrics_reload(b);
	watch_relist(b);
}

/* --- main ------------------------------------------------------------------------ */

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: host-broker [-c FILE] [-d] [--syslog]\n"
	    "       host-broker status [-c FILE] [--json | --prometheus] [--summary]\n"
	    "       host-broker keygen [-c FILE] [-o KEYFILE] GUEST_ID\n"
	    "\n"
	    "Redirects the host's network printers into the guests' CUPS.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default " BROKER_CONF_DEFAULT ")\n"
	    "  -d, --debug        log debug messages and trace every frame\n"
	    "      --syslog       log to syslog instead of stderr\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration.\n");
}

static void
keygen_usage(FILE *out)
{
	fprintf(out,
	    "usage: host-broker keygen [-c FILE] [-o KEYFILE] GUEST_ID\n"
	    "\n"
	    "Writes the key of guest GUEST_ID, derived from the broker's master key\n"
	    "(key_file of the configuration), to KEYFILE (mode 0600, replaced\n"
	    "atomically) or to standard output.  Put it in the guest as the agent's\n"
	    "key_file, with guest_id = GUEST_ID: the key proves that id and no other.\n"
	    "\n"
	    "  -c, --config FILE   configuration (default " BROKER_CONF_DEFAULT ")\n"
	    "  -o, --output FILE   where to write the key (default: standard output)\n");
}

/* `host-broker keygen GUEST_ID`: one guest's key file, for IT to deploy. */
static int
keygen_main(int argc, char **argv)
{
	const char *path = BROKER_CONF_DEFAULT, *output = NULL, *id;
	const struct cli_opt opts[] = {
		{ 'c', "config", CLI_STRING, &path },
		{ 'o', "output", CLI_STRING, &output },
		{ 0 },
	};
	const struct cli cli = { "host-broker keygen", keygen_usage, opts, 1, 1,
	    "GUEST_ID" };
	struct broker_conf conf;
	char err[1024], key[AUTH_GUEST_KEY_LEN + 2];
	uint8_t *master = NULL;
	size_t len = 0;
	int first, rc;

	if ((rc = cli_parse(&cli, argc, argv, &first)) >= 0)
		return rc;
	id = argv[first];
	if (codec_check_id(id, err, sizeof(err)) != 0)
		return cli_error(&cli, "GUEST_ID \"%s\" %s", log_quote(id, key, sizeof(key)),
		    err);
	if (broker_load_conf(path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "host-broker keygen: %s\n", err);
		return 2;
	}
	/* Any group may read it besides root: the broker, which runs as its
	 * own user, reads it through its group and checks that group. */
	rc = auth_load_key_as(conf.key_file, AUTH_GID_ANY, &master, &len, err,
	    sizeof(err));
	if (rc == -ENOENT) {
		char fix[PATH_MAX * 2 + 64];

		auth_key_advice(conf.key_file, fix, sizeof(fix));
		fprintf(stderr, "host-broker keygen: %s: make the master key first: "
		    "(umask 077; head -c 32 /dev/urandom | base64 > %s) && %s\n", err,
		    conf.key_file, fix);
		broker_free_conf(&conf);
		return 1;
	}
	if (rc == 0 && (rc = auth_guest_key(master, len, id, key)) != 0)
		snprintf(err, sizeof(err), "cannot derive the key: %s", strerror(-rc));
	if (rc == 0) {
		strcat(key, "\n");
		if (output == NULL)
			rc = fputs(key, stdout) == EOF || fflush(stdout) != 0 ? -EIO : 0;
		else
			rc = statefile_write(output, key, strlen(key), 0600);
		if (rc != 0)
			snprintf(err, sizeof(err), "cannot write %s: %s",
			    output ? output : "the key", strerror(-rc));
	}
	if (rc != 0)
		fprintf(stderr, "host-broker keygen: %s\n", err);
	explicit_bzero(key, sizeof(key));
	if (master)
		explicit_bzero(master, len);
	free(master);
	broker_free_conf(&conf);
	return rc == 0 ? 0 : 1;
}

static int
run(struct broker *b)
{
	char err[1024];
	int rc;

	if ((rc = auth_load_key(b->conf.key_file, &b->key, &b->keylen, err,
	    sizeof(err))) != 0) {
		char fix[PATH_MAX * 2 + 64];

		/* The packages make no key: say how, once, where IT looks. */
		auth_key_advice(b->conf.key_file, fix, sizeof(fix));
		if (rc == -ENOENT)
			log_warnx("%s: the broker needs a master key; make one with: "
			    "(umask 077; head -c 32 /dev/urandom | base64 > %s) && %s",
			    err, b->conf.key_file, fix);
		else
			log_warnx("%s", err);
		return 2;
	}
	if ((rc = statefile_mkdirs(b->conf.state_dir, 0700)) != 0) {
		log_warnx("cannot create state_dir %s: %s", b->conf.state_dir,
		    strerror(-rc));
		return 1;
	}
	/* Socket folders such as /run/printredir are made on demand. */
	(void)addr_make_dir(&b->conf.listen);
	(void)addr_make_dir(&b->conf.control);
	broker_load_state(b);
	if (drivers_init(&b->conf) != 0)
		return 1;
	if (jobs_start(b) != 0 || guests_start(b) != 0 || control_start(b) != 0 ||
	    channels_start(b) != 0 || metrics_start(b) != 0 || push_start(b) != 0)
		return 1;

	uv_signal_init(b->loop, &sig_term);
	uv_signal_init(b->loop, &sig_int);
	uv_signal_init(b->loop, &sig_hup);
	sig_term.data = sig_int.data = sig_hup.data = b;
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
	signals_on = 1;

	if (watch_start(b) != 0)
		return 1;
	log_info("printredir %s broker \"%s\" started", PRINTREDIR_VERSION, b->conf.name);
	uv_run(b->loop, UV_RUN_DEFAULT);
	return 0;
}

int
main(int argc, char **argv)
{
	struct broker b = { 0 };
	const char *path = BROKER_CONF_DEFAULT;
	char err[1024];
	int debug, use_syslog, rc;

	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return keygen_main(argc - 1, argv + 1);
	if ((rc = cli_daemon_args("host-broker", argc, argv, usage, &path, &debug,
	    &use_syslog)) >= 0)
		return rc;
	log_init("host-broker", !use_syslog, debug);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = broker_load_conf(path, &b.conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "host-broker: %s\n", err);
		return 2;
	}
	b.conf_path = path;
	b.verbose = debug;
	b.loop = uv_default_loop();
	rc = run(&b);
	if (rc != 0)
		shutdown_broker(&b);
	uv_run(b.loop, UV_RUN_DEFAULT);
	guests_free(&b);
	jobs_free(&b);
	snapshot_free(&b.current);
	uv_loop_close(b.loop);
	broker_free_conf(&b.conf);
	free(b.key);
	return rc;
}
