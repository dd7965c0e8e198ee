#!/bin/bash
# Scenario 4, the restart policy with the real broker and agent: silent
# when no application runs; prompted, deferred and forced when one does;
# "done" after the (simulated) new boot; a failing restart command is
# reported failed and tried again.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

APP_UID=42424	# an unprivileged "desk user" for the running application
pkill -u $APP_UID 2>/dev/null	# a stray one from an interrupted run would count

world_start
broker_conf "print_server = $PS"
broker_start || exit 1

restart_conf() {	# restart_conf ID DEFER MAX DEADLINE COUNTDOWN
	cat /proc/sys/kernel/random/uuid >"$W/boot_id-$1"
	agent_conf "$1" "
[restart]
command = $TOP/tests/e2e/fake-restart $W $1 $BUILD
boot_id_file = $W/boot_id-$1
defer_interval = $2
max_deferrals = $3
deadline = $4
countdown = $5
apps_uid_min = 42000
apps_ignore = fake-tray
tray_socket = unix:$W/tray-$1.sock"
}
calls() { [ -f "$W/restart-$1.calls" ] && wc -l <"$W/restart-$1.calls" || echo 0; }
phase() { status_json | jq -r --arg g "$1" '.guests[] | select(.id == $g) | .restart'; }
phase_is() { [ "$(phase "$1")" = "$2" ]; }

