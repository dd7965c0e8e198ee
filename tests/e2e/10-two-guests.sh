#!/bin/bash
# Scenario 10, two guests on one broker at the same time, each with its own
# guest CUPS, agent, state and status: what differs between them stays
# apart, a host change reaches both, and one going away leaves the other be.
# A third agent running --dry-run shows as such in the status.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start 2
GUEST_B=$GUEST2_SERVER
broker_conf "print_server = $PS"
broker_start || exit 1
# Guest B's user made a queue for the generic PDF printer by hand, straight
# to the printer the host queue prints to.
lpadmin -h "$GUEST_B" -p my_pdf -E -v "ipp://$PS/printers/generic_pdf"
agent_conf ga
AGENT_CUPS=$GUEST_B AGENT_JOBS=$GUEST2_JOB_SOCKET agent_conf gb
agent_start ga
agent_start gb
both_synced() { guest_synced ga && guest_synced gb; }
check "both agents report to the broker" wait_for 30 both_synced

expected=$(with_driver)
check "guest A has every printer with a driver" test "$(guest_queues)" = "$expected"
check "guest B has the same but its own queue for the generic PDF printer" \
	test "$(guest_queues "$GUEST_B")" = "$( (grep -vx net_generic_pdf <<<"$expected"; echo my_pdf) | sort)"
status_json >"$W/status.json"
state_of() { jq -r --arg g "$1" --arg p "$2" '.guests[] | select(.id == $g) | .printers[] |
	select(.name == $p) | .state' "$W/status.json"; }
check "the broker keeps each guest's own report: A installed it" \
	test "$(state_of ga net_generic_pdf)" = installed
check "B skipped it as a duplicate" test "$(state_of gb net_generic_pdf)" = duplicate-skipped
check "each agent's status shows its own guest" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-ga.conf' | grep -q '^net_generic_pdf  *installed' &&
	'$BUILD/guest-agent' status -c '$W/agent-gb.conf' | grep -q '^net_generic_pdf  *duplicate-skipped'"
check "and its own state folder" bash -c "
	[ -s '$W/agent-ga/agent.json' ] && [ -s '$W/agent-gb/agent.json' ] &&
	! cmp -s '$W/agent-ga/agent.json' '$W/agent-gb/agent.json'"
"$BUILD/host-broker" status -c "$W/broker.conf" >"$W/status.txt"
check "the status table lists both guests, connected" bash -c "
	grep -q '^ga  *yes ' '$W/status.txt' && grep -q '^gb  *yes ' '$W/status.txt'"

lpadmin -h "$HOST" -p shared_new -E -v "ipp://$PS/printers/brother_hl5250dn"
in_both() { lpstat -h "$GUEST" -p shared_new >/dev/null 2>&1 && lpstat -h "$GUEST_B" -p shared_new >/dev/null 2>&1; }
check "a printer added on the host reaches both guests" wait_for 10 in_both

agent_stop gb
gone() { status_json | jq -e '.guests[] | select(.id == "gb") | .connected == false' >/dev/null; }
check "guest B's agent stopping shows as B disconnected" wait_for 15 gone
check "while A stays connected" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '.guests[] | select(.id == \"ga\") | .connected' >/dev/null"
lpadmin -h "$HOST" -x shared_new
left_a() { ! lpstat -h "$GUEST" -p shared_new >/dev/null 2>&1; }
check "A still follows the host" wait_for 10 left_a
check "B's guest is left as it was while its agent is away" \
	bash -c "lpstat -h '$GUEST_B' -p shared_new >/dev/null"
agent_start gb
left_b() { ! lpstat -h "$GUEST_B" -p shared_new >/dev/null 2>&1; }
check "B catches up when its agent is back" wait_for 20 left_b

# A third agent runs --dry-run: the status says so once, on its guest, and
# its printers with a driver are pending without a detail each.
start_dry_agents 1
dry_synced() { guest_synced a001; }
check "a --dry-run agent reports to the broker too" wait_for 30 dry_synced
status_json >"$W/dry.json"
check "its guest is marked dry_run, every printer with a driver pending without a detail" jq -e '
	.broker.generation as $b | .guests[] | select(.id == "a001") |
	.dry_run == true and .generation == $b and
	([.printers[] | select(.state != "driver-missing")] | length) > 0 and
	all(.printers[] | select(.state != "driver-missing"); .state == "pending" and has("detail") == false)' "$W/dry.json"
check "the real agents' guests are not dry_run" jq -e \
	'[.guests[] | select(.id != "a001") | .dry_run] == [false, false]' "$W/dry.json"
"$BUILD/host-broker" status -c "$W/broker.conf" >"$W/status.txt"
check "the table says it under that guest, and only there" bash -c "
	[ \"\$(grep -c '^  dry run: ' '$W/status.txt')\" = 1 ] &&
	grep -A1 '^a001 ' '$W/status.txt' | grep -q '^  dry run: the agent installs nothing'"
kill "$(cat "$W/agent-a001.pid")"
broker_stop
broker_start || exit 1
check "the broker remembers it across its restart, the agent gone" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '.guests[] | select(.id == \"a001\") | .connected == false and .dry_run' >/dev/null"

finish
