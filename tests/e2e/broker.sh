#!/bin/bash
# The broker on real CUPS, seen through a minimal agent (build/tests/probe):
# which printers it offers, the drivers it fetches, live changes, restarts,
# and `host-broker status --json`.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

world_start
broker_conf "print_server = $PS"
broker_start || exit 1

# --- first contact -----------------------------------------------------------
probe() { "$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key" -o "$W/ppd" "$@"; }
mkdir -p "$W/ppd"
probe -i guest-a -n 1 -r >"$W/set1" 2>"$W/probe.err"
names=$(awk -F'\t' '$1 == "printer" {print $2}' "$W/set1" | sort | tr '\n' ' ')
want=$(printf '%s\n' $HOST_NETWORK_QUEUES "$HOST_DIRECT_QUEUE" | sort | tr '\n' ' ')
check "only the host's network printers are offered" test "$names" = "$want"
check "the local printer is not offered" \
	bash -c "! grep -q \"^printer	$HOST_LOCAL_QUEUE	\" '$W/set1'"

identical_ppds() {
	local q sha ok=0
	for q in $PRINTSERVER_QUEUES; do
		sha=$(awk -F'\t' -v n="net_$q" '$1 == "printer" && $2 == n {print $5}' "$W/set1")
		[ -n "$sha" ] && [ "$sha" != - ] || { echo "  net_$q has no driver"; ok=1; continue; }
		cmp -s "$W/ppd/$sha.ppd" "$PRINTSERVER_DIR/ppd/$q.ppd" ||
			{ echo "  net_$q: PPD differs from the print server's"; ok=1; }
	done
	return $ok
}
check "every driver is byte-identical to the print server's PPD" identical_ppds

raw_line=$(grep "^printer	net_$PRINTSERVER_RAW_QUEUE	" "$W/set1")
check "the raw queue is offered with driver missing and a reason" \
	bash -c "[[ '$raw_line' == *'	2	-	'*'has no driver'*'install it by hand'* ]]"
direct_line=$(grep "^printer	$HOST_DIRECT_QUEUE	" "$W/set1")
check "the direct printer's driver comes from the driver database" \
	bash -c "[[ '$direct_line' == *'	1	'*'driver database'* ]]"
check "guest URIs point at the host's queues" \
	grep -q "^printer	net_generic_pdf	ipp://$HOST/printers/net_generic_pdf	" "$W/set1"

# A reconnect that announces the drivers it holds gets no driver bytes again.
probe -i guest-a -n 1 -H >"$W/set1b"
check "drivers a guest holds are not sent again" \
	bash -c "awk -F'\t' '\$1 == \"set\" {exit \$4 != 0}' '$W/set1b'"

# --- a peer without the key -------------------------------------------------------------
head -c 32 /dev/urandom | base64 >"$W/wrong-key"
chmod 600 "$W/wrong-key"
"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/wrong-key" -i intruder -o "$W" -t 5 \
	>"$W/intruder.out" 2>&1
check "a guest with the wrong key is refused with a clear message" \
	grep -q "closed	peer refused us: authentication failed: agent \"intruder\" does not hold the broker's key" "$W/intruder.out"
check "the broker logs the refusal" grep -q 'authentication failed: agent "intruder"' "$W/broker.log"
serves() { probe -i guest-b -n 1 >/dev/null; }
check "and keeps serving the others" serves

# --- live changes --------------------------------------------------------------
now_ms() { date +%s%3N; }
# Runs a host change while a probe waits for the next generation; prints the
# latency in ms and leaves the new set in $W/live.
live() {
	probe -i guest-live -n 2 -t 15 >"$W/live" &
	local p=$! t0 t1
	wait_for 5 grep -q '^set' "$W/live"
	"$@" >/dev/null
	t0=$(now_ms)
	wait "$p"
	t1=$(awk -F'\t' '$1 == "set" {t = $5} END {print t}' "$W/live")
	echo $((t1 - t0))
}
lat=$(live lpadmin -h "$HOST" -p live_new -E -v "ipp://$PS/printers/generic_pdf")
check "an added host queue reaches the guest within 1 s (${lat} ms)" \
	bash -c "[ '$lat' -lt 1000 ] && grep -q '^printer	live_new	' '$W/live'"
old=$(awk -F'\t' '$1 == "printer" && $2 == "live_new" {print $5}' "$W/live")
lat=$(live lpadmin -h "$HOST" -p live_new -v "ipp://$PS/printers/hp_cm3530_pdf")
new=$(awk -F'\t' '$1 == "printer" && $2 == "live_new" {print $5}' "$W/live" | tail -1)
check "a modified host queue (new driver) reaches the guest within 1 s (${lat} ms)" \
	bash -c "[ '$lat' -lt 1000 ] && [ -n '$new' ] && [ '$new' != '$old' ]"
lat=$(live lpadmin -h "$HOST" -x live_new)
# The last set only: the first one still had the queue.
last_set() { awk '$1 == "set" {n = NR} {l[NR] = $0} END {for (i = n; i <= NR; i++) print l[i]}' "$W/live"; }
last_set >"$W/live.last"
check "a deleted host queue leaves the guest's set within 1 s (${lat} ms)" \
	bash -c "[ '$lat' -lt 1000 ] && ! grep -q '^printer	live_new	' '$W/live.last'"

