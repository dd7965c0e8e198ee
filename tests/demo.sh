#!/bin/bash
# `make demo`: the whole of printredir on the real-CUPS sandbox, narrated.
#   KEEP=1   leave everything running at the end and say how to use and stop it
#   VM=1     the guest side in a real QEMU guest (tests/vm): its own kernel,
#            cupsd and agent, no network device, the channel over virtio-serial
set -u -o pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
export JETDIRECT=$BUILD/tests/jetdirect
export PRINTREDIR_BACKEND=$BUILD/printredir-backend
export PRINTREDIR_NOTIFIER=$BUILD/printredir-notifier
SANDBOX=$TOP/tests/sandbox/sandbox
KEEP=${KEEP:-}
VM=${VM:-}
VMCTL=$TOP/tests/vm/vm

if [ "$(id -u)" != 0 ]; then
	echo "make demo: must run as root: the sandbox starts real cupsd instances" >&2
	echo "(as root, dropping to user lp), on loopback only. Try: sudo make demo" >&2
	exit 1
fi

W=$(mktemp -d /tmp/printredir-demo.XXXXXX)
chmod 755 "$W"
PIDS=()
step=0
say() { step=$((step + 1)); printf '\n[%d] %s\n' "$step" "$*"; }
note() { printf '    %s\n' "$*"; }
ms() { date +%s%3N; }
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
	return 1
}

