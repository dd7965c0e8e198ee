#!/bin/bash
# The agent with the real broker on real CUPS: what arrives in the guest,
# that jobs print through to the print server, what is refused and why,
# duplicates, removal, redirection off and on, and a crash mid-install.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start
broker_conf "print_server = $PS"
broker_start || exit 1
# The administrator read the foomatic drivers' command templates and
# trusts them: their hashes go on the allow list.
allow=$(for q in $PRINTSERVER_FOOMATIC_QUEUES; do
	"$BUILD/guest-agent" ppd-hashes "$PRINTSERVER_DIR/ppd/$q.ppd"; done | awk '{print $1}' | sort -u | tr '\n' ' ')
check "ppd-hashes lists the command templates of the foomatic drivers" test -n "$allow"
agent_conf g1 "allow_commands = $allow"
agent_start g1

check "the agent reports to the broker" wait_for 30 guest_synced g1
with_driver() {	# the host queues whose driver the broker has
	status_json | jq -r '.printers[] | select(.redirected and .driver == "available") | .name' | sort
}
check "the guest gets exactly the host's network printers that have a driver" \
	test "$(guest_queues)" = "$(with_driver)"
check "the local host printer is absent from the guest" \
	bash -c "! lpstat -h '$GUEST' -p '$HOST_LOCAL_QUEUE' >/dev/null 2>&1"

same_ppds() {
	local q ok=0
	for q in $PRINTSERVER_QUEUES; do
		cmp -s "$GUEST_DIR/ppd/net_$q.ppd" "$PRINTSERVER_DIR/ppd/$q.ppd" ||
			{ echo "  net_$q: guest PPD differs from the print server's"; ok=1; }
	done
	return $ok
}
check "guest PPDs are byte-identical to the print server's" same_ppds
check "every guest queue prints to its host queue" bash -c "
	lpstat -h '$GUEST' -v | grep -q 'net_generic_pdf: ipp://$HOST/printers/net_generic_pdf'"
check "a printer without a driver is reported driver-missing" \
	test "$(guest_state g1 "net_$PRINTSERVER_RAW_QUEUE")" = driver-missing
check "the agent's own status shows driver-missing with the advice" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-g1.conf' | grep '^net_$PRINTSERVER_RAW_QUEUE ' |
	grep -q 'driver-missing.*install it by hand'"

# --- printing through guest -> host -> print server -----------------------------------
before=$(ls "$OUTPUT_DIR" | grep -c generic_pdf)
echo "printredir end-to-end test page" >"$W/page.txt"
lp -h "$GUEST" -d net_generic_pdf "$W/page.txt" >/dev/null
arrived() { [ "$(ls "$OUTPUT_DIR" | grep -c generic_pdf)" -gt "$before" ]; }
check "a job printed in the guest arrives at the print server's device" wait_for 60 arrived
job=$(ls -t "$OUTPUT_DIR"/*generic_pdf* 2>/dev/null | head -1)
check "it arrives as the driver's printer-ready data (PJL-wrapped PDF)" \
	bash -c "head -c 4096 '$job' | grep -aq '@PJL' && grep -aq '%PDF-' '$job'"
sleep 2
check "exactly once" test "$(ls "$OUTPUT_DIR" | grep -c generic_pdf)" -eq $((before + 1))

# --- untrusted drivers ----------------------------------------------------------------
base=$PRINTSERVER_DIR/ppd/generic_pdf.ppd
sed 's/^\*NickName:.*/*NickName: "Evil Command"/' "$base" >"$W/evil-cmd.ppd"
printf '*FoomaticRIPCommandLine: "touch %s/pwned; gs -q -sDEVICE=pdfwrite"\n' "$W" >>"$W/evil-cmd.ppd"
sed 's/^\*NickName:.*/*NickName: "Evil Filter"/' "$base" >"$W/evil-filter.ppd"
printf '*cupsFilter2: "application/pdf application/vnd.cups-pdf 0 printredir-no-such-filter"\n' >>"$W/evil-filter.ppd"
printf '*PPD-Adobe: "4.3"\n*OpenUI *PageSize: PickOne\n*PageSize A4/A4: "\001\002\n' >"$W/garbage.ppd"
for e in cmd filter garbage; do
	f=$W/evil-$e.ppd
	[ $e = garbage ] && f=$W/garbage.ppd
	lpadmin -h "$PS" -p "evil_$e" -P "$f" -v "socket://127.0.0.1:9" -E 2>>"$W/lpadmin.err"
	lpadmin -h "$HOST" -p "net_evil_$e" -E -v "ipp://$PS/printers/evil_$e"
done
rejected() { [ "$(guest_state g1 "net_evil_$1")" = driver-rejected ]; }
check "a driver with a command template is rejected" wait_for 15 rejected cmd
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
	bash -c "! lpstat -h '$GUEST' -p 2>/dev/null | grep -q net_evil_"
check "no command from a rejected driver ran" test ! -e "$W/pwned"

# --- a printer installed by hand in the guest, then on the host ----------------------
lpadmin -h "$GUEST" -p my_office -E -v "ipp://$HOST/printers/net_office" -m everywhere 2>/dev/null ||
	lpadmin -h "$GUEST" -p my_office -E -v "ipp://$HOST/printers/net_office"
lpadmin -h "$HOST" -p net_office -E -v "ipp://$PS/printers/generic_pdf"
dup() { [ "$(guest_state g1 net_office)" = duplicate-skipped ]; }
check "a hand-made equivalent queue leads to duplicate-skipped" wait_for 15 dup
check "and the guest has one queue for that printer, the hand-made one" \
	bash -c "[ \"\$(lpstat -h '$GUEST' -v | grep -c 'printers/net_office')\" -eq 1 ] &&
	lpstat -h '$GUEST' -p my_office >/dev/null && ! lpstat -h '$GUEST' -p net_office >/dev/null 2>&1"
names_hand_queue() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.name == "net_office") | .detail' | grep -q my_office
}
check "the report names the hand-made queue" names_hand_queue

