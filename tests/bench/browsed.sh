#!/bin/bash
# Benchmark (`make bench`, not a test), figure 2: printredir beside
# cups-browsed, the usual way to get a CUPS server's printers into another
# CUPS, in the same run on the same host.
#
#   printredir    host queue added -> broker -> agent g1 -> queue in guest's
#                 cupsd (the broker's report of it is figure 1's)
#   cups-browsed  (Debian's, run by hand, not its system service) polls the
#                 same host with BrowsePoll and makes its queues in guest2's
#                 cupsd: host queue added -> queue in guest2's cupsd; at
#                 BrowseInterval 1, then at its default interval
#
# Each run adds a new host queue for the print server's generic PDF printer
# with the print server's driver (a shared queue: CUPS shares no raw IPP
# queue, and BrowsePoll sees only shared ones) at a random moment of a
# poller's cycle, as a change comes.  The time runs from the end of lpadmin
# until tests/tools/waitq, asking every 5 ms, sees the condition hold.
# printredir and cups-browsed each run alone (a host has one or the other),
# both logging at debug level.  Also: whether each guest queue has the
# print server's driver, and which of the host's printers each one brings
# into its guest.
# Target: printredir ahead of cups-browsed at BrowseInterval 1 by >= 10x on
# p50 and p99.  20 runs: cups-browsed's time is where in its 1 s cycle the
# change lands, uniform over the cycle, and the median of 10 such draws
# moved between 0.3 and 0.9 s from one run of the bench to the next.
#
#   BROWSED_RUNS=20 BROWSED_DEFAULT_RUNS=2 BROWSED_DEFAULT_TIMEOUT=150 \
#     tests/bench/browsed.sh
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/bench/bench.sh
source "$TOP/tests/bench/bench.sh"

RUNS=${BROWSED_RUNS:-$(quick 20 5)}
DEFAULT_RUNS=${BROWSED_DEFAULT_RUNS:-$(quick 2 0)}
DEFAULT_TIMEOUT=${BROWSED_DEFAULT_TIMEOUT:-150}
DEFAULT_INTERVAL=60	# BrowseInterval unset (cups-browsed.conf(5))
WAITQ=$BUILD/tests/waitq
q=generic_pdf
t_start=$SECONDS

# cups-browsed itself: Debian's package, installed if missing without its
# system service ever starting (policy-rc.d says no while apt runs).
if ! command -v cups-browsed >/dev/null && [ ! -x /usr/sbin/cups-browsed ]; then
	echo "installing cups-browsed (its system service stays stopped)"
	rcd=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rcd=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 755 "$rcd"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends cups-browsed >"$W/apt.out" 2>&1 ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends cups-browsed; } >>"$W/apt.out" 2>&1
	[ -n "$rcd" ] && rm -f "$rcd"
fi
CUPS_BROWSED=$(command -v cups-browsed || echo /usr/sbin/cups-browsed)
[ -x "$CUPS_BROWSED" ] || { echo "FAIL: cups-browsed is not installed (make deps)"; exit 1; }
for tool in tcp-unix waitq; do
	[ -x "$BUILD/tests/$tool" ] || { echo "FAIL: $BUILD/tests/$tool is missing (make tests)"; exit 1; }
done
cb_version=$("$CUPS_BROWSED" --version 2>&1 | head -n 1)
cb_package=$(dpkg-query -W -f='${Version}' cups-browsed 2>/dev/null || echo unknown)
echo "cups-browsed: $CUPS_BROWSED ($cb_version, Debian package $cb_package)"

start_all 2
GUEST2=$GUEST2_SERVER
ppd_var=PRINTSERVER_PPD_NAME_$q
PPD=${!ppd_var}
echo "world up after $((SECONDS - t_start)) s; $RUNS runs each, $DEFAULT_RUNS at cups-browsed's default interval"

# --- measuring -------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
# A sleep that a signal ends at once (bash runs its traps only between
# commands, and a pause may last most of a minute).
nap() {
	sleep "$1" &
	wait "$!"
}
add_queue() { lpadmin -h "$HOST" -p "$1" -E -v "ipp://$PS/printers/$q" -m "$PPD" 2>>"$W/lpadmin.out"; }

