#!/bin/bash
# Benchmark figures 3 and 4 (`make bench BENCH=bulk`; not a test).
#
#   3. Bulk first sync: 200 host printers, each with a real and distinct
#      openprinting PPD on the print server, onto an empty guest: from the
#      agent's start (its process start included) until the broker has the
#      agent's report of all 200 installed.  Baseline: the same 200 PPDs,
#      as the print server serves them, added to another fresh guest cupsd
#      over one IPP connection (tests/tools/addppds: CUPS-Add-Modify-Printer
#      with the PPD as the request's file, as lpadmin -P does).  Target: at
#      most 1.15 times the baseline.
#   4. Bytes on the wire: what the broker wrote to the guest during that
#      first sync (status JSON bytes_sent: every frame whole, handshake and
#      heartbeats included) at most 0.2 times the raw PPD bytes; a reconnect
#      with nothing changed (the agent stopped and started again) sends no
#      driver bytes (driver_bytes_sent) and is in sync within 100 ms, the
#      agent's start included.
#
# BULK_RUNS runs (default 3), each a pair on fresh guests: the baseline and
# printredir back to back, the one that goes first alternating.  The ratio
# is the median of the pairs' ratios, each time the median of its runs: the
# machine is shared, its speed drifts by a third over a minute, and a ratio
# within a pair cancels the drift that a ratio of two medians keeps.
# The print server's queues get their PPDs by lpadmin -P from files cut out
# of the openprinting-ppds archive in one pass: byte for byte what
# `lpadmin -m PPD-NAME` installs (openprinting-ppds cat), without its
# second of CPU a PPD (the driver unpacks its whole archive every time).
#   BULK_PRINTERS=200 BULK_RUNS=3 tests/bench/bulk.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/bench/bench.sh
source "$(dirname "$0")/bench.sh"

N=${BULK_PRINTERS:-200}
RUNS=${BULK_RUNS:-$(quick 3 1)}
if [ "$RUNS" -lt 1 ] || [ "$RUNS" -gt 4 ]; then echo "FAIL: BULK_RUNS is 1 to 4"; exit 2; fi
PY=$(command -v /usr/bin/python3 || command -v python3) || {
	echo "FAIL: no python3 (openprinting-ppds needs it: make deps)"; exit 1; }
T_ALL=$(now_ms)
ms_since() { echo $(($(now_ms) - $1)); }
say() { echo "bulk: [$(($(ms_since "$T_ALL") / 1000)) s] $*"; }
# A check that ends the script when it fails.
need() {
	check "$@"
	[ "$FAILED" -eq 0 ] || finish
}
# Runs "$@" in the background, at most 4 at once; bg_wait waits for them.
BG=()
bg() {
	"$@" >>"$W/bg.log" 2>&1 &
	BG+=("$!")
	if [ "${#BG[@]}" -ge 4 ]; then bg_wait; fi
}
bg_wait() {
	local pid rc=0
	for pid in "${BG[@]}"; do wait "$pid" || rc=1; done
	BG=()
	return $rc
}
median() { tr ' ' '\n' | grep . | pct 50; }

# Guests 1, 3, 5... take printredir's runs, guests 2, 4, 6... the baseline's.
world_start $((2 * RUNS))
guest_var() {	# guest_var K SUFFIX: the value of guest K's GUEST<K>_SUFFIX
	local v=GUEST$1_$2
	[ "$1" -eq 1 ] && v=GUEST_$2
	echo "${!v}"
}

