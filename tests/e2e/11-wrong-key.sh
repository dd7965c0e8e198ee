#!/bin/bash
# Scenario 11, the wrong key: an agent that does not hold the broker's key is
# refused, with a clear message in its log, its status and the broker's log;
# nothing is installed in its guest, and the broker goes on serving the
# guests that hold the key.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all 2	# g1 on the first guest, holding the key
head -c 32 /dev/urandom | base64 >"$W/wrong-key"
chmod 600 "$W/wrong-key"
AGENT_CUPS=$GUEST2_SERVER agent_conf intruder
sed -i "s|^key_file = .*|key_file = $W/wrong-key|" "$W/agent-intruder.conf"
agent_start intruder

check "the agent logs that it was refused, and why" \
	wait_for 10 grep -q 'peer refused us: authentication failed' "$W/agent-intruder.log"
check "the broker logs which agent failed" \
	grep -q 'authentication failed: agent "intruder" does not hold the broker.s key' "$W/broker.log"
check "the agent's status says why it is not connected" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-intruder.conf' | grep -q 'not connected.*authentication failed'"
sleep 1
check "nothing is installed in its guest" test -z "$(guest_queues "$GUEST2_SERVER")"
check "the broker lists no such guest" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '[.guests[] | select(.id == \"intruder\")] | length == 0' >/dev/null"
retried() {
	kill -0 "$(agent_pid intruder)" && [ "$(grep -c 'authentication failed' "$W/agent-intruder.log")" -ge 2 ]
}
check "it keeps running, and tries again" wait_for 15 retried

# A raw client with the wrong key gets the same answer on the wire.
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/wrong-key" -i raw-intruder -o "$W" -t 5 \
	>"$W/probe.out" 2>&1
check "a client with the wrong key is told so on the wire" \
	grep -q 'closed	peer refused us: authentication failed: agent "raw-intruder" does not hold the broker.s key' "$W/probe.out"

lpadmin -h "$HOST" -p after_refusals -E -v "ipp://$PS/printers/generic_pdf"
served() { lpstat -h "$GUEST" -p after_refusals >/dev/null 2>&1; }
check "the guest holding the key is still served" wait_for 10 served
check "and the refused guest still has nothing" test -z "$(guest_queues "$GUEST2_SERVER")"

finish
