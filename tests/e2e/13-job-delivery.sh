#!/bin/bash
# Scenario 13, a job is never lost and never printed twice: a host queue
# that is stopped makes the guest's job wait in the guest (its queue
# stopped too) and arrive once
# when it is enabled; a broker killed in the middle of a 50 MB job prints it
# exactly once after it is back; a guest job run again after it printed
# (its answer lost) is not printed again, across a broker restart; a job the
# host's cupsd took and forgot (killed before it saved it) is sent again by
# the guest and printed once; only
# root and cupsd's backend user may hand the agent a job; a host queue that
# refuses a job for good fails the guest's job with the host's reason.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

start_all
q=generic_pdf
count() { ps_count "$q"; }
count_is() { [ "$(count)" -eq "$1" ]; }
guest_empty() { [ -z "$(lpstat -h "$GUEST" -o 2>/dev/null)" ]; }
echo "a page for a stopped host queue" >"$W/page.txt"

# --- the host queue is stopped ----------------------------------------------------
cupsdisable -h "$HOST" -r "paper jam in tray 2" "net_$q"
lp -h "$GUEST" -d "net_$q" -t stopped "$W/page.txt" >/dev/null
# The guest's queue shows the host's stopped at once (scenario 18): the job
# waits there, whether it reached the broker first (sent back to wait) or not.
guest_waits() {
	lpstat -h "$GUEST" -o | grep -q "net_$q" &&
		lpstat -h "$GUEST" -p "net_$q" | grep -q disabled &&
		lpstat -h "$GUEST" -l -p "net_$q" | grep -qiE 'paper jam|stopped'
}
check "the guest keeps it, its queue stopped as the host's, showing why" wait_for 30 guest_waits
check "and nothing reached the printer" test "$(count)" -eq 0
cupsenable -h "$HOST" "net_$q"
check "enabled again: the job arrives" wait_for 60 count_is 1
check "and leaves the guest" wait_for 30 guest_empty
check "once" test "$(count)" -eq 1

