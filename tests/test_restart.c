/*
 * The workspace restart policy (guest-agent/restart.c), driven through
 * every transition with synthetic time: no timers, no processes, no trays.
 * Each step asserts the phase, the actions and the timer it leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../guest-agent/agent.h"
#include "runner.h"

#define P(x) PRINTREDIR__RESTART_PHASE__RESTART_##x
#define T0 1000000	/* the synthetic clock starts here */

static const struct restart_policy pol = {
	.enabled = 1, .command = "systemctl reboot", .defer_interval = 60,
	.max_deferrals = 3, .deadline = 600, .countdown = 30,
};

static char *firefox[] = { "firefox-esr", "libreoffice" };

/* One step of r with in (boot "boot-A" unless it says); returns the
 * actions. */
static unsigned
feed(struct restart *r, struct restart_input in)
{
	struct restart_actions out;

	if (in.boot_id == NULL)
		in.boot_id = "boot-A";
	restart_step(r, &pol, &in, &out);
	return out.todo;
}

#define step(r, ev, t, trays) \
	feed(r, (struct restart_input){ .event = (ev), .now = (t), .ntrays = (trays) })
#define changed(r, t, gen, names) feed(r, (struct restart_input){ \
	.event = RESTART_EV_CHANGED, .now = (t), .ntrays = 1, .generation = (gen), \
	.printers = (names) })
/* napps of the running applications firefox-esr, libreoffice (0: none). */
#define apps(r, t, n, trays) feed(r, (struct restart_input){ \
	.event = RESTART_EV_APPS, .now = (t), .ntrays = (trays), .apps = firefox, \
	.napps = (n) })
#define answer(r, t, id, now_) feed(r, (struct restart_input){ \
	.event = RESTART_EV_ANSWER, .now = (t), .ntrays = 1, .prompt_id = (id), \
	.restart_now = (now_) })
#define exited(r, t, st, sig, err) feed(r, (struct restart_input){ \
	.event = RESTART_EV_EXITED, .now = (t), .ntrays = 1, .status = (st), \
	.signo = (sig), .error = (err) })
#define start(r, t, boot) feed(r, (struct restart_input){ \
	.event = RESTART_EV_START, .now = (t), .ntrays = 1, .boot_id = (boot) })

#define DETAIL_HAS(r, text) ck_assert_msg(strstr((r)->detail, text) != NULL, \
	"detail \"%s\" lacks \"%s\"", (r)->detail, text)

/* A restart brought to prompting at T0 (first prompt T0). */
static void
to_prompting(struct restart *r)
{
	memset(r, 0, sizeof(*r));
	ck_assert_uint_eq(changed(r, T0, 1, "office"), RESTART_DO_REPORT | RESTART_DO_CHECK_APPS);
	ck_assert_int_eq(r->phase, P(PENDING));
	ck_assert_uint_eq(apps(r, T0, 2, 1), RESTART_DO_REPORT | RESTART_DO_PROMPT);
	ck_assert_int_eq(r->phase, P(PROMPTING));
}

START_TEST(no_application_restarts_at_once_and_silently)
{
	struct restart r = { 0 };

	ck_assert_uint_eq(changed(&r, T0, 7, "office, lab"),
	    RESTART_DO_REPORT | RESTART_DO_CHECK_APPS);
	ck_assert_int_eq(r.phase, P(PENDING));
	ck_assert_uint_eq(r.generation, 7);
	ck_assert_str_eq(r.printers, "office, lab");
	ck_assert_int_eq(r.report_pending, 1);
	ck_assert_uint_eq(apps(&r, T0, 0, 1), RESTART_DO_REPORT | RESTART_DO_RUN);
	ck_assert_int_eq(r.phase, P(RESTARTING));
	DETAIL_HAS(&r, "no application running");
	ck_assert_str_eq(r.boot_id, "boot-A");
	ck_assert_int_eq(r.requested_at, T0);
	ck_assert_int_eq(r.timer_at, 0);
	ck_assert_uint_eq(r.prompt_id, 0);	/* nobody was asked */
}
END_TEST

