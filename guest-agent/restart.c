/*
 * The workspace restart that makes every application offer new printers.
 *
 *   pending --(no application running)--------------------> restarting --> done
 *      |                                                          ^
 *      +--(applications)--> prompting --(restart now)-------------+
 *                             |   ^                               |
 *                     (later) v   | (defer_interval elapsed)      |
 *                            deferred --(max_deferrals or deadline)--> forced
 *                                                       (countdown) --+
 *
 * The command comes from the configuration only and is run without a
 * shell; nothing from the wire reaches it.  The boot id the agent asked to
 * leave is recorded, so that the agent started in the new boot can confirm
 * "done" and say how long the restart took.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "statefile.h"

#define MAX_ARGS 32
#define RESUME_MS 1000		/* after a start, let the link come up first */

static void decide(struct agent *a);

static const char *
phase_name(int phase)
{
	return codec_restart_phase_name(phase);
}

static void
set_phase(struct agent *a, int phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_phase(struct agent *a, int phase, const char *fmt, ...)
{
	va_list ap;

	a->restart.phase = phase;
	va_start(ap, fmt);
	vsnprintf(a->restart.detail, sizeof(a->restart.detail), fmt, ap);
	va_end(ap);
	a->restart.report_pending = 1;
	log_info("restart %s: %s", phase_name(phase), a->restart.detail);
	state_save(a);
	restart_flush(a);
}

void
restart_flush(struct agent *a)
{
	codec_env_t env;
	Printredir__RestartState rs = PRINTREDIR__RESTART_STATE__INIT;

	if (!a->restart.report_pending || a->restart.phase == 0)
		return;
	codec_env_init(&env, PRINTREDIR__MSG_TYPE__MSG_RESTART_STATE);
	env.restart_state = &rs;
	rs.has_phase = 1;
	rs.phase = a->restart.phase;
	rs.has_until = a->restart.until != 0;
	rs.until = a->restart.until;
	rs.has_deferrals = 1;
	rs.deferrals = a->restart.deferrals;
	rs.detail = a->restart.detail;
	rs.has_generation = 1;
	rs.generation = a->restart.generation;
	if (link_send(a, &env) == 0) {
		a->restart.report_pending = 0;
		state_save(a);
	}
}

static int
read_boot_id(const struct agent *a, char *out, size_t len)
{
	char *text = NULL;
	int rc;

	out[0] = '\0';
	if ((rc = statefile_read(a->conf.boot_id_file, 256, &text, NULL)) != 0) {
		log_warnx("cannot read boot_id_file %s: %s", a->conf.boot_id_file,
		    strerror(-rc));
		return rc;
	}
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(out, len, "%s", text);
	free(text);
	return 0;
}

static void
on_timer(uv_timer_t *t)
{
	struct agent *a = t->data;

	switch (a->restart.phase) {
	case PRINTREDIR__RESTART_PHASE__RESTART_FORCED:
		/* The countdown is over. */
		break;
	case PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING:
		log_info("no answer to the restart prompt: taken as \"later\"");
		restart_answer(a, a->prompt_id, 0);
		return;
	default:
		break;
	}
	decide(a);
}

static void
arm(struct agent *a, long long secs)
{
	uv_timer_start(&a->restart_timer, on_timer,
	    secs > 0 ? (uint64_t)secs * 1000 : 0, 0);
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int signo)
{
	struct agent *a = p->data;

	a->restart_running = 0;
	uv_close((uv_handle_t *)p, NULL);
	if (status == 0 && signo == 0) {
		log_info("restart command finished; waiting for the new boot");
		return;
	}
	a->restart.until = time(NULL) + a->conf.defer_interval;
	set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_FAILED,
	    "restart command \"%s\" %s %d; trying again in %llds",
	    a->conf.restart_command, signo ? "was killed by signal" :
	    "exited with status", signo ? signo : (int)status,
	    (long long)a->conf.defer_interval);
	arm(a, a->conf.defer_interval);
}