# --- the broker is killed in the middle of a 50 MB job ----------------------------
make_pdf 50 "$W/big.pdf"
host_pid=$HOST_PID
before=$(count)
lp -h "$GUEST" -d "net_$q" -t big "$W/big.pdf" >/dev/null
streaming() {
	"$BUILD/host-broker" status -c "$W/broker.conf" --json 2>/dev/null |
		jq -e '[.jobs[] | select(.bytes > 0)] | length > 0' >/dev/null
}
# Freezing the host's cupsd stalls the stream where it is (the window keeps
# it there); the broker dies with the host job half sent.
for ((i = 0; i < 3000; i++)); do streaming && break; sleep 0.01; done
kill -STOP "$host_pid"
check "the job was streaming to the host when the broker died" streaming
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
kill -CONT "$host_pid"
check "the host holds no complete copy of it" test "$(count)" -eq "$before"
broker_start || exit 1
check "after the broker is back, the job arrives" wait_for 120 count_is $((before + 1))
check "and leaves the guest" wait_for 30 guest_empty
sleep 2
check "exactly once" test "$(count)" -eq $((before + 1))
check "whole: its 50 MB reached the printer" bash -c "
	[ \$(stat -c %s \"\$(ls -t '$OUTPUT_DIR'/*-$q.prn | head -1)\") -gt $(stat -c %s "$W/big.pdf") ]"

# --- a printed job runs again in the guest (its answer was lost) -------------------
before=$(count)
lp -h "$GUEST" -d "net_$q" -t again "$W/page.txt" >"$W/again.out"
check "a job prints" wait_for 60 count_is $((before + 1))
check "and is done in the guest" wait_for 30 guest_empty
broker_stop
broker_start || exit 1
check "the agent is back" wait_for 30 guest_synced g1
id=$(sed -n 's/^request id is net_[a-z_]*-\([0-9]*\).*/\1/p' "$W/again.out")
lp -h "$GUEST" -i "$id" -H restart
check "run again in the guest, the broker knows it printed it already" \
	wait_for 60 grep -q "already printed as host job" "$W/broker.log"
check "the guest job completes" wait_for 30 guest_empty
sleep 2
check "and it is not printed twice" test "$(count)" -eq $((before + 1))

# --- the host's cupsd is killed before it saved a job it took ---------------------
# cupsd writes its jobs up to DirtyCleanInterval (30 s) after a change, and one
# SIGKILLed before then forgets them.  A host cupsd started cleanly (nothing
# left to save) takes a job of its own, which its backend hands to a print
# server that holds its queue, then the guest's job, which waits behind it.
host_up() { lpstat -h "$HOST" -r >/dev/null 2>&1 && lpstat -h "$HOST" -p >/dev/null 2>&1; }
host_restart() {	# host_restart SIGNAL
	kill "-$1" "$HOST_PID"
	wait_for 10 bash -c "! kill -0 $HOST_PID 2>/dev/null"
	cupsd -f -c "$HOST_DIR/cupsd.conf" -s "$HOST_DIR/cups-files.conf" >>"$W/host-cupsd.log" 2>&1 &
	HOST_PID=$!
	PIDS+=("$HOST_PID")
	disown "$HOST_PID"	# killed later: no job report from bash
	wait_for 20 host_up
}
named() { "$BUILD/tests/jobattrs" "$1" "$2" 2>/dev/null | grep -c "^job-name=$3$"; }
sent() { grep -c ' sent ' "$W/broker-state/jobs.journal"; }
host_printing() { lpstat -h "$HOST" -p "net_$q" | grep -q "now printing"; }
host_holds_both() { [ "$(lpstat -h "$HOST" -o "net_$q" | wc -l)" -eq 2 ]; }
host_restart TERM
cupsdisable -h "$PS" "$q"
lp -h "$HOST" -d "net_$q" -t blocker "$W/page.txt" >/dev/null
check "the host prints a job of its own, held at the print server" wait_for 20 host_printing
sent_before=$(sent)
lp -h "$GUEST" -d "net_$q" -t forgotten "$W/page.txt" >/dev/null
check "the broker has handed the guest's job over" wait_for 20 bash -c "[ \$(grep -c ' sent ' '$W/broker-state/jobs.journal') -gt $sent_before ]"
check "and the host holds it behind its own" host_holds_both
check "the guest still has it: the host has not printed it" bash -c "lpstat -h '$GUEST' -o | grep -q 'net_$q'"
host_restart KILL
check "the host's cupsd came back without either job" bash -c "! lpstat -h '$HOST' -o | grep -q ."
check "the broker sees the host lost the job and has the guest send it again" \
	wait_for 30 grep -q "forgot host job [0-9]* before printing it" "$W/broker.log"
check "the guest sends it again: the host has it anew" wait_for 30 bash -c "lpstat -h '$HOST' -o | grep -q ."
cupsenable -h "$PS" "$q"
check "it reaches the print server" wait_for 90 bash -c "[ \$('$BUILD/tests/jobattrs' '$PS' '$q' 2>/dev/null | grep -c '^job-name=forgotten$') -ge 1 ]"
check "and leaves the guest" wait_for 60 guest_empty
check "once" test "$(named "$PS" "$q" forgotten)" -eq 1

# --- only root and cupsd's backend user may hand jobs to the agent ---------------
before=$(count)
setpriv --reuid=42424 --regid=42424 --clear-groups env \
	PRINTREDIR_JOB_SOCKET="$GUEST_JOB_SOCKET" DEVICE_URI="printredir:net_$q" \
	"$PRINTREDIR_BACKEND" 999 mallory intruder 1 "" "$W/page.txt" 2>"$W/intruder.err"
rc=$?
check "a job from another user is refused (the backend is told to retry)" test "$rc" -eq 6
check "the agent says whom it refused" grep -q "job socket: refusing uid 42424" "$W/agent-g1.log"
check "and nothing of it printed" test "$(count)" -eq "$before"

# --- a job the host refuses for good --------------------------------------------------
# A host queue that takes no PDF: a raw-only printer class can't, but a
# queue whose maximum job size is tiny refuses every real job.
lpadmin -h "$HOST" -p "net_$q" -o job-k-limit=1 -o job-quota-period=600
before=$(count)
lp -h "$GUEST" -d "net_$q" -t refused "$W/big.pdf" >/dev/null
check "the broker says the host refused it" \
	wait_for 120 grep -q "job on net_$q refused by the host" "$W/broker.log"
check "the guest's job fails with the host's reason instead of waiting" wait_for 30 guest_empty
check "nothing printed" test "$(count)" -eq "$before"
check "and status shows the refusal as the guest's last job error" bash -c "
	'$BUILD/host-broker' status -c '$W/broker.conf' --json |
	jq -e '.guests[] | select(.id == \"g1\") | .jobs.refused >= 1 and (.jobs.last_error | length > 0)' >/dev/null"

finish
