#!/bin/bash
# Scenario 18, fidelity: the host's default printer is the guest's default
# and follows it (twice while the agent runs), but a person's choice in the
# guest is kept, and `redirection = no` gives back the guest's own; a host
# queue's duplex default reaches its guest queue, and a guest job without
# options prints duplex at the print server; a default a person changed in
# the guest is kept; a choice in the host queue's own PPD follows; the host
# queue's description follows; a host queue disabled, then enabled, shows
# stopped, then idle, in the guest within a second; one that rejects jobs
# rejects them in the guest too; a queue whose destination does not answer
# (socket://, ipp://) shows offline, and recovers by itself.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start
# A queue of the guest's own, its default before the agent came.
lpadmin -h "$GUEST" -p mine -v file:///dev/null -m raw -E 2>/dev/null
lpadmin -h "$GUEST" -d mine
lpadmin -h "$HOST" -d net_generic_pdf
broker_conf "print_server = $PS
probe_interval = 1s"
broker_start || exit 1
agent_conf g1
agent_start g1
check "the agent reports to the broker" wait_for 30 guest_synced g1

guest_default() { lpstat -h "$GUEST" -d 2>/dev/null | sed -n 's/^system default destination: //p'; }
default_is() { [ "$(guest_default)" = "$1" ]; }
reported_default() {	# reported_default NAME: the broker's status says so
	status_json | jq -e --arg d "$1" '.guests[] | select(.id == "g1") |
		.default_printer == $d' >/dev/null
}
check "the host's default printer is the guest's default" wait_for 15 default_is net_generic_pdf
check "and the broker's status says so" wait_for 10 reported_default net_generic_pdf
lpadmin -h "$HOST" -d net_hp_cm3530_pdf
check "the host's default changes: the guest's follows" wait_for 15 default_is net_hp_cm3530_pdf
lpadmin -h "$HOST" -d direct_fx_cm305
check "and again" wait_for 15 default_is direct_fx_cm305

# The first value of a "-default" attribute of guest queue Q: the queue's
# own (cupsd lists its driver's after).
cat >"$W/defaults.test" <<'EOF'
{
  NAME "defaults"
  OPERATION Get-Printer-Attributes
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR keyword requested-attributes printer-defaults,printer-info
  STATUS successful-ok
}
EOF
queue_attr() {	# queue_attr Q ATTR
	ipptool -tv "ipp://$GUEST/printers/$1" "$W/defaults.test" 2>/dev/null |
		sed -n "s/^ *$2 ([^)]*) = //p" | head -1
}
attr_is() { [ "$(queue_attr "$1" "$2")" = "$3" ]; }
q=net_generic_pdf
lpadmin -h "$HOST" -p $q -o sides-default=two-sided-long-edge
check "a host queue's duplex default reaches its guest queue" \
	wait_for 15 attr_is $q sides-default two-sided-long-edge

ppd_duplex() { lpoptions -h "$GUEST" -p $q -l | grep '^Duplex' | grep -q '\*DuplexNoTumble'; }
check "and its PPD's default, which lp and print dialogs read" wait_for 10 ppd_duplex
echo "printredir fidelity: duplex by default" >"$W/doc.txt"
lp -h "$GUEST" -d $q "$W/doc.txt" >/dev/null
guest_job_duplex() { "$BUILD/tests/jobattrs" "$GUEST" $q | grep -qx 'sides=two-sided-long-edge'; }
check "a guest job without options gets the duplex default" wait_for 10 guest_job_duplex
server_duplex() { "$BUILD/tests/jobattrs" "$PS" generic_pdf | grep -qx 'sides=two-sided-long-edge'; }
check "and prints duplex at the print server" wait_for 30 server_duplex

lpadmin -h "$GUEST" -p $q -o sides-default=one-sided
kept_reported() {
	"$BUILD/guest-agent" status -c "$W/agent-g1.conf" | grep "^$q " |
		grep -q "keeps the guest's own sides"
}
lpadmin -h "$HOST" -p $q -o media-default=iso_a5_148x210mm
check "a host default that changes follows" wait_for 15 attr_is $q media-default iso_a5_148x210mm
check "but the default a person changed in the guest is kept" attr_is $q sides-default one-sided
check "and the agent says so" wait_for 10 kept_reported
lpadmin -h "$HOST" -p $q -D "Second floor, by the stairs"
check "the host queue's description follows" \
	wait_for 15 attr_is $q printer-info "Second floor, by the stairs"

# A choice in the host queue's own PPD (the direct printer has one).
lpadmin -h "$HOST" -p "$HOST_DIRECT_QUEUE" -o InputSlot=2ndTray
tray2() { lpoptions -h "$GUEST" -p "$HOST_DIRECT_QUEUE" -l | grep '^InputSlot' | grep -q '\*2ndTray'; }
check "a choice made in the host queue's PPD is the guest queue's default" wait_for 15 tray2
status_tray2() {
	status_json | jq -e --arg p "$HOST_DIRECT_QUEUE" '.printers[] | select(.name == $p) |
		.ppd_defaults.InputSlot == "2ndTray"' >/dev/null
}
check "and status shows it among the host queue's PPD defaults" status_tray2

