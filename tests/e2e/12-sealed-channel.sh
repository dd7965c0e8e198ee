#!/bin/bash
# Scenario 12, the channel is sealed (protocol 2): a relay between the agent
# and the broker, as anyone on the path of a tcp: channel could be, sees no
# printer name and no driver in clear, and a byte it flips after the
# handshake makes the agent drop the connection without acting on anything;
# the agent then connects again and the guest has exactly the right queues.
# And 1,000 idle keyless connections do not keep a real agent out; an agent
# on a virtio-serial port reaches a broker that serves a `channels` folder,
# and comes back after its VM's channel does; a broker stopped while a VM's
# channel waits for its agent stops at once.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start 2
broker_conf "print_server = $PS"
broker_start || exit 1
# Frames from the broker: 1 challenge, 2 hello, 3 proof, 4 the first sealed
# one (the printer set).
"$BUILD/tests/relay" -l "$W/relay.sock" -c "$W/broker.sock" -w "$W/capture" -f 4 \
	2>"$W/relay.log" &
PIDS+=($!)
wait_for 5 test -S "$W/relay.sock"
agent_conf g1
sed -i "s|^broker = .*|broker = unix:$W/relay.sock|" "$W/agent-g1.conf"
agent_start g1

check "the relay flipped one byte of the broker's first sealed frame" \
	wait_for 20 grep -q 'flipped a byte of frame 4' "$W/relay.log"
check "the agent refuses that frame and drops the connection" wait_for 10 grep -q \
	'sealed frame 0 does not open: altered, reordered or replayed on the way; closing' \
	"$W/agent-g1.log"
check "and acted on nothing of it" bash -c "! grep -q 'generation 1 from the broker' \
	<(sed -n '1,/does not open/p' '$W/agent-g1.log')"
check "it connects again and reports" wait_for 60 guest_synced g1
installed() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.state == "installed") | .name' | sort
}
check "the guest has exactly the queues the agent reports installed" \
	test "$(guest_queues)" = "$(installed)"
installed_or_rejected() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.state == "installed" or .state == "driver-rejected") | .name' | sort
}
check "and every host printer with a driver was installed or, unsafe, rejected" \
	test "$(installed_or_rejected)" = "$(with_driver)"
in_clear() {
	local n
	for n in $(status_json | jq -r '.printers[].name'); do
		grep -aqF "$n" "$W/capture" && { echo "in clear: $n"; return 0; }
	done
	grep -aq 'PPD-Adobe' "$W/capture" && { echo "in clear: a PPD"; return 0; }
	return 1
}
not_in_clear() { ! in_clear; }
check "the relay carried the printer sets" test "$(stat -c %s "$W/capture")" -gt 10000
check "but saw no printer name and no driver in clear" not_in_clear

# --- a flood of idle connections that prove no key ---------------------------------
agent_stop g1
sed -i "s|^broker = .*|broker = unix:$W/broker.sock|" "$W/agent-g1.conf"
"$BUILD/tests/flood" -s "$W/broker.sock" -n 1000 -t 60 >"$W/flood.out" 2>&1 &
PIDS+=($!)
check "1,000 idle keyless connections are opened" wait_for 30 grep -q '^opened 1000$' "$W/flood.out"
agent_start g1
check "a real agent still connects within a few seconds" wait_for 8 guest_synced g1
check "the broker dropped the oldest waiting connections, and said so once" \
	test "$(grep -c 'connections wait for a handshake: dropped the oldest' "$W/broker.log")" -eq 1
check "and it is still running" kill -0 "$BROKER_PID"

# --- virtio-serial and a channels folder ------------------------------------------------
# tests/tools/vport stands in for QEMU's port and its chardev socket.
mkdir -p "$W/channels"
broker_stop
broker_conf "print_server = $PS
channels = $W/channels"
broker_start || exit 1
"$BUILD/tests/vport" -s "$W/channels/vm1.sock" -d "$W/vport-vm1" 2>>"$W/vport.log" &
vport=$!
PIDS+=("$vport")
AGENT_CUPS=$GUEST2_SERVER AGENT_JOBS=$GUEST2_JOB_SOCKET agent_conf vm1
sed -i "s|^broker = .*|broker = virtio-serial:$W/vport-vm1|" "$W/agent-vm1.conf"
agent_start vm1
check "the broker finds the VM's socket in the channels folder" \
	wait_for 10 grep -q "channel $W/channels/vm1.sock: new" "$W/broker.log"
check "an agent on a virtio-serial port proves its key and reports" wait_for 30 guest_synced vm1
check "its guest has its printers" test -n "$(guest_queues "$GUEST2_SERVER")"
check "and the channel is sealed like any other" \
	grep -q 'channel .*vm1.sock (vm1): sent printer-set' "$W/broker.log"
# The VM's channel goes away and comes back (a VM restart, as QEMU would).
kill "$vport"
wait "$vport" 2>/dev/null
rm -f "$W/channels/vm1.sock"
disconnected() {
	status_json | jq -e '.guests[] | select(.id == "vm1") | .connected | not' >/dev/null
}
check "the broker sees the channel go" wait_for 10 disconnected
lpadmin -h "$HOST" -p while_vm_away -E -v "ipp://$PS/printers/generic_pdf"
"$BUILD/tests/vport" -s "$W/channels/vm1.sock" -d "$W/vport-vm1" 2>>"$W/vport.log" &
PIDS+=($!)
back() { lpstat -h "$GUEST2_SERVER" -p while_vm_away >/dev/null 2>&1; }
check "and connects again when it is back: a change made meanwhile arrives" wait_for 60 back

# A VM whose agent has not opened its port yet: the broker's connection waits
# for its handshake (a VM may take a day to start), and a broker stopped
# meanwhile stops at once all the same.
"$BUILD/tests/vport" -s "$W/channels/vm2.sock" -d "$W/vport-vm2" 2>>"$W/vport.log" &
PIDS+=($!)
check "the broker connects to a VM whose agent is not there yet" \
	wait_for 10 grep -q "channel $W/channels/vm2.sock: connected; waiting for its agent" "$W/broker.log"
kill -TERM "$BROKER_PID"
stopped() { ! kill -0 "$BROKER_PID" 2>/dev/null; }
check "a broker stopped meanwhile stops within 5 s" wait_for 5 stopped
stopped || kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null

finish