START_TEST(applications_prompt_the_user)
{
	struct restart r;

	to_prompting(&r);
	DETAIL_HAS(&r, "open applications: firefox-esr, libreoffice");
	ck_assert_uint_eq(r.prompt_id, 1);
	ck_assert_int_eq(r.first_prompt, T0);
	ck_assert_int_eq(r.until, 0);
	ck_assert_int_eq(r.timer_at, T0 + pol.defer_interval);	/* no answer by then: later */
}
END_TEST

START_TEST(later_defers_until_the_interval_then_asks_again)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(answer(&r, T0 + 5, 1, 0), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	DETAIL_HAS(&r, "the user chose later (1 of 3)");
	ck_assert_uint_eq(r.deferrals, 1);
	ck_assert_int_eq(r.until, T0 + 5 + 60);
	ck_assert_int_eq(r.timer_at, r.until);
	/* An early tick changes nothing. */
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 30, 1), 0);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	ck_assert_int_eq(r.timer_at, T0 + 65);
	/* At the time: the applications are looked at again, then the user. */
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 65, 1), RESTART_DO_CHECK_APPS);
	ck_assert_int_eq(r.timer_at, 0);
	ck_assert_uint_eq(apps(&r, T0 + 65, 1, 1), RESTART_DO_REPORT | RESTART_DO_PROMPT);
	ck_assert_int_eq(r.phase, P(PROMPTING));
	ck_assert_uint_eq(r.prompt_id, 2);
	ck_assert_int_eq(r.first_prompt, T0);	/* the deadline still counts from T0 */
}
END_TEST

START_TEST(deferred_and_the_applications_closed_restarts_silently)
{
	struct restart r;

	to_prompting(&r);
	answer(&r, T0, 1, 0);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 60, 1), RESTART_DO_CHECK_APPS);
	ck_assert_uint_eq(apps(&r, T0 + 60, 0, 1), RESTART_DO_REPORT | RESTART_DO_RUN);
	ck_assert_int_eq(r.phase, P(RESTARTING));
}
END_TEST

START_TEST(stale_or_unexpected_answers_are_ignored)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(answer(&r, T0, 9, 1), RESTART_DO_IGNORED);
	ck_assert_int_eq(r.phase, P(PROMPTING));
	answer(&r, T0, 1, 0);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	/* The same prompt answered twice (two trays): the second is late. */
	ck_assert_uint_eq(answer(&r, T0, 1, 1), RESTART_DO_IGNORED);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	ck_assert_uint_eq(r.deferrals, 1);
}
END_TEST

START_TEST(no_answer_is_taken_as_later)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 60, 1), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	DETAIL_HAS(&r, "no answer from the user");
	ck_assert_uint_eq(r.deferrals, 1);
	ck_assert_int_eq(r.timer_at, T0 + 120);
}
END_TEST

START_TEST(max_deferrals_forces_with_a_countdown)
{
	struct restart r;
	int64_t t = T0;

	to_prompting(&r);
	for (unsigned i = 1; i <= 3; i++) {
		ck_assert_uint_eq(answer(&r, t, r.prompt_id, 0), RESTART_DO_REPORT);
		ck_assert_uint_eq(r.deferrals, i);
		t = r.until;
		ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, t, 1), RESTART_DO_CHECK_APPS);
		if (i < 3)
			ck_assert_uint_eq(apps(&r, t, 1, 1),
			    RESTART_DO_REPORT | RESTART_DO_PROMPT);
	}
	ck_assert_uint_eq(apps(&r, t, 1, 1), RESTART_DO_REPORT | RESTART_DO_COUNTDOWN);
	ck_assert_int_eq(r.phase, P(FORCED));
	DETAIL_HAS(&r, "put off as often as allowed: the workspace restarts in 30s");
	ck_assert_int_eq(r.until, t + 30);
	ck_assert_int_eq(r.timer_at, t + 30);
	/* The user cannot put it off any more. */
	ck_assert_uint_eq(answer(&r, t + 1, r.prompt_id, 0), RESTART_DO_IGNORED);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, t + 29, 1), 0);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, t + 30, 1),
	    RESTART_DO_REPORT | RESTART_DO_RUN);
	ck_assert_int_eq(r.phase, P(RESTARTING));
	DETAIL_HAS(&r, "forced restart after the countdown");
}
END_TEST

