# shellcheck shell=bash
# Shared by the benchmark figures (sourced after tests/e2e/lib.sh).  Each
# figure script measures on its own sandbox world and records its figures
# with `result`; tests/bench/run.sh (make bench) runs them in turn and
# prints the table.
BENCH_DIR=${BENCH_DIR:-$BUILD/bench}
mkdir -p "$BENCH_DIR"

# quick FULL QUICK: FULL, or QUICK under BENCH_QUICK=1 (what CI runs: every
# figure, on fewer runs; the README's table is a full run's).
quick() { if [ "${BENCH_QUICK:-0}" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# result ID FIGURE TARGET MEASURED VERDICT [JSON_OBJECT]
#   ID        short key, e.g. latency.add
#   VERDICT   pass, miss, or info (a figure without a target)
#   JSON      extra fields (raw samples, medians...) merged into the record
result() {
	jq -cn --arg id "$1" --arg figure "$2" --arg target "$3" --arg measured "$4" \
		--arg verdict "$5" --argjson extra "${6:-{\}}" \
		'{id: $id, figure: $figure, target: $target, measured: $measured,
		  verdict: $verdict} + $extra' >>"$BENCH_DIR/results.jsonl"
	printf 'bench: %s: %s (target %s): %s\n' "$2" "$4" "$3" "$5"
}

# verdict OK: prints pass when OK is 1, else miss (OK from awk or (( ))).
verdict() { [ "$1" = 1 ] && echo pass || echo miss; }

# pct P: the P-th percentile (nearest rank) of the numbers on stdin.
pct() {
	sort -n | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		i = int((NR * p + 99) / 100); if (i < 1) i = 1; if (i > NR) i = NR
		print v[i] }'
}
