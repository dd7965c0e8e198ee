#!/bin/bash
# Figure 1 (make bench): change latency.  A queue added on the host, its
# driver changed (its device moved to another print-server queue), and the
# queue deleted, each LATENCY_RUNS times (default 30): the milliseconds
# from the host's request until the guest's cupsd has the change AND the
# broker's status has the guest's report of it (tests/tools/latency.c).
# Pushed by the host cupsd's notifier, as the broker runs by default; then
# LATENCY_CROWD_RUNS (default 10) of each on a host with LATENCY_CROWD
# (default 200) more printers, all in the guest; then LATENCY_POLL_RUNS
# (default 10) with host_events = poll, the fallback, for comparison.
# Targets: p50 <= 60 ms, p99 <= 150 ms, with and without the crowd.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/bench/bench.sh
source "$(dirname "$0")/bench.sh"

RUNS=${LATENCY_RUNS:-$(quick 30 10)}
POLL_RUNS=${LATENCY_POLL_RUNS:-$(quick 10 3)}
CROWD=${LATENCY_CROWD:-200}
CROWD_RUNS=${LATENCY_CROWD_RUNS:-$(quick 10 3)}

start_all
events=$(status_json | jq -r .broker.host_events)
check "the broker follows the host by push" test "$events" = push

# series NAME RUNS PREFIX: runs the tool, prints its lines into $W/NAME.txt
series() {
	"$BUILD/tests/latency" -s "$W/control.sock" -H "$HOST" -G "$GUEST" -g g1 \
		-a "ipp://$PS/printers/generic_pdf" -b "ipp://$PS/printers/hp_cm3530_pdf" \
		-n "$2" -p "$3" | tee "$W/$1.txt"
}
# record SERIES KIND FIGURE: the p50/p99 of one kind of change; the series
# "poll" is information, the others have the targets
record() {
	local file=$W/$1.txt kind=$2 id=latency.$1.$2 p50 p99 samples target=- v=info
	[ "$1" = push ] && id=latency.$kind
	p50=$(awk -v k="$kind" '$1 == k { print $3 }' "$file" | pct 50)
	p99=$(awk -v k="$kind" '$1 == k { print $3 }' "$file" | pct 99)
	samples=$(awk -v k="$kind" '$1 == k { print $3 }' "$file" | jq -sc .)
	if [ "$1" != poll ]; then
		target="p50 <= 60 ms, p99 <= 150 ms"
		v=$(verdict "$(awk -v a="$p50" -v b="$p99" 'BEGIN { print (a >= 0 && a <= 60 && b >= 0 && b <= 150) }')")
	fi
	result "$id" "change latency: $kind ($3)" "$target" "p50 $p50 ms, p99 $p99 ms" "$v" \
		"{\"p50_ms\": $p50, \"p99_ms\": $p99, \"samples_ms\": $samples}"
}

check "$RUNS added, modified and deleted queues reach the guest" series push "$RUNS" lat_
for kind in add modify delete; do record push "$kind" "pushed, $RUNS runs"; done

# The same on a host of CROWD more printers, all of them in the guest: what
# grows with the printers (the listings of both CUPS, the sets, the passes).
if [ "$CROWD" -gt 0 ]; then
	add_host_printers crowd "$CROWD"
	crowded() { [ "$(lpstat -h "$GUEST" -p 2>/dev/null | grep -c '^printer crowd_')" -ge "$CROWD" ]; }
	check "the guest has the $CROWD more printers" wait_for 120 crowded || finish
	check "the agent is on the broker's generation" wait_for 30 guest_synced g1
	check "$CROWD_RUNS changes of each kind reach the guest among $CROWD more" \
		series crowd "$CROWD_RUNS" crowd_lat_
	for kind in add modify delete; do
		record crowd "$kind" "pushed, $CROWD more printers on the host and the guest, $CROWD_RUNS runs"
	done
fi

if [ "$POLL_RUNS" -gt 0 ]; then
	broker_stop
	echo "host_events = poll" >>"$W/broker.conf"
	broker_start || finish
	check "the broker restarted with host_events = poll polls" \
		wait_for 10 bash -c "[ \"\$(\"$BUILD/host-broker\" status -c '$W/broker.conf' --json | jq -r .broker.host_events)\" = poll ]"
	check "the agent is back on the broker's generation" wait_for 30 guest_synced g1
	check "$POLL_RUNS changes of each kind reach the guest, polled" series poll "$POLL_RUNS" poll_
	for kind in add modify delete; do record poll "$kind" "polled, $POLL_RUNS runs"; done
fi
finish