# Condition.
q=net_hp_cm3530_pdf
guest_stopped() { lpstat -h "$GUEST" -p $q 2>/dev/null | grep -q "^printer $q disabled"; }
guest_idle() { lpstat -h "$GUEST" -p $q 2>/dev/null | grep -q "^printer $q is idle"; }
host_disable() { cupsdisable -h "$HOST" -r "toner change" $q; }
host_enable() { cupsenable -h "$HOST" $q; }
ms=$(follow_ms host_disable guest_stopped)
echo "  host queue disabled -> guest queue stopped: $ms ms"
check "a host queue disabled shows stopped in the guest within a second" within_1s "$ms"
msg_shown() { lpstat -h "$GUEST" -l -p $q | grep -q "toner change"; }
check "with the host's message" msg_shown
status_stopped() {
	status_json | jq -e --arg p $q '(.printers[] | select(.name == $p) |
		.condition.state == "stopped") and (.guests[] | select(.id == "g1") |
		.printers[] | select(.name == $p) | .condition.state == "stopped")' >/dev/null
}
check "status shows it stopped, for the host and for the guest" wait_for 10 status_stopped
ms=$(follow_ms host_enable guest_idle)
echo "  host queue enabled -> guest queue idle: $ms ms"
check "enabled again, it is idle in the guest within a second" within_1s "$ms"

cupsreject -h "$HOST" $q
rejecting() { lpstat -h "$GUEST" -a $q 2>/dev/null | grep -q "not accepting"; }
check "a host queue that rejects jobs rejects them in the guest" wait_for 10 rejecting
cupsaccept -h "$HOST" $q
accepting() { lpstat -h "$GUEST" -a $q 2>/dev/null | grep -q "accepting requests"; }
check "and accepts them again" wait_for 10 accepting

# A destination that does not answer: the direct printer's listener goes,
# then an ipp:// queue's print server (a relay to it, on a port of its own).
offline() { lpstat -h "$GUEST" -l -p "$1" | grep -q "Alerts:.*offline-report"; }
online() { lpstat -h "$GUEST" -p "$1" >/dev/null 2>&1 && ! offline "$1"; }
q=$HOST_DIRECT_QUEUE
check "the direct printer is installed in the guest and online" wait_for 10 online $q
pid=$(pgrep -f "jetdirect $HOST_DIRECT_PORT ")
kill "$pid"
check "its destination down: the guest queue shows offline" wait_for 10 offline $q
status_offline() {
	status_json | jq -e --arg p "$1" '.printers[] | select(.name == $p) |
		(.condition.reasons | index("offline-report")) != null' >/dev/null
}
check "and status says so" status_offline $q
"$JETDIRECT" "$HOST_DIRECT_PORT" "$DIRECT_OUTPUT_DIR" "$W/direct.pid" direct &
PIDS+=($!)
check "its destination back: online again by itself" wait_for 10 online $q

relay() {	# relay [PORT]: a port in front of the print server's
	"$BUILD/tests/tcp-unix" ":$PRINTSERVER_PORT" ${1:-} >"$W/relay.port" &
	RELAY=$!
	PIDS+=("$RELAY")
	wait_for 5 grep -q '^port ' "$W/relay.port"
}
relay
rport=$(sed -n 's/^port //p' "$W/relay.port")
lpadmin -h "$HOST" -p via_relay -v "ipp://127.0.0.1:$rport/printers/generic_pdf" -m raw -E 2>/dev/null
check "an ipp:// host queue is installed in the guest" wait_for 30 online via_relay
kill "$RELAY"
check "its print server down: the guest queue shows offline" wait_for 10 offline via_relay
relay "$rport"
check "back: online again by itself" wait_for 10 online via_relay

# A person's default is kept; redirection = no gives back the guest's own.
lpadmin -h "$GUEST" -d net_brother_hl5250dn
lpadmin -h "$HOST" -d net_generic_pdf
kept_default() {
	status_json | jq -e '.guests[] | select(.id == "g1") |
		(.default_printer == "net_brother_hl5250dn") and
		(.default_detail | test("chosen in the guest"))' >/dev/null
}
check "a default chosen in the guest is kept when the host's changes" wait_for 15 kept_default
check "the guest's default is still the person's" default_is net_brother_hl5250dn
lpadmin -h "$GUEST" -d direct_fx_cm305	# back to the one the agent set
sed -i 's/^guest_id = g1$/guest_id = g1\nredirection = no/' "$W/agent-g1.conf"
kill -HUP "$(agent_pid g1)"
check "redirection = no gives back the guest's own default" wait_for 15 default_is mine
finish