stop_all() {
	local pid f
	for f in "$W"/*.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	[ -n "$VM" ] && "$VMCTL" stop "$W/vm" >/dev/null 2>&1
	"$SANDBOX" stop "$W/world" >/dev/null 2>&1
	rm -rf "$W"
}
cleanup() {
	if [ -n "$KEEP" ] && [ "${DEMO_OK:-}" = 1 ]; then
		return
	fi
	echo
	echo "Stopping everything the demo started..."
	stop_all
	echo "Done."
}
trap cleanup EXIT
trap 'echo; echo "Interrupted."; exit 130' INT TERM

say "Starting the sandbox: a print server, a host and a guest, each a real cupsd on loopback"
"$SANDBOX" start "$W/world" >"$W/sandbox.log" 2>&1 || { cat "$W/sandbox.log"; exit 1; }
# shellcheck disable=SC1091
source "$W/world/env"
HOST=$HOST_SERVER GUEST=$GUEST_SERVER PS=$PRINTSERVER_SERVER
# in_guest CMD...: runs CMD in the guest; with VM=1 inside the VM, whose
# cupsd listens on /run/cups.sock.
if [ -n "$VM" ]; then
	GUEST=/run/cups.sock
	in_guest() { "$VMCTL" exec "$W/vm" -- "$(printf '%q ' "$@")"; }
else
	in_guest() { "$@"; }
fi
note "print server $PS: $(echo "$PRINTSERVER_QUEUES" | wc -w) queues with drivers + 1 raw queue"
note "host         $HOST (its unix socket only): $(echo "$HOST_NETWORK_QUEUES" | wc -w) network queues, 1 direct printer, 1 local USB printer"
if [ -n "$VM" ]; then
	note "guest        a QEMU VM, started below (the sandbox's guest cupsd stays unused)"
else
	note "guest        $GUEST: empty"
fi

# The broker's master key, and the guest's own key derived from it.
head -c 32 /dev/urandom | base64 >"$W/key"
chmod 600 "$W/key"
cat >"$W/broker.conf" <<CONF
[broker]
cups = $HOST
listen = unix:$W/broker.sock
control = unix:$W/control.sock
key_file = $W/key
state_dir = $W/broker-state
print_server = $PS
name = demo-host
channels = $W/channels
CONF
"$BUILD/host-broker" keygen -c "$W/broker.conf" -o "$W/key-guest1" guest1
cat /proc/sys/kernel/random/uuid >"$W/boot_id-guest1"
cat >"$W/agent-guest1.conf" <<CONF
[agent]
broker = unix:$W/broker.sock
cups = $GUEST
job_socket = unix:$GUEST_JOB_SOCKET
key_file = $W/key-guest1
state_dir = $W/agent-state
guest_id = guest1

[restart]
command = $TOP/tests/e2e/fake-restart $W guest1 $BUILD
boot_id_file = $W/boot_id-guest1
apps_uid_min = 60000
tray_socket = unix:$W/tray.sock
CONF

say "Starting the host broker: it lists the host's printers and fetches their drivers"
"$BUILD/host-broker" -c "$W/broker.conf" >"$W/broker.log" 2>&1 &
echo $! >"$W/broker.pid"
wait_for 15 test -S "$W/control.sock" || { cat "$W/broker.log"; exit 1; }
status() { "$BUILD/host-broker" status -c "$W/broker.conf" "$@"; }
has_generation() { [ "$(status --json | jq .broker.generation)" -ge 1 ] 2>/dev/null; }
wait_for 30 has_generation
status --json | jq -r '.printers[] | "\(.name)\t\(if .network then "network" else "local  " end)\t\(if .redirected then "redirected" else "not redirected" end)\t\(.driver // "-")"' |
	while IFS=$'\t' read -r n net red drv; do note "$(printf '%-22s %s  %-14s driver: %s' "$n" "$net" "$red" "$drv")"; done
note "$(grep -c 'fetched driver' "$W/broker.log") drivers fetched from the print server (PPDs, checked, hashed, compressed)"

t0=$(ms)
if [ -n "$VM" ]; then
	say "Booting the workspace VM: its own kernel, cupsd and agent; its only link is the virtio-serial channel"
	mkdir -p "$W/channels"
	BUILD=$BUILD "$VMCTL" start "$W/vm" --channels "$W/channels" --key "$W/key-guest1" --id guest1 \
		>"$W/vm.log" 2>&1 || { cat "$W/vm.log"; exit 1; }
	note "the VM is up and its agent runs, $(( $(ms) - t0 )) ms after QEMU started ($("$VMCTL" exec "$W/vm" -- uname -sr))"
	note "its network devices: $(in_guest ls /sys/class/net)"
	t0=$(ms)
else
	say "Starting the guest agent: it installs drivers and queues in the guest's CUPS"
	"$BUILD/guest-agent" -c "$W/agent-guest1.conf" >"$W/agent-guest1.log" 2>&1 &
	echo $! >"$W/agent-guest1.pid"
fi
synced() {
	status --json | jq -e '.broker.generation as $b | .guests[] | select(.id == "guest1") |
		.generation >= $b and (.printers | length) > 0' >/dev/null 2>&1
}
wait_for 60 synced || { tail "$W/agent-guest1.log" "$W/broker.log"; exit 1; }
note "installed in $(( $(ms) - t0 )) ms:"
in_guest lpstat -h "$GUEST" -v | sed 's/^/    /'
status --json | jq -r '.guests[0].printers[] | select(.state != "installed") | "\(.name): \(.state): \(.detail)"' |
	sed 's/^/    /'

say "Printing a test page in the guest (guest queue -> agent -> channel -> broker -> host queue -> print server)"
before=$(ls "$OUTPUT_DIR" | wc -l)
page=$W/page.txt
[ -n "$VM" ] && page=$W/vm/persist/page.txt	# the VM's /srv
printf 'printredir demo test page\nprinted in the guest at %s\n' "$(date)" >"$page"
[ -n "$VM" ] && page=/srv/page.txt
in_guest lp -h "$GUEST" -d net_generic_pdf "$page" | sed 's/^/    /'
arrived() { [ "$(ls "$OUTPUT_DIR" | wc -l)" -gt "$before" ]; }
if wait_for 60 arrived; then
	f=$(ls -t "$OUTPUT_DIR"/* | head -1)
	what="data"
	grep -aq '%PDF-' "$f" && what="PDF"
	head -c 4096 "$f" | grep -aq '@PJL' && what="$what behind a PJL header"
	note "arrived at the print server's device: $(basename "$f"), $(stat -c %s "$f") bytes of $what"
	host_user() { lpstat -h "$HOST" -W completed -o net_generic_pdf | awk 'END {print $2}'; }
	host_done() { [ -n "$(host_user)" ]; }
	wait_for 10 host_done
	note "(left the guest as PDF over the channel; the host printed it as user $(host_user); the print server's driver rendered it)"
else
	note "the job did not arrive within 60 s (see $W/world/*/log)"
