#!/bin/bash
# The host's cupsd pushes its events: the broker's subscription runs
# printredir's notifier (build/printredir-notifier, in the host's ServerBin
# as notifier/printredir), which passes each event to the broker's events
# socket.  Changes arrive at once, an idle broker asks the host nothing,
# the notifier and the host's cupsd may go away, strangers on the socket
# are turned away, and host_events = poll (or no notifier) falls back to
# pulling the subscription.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all
events() { status_json | jq -r .broker.host_events; }
check "status says the host's changes are pushed" test "$(events)" = push
check "and the table says so" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' |
	head -n 1 | grep -q '(changes push)$'"
check "and the metrics" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --prometheus |
	grep -qx 'printredir_host_events_pushed 1'"

in_guest() { lpstat -h "$GUEST" -p "$1" >/dev/null 2>&1; }
add() { lpadmin -h "$HOST" -p "$1" -E -v "ipp://$PS/printers/generic_pdf"; }
add pushed_1
check "a host queue added reaches the guest" wait_for 5 in_guest pushed_1
notifier() { pgrep -f "$HOST_DIR/serverbin/notifier/printredir" | head -n 1; }
check "the host's cupsd runs printredir's notifier for the subscription" test -n "$(notifier)"
check "which said hello to the broker with the subscription's token" \
	grep -q "push: the host CUPS notifier is connected" "$W/broker.log"

# Idle: the host's access log has every request (AccessLogLevel all); the
# broker's periodic listing comes every relist_interval (10 s here).
requests() { grep -c 'CUPS-Get-Printers\|Get-Notifications\|Renew-Subscription' "$HOST_DIR/log/access_log"; }
# The listing for pushed_1 is over once the count holds for a moment.
settled() { local n; n=$(requests); sleep 0.3; [ "$(requests)" -eq "$n" ]; }
wait_for 5 settled
before=$(requests)
sleep 3
check "idle for 3 s, the broker asked the host's cupsd nothing ($before requests before)" \
	test "$(requests)" -eq "$before"
check "and never pulled a notification" bash -c "! grep -q Get-Notifications '$HOST_DIR/log/access_log'"
add pushed_2
check "the next change is still seen at once, and the broker lists the host for it" \
	wait_for 5 bash -c "lpstat -h '$GUEST' -p pushed_2 >/dev/null 2>&1 && [ \$(grep -c 'CUPS-Get-Printers' '$HOST_DIR/log/access_log') -gt 0 ]"

# --- the notifier goes away: cupsd runs it again at the next event ---------------
pid=$(notifier)
kill -KILL "$pid"
check "a killed notifier: the broker checks its subscription" \
	wait_for 5 grep -q "push: the host CUPS notifier went away" "$W/broker.log"
add pushed_3
check "and the next change still arrives, through a new notifier" wait_for 5 in_guest pushed_3
check "which cupsd started anew" bash -c "[ -n \"\$(pgrep -f '$HOST_DIR/serverbin/notifier/printredir')\" ] &&
	[ \"\$(pgrep -f '$HOST_DIR/serverbin/notifier/printredir' | head -n 1)\" != $pid ]"

# --- strangers on the events socket ------------------------------------------------
raw() { "$BUILD/tests/rawpeer" -t 8 -c "$W/events.sock" "$@" >/dev/null 2>"$W/raw.end"; }
raw text:$'printredir-notifier 1 0123456789abcdef0123456789abcdef\nevent 1 printer-added\n'
check "a hello with another token loses its connection at once" grep -q "^end eof" "$W/raw.end"
raw text:$'GET / HTTP/1.1\r\n\r\n'
check "so does a line that is no hello" grep -q "^end eof" "$W/raw.end"
raw text:"$(head -c 400 /dev/zero | tr '\0' x)"
check "and a line over 160 bytes" grep -Eq "^end (eof|reset)" "$W/raw.end"
raw text:x
ms=$(sed -n 's/^end eof .* ms=\([0-9]*\).*/\1/p' "$W/raw.end")
check "a connection that says no hello is dropped after 5 s (${ms:-not} ms)" \
	test "${ms:-0}" -ge 4500 -a "${ms:-0}" -lt 8000
add pushed_4
check "the broker still serves: the next change arrives" wait_for 5 in_guest pushed_4

# --- the host's cupsd restarts --------------------------------------------------------
kill -TERM "$HOST_PID"
wait_for 10 bash -c "! kill -0 $HOST_PID 2>/dev/null"
host_error() { status_json | jq -e '.broker.error != null' >/dev/null; }
check "the host's cupsd stopping shows in status at once (its notifier went away)" wait_for 5 host_error
cupsd -f -c "$HOST_DIR/cupsd.conf" -s "$HOST_DIR/cups-files.conf" >>"$W/host-cupsd.log" 2>&1 &
PIDS+=($!)
check "the broker is back with the host's cupsd" wait_for 20 bash -c \
	"'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -e '.broker.error == null' >/dev/null"
add pushed_5
check "and changes are pushed again" wait_for 5 in_guest pushed_5
check "status says push" test "$(events)" = push

# --- the fallback: pulling ------------------------------------------------------------------
broker_stop
echo "host_events = poll" >>"$W/broker.conf"
broker_start
check "host_events = poll: status says poll, the metrics 0" wait_for 10 bash -c "[ \"\$('$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r .broker.host_events)\" = poll ] &&
	'$BUILD/host-broker' status -c '$W/broker.conf' --prometheus | grep -qx 'printredir_host_events_pushed 0'"
add pulled_1
check "and changes arrive by pulling the subscription" wait_for 5 in_guest pulled_1
check "the broker pulls (Get-Notifications in the host's log)" \
	wait_for 5 grep -q Get-Notifications "$HOST_DIR/log/access_log"
finish