static void
do_restart(struct agent *a, const char *why)
{
	char cmd[1024], *argv[MAX_ARGS + 1], *save = NULL, *tok;
	uv_process_options_t opt = { 0 };
	int argc = 0, rc;

	if (a->restart_running)
		return;
	read_boot_id(a, a->restart.boot_id, sizeof(a->restart.boot_id));
	a->restart.requested_at = time(NULL);
	a->restart.until = 0;
	set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_RESTARTING, "%s", why);
	/* Split on blanks: the command is the administrator's, never a shell's. */
	snprintf(cmd, sizeof(cmd), "%s", a->conf.restart_command);
	for (tok = strtok_r(cmd, " \t", &save); tok && argc < MAX_ARGS;
	    tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	opt.file = argv[0];
	opt.args = argv;
	opt.exit_cb = on_exit_cb;
	a->restart_proc.data = a;
	if ((rc = uv_spawn(a->loop, &a->restart_proc, &opt)) != 0) {
		uv_close((uv_handle_t *)&a->restart_proc, NULL);
		a->restart.until = time(NULL) + a->conf.defer_interval;
		set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_FAILED,
		    "cannot run restart command \"%s\": %s; trying again in %llds",
		    a->conf.restart_command, uv_strerror(rc),
		    (long long)a->conf.defer_interval);
		arm(a, a->conf.defer_interval);
		return;
	}
	a->restart_running = 1;
}

static void
force(struct agent *a, const char *why)
{
	a->restart.until = time(NULL) + a->conf.countdown;
	set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_FORCED,
	    "%s: the workspace restarts in %llds", why, (long long)a->conf.countdown);
	tray_countdown(a, a->conf.countdown, a->restart.printers);
	arm(a, a->conf.countdown);
}

static void
defer(struct agent *a, const char *why)
{
	a->restart.nobody_asked = 0;
	a->restart.deferrals++;
	a->restart.until = time(NULL) + a->conf.defer_interval;
	set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED,
	    "%s (%u of %lld)", why, a->restart.deferrals,
	    (long long)a->conf.max_deferrals);
	arm(a, a->conf.defer_interval);
}

/* pending: restart now, ask, or force, depending on what runs. */
static void
decide(struct agent *a)
{
	char **apps = NULL, list[1024] = "";
	size_t napps = 0, o = 0;
	int64_t now = time(NULL);

	if (a->restart.phase == PRINTREDIR__RESTART_PHASE__RESTART_FORCED) {
		do_restart(a, "forced restart after the countdown");
		return;
	}
	if (apps_running("/proc", a->conf.apps_uid_min, a->conf.apps_ignore,
	    &apps, &napps) != 0) {
		/* Never restart silently on a guess: ask instead. */
		log_warn("cannot list running applications; asking the user");
		apps = calloc(1, sizeof(*apps));
		if (apps && (apps[0] = strdup("(unknown)")) != NULL)
			napps = 1;
	}
	if (napps == 0) {
		apps_free(apps, napps);
		do_restart(a, "no application running: restarting at once");
		return;
	}
	for (size_t i = 0; i < napps && o + 2 < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
		    apps[i]);
	if (a->restart.first_prompt == 0)
		a->restart.first_prompt = now;
	if ((long long)a->restart.deferrals >= a->conf.max_deferrals) {
		force(a, "the restart was put off as often as allowed");
	} else if (now >= a->restart.first_prompt + a->conf.deadline) {
		force(a, "the restart deadline has passed");
	} else {
		a->prompt_id++;
		a->restart.until = 0;
		set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING,
		    "asking the user; open applications: %s", list);
		if (tray_prompt(a, a->prompt_id, a->restart.printers, apps, napps) == 0) {
			log_info("no tray helper is connected: taken as \"later\"");
			defer(a, "no tray helper connected to ask the user");
			a->restart.nobody_asked = 1;
		} else {
			arm(a, a->conf.defer_interval);
		}
	}
	apps_free(apps, napps);
}

