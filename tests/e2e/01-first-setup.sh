#!/bin/bash
# Scenario 1, first-time setup: only the host's network printers arrive in
# the guest, each with the print server's PPD, and the broker has one status
# report for each.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

network=$(printf '%s\n' $HOST_NETWORK_QUEUES "$HOST_DIRECT_QUEUE" | sort)
redirected=$(status_json | jq -r '.printers[] | select(.redirected) | .name' | sort)
check "the broker redirects exactly the host's network printers" test "$redirected" = "$network"
expected=$(grep -vx "net_$PRINTSERVER_RAW_QUEUE" <<<"$network")
check "the guest has exactly the network printers that have a driver" \
	test "$(guest_queues)" = "$expected"
check "the local host printer is absent from the guest" \
	bash -c "! lpstat -h '$GUEST' -p '$HOST_LOCAL_QUEUE' >/dev/null 2>&1"

# The guest's PPD is the print server's for its options, and runs nothing of
# the driver: the job leaves the guest as PDF for the host to render.
same_options() {
	local q ok=0
	for q in $PRINTSERVER_QUEUES; do
		same_driver "$GUEST_DIR/ppd/net_$q.ppd" "$PRINTSERVER_DIR/ppd/$q.ppd" ||
			{ echo "  net_$q: the guest's options differ from the print server's"; ok=1; }
		[ "$(grep -cE '^\*(cupsFilter2?|cupsPreFilter|cupsPortMonitor|FoomaticRIP[A-Za-z]*):' "$GUEST_DIR/ppd/net_$q.ppd")" = 1 ] ||
			{ echo "  net_$q: the guest's PPD runs more than the PDF pass-through"; ok=1; }
	done
	return $ok
}
check "each guest PPD has the print server's options and no filter of its driver" same_options
nick() { sed -n 's/^\*NickName: *"\(.*\)"/\1/p' "$1"; }
check "the direct printer's driver is the model's, from the driver database" \
	test "$(nick "$GUEST_DIR/ppd/$HOST_DIRECT_QUEUE.ppd")" = "$(nick "$HOST_DIR/ppd/$HOST_DIRECT_QUEUE.ppd")"
prints_to_host() {
	local q ok=0
	for q in $expected; do
		lpstat -h "$GUEST" -v "$q" | grep -q "^device for $q: printredir:$q\$" ||
			{ echo "  $q does not print to its host queue"; ok=1; }
	done
	return $ok
}
check "every guest queue prints to its host queue, through the printredir backend" prints_to_host

status_json >"$W/status.json"
check "one status report for each redirected printer" test "$(jq -r '
	.guests[] | select(.id == "g1") | .printers[].name' "$W/status.json" | sort)" = "$network"
check "each installed queue is reported installed" test "$(jq -r '
	.guests[] | select(.id == "g1") | .printers[] | select(.state == "installed") | .name
	' "$W/status.json" | sort)" = "$expected"
check "the agent's own status lists the same" test "$("$BUILD/guest-agent" status \
	-c "$W/agent-g1.conf" | awk '$2 == "installed" {print $1}' | sort)" = "$expected"

check "status --json is valid JSON with the documented fields" jq -e '
	(.broker | has("version") and has("generation")) and
	(.printers | length > 0) and
	(.printers[0] | has("name") and has("device_uri") and has("network") and
	  has("redirected") and has("driver") and has("driver_sha256") and
	  has("make_model") and has("detail")) and
	(.guests | map(select(.id == "g1")) | length == 1) and
	(.guests[0] | has("id") and has("connected") and has("last_seen") and
	  has("generation") and has("restart") and has("deferrals") and has("printers"))
	' "$W/status.json" >/dev/null
"$BUILD/host-broker" status -c "$W/broker.conf" >"$W/status.txt"
check "status prints a table" grep -q "^net_generic_pdf  *yes  *yes  *available" "$W/status.txt"

# The pass stored each driver as it first needed it, and made them durable
# once it was over: each under its SHA-256, none left staged.  A restarted
# agent announces them, so the broker sends no driver byte again.
held() {
	local sha ok=0
	for sha in $(jq -r '.printers[] | select(.redirected and .driver == "available") |
		.driver_sha256' "$W/status.json"); do
		[ -f "$W/agent-g1/drivers/$sha.ppd" ] || { echo "  driver $sha is not stored"; ok=1; }
	done
	if compgen -G "$W/agent-g1/drivers/*.tmp" >/dev/null; then
		echo "  staged files are left"; ok=1
	fi
	return $ok
}
check "the agent holds every driver under its name, none left staged" held
sent() { status_json | jq '.guests[] | select(.id == "g1") | .driver_bytes_sent'; }
gone() { status_json | jq -e '.guests[] | select(.id == "g1") | .connected | not' >/dev/null; }
before=$(sent)
agent_stop g1
wait_for 10 gone
agent_start g1
check "the restarted agent is in sync again" wait_for 10 guest_synced g1
check "and was sent no driver byte ($before, then $(sent))" test "$(sent)" = "$before"

# A pass that cannot reach its guest's cupsd stores the set's drivers all
# the same, from the broker's bytes: not what a crash left under a
# temporary name.
sha=$(jq -r '[.printers[] | select(.driver == "available") | .driver_sha256][0]' "$W/status.json")
mkdir -m 0700 "$W/agent-nocups" "$W/agent-nocups/drivers"
echo "half a driver, left by a crash" >"$W/agent-nocups/drivers/$sha.ppd.tmp"
AGENT_CUPS=127.0.0.1:1 AGENT_JOBS=$W/jobs-nocups.sock agent_conf nocups
agent_start nocups
stored_nocups() { [ -f "$W/agent-nocups/drivers/$sha.ppd" ]; }
check "an agent whose cupsd does not answer stores the drivers all the same" \
	wait_for 20 stored_nocups
check "(its pass did fail)" grep -q 'guest print service unavailable' "$W/agent-nocups.log"
check "each one whole, not a crash's leftover" bash -c "
	[ \"\$(sha256sum <'$W/agent-nocups/drivers/$sha.ppd' | cut -c1-64)\" = '$sha' ] &&
	! compgen -G '$W/agent-nocups/drivers/*.tmp' >/dev/null"

finish
