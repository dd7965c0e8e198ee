# shellcheck shell=bash
# Shared by the end-to-end scenarios (sourced, not run).  Each scenario
# starts its own sandbox world and the real binaries, asserts what a user
# could observe, and cleans up on every exit path.
#
#   check NAME CMD...     runs CMD; prints "PASS: NAME" or "FAIL: NAME"
#   world_start [GUESTS]  starts the sandbox (GUESTS guest cupsd, default 1)
#                         in $W/world and sources its env
#   broker_conf LINES     writes $W/broker.conf; broker_start starts the broker
#   agent_conf ID LINES   writes $W/agent-ID.conf for the guest at
#                         ${AGENT_CUPS:-$GUEST}, whose backend hands jobs to
#                         ${AGENT_JOBS:-$GUEST_JOB_SOCKET}; agent_start ID
#                         starts it
#   wait_for SECS CMD...  polls CMD every 0.1 s until it succeeds
#   finish                prints the summary line and exits 0/1

set -u
TOP=${TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
SANDBOX=$TOP/tests/sandbox/sandbox
export JETDIRECT=$BUILD/tests/jetdirect
# The guests' CUPS get the printredir backend the agent's queues print through.
export PRINTREDIR_BACKEND=$BUILD/printredir-backend
# The host's CUPS gets the notifier of the broker's push subscription.
export PRINTREDIR_NOTIFIER=$BUILD/printredir-notifier
PASSED=0 FAILED=0
PIDS=()

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: end-to-end scenarios start cupsd and must run as root"
	exit 77
fi
command -v cupsd >/dev/null || command -v /usr/sbin/cupsd >/dev/null || {
	echo "SKIP: cupsd is not installed (make deps)"; exit 77; }

W=$(mktemp -d /tmp/printredir-e2e.XXXXXX)
chmod 755 "$W"	# cupsd drops to lp, which must reach the world inside

cleanup() {
	local pid f
	# Agents may have been restarted by a restart command: their pid files
	# hold the current process.
	for f in "$W"/*.pid; do
		[ -f "$f" ] && PIDS+=("$(cat "$f")")
	done
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_E2E:-}" ]; then
		# The world goes, its cupsd logs and the jobs received stay.
		for f in "$W"/world/*/log "$W"/world/*output; do
			[ -d "$f" ] && mkdir -p "$W/kept" && cp -r "$f" "$W/kept/$(basename "$(dirname "$f")")-$(basename "$f")"
		done
	fi
	[ -d "$W/world" ] && "$SANDBOX" stop "$W/world" >/dev/null 2>&1
	if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_E2E:-}" ]; then
		echo "logs kept in $W (cupsd logs and received jobs in $W/kept)"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/checks.sh
source "$TOP/tests/checks.sh"

world_start() {
	SANDBOX_GUESTS=${1:-1} "$SANDBOX" start "$W/world" >"$W/sandbox.log" 2>&1 || {
		cat "$W/sandbox.log"
		echo "FAIL: the sandbox did not start"
		exit 1
	}
	# shellcheck disable=SC1091
	source "$W/world/env"
	HOST=$HOST_SERVER	# its unix socket: no guest can reach it
	GUEST=127.0.0.1:$GUEST_PORT
	PS=127.0.0.1:$PRINTSERVER_PORT
	# The broker's master key; each guest gets its own (guest_key).
	head -c 32 /dev/urandom | base64 >"$W/key"
	chmod 600 "$W/key"
	printf '[broker]\nkey_file = %s/key\n' "$W" >"$W/keygen.conf"
}

# Writes guest ID's key, derived from the master key, to $W/key-ID.
guest_key() {	# guest_key ID
	"$BUILD/host-broker" keygen -c "$W/keygen.conf" -o "$W/key-$1" "$1"
}

broker_conf() {
	cat >"$W/broker.conf" <<CONF
[broker]
cups = $HOST
listen = unix:$W/broker.sock
control = unix:$W/control.sock
events = unix:$W/events.sock
key_file = $W/key
state_dir = $W/broker-state
name = e2e-host
relist_interval = 10s
$*
CONF
}

BROKER_PID=
broker_start() {
	"$BUILD/host-broker" -d -c "$W/broker.conf" >>"$W/broker.log" 2>&1 &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	wait_for 10 test -S "$W/control.sock" || { echo "broker did not start:"; tail "$W/broker.log"; return 1; }
}

broker_stop() {
	kill -TERM "$BROKER_PID" 2>/dev/null
	wait "$BROKER_PID" 2>/dev/null
}

status_json() {
	"$BUILD/host-broker" status -c "$W/broker.conf" --json
}

finish() {
	local pid
	# Stop the daemons now, so that a sanitizer's report at exit is in
	# their logs, and fail on any.
	for f in "$W"/*.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"; done
	PIDS=()
	check "no sanitizer report in the daemons' logs" \
		bash -c "! grep -l -E 'runtime error|AddressSanitizer|LeakSanitizer' '$W'/*.log"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

agent_conf() {	# agent_conf ID [extra lines...]
	local id=$1
	shift
	guest_key "$id"
	cat >"$W/agent-$id.conf" <<CONF
[agent]
broker = unix:$W/broker.sock
cups = ${AGENT_CUPS:-$GUEST}
job_socket = unix:${AGENT_JOBS:-$GUEST_JOB_SOCKET}
key_file = $W/key-$id
state_dir = $W/agent-$id
guest_id = $id
$*
CONF
	if ! grep -q '^\[restart\]' "$W/agent-$id.conf"; then
		printf '[restart]\ncommand =\ntray_socket = unix:%s/tray-%s.sock\n' \
			"$W" "$id" >>"$W/agent-$id.conf"
	fi
}

agent_start() {	# agent_start ID
	"$BUILD/guest-agent" -d -c "$W/agent-$1.conf" >>"$W/agent-$1.log" 2>&1 &
	echo $! >"$W/agent-$1.pid"
	disown $!	# its pid file tracks it (a restart command may replace it)
}

agent_pid() { cat "$W/agent-$1.pid"; }

agent_stop() {	# agent_stop ID [SIGNAL]
	local pid
	pid=$(agent_pid "$1")
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	rm -f "$W/agent-$1.pid"
}

# Names of a guest's queues (default: the first guest's), sorted, one a line.
guest_queues() {	# guest_queues [SERVER]
	lpstat -h "${1:-$GUEST}" -p 2>/dev/null | awk '$1 == "printer" {print $2}' | sort
}

# The state the broker has for a guest's printer ("" when none).
guest_state() {	# guest_state ID PRINTER
	status_json | jq -r --arg g "$1" --arg p "$2" \
		'.guests[] | select(.id == $g) | .printers[] | select(.name == $p) | .state'
}

# True once the broker has a report from guest ID on generation >= its own.
guest_synced() {	# guest_synced ID
	status_json | jq -e --arg g "$1" \
		'.broker.generation as $b | $b >= 1 and ([.guests[] | select(.id == $g) |
		 .connected and .generation >= $b] | any)' >/dev/null 2>&1
}

# The host queues the broker redirects with a driver, sorted.
with_driver() {
	status_json | jq -r '.printers[] | select(.redirected and .driver == "available") | .name' | sort
}

# A guest PPD is the print server's PPD for the same printer, rewritten
# (ppd_rewrite_pdf): every statement but the driver's programs is the same.
same_driver() {	# same_driver GUEST_PPD PRINT_SERVER_PPD
	local opts='^\*(OpenUI|Default[A-Za-z]*:|NickName|ModelName)'
	cmp -s <(grep -E "$opts" "$1") <(grep -E "$opts" "$2") &&
		grep -qx '\*cupsFilter2: "application/vnd.cups-pdf application/pdf 0 -"' "$1"
}

# The usual start: a world, the broker serving the print server's drivers,
# and agent g1 synced with it.
start_all() {
	world_start "$@"
	broker_conf "print_server = $PS"
	broker_start || exit 1
	agent_conf g1
	agent_start g1
	check "the agent reports to the broker" wait_for 30 guest_synced g1
}

now_ms() { date +%s%3N; }

# Runs CHANGE (a function or command without arguments), then polls COND
# every 20 ms for up to 5 s; prints the milliseconds from the end of the
# change until COND held, or "timeout".
follow_ms() {	# follow_ms CHANGE COND...
	local t0 i
	"$1" >/dev/null
	shift
	t0=$(now_ms)
	for ((i = 0; i < 250; i++)); do
		"$@" && { echo $(($(now_ms) - t0)); return; }
		sleep 0.02
	done
	echo timeout
}
within_1s() { [ "$1" != timeout ] && [ "$1" -lt 1000 ]; }

# A valid one-page PDF of about MB megabytes, built with shell tools only:
# the page shows an image of random pixels (1024 wide, uncompressed), which
# no filter on the way can make smaller.
make_pdf() {	# make_pdf MB OUT
	local out=$2 h=$(($1 * 342)) offs=() len
	len=$((1024 * 3 * h))
	obj() { offs+=("$(stat -c %s "$out.tmp")"); }
	printf '%%PDF-1.4\n' >"$out.tmp"
	obj; printf '1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n' >>"$out.tmp"
	obj; printf '2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n' >>"$out.tmp"
	obj; printf '3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /XObject << /Im1 5 0 R >> >> >>\nendobj\n' >>"$out.tmp"
	obj; printf '4 0 obj\n<< /Length 37 >>\nstream\nq 500 0 0 700 47 71 cm /Im1 Do Q    \nendstream\nendobj\n' >>"$out.tmp"
	obj
	{
		printf '5 0 obj\n<< /Type /XObject /Subtype /Image /Width 1024 /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Length %d >>\nstream\n' "$h" "$len"
		head -c "$len" /dev/urandom
		printf '\nendstream\nendobj\n'
	} >>"$out.tmp"
	pdf_end "$out"
}
# pdf_end OUT: ends the five objects of a PDF written to OUT.tmp (their
# offsets in the caller's offs) with its cross-reference table and
# trailer, and puts it in OUT.
pdf_end() {
	local xref
	xref=$(stat -c %s "$1.tmp")
	{
		printf 'xref\n0 6\n0000000000 65535 f \n'
		printf '%010d 00000 n \n' "${offs[@]}"
		printf 'trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' "$xref"
	} >>"$1.tmp"
	mv "$1.tmp" "$1"
}
# start_dry_agents N: agents a001 to aN (guest-agent --dry-run: no CUPS),
# each with its own key, state, job and tray sockets, in the background;
# each one's pid in $W/agent-aNNN.pid.
start_dry_agents() {
	local i
	for i in $(seq -f '%03g' "$1"); do
		AGENT_JOBS="$W/jobs-a$i.sock" agent_conf "a$i"
		"$BUILD/guest-agent" --dry-run -c "$W/agent-a$i.conf" >>"$W/agent-a$i.log" 2>&1 &
		echo $! >"$W/agent-a$i.pid"
		disown $!
	done
}
# add_host_printers PREFIX N: host queues PREFIX_001 to PREFIX_N, each
# printing to one of the print server's queues that have a driver, in turn.
add_host_printers() {
	local served=(generic_pdf brother_hl5250dn hp_cm3530_pdf hp_designjet_t790 ricoh_mp_c3003_ps) i
	for i in $(seq -f '%03g' "$2"); do
		lpadmin -h "$HOST" -p "$1_$i" -E -v "ipp://$PS/printers/${served[$((10#$i % ${#served[@]}))]}"
	done
}

# Files the print server's listener wrote for print-server queue Q.
ps_count() {	# ps_count Q
	local f n=0
	for f in "$OUTPUT_DIR"/*-"$1".prn; do [ -e "$f" ] && n=$((n + 1)); done
	echo $n
}
