#!/bin/bash
# Scenario 11, the wrong key: an agent that does not hold its key is refused,
# with a clear message in its log, its status and the broker's log; nothing
# is installed in its guest, and the broker goes on serving the guests that
# hold theirs.  Each guest's key is derived from the broker's master key and
# its id: the key of one guest does not let it pass for another, and the
# master key itself is no guest's key.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all 2	# g1 on the first guest, holding the key
head -c 32 /dev/urandom | base64 >"$W/wrong-key"
chmod 600 "$W/wrong-key"
AGENT_CUPS=$GUEST2_SERVER AGENT_JOBS=$GUEST2_JOB_SOCKET agent_conf intruder
sed -i "s|^key_file = .*|key_file = $W/wrong-key|" "$W/agent-intruder.conf"
agent_start intruder

check "the agent logs that it was refused, and why" \
	wait_for 10 grep -q 'peer refused us: authentication failed' "$W/agent-intruder.log"
check "the broker logs which agent failed" \
	grep -q 'authentication failed: agent "intruder" does not hold its key (its key_file must be what .host-broker keygen intruder. writes)' "$W/broker.log"
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
	grep -q 'closed	peer refused us: authentication failed: agent "raw-intruder" does not hold its key' "$W/probe.out"

# g1's own key, claiming to be another guest: refused.
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g1" -i g2 -o "$W" -t 5 \
	>"$W/probe-spoof.out" 2>&1
check "the key of g1 does not pass for g2" \
	grep -q 'closed	peer refused us: authentication failed: agent "g2" does not hold its key' \
	"$W/probe-spoof.out"
# The broker's master key is not a guest key either.
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key" -i g1 -o "$W" -t 5 \
	>"$W/probe-master.out" 2>&1
check "nor does the master key pass for g1" \
	grep -q 'closed	peer refused us: authentication failed: agent "g1" does not hold its key' \
	"$W/probe-master.out"
guest_key g3
check "while a new guest's own key does, with no set-up on the broker" bash -c "
	'$BUILD/tests/probe' -a 'unix:$W/broker.sock' -k '$W/key-g3' -i g3 -o '$W' -t 5 -n 1 |
	grep -q '^set'"

lpadmin -h "$HOST" -p after_refusals -E -v "ipp://$PS/printers/generic_pdf"
served() { lpstat -h "$GUEST" -p after_refusals >/dev/null 2>&1; }
check "the guest holding the key is still served" wait_for 10 served
check "and the refused guest still has nothing" test -z "$(guest_queues "$GUEST2_SERVER")"

# Key rotation, as the README says: a new master key and SIGHUP.
cp "$W/key-g3" "$W/key-g3.old"
head -c 32 /dev/urandom | base64 >"$W/key"
kill -HUP "$BROKER_PID"
check "the broker takes the new master key on SIGHUP" \
	wait_for 10 grep -q 'reload: a new master key from' "$W/broker.log"
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g3.old" -i g3 -o "$W" -t 5 \
	>"$W/probe-old.out" 2>&1
check "a guest key of the old master is refused" \
	grep -q 'authentication failed: agent "g3" does not hold its key' "$W/probe-old.out"
guest_key g3
check "the guest's new key is taken" bash -c "
	'$BUILD/tests/probe' -a 'unix:$W/broker.sock' -k '$W/key-g3' -i g3 -o '$W' -t 5 -n 1 |
	grep -q '^set'"
check "a guest connected before the rotation keeps its session" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '.guests[] | select(.id == \"g1\") | .connected' >/dev/null"

# Only the guests IT lists, when it lists them: [guests] allow.
printf '[guests]\nallow = g1, g2 g3\n' >>"$W/broker.conf"
kill -HUP "$BROKER_PID"
reloaded_twice() { [ "$(grep -c 'configuration reloaded' "$W/broker.log")" -ge 2 ]; }
wait_for 10 reloaded_twice
guest_key g4
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g4" -i g4 -o "$W" -t 5 \
	>"$W/probe-g4.out" 2>&1
check "a guest with a good key but not in [guests] allow is refused" \
	grep -q 'guest "g4" is not allowed on this host' "$W/probe-g4.out"
check "and leaves no record in status" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '[.guests[] | select(.id == \"g4\")] | length == 0' >/dev/null"
check "a listed guest still comes in" bash -c "
	'$BUILD/tests/probe' -a 'unix:$W/broker.sock' -k '$W/key-g3' -i g3 -o '$W' -t 5 -n 1 |
	grep -q '^set'"

finish
