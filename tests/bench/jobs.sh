#!/bin/bash
# Benchmark (`make bench`, not a test), figure 8: how much a print job costs
# going through printredir.
#
# 1. A big PDF (MB megabytes, default 50) through the channel, next to the
#    same file printed straight on the host, RUNS times each (median);
#    target: a ratio of at most 1.3.
#
#      direct   lp on the host's queue          -> host cupsd -> print server
#      channel  lp on the guest's queue -> guest cupsd -> backend -> agent
#               -> sealed channel -> broker -> host cupsd -> print server
#
#    Each time runs from `lp` until the print server's device has the whole
#    job and no queue on the way holds it.
#
# 2. SMALL_EACH (4) small jobs from each of SMALL_GUESTS (5) guests, all
#    submitted at once to the same printer: the time from the first `lp`
#    until the last job is at the print server's device (information), and
#    the same jobs straight on the host's queue next to it.
#
#   MB=50 RUNS=3 SMALL_GUESTS=5 SMALL_EACH=4 tests/bench/jobs.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/bench/bench.sh
source "$(dirname "$0")/bench.sh"

MB=${MB:-$(quick 50 20)}
RUNS=${RUNS:-$(quick 3 1)}
GUESTS=${SMALL_GUESTS:-5}
EACH=${SMALL_EACH:-4}
RATIO_TARGET=1.3
q=generic_pdf

# A one-page PDF with a line of text, under 1 kB.
small_pdf() {	# small_pdf OUT
	local out=$1 offs=() text='BT /F1 24 Tf 72 720 Td (printredir: a small job) Tj ET'
	obj() { offs+=("$(stat -c %s "$out.tmp")"); }
	printf '%%PDF-1.4\n' >"$out.tmp"
	obj; printf '1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n' >>"$out.tmp"
	obj; printf '2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' >>"$out.tmp"
	obj; printf '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n' >>"$out.tmp"
	obj; printf '4 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n' "${#text}" "$text" >>"$out.tmp"
	obj; printf '5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n' >>"$out.tmp"
	pdf_end "$out"
}

# The guests' CUPS: the first is $GUEST, the others the sandbox's GUEST2...
start_all "$GUESTS"
SERVERS=("$GUEST")
for ((n = 2; n <= GUESTS; n++)); do
	srv=GUEST${n}_SERVER jobs=GUEST${n}_JOB_SOCKET
	AGENT_CUPS=${!srv} AGENT_JOBS=${!jobs} agent_conf "g$n"
	agent_start "g$n"
	SERVERS+=("${!srv}")
done
has_queue() {	# has_queue ID SERVER: synced, and the guest has the queue
	guest_synced "$1" && lpstat -h "$2" -p "net_$q" >/dev/null 2>&1
}
for ((n = 1; n <= GUESTS; n++)); do
	check "guest $n has the printer" wait_for 30 has_queue "g$n" "${SERVERS[$((n - 1))]}" || finish
done

idle() {
	local s
	for s in "${SERVERS[@]}" "$HOST" "$PS"; do
		[ -z "$(lpstat -h "$s" -o 2>/dev/null)" ] || return 1
	done
}
# Waits until the print server's device has COUNT jobs and no queue holds
# one; prints the milliseconds since T0, or "timeout" after 120 s.
until_done() {	# until_done COUNT T0
	for ((i = 0; i < 6000; i++)); do
		[ "$(ps_count "$q")" -ge "$1" ] && idle && { echo $(($(now_ms) - $2)); return; }
		sleep 0.02
	done
	echo timeout
}
median() { pct 50; }

# The print server's device is a listener without an SNMP agent: CUPS's
# socket backend asks it for its supplies first and waits about 4 s for no
# answer, on every job, one job at a time.  A real printer answers at once;
# here the backend does not ask, so that the same 4 s in both times does
# not flatter the ratio.
uri=$(lpstat -h "$PS" -v "$q" | awk '{ print $NF }')
lpadmin -h "$PS" -p "$q" -v "$uri/?snmp=false"

# --- 1. a big PDF, direct and through the channel ------------------------
make_pdf "$MB" "$W/doc.pdf"
size=$(stat -c %s "$W/doc.pdf")
echo "document: $W/doc.pdf, $size bytes; $RUNS runs each"
# Prints the milliseconds from lp on SERVER until the job is at the device.
run() {	# run SERVER
	local before t0
	before=$(ps_count "$q")
	t0=$(now_ms)
	lp -h "$1" -d "net_$q" "$W/doc.pdf" >/dev/null || { echo "lp failed"; return 1; }
	until_done $((before + 1)) "$t0"
}

