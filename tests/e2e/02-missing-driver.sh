#!/bin/bash
# Scenario 2, drivers the guest cannot get or must not run: a host printer
# whose print server has no driver is reported driver-missing with the
# manual-install advice, in the broker's status and the agent's.  A driver
# with a command template, or naming a filter the guest lacks, is installed
# for its options only and prints through the host, and nothing of it runs
# in the guest; one that does not parse is driver-rejected with the reason.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start
broker_conf "print_server = $PS"
broker_start || exit 1
agent_conf g1
agent_start g1
check "the agent reports to the broker" wait_for 30 guest_synced g1

raw=net_$PRINTSERVER_RAW_QUEUE
check "the broker shows the raw queue's driver missing, with the advice" \
	bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r '.printers[] |
		select(.name == \"$raw\") | \"\(.driver) \(.detail)\"' |
		grep -q '^missing .*has no driver.*install it by hand in the guest'"
check "and so does its status table" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' |
	grep -q '^$raw  *yes  *yes  *missing .*driver missing'"
check "the guest reports it driver-missing" test "$(guest_state g1 "$raw")" = driver-missing
check "the agent's own status shows driver-missing with the advice" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-g1.conf' | grep '^$raw ' |
	grep -q 'driver-missing.*install it by hand'"
check "no queue is made for it" bash -c "! lpstat -h '$GUEST' -p '$raw' >/dev/null 2>&1"

# --- unsafe drivers ------------------------------------------------------------------
foomatic=net_${PRINTSERVER_FOOMATIC_QUEUES%% *}
check "a foomatic driver (command templates) is installed for its options" \
	test "$(guest_state g1 "$foomatic")" = installed
base=$PRINTSERVER_DIR/ppd/generic_pdf.ppd
sed 's/^\*NickName:.*/*NickName: "Evil Command"/' "$base" >"$W/evil-cmd.ppd"
printf '*FoomaticRIPCommandLine: "touch %s/pwned; gs -q -sDEVICE=pdfwrite"\n' "$W" >>"$W/evil-cmd.ppd"
sed 's/^\*NickName:.*/*NickName: "Evil Filter"/' "$base" >"$W/evil-filter.ppd"
printf '*cupsFilter2: "application/pdf application/vnd.cups-pdf 0 printredir-no-such-filter"\n' >>"$W/evil-filter.ppd"
printf '*PPD-Adobe: "4.3"\n*OpenUI *PageSize: PickOne\n*PageSize A4/A4: "\001\002\n' >"$W/evil-garbage.ppd"
for e in cmd filter garbage; do
	lpadmin -h "$PS" -p "evil_$e" -P "$W/evil-$e.ppd" -v "socket://127.0.0.1:9" -E 2>>"$W/lpadmin.err"
	lpadmin -h "$HOST" -p "net_evil_$e" -E -v "ipp://$PS/printers/evil_$e"
done
state_is() { [ "$(guest_state g1 "net_evil_$1")" = "$2" ]; }
check "a driver whose command template would run a shell is installed, tamed" wait_for 15 state_is cmd installed
check "a driver naming a filter the guest lacks is installed, tamed" wait_for 15 state_is filter installed
check "a driver that does not parse is rejected" wait_for 15 state_is garbage driver-rejected
garbage_reason() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.name == "net_evil_garbage") | .detail' | grep -q 'parse\|control character\|NickName'
}
check "the reason says what was wrong" garbage_reason
check "nothing was installed for the rejected driver" \
	bash -c "! lpstat -h '$GUEST' -p net_evil_garbage >/dev/null 2>&1"
# Print on the tamed queues (their host queues now lead to a real printer):
# the jobs reach the host, and nothing of the drivers ran in the guest.
for e in cmd filter; do
	lpadmin -h "$HOST" -p "net_evil_$e" -v "ipp://$PS/printers/generic_pdf"
	echo "tamed driver $e" | lp -h "$GUEST" -d "net_evil_$e" -t "evil $e" >>"$W/lp.out"
	echo "foomatic driver" | lp -h "$GUEST" -d "$foomatic" -t "foomatic" >>"$W/lp.out"
done
guest_done() { [ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ]; }
check "the jobs on the tamed queues leave the guest" wait_for 60 guest_done
host_has() { [ "$(lpstat -h "$HOST" -W all -o | grep -c "^$1-")" -ge "$2" ]; }
reached_host() { host_has net_evil_cmd 1 && host_has net_evil_filter 1 && host_has "$foomatic" 2; }
check "and reach their host queues" wait_for 30 reached_host
chain() { grep -E 'Started (filter|backend)' "$GUEST_DIR/log/error_log"; }
chain >"$W/guest-chain.txt"
check "the guest ran only CUPS's own PDF filters and the printredir backend" bash -c "
	grep -q 'Started backend .*/printredir' '$W/guest-chain.txt' &&
	! grep -v -E 'filter/(pdftopdf|texttopdf|gstopdf|gziptoany)|backend/printredir' '$W/guest-chain.txt' | grep -q ."
check "none of the drivers' programs ran in the guest" bash -c "
	! grep -q -e foomatic-rip -e printredir-no-such-filter -e rastertop '$W/guest-chain.txt'"
check "no command from a driver's template ran" test ! -e "$W/pwned"

# --- a direct printer: its driver is searched by make and model ----------------------
check "the direct printer's driver comes from the print server's driver database" \
	bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r '.printers[] |
		select(.name == \"$HOST_DIRECT_QUEUE\") | \"\(.driver) \(.detail)\"' |
		grep -q '^available .*driver database'"
broker_stop
broker_conf ""	# no print_server to search
broker_start
no_db() {
	status_json | jq -r --arg p "$HOST_DIRECT_QUEUE" '.printers[] | select(.name == $p) |
		"\(.driver) \(.detail)"' | grep -q '^missing .*no print_server configured.*install it by hand'
}
check "without a print_server it is driver-missing, saying why" wait_for 10 no_db
check "and the guest reports it so" wait_for 15 \
	bash -c "[ \"\$('$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r '.guests[] |
		select(.id == \"g1\") | .printers[] | select(.name == \"$HOST_DIRECT_QUEUE\") | .state')\" = driver-missing ]"

finish
