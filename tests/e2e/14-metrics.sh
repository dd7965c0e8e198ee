#!/bin/bash
# Scenario 14, fleet metrics: `host-broker status --prometheus` and the
# textfile the broker writes for node_exporter ([metrics] textfile) pass
# `promtool check metrics` and say what `status --json` says: printers
# redirected, drivers missing, the guest connected (its id, which holds a
# quote and a backslash, escaped), its restart state, the bytes sent to
# it, a printed job counted.  The textfile is replaced atomically as
# things change, follows a host change and a guest leaving, and goes when
# the broker stops.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || {
	echo "FAIL: promtool is missing (make deps installs Debian's prometheus package)"
	exit 1
}

# A guest id may hold any UTF-8 but spaces and controls: this one needs
# escaping in a label value.
G='desk"7\b'
GL='guest="desk\"7\\b"'	# its label, escaped as the text format wants
TF=$W/textfiles/printredir.prom

world_start
mkdir -p "$W/textfiles"
broker_conf "print_server = $PS
[metrics]
textfile = $TF
textfile_interval = 1s"
broker_start || exit 1
agent_conf "$G"
agent_start "$G"
check "the agent reports to the broker" wait_for 30 guest_synced "$G"

prom() { "$BUILD/host-broker" status -c "$W/broker.conf" --prometheus; }
# The value of the sample named exactly KEY (name and labels) in FILE.
# (KEY through the environment: awk -v would undo its backslashes.)
value() {	# value FILE KEY
	K=$2 awk 'index($0, ENVIRON["K"] " ") == 1 { print substr($0, length(ENVIRON["K"]) + 2) }' "$1"
}
# promtool parses FILE and its lint has nothing to say.
promtool_clean() {	# promtool_clean FILE
	local out
	out=$(promtool check metrics <"$1" 2>&1) && [ -z "$out" ] && return 0
	echo "  promtool: ${out:-exit status $?}"
	return 1
}
is() {	# is WHAT GOT WANT
	[ "$2" = "$3" ] && [ -n "$2" ] || { echo "  $1: got '$2', want '$3'"; return 1; }
}

# --- status --prometheus ------------------------------------------------------------
check "status --prometheus answers" bash -c "'$BUILD/host-broker' status -c '$W/broker.conf' --prometheus >'$W/m1.prom'"
status_json >"$W/s1.json"
check "promtool check metrics takes it, without a lint" promtool_clean "$W/m1.prom"
check "every family has its HELP and TYPE" bash -c "
	diff <(grep '^# HELP ' '$W/m1.prom' | cut -d' ' -f3) <(grep '^# TYPE ' '$W/m1.prom' | cut -d' ' -f3) &&
	[ \$(grep -c '^# TYPE printredir_' '$W/m1.prom') -ge 20 ]"
check "host printers: as status --json has them" is host_printers \
	"$(value "$W/m1.prom" printredir_host_printers)" "$(jq '.printers | length' "$W/s1.json")"
redirected=$(jq '[.printers[] | select(.redirected)] | length' "$W/s1.json")
check "printers redirected: as status --json counts them ($redirected)" is redirected \
	"$(value "$W/m1.prom" printredir_printers_redirected)" "$redirected"
missing=$(jq '[.printers[] | select(.redirected and .driver == "missing")] | length' "$W/s1.json")
check "drivers missing: as status --json counts them ($missing, the raw queue's)" bash -c "
	[ '$missing' -ge 1 ] && [ '$(value "$W/m1.prom" 'printredir_printer_drivers{state="missing"}')' = '$missing' ]"
check "the raw queue's driver state, one-hot: missing" bash -c "
	[ '$(value "$W/m1.prom" 'printredir_printer_driver_state{printer="net_raw_passthrough",state="missing"}')' = 1 ] &&
	[ '$(value "$W/m1.prom" 'printredir_printer_driver_state{printer="net_raw_passthrough",state="available"}')' = 0 ]"
check "a redirected printer that can print shows 1" is printer_can_print \
	"$(value "$W/m1.prom" 'printredir_printer_can_print{printer="net_generic_pdf"}')" 1
check "the host's CUPS is up" is host_cups_up "$(value "$W/m1.prom" printredir_host_cups_up)" 1
check "one guest connected" is guests_connected "$(value "$W/m1.prom" printredir_guests_connected)" 1
check "the guest, its id escaped, shows 1" is guest_connected \
	"$(value "$W/m1.prom" "printredir_guest_connected{$GL}")" 1
check "and no line holds its id unescaped" bash -c "! grep -qF 'guest=\"$G\"' '$W/m1.prom'"
restart=$(jq -r --arg g "$G" '.guests[] | select(.id == $g) | .restart' "$W/s1.json")
check "its restart state is the one status --json says ($restart)" is restart_state \
	"$(value "$W/m1.prom" "printredir_guest_restart_state{$GL,state=\"$restart\"}")" 1
check "and the only one at 1, of nine" bash -c "
	grep -F 'printredir_guest_restart_state{$GL,' '$W/m1.prom' | awk '{ n++; s += \$NF } END { exit !(n == 9 && s == 1) }'"
installed=$(jq --arg g "$G" '[.guests[] | select(.id == $g) | .printers[] | select(.state == "installed")] | length' "$W/s1.json")
check "its printers installed: as status --json counts them ($installed)" is installed \
	"$(value "$W/m1.prom" "printredir_guest_printers{$GL,state=\"installed\"}")" "$installed"
check "its generation: the broker's" is generation \
	"$(value "$W/m1.prom" "printredir_guest_generation{$GL}")" "$(value "$W/m1.prom" printredir_generation)"
