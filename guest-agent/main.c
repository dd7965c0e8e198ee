/*
 * guest-agent: installs the host's printers in this guest's CUPS.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "cli.h"
#include "log.h"
#include "ppd.h"
#include "statefile.h"
#include "version.h"

static uv_signal_t sig_term, sig_int, sig_hup;
static int signals_on;

static void
shutdown_agent(struct agent *a)
{
	if (signals_on) {
		uv_close((uv_handle_t *)&sig_term, NULL);
		uv_close((uv_handle_t *)&sig_int, NULL);
		uv_close((uv_handle_t *)&sig_hup, NULL);
		signals_on = 0;
	}
	a->stopping = 1;
	restart_stop(a);
	tray_stop(a);
	/* Handles are zeroed until initialized: close only what was started. */
	if (a->retry.loop && !uv_is_closing((uv_handle_t *)&a->retry))
		uv_close((uv_handle_t *)&a->retry, NULL);
	link_stop(a);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;
	struct agent_conf conf;
	char err[1024];

	if (signum != SIGHUP) {
		log_info("%s: shutting down", strsignal(signum));
		shutdown_agent(a);
		return;
	}
	if (agent_load_conf(a->conf_path, &conf, err, sizeof(err)) != 0) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return;
	}
	/* redirection, filter_dir, allow_commands, cups and max_ppd change
	 * live; the rest at the next start. */
	if (memcmp(&conf.broker, &a->conf.broker, sizeof(conf.broker)) != 0 ||
	    strcmp(conf.state_dir, a->conf.state_dir) != 0 ||
	    strcmp(conf.key_file, a->conf.key_file) != 0 ||
	    strcmp(conf.guest_id, a->conf.guest_id) != 0)
		log_warnx("reload: broker, state_dir, key_file and guest_id take "
		    "effect at the next start");
	if (a->busy) {
		/* The worker reads the configuration: swap it when it is idle. */
		log_warnx("reload: busy installing; send SIGHUP again shortly");
		agent_free_conf(&conf);
		return;
	}
	conf.broker = a->conf.broker;
	free(conf.state_dir);
	conf.state_dir = strdup(a->conf.state_dir);
	free(conf.key_file);
	conf.key_file = strdup(a->conf.key_file);
	free(conf.guest_id);
	conf.guest_id = strdup(a->conf.guest_id);
	agent_free_conf(&a->conf);
	a->conf = conf;
	log_info("configuration reloaded from %s (redirection %s)", a->conf_path,
	    a->conf.redirection ? "on" : "off");
	agent_apply(a);
}

static void
print_hash(const char *keyword, const char hex[65], void *arg)
{
	printf("%s  %s  %s\n", hex, (const char *)arg, keyword);
}

/* `guest-agent ppd-hashes FILE...`: the allow_commands entries for the
 * command templates of drivers an administrator has read and trusts. */
static int
ppd_hashes_main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("usage: guest-agent ppd-hashes FILE.ppd...\n\n"
		    "Prints the SHA-256 of every command template (FoomaticRIPCommandLine\n"
		    "...) of each driver: after reading them, put the hashes you trust\n"
		    "in allow_commands of agent.conf.\n");
		return argc < 2 ? 2 : 0;
	}
	for (int i = 1; i < argc; i++) {
		char *data = NULL;
		size_t len = 0;
		int r = statefile_read(argv[i], 64 << 20, &data, &len);

		if (r == 0)
			r = ppd_command_hashes(data, len, print_hash, argv[i]);
		if (r != 0) {
			fprintf(stderr, "guest-agent ppd-hashes: %s: %s\n", argv[i],
			    r == -EBADMSG ? "not a PPD that parses" : r == -EPERM ?
			    "fails the structural checks, so its templates are "
			    "ambiguous (the agent logs the reason when it refuses it)" :
			    strerror(-r));
			rc = 1;
		}
		free(data);
	}
	return rc;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: guest-agent [-c FILE] [-d] [--syslog]\n"
	    "       guest-agent status [-c FILE] [--json]\n"
	    "       guest-agent ppd-hashes FILE.ppd...\n"
	    "\n"
	    "Installs the host's printers in this guest's CUPS.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default " AGENT_CONF_DEFAULT ")\n"
	    "  -d, --debug        log debug messages and trace every frame\n"
	    "      --syslog       log to syslog instead of stderr\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration\n"
	    "(e.g. redirection = no removes every queue the agent made).\n");
}

static int
run(struct agent *a)
{
	char err[1024];
	int rc;

	if ((rc = auth_load_key(a->conf.key_file, &a->key, &a->keylen, err,
	    sizeof(err))) != 0) {
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
	a->applied_redirection = 1;
	state_load(a);
	(void)addr_make_dir(&a->conf.tray_socket);
	uv_timer_init(a->loop, &a->retry);
	a->retry.data = a;
	uv_signal_init(a->loop, &sig_term);
	uv_signal_init(a->loop, &sig_int);
	uv_signal_init(a->loop, &sig_hup);
	sig_term.data = sig_int.data = sig_hup.data = a;
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
	signals_on = 1;
	log_info("printredir %s agent \"%s\" started", PRINTREDIR_VERSION,
	    a->conf.guest_id);
	/* Finish what a previous run left: a wish not applied, a report not
	 * delivered, or a redirection switch. */
	restart_start(a);
	tray_start(a);
	if (a->want_gen != a->applied_gen ||
	    a->applied_redirection != a->conf.redirection)
		agent_apply(a);
	link_start(a);
	uv_run(a->loop, UV_RUN_DEFAULT);
	return 0;
}

int
main(int argc, char **argv)
{
	struct agent a = { 0 };
	const char *path = AGENT_CONF_DEFAULT;
	char err[1024];
	int debug, use_syslog, rc;

	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ppd-hashes") == 0)
		return ppd_hashes_main(argc - 1, argv + 1);
	if ((rc = cli_daemon_args("guest-agent", argc, argv, usage, &path, &debug,
	    &use_syslog)) >= 0)
		return rc;
	log_init("guest-agent", !use_syslog, debug);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = agent_load_conf(path, &a.conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "guest-agent: %s\n", err);
		return 2;
	}
	a.conf_path = path;
	a.loop = uv_default_loop();
	rc = run(&a);
	if (rc != 0)
		shutdown_agent(&a);
	uv_run(a.loop, UV_RUN_DEFAULT);
	if (rc == 0)
		state_save(&a);
	uv_loop_close(a.loop);
	agent_free_wants(a.want, a.nwant);
	install_free_results(a.results, a.nresults);
	agent_free_conf(&a.conf);
	free(a.key);
	return rc;
}
