#!/bin/bash
# Scenario 17, driverless_fallback (issue #17): by default a printer whose
# print server has no driver stays driver-missing.  With `driverless_fallback
# = yes` (by SIGHUP) the broker builds a generic driver: from the PPD the
# host's cupsd holds for the queue, or, for a raw host queue, from the IPP
# attributes of the printer it prints to.  The guest installs it as a
# generic driver, prints through it to the print server, and turning the
# key off again brings driver-missing back.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

raw=net_$PRINTSERVER_RAW_QUEUE
# A host queue with a PPD of its own (a model no print-server driver has)
# that prints to the print server's queue without a driver.
sed 's/^\*NickName:.*/*NickName: "Fallback Test Printer"/; s/^\*ModelName:.*/*ModelName: "Fallback Test Printer"/' \
	"$PRINTSERVER_PPD_DIR/generic_pdf.ppd" >"$W/fallback.ppd"
lpadmin -h "$HOST" -p fb_ppd -v "ipp://127.0.0.1:$PRINTSERVER_PORT/printers/$PRINTSERVER_RAW_QUEUE" \
	-P "$W/fallback.ppd" -E 2>>"$W/lpadmin.err"

printer_is() {	# printer_is NAME DRIVER DETAIL-REGEX: the broker's status entry
	status_json | jq -r --arg p "$1" '.printers[] | select(.name == $p) |
		"\(.driver) \(.driver_sha256 // "-") \(.detail)"' |
		grep -q -E "^$2 $3"
}
both_missing() {
	printer_is "$raw" missing '- driver missing .*has no driver' &&
		printer_is fb_ppd missing '- driver missing .*has no driver' &&
		! status_json | jq -r '.printers[].detail' | grep -q 'generic driver'
}
check "by default the raw queue and the host-PPD queue are driver-missing" wait_for 15 both_missing

# fallback yes|no, by SIGHUP.
fallback() {
	sed -i '/^driverless_fallback = /d' "$W/broker.conf"
	sed -i "s/^name = e2e-host\$/name = e2e-host\ndriverless_fallback = $1/" "$W/broker.conf"
	kill -HUP "$BROKER_PID"
}
fallback yes
state_is() { [ "$(guest_state g1 "$1")" = "$2" ]; }
check "driverless_fallback = yes: the guest installs the raw queue" wait_for 30 state_is "$raw" installed
check "as a queue of the guest's CUPS" bash -c "lpstat -h '$GUEST' -p '$raw' >/dev/null"
check "the broker shows its driver available, built from the printer's IPP attributes" \
	printer_is "$raw" available "[0-9a-f]{64} no driver on its print server: generic driver built from the printer's IPP attributes"
check "the agent's status says installed with a generic driver" bash -c "
	'$BUILD/guest-agent' status -c '$W/agent-g1.conf' | grep '^$raw ' |
	grep -q 'installed (generic driver), prints to the host queue $raw'"
says_generic() {
	status_json | jq -e --arg p "$raw" '.guests[] | select(.id == "g1") | .printers[] |
		select(.name == $p) | .detail | test("^installed \\(generic driver\\)")' >/dev/null
}
check "and so does the guest's entry in the broker's status" says_generic
check "the guest's PPD is the generic driver written from the printer's attributes" \
	grep -q '^\*NickName: "IPP Printer, generic driver"' "$GUEST_DIR/ppd/$raw.ppd"

check "the host-PPD queue is installed too" wait_for 30 state_is fb_ppd installed
check "the broker shows its driver built from the host queue's PPD" \
	printer_is fb_ppd available "[0-9a-f]{64} no driver on its print server: generic driver built from the host queue's PPD"
check "the guest's PPD is the host queue's (its NickName)" \
	grep -q '^\*NickName: "Fallback Test Printer"' "$GUEST_DIR/ppd/fb_ppd.ppd"

# A job printed in the guest on the generic queue reaches the print server.
before=$(ps_count "$PRINTSERVER_RAW_QUEUE")
printf 'printed through a generic driver\n' >"$W/page.txt"
lp -h "$GUEST" -d "$raw" -t generic "$W/page.txt" >>"$W/lp.out" 2>&1
arrived() { [ "$(ps_count "$PRINTSERVER_RAW_QUEUE")" -gt "$before" ]; }
check "a job printed in the guest on it arrives at the print server" wait_for 60 arrived
newest=$(ls -t "$OUTPUT_DIR"/job-*-"$PRINTSERVER_RAW_QUEUE".prn 2>/dev/null | head -1)
check "as the PDF the guest's queue hands on" bash -c "[ \"\$(head -c 5 '$newest')\" = '%PDF-' ]"
guest_done() { [ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ]; }
check "and the guest's job is done" wait_for 30 guest_done

fallback no
back_missing() {
	printer_is "$raw" missing '- driver missing' && state_is "$raw" driver-missing
}
check "driverless_fallback = no again (SIGHUP): driver-missing again" wait_for 30 back_missing

finish
