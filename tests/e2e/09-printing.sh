#!/bin/bash
# Scenario 9, printing: a job printed in the guest leaves the guest's CUPS
# as PDF, travels over the agent's channel to the broker, which prints it on
# the host queue as a host application would (its title, its user, its
# copies and every option), and the print server's driver renders it.  The
# host's cupsd listens on its unix socket only: no IPP from the guest can
# reach it.  Three kinds of driver: PDF behind PJL, a classic raster driver
# (PCL) and PostScript.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

check "the host's cupsd has no network listener: only its unix socket" \
	bash -c "[ -S '$HOST' ] && [ -z '${HOST_PORT:-}' ] && ! grep -q '^Listen .*:' '$HOST_DIR/cupsd.conf'"

# Jobs to send: print-server queue and how many.
declare -A JOBS=([generic_pdf]=2 [hp_designjet_t790]=1 [brother_hl5250dn]=1)
newest() { ls -t "$OUTPUT_DIR"/*-"$1".prn 2>/dev/null | head -1; }
total=0
for q in "${!JOBS[@]}"; do
	for ((i = 1; i <= JOBS[$q]; i++)); do
		echo "printredir end-to-end test page $i for $q" >"$W/page-$q-$i.txt"
		lp -h "$GUEST" -d "net_$q" "$W/page-$q-$i.txt" >>"$W/lp.out"
		total=$((total + 1))
	done
done
check "the guest accepted $total jobs" test "$(grep -c '^request id is' "$W/lp.out")" -eq $total

all_arrived() {
	local q
	for q in "${!JOBS[@]}"; do [ "$(ps_count "$q")" -ge "${JOBS[$q]}" ] || return 1; done
}
check "every job arrives at its printer's device on the print server" wait_for 90 all_arrived
check "the PDF driver's data: PDF behind a PJL header" bash -c "
	f='$(newest generic_pdf)'; head -c 4096 \"\$f\" | grep -aq '@PJL' && grep -aq '%PDF-' \"\$f\""
check "the raster driver's data: PCL" bash -c "
	f='$(newest hp_designjet_t790)'; [ -s \"\$f\" ] && head -c 4096 \"\$f\" | grep -aq \$'\\e%-12345X@PJL' &&
	grep -aq \$'\\e\\\\*r' \"\$f\""
check "the PostScript driver's data: PostScript" bash -c "
	f='$(newest brother_hl5250dn)'; head -c 4096 \"\$f\" | grep -aq '%!PS'"
check "the guest handed every job over as PDF, through the printredir backend" \
	test "$(grep -c 'Started backend .*/backend/printredir' "$GUEST_DIR/log/error_log")" -eq $total
check "the host got each job from the broker as PDF" bash -c "
	for q in ${!JOBS[*]}; do '$BUILD/tests/jobattrs' '$HOST' net_\$q; done |
	grep -c '^document-format-supplied=application/pdf\$' | grep -qx $total"
all_done() { [ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ] && [ -z "$(lpstat -h "$HOST" -o 2>/dev/null)" ]; }
check "no job is left queued in the guest or the host" wait_for 60 all_done
once() {
	local q
	for q in "${!JOBS[@]}"; do
		[ "$(ps_count "$q")" -eq "${JOBS[$q]}" ] || { echo "  $q: $(ps_count "$q") files for ${JOBS[$q]} jobs"; return 1; }
	done
}
check "none is printed twice" once

# --- a job's attributes reach the host queue --------------------------------------
# A user's job with the options of the dialog: duplex, paper, copies, title,
# and an option of the printer's own driver (its last input tray).
q=brother_hl5250dn
slot=$(sed -n 's/^\*InputSlot \([^/: ]*\).*/\1/p' "$PRINTSERVER_DIR/ppd/$q.ppd" | tail -1)
check "the driver has an input tray to choose ($slot)" test -n "$slot"
echo "Rapport mensuel de novembre" >"$W/rapport.txt"
lp -h "$GUEST" -U alice -d "net_$q" -o sides=two-sided-long-edge -o media=A4 -n 2 \
	-t "Rapport mensuel" -o "InputSlot=$slot" "$W/rapport.txt" >>"$W/lp.out"
# The attributes of the host job titled "Rapport mensuel".
host_job() {
	"$BUILD/tests/jobattrs" "$HOST" "net_$q" | awk '
		/^job$/ { if (hit) exit; block = "" }
		{ block = block $0 "\n" }
		/^job-name=Rapport mensuel$/ { hit = 1 }
		END { if (hit) printf "%s", block }' >"$W/rapport.attrs"
	grep -q '^job-state=completed$' "$W/rapport.attrs"
}
check "the job reaches the host queue and completes there" wait_for 60 host_job
has() { grep -qx -- "$1" "$W/rapport.attrs" || { echo "  no \"$1\" in:"; sed 's/^/    /' "$W/rapport.attrs"; return 1; }; }
check "with its title" has 'job-name=Rapport mensuel'
check "with the guest user as requesting user" has 'job-originating-user-name=alice'
check "with 2 copies" has 'copies=2'
check "with duplex" has 'sides=two-sided-long-edge'
check "with the paper" grep -qE '^media=(A4|iso_a4_210x297mm)$' "$W/rapport.attrs"
check "with the driver's input tray" has "InputSlot=$slot"
# The broker answers the guest, and counts the job, once it sees the host
# job completed (it looks every second while it prints).
check "and the broker counts the jobs of the guest" wait_for 10 bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '.guests[] | select(.id == \"g1\") | .jobs.accepted == $((total + 1)) and .jobs.bytes > 0' >/dev/null"
check "its status table shows them" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' | grep -q '^  jobs: $((total + 1)) printed'"

finish