START_TEST(deadline_forces_with_a_countdown)
{
	struct restart r;

	to_prompting(&r);
	answer(&r, T0 + 1, 1, 0);
	/* Asked again much later (the timer was late, the machine slept). */
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 599, 1), RESTART_DO_CHECK_APPS);
	ck_assert_uint_eq(apps(&r, T0 + 599, 1, 1), RESTART_DO_REPORT | RESTART_DO_PROMPT);
	answer(&r, T0 + 599, r.prompt_id, 0);
	ck_assert_uint_eq(r.deferrals, 2);	/* below the limit of 3 */
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 659, 1), RESTART_DO_CHECK_APPS);
	ck_assert_uint_eq(apps(&r, T0 + 659, 1, 1), RESTART_DO_REPORT | RESTART_DO_COUNTDOWN);
	ck_assert_int_eq(r.phase, P(FORCED));
	DETAIL_HAS(&r, "the restart deadline has passed");
	ck_assert_int_eq(r.timer_at, T0 + 659 + 30);
}
END_TEST

START_TEST(restart_now_runs_the_command)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(answer(&r, T0 + 3, 1, 1), RESTART_DO_REPORT | RESTART_DO_RUN);
	ck_assert_int_eq(r.phase, P(RESTARTING));
	DETAIL_HAS(&r, "the user chose to restart now");
	ck_assert_int_eq(r.timer_at, 0);	/* the prompt's timeout is gone */
	ck_assert_int_eq(r.requested_at, T0 + 3);
	/* Nothing starts it twice while it runs. */
	ck_assert_uint_eq(answer(&r, T0 + 4, 1, 1), RESTART_DO_IGNORED);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 4000, 1), 0);
	ck_assert_uint_eq(changed(&r, T0 + 5, 2, "other"), 0);
	ck_assert_int_eq(r.phase, P(RESTARTING));
}
END_TEST

START_TEST(command_failure_is_reported_and_retried)
{
	struct restart r = { 0 };

	changed(&r, T0, 1, "office");
	apps(&r, T0, 0, 1);
	ck_assert_uint_eq(exited(&r, T0 + 1, 3, 0, NULL), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(FAILED));
	DETAIL_HAS(&r, "restart command \"systemctl reboot\" exited with status 3; "
	    "trying again in 60s");
	ck_assert_int_eq(r.until, T0 + 61);
	ck_assert_int_eq(r.timer_at, T0 + 61);
	/* Tried again when the time comes, with the same policy. */
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 61, 1), RESTART_DO_CHECK_APPS);
	ck_assert_uint_eq(apps(&r, T0 + 61, 0, 1), RESTART_DO_REPORT | RESTART_DO_RUN);
	ck_assert_int_eq(r.phase, P(RESTARTING));
	/* Killed by a signal, or not started at all. */
	exited(&r, T0 + 62, 0, 9, NULL);
	DETAIL_HAS(&r, "was killed by signal 9");
	step(&r, RESTART_EV_TIMER, T0 + 122, 1);
	apps(&r, T0 + 122, 0, 1);
	ck_assert_uint_eq(exited(&r, T0 + 122, 0, 0, "no such file or directory"),
	    RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(FAILED));
	DETAIL_HAS(&r, "cannot run restart command \"systemctl reboot\": no such file");
}
END_TEST