void
restart_needed(struct agent *a, uint64_t gen, const char *printers)
{
	int p = a->restart.phase;

	if (a->conf.restart_command[0] == '\0') {
		a->restart.generation = gen;
		set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_NOT_REQUIRED,
		    "new printers (%s) need no restart here", printers);
		return;
	}
	a->restart.generation = gen;
	snprintf(a->restart.printers, sizeof(a->restart.printers), "%s", printers);
	if (p == PRINTREDIR__RESTART_PHASE__RESTART_PENDING ||
	    p == PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING ||
	    p == PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED ||
	    p == PRINTREDIR__RESTART_PHASE__RESTART_FORCED ||
	    p == PRINTREDIR__RESTART_PHASE__RESTART_RESTARTING)
		return;	/* one restart serves every change before it */
	a->restart.deferrals = 0;
	a->restart.first_prompt = 0;
	a->restart.until = 0;
	set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_PENDING,
	    "new printers: %s", printers);
	decide(a);
}

void
restart_answer(struct agent *a, uint64_t id, int now)
{
	if (a->restart.phase != PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING ||
	    id != a->prompt_id) {
		log_debug("ignoring an answer to prompt %llu", (unsigned long long)id);
		return;
	}
	uv_timer_stop(&a->restart_timer);
	if (now)
		do_restart(a, "the user chose to restart now");
	else
		defer(a, "the user chose later");
}

void
restart_trays_changed(struct agent *a)
{
	if (a->restart.phase == PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING &&
	    tray_count(a) == 0) {
		uv_timer_stop(&a->restart_timer);
		defer(a, "the tray helper went away before answering");
	} else if (a->restart.phase == PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED &&
	    a->restart.nobody_asked && tray_count(a) > 0) {
		/* The user's session came up after we wanted to ask: ask now. */
		uv_timer_stop(&a->restart_timer);
		a->restart.nobody_asked = 0;
		decide(a);
	}
}

static void
on_resume(uv_timer_t *t)
{
	decide(t->data);
}

void
restart_start(struct agent *a)
{
	struct restart *r = &a->restart;
	char boot[64];
	int64_t now = time(NULL);

	uv_timer_init(a->loop, &a->restart_timer);
	a->restart_timer.data = a;
	switch (r->phase) {
	case PRINTREDIR__RESTART_PHASE__RESTART_RESTARTING:
		if (read_boot_id(a, boot, sizeof(boot)) == 0 && boot[0] &&
		    strcmp(boot, r->boot_id) != 0) {
			r->until = 0;
			set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_DONE,
			    "workspace restarted in %llds", (long long)(now - r->requested_at));
		} else {
			r->until = now + a->conf.defer_interval;
			set_phase(a, PRINTREDIR__RESTART_PHASE__RESTART_FAILED,
			    "the restart command ran but the workspace did not restart; "
			    "trying again in %llds", (long long)a->conf.defer_interval);
			arm(a, a->conf.defer_interval);
		}
		break;
	case PRINTREDIR__RESTART_PHASE__RESTART_DEFERRED:
	case PRINTREDIR__RESTART_PHASE__RESTART_FAILED:
		arm(a, r->until > now ? r->until - now : 0);
		break;
	case PRINTREDIR__RESTART_PHASE__RESTART_PENDING:
	case PRINTREDIR__RESTART_PHASE__RESTART_PROMPTING:
		uv_timer_start(&a->restart_timer, on_resume, RESUME_MS, 0);
		break;
	case PRINTREDIR__RESTART_PHASE__RESTART_FORCED:
		arm(a, r->until > now ? r->until - now : 0);
		break;
	default:
		break;
	}
}

void
restart_stop(struct agent *a)
{
	if (a->restart_timer.loop && !uv_is_closing((uv_handle_t *)&a->restart_timer))
		uv_close((uv_handle_t *)&a->restart_timer, NULL);
}
