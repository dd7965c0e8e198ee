#!/bin/bash
# Scenario 2, drivers the guest cannot get: a host printer whose print server
# has no driver is reported driver-missing with the manual-install advice, in
# the broker's status and the agent's; one whose driver is unsafe is
# driver-rejected with the reason, and nothing of it is installed or run.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start
broker_conf "print_server = $PS"
broker_start || exit 1
agent_conf g1	# no allow_commands: command templates are refused
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
check "a driver with a command template not on the allow list is driver-rejected" \
	test "$(guest_state g1 "$foomatic")" = driver-rejected
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
rejected() { [ "$(guest_state g1 "net_evil_$1")" = driver-rejected ]; }
check "a driver whose command template would run a shell is rejected" wait_for 15 rejected cmd
check "a driver naming a filter that is not installed is rejected" wait_for 15 rejected filter
check "a driver that does not parse is rejected" wait_for 15 rejected garbage
reasons() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.name | startswith("net_evil_")) | "\(.name): \(.detail)"' >"$W/reasons"
	grep -q 'net_evil_cmd: .*FoomaticRIPCommandLine' "$W/reasons" &&
	grep -q 'net_evil_filter: .*printredir-no-such-filter' "$W/reasons" &&
	grep -q 'net_evil_garbage: .*\(parse\|control character\)' "$W/reasons"
}
check "the reasons name what was wrong" reasons
check "nothing was installed for a rejected driver" \
	bash -c "! lpstat -h '$GUEST' -p 2>/dev/null | grep -q -e net_evil_ -e '$foomatic'"
check "no command from a rejected driver ran" test ! -e "$W/pwned"

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