# --- removal --------------------------------------------------------------------------------
lpadmin -h "$HOST" -x net_hp_designjet_t790 2>/dev/null || lpadmin -h "$HOST" -x "$(with_driver | head -1)"
gone() { ! lpstat -h "$GUEST" -p net_hp_designjet_t790 >/dev/null 2>&1; }
check "removing a host printer removes the guest queue" wait_for 15 gone

# --- redirection off and on -------------------------------------------------------------------
sed -i 's/^guest_id = g1$/guest_id = g1\nredirection = no/' "$W/agent-g1.conf"
kill -HUP "$(agent_pid g1)"
only_hand() { [ "$(guest_queues)" = my_office ]; }
check "redirection = no removes only the agent's queues" wait_for 15 only_hand
sed -i 's/^redirection = no/redirection = yes/' "$W/agent-g1.conf"
kill -HUP "$(agent_pid g1)"
# Every printer with a driver the agent accepts: not the evil ones.
back() { [ "$(guest_queues | grep -vx my_office)" = "$(with_driver | grep -v -e '^net_office$' -e '^net_evil_')" ]; }
check "redirection = yes installs them again" wait_for 20 back

# --- the guest's cupsd goes away ----------------------------------------------------------------
kill -TERM "$GUEST_PID"
wait_for 10 bash -c "! kill -0 $GUEST_PID 2>/dev/null"
lpadmin -h "$HOST" -p while_guest_down -E -v "ipp://$PS/printers/generic_pdf"
unavailable() {
	status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
		select(.name == "while_guest_down") | "\(.state) \(.detail)"' |
		grep -q '^failed guest print service unavailable'
}
check "guest CUPS down: reported failed: guest print service unavailable" wait_for 15 unavailable
cupsd -f -c "$GUEST_DIR/cupsd.conf" -s "$GUEST_DIR/cups-files.conf" >>"$W/guest-cupsd.log" 2>&1 &
PIDS+=($!)
installed_later() { lpstat -h "$GUEST" -p while_guest_down >/dev/null 2>&1; }
check "and the work is done when it is back" wait_for 40 installed_later

# --- an agent without the key ----------------------------------------------------------------------
head -c 32 /dev/urandom | base64 >"$W/wrong-key"
chmod 600 "$W/wrong-key"
agent_conf intruder
sed -i "s|^key_file = .*|key_file = $W/wrong-key|" "$W/agent-intruder.conf"
before=$(guest_queues | wc -l)
agent_start intruder
check "an agent with the wrong key is refused with a clear message in its log" \
	wait_for 10 grep -q 'peer refused us: authentication failed' "$W/agent-intruder.log"
check "and in the broker's" grep -q 'authentication failed: agent "intruder" does not hold' "$W/broker.log"
check "its status says why it is not connected" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-intruder.conf' | grep -q 'not connected.*authentication failed'"
check "it installs nothing" test "$(guest_queues | wc -l)" -eq "$before"
agent_stop intruder

# --- killed in the middle of a 20-printer install ------------------------------------------------
agent_stop g1
for i in $(seq -w 1 20); do
	lpadmin -h "$HOST" -p "bulk_$i" -E -v "ipp://$PS/printers/generic_pdf"
done
sleep 1
agent_start g1
wait_for 20 bash -c "lpstat -h '$GUEST' -p 2>/dev/null | grep -q bulk_"
agent_stop g1 KILL
n_mid=$(guest_queues | grep -c bulk_)
agent_start g1
check "the agent killed mid-install (at $n_mid of 20) converges after a restart" wait_for 60 guest_synced g1
check "with exactly 20 bulk queues and no duplicate" \
	test "$(guest_queues | grep -c '^bulk_')" -eq 20
check "all 20 reports reach the broker" bash -c "
	[ \$('$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq '[.guests[] | select(.id == \"g1\") | .printers[] | select((.name | startswith(\"bulk_\")) and .state == \"installed\")] | length') -eq 20 ]"
check "no duplicate queue for any host printer" bash -c "
	[ -z \"\$(lpstat -h '$GUEST' -v | awk '{print \$NF}' | sort | uniq -d)\" ]"

finish
