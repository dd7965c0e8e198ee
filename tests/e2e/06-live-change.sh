#!/bin/bash
# Scenario 6, live changes on the host: a queue added, modified (pointed at
# another print-server queue, so a new driver) and deleted; the guest
# follows each within 1 s, timed from the host's change to the guest's
# CUPS showing it.  A modified queue makes one generation, its new driver
# in it.  A burst of changes makes one generation, not one each.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all

in_guest() { lpstat -h "$GUEST" -p live_new >/dev/null 2>&1; }
not_in_guest() { ! in_guest; }
has_driver() { same_driver "$GUEST_DIR/ppd/live_new.ppd" "$PRINTSERVER_DIR/ppd/$1.ppd"; }

add() { lpadmin -h "$HOST" -p live_new -E -v "ipp://$PS/printers/generic_pdf"; }
ms=$(follow_ms add in_guest)
check "an added host queue is in the guest within 1 s ($ms ms)" within_1s "$ms"
check "with its driver" has_driver generic_pdf

modify() { lpadmin -h "$HOST" -p live_new -v "ipp://$PS/printers/hp_cm3530_pdf"; }
wait_for 10 guest_synced g1
gen0=$(status_json | jq .broker.generation)
ms=$(follow_ms modify has_driver hp_cm3530_pdf)
check "a modified host queue has its new driver in the guest within 1 s ($ms ms)" within_1s "$ms"
wait_for 10 guest_synced g1
gen1=$(status_json | jq .broker.generation)
check "in one generation, not a first one with the old device's driver ($gen0 -> $gen1)" \
	test $((gen1 - gen0)) -eq 1
check "and prints to the same host queue" bash -c "
	lpstat -h '$GUEST' -v live_new | grep -q ': printredir:live_new\$'"

delete() { lpadmin -h "$HOST" -x live_new; }
ms=$(follow_ms delete not_in_guest)
check "a deleted host queue leaves the guest within 1 s ($ms ms)" within_1s "$ms"
removed() { [ "$(guest_state g1 live_new)" = removed ]; }
check "and the guest reports it removed" wait_for 5 removed

# --- a burst ------------------------------------------------------------------------
gen0=$(status_json | jq .broker.generation)
# All at once, as a script or a management tool adds them: one after the
# other, five lpadmin runs can outlast the broker's settling (100 ms of
# quiet, 400 ms at most) on a loaded machine, which is no burst any more.
burst=()
for i in 1 2 3 4 5; do
	lpadmin -h "$HOST" -p "burst_$i" -E -v "ipp://$PS/printers/generic_pdf" &
	burst+=($!)
done
wait "${burst[@]}"
all_five() { [ "$(guest_queues | grep -c '^burst_')" -eq 5 ]; }
check "a burst of 5 added queues all reach the guest" wait_for 10 all_five
gen1=$(status_json | jq .broker.generation)
check "in one or two generations, not five ($gen0 -> $gen1)" \
	bash -c "[ $((gen1 - gen0)) -ge 1 ] && [ $((gen1 - gen0)) -le 2 ]"

finish