START_TEST(a_command_that_succeeds_waits_for_the_new_boot)
{
	struct restart r = { 0 };

	changed(&r, T0, 1, "office");
	apps(&r, T0, 0, 1);
	ck_assert_uint_eq(exited(&r, T0 + 1, 0, 0, NULL), 0);
	ck_assert_int_eq(r.phase, P(RESTARTING));
	/* The agent of the new boot. */
	r.timer_at = 0;
	ck_assert_uint_eq(start(&r, T0 + 40, "boot-B"), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DONE));
	DETAIL_HAS(&r, "workspace restarted in 40s");
	ck_assert_int_eq(r.timer_at, 0);
}
END_TEST

START_TEST(same_boot_after_the_command_is_a_failure)
{
	struct restart r = { 0 };

	changed(&r, T0, 1, "office");
	apps(&r, T0, 0, 1);
	ck_assert_uint_eq(start(&r, T0 + 40, "boot-A"), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(FAILED));
	DETAIL_HAS(&r, "ran but the workspace did not restart; trying again in 60s");
	ck_assert_int_eq(r.timer_at, T0 + 100);
	/* An unknown boot id proves nothing either. */
	r.phase = P(RESTARTING);
	ck_assert_uint_eq(start(&r, T0 + 40, ""), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(FAILED));
}
END_TEST

START_TEST(a_change_while_deferred_or_prompting_waits_for_the_same_restart)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(changed(&r, T0 + 1, 2, "office, lab"), 0);
	ck_assert_int_eq(r.phase, P(PROMPTING));
	ck_assert_uint_eq(r.generation, 2);
	ck_assert_str_eq(r.printers, "office, lab");	/* the next prompt names both */
	ck_assert_int_eq(r.timer_at, T0 + 60);		/* the prompt's timeout stays */
	answer(&r, T0 + 2, 1, 0);
	ck_assert_uint_eq(changed(&r, T0 + 3, 3, "office, lab, hall"), 0);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	ck_assert_uint_eq(r.deferrals, 1);		/* no reset: no way around the limit */
	ck_assert_int_eq(r.timer_at, T0 + 62);
	ck_assert_uint_eq(r.generation, 3);
	/* After a restart is done, a new change starts a new restart. */
	r.phase = P(DONE);
	ck_assert_uint_eq(changed(&r, T0 + 9, 4, "x"), RESTART_DO_REPORT | RESTART_DO_CHECK_APPS);
	ck_assert_int_eq(r.phase, P(PENDING));
	ck_assert_uint_eq(r.deferrals, 0);
	ck_assert_int_eq(r.first_prompt, 0);
}
END_TEST

START_TEST(a_change_while_forced_keeps_the_countdown)
{
	struct restart r;

	to_prompting(&r);
	r.deferrals = 3;
	answer(&r, T0, 1, 0);		/* the 4th "later" */
	step(&r, RESTART_EV_TIMER, r.until, 1);
	apps(&r, r.until, 1, 1);
	ck_assert_int_eq(r.phase, P(FORCED));
	ck_assert_uint_eq(changed(&r, r.until + 1, 5, "y"), 0);
	ck_assert_int_eq(r.phase, P(FORCED));
	ck_assert_int_eq(r.timer_at, r.until);
}
END_TEST