fi

say "The restart decision"
restarted() { [ "$(status --json | jq -r '.guests[0].restart')" = "done" ]; }
agent_log=$W/agent-guest1.log
[ -n "$VM" ] && agent_log=$W/vm/persist/agent.log
wait_for 120 restarted
note "$(grep -m1 'restart restarting' "$agent_log" | sed 's/.*restart restarting: //')"
if [ -n "$VM" ]; then
	note "the VM rebooted for real (QEMU reset it; boots so far: $(grep -c 'vm-init: up' "$W/vm/console.log"))"
	note "after it the agent reported: $(status --json | jq -r '.guests[0].restart + " (" + .guests[0].restart_detail + ")"')"
else
	note "the demo's restart command simulated a new boot; after it the agent reported: $(status --json | jq -r '.guests[0].restart + " (" + .guests[0].restart_detail + ")"')"
fi

say "Status, as IT sees it: host-broker status"
status | sed 's/^/    /'

say "Adding a printer on the host while everything runs"
boots() { grep -c 'vm-init: up' "$W/vm/console.log"; }
[ -n "$VM" ] && boots_before=$(boots)
lpadmin -h "$HOST" -p live_added -E -v "ipp://$PS/printers/hp_cm3530_pdf"
t0=$(ms)
live_reported() {
	status --json | jq -e '.guests[0].printers[] | select(.name == "live_added" and .state == "installed")' >/dev/null
}
if wait_for 20 live_reported; then
	note "live_added is installed in the guest $(( $(ms) - t0 )) ms later (the agent's report):"
	if [ -n "$VM" ]; then
		# A new driver: the agent restarts the idle VM again.
		rebooted_again() { [ "$(boots)" -gt "$boots_before" ] && restarted; }
		wait_for 120 rebooted_again
		note "(a new driver, no application running: the agent rebooted the VM again; boots so far: $(boots))"
	fi
	in_guest lpstat -h "$GUEST" -v live_added | sed 's/^/    /'
else
	note "live_added did not reach the guest within 20 s"
fi

DEMO_OK=1
if [ -n "$KEEP" ] && [ -n "$VM" ]; then
	cat <<EOF

Everything is still running (KEEP=1). Try:
    $BUILD/host-broker status -c $W/broker.conf
    $VMCTL exec $W/vm -- lpstat -h /run/cups.sock -v     # the VM's queues
    $VMCTL exec $W/vm -- $BUILD/guest-agent status -c /srv/agent.conf
    $VMCTL console $W/vm                                  # the VM's serial console
    lpadmin -h $HOST -p new -E -v ipp://$PS/printers/generic_pdf   # a new host printer
Stop it all with:
    kill \$(cat $W/*.pid); $VMCTL stop $W/vm; $SANDBOX stop $W/world; rm -rf $W
EOF
elif [ -n "$KEEP" ]; then
	cat <<EOF

Everything is still running (KEEP=1). Try:
    $BUILD/host-broker status -c $W/broker.conf
    $BUILD/guest-agent status -c $W/agent-guest1.conf
    lpstat -h $GUEST -v              # the guest's queues
    lpadmin -h $HOST -p new -E -v ipp://$PS/printers/generic_pdf   # a new host printer
Stop it all with:
    kill \$(cat $W/*.pid); $SANDBOX stop $W/world; rm -rf $W
EOF
fi
