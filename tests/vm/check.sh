#!/bin/bash
# make vm-check: printredir end to end in a real QEMU guest (tests/vm/vm) on
# the sandbox's print server and host, the real broker on the host reaching
# the guest's agent over virtio-serial only.  Prints a timeline.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
VM=$TOP/tests/vm/vm
T0=$(now_ms)
mark() { printf 'timeline: %6d ms  %s\n' "$(($(now_ms) - T0))" "$*"; }

world_start
mkdir -p "$W/channels"
broker_conf "print_server = $PS
channels = $W/channels"
broker_start || exit 1
guest_key vm1
mark "sandbox and broker up"
vm_start() {
	BUILD=$BUILD "$VM" start "$W/vm" --channels "$W/channels" --key "$W/key-vm1" --id vm1 \
		>>"$W/vm.log" 2>&1 || { cat "$W/vm.log"; return 1; }
	PIDS+=("$(cat "$W/vm/qemu.pid")")
}
vexec() { "$VM" exec "$W/vm" -- "$@"; }
vm_start || { echo "FAIL: the VM did not start"; exit 1; }
mark "VM booted, agent running"

# 1. First start: every network printer with its driver.
check "the guest's agent reports over virtio-serial" wait_for 120 guest_synced vm1
mark "first sync"
expected=$(with_driver)
installed() {
	[ "$(status_json | jq -r '.guests[] | select(.id == "vm1") | .printers[] |
		select(.state == "installed") | .name' | sort)" = "$expected" ]
}
check "it installed every network printer that has a driver" wait_for 60 installed
vm_queues() { vexec 'lpstat -h /run/cups.sock -p' | awk '$1 == "printer" {print $2}' | sort; }

# 2. No application runs: a silent, real restart, confirmed by the new boot.
boot1=$(grep -m1 'vm-init: up, boot id' "$W/vm/console.log" | awk '{print $NF}' | tr -d '\r')
restarted() { [ "$(status_json | jq -r '.guests[] | select(.id == "vm1") | .restart')" = "done" ]; }
check "the agent restarts the VM and reports done" wait_for 180 restarted
mark "reboot confirmed"
boot2=$(vexec 'cat /proc/sys/kernel/random/boot_id')
check "after a new boot" test -n "$boot2" -a "$boot1" != "$boot2"
check "the QEMU machine really reset" test "$(grep -c 'vm-init: up' "$W/vm/console.log")" -eq 2
check "the printers are still there, none twice" test "$(vm_queues)" = "$expected"
check "the guest has no network device" test "$(vexec 'ls /sys/class/net')" = lo

# 3. A job printed in the guest arrives at the print server's device.
before=$(ps_count generic_pdf)
vexec 'echo "printed in a real VM" >/tmp/p.txt && lp -h /run/cups.sock -d net_generic_pdf -t "VM page" -o sides=two-sided-long-edge /tmp/p.txt' >/dev/null
arrived() { [ "$(ps_count generic_pdf)" -gt "$before" ]; }
check "a job printed in the VM arrives at the print server" wait_for 120 arrived
mark "job arrived"
check "as the guest's job, with its options" bash -c "
	'$BUILD/tests/jobattrs' '$HOST' net_generic_pdf | grep -qx 'job-name=VM page' &&
	'$BUILD/tests/jobattrs' '$HOST' net_generic_pdf | grep -qx 'sides=two-sided-long-edge'"

# 4. Host changes reach the running VM.
lpadmin -h "$HOST" -p vm_live -E -v "ipp://$PS/printers/generic_pdf"
has_live() { vm_queues | grep -qx vm_live; }
check "a printer added on the host reaches the VM" wait_for 60 has_live
lpadmin -h "$HOST" -x vm_live
check "and goes away when removed" wait_for 60 bash -c "! '$VM' exec '$W/vm' -- 'lpstat -h /run/cups.sock -p vm_live' >/dev/null 2>&1"
mark "live changes"

# 5. The broker restarted: the channel comes back by itself.
broker_stop
broker_start || exit 1
reconnected() { status_json | jq -e '.guests[] | select(.id == "vm1") | .connected' >/dev/null; }
check "the broker reaches the VM again after its restart" wait_for 60 reconnected
check "and nothing changed in the guest" test "$(vm_queues)" = "$expected"
mark "broker restarted"

# 6. The VM killed hard, started again: the agent converges, no duplicate.
kill -KILL "$(cat "$W/vm/qemu.pid")"
sleep 1
vm_start || { echo "FAIL: the VM did not start again"; exit 1; }
check "after a hard kill the agent reports again" wait_for 120 reconnected
same_queues() { [ "$(vm_queues)" = "$expected" ]; }
check "with exactly the printers, none twice" wait_for 60 same_queues
check "and reports every one installed" wait_for 60 installed
mark "hard kill recovered"

# 7. Inside the guest: a broker and an agent over vsock_loopback (CID 1).
vexec "sh '$TOP/tests/vm/vsock-check' '$BUILD'" >"$W/vsock.out" 2>&1
sed 's/^/    /' "$W/vsock.out"
check "inside the VM, an agent gets its printer set from a broker over vsock" \
	grep -qx 'vsock: PASS' "$W/vsock.out"
mark "vsock inside the VM"

finish