# --- 200 distinct openprinting PPDs on the print server -------------------
# Every k-th openprinting model of the print server's driver database, so
# that the makes and the sizes are a fair sample of it.
grep '^openprinting-ppds:' "$PRINTSERVER_DRIVERS" | awk '{ print $1 }' >"$W/models.all"
total=$(wc -l <"$W/models.all")
[ "$total" -ge "$N" ] || { echo "FAIL: only $total openprinting models (make deps)"; exit 1; }
awk -v k=$((total / N)) -v n="$N" 'NR % k == 1 && c < n { print; c++ }' "$W/models.all" >"$W/models"
mkdir -p "$W/src" "$W/ppd"
t0=$(now_ms)
# What `openprinting-ppds cat NAME` writes, for every name at once: one
# pass over the archive, the PPDs cut out in the archive's order.
"$PY" - "$W/models" "$W/src" <<'PY' || { echo "FAIL: cannot cut the PPDs out of openprinting-ppds"; exit 1; }
import base64, lzma, runpy, sys
names = [line.split()[0] for line in open(sys.argv[1]) if line.strip()]
drv = runpy.run_path('/usr/lib/cups/driver/openprinting-ppds', run_name='bulk')
ppds = drv['load']()
archive = base64.b64decode(ppds['ARCHIVE'].encode('ASCII'))
want = []
for i, name in enumerate(names):
    key = name.split(':')[-1]
    key = '0/' + key[key.find('/') + 1:]
    want.append((ppds[key][0], ppds[key][1], i))
want.sort()
dec, buf, pos, fed = lzma.LZMADecompressor(), bytearray(), 0, False
for start, length, i in want:
    while pos + len(buf) < start + length:
        chunk = dec.decompress(b'' if fed else archive, 8 << 20)
        fed = True
        if not chunk:
            sys.exit('the archive ends before ' + names[i])
        buf += chunk
        if start > pos:
            drop = min(start - pos, len(buf))
            del buf[:drop]
            pos += drop
    with open('%s/ps%d.ppd' % (sys.argv[2], i + 1), 'wb') as f:
        f.write(buf[start - pos:start - pos + length])
PY
distinct=$(sha256sum "$W"/src/ps*.ppd | awk '{ print $1 }' | sort -u | wc -l)
say "$N PPDs cut out of openprinting-ppds in $(ms_since "$t0") ms"
need "they are $N distinct PPDs ($distinct)" test "$distinct" -eq "$N"
t0=$(now_ms)
for ((i = 1; i <= N; i++)); do
	bg lpadmin -h "$PS" -p "ps$i" -E -v "socket://127.0.0.1:9" -P "$W/src/ps$i.ppd" \
		-D "Bulk model $i" -o printer-is-shared=true
done
need "the print server has the $N queues" bg_wait
say "$N print-server queues added in $(ms_since "$t0") ms"

# The host: the 200 network queues and no other (the sandbox's own go; its
# local one is not redirected).
t0=$(now_ms)
for q in $HOST_NETWORK_QUEUES $HOST_DIRECT_QUEUE; do bg lpadmin -h "$HOST" -x "$q"; done
for ((i = 1; i <= N; i++)); do
	bg lpadmin -h "$HOST" -p "bulk$i" -E -v "ipp://$PS/printers/ps$i" -D "Bulk printer $i"
done
need "the host has the $N queues" bg_wait
say "$N host queues added in $(ms_since "$t0") ms"

# The PPDs as the print server serves them (what the broker fetches, and
# the baseline's input), each once, over one HTTP connection.
"$PY" - "$PS" "$N" "$W/ppd" <<'PY' || { echo "FAIL: cannot fetch the print server's PPDs"; exit 1; }
import http.client, sys
ps, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = http.client.HTTPConnection(ps, timeout=30)
for i in range(1, n + 1):
    conn.request('GET', '/printers/ps%d.ppd' % i)
    r = conn.getresponse()
    if r.status != 200:
        sys.exit('ps%d.ppd: HTTP %d' % (i, r.status))
    open('%s/ps%d.ppd' % (out, i), 'wb').write(r.read())
PY
raw=$(cat "$W"/ppd/ps*.ppd | wc -c)
big=$(stat -c '%s %n' "$W"/ppd/ps*.ppd | sort -n | tail -1)
say "raw PPD bytes: $raw, $N files as the print server serves them (largest: ${big##*/}, ${big%% *})"