# series PREFIX RUNS TIMEOUT_S PAUSE_MAX_MS WAITQ_ARGS...: RUNS new host
# queues PREFIX_1..., each after a random pause below PAUSE_MAX_MS and
# followed by waitq WAITQ_ARGS until it holds; the times (ms) go to SAMPLES.
SAMPLES=()
series() {
	local prefix=$1 runs=$2 limit=$3 pause_max=$4 i r t0 ms
	shift 4
	SAMPLES=()
	for ((i = 1; i <= runs; i++)); do
		r=$(((RANDOM * 32768 + RANDOM) % pause_max))
		nap "$((r / 1000)).$(printf '%03d' $((r % 1000)))"
		if add_queue "${prefix}_$i"; then
			t0=${EPOCHREALTIME//[!0-9]/}
			ms=$("$WAITQ" -p "${prefix}_$i" -s "$t0" -t $((limit * 1000)) "$@")
		else
			ms=lpadmin-failed
		fi
		echo "$prefix run $i (after a pause of $r ms): $ms ms"
		SAMPLES+=("$ms")
	done
}

# one_cycle PREFIX RUNS TIMEOUT_S START_US FROM_MS TO_MS WAITQ_ARGS...: RUNS
# new host queues, added at random moments between FROM_MS and TO_MS after
# START_US, all within one cycle of a slow poller, each followed by its own
# waitq; the times go to SAMPLES.
one_cycle() {
	local prefix=$1 runs=$2 limit=$3 start=$4 from=$5 to=$6 i t wait_us
	local -a at pids
	shift 6
	mapfile -t at < <(for ((i = 0; i < runs; i++)); do
		echo $((from + (RANDOM * 32768 + RANDOM) % (to - from)))
	done | sort -n)
	for ((i = 1; i <= runs; i++)); do
		wait_us=$((start + at[i - 1] * 1000 - $(now_us)))
		((wait_us > 0)) && nap "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
		rm -f "$W/$prefix-$i.out"
		add_queue "${prefix}_$i" || continue
		t=${EPOCHREALTIME//[!0-9]/}
		echo "${prefix}_$i added $(((t - start) / 1000)) ms after cups-browsed started"
		"$WAITQ" -p "${prefix}_$i" -s "$t" -t $((limit * 1000)) "$@" >"$W/$prefix-$i.out" &
		pids+=($!)
		PIDS+=($!)
	done
	[ "${#pids[@]}" -gt 0 ] && wait "${pids[@]}"
	SAMPLES=()
	for ((i = 1; i <= runs; i++)); do
		SAMPLES+=("$(cat "$W/$prefix-$i.out" 2>/dev/null || echo lpadmin-failed)")
		echo "$prefix run $i: ${SAMPLES[i - 1]} ms"
	done
}

numbers() { printf '%s\n' "$@" | grep -xE '[0-9]+(\.[0-9]+)?'; }
all_numbers() { [ "$(numbers "$@" | wc -l)" -eq "$#" ]; }
json_samples() { printf '%s\n' "$@" | jq -Rs 'split("\n") | map(select(. != "") | (tonumber? // .))'; }
# A / B with one decimal ("nan" when either is missing).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1f", a / b; else print "nan" }'; }
secs() { awk -v ms="$1" 'BEGIN { if (ms ~ /^[0-9.]+$/) printf "%.1f s", ms / 1000; else print ms }'; }

# Which of the host's printers a guest's CUPS has: "N/M network, K local".
coverage() {	# coverage SERVER
	local have n=0 m=0 p
	have=$(lpstat -h "$1" -p 2>/dev/null | awk '$1 == "printer" {print $2}')
	for p in $HOST_NETWORK_QUEUES $HOST_DIRECT_QUEUE; do
		m=$((m + 1))
		grep -qx "$p" <<<"$have" && n=$((n + 1))
	done
	echo "$n/$m network, $(grep -cx "$HOST_LOCAL_QUEUE" <<<"$have") local"
}
# What driver a guest queue has: the print server's, another PPD, or none.
driver_of() {	# driver_of GUEST_DIR QUEUE
	local ppd=$1/ppd/$2.ppd ps=$PRINTSERVER_DIR/ppd/$q.ppd nick
	if [ ! -s "$ppd" ]; then
		echo "none (raw queue, no PPD)"
	elif same_driver "$ppd" "$ps"; then
		echo "print server's driver"
	else
		nick=$(sed -n 's/^\*NickName:[[:space:]]*"\(.*\)".*/\1/p' "$ppd" | head -n 1)
		if cmp -s <(grep -E '^\*(NickName|ModelName)' "$ppd") <(grep -E '^\*(NickName|ModelName)' "$ps"); then
			echo "print server's model, other options ($nick)"
		else
			echo "another PPD ($nick)"
		fi
	fi
}

# --- printredir --------------------------------------------------------------------------
pr_coverage=$(coverage "$GUEST")
series bench_pr "$RUNS" 10 1000 -h "$GUEST"
pr=("${SAMPLES[@]}")
check "every printredir run reached the guest" all_numbers "${pr[@]}"
pr_p50=$(numbers "${pr[@]}" | pct 50)
pr_p99=$(numbers "${pr[@]}" | pct 99)
pr_driver=$(driver_of "$GUEST_DIR" bench_pr_1)
pr_uri=$(lpstat -h "$GUEST" -v bench_pr_1 2>/dev/null | sed 's/.*: //')
agent_stop g1
broker_stop

# --- cups-browsed --------------------------------------------------------------------------
# BrowsePoll takes host[:port] (a path would be cut at its first slash) and
# the sandbox host listens on its unix socket only: a forwarder gives it a
# loopback port, in front of the same cupsd.
"$BUILD/tests/tcp-unix" "$HOST_SERVER" >"$W/tcp-unix.out" 2>&1 &
PIDS+=($!)
wait_for 5 grep -q '^port ' "$W/tcp-unix.out" || { cat "$W/tcp-unix.out"; echo "FAIL: no forwarder"; exit 1; }
HOST_TCP=127.0.0.1:$(awk '/^port / { print $2 }' "$W/tcp-unix.out")

# For every printer it finds, cups-browsed looks up the name of each local
# address (update_netifs); where the resolver takes its time to say there
# is none (5 s at times on these machines), that is what it would measure.
# A desktop answers those at once (nss-myhostname, systemd-resolved), and so
# does cups-browsed's own /etc/hosts here: the machine's plus its addresses,
# bind-mounted in a mount namespace of its own (the machine's stays as is).
{
	cat /etc/hosts
	ip -o addr show | awk -v h="$(hostname)" '{ sub(/\/.*/, "", $4); print $4, h }' |
		while read -r a h; do grep -q "^${a}[[:space:]]" /etc/hosts || echo "$a $h"; done
} >"$W/hosts"
CB_NS=
if unshare -m true 2>/dev/null; then
	CB_NS=1
else
	echo "note: no mount namespace here: cups-browsed's name lookups go to the resolver, which may stall it"
fi
CB_PID='' CB_START=''
cb_start() {	# cb_start LABEL [CONFIG LINES...]
	local label=$1
	shift
	mkdir -p "$W/cups-browsed-cache"
	{
		echo "# cups-browsed for tests/bench/browsed.sh: polls the sandbox host, queues in guest2"
		# Its state and logs stay in the world: never /var/cache/cups, /var/log/cups.
		echo "CacheDir $W/cups-browsed-cache"
		echo "LogDir $W/cups-browsed-cache"
		echo "DebugLogging stderr"
		# Not the system's CUPS socket (/run/cups/cups.sock): the CUPS it
		# makes its queues on is CUPS_SERVER, guest2's cupsd.
		echo "DomainSocket None"
		echo "BrowseRemoteProtocols none"
		echo "BrowseLocalProtocols none"
		echo "CreateIPPPrinterQueues No"
		# The host queue's own name, to find it in guest2 (else DNS-SD-like names).
		echo "LocalQueueNamingRemoteCUPS RemoteName"
		echo "BrowsePoll $HOST_TCP"
		printf '%s\n' "$@"
	} >"$W/cups-browsed-$label.conf"
	CB_START=${EPOCHREALTIME//[!0-9]/}
	if [ -n "$CB_NS" ]; then
		CUPS_SERVER=$GUEST2 unshare -m sh -c 'mount --bind "$1" /etc/hosts || echo "no private /etc/hosts" >&2
			shift; exec "$@"' sh "$W/hosts" \
			"$CUPS_BROWSED" -c "$W/cups-browsed-$label.conf" --autoshutdown=off >"$W/cups-browsed-$label.out" 2>&1 &
	else
		CUPS_SERVER=$GUEST2 "$CUPS_BROWSED" -c "$W/cups-browsed-$label.conf" --autoshutdown=off \
			>"$W/cups-browsed-$label.out" 2>&1 &
	fi
	CB_PID=$!
	PIDS+=("$CB_PID")
}
cb_stop() {
	kill -TERM "$CB_PID" 2>/dev/null
	wait "$CB_PID" 2>/dev/null
}
cb_has() { lpstat -h "$GUEST2" -p "$1" >/dev/null 2>&1; }

# BrowseInterval 1.  Its first poll makes queues for what the host shares
# already (the direct printer among them).
cb_start interval1 "BrowseInterval 1"
check "cups-browsed makes queues in guest2" wait_for 30 cb_has "$HOST_DIRECT_QUEUE"
sleep 2
cb_coverage=$(coverage "$GUEST2")
series bench_cb "$RUNS" 15 1000 -h "$GUEST2"
cb1=("${SAMPLES[@]}")
check "every cups-browsed run (BrowseInterval 1) reached guest2" all_numbers "${cb1[@]}"
cb1_p50=$(numbers "${cb1[@]}" | pct 50)
cb1_p99=$(numbers "${cb1[@]}" | pct 99)
cb_driver=$(driver_of "$GUEST2_DIR" bench_cb_1)
cb_uri=$(lpstat -h "$GUEST2" -v bench_cb_1 2>/dev/null | sed 's/.*: //')
cb_stop

# Its default interval: one poll at its start, the next a whole interval
# later; the changes come at random moments in between (from 3 s on, once
# the first poll is done), all in that one cycle.
cbd=()
if [ "$DEFAULT_RUNS" -gt 0 ]; then
	cb_start default
	one_cycle bench_cbd "$DEFAULT_RUNS" "$DEFAULT_TIMEOUT" "$CB_START" 3000 $((DEFAULT_INTERVAL * 1000)) \
		-h "$GUEST2" -i 20
	cbd=("${SAMPLES[@]}")
	check "every cups-browsed run (default interval) reached guest2" all_numbers "${cbd[@]}"
	cb_stop
fi

# --- figures ---------------------------------------------------------------------------
echo "printredir:             p50 $pr_p50 ms, p99 $pr_p99 ms (${pr[*]})"
echo "cups-browsed, 1 s:      p50 $cb1_p50 ms, p99 $cb1_p99 ms (${cb1[*]})"
echo "cups-browsed, default:  ${cbd[*]:-not measured}"
echo "printredir's guest queue: $pr_uri, driver: $pr_driver"
echo "cups-browsed's queue:     $cb_uri, driver: $cb_driver"
echo "host printers in the guest: printredir $pr_coverage; cups-browsed $cb_coverage"

result browsed.printredir "printredir add latency, $RUNS runs" "-" \
	"p50 $pr_p50 ms, p99 $pr_p99 ms" info \
	"$(jq -cn --argjson s "$(json_samples "${pr[@]}")" --arg p50 "$pr_p50" --arg p99 "$pr_p99" \
		'{p50_ms: ($p50 | tonumber? // null), p99_ms: ($p99 | tonumber? // null), samples_ms: $s}')"
result browsed.cb1 "cups-browsed add latency, BrowseInterval 1, $RUNS runs" "-" \
	"p50 $cb1_p50 ms, p99 $cb1_p99 ms" info \
	"$(jq -cn --argjson s "$(json_samples "${cb1[@]}")" --arg p50 "$cb1_p50" --arg p99 "$cb1_p99" \
		--arg v "$cb_version" --arg pkg "$cb_package" \
		'{p50_ms: ($p50 | tonumber? // null), p99_ms: ($p99 | tonumber? // null), samples_ms: $s,
		  cups_browsed: $v, package: $pkg}')"
for p in p50 p99; do
	pv=pr_$p cv=cb1_$p
	r=$(ratio "${!cv}" "${!pv}")
	result "browsed.ratio.$p" "cups-browsed (BrowseInterval 1) / printredir, $p" ">= 10x" "${r}x" \
		"$(verdict "$(awk -v r="$r" 'BEGIN { print (r != "nan" && r + 0 >= 10) ? 1 : 0 }')")" \
		"$(jq -cn --arg r "$r" --arg c "${!cv}" --arg p "${!pv}" \
			'{ratio: ($r | tonumber? // null), cups_browsed_ms: ($c | tonumber? // null),
			  printredir_ms: ($p | tonumber? // null)}')"
done
if [ "${#cbd[@]}" -gt 0 ]; then
	cbd_p50=$(numbers "${cbd[@]}" | pct 50)
	cbd_max=$(numbers "${cbd[@]}" | pct 100)
	result browsed.cbdefault \
		"cups-browsed add latency, default BrowseInterval (${DEFAULT_INTERVAL} s), $DEFAULT_RUNS runs" "-" \
		"p50 $(secs "$cbd_p50"), max $(secs "$cbd_max")" info \
		"$(jq -cn --argjson s "$(json_samples "${cbd[@]}")" --arg i "$DEFAULT_INTERVAL" \
			'{samples_ms: $s, browse_interval_s: ($i | tonumber)}')"
fi
result browsed.driver "driver of the guest queue" "print server's driver" \
	"printredir: $pr_driver; cups-browsed: $cb_driver" info \
	"$(jq -cn --arg a "$pr_driver" --arg b "$cb_driver" --arg ua "$pr_uri" --arg ub "$cb_uri" \
		'{printredir: $a, cups_browsed: $b, printredir_device_uri: $ua, cups_browsed_device_uri: $ub}')"
result browsed.coverage "host printers in the guest (sandbox host)" "-" \
	"printredir: $pr_coverage; cups-browsed: $cb_coverage" info
echo "took $((SECONDS - t_start)) s"
finish
