#!/bin/bash
# make bench: every performance figure of printredir, each measured on its
# own sandbox world, one after the other (not in parallel: the figures are
# times on a 2-core machine).  Prints a table (figure, target, measured,
# pass/miss) and writes it with the machine's description as
# $BENCH_DIR/bench.json (default build/bench/).  Not part of make check.
#
#   make bench                  every figure
#   make bench BENCH=latency    only tests/bench/latency.sh (names: below)
#   make bench BENCH_QUICK=1    every figure on fewer runs (CI)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
export BUILD BENCH_DIR=${BENCH_DIR:-$BUILD/bench}
FIGURES=(latency browsed bulk footprint jobs)
[ -n "${BENCH:-}" ] && read -ra FIGURES <<<"$BENCH"

mkdir -p "$BENCH_DIR"
rm -f "$BENCH_DIR/results.jsonl"
t0=$(date +%s)
failed=0
for f in "${FIGURES[@]}"; do
	[ -f "$TOP/tests/bench/$f.sh" ] || { echo "bench: no figure script $f" >&2; exit 2; }
	echo "=== $f"
	s=$(date +%s)
	bash "$TOP/tests/bench/$f.sh" >"$BENCH_DIR/$f.log" 2>&1
	rc=$?
	grep -E '^(bench|FAIL):' "$BENCH_DIR/$f.log"
	echo "($f: $(($(date +%s) - s)) s, log $BENCH_DIR/$f.log)"
	if [ "$rc" -ne 0 ]; then
		echo "bench: $f failed (exit $rc); its log ends:"
		tail -n 15 "$BENCH_DIR/$f.log"
		failed=1
	fi
done
touch "$BENCH_DIR/results.jsonl"
jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--arg cores "$(nproc)" --arg kernel "$(uname -sr)" \
	--arg mem "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)" \
	--arg commit "$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg seconds "$(($(date +%s) - t0))" \
	--arg command "make bench${BENCH:+ BENCH=\"$BENCH\"}$([ "${BENCH_QUICK:-0}" = 1 ] && echo ' BENCH_QUICK=1')" \
	'{date: $date, commit: $commit, command: $command, seconds: ($seconds | tonumber),
	  machine: {cpu: $cpu, cores: ($cores | tonumber), memory: $mem, kernel: $kernel},
	  results: .}' "$BENCH_DIR/results.jsonl" >"$BENCH_DIR/bench.json"
echo
jq -r '"machine: \(.machine.cpu), \(.machine.cores) cores, \(.machine.memory); \(.date); commit \(.commit); \(.seconds) s"' \
	"$BENCH_DIR/bench.json"
{
	printf 'FIGURE\tTARGET\tMEASURED\tRESULT\n'
	jq -r '.results[] | [.figure, .target, .measured, .verdict] | @tsv' "$BENCH_DIR/bench.json"
} | column -t -s $'\t'
echo "table: $BENCH_DIR/bench.json"
misses=$(jq '[.results[] | select(.verdict == "miss")] | length' "$BENCH_DIR/bench.json")
echo "$(jq '.results | length' "$BENCH_DIR/bench.json") figures, $misses missed"
exit "$failed"
