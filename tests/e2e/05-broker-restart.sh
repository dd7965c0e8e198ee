#!/bin/bash
# Scenario 5, broker restart: the guest keeps its printers while the broker
# is down; printers added on the host meanwhile reach the guest after the
# broker starts again, and nothing already installed is touched.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

# What the guest's CUPS holds for each queue: its PPD file's inode and
# modification time, and the queue's config-change time.
fingerprint() {
	local q
	for q in $(guest_queues); do
		printf '%s %s %s\n' "$q" "$(stat -c '%i %.9Y' "$GUEST_DIR/ppd/$q.ppd")" \
			"$(lpstat -h "$GUEST" -l -p "$q" | md5sum | cut -c1-8)"
	done
}
fingerprint >"$W/before"
installs_before=$(grep -c 'installed ' "$W/agent-g1.log")
fetches_before=$(grep -c 'fetched driver for' "$W/broker.log")

broker_stop
check "the broker removes its sockets on SIGTERM" \
	bash -c "[ ! -e '$W/control.sock' ] && [ ! -e '$W/broker.sock' ]"
"$BUILD/host-broker" status -c "$W/broker.conf" >/dev/null 2>"$W/status-down.err"
check "status exits 3 when no broker answers" test $? -eq 3
check "saying so" grep -q 'no broker answers' "$W/status-down.err"
not_connected() { "$BUILD/guest-agent" status -c "$W/agent-g1.conf" | grep -q 'not connected'; }
check "the agent's status shows it is not connected" wait_for 10 not_connected
lpadmin -h "$HOST" -p while_down -E -v "ipp://$PS/printers/brother_hl5250dn"
lpadmin -h "$HOST" -p while_down_2 -E -v "ipp://$PS/printers/hp_designjet_t790"
sleep 1
check "the guest keeps its printers while the broker is down" \
	test "$(fingerprint)" = "$(cat "$W/before")"

broker_start
arrived() { guest_queues | grep -qx while_down && guest_queues | grep -qx while_down_2; }
check "printers added while the broker was down reach the guest" wait_for 30 arrived
with_drivers() {
	same_driver "$GUEST_DIR/ppd/while_down.ppd" "$PRINTSERVER_DIR/ppd/brother_hl5250dn.ppd" &&
	same_driver "$GUEST_DIR/ppd/while_down_2.ppd" "$PRINTSERVER_DIR/ppd/hp_designjet_t790.ppd"
}
check "with their drivers" with_drivers
wait_for 30 guest_synced g1
fingerprint | grep -v '^while_down' >"$W/after"
check "nothing already installed was touched" cmp -s "$W/before" "$W/after"
check "the agent installed only the two new ones" \
	test $(($(grep -c 'installed ' "$W/agent-g1.log") - installs_before)) -eq 2
# The new printers use drivers the broker already has: nothing is fetched,
# only revalidated (If-Modified-Since).
check "no driver was fetched again across the restart" \
	test "$(grep -c 'fetched driver for' "$W/broker.log")" -eq "$fetches_before"
check "unchanged drivers were revalidated instead" grep -q 'driver for net_generic_pdf unchanged' "$W/broker.log"
check "the guest's reports survive the restart" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -e '
	.guests[] | select(.id == \"g1\") | .printers | map(select(.state == \"installed\")) | length > 5' >/dev/null"

# On the wire: a guest that reconnects announcing the drivers it holds is
# not sent their bytes again.
guest_key g-probe
probe() { "$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g-probe" -o "$W" "$@"; }
probe -i g-probe -n 1 >"$W/first"
probe -i g-probe -n 1 -H >"$W/again"
check "a reconnecting guest that holds the drivers gets no driver bytes" \
	bash -c "awk -F'\t' '\$1 == \"set\" {exit !(\$4 > 0)}' '$W/first' &&
		awk -F'\t' '\$1 == \"set\" {exit \$4 != 0}' '$W/again'"

# A damaged driver cache index (issue 10): a null key or ppd_name next to a
# cached PPD made the broker segfault at start.  It must start, say what it
# ignored, fetch the drivers again, and the guest must keep and get its
# printers.
broker_stop
blob=$(basename "$(find "$W/broker-state/drivers" -name '*.ppd' | head -n 1)" .ppd)
cat >"$W/broker-state/drivers/index.json" <<JSON
{"sources": [
  {"key": null, "sha256": "$blob", "last_modified": 0, "checked": 0},
  {"key": "http://$PS/printers/generic_pdf.ppd", "sha256": "$blob",
   "last_modified": 0, "checked": 0, "ppd_name": null},
  {"key": "x", "sha256": 5}, null, 7
]}
JSON
queues_before=$(guest_queues)
fetches_before=$(grep -c 'fetched driver for' "$W/broker.log")
lpadmin -h "$HOST" -p after_damage -E -v "ipp://$PS/printers/generic_pdf"
broker_start
check "the broker starts on a damaged drivers/index.json" kill -0 "$BROKER_PID"
check "and says which file it ignored and why" grep -qF \
	'drivers/index.json: ignored 5 of 5 entries (first: entry 0: "key" is missing, null or not a string); their drivers will be fetched again' \
	"$W/broker.log"
after_damage_arrived() { guest_queues | grep -qx after_damage && guest_synced g1; }
check "a printer added meanwhile reaches the guest" wait_for 30 after_damage_arrived
check "with its driver" same_driver "$GUEST_DIR/ppd/after_damage.ppd" "$PRINTSERVER_DIR/ppd/generic_pdf.ppd"
check "the drivers were fetched again" \
	test "$(grep -c 'fetched driver for' "$W/broker.log")" -gt "$fetches_before"
kept_all() { [ -z "$(comm -23 <(echo "$queues_before") <(guest_queues))" ]; }
check "the guest kept every printer it had" kept_all
check "and the broker is still running" kill -0 "$BROKER_PID"

finish