START_TEST(no_tray_defers_and_a_tray_that_comes_is_asked)
{
	struct restart r = { 0 };

	changed(&r, T0, 1, "office");
	ck_assert_uint_eq(apps(&r, T0, 1, 0), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	DETAIL_HAS(&r, "no tray helper connected");
	ck_assert_int_eq(r.nobody_asked, 1);
	ck_assert_uint_eq(r.prompt_id, 0);
	/* A session without notifications changes nothing. */
	ck_assert_uint_eq(step(&r, RESTART_EV_TRAYS, T0 + 1, 0), 0);
	ck_assert_uint_eq(step(&r, RESTART_EV_TRAYS, T0 + 2, 1), RESTART_DO_CHECK_APPS);
	ck_assert_int_eq(r.nobody_asked, 0);
	ck_assert_int_eq(r.timer_at, 0);
	ck_assert_uint_eq(apps(&r, T0 + 2, 1, 1), RESTART_DO_REPORT | RESTART_DO_PROMPT);
	ck_assert_int_eq(r.phase, P(PROMPTING));
	/* Once the user was asked, a second tray does not ask again. */
	answer(&r, T0 + 3, r.prompt_id, 0);
	ck_assert_uint_eq(step(&r, RESTART_EV_TRAYS, T0 + 4, 2), 0);
	ck_assert_int_eq(r.phase, P(DEFERRED));
}
END_TEST

START_TEST(the_tray_leaving_while_prompting_defers)
{
	struct restart r;

	to_prompting(&r);
	ck_assert_uint_eq(step(&r, RESTART_EV_TRAYS, T0 + 5, 0), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DEFERRED));
	DETAIL_HAS(&r, "went away before answering");
	ck_assert_int_eq(r.timer_at, T0 + 65);
}
END_TEST

START_TEST(no_restart_command_means_not_required)
{
	const struct restart_policy off = { .enabled = 0, .command = "" };
	const struct restart_input in = { .event = RESTART_EV_CHANGED, .now = T0,
	    .ntrays = 1, .boot_id = "b", .generation = 3, .printers = "office" };
	struct restart_actions out;
	struct restart r = { 0 };

	restart_step(&r, &off, &in, &out);
	ck_assert_uint_eq(out.todo, RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(NOT_REQUIRED));
	DETAIL_HAS(&r, "new printers (office) need no restart here");
	ck_assert_uint_eq(r.generation, 3);
	ck_assert_int_eq(r.timer_at, 0);
}
END_TEST

/* Saves r the way the agent does and reads it back into a fresh struct,
 * as a crash and a restart of the agent would: what is not persisted is
 * lost. */
static void
crash_and_reload(struct restart *r)
{
	struct wish w = { 0 };
	struct applied ap = { 0 };
	struct link_status ls = { 0 };
	struct restart back = { 0 };
	struct state s = { .guest_id = "g", .wish = &w, .applied = &ap, .link = &ls,
	    .restart = r };

	ck_assert_int_eq(state_save(runner_tmpdir(), &s), 0);
	s.restart = &back;
	ck_assert_int_eq(state_load(runner_tmpdir(), &s), 0);
	state_free(&s);
	ck_assert_int_eq(back.phase, r->phase);
	ck_assert_uint_eq(back.deferrals, r->deferrals);
	ck_assert_int_eq(back.until, r->until);
	ck_assert_int_eq(back.timer_at, 0);
	*r = back;
}

