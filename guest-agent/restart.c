/*
 * The workspace restart that makes every application offer new printers,
 * as a pure state machine: restart_step() takes the state, one event and
 * the time, and says what to do.  No timers, no I/O and no libuv here; the
 * hub (agent.c) turns the actions into tray messages, a process spawn and
 * one timer, and feeds the outcomes back as events.
 *
 *   pending --(no application running)--------------------> restarting --> done
 *      |                                                          ^
 *      +--(applications)--> prompting --(restart now)-------------+
 *                             |   ^                               |
 *                     (later) v   | (defer_interval elapsed)      |
 *                            deferred --(max_deferrals or deadline)--> forced
 *                                                       (countdown) --+
 *
 * A restart command that fails (or a workspace that did not restart) is
 * "failed" and tried again after defer_interval.  The boot id the agent
 * asked to leave is recorded, so that the agent started in the new boot
 * can confirm "done" and say how long the restart took.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

#define RESUME_SECS 1	/* after a start, let the link come up first */

#define PHASE(x) PRINTREDIR__RESTART_PHASE__RESTART_##x

static void
set_phase(struct restart *r, struct restart_actions *out, int phase,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set_phase(struct restart *r, struct restart_actions *out, int phase,
    const char *fmt, ...)
{
	va_list ap;

	r->phase = phase;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	r->report_pending = 1;
	out->todo |= RESTART_DO_REPORT;
}

static void
run(struct restart *r, const struct restart_input *in, struct restart_actions *out,
    const char *why)
{
	snprintf(r->boot_id, sizeof(r->boot_id), "%s", in->boot_id ? in->boot_id : "");
	r->requested_at = in->now;
	r->until = 0;
	r->timer_at = 0;
	set_phase(r, out, PHASE(RESTARTING), "%s", why);
	out->todo |= RESTART_DO_RUN;
}

static void
defer(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out, const char *why)
{
	r->nobody_asked = 0;
	r->deferrals++;
	r->until = in->now + pol->defer_interval;
	r->timer_at = r->until;
	set_phase(r, out, PHASE(DEFERRED), "%s (%u of %lld)", why, r->deferrals,
	    pol->max_deferrals);
}

static void
force(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out, const char *why)
{
	r->until = in->now + pol->countdown;
	r->timer_at = r->until;
	set_phase(r, out, PHASE(FORCED), "%s: the workspace restarts in %llds", why,
	    pol->countdown);
	out->todo |= RESTART_DO_COUNTDOWN;
}

static void
failed(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out, const char *why)
{
	r->until = in->now + pol->defer_interval;
	r->timer_at = r->until;
	set_phase(r, out, PHASE(FAILED), "%s; trying again in %llds", why,
	    pol->defer_interval);
}

/* The applications that run are known: restart now, ask, or force. */
static void
decide(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out)
{
	char list[1024] = "";
	size_t o = 0;

	if (in->napps == 0) {
		run(r, in, out, "no application running: restarting at once");
		return;
	}
	for (size_t i = 0; i < in->napps && o + 2 < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
		    in->apps[i]);
	if (r->first_prompt == 0)
		r->first_prompt = in->now;
	if ((long long)r->deferrals >= pol->max_deferrals) {
		force(r, pol, in, out, "the restart was put off as often as allowed");
	} else if (in->now >= r->first_prompt + pol->deadline) {
		force(r, pol, in, out, "the restart deadline has passed");
	} else if (in->ntrays == 0) {
		/* Nobody can be asked: as if the user said later, and ask as
		 * soon as a tray comes. */
		defer(r, pol, in, out, "no tray helper connected to ask the user");
		r->nobody_asked = 1;
	} else {
		r->prompt_id++;
		r->until = 0;
		r->timer_at = in->now + pol->defer_interval;
		set_phase(r, out, PHASE(PROMPTING), "asking the user; open applications: %s",
		    list);
		out->todo |= RESTART_DO_PROMPT;
	}
}

static void
on_start(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out)
{
	r->timer_at = 0;
	switch (r->phase) {
	case PHASE(RESTARTING):
		if (in->boot_id && in->boot_id[0] && strcmp(in->boot_id, r->boot_id) != 0) {
			r->until = 0;
			set_phase(r, out, PHASE(DONE), "workspace restarted in %llds",
			    (long long)(in->now - r->requested_at));
		} else {
			failed(r, pol, in, out,
			    "the restart command ran but the workspace did not restart");
		}
		break;
	case PHASE(DEFERRED):
	case PHASE(FAILED):
	case PHASE(FORCED):
		/* A time already past fires at once. */
		r->timer_at = r->until > in->now ? r->until : in->now;
		break;
	case PHASE(PROMPTING):
		/* The prompt died with the previous run: ask again. */
		r->phase = PHASE(PENDING);
		/* FALLTHROUGH */
	case PHASE(PENDING):
		r->timer_at = in->now + RESUME_SECS;
		break;
	default:
		break;
	}
}

static void
on_changed(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out)
{
	int p = r->phase;

	r->generation = in->generation;
	if (!pol->enabled) {
		set_phase(r, out, PHASE(NOT_REQUIRED), "new printers (%s) need no restart here",
		    in->printers);
		return;
	}
	snprintf(r->printers, sizeof(r->printers), "%s", in->printers);
	if (p == PHASE(PENDING) || p == PHASE(PROMPTING) || p == PHASE(DEFERRED) ||
	    p == PHASE(FORCED) || p == PHASE(RESTARTING))
		return;	/* one restart serves every change before it */
	r->deferrals = 0;
	r->first_prompt = 0;
	r->until = 0;
	r->timer_at = 0;
	set_phase(r, out, PHASE(PENDING), "new printers: %s", in->printers);
	out->todo |= RESTART_DO_CHECK_APPS;
}

static void
on_exited(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out)
{
	char why[1024];

	if (r->phase != PHASE(RESTARTING))
		return;
	if (in->error)
		snprintf(why, sizeof(why), "cannot run restart command \"%s\": %s",
		    pol->command, in->error);
	else if (in->signo == 0 && in->status == 0)
		return;	/* the new boot confirms it */
	else
		snprintf(why, sizeof(why), "restart command \"%s\" %s %d", pol->command,
		    in->signo ? "was killed by signal" : "exited with status",
		    in->signo ? in->signo : (int)in->status);
	failed(r, pol, in, out, why);
}

void
restart_step(struct restart *r, const struct restart_policy *pol,
    const struct restart_input *in, struct restart_actions *out)
{
	int p = r->phase;

	memset(out, 0, sizeof(*out));
	switch (in->event) {
	case RESTART_EV_START:
		on_start(r, pol, in, out);
		break;
	case RESTART_EV_CHANGED:
		on_changed(r, pol, in, out);
		break;
	case RESTART_EV_APPS:
		if (p == PHASE(PENDING) || p == PHASE(DEFERRED) || p == PHASE(FAILED))
			decide(r, pol, in, out);
		break;
	case RESTART_EV_TIMER:
		if (in->now < r->timer_at)
			break;	/* an early or stale tick */
		r->timer_at = 0;
		if (p == PHASE(PROMPTING))
			defer(r, pol, in, out, "no answer from the user: taken as later");
		else if (p == PHASE(FORCED))
			run(r, in, out, "forced restart after the countdown");
		else if (p == PHASE(PENDING) || p == PHASE(DEFERRED) || p == PHASE(FAILED))
			out->todo |= RESTART_DO_CHECK_APPS;
		break;
	case RESTART_EV_ANSWER:
		if (p != PHASE(PROMPTING) || in->prompt_id != r->prompt_id) {
			out->todo |= RESTART_DO_IGNORED;
			break;
		}
		if (in->restart_now)
			run(r, in, out, "the user chose to restart now");
		else
			defer(r, pol, in, out, "the user chose later");
		break;
	case RESTART_EV_TRAYS:
		if (p == PHASE(PROMPTING) && in->ntrays == 0) {
			defer(r, pol, in, out, "the tray helper went away before answering");
		} else if (p == PHASE(DEFERRED) && r->nobody_asked && in->ntrays > 0) {
			/* The user's session came up after we wanted to ask. */
			r->nobody_asked = 0;
			r->timer_at = 0;
			out->todo |= RESTART_DO_CHECK_APPS;
		}
		break;
	case RESTART_EV_EXITED:
		on_exited(r, pol, in, out);
		break;
	}
}

const char *
restart_event_name(enum restart_event ev)
{
	static const char *const names[] = {
		[RESTART_EV_START] = "start", [RESTART_EV_CHANGED] = "changed",
		[RESTART_EV_APPS] = "apps", [RESTART_EV_TIMER] = "timer",
		[RESTART_EV_ANSWER] = "answer", [RESTART_EV_TRAYS] = "trays",
		[RESTART_EV_EXITED] = "exited",
	};

	return (unsigned)ev < sizeof(names) / sizeof(names[0]) && names[ev] ?
	    names[ev] : "unknown";
}