# A burst of changes makes one generation, not one per change.
probe -i guest-burst -n 1 >/dev/null
gen0=$(status_json | jq .broker.generation)
for i in 1 2 3 4 5; do lpadmin -h "$HOST" -p "burst_$i" -E -v "ipp://$PS/printers/generic_pdf"; done
sleep 1.5
gen1=$(status_json | jq .broker.generation)
check "a burst of 5 changes is coalesced (generation $gen0 -> $gen1)" \
	bash -c "[ $((gen1 - gen0)) -ge 1 ] && [ $((gen1 - gen0)) -le 2 ]"

# --- the host's cupsd goes away and comes back ---------------------------------------
kill -TERM "$HOST_PID"
wait_for 10 bash -c "! kill -0 $HOST_PID 2>/dev/null"
host_error() { status_json | jq -e '.broker.error != null' >/dev/null; }
check "host CUPS going away shows in status" wait_for 10 host_error
check "and the guests keep their printers meanwhile" \
	bash -c "[ \$('$BUILD/host-broker' status -c '$W/broker.conf' --json | jq '[.printers[] | select(.redirected)] | length') -gt 5 ]"
cupsd -f -c "$HOST_DIR/cupsd.conf" -s "$HOST_DIR/cups-files.conf" >>"$W/host-cupsd.log" 2>&1 &
PIDS+=($!)
host_up() { lpstat -h "$HOST" -r >/dev/null 2>&1 && lpstat -h "$HOST" -p >/dev/null 2>&1; }
wait_for 20 host_up
lpadmin -h "$HOST" -p after_comeback -E -v "ipp://$PS/printers/generic_pdf"
seen_after() { probe -i guest-c -n 1 -t 5 | grep -q '^printer	after_comeback	'; }
check "after it comes back the broker follows its changes again" wait_for 15 seen_after
check "and the error is gone from status" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -e '.broker.error == null' >/dev/null"

# --- status ------------------------------------------------------------------------
status_json >"$W/status.json"
check "status --json is valid JSON with the documented fields" jq -e '
	(.broker | has("version") and has("generation")) and
	(.printers | length > 0) and
	(.printers[0] | has("name") and has("device_uri") and has("network") and
	  has("redirected") and has("driver") and has("driver_sha256") and
	  has("make_model") and has("detail")) and
	(.guests | map(select(.id == "guest-a")) | length == 1) and
	(.guests[0] | has("id") and has("connected") and has("last_seen") and
	  has("generation") and has("restart") and has("deferrals") and has("printers"))
	' "$W/status.json" >/dev/null
check "the guest's install report shows in status" jq -e '
	.guests[] | select(.id == "guest-a") | .printers |
	map(select(.name == "net_generic_pdf" and .state == "installed")) | length == 1
	' "$W/status.json" >/dev/null
check "status shows the local printer as not redirected" jq -e --arg l "$HOST_LOCAL_QUEUE" '
	.printers[] | select(.name == $l) | .network == false and .redirected == false
	' "$W/status.json" >/dev/null
"$BUILD/host-broker" status -c "$W/broker.conf" >"$W/status.txt"
check "status prints a table" grep -q "^net_generic_pdf  *yes  *yes  *available" "$W/status.txt"

# --- SIGHUP: redirect local printers too -----------------------------------------------------
sed -i 's/^name = e2e-host$/name = e2e-host\nredirect_local = yes/' "$W/broker.conf"
kill -HUP "$BROKER_PID"
local_offered() { probe -i guest-l -n 1 -t 5 | grep -q "^printer	$HOST_LOCAL_QUEUE	"; }
check "redirect_local = yes (SIGHUP) offers the local printer too" wait_for 10 local_offered

# --- restart, and the direct printer without a driver database ----------------------
broker_stop
check "the broker removes its sockets on SIGTERM" \
	bash -c "[ ! -e '$W/control.sock' ] && [ ! -e '$W/broker.sock' ]"
"$BUILD/host-broker" status -c "$W/broker.conf" >/dev/null 2>&1
check "status exits 3 when no broker answers" test $? -eq 3
lpadmin -h "$HOST" -p while_down -E -v "ipp://$PS/printers/brother_hl5250dn"
broker_conf ""
broker_start
probe -i guest-a -n 1 -H >"$W/set2"
check "a printer added while the broker was down is offered after it starts" \
	grep -q "^printer	while_down	" "$W/set2"
check "drivers unchanged across the restart are not refetched" \
	test "$(grep -c 'fetched driver for net_generic_pdf ' "$W/broker.log")" -eq 1
direct_line=$(grep "^printer	$HOST_DIRECT_QUEUE	" "$W/set2")
check "without a print_server the direct printer is driver-missing with a reason" \
	bash -c "[[ '$direct_line' == *'	2	-	'*'no print_server configured'* ]]"
check "the guest's last report survives the broker restart" jq -e '
	.guests[] | select(.id == "guest-a") | .printers | length > 0' \
	<(status_json) >/dev/null

finish
