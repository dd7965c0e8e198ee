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
#include "notify.h"
#include "ppd.h"
#include "statefile.h"
#include "version.h"

static uv_signal_t sig_term, sig_int, sig_hup;

static void
close_signals(void)
{
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	if (signum == SIGHUP) {
		agent_reload(a);
		return;
	}
	log_info("%s: shutting down", strsignal(signum));
	notify_stopping();
	close_signals();
	agent_stop(a);
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: guest-agent [-c FILE] [-d] [--syslog] [--dry-run]\n"
	    "       guest-agent status [-c FILE] [--json]\n"
	    "\n"
	    "Installs the host's printers in this guest's CUPS.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default " AGENT_CONF_DEFAULT ")\n"
	    "  -d, --debug        log debug messages and trace every frame\n"
	    "      --syslog       log to syslog instead of stderr\n"
	    "      --dry-run      touch no CUPS: take the broker's printer sets and\n"
	    "                     report each printer pending, never installed\n"
	    "                     (to check a guest's link, and for load tests)\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration\n"
	    "(e.g. redirection = no removes every queue the agent made).\n");
}

static void
start_signals(struct agent *a)
{
	uv_signal_init(a->loop, &sig_term);
	uv_signal_init(a->loop, &sig_int);
	uv_signal_init(a->loop, &sig_hup);
	sig_term.data = sig_int.data = sig_hup.data = a;
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
}

int
main(int argc, char **argv)
{
	struct agent a = { 0 };
	const char *path = AGENT_CONF_DEFAULT;
	char err[1024];
	int debug = 0, use_syslog = 0, rc;
	const struct cli_opt opts[] = {
		{ 'c', "config", CLI_STRING, &path },
		{ 'd', "debug", CLI_FLAG, &debug },
		{ 0, "syslog", CLI_FLAG, &use_syslog },
		{ 0, "dry-run", CLI_FLAG, &a.dry_run },
		{ 0 },
	};
	const struct cli c = { "guest-agent", usage, opts, 0, 0, NULL };

	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if ((rc = cli_parse(&c, argc, argv, NULL)) >= 0)
		return rc;
	log_init("guest-agent", !use_syslog, debug);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = agent_load_conf(path, &a.conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "guest-agent: %s\n", err);
		return 2;
	}
	a.conf_path = path;
	a.loop = uv_default_loop();
	start_signals(&a);
	if ((rc = agent_start(&a)) != 0) {
		close_signals();
		agent_stop(&a);
	} else {
		/* Its job and tray sockets listen: the guest's CUPS can hand
		 * jobs over; the broker is reached in the background. */
		notify_ready("agent \"%s\" listening", a.conf.guest_id);
	}
	uv_run(a.loop, UV_RUN_DEFAULT);
	uv_loop_close(a.loop);
	agent_free(&a);
	return rc;
}