# --- nothing running: at once and silently ---------------------------------------
restart_conf quiet 60s 3 1h 10s
agent_start quiet
check "no application running: the restart command runs" wait_for 30 test -s "$W/restart-quiet.calls"
# From the end of the install pass (the agent's log) to the command's call.
clock_ms() { IFS=:. read -r h m s ms <<<"$1"; echo $(((10#$h * 3600 + 10#$m * 60 + 10#$s) * 1000 + 10#$ms)); }
t_inst=$(clock_ms "$(grep -m1 'generation 1 applied' "$W/agent-quiet.log" | cut -d' ' -f1)")
t_call=$(clock_ms "$(head -1 "$W/restart-quiet.calls" | cut -d' ' -f2)")
check "within a second of the install ($((t_call - t_inst)) ms)" \
	test $((t_call - t_inst)) -ge 0 -a $((t_call - t_inst)) -lt 1000
check "without asking anyone" bash -c "! grep -q 'restart prompting' '$W/agent-quiet.log'"
check "after the new boot the broker shows done" wait_for 20 phase_is quiet "done"
check "and how long it took" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -r '.guests[] | select(.id == \"quiet\") | .restart_detail' | grep -q 'restarted in'"
check "one restart for one change" test "$(calls quiet)" -eq 1
agent_stop quiet

# --- an application running: ask, defer, force ----------------------------------------
setpriv --reuid=$APP_UID --regid=$APP_UID --clear-groups sleep 600 &
PIDS+=($!)
# This first tray is hostile before it says hello: null and wrongly typed
# members once killed the root agent (SIGSEGV).
"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a none -x '{"type":null}' \
	-x '{"type":"answer","id":1,"choice":null}' -x '{"type":"answer","id":"1","choice":7}' \
	-x '{"type":"hello","notifications":null}' -x 'not json' >"$W/tray-busy.out" 2>&1 &
tray=$!
PIDS+=("$tray")
# Two desk users' trays: the application's owner, and one with none open
# who would say "restart now" to anything.
setpriv --reuid=$APP_UID --regid=$APP_UID --clear-groups \
	"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a none >"$W/tray-owner.out" 2>&1 &
PIDS+=($!)
setpriv --reuid=$((APP_UID + 1)) --regid=$((APP_UID + 1)) --clear-groups \
	"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a now >"$W/tray-other.out" 2>&1 &
PIDS+=($!)
restart_conf busy 2s 3 1h 2s
agent_start busy
# The guest already has the host's printers (one guest CUPS for both
# agents here): a new host printer is the change that needs a restart.
wait_for 30 guest_synced busy
lpadmin -h "$HOST" -p busy_new -E -v "ipp://$PS/printers/generic_pdf"
check "an application running: the agent prompts the tray" \
	wait_for 30 grep -q '"type":"prompt"' "$W/tray-busy.out"
check "the prompt names the open application" grep -q '"apps":\["sleep"\]' "$W/tray-busy.out"
check "the application's owner is asked too" wait_for 5 grep -q '"apps":\["sleep"\]' "$W/tray-owner.out"
check "another desk user, with no application open, is not asked" \
	bash -c "! grep -q prompt '$W/tray-other.out'"
check "the hostile tray lines were refused, each with a reason" \
	test "$(grep -c 'tray of uid 0: line refused (.\+)' "$W/agent-busy.log")" -eq 4
check "a hello with a null member is a tray that cannot ask" \
	grep -q 'tray of uid 0 has no notification server' "$W/agent-busy.log"
check "and the agent lived on" kill -0 "$(cat "$W/agent-busy.pid")"
check "the broker shows prompting" wait_for 10 phase_is busy prompting
# That user forges an answer to the prompt it was not sent.
id=$(grep -o '"id":[0-9]*' "$W/tray-busy.out" | head -1 | cut -d: -f2)
setpriv --reuid=$((APP_UID + 1)) --regid=$((APP_UID + 1)) --clear-groups \
	"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a none \
	-y "{\"type\":\"answer\",\"id\":$id,\"choice\":\"now\"}" >/dev/null 2>&1 &
PIDS+=($!)
check "an answer from a tray not asked is ignored, saying so" wait_for 10 grep -q \
	"tray of uid $((APP_UID + 1)) answered prompt $id, which it was not asked; ignored" "$W/agent-busy.log"
check "and nothing restarts while the user has not answered" test "$(calls busy)" -eq 0

# The user answers "later" from now on.
kill "$tray"
"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a later >"$W/tray-busy2.out" 2>&1 &
tray=$!
PIDS+=("$tray")
check "answer later: deferred" wait_for 10 phase_is busy deferred
asked_again() { [ "$(grep -c '"type":"prompt"' "$W/tray-busy2.out")" -ge 2 ]; }
check "asked again after defer_interval" wait_for 10 asked_again
check "max_deferrals reached: forced, with a countdown to the tray" \
	wait_for 15 grep -q '"type":"countdown"' "$W/tray-busy2.out"
check "the broker shows forced" bash -c "[ \"\$('$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -r '.guests[] | select(.id == \"busy\") | .restart')\" = forced ] ||
	grep -q 'restart forced' '$W/agent-busy.log'"
check "the restart command runs after the countdown" wait_for 10 test -s "$W/restart-busy.calls"
check "after the simulated boot the broker shows done" wait_for 20 phase_is busy "done"
check "deferrals are reported" bash -c "[ \"\$('$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq '.guests[] | select(.id == \"busy\") | .deferrals')\" -ge 2 ]"

# --- restart now ---------------------------------------------------------------------------
kill "$tray" 2>/dev/null	# it may have left with the agent it served
"$BUILD/tests/fake-tray" -s "$W/tray-busy.sock" -a now >"$W/tray-now.out" 2>&1 &
PIDS+=($!)
sleep 1
lpadmin -h "$HOST" -p restart_now -E -v "ipp://$PS/printers/generic_pdf"
check "answer restart now: the restart command runs at once" \
	wait_for 20 bash -c "[ \$(wc -l <'$W/restart-busy.calls') -ge 2 ]"
check "and the broker shows done again" wait_for 20 phase_is busy "done"

# --- a change that only removes needs no restart ----------------------------------------------
n=$(calls busy)
lpadmin -h "$HOST" -x restart_now
gone() { ! lpstat -h "$GUEST" -p restart_now >/dev/null 2>&1; }
wait_for 15 gone
sleep 1
check "removing a printer needs no restart" test "$(calls busy)" -eq "$n"

# --- the restart command fails -----------------------------------------------------------
agent_stop busy
pkill -u $APP_UID	# nothing running: the restart is silent
restart_conf failing 2s 3 1h 2s
touch "$W/restart-failing.fail"
agent_start failing
wait_for 30 guest_synced failing
lpadmin -h "$HOST" -p failing_new -E -v "ipp://$PS/printers/generic_pdf"
failed_with_status() {
	status_json | jq -r '.guests[] | select(.id == "failing") | "\(.restart) \(.restart_detail)"' |
		grep -q '^failed .*exited with status 3; trying again'
}
check "a failing restart command is reported failed, with its exit status" wait_for 30 failed_with_status
check "it is tried again after defer_interval, and then the restart is done" wait_for 20 phase_is failing "done"
check "two calls: the failed one and the one that worked" test "$(calls failing)" -eq 2

finish
