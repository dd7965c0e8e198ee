#!/bin/bash
# Benchmark (`make bench`, not a test): how much a print job costs going
# through printredir, next to the same file printed straight on the host.
#
#   direct   lp on the host's queue          -> host cupsd -> print server
#   channel  lp on the guest's queue -> guest cupsd -> backend -> agent
#            -> sealed channel -> broker -> host cupsd -> print server
#
# Each time runs from `lp` until the print server's device has the whole
# job and no queue on the way holds it.  Prints every run, the medians and
# their ratio; the target is a ratio of at most 1.3.
#   MB=50 RUNS=3 tests/bench/jobs.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

MB=${MB:-50}
RUNS=${RUNS:-3}
q=generic_pdf

start_all
make_pdf "$MB" "$W/doc.pdf"
size=$(stat -c %s "$W/doc.pdf")
echo "document: $W/doc.pdf, $size bytes; $RUNS runs each"

idle() {
	[ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ] && [ -z "$(lpstat -h "$HOST" -o 2>/dev/null)" ] &&
		[ -z "$(lpstat -h "$PS" -o 2>/dev/null)" ]
}
# Prints the milliseconds from lp on SERVER until the job is at the device.
run() {	# run SERVER
	local before t0
	before=$(ps_count "$q")
	t0=$(now_ms)
	lp -h "$1" -d "net_$q" "$W/doc.pdf" >/dev/null || return 1
	for ((i = 0; i < 6000; i++)); do
		[ "$(ps_count "$q")" -gt "$before" ] && idle && break
		sleep 0.02
	done
	echo $(($(now_ms) - t0))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A times
for ((r = 1; r <= RUNS; r++)); do
	for path in direct channel; do
		case $path in direct) server=$HOST ;; channel) server=$GUEST ;; esac
		ms=$(run "$server")
		echo "run $r $path: $ms ms"
		times[$path]+="$ms "
	done
done
direct=$(tr ' ' '\n' <<<"${times[direct]}" | grep . | median)
channel=$(tr ' ' '\n' <<<"${times[channel]}" | grep . | median)
ratio=$(awk -v c="$channel" -v d="$direct" 'BEGIN { printf "%.2f", c / d }')
echo "median: direct $direct ms, channel $channel ms, ratio $ratio (target <= 1.30)"
echo "throughput through the channel: $(awk -v s="$size" -v c="$channel" 'BEGIN { printf "%.0f", s / 1048576 / (c / 1000) }') MiB/s end to end"
check "every job arrived whole" bash -c "[ \$(ls '$OUTPUT_DIR'/*-$q.prn | wc -l) -eq $((2 * RUNS)) ]"
finish
