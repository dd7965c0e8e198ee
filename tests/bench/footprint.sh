#!/bin/bash
# Benchmark (`make bench`, not a test): figures 5, 6 and 7, in one world
# like tests/load's: 200 host printers, one broker and 100 agents
# (guest-agent --dry-run: each takes the broker's sets and reports every
# printer, but touches no CUPS, so that 100 guests fit on one machine).
# The broker runs with the packaged defaults (host events pushed,
# relist_interval 30s), not the shorter relist of the e2e scenarios.
#
#   5. footprint  the broker's CPU (utime + stime) over a quiet minute with
#                 its 200 printers, and what it costs the host's cupsd
#                 meanwhile (next to the same cupsd before the broker
#                 started); the same with every guest in sync, heartbeats
#                 included, as information; the broker's peak memory
#                 (VmHWM) at the end, and after each phase
#   6. status     `host-broker status --json` (the "status" request: the
#                 full document, every guest's every printer) asked as fast
#                 as it goes on the control socket by STATUS_CLIENTS clients
#                 at once: the rate achieved and the p99 latency
#   7. fan-out    one host change (a printer added with lpadmin) until the
#                 broker offers it and every guest has reported on the
#                 generation that does, FANOUT_RUNS times: median and max
#
#   FOOTPRINT_AGENTS=100 FOOTPRINT_PRINTERS=200 FOOTPRINT_IDLE_SECONDS=60
#   FOOTPRINT_ALONE_SECONDS=30 FOOTPRINT_BASE_SECONDS=10 STATUS_SECONDS=5
#   STATUS_CLIENTS=4 FANOUT_RUNS=5 tests/bench/footprint.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/bench/bench.sh
source "$(dirname "$0")/bench.sh"

AGENTS=${FOOTPRINT_AGENTS:-100}
PRINTERS=${FOOTPRINT_PRINTERS:-200}
IDLE=${FOOTPRINT_IDLE_SECONDS:-$(quick 60 20)}
ALONE=${FOOTPRINT_ALONE_SECONDS:-$(quick 30 10)}	# with the guests
BASE=${FOOTPRINT_BASE_SECONDS:-10}
STATUS_SECONDS=${STATUS_SECONDS:-5}
STATUS_CLIENTS=${STATUS_CLIENTS:-4}
RUNS=${FANOUT_RUNS:-$(quick 5 3)}
CPU_TARGET=0.2		# % of one core
RSS_TARGET_MIB=32
RATE_TARGET=5000	# requests a second
P99_TARGET=2		# ms
FANOUT_TARGET=1000	# ms
HZ=$(getconf CLK_TCK)

say() { echo "footprint: $*"; }
ms_since() { echo $(($(now_ms) - $1)); }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) }'; }

