#!/bin/bash
# tests/load: one broker under load (make load-check).  200 host printers,
# 100 real agents (guest-agent --dry-run: each takes the broker's sets,
# stores the drivers and reports every printer, but touches no CUPS, so
# that 100 guests fit on one machine), while a monitor asks the control
# socket for the status 1,000 times a second for 30 s and the host adds
# and removes printers.  The monitor asks for the summary (host-broker
# status --summary: counts, not the 20,000 lines of every guest's every
# printer); the full document's rate is measured after.  Asserts: no guest
# dropped, every guest's report on the last generation reached the broker,
# status always answered; prints the broker's peak memory (target: at most
# 64 MiB) and the timings.
#
#   LOAD_AGENTS=100 LOAD_PRINTERS=200 LOAD_RATE=1000 LOAD_SECONDS=30 tests/load/run.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

AGENTS=${LOAD_AGENTS:-100}
PRINTERS=${LOAD_PRINTERS:-200}
RATE=${LOAD_RATE:-1000}
SECONDS_UNDER_LOAD=${LOAD_SECONDS:-30}
RSS_TARGET_KB=$((64 * 1024))

say() { echo "load: $*"; }
ms_since() { echo $(($(now_ms) - $1)); }

world_start
t0=$(now_ms)
add_host_printers load "$PRINTERS"
say "$PRINTERS host printers added in $(ms_since "$t0") ms"
redirected() { status_json | jq '[.printers[] | select(.redirected)] | length'; }

broker_conf "print_server = $PS"
"$BUILD/host-broker" -c "$W/broker.conf" >>"$W/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
check "the broker starts" wait_for 10 test -S "$W/control.sock" || finish
all_listed() { [ "$(redirected)" -ge "$PRINTERS" ]; }
check "it offers the $PRINTERS printers and more" wait_for 60 all_listed || finish
total=$(redirected)

# 100 guests.
t0=$(now_ms)
start_dry_agents "$AGENTS"
# Guests on the broker's generation that report on every printer it offers.
synced_count() {
	status_json | jq --argjson n "$1" '.broker.generation as $b |
		[.guests[] | select(.connected and .generation == $b and
		 (.printers | length) == $n)] | length'
}
all_synced() { [ "$(synced_count "$1")" -eq "$AGENTS" ]; }
check "all $AGENTS agents report on all $total printers" wait_for 120 all_synced "$total" || finish
say "first sync of $AGENTS agents: $(ms_since "$t0") ms"

# The load: a monitor at $RATE requests a second, and the host changing.
"$BUILD/tests/statusload" -s "$W/control.sock" -q summary -r "$RATE" -t "$SECONDS_UNDER_LOAD" \
	>"$W/statusload.out" 2>&1 &
load=$!
sleep $((SECONDS_UNDER_LOAD / 3))
t0=$(now_ms)
for i in 1 2 3 4 5; do
	lpadmin -h "$HOST" -p "load_new_$i" -E -v "ipp://$PS/printers/generic_pdf"
done
check "5 printers added under load reach all $AGENTS guests" wait_for 30 all_synced $((total + 5))
say "5 printers added: every guest's report on them after $(ms_since "$t0") ms"
sleep $((SECONDS_UNDER_LOAD / 3))
t0=$(now_ms)
for i in 1 2 3 4 5; do lpadmin -h "$HOST" -x "load_new_$i"; done
check "and their removal too" wait_for 30 all_synced "$total"
say "5 printers removed: every guest's report after $(ms_since "$t0") ms"
wait "$load"
rc=$?
say "summary under load: $(cat "$W/statusload.out")"
check "every status request was answered" test "$rc" -eq 0
rate=$(awk '{print $6}' "$W/statusload.out" | tr -d '/s')
check "at $RATE a second (${rate:-0})" test "${rate:-0}" -ge $((RATE * 95 / 100))

check "no guest was dropped" bash -c "! grep -q 'disconnected' '$W/broker.log'"
check "no agent lost its broker" bash -c "! grep -l 'lost the broker' '$W'/agent-a*.log"
alive=0
for i in $(seq -f '%03g' "$AGENTS"); do
	kill -0 "$(cat "$W/agent-a$i.pid")" 2>/dev/null && alive=$((alive + 1))
done
check "all $AGENTS agents still run ($alive)" test "$alive" -eq "$AGENTS"
check "and all are in sync" all_synced "$total"

"$BUILD/tests/statusload" -s "$W/control.sock" -q status -r 100000 -t 5 >"$W/full.out" 2>&1
say "the full status document, as fast as it comes for 5 s: $(cat "$W/full.out")"
check "is answered every time" test $? -eq 0
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$BROKER_PID/status")
say "broker peak memory (VmHWM): $((hwm / 1024)) MiB ($hwm kB), target <= 64 MiB"
check "the broker's peak memory is at most 64 MiB" test "$hwm" -le "$RSS_TARGET_KB"
finish
