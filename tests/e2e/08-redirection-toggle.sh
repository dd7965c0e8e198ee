#!/bin/bash
# Scenario 8, `redirection = no` in the agent's configuration (SIGHUP)
# removes every queue the agent made and only those; `redirection = yes`
# brings them back.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all
lpadmin -h "$GUEST" -p hand_made -E -v "socket://127.0.0.1:9"
all=$(guest_queues)

sed -i 's/^guest_id = g1$/guest_id = g1\nredirection = no/' "$W/agent-g1.conf"
kill -HUP "$(agent_pid g1)"
only_hand() { [ "$(guest_queues)" = hand_made ]; }
check "redirection = no removes the agent's queues and only those" wait_for 15 only_hand
check "their PPDs are gone from the guest" bash -c "[ ! -e '$GUEST_DIR/ppd/net_generic_pdf.ppd' ]"
off_reported() { "$BUILD/guest-agent" status -c "$W/agent-g1.conf" | grep -q '^guest g1, redirection off$'; }
check "the agent's status says redirection is off" off_reported
lpadmin -h "$HOST" -p while_off -E -v "ipp://$PS/printers/generic_pdf"
sleep 1
check "host changes install nothing while it is off" only_hand

sed -i 's/^redirection = no/redirection = yes/' "$W/agent-g1.conf"
kill -HUP "$(agent_pid g1)"
back() { [ "$(guest_queues)" = "$(printf '%s\n' $all while_off | sort)" ]; }
check "redirection = yes installs them again, with the change made meanwhile" wait_for 20 back
check "with the print server's drivers" same_driver "$GUEST_DIR/ppd/net_generic_pdf.ppd" "$PRINTSERVER_DIR/ppd/generic_pdf.ppd"

finish