START_TEST(crash_and_reload_in_every_phase)
{
	struct restart r;
	int64_t t;

	/* pending: resumed a second after the start (the link comes first). */
	memset(&r, 0, sizeof(r));
	changed(&r, T0, 1, "office");
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, T0 + 10, "boot-A"), 0);
	ck_assert_int_eq(r.phase, P(PENDING));
	ck_assert_int_eq(r.timer_at, T0 + 11);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 11, 1), RESTART_DO_CHECK_APPS);

	/* prompting: the prompt died with the agent; ask again, same deadline. */
	to_prompting(&r);
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, T0 + 10, "boot-A"), 0);
	ck_assert_int_eq(r.phase, P(PENDING));
	ck_assert_int_eq(r.timer_at, T0 + 11);
	step(&r, RESTART_EV_TIMER, T0 + 11, 1);
	ck_assert_uint_eq(apps(&r, T0 + 11, 1, 1), RESTART_DO_REPORT | RESTART_DO_PROMPT);
	ck_assert_int_eq(r.first_prompt, T0);
	ck_assert_int_eq(r.phase, P(PROMPTING));

	/* deferred: the timer comes back at the same time, or at once when past. */
	to_prompting(&r);
	answer(&r, T0, 1, 0);
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, T0 + 10, "boot-A"), 0);
	ck_assert_int_eq(r.timer_at, T0 + 60);
	ck_assert_uint_eq(r.deferrals, 1);
	crash_and_reload(&r);
	start(&r, T0 + 500, "boot-A");
	ck_assert_int_eq(r.timer_at, T0 + 500);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, T0 + 500, 1), RESTART_DO_CHECK_APPS);

	/* deferred because nobody could be asked: still waiting for a tray. */
	memset(&r, 0, sizeof(r));
	changed(&r, T0, 1, "office");
	apps(&r, T0, 1, 0);
	crash_and_reload(&r);
	start(&r, T0 + 1, "boot-A");
	ck_assert_uint_eq(step(&r, RESTART_EV_TRAYS, T0 + 2, 1), RESTART_DO_CHECK_APPS);

	/* forced: the countdown is not restarted, and cannot be escaped. */
	to_prompting(&r);
	r.deferrals = 3;
	answer(&r, T0, 1, 0);
	t = r.until;
	step(&r, RESTART_EV_TIMER, t, 1);
	apps(&r, t, 1, 1);
	ck_assert_int_eq(r.phase, P(FORCED));
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, t + 5, "boot-A"), 0);
	ck_assert_int_eq(r.timer_at, t + 30);
	ck_assert_uint_eq(step(&r, RESTART_EV_TIMER, t + 30, 1),
	    RESTART_DO_REPORT | RESTART_DO_RUN);

	/* failed: retried at the time it said. */
	memset(&r, 0, sizeof(r));
	changed(&r, T0, 1, "office");
	apps(&r, T0, 0, 1);
	exited(&r, T0, 3, 0, NULL);
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, T0 + 1, "boot-A"), 0);
	ck_assert_int_eq(r.timer_at, T0 + 60);

	/* restarting: the boot id tells done from failed. */
	memset(&r, 0, sizeof(r));
	changed(&r, T0, 1, "office");
	apps(&r, T0, 0, 1);
	crash_and_reload(&r);
	ck_assert_str_eq(r.boot_id, "boot-A");
	ck_assert_uint_eq(start(&r, T0 + 20, "boot-B"), RESTART_DO_REPORT);
	ck_assert_int_eq(r.phase, P(DONE));

	/* done: nothing to do at a start. */
	crash_and_reload(&r);
	ck_assert_uint_eq(start(&r, T0 + 30, "boot-B"), 0);
	ck_assert_int_eq(r.phase, P(DONE));
	ck_assert_int_eq(r.timer_at, 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("restart");
	TCase *tc = tcase_create("restart");

	tcase_add_test(tc, no_application_restarts_at_once_and_silently);
	tcase_add_test(tc, applications_prompt_the_user);
	tcase_add_test(tc, later_defers_until_the_interval_then_asks_again);
	tcase_add_test(tc, deferred_and_the_applications_closed_restarts_silently);
	tcase_add_test(tc, stale_or_unexpected_answers_are_ignored);
	tcase_add_test(tc, no_answer_is_taken_as_later);
	tcase_add_test(tc, max_deferrals_forces_with_a_countdown);
	tcase_add_test(tc, deadline_forces_with_a_countdown);
	tcase_add_test(tc, restart_now_runs_the_command);
	tcase_add_test(tc, command_failure_is_reported_and_retried);
	tcase_add_test(tc, a_command_that_succeeds_waits_for_the_new_boot);
	tcase_add_test(tc, same_boot_after_the_command_is_a_failure);
	tcase_add_test(tc, a_change_while_deferred_or_prompting_waits_for_the_same_restart);
	tcase_add_test(tc, a_change_while_forced_keeps_the_countdown);
	tcase_add_test(tc, no_tray_defers_and_a_tray_that_comes_is_asked);
	tcase_add_test(tc, the_tray_leaving_while_prompting_defers);
	tcase_add_test(tc, no_restart_command_means_not_required);
	tcase_add_test(tc, crash_and_reload_in_every_phase);
	suite_add_tcase(s, tc);
	return s;
}