# --- the broker, with every driver fetched ------------------------------------
broker_conf "print_server = $PS"
t0=$(now_ms)
broker_start || exit 1
ready() { [ "$(with_driver | wc -l)" -eq "$N" ]; }
need "the broker offers the $N printers with their drivers" wait_for 120 ready
say "broker: $N drivers fetched, checked and compressed in $(ms_since "$t0") ms"

# Guest ID's figures from one status document: "CONNECTED GENERATION
# BROKER_GENERATION INSTALLED BYTES_SENT DRIVER_BYTES_SENT".
figures() {	# figures ID
	"$BUILD/host-broker" status -c "$W/broker.conf" --json --summary 2>/dev/null |
		jq -r --arg g "$1" '.broker.generation as $b | .guests[] | select(.id == $g) |
			"\(.connected) \(.generation) \($b) \(.printer_counts.installed // 0) \(.bytes_sent) \(.driver_bytes_sent)"'
}
# Waits for the broker's first report from guest ID after line FROM of its
# log (the debug log names each frame), following the log as it grows:
# tail -f waits on inotify, where a poll every few milliseconds would take
# CPU from the agent and the guest's cupsd while they work, and the
# baseline has no such poller beside it.  Then checks with the status that
# the guest is connected, on the broker's generation, with all N installed;
# prints the milliseconds from T0 to the report, or "timeout".
follow_sync() {	# follow_sync ID FROM T0 SECONDS
	local f i ms fd tail_pid
	exec {fd}< <(exec timeout "$4" tail -n +"$(($2 + 1))" -f "$W/broker.log")
	tail_pid=$!
	grep -m1 -q -F "($1): received install-report" <&"$fd" && ms=$(ms_since "$3")
	kill "$tail_pid" 2>/dev/null
	exec {fd}<&-
	if [ -n "${ms:-}" ]; then
		for ((i = 0; i < 250; i++)); do
			read -ra f <<<"$(figures "$1")"
			if [ "${f[0]:-}" = true ] && [ "${f[1]}" -ge "${f[2]}" ] && [ "${f[3]}" -eq "$N" ]; then
				echo "$ms"
				return
			fi
			sleep 0.02
		done
	fi
	echo timeout
}
# Milliseconds since midnight of an agent log's line (HH:MM:SS.mmm, local
# time), of the first line matching PATTERN after line FROM.
tod() { echo $((10#${1:0:2} * 3600000 + 10#${1:3:2} * 60000 + 10#${1:6:2} * 1000 + 10#${1:9:3})); }
log_ms() {	# log_ms LOG FROM PATTERN
	local line
	line=$(tail -n +"$(($2 + 1))" "$1" | grep -m1 -e "$3") || { echo null; return; }
	tod "${line%% *}"
}
# Where an agent's sync went: milliseconds from T0 (epoch ms) to its log's
# milestones from line FROM on, as a JSON object.
timeline() {	# timeline ID T0 FROM
	local log=$W/agent-$1.log t0
	t0=$(tod "$(date -d "@$(($2 / 1000))" +%H:%M:%S).$(printf %03d $(($2 % 1000)))")
	jq -cn --argjson t0 "$t0" --argjson started "$(log_ms "$log" "$3" ' started')" \
		--argjson connected "$(log_ms "$log" "$3" 'connected to broker')" \
		--argjson set "$(log_ms "$log" "$3" 'received printer-set')" \
		--argjson taken "$(log_ms "$log" "$3" 'from the broker: ')" \
		--argjson applied "$(log_ms "$log" "$3" 'applied (')" \
		--argjson report "$(log_ms "$log" "$3" 'sent install-report')" \
		'def d(x): if x == null then null else x - $t0 end;
		 {started: d($started), connected: d($connected), set_received: d($set),
		  set_taken: d($taken), applied: d($applied), report_sent: d($report)}'
}

# --- the runs -------------------------------------------------------------------
declare -a SYNC BASE RATIO SENT DRIVERS RE_MS RE_BYTES RE_DRIVERS TL RE_TL
# The baseline of run R: the same PPDs straight into the fresh guest 2R
# over one connection.  The PPDs printredir installs are the agent's rewrite
# of these (common/ppd.c ppd_rewrite_pdf, called by guest-agent/install.c:
# filters replaced, executable keywords dropped, about as big), so the fair
# baseline is the print server's PPDs as they are.
baseline_run() {	# baseline_run R
	local r=$1 server rc t0
	server=127.0.0.1:$(guest_var $((2 * r)) PORT)
	t0=$(now_ms)
	"$BUILD/tests/addppds" "$server" "$W"/ppd/ps*.ppd >"$W/addppds-$r.out" 2>&1
	rc=$?
	BASE[r]=$(ms_since "$t0")
	say "run $r: baseline: $(cat "$W/addppds-$r.out") (${BASE[r]} ms with the tool's start)"
	need "run $r: the baseline added all $N queues" \
		test "$rc" -eq 0 -a "$(guest_queues "$server" | wc -l)" -eq "$N"
}
# printredir's run R: agent gR on the fresh guest 2R-1, from its start to
# the broker holding its report of all N installed; then the same agent
# stopped and started again, nothing changed.
printredir_run() {	# printredir_run R
	local r=$1 g=g$1 k=$((2 * $1 - 1)) server t0 f sent0 drivers0 from n
	server=127.0.0.1:$(guest_var "$k" PORT)
	AGENT_CUPS=$server AGENT_JOBS=$(guest_var "$k" JOB_SOCKET) agent_conf "$g"
	from=$(wc -l <"$W/broker.log")
	t0=$(now_ms)
	agent_start "$g"
	SYNC[r]=$(follow_sync "$g" "$from" "$t0" 120)
	need "run $r: the agent installs all $N printers (${SYNC[r]} ms)" test "${SYNC[r]}" != timeout
	TL[r]=$(timeline "$g" "$t0" 0)
	check "run $r: the guest's CUPS has the $N queues" test "$(guest_queues "$server" | wc -l)" -eq "$N"
	read -ra f <<<"$(figures "$g")"
	SENT[r]=${f[4]} DRIVERS[r]=${f[5]}
	say "run $r: first sync: ${SYNC[r]} ms; the broker wrote ${SENT[r]} bytes to $g, ${DRIVERS[r]} of them compressed drivers"
	say "run $r: first sync, ms from the agent's start: ${TL[r]}"

	# A reconnect with nothing changed: the agent stopped and started again.
	agent_stop "$g"
	read -ra f <<<"$(figures "$g")"
	sent0=${f[4]} drivers0=${f[5]}
	from=$(wc -l <"$W/agent-$g.log")
	n=$(wc -l <"$W/broker.log")
	t0=$(now_ms)
	agent_start "$g"
	RE_MS[r]=$(follow_sync "$g" "$n" "$t0" 30)
	need "run $r: the agent is in sync again after its restart (${RE_MS[r]} ms)" test "${RE_MS[r]}" != timeout
	RE_TL[r]=$(timeline "$g" "$t0" "$from")
	read -ra f <<<"$(figures "$g")"
	RE_BYTES[r]=$((f[4] - sent0)) RE_DRIVERS[r]=$((f[5] - drivers0))
	say "run $r: reconnect: in sync after ${RE_MS[r]} ms; ${RE_BYTES[r]} bytes written to $g, ${RE_DRIVERS[r]} of them drivers"
	say "run $r: reconnect, ms from the agent's start: ${RE_TL[r]}"
	check "run $r: the reconnect changed no guest queue" \
		test "$(grep -c 'installed queue\|updated queue' "$W/agent-$g.log")" -eq "$N"
	agent_stop "$g"
}
# Each run is a pair, back to back, the one that goes first alternating:
# the machine's speed drifts over seconds (a shared host), so the ratio is
# taken within each pair, and the figure is the median of those ratios.
for ((r = 1; r <= RUNS; r++)); do
	if ((r % 2)); then
		baseline_run "$r"
		printredir_run "$r"
	else
		printredir_run "$r"
		baseline_run "$r"
	fi
	RATIO[r]=$(awk -v a="${SYNC[r]}" -v b="${BASE[r]}" 'BEGIN { printf "%.3f", a / b }')
	say "run $r: first sync / baseline: ${RATIO[r]}"
done

# --- the figures ----------------------------------------------------------------
sync=$(median <<<"${SYNC[*]}")
base=$(median <<<"${BASE[*]}")
re_ms=$(median <<<"${RE_MS[*]}")
re_drivers=$(tr ' ' '\n' <<<"${RE_DRIVERS[*]}" | sort -n | tail -1)
re_bytes=$(tr ' ' '\n' <<<"${RE_BYTES[*]}" | sort -n | tail -1)
sent=${SENT[1]} drivers=${DRIVERS[1]}
ratio=$(median <<<"${RATIO[*]}" | awk '{ printf "%.2f", $1 }')
wire=$(awk -v a="$sent" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')
js() { printf '%s\n' "$@" | jq -s -c .; }
extra=$(jq -cn --argjson n "$N" --argjson runs "$RUNS" --argjson raw "$raw" \
	--argjson sync "$(js "${SYNC[@]}")" --argjson base "$(js "${BASE[@]}")" \
	--argjson ratios "$(js "${RATIO[@]}")" \
	--argjson sent "$(js "${SENT[@]}")" --argjson drivers "$(js "${DRIVERS[@]}")" \
	--argjson re_ms "$(js "${RE_MS[@]}")" --argjson re_bytes "$(js "${RE_BYTES[@]}")" \
	--argjson re_drivers "$(js "${RE_DRIVERS[@]}")" \
	--argjson tl "$(js "${TL[@]}")" --argjson re_tl "$(js "${RE_TL[@]}")" \
	'{printers: $n, runs: $runs, raw_ppd_bytes: $raw, sync_ms: $sync, baseline_ms: $base,
	  ratios: $ratios,
	  sent_bytes: $sent, driver_bytes: $drivers, sync_timeline_ms: $tl,
	  reconnect_ms: $re_ms, reconnect_bytes: $re_bytes,
	  reconnect_driver_bytes: $re_drivers, reconnect_timeline_ms: $re_tl}')
result bulk.sync "bulk first sync, $N printers (median of $RUNS)" "-" "$sync ms" info "$extra"
result bulk.baseline "$N PPDs straight into a guest cupsd (median of $RUNS)" "-" "$base ms" info "$extra"
result bulk.ratio "bulk first sync / baseline (median of the runs' ratios)" "<= 1.15" "$ratio" \
	"$(verdict "$(awk -v r="$ratio" 'BEGIN { print (r <= 1.15) }')")" "$extra"
result wire.ratio "first sync: bytes sent / raw PPD bytes" "<= 0.2" \
	"$wire ($sent / $raw; drivers $drivers)" "$(verdict "$(awk -v r="$wire" 'BEGIN { print (r <= 0.2) }')")" "$extra"
result wire.reconnect_bytes "reconnect, nothing changed: driver bytes sent" "0" \
	"$re_drivers (of $re_bytes bytes)" "$(verdict $((re_drivers == 0)))" "$extra"
result wire.reconnect_ms "reconnect, nothing changed: in sync (median of $RUNS)" "<= 100 ms" \
	"$re_ms ms" "$(verdict $((re_ms <= 100)))" "$extra"
say "done"
finish
