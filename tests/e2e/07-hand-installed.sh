#!/bin/bash
# Scenario 7, a printer installed by hand in the guest, then on the host:
# the guest keeps exactly one queue for it, the hand-made one, and the agent
# reports duplicate-skipped naming it.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

# The user added the office printer straight from the network, as the host
# queue has it.
lpadmin -h "$GUEST" -p my_office -E -v "ipp://$PS/printers/generic_pdf"
lpadmin -h "$HOST" -p net_office -E -v "ipp://$PS/printers/generic_pdf"
dup() { [ "$(guest_state g1 net_office)" = duplicate-skipped ]; }
check "the agent reports duplicate-skipped" wait_for 15 dup
check "the guest has exactly one queue for that printer" \
	test "$(lpstat -h "$GUEST" -v | grep -c -e 'printers/generic_pdf$' -e 'printredir:net_office$')" -eq 1
check "the hand-made one" bash -c "
	lpstat -h '$GUEST' -p my_office >/dev/null && ! lpstat -h '$GUEST' -p net_office >/dev/null 2>&1"
names_hand_queue() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.name == "net_office") | .detail' | grep -q my_office
}
check "the report names the hand-made queue" names_hand_queue
check "the agent's own status says so too" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-g1.conf' | grep '^net_office ' | grep -q 'duplicate-skipped.*my_office'"
check "a host change that does not touch it leaves it alone" bash -c "
	lpadmin -h '$HOST' -p other_new -E -v 'ipp://$PS/printers/generic_pdf' &&
	for i in \$(seq 50); do lpstat -h '$GUEST' -p other_new >/dev/null 2>&1 && break; sleep 0.1; done &&
	[ \"\$(lpstat -h '$GUEST' -v | grep -c -e 'printers/generic_pdf\$' -e 'printredir:net_office\$')\" -eq 1 ]"

finish
