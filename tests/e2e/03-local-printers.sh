#!/bin/bash
# Scenario 3, local printers: not redirected by default; redirected once the
# broker is told `redirect_local = yes` (SIGHUP), and withdrawn again with
# `redirect_local = no`.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

local_q=$HOST_LOCAL_QUEUE
in_guest() { lpstat -h "$GUEST" -p "$local_q" >/dev/null 2>&1; }
check "by default the local printer is not in the guest" bash -c "! lpstat -h '$GUEST' -p '$local_q' >/dev/null 2>&1"
check "status shows it local and not redirected, saying why" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -e --arg l '$local_q' '
	.printers[] | select(.name == \$l) | .network == false and .redirected == false and
	(.detail | test(\"redirect_local = no\"))' >/dev/null"
check "and the guest has no report for it" test -z "$(guest_state g1 "$local_q")"

sed -i 's/^name = e2e-host$/name = e2e-host\nredirect_local = yes/' "$W/broker.conf"
kill -HUP "$BROKER_PID"
check "redirect_local = yes (SIGHUP): the local printer arrives in the guest" wait_for 15 in_guest
check "printing to its host queue" bash -c "
	lpstat -h '$GUEST' -v '$local_q' | grep -q ': printredir:$local_q\$'"
check "with its model's driver" grep -q '^\*NickName: *"Generic PDF Printer' "$GUEST_DIR/ppd/$local_q.ppd"
check "reported installed" test "$(guest_state g1 "$local_q")" = installed

sed -i 's/^redirect_local = yes$/redirect_local = no/' "$W/broker.conf"
kill -HUP "$BROKER_PID"
check "redirect_local = no again: it leaves the guest" wait_for 15 bash -c "! lpstat -h '$GUEST' -p '$local_q' >/dev/null 2>&1"
check "and only it" test "$(guest_queues)" = "$(with_driver)"

finish