check "no deferral, no job yet" bash -c "
	[ '$(value "$W/m1.prom" "printredir_guest_restart_deferrals{$GL}")' = 0 ] &&
	[ '$(value "$W/m1.prom" "printredir_jobs_forwarded_total{$GL}")' = 0 ]"
seconds_under_30() {	# seconds_under_30 VALUE
	[[ $1 =~ ^[0-9]+\.[0-9]{3}$ ]] && [ "${1%.*}" -lt 30 ] || { echo "  got '$1'"; return 1; }
}
check "the last change's latency is known, under 30 s" \
	seconds_under_30 "$(value "$W/m1.prom" printredir_last_change_latency_seconds)"
check "and the guest's, from the set sent to its report" \
	seconds_under_30 "$(value "$W/m1.prom" "printredir_guest_last_change_latency_seconds{$GL}")"
drivers=$(jq --arg g "$G" '.guests[] | select(.id == $g) | .driver_bytes_sent' "$W/s1.json")
check "the drivers sent to it: as status --json counts them ($drivers bytes)" bash -c "
	[ '$drivers' -gt 0 ] && [ '$(value "$W/m1.prom" "printredir_guest_driver_sent_bytes_total{$GL}")' = '$drivers' ]"
check "within all the bytes sent to it" bash -c "
	[ '$(value "$W/m1.prom" "printredir_guest_sent_bytes_total{$GL}")' -gt '$drivers' ]"
check "--summary --prometheus: the same counts" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --prometheus --summary >'$W/m1s.prom' &&
	[ '$(value "$W/m1.prom" printredir_printers_redirected)' = \"\$(awk '\$1 == \"printredir_printers_redirected\" { print \$2 }' '$W/m1s.prom')\" ] &&
	! grep -q '^printredir_printer_driver_state{' '$W/m1s.prom'"
both_outputs() {
	local out rc
	out=$("$BUILD/host-broker" status -c "$W/broker.conf" --json --prometheus 2>&1 >/dev/null)
	rc=$?
	[ "$rc" -eq 2 ] && grep -q 'choose one' <<<"$out" || { echo "  exit $rc: $out"; return 1; }
}
check "--json and --prometheus together: a usage error" both_outputs
check "status --help describes --prometheus" bash -c "
	'$BUILD/host-broker' status --help | grep -q -- '--prometheus.*Prometheus'"

# --- a job ------------------------------------------------------------------------------
echo "printredir metrics test page" >"$W/page.txt"
lp -h "$GUEST" -d net_generic_pdf "$W/page.txt" >/dev/null
printed() { status_json | jq -e --arg g "$G" '.guests[] | select(.id == $g) | .jobs.accepted == 1' >/dev/null; }
check "a job printed in the guest" wait_for 60 printed
prom >"$W/m2.prom"
bytes=$(status_json | jq --arg g "$G" '.guests[] | select(.id == $g) | .jobs.bytes')
check "counts as one job forwarded" is forwarded "$(value "$W/m2.prom" "printredir_jobs_forwarded_total{$GL}")" 1
check "with its bytes, as status --json has them ($bytes)" bash -c "
	[ '$bytes' -gt 0 ] && [ '$(value "$W/m2.prom" "printredir_job_bytes_total{$GL}")' = '$bytes' ]"
check "and none failed" is failed "$(value "$W/m2.prom" "printredir_jobs_failed_total{$GL}")" 0
check "promtool takes that too" promtool_clean "$W/m2.prom"

# --- the textfile ---------------------------------------------------------------------
check "the broker writes the textfile" wait_for 10 test -s "$TF"
check "mode 0644, for node_exporter's user" is mode "$(stat -c %a "$TF")" 644
check "promtool takes the textfile" promtool_clean "$TF"
same() {	# the textfile and status --prometheus agree, but for the last-seen times
	diff <(grep -v '^printredir_guest_last_seen' "$TF") <(prom | grep -v '^printredir_guest_last_seen') >/dev/null
}
check "it says what status --prometheus says" wait_for 5 same
ino=$(stat -c %i "$TF")
hosts=$(value "$TF" printredir_host_printers)
lpadmin -h "$HOST" -p metrics_new -E -v "ipp://$PS/printers/generic_pdf"
more() { [ "$(value "$TF" printredir_host_printers)" = $((hosts + 1)) ]; }
check "a printer added on the host shows in it within seconds" wait_for 10 more
check "the file was replaced (rename), not rewritten in place" test "$(stat -c %i "$TF")" != "$ino"
# 300 reads over 3 s, while it is replaced every second: each one whole.
reads_whole() {
	local i t
	for ((i = 0; i < 300; i++)); do
		t=$(cat "$TF"; echo x)
		[[ $t == *'# TYPE printredir_job_bytes_total counter'*$'\n'x ]] || { echo "  read $i: partial"; return 1; }
		sleep 0.01
	done
}
check "a reader never sees a partial file" reads_whole
only_prom() { [ "$(ls -A "$W/textfiles")" = printredir.prom ]; }
check "and no temporary file is left in node_exporter's folder" wait_for 3 only_prom
agent_stop "$G"
gone() { [ "$(value "$TF" "printredir_guest_connected{$GL}")" = 0 ] && [ "$(value "$TF" printredir_guests_connected)" = 0 ]; }
check "the guest leaving shows in it: connected 0" wait_for 15 gone
check "promtool still takes it" promtool_clean "$TF"
broker_stop
check "stopping the broker removes it: node_exporter serves no stale figures" test ! -e "$TF"

finish
