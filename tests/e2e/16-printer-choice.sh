#!/bin/bash
# Scenario 16, which printers go to the guests: `printers = default-only`
# gives the guest the host's default printer alone, and follows the host's
# default as it changes (twice, while the agent runs); `printers = NAMES`
# gives those named (as CUPS compares names); `max_printers` caps how many,
# the first by name.  Each by SIGHUP, and status says why a printer is left
# out.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

# choose LINES: [broker] printers and max_printers as LINES say, by SIGHUP.
choose() {	# choose LINES
	sed -i '/^printers = /d; /^max_printers = /d' "$W/broker.conf"
	sed -i "s/^name = e2e-host\$/name = e2e-host\n$1/" "$W/broker.conf"
	kill -HUP "$BROKER_PID"
}
# The guest's queues are exactly the words given, sorted, and it reported
# on them for the broker's generation.
guest_has() {	# guest_has NAME...
	[ "$(guest_queues)" = "$(printf '%s\n' "$@" | sort)" ] && guest_synced g1
}
why_out() {	# why_out PRINTER: the status detail of a host printer
	status_json | jq -r --arg p "$1" '.printers[] | select(.name == $p) |
		select(.redirected | not) | .detail'
}

lpadmin -h "$HOST" -d net_generic_pdf
choose "printers = default-only"
check "printers = default-only: the guest has the host's default printer alone" \
	wait_for 15 guest_has net_generic_pdf
not_default() {
	[ "$(why_out net_hp_cm3530_pdf)" = "not redirected: not the host's default printer (printers = default-only)" ]
}
check "status says why another is left out" not_default
check "and the broker redirects that one printer" test "$(with_driver)" = net_generic_pdf

lpadmin -h "$HOST" -d net_hp_cm3530_pdf
check "the host's default changes: the guest follows" wait_for 15 guest_has net_hp_cm3530_pdf
lpadmin -h "$HOST" -d net_brother_hl5250dn
check "and again" wait_for 15 guest_has net_brother_hl5250dn
check "with the print server's driver" same_driver "$GUEST_DIR/ppd/net_brother_hl5250dn.ppd" \
	"$PRINTSERVER_DIR/ppd/brother_hl5250dn.ppd"

choose "printers = NET_GENERIC_PDF, net_ricoh_mp_c3003_ps"
check "printers = two names (any case): the guest has those two" \
	wait_for 15 guest_has net_generic_pdf net_ricoh_mp_c3003_ps
check "status says why another is left out" test "$(why_out net_brother_hl5250dn)" = \
	"not redirected: not named in printers"

choose "printers = all\nmax_printers = 2"
capped() { [[ "$(why_out net_hp_designjet_t790)" == 'not redirected: over max_printers = 2'* ]]; }
check "max_printers = 2: status says why a third printer is left out" wait_for 15 capped
redirected=$(status_json | jq -r '.printers[] | select(.redirected) | .name')
check "the broker redirects two printers, the first two by name" \
	test "$redirected" = "$HOST_DIRECT_QUEUE"$'\n'net_brother_hl5250dn
check "the guest has those two" wait_for 15 guest_has "$HOST_DIRECT_QUEUE" net_brother_hl5250dn

choose "printers = -rm\nmax_printers = 2"
refused() { grep -q 'printers = "-rm".*"-rm" is not one' "$W/broker.log"; }
check "a bad printers on SIGHUP is refused, saying why" wait_for 10 refused
sed -i 's/^printers = -rm$/printers = all/' "$W/broker.conf"
check "and the broker goes on with what it had" test \
	"$(status_json | jq -r '.printers[] | select(.redirected) | .name')" = "$redirected"

finish