# CPU time (utime + stime, clock ticks) of a process.
ticks() {	# ticks PID
	local stat
	read -r stat <"/proc/$1/stat" || return 1
	stat=${stat##*) }	# past the command name, which may hold spaces
	# shellcheck disable=SC2086
	set -- $stat		# $1 is field 3 (state): utime is 14, stime 15
	echo $((${12} + ${13}))
}
# Per cent of one core that TICKS clock ticks are over SECS seconds.
pct_core() { awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 100 / hz / s }'; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# Nanoseconds on a CPU of every thread of PID: "TID NS" lines, by TID, so
# in the order they were started.
thread_ns() {	# thread_ns PID
	local t
	for t in /proc/"$1"/task/*; do
		echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat")"
	done | sort -n
}
agents_ticks() {
	local i n=0
	for i in $(seq -f '%03g' "$AGENTS"); do
		n=$((n + $(ticks "$(cat "$W/agent-a$i.pid")")))
	done
	echo "$n"
}

# A quiet window of SECS seconds: sets BROKER_CPU (utime + stime, % of a
# core), BROKER_TICKS, BROKER_SCHED (the same from the threads' schedstat,
# finer), THREADS (per thread), CUPSD_CPU and PS_CPU (host and print server
# cupsd), AGENTS_CPU (every agent together, when they run).
window() {	# window SECS
	local b0 c0 p0 a0=0 b1 c1 p1 a1=0
	[ -n "$BROKER_PID" ] && { b0=$(ticks "$BROKER_PID"); thread_ns "$BROKER_PID" >"$W/threads0"; }
	c0=$(ticks "$HOST_PID")
	p0=$(ticks "$PRINTSERVER_PID")
	[ "$RUNNING_AGENTS" -gt 0 ] && a0=$(agents_ticks)
	sleep "$1"
	[ -n "$BROKER_PID" ] && { b1=$(ticks "$BROKER_PID"); thread_ns "$BROKER_PID" >"$W/threads1"; }
	c1=$(ticks "$HOST_PID")
	p1=$(ticks "$PRINTSERVER_PID")
	[ "$RUNNING_AGENTS" -gt 0 ] && a1=$(agents_ticks)
	CUPSD_CPU=$(pct_core $((c1 - c0)) "$1")
	PS_CPU=$(pct_core $((p1 - p0)) "$1")
	AGENTS_CPU=$(pct_core $((a1 - a0)) "$1")
	[ -n "$BROKER_PID" ] || return 0
	BROKER_TICKS=$((b1 - b0))
	BROKER_CPU=$(pct_core "$BROKER_TICKS" "$1")
	# Per thread, by the order they were started: 0 is the main thread (the
	# broker's loop); today 1-4 are the driver fetchers (fetch.c) and 5 the
	# watcher (watch.c), which watch_start starts in that order.
	BROKER_SCHED=$(awk -v s="$1" 'NR == FNR { t0[$1] = $2; next }
		{ t += $2 - ($1 in t0 ? t0[$1] : 0) } END { printf "%.3f", t / 1e7 / s }' \
		"$W/threads0" "$W/threads1")
	THREADS=$(awk -v s="$1" 'NR == FNR { t0[$1] = $2; next }
		{ t = ($1 in t0 ? $2 - t0[$1] : $2) / 1e7 / s; k = FNR - 1
		  if (t >= 0.001) printf "%s%s %.3f%%", n++ ? ", " : "", k == 0 ? "loop" : "thread " k, t }' \
		"$W/threads0" "$W/threads1")
}
RUNNING_AGENTS=0

world_start
t0=$(now_ms)
add_host_printers fp "$PRINTERS"
say "$PRINTERS host printers added in $(ms_since "$t0") ms"

# What the host's cupsd costs with nobody watching it: the baseline.
sleep 1
window "$BASE"
cups_base=$CUPSD_CPU
say "host cupsd alone, $BASE s: $CUPSD_CPU % of a core (print server's: $PS_CPU %)"

broker_conf "print_server = $PS"
# The packaged relist_interval (30s), not the e2e scenarios' 10s.
sed -i '/^relist_interval/d' "$W/broker.conf"
"$BUILD/host-broker" -c "$W/broker.conf" >>"$W/broker.log" 2>&1 &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
check "the broker starts" wait_for 10 test -S "$W/control.sock" || finish
summary() { "$BUILD/host-broker" status -c "$W/broker.conf" --json --summary; }
redirected() { summary | jq '.printer_counts.redirected'; }
all_listed() { [ "$(redirected)" -ge "$PRINTERS" ]; }
check "it offers the $PRINTERS printers and more" wait_for 60 all_listed || finish
total=$(redirected)
hwm_listed=$(hwm_kb "$BROKER_PID")

# --- 5. footprint: the broker with its printers and no guest, a quiet minute
# (the target's figure: what the broker costs a host by itself).
sleep 2
window "$IDLE"
say "broker, no guest, $IDLE s: $BROKER_CPU % of a core (schedstat: $BROKER_SCHED %: ${THREADS:-none}); host cupsd $CUPSD_CPU %, print server's $PS_CPU %"
result footprint.idle_cpu "broker idle CPU, $PRINTERS printers, no guest, ${IDLE} s" \
	"<= $CPU_TARGET % of a core" "$BROKER_CPU %" "$(verdict "$(le "$BROKER_CPU" "$CPU_TARGET")")" \
	"$(jq -cn --argjson ticks "$BROKER_TICKS" --argjson hz "$HZ" --argjson s "$IDLE" \
		--arg sched "$BROKER_SCHED" --arg threads "$THREADS" \
		'{ticks: $ticks, hz: $hz, seconds: $s, schedstat_pct: $sched, threads: $threads}')"
result footprint.idle_cupsd "host cupsd CPU meanwhile (without the broker: $cups_base %)" "-" \
	"$CUPSD_CPU % of a core" info \
	"$(jq -cn --arg alone "$cups_base" --arg ps "$PS_CPU" \
		'{without_broker_pct: $alone, print_server_cupsd_pct: $ps}')"

t0=$(now_ms)
start_dry_agents "$AGENTS"
RUNNING_AGENTS=$AGENTS
# Guests connected, on the broker's generation, that report on N printers
# (the summary: their counts by state, not every printer).
synced_count() {	# synced_count N
	summary | jq --argjson n "$1" '.broker.generation as $b |
		[.guests[] | select(.connected and .generation == $b and
		 ([.printer_counts[]] | add) == $n)] | length'
}
all_synced() { [ "$(synced_count "$1")" -eq "$AGENTS" ]; }
check "all $AGENTS agents report on all $total printers" wait_for 120 all_synced "$total" || finish
say "first sync of $AGENTS agents: $(ms_since "$t0") ms"
hwm_sync=$(hwm_kb "$BROKER_PID")

# With 100 guests connected: their heartbeats (5 s each way) on top.
# The reports are saved within a moment; let every timer of the sync pass.
sleep 3
gen0=$(summary | jq '.broker.generation')
window "$ALONE"
check "the world stayed quiet (same generation)" test "$(summary | jq '.broker.generation')" = "$gen0"
say "broker, $AGENTS guests, $ALONE s: $BROKER_CPU % of a core (schedstat: $BROKER_SCHED %: ${THREADS:-none}); host cupsd $CUPSD_CPU %, print server's $PS_CPU %; the $AGENTS agents together $AGENTS_CPU %"
result footprint.idle_guests "broker idle CPU, $PRINTERS printers, $AGENTS guests, ${ALONE} s" "-" \
	"$BROKER_CPU % (host cupsd $CUPSD_CPU %)" info \
	"$(jq -cn --argjson ticks "$BROKER_TICKS" --arg sched "$BROKER_SCHED" --arg threads "$THREADS" \
		--arg agents "$AGENTS_CPU" '{ticks: $ticks, schedstat_pct: $sched, threads: $threads,
		agents_pct: $agents}')"
hwm_idle=$(hwm_kb "$BROKER_PID")

# --- 6. status: the full document, as fast as it goes --------------------
"$BUILD/tests/statusload" -s "$W/control.sock" -q status -r 0 -t "$STATUS_SECONDS" \
	-c "$STATUS_CLIENTS" >"$W/status.out" 2>&1
rc=$?
say "status, $STATUS_CLIENTS clients, ${STATUS_SECONDS} s: $(cat "$W/status.out")"
check "every status request was answered" test "$rc" -eq 0
read -r _ n _ errors _ rate _ p50 _ _ p99 _ _ max _ _ bytes <"$W/status.out"
rate=${rate%/s}
result status.rate "status --json requests a second, $AGENTS guests" ">= $RATE_TARGET/s" \
	"${rate}/s" "$(verdict "$(le "$RATE_TARGET" "$rate")")" \
	"$(jq -cn --argjson n "$n" --argjson e "$errors" --argjson b "$bytes" \
		--argjson c "$STATUS_CLIENTS" '{requests: $n, errors: $e, answer_bytes: $b, clients: $c}')"
result status.p99 "status --json p99 latency, $AGENTS guests" "<= $P99_TARGET ms" "$p99 ms" \
	"$(verdict "$(le "$p99" "$P99_TARGET")")" \
	"$(jq -cn --arg p50 "$p50" --arg max "$max" '{p50_ms: $p50, max_ms: $max}')"
# The summary (status --summary), which monitoring is told to use, as information.
"$BUILD/tests/statusload" -s "$W/control.sock" -q summary -r 0 -t 2 \
	-c "$STATUS_CLIENTS" >"$W/summary.out" 2>&1
say "summary, $STATUS_CLIENTS clients, 2 s: $(cat "$W/summary.out")"
read -r _ _ _ _ _ srate _ _ _ _ sp99 _ _ _ _ _ sbytes <"$W/summary.out"
result status.summary "status --summary, $AGENTS guests" "-" "${srate} (p99 $sp99 ms)" info \
	"$(jq -cn --argjson b "${sbytes:-0}" '{answer_bytes: $b}')"
hwm_status=$(hwm_kb "$BROKER_PID")

# --- 7. fan-out: one host change to every guest --------------------------
# Once the broker offers more than R printers and every guest has reported
# on its generation, prints that generation and the broker's own timings:
# from noticing the change to sending it, and the slowest guest's from
# sending to its report (ms).
all_have() {	# all_have R
	summary | jq -re --argjson r "$1" --argjson n "$AGENTS" '.broker.generation as $b |
		select(.printer_counts.redirected > $r and
		 ([.guests[] | select(.connected and .generation >= $b)] | length) == $n) |
		def ms: if . == null then "?" else . * 1000 | round end;
		"\($b) \(.broker.last_change_latency | ms) \([.guests[].last_change_latency] | max | ms)"' \
		2>/dev/null
}
samples=() brokers=() slowest=()
for ((r = 1; r <= RUNS; r++)); do
	before=$(redirected)
	gen=$(summary | jq '.broker.generation')
	t0=$(now_ms)
	lpadmin -h "$HOST" -p "fanout_$r" -E -v "ipp://$PS/printers/generic_pdf"
	ms=timeout got=
	for ((i = 0; i < 500; i++)); do
		if got=$(all_have "$before"); then ms=$(ms_since "$t0"); break; fi
		sleep 0.02
	done
	read -r now bms gms <<<"${got:-? ? ?}"
	say "fan-out run $r: $ms ms (generation $gen -> $now; the broker: $bms ms from noticing to sending, the slowest guest $gms ms from sending to its report)"
	[ "$ms" = timeout ] && ms=10000
	samples+=("$ms") brokers+=("${bms/\?/null}") slowest+=("${gms/\?/null}")
	sleep 1
done
med=$(printf '%s\n' "${samples[@]}" | pct 50)
worst=$(printf '%s\n' "${samples[@]}" | pct 100)
result fanout.all "one host change to $AGENTS guests, median of $RUNS (max)" \
	"<= $FANOUT_TARGET ms" "$med ms (max $worst)" "$(verdict "$(le "$med" "$FANOUT_TARGET")")" \
	"$(jq -cn --argjson s "$(printf '%s\n' "${samples[@]}" | jq -sc .)" \
		--argjson b "$(printf '%s\n' "${brokers[@]}" | jq -sc .)" \
		--argjson g "$(printf '%s\n' "${slowest[@]}" | jq -sc .)" \
		'{samples_ms: $s, broker_notice_to_send_ms: $b, slowest_guest_send_to_report_ms: $g}')"

hwm=$(hwm_kb "$BROKER_PID")
phases="listed $(mib "$hwm_listed"), synced $(mib "$hwm_sync"), idle $(mib "$hwm_idle"), status $(mib "$hwm_status"), fan-out $(mib "$hwm") MiB"
say "broker VmHWM after each phase: $phases"
result footprint.rss "broker peak RSS, $AGENTS guests, $PRINTERS printers" "<= $RSS_TARGET_MIB MiB" \
	"$(mib "$hwm") MiB" "$(verdict $((hwm <= RSS_TARGET_MIB * 1024)))" \
	"$(jq -cn --argjson last "$hwm" --argjson l "$hwm_listed" --argjson s "$hwm_sync" \
		--argjson st "$hwm_status" '{vmhwm_kb: $last, listed_kb: $l, synced_kb: $s, status_kb: $st}')"

check "no guest was dropped" bash -c "! grep -q 'disconnected' '$W/broker.log'"
finish