declare -A times
for ((r = 1; r <= RUNS; r++)); do
	for path in direct channel; do
		case $path in direct) server=$HOST ;; channel) server=$GUEST ;; esac
		ms=$(run "$server")
		echo "run $r $path: $ms ms"
		times[$path]+="$ms "
	done
done
# A run that timed out counts as a failure (below), not as a time.
direct=$(tr ' ' '\n' <<<"${times[direct]}" | grep -E '^[0-9]+$' | median)
channel=$(tr ' ' '\n' <<<"${times[channel]}" | grep -E '^[0-9]+$' | median)
ratio=$(awk -v c="$channel" -v d="$direct" 'BEGIN { if (c > 0 && d > 0) printf "%.2f", c / d; else print "nan" }')
mibs=$(awk -v s="$size" -v c="$channel" 'BEGIN { printf "%.1f", (c > 0 ? s / 1048576 / (c / 1000) : 0) }')
echo "median: direct $direct ms, channel $channel ms, ratio $ratio (target <= $RATIO_TARGET)"
echo "throughput through the channel: $mibs MiB/s end to end"
check "every run ended within 120 s" bash -c "[[ '${times[*]}' != *timeout* ]]"
check "every job arrived whole" bash -c "[ \$(ls '$OUTPUT_DIR'/*-$q.prn | wc -l) -eq $((2 * RUNS)) ]"
result jobs.50mb "${MB} MB PDF through the channel vs straight to the host queue" \
	"<= ${RATIO_TARGET}x" "${ratio}x (channel $channel ms, direct $direct ms)" \
	"$(verdict "$(awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { print (r <= t) }')")" \
	"$(jq -cn --arg d "${times[direct]}" --arg c "${times[channel]}" --argjson b "$size" \
		--argjson mibs "$mibs" 'def ms: split(" ") | map(select(. != "") | tonumber? // .);
		{direct_ms: ($d | ms), channel_ms: ($c | ms), bytes: $b, channel_mib_per_s: $mibs}')"

# --- 2. small jobs from every guest at once ------------------------------
small_pdf "$W/small.pdf"
total=$((GUESTS * EACH))
# Submits EACH small jobs on each SERVER, all at once, and waits for them at
# the print server.  Sets SUBMIT_MS (every lp returned), LAST_MS (the last
# job's file at the print server's device, polled every 20 ms), IDLE_MS (no
# queue holds one any more), GOT and SUBMITTED.
burst() {	# burst SERVER...
	local before t0 s k pid lps=()
	before=$(ps_count "$q")
	t0=$(now_ms)
	for s in "$@"; do
		for ((k = 1; k <= EACH; k++)); do
			lp -h "$s" -d "net_$q" -t "small $k" "$W/small.pdf" >/dev/null &
			lps+=($!)
		done
	done
	SUBMITTED=0
	for pid in "${lps[@]}"; do wait "$pid" && SUBMITTED=$((SUBMITTED + 1)); done
	SUBMIT_MS=$(($(now_ms) - t0))
	LAST_MS="over 120000"
	for ((k = 0; k < 6000; k++)); do
		[ "$(ps_count "$q")" -ge $((before + ${#lps[@]})) ] && { LAST_MS=$(($(now_ms) - t0)); break; }
		sleep 0.02
	done
	IDLE_MS=$(until_done $((before + ${#lps[@]})) "$t0")
	GOT=$(($(ps_count "$q") - before))
}
burst "${SERVERS[@]}"
echo "$total small jobs ($(stat -c %s "$W/small.pdf") bytes each) from $GUESTS guests: all submitted after $SUBMIT_MS ms, the last at the print server after $LAST_MS ms, every queue empty after $IDLE_MS ms ($GOT arrived)"
check "all $total were submitted" test "$SUBMITTED" -eq "$total"
check "all $total arrived at the print server" test "$GOT" -eq "$total"
guests=$(jq -cn --argjson got "$GOT" --argjson sub "$SUBMIT_MS" --arg idle "$IDLE_MS" \
	'{arrived: $got, submitted_after_ms: $sub, queues_empty_after_ms: (try ($idle | tonumber) catch $idle)}')
guests_ms=$LAST_MS
# The same jobs straight on the host's queue, for comparison.
EACH=$total burst "$HOST"
echo "the same $total straight on the host's queue: the last at the print server after $LAST_MS ms, every queue empty after $IDLE_MS ms ($GOT arrived)"
check "and straight on the host's queue too" test "$GOT" -eq "$total"
result jobs.small "$total small jobs from $GUESTS guests at once (straight on the host: $LAST_MS ms)" "-" \
	"$guests_ms ms to the last" info \
	"$(jq -cn --argjson g "$guests" --argjson n "$total" --arg d "$LAST_MS" \
		'{jobs: $n, direct_last_ms: (try ($d | tonumber) catch $d)} + $g')"
finish
