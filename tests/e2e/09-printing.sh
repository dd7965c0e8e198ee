#!/bin/bash
# Scenario 9, printing: jobs printed in the guest go guest queue -> host
# queue -> print server, and arrive at the print server's device as
# printer-ready data of that printer's driver (rendered once, in the guest);
# none is lost or printed twice.  Three kinds of driver: PDF behind PJL, a
# classic raster driver (PCL) and PostScript.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

# Jobs to send: print-server queue and how many.
declare -A JOBS=([generic_pdf]=2 [hp_designjet_t790]=1 [brother_hl5250dn]=1)
count() { local f n=0; for f in "$OUTPUT_DIR"/*-"$1".prn; do [ -e "$f" ] && n=$((n + 1)); done; echo $n; }
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
	for q in "${!JOBS[@]}"; do [ "$(count "$q")" -ge "${JOBS[$q]}" ] || return 1; done
}
check "every job arrives at its printer's device on the print server" wait_for 90 all_arrived
check "the PDF driver's data: PDF behind a PJL header" bash -c "
	f='$(newest generic_pdf)'; head -c 4096 \"\$f\" | grep -aq '@PJL' && grep -aq '%PDF-' \"\$f\""
check "the raster driver's data: PCL, not a second rendering of it" bash -c "
	f='$(newest hp_designjet_t790)'; [ -s \"\$f\" ] && head -c 4096 \"\$f\" | grep -aq \$'\\e%-12345X@PJL' &&
	grep -aq \$'\\e\\\\*r' \"\$f\""
check "the PostScript driver's data: PostScript" bash -c "
	f='$(newest brother_hl5250dn)'; head -c 4096 \"\$f\" | grep -aq '%!PS'"
check "the print server passed each job through as raw data" \
	test "$(grep -c 'File of type application/vnd.cups-raw queued' "$PRINTSERVER_DIR/log/error_log")" -eq $total
all_done() { [ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ] && [ -z "$(lpstat -h "$HOST" -o 2>/dev/null)" ]; }
check "no job is left queued in the guest or the host" wait_for 60 all_done
sleep 1
once() {
	local q
	for q in "${!JOBS[@]}"; do
		[ "$(count "$q")" -eq "${JOBS[$q]}" ] || { echo "  $q: $(count "$q") files for ${JOBS[$q]} jobs"; return 1; }
	done
}
check "none is printed twice" once
check "each went through the host's queue" \
	test "$(lpstat -h "$HOST" -W completed -o | wc -l)" -eq $total

finish
