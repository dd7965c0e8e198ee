#!/bin/bash
# tests/hostile: printredir against hostile input, one table of cases run
# against the real daemons and real cupsd instances (the sandbox).  Each
# case feeds one hostile input (from the host's CUPS, a print server, a
# rogue broker, a desk user, an administrator's typo) and asserts a clear
# error, that only that connection or printer suffered, and, after every
# case, that the daemons still serve and agent g1 still holds its printers.
#
#   tests/hostile/cases.sh          run every case
#   tests/hostile/cases.sh --list   print the table (Markdown) and exit
#
# A rogue broker (tests/tools/rogue-broker) says what a case tells it to:
# it proves the same master key as the broker, so agent r1, on the
# sandbox's second guest cupsd, takes it for its broker.
# shellcheck source=tests/e2e/lib.sh

CASES=()
hcase() { CASES+=("$1|$2|$3"); }	# hcase CLASS FUNCTION WHAT

if [ "${1:-}" = --list ]; then
	LIST=1
else
	LIST=
	source "$(dirname "$0")/../e2e/lib.sh"
fi
GENERIC=/usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd

# --- a rogue broker and agent r1 --------------------------------------------------------
# rogue SETFILE: serves one set to agent r1 and waits for its report; the
# report lines are in $W/rogue.out ("report NAME STATE DETAIL").
rogue() {
	local pid
	: >"$W/rogue.out"
	"$BUILD/tests/rogue-broker" -l "unix:$W/rogue.sock" -k "$W/key" -s "$1" -g "$RUNS" -t 30 \
		>"$W/rogue.out" 2>>"$W/rogue.err" &
	pid=$!
	wait_for 5 test -S "$W/rogue.sock"
	agent_start r1
	wait "$pid"
	agent_stop r1
}
report() {	# report NAME: "STATE DETAIL" of NAME in the rogue's last report
	awk -F '\t' -v n="$1" '$1 == "report" && $2 == n {print $3 " " $4}' "$W/rogue.out" | tail -n 1
}
reported() { report "$1" | grep -q "^$2"; }	# reported NAME REGEX
in_guest2() { lpstat -h "$GUEST2_SERVER" -p "$1" >/dev/null 2>&1; }
set_file() {	# set_file NAME... : one printer each, with the generic driver
	local n
	for n in "$@"; do printf 'name=%s\ninfo=%s\nppd=%s\nend\n' "$n" "$n" "$GENERIC"; done
}

# --- 1. names compare as CUPS compares them: ignoring case ------------------------------
hcase names name_takes_over_person \
	"host queue \`Office\` while a person made \`office\` in the guest: the person's queue is untouched, the printer reported \`failed\`"
name_takes_over_person() {
	lpadmin -h "$GUEST" -p office -E -v "socket://127.0.0.1:9" -D "my own"
	lpadmin -h "$HOST" -p Office -E -v "ipp://$PS/printers/generic_pdf"
	failed_here() { [ "$(guest_state g1 Office)" = failed ]; }
	check "Office is reported failed" wait_for 15 failed_here
	check "because a queue of that name is not the agent's" bash -c "
		'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r '.guests[0].printers[] |
		select(.name == \"Office\") | .detail' | grep -q 'not made by printredir'"
	check "the person's queue keeps its device" bash -c "
		lpstat -h '$GUEST' -v office | grep -q 'socket://127.0.0.1:9'"
	check "and carries no mark of the agent" bash -c "
		! lpoptions -h '$GUEST' -p office | grep -q printredir-owner"
}
hcase names name_removal_spares_person \
	"host queue \`Office\` removed: the person's \`office\` stays"
name_removal_spares_person() {
	lpadmin -h "$HOST" -x Office
	gone() { [ -z "$(guest_state g1 Office)" ]; }
	wait_for 15 gone
	check "the person's office is still there" lpstat -h "$GUEST" -p office
	lpadmin -h "$GUEST" -x office
}
hcase names name_case_twins \
	"a set with \`Dup\` and \`dup\`: one queue, the second printer \`failed\` (same name to CUPS)"
name_case_twins() {
	set_file Dup dup >"$W/set"
	rogue "$W/set"
	check "Dup is installed" reported Dup installed
	check "dup is failed: the same queue name to CUPS" reported dup "failed the broker sent it besides Dup"
	check "the guest has one queue for the two" test "$(lpstat -h "$GUEST2_SERVER" -p | grep -ci '^printer dup ')" -eq 1
}

# --- 2. nothing unpacked without a bound -------------------------------------------------
hcase unpack gzip_driver \
	"a driver sent gzip-compressed: \`driver-rejected\` (libcups would unpack it without a bound), the others installed"
gzip_driver() {
	gzip -c "$GENERIC" >"$W/generic.ppd.gz"
	{ set_file plain_one; printf 'name=zipped\nppd=%s\nend\n' "$W/generic.ppd.gz"; } >"$W/set"
	rogue "$W/set"
	check "the gzip driver is rejected, saying why" reported zipped "driver-rejected .*gzip-compressed"
	check "the other printer is installed" reported plain_one installed
	check "no queue for it" bash -c "! lpstat -h '$GUEST2_SERVER' -p zipped >/dev/null 2>&1"
}

# --- 3. slow or huge answers from a print server -----------------------------------------
# slow_server BYTES INTERVAL_MS: a print server (tests/tools/slow-http) and
# a host queue "slowpoke" whose driver the broker fetches from it.
slow_server() {
	"$BUILD/tests/slow-http" -n "$1" -i "$2" >"$W/slow.out" &
	SLOW_PID=$!
	wait_for 5 grep -q '^port ' "$W/slow.out"
	lpadmin -h "$HOST" -p slowpoke -E -v "ipp://127.0.0.1:$(awk '{print $2}' "$W/slow.out")/printers/x"
}
slow_detail() {
	status_json | jq -r '.printers[] | select(.name == "slowpoke") | "\(.driver) \(.detail)"'
}
hcase slow trickling_server \
	"a print server that sends its PPD one byte a second: given up after \`fetch_timeout\` (3 s here), saying so; meanwhile a new printer and a removal go out at once"
trickling_server() {
	local t0 ms
	lpadmin -h "$HOST" -p known_one -E -v "ipp://$PS/printers/generic_pdf"
	known() { lpstat -h "$GUEST" -p known_one >/dev/null 2>&1; }
	wait_for 15 known
	slow_server 100000 1000
	fetching() { slow_detail | grep -q 'being fetched'; }
	wait_for 5 fetching
	t0=$(now_ms)
	lpadmin -h "$HOST" -p after_slow -E -v "ipp://$PS/printers/generic_pdf"
	arrived() { lpstat -h "$GUEST" -p after_slow >/dev/null 2>&1; }
	check "a new printer arrives meanwhile" wait_for 20 arrived
	ms=$(($(now_ms) - t0))
	check "at once, not after the slow fetch (${ms} ms)" test "$ms" -lt 2000
	check "while the slow driver is still being fetched" fetching
	t0=$(now_ms)
	lpadmin -h "$HOST" -x known_one
	gone() { ! known; }
	check "a known printer's removal reaches the guest" wait_for 10 gone
	ms=$(($(now_ms) - t0))
	check "at once too (${ms} ms)" test "$ms" -lt 2000
	too_slow() { slow_detail | grep -q 'too slow: .* did not arrive within 3s'; }
	check "the slow driver is given up, saying why" wait_for 10 too_slow
	kill "$SLOW_PID"
	lpadmin -h "$HOST" -x slowpoke
	lpadmin -h "$HOST" -x after_slow
}
hcase slow huge_answer \
	"a print server that answers 50 MB for a PPD: \`driver-rejected\`, over the size cap, read no further"
huge_answer() {
	slow_server 50000000 0
	huge() { slow_detail | grep -q '^rejected .*over the size cap'; }
	check "rejected, over the size cap" wait_for 15 huge
	kill "$SLOW_PID"
	lpadmin -h "$HOST" -x slowpoke
}

# --- 4. one bad printer never spoils the set ---------------------------------------------
hcase one_bad host_tab_in_description \
	"a TAB in a host queue's description: every printer still arrives; that one with the TAB replaced, and status says so"
host_tab_in_description() {
	lpadmin -h "$HOST" -p tabbed -E -v "ipp://$PS/printers/generic_pdf" -D "$(printf 'Floor 2\tEast')"
	arrived() { lpstat -h "$GUEST" -p tabbed >/dev/null 2>&1; }
	check "the queue arrives in the guest" wait_for 15 arrived
	check "with the TAB replaced by a space" bash -c "
		lpstat -h '$GUEST' -l -p tabbed | grep -q 'Description: Floor 2 East'"
	check "the broker's status says what it replaced" bash -c "
		'$BUILD/host-broker' status -c '$W/broker.conf' --json | jq -r '.printers[] |
		select(.name == \"tabbed\") | .detail' | grep -q 'control characters or bytes that are not UTF-8: sent with them replaced'"
	lpadmin -h "$HOST" -x tabbed
}
hcase one_bad rogue_tab_in_info \
	"a rogue set with a TAB in one printer's description: that printer \`failed\`, the rest installed, no reconnect loop"
rogue_tab_in_info() {
	{ set_file good_a; printf 'name=bad_info\ninfo=a\tb\nppd=%s\nend\n' "$GENERIC"; set_file good_b; } >"$W/set"
	rogue "$W/set"
	check "bad_info is failed, saying which field" reported bad_info "failed refused: printer: info has a control character"
	check "the others are installed" bash -c "
		grep -q '^report	good_a	installed' '$W/rogue.out' && grep -q '^report	good_b	installed' '$W/rogue.out'"
	check "the agent kept its one connection" test "$(grep -c 'connected to broker' "$W/agent-r1.log")" -eq "$RUNS"
}
hcase one_bad rogue_control_in_name \
	"a rogue set with a control character in a printer's name: that one is dropped (logged), the rest installed"
rogue_control_in_name() {
	{ printf 'name=ctl\001name\nppd=%s\nend\n' "$GENERIC"; set_file after_ctl; } >"$W/set"
	rogue "$W/set"
	check "the rest is installed" reported after_ctl installed
	check "the agent says what it dropped" grep -q 'a printer refused: printer: name has a control character' "$W/agent-r1.log"
}

hcase one_bad rogue_bad_uri \
	"a rogue set with a control character in one printer's device URI: that printer \`failed\`, the rest installed"
rogue_bad_uri() {
	{ printf 'name=bad_uri\nuri=ipp://x/\033[2J\nppd=%s\nend\n' "$GENERIC"; set_file uri_ok; } >"$W/set"
	rogue "$W/set"
	check "bad_uri is failed, saying which field" reported bad_uri "failed refused: printer: device uri has a control character"
	check "the other is installed" reported uri_ok installed
}
hcase one_bad rogue_long_name \
	"a rogue set with a 200-byte printer name: that one is dropped (logged), the rest installed"
rogue_long_name() {
	{ printf 'name=%s\nppd=%s\nend\n' "$(printf 'n%.0s' $(seq 200))" "$GENERIC"; set_file short_ok; } >"$W/set"
	rogue "$W/set"
	check "the rest is installed" reported short_ok installed
	check "the agent says what it dropped" grep -q 'a printer refused: printer: name is longer than 127 bytes' "$W/agent-r1.log"
}
hcase one_bad rogue_exact_twins \
	"a rogue set with one name twice: one queue, the second printer \`failed\`"
rogue_exact_twins() {
	set_file twin twin >"$W/set"
	rogue "$W/set"
	check "the second is failed" grep -q '^report	twin	failed	the broker sent it besides twin' "$W/rogue.out"
	check "the first is installed" grep -q '^report	twin	installed' "$W/rogue.out"
}
hcase one_bad rogue_driver_lies \
	"a rogue set whose driver does not match the hash sent for it: not stored, that printer \`failed\`, the rest installed"
rogue_driver_lies() {
	{ cat "$GENERIC"; echo "*% a driver no one sent before"; } >"$W/lie.ppd"
	{ printf 'name=lied_to\nppd=%s\ncorrupt=1\nend\n' "$W/lie.ppd"; set_file honest; } >"$W/set"
	rogue "$W/set"
	check "the agent refuses the driver" grep -q 'does not match its SHA-256; not stored' "$W/agent-r1.log"
	check "the printer is failed: no driver received" reported lied_to "failed driver .* was not received from the broker"
	check "the other is installed" reported honest installed
}

# --- 5. what a local user or a peer could exhaust ----------------------------------------
hcase exhaust tray_flood \
	"200 tray connections from one desk user: at most 4 kept, the refusal logged once, another user's tray still connects"
tray_flood() {
	local pid before max=0 n flooders
	pid=$(agent_pid g1)
	before=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
	setpriv --reuid=60001 --regid=60001 --clear-groups "$BUILD/tests/flood" \
		-s "$W/tray-g1.sock" -n 200 -t 4 >"$W/flood.out" 2>&1 &
	flooders=($!)
	refused() { grep -q 'refusing a tray of uid 60001' "$W/agent-g1.log"; }
	check "the flood is refused" wait_for 10 refused
	for _ in $(seq 20); do
		n=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
		[ "$n" -gt "$max" ] && max=$n
		sleep 0.1
	done
	check "it costs the agent at most 4 descriptors ($((max - before)))" test $((max - before)) -le 4
	check "the refusal is logged once" test "$(grep -c 'refusing a tray of uid 60001' "$W/agent-g1.log")" -eq 1
	setpriv --reuid=60002 --regid=60002 --clear-groups "$BUILD/tests/flood" \
		-s "$W/tray-g1.sock" -n 1 -t 2 >/dev/null 2>&1 &
	flooders+=($!)
	other() { grep -q 'tray of uid 60002 (pid [0-9]*) connected' "$W/agent-g1.log"; }
	check "another user's tray still connects" wait_for 10 other
	wait "${flooders[@]}"
}

# drivers_held ID: the drivers in agent ID's cache (SHA.ppd, and SHA.guest.ppd
# as rewritten for the guest)
drivers_held() { find "$W/agent-$1/drivers" -name '*.ppd' -printf '%.64f\n' | sort -u | wc -l; }
hcase exhaust orphan_drivers \
	"a rogue set with 20 drivers no printer uses: none stored, the one in use kept"
orphan_drivers() {
	local i
	{
		set_file uses_one
		for i in $(seq 20); do
			{ cat "$GENERIC"; echo "*% orphan $i"; } >"$W/orphan-$i.ppd"
			printf 'name=orphan_%s\nppd=%s\norphan=1\nend\n' "$i" "$W/orphan-$i.ppd"
		done
	} >"$W/set"
	rogue "$W/set"
	check "the printer is installed" reported uses_one installed
	check "the agent says it stores none of the 20" \
		test "$(grep -c 'is no printer.s; not stored' "$W/agent-r1.log")" -eq 20
	check "its cache holds the one driver in use" test "$(drivers_held r1)" -eq 1
}
hcase exhaust drivers_collected \
	"a driver no printer uses any more: removed from the agent's cache once the set without it is applied"
drivers_collected() {
	local old lines
	old=$(find "$W/agent-r1/drivers" -name '*.ppd' ! -name '*.guest.ppd')
	lines=$(wc -l <"$W/agent-r1.log")
	{ cat "$GENERIC"; echo "*% a newer driver"; } >"$W/newer.ppd"
	printf 'name=uses_one\nppd=%s\nend\n' "$W/newer.ppd" >"$W/set"
	rogue "$W/set"
	check "the printer is installed with the new driver" reported uses_one installed
	check "the old driver is gone from the cache" test ! -e "$old"
	check "only the new one is held" test "$(drivers_held r1)" -eq 1
	check "the agent says so" bash -c "tail -n +$((lines + 1)) '$W/agent-r1.log' |
		grep -q '2 driver files no printer uses removed from the cache'"
}
hcase exhaust invented_report \
	"a guest's report naming 1,500 printers the broker never sent, 4 KB of detail each: ignored, status bounded by the host's set"
invented_report() {
	local n offered
	guest_key g-inv
	"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g-inv" -i g-inv -o "$W" \
		-r -x 1500 -n 1 -t 20 >"$W/probe.out" 2>&1
	ignored_names() { grep -q 'guest g-inv: its report names 1500 printers this broker does not offer; ignored' "$W/broker.log"; }
	check "the broker says what it ignored" wait_for 10 ignored_names
	offered=$(awk -F '\t' '$1 == "printer"' "$W/probe.out" | wc -l)
	n=$(status_json | jq '.guests[] | select(.id == "g-inv") | .printers | length')
	check "status keeps the $offered printers offered, no more ($n)" test "$n" -eq "$offered"
	check "the status document stays small" test "$(status_json | wc -c)" -lt 200000
}
hcase exhaust future_report \
	"a guest's report on a generation the broker never made: ignored, saying so"
future_report() {
	local gen
	"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g-inv" -i g-inv -o "$W" \
		-r -f -n 1 -t 20 >"$W/probe.out" 2>&1
	ignored_gen() { grep -q 'guest g-inv: a report on generation [0-9]*, which this broker never made' "$W/broker.log"; }
	check "the broker says it ignored it" wait_for 10 ignored_gen
	gen=$(status_json | jq '.guests[] | select(.id == "g-inv") | .generation')
	check "the guest's generation is not the invented one ($gen)" test "$gen" -lt 1000000
}

# --- 6. a stricter policy applies to what is installed ----------------------------------
hcase policy policy_shrinks \
	"\`max_ppd\` lowered under the installed drivers, then SIGHUP: their queues are removed, \`driver-rejected\` saying why; raised again, they come back"
policy_shrinks() {
	sed -i 's/^\[agent\]$/[agent]\nmax_ppd = 2000/' "$W/agent-g1.conf"
	kill -HUP "$(agent_pid g1)"
	removed() { ! lpstat -h "$GUEST" -p net_generic_pdf >/dev/null 2>&1; }
	check "the queue made with a driver now too big is removed" wait_for 20 removed
	said_why() {
		status_json | jq -r '.guests[] | select(.id == "g1") | .printers[] |
			select(.name == "net_generic_pdf") | "\(.state) \(.detail)"' |
			grep -q '^driver-rejected .*over the size cap of 2000 bytes; its queue is removed'
	}
	check "reported driver-rejected, saying why" wait_for 10 said_why
	sed -i '/^max_ppd = 2000$/d' "$W/agent-g1.conf"
	kill -HUP "$(agent_pid g1)"
	back() { lpstat -h "$GUEST" -p net_generic_pdf >/dev/null 2>&1; }
	check "raised again, it comes back" wait_for 20 back
}

# --- 7. drivers that parse but would not behave ------------------------------------------
hcase drivers no_nickname \
	"a driver without \`*NickName\`: \`driver-rejected\` (cupsd would call it a bad PPD file)"
no_nickname() {
	grep -v '^\*NickName' "$GENERIC" >"$W/nonick.ppd"
	{ printf 'name=nonick\nppd=%s\nend\n' "$W/nonick.ppd"; } >"$W/set"
	rogue "$W/set"
	check "rejected, saying why" reported nonick "driver-rejected .*no \*NickName"
}
hcase drivers many_options \
	"a driver with 1,001 options: \`driver-rejected\` before libcups parses it"
many_options() {
	awk '{print} /^\*NickName/ {for (i = 0; i < 1001; i++) printf "*OpenUI *O%d/O: PickOne\n*DefaultO%d: a\n*O%d a: \"\"\n*CloseUI: *O%d\n", i, i, i, i}' \
		"$GENERIC" >"$W/many.ppd"
	{ printf 'name=many\nppd=%s\nend\n' "$W/many.ppd"; } >"$W/set"
	rogue "$W/set"
	check "rejected, saying why" reported many "driver-rejected .*options, at most 1000"
}
hcase drivers postscript_in_driver \
	"a print server's driver whose default option code and \`*JobPatchFile\` draw on every page: a PostScript document printed in the guest reaches the host as plain PDF with neither (the guest's Ghostscript runs no driver code)"
postscript_in_driver() {
	local f
	{
		cat "$GENERIC"
		cat <<'PPD'
*OpenUI *PrProbe/Probe: PickOne
*OrderDependency: 10 AnySetup *PrProbe
*DefaultPrProbe: On
*PrProbe On/On: "<< /BeginPage { pop /Helvetica findfont 30 scalefont setfont 50 50 moveto (INJECTEDBYPPD) show } >> setpagedevice"
*PrProbe Off/Off: ""
*CloseUI: *PrProbe
*JobPatchFile 1: "/Helvetica findfont 30 scalefont setfont 50 300 moveto (PATCHFILERAN) show"
PPD
	} >"$W/probe.ppd"
	lpadmin -h "$PS" -p ps_probe -E -v "socket://127.0.0.1:9" -P "$W/probe.ppd" 2>/dev/null
	# Held on the host: its spool file is what left the guest.
	lpadmin -h "$HOST" -p ps_probe -E -v "ipp://$PS/printers/ps_probe" \
		-o job-hold-until-default=indefinite
	arrived() { lpstat -h "$GUEST" -p ps_probe >/dev/null 2>&1; }
	check "the queue arrives in the guest" wait_for 20 arrived
	check "with the option, for the print dialog" bash -c "lpoptions -h '$GUEST' -p ps_probe -l | grep -q '^PrProbe'"
	printf '%%!PS-Adobe-3.0\n%%%%Pages: 1\n%%%%Page: 1 1\n/Helvetica findfont 24 scalefont setfont 72 720 moveto (printredir probe) show\nshowpage\n' >"$W/job.ps"
	lp -h "$GUEST" -d ps_probe "$W/job.ps" >/dev/null
	# Held on the host with the whole document (the guest's job waits
	# until the host job ends).
	handed() { "$BUILD/tests/jobattrs" "$HOST" ps_probe | grep -q '^number-of-documents=1$'; }
	check "the job reaches the host" wait_for 30 handed
	f=$(ls -t "$W"/world/host/spool/d* | head -1)
	check "as plain PDF, no PJL of the driver's before it" bash -c "head -c 5 '$f' | grep -q '^%PDF-'"
	check "with the document's text" bash -c "pdftotext '$f' - | grep -q 'printredir probe'"
	check "and none of the driver's code run" bash -c "! pdftotext '$f' - | grep -q 'INJECTEDBYPPD\|PATCHFILERAN'"
	cancel -h "$HOST" -a ps_probe
	lpadmin -h "$HOST" -x ps_probe
	lpadmin -h "$PS" -x ps_probe
}

# --- 8. names that no person means ------------------------------------------------------
hcase text odd_names \
	"printers named \`.\`, \`..\` and \`-x\`: \`failed\`; one that is not UTF-8: dropped (logged); nothing installed for them"
odd_names() {
	set_file . .. -x "$(printf 'caf\xe9')" odd_ok >"$W/set"
	rogue "$W/set"
	local n
	for n in . .. -x; do
		check "\"$n\" is failed as no valid queue name" reported "$n" "failed not a valid CUPS queue name"
	done
	check "the one that is not UTF-8 is dropped, saying why" \
		grep -q 'a printer refused: printer: name is not UTF-8' "$W/agent-r1.log"
	check "the valid one is installed" reported odd_ok installed
	check "the guest has no queue for them" bash -c "
		[ \"\$(lpstat -h '$GUEST2_SERVER' -p | awk '\$1 == \"printer\" {print \$2}' | grep -c -e '^\\.' -e '^-')\" -eq 0 ]"
}

# --- what already held: the channel, the configuration, the control socket -------------
hcase channel wrong_key \
	"an agent with a key the broker did not derive: refused with a clear reason, the others served"
wrong_key() {
	head -c 32 /dev/urandom | base64 >"$W/bad.key"
	chmod 600 "$W/bad.key"
	"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/bad.key" -i g1 -t 5 >"$W/probe.out" 2>&1
	check "the probe is refused: authentication failed" grep -q 'closed.*authentication failed' "$W/probe.out"
}
hcase channel keyless_flood \
	"1,000 idle connections that never prove a key: the broker keeps serving, a real agent still connects"
keyless_flood() {
	"$BUILD/tests/flood" -s "$W/broker.sock" -n 1000 -t 6 >"$W/flood.out" 2>&1 &
	local fpid=$!
	wait_for 10 grep -q opened "$W/flood.out"
	# A full listen backlog refuses a connect (EAGAIN): an agent tries again.
	got_set() {
		"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-r1" -i r1 -o "$W" -t 5 \
			>"$W/probe.out" 2>&1 && grep -q '^set	' "$W/probe.out"
	}
	check "a real agent gets its printer set meanwhile" wait_for 15 got_set
	check "while the flood still holds its connections" kill -0 "$fpid"
	check "the broker says it dropped the oldest" grep -q 'connections wait for a handshake: dropped the oldest' "$W/broker.log"
	wait "$fpid"
}
hcase channel revoked_while_connected \
	"a guest taken off \`[guests] allow\` while connected, then SIGHUP: its session is closed, saying why; the others keep theirs"
revoked_while_connected() {
	local probe lines
	guest_key g-rev
	"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-g-rev" -i g-rev -o "$W" -n 2 -t 30 \
		>"$W/rev.out" 2>&1 &
	probe=$!
	check "g-rev is connected" wait_for 10 grep -q '^set	' "$W/rev.out"
	lines=$(wc -l <"$W/broker.log")
	sed -i 's/^\[broker\]$/[guests]\nallow = g1 r1\n[broker]/' "$W/broker.conf"
	kill -HUP "$BROKER_PID"
	check "its session is closed, saying why" wait_for 10 grep -q \
		'^closed	.*this guest is no longer allowed on this host' "$W/rev.out"
	check "g1 keeps its session" bash -c "! tail -n +$((lines + 1)) '$W/broker.log' |
		grep -q 'guest g1 disconnected'"
	sed -i '/^\[guests\]$/d; /^allow = g1 r1$/d' "$W/broker.conf"
	kill -HUP "$BROKER_PID"
	wait "$probe"
}
hcase jobs job_socket_desk_user \
	"a desk user connects to the agent's job socket: refused (only root and cupsd's backend user hand over jobs)"
job_socket_desk_user() {
	setpriv --reuid=60001 --regid=60001 --clear-groups "$BUILD/tests/flood" \
		-s "$GUEST_JOB_SOCKET" -n 1 -t 1 >/dev/null 2>&1
	refused() { grep -q 'job socket: refusing uid 60001' "$W/agent-g1.log"; }
	check "refused, and logged with its uid" wait_for 5 refused
}
hcase control control_socket_other_user \
	"another user asks the broker's status: no answer (the control socket is its owner's), exit status 3"
control_socket_other_user() {
	setpriv --reuid=60001 --regid=60001 --clear-groups "$BUILD/host-broker" status \
		-c "$W/broker.conf" >"$W/status.out" 2>&1
	check "exit status 3" test $? -eq 3
	check "saying it could not reach the broker" grep -qi 'permission denied' "$W/status.out"
}
hcase config key_file_open \
	"a key file other users can read: the broker refuses to start, saying how to fix it"
key_file_open() {
	cp "$W/key" "$W/open.key"
	chmod 644 "$W/open.key"
	sed "s|^key_file = .*|key_file = $W/open.key|; s|^control = .*|control = unix:$W/c2.sock|; s|^listen = .*|listen = unix:$W/b2.sock|" \
		"$W/broker.conf" >"$W/open.conf"
	timeout 10 "$BUILD/host-broker" -c "$W/open.conf" >"$W/open.out" 2>&1
	check "it does not start" test $? -ne 0 -a $? -ne 124
	check "and says chmod 600" grep -q 'chmod 600' "$W/open.out"
}
# typo PROGRAM CONF KEY: PROGRAM -c CONF, whose KEY is not a key of it.
typo() {
	"$BUILD/$1" -c "$2" >"$W/typo.out" 2>&1
	check "exit status 2" test $? -eq 2
	check "the message names file, line and key" grep -q "$(basename "$2"):[0-9]*.*$3" "$W/typo.out"
}
hcase config broker_unknown_key \
	"an administrator's typo in broker.conf: exit status 2, the message names file, line and key"
broker_unknown_key() {
	printf '[broker]\nlisten = unix:%s/x.sock\nkey_fiel = %s/key\n' "$W" "$W" >"$W/typo.conf"
	typo host-broker "$W/typo.conf" key_fiel
}
hcase config agent_unknown_key \
	"a typo in agent.conf: exit status 2, the message names file, line and key"
agent_unknown_key() {
	sed 's/^guest_id = /guest_idd = /' "$W/agent-g1.conf" >"$W/typo-agent.conf"
	typo guest-agent "$W/typo-agent.conf" guest_idd
}
hcase config agent_key_open \
	"an agent key file other users can read: the agent refuses to start, saying how to fix it"
agent_key_open() {
	cp "$W/key-g1" "$W/open-g1.key"
	chmod 644 "$W/open-g1.key"
	sed "s|^key_file = .*|key_file = $W/open-g1.key|" "$W/agent-g1.conf" >"$W/open-agent.conf"
	timeout 10 "$BUILD/guest-agent" -c "$W/open-agent.conf" >"$W/open.out" 2>&1
	check "it does not start" test $? -ne 0 -a $? -ne 124
	check "and says chmod 600" grep -q 'chmod 600' "$W/open.out"
}
hcase control control_socket_mode \
	"the control socket: mode 0600, so only its owner asks the broker"
control_socket_mode() {
	check "mode 0600" test "$(stat -c %a "$W/control.sock")" = 600
}

source "$(dirname "$0")/held.sh"
if [ -n "$LIST" ]; then
	echo "| # | class | case |"
	echo "| --- | --- | --- |"
	i=0
	for c in "${CASES[@]}"; do
		i=$((i + 1))
		IFS='|' read -r cls _ what <<<"$c"
		echo "| $i | $cls | $what |"
	done
	exit 0
fi

# The invariant after every case: both daemons serve, g1 holds its printers.
serving() {
	check "  (the broker answers status)" eval 'status_json >/dev/null'
	check "  (agent g1 runs)" kill -0 "$(agent_pid g1)"
	check "  (and still holds net_generic_pdf)" eval 'lpstat -h "$GUEST" -p net_generic_pdf >/dev/null'
}

world_start 2
broker_conf "print_server = $PS
fetch_timeout = 3s"
broker_start || exit 1
agent_conf g1
agent_start g1
check "the agent reports to the broker" wait_for 30 guest_synced g1
AGENT_CUPS=$GUEST2_SERVER AGENT_JOBS=$GUEST2_JOB_SOCKET agent_conf r1
sed -i "s|^broker = .*|broker = unix:$W/rogue.sock|" "$W/agent-r1.conf"
RUNS=0	# connections of agent r1 so far (one a rogue case)
i=0
for c in "${CASES[@]}"; do
	i=$((i + 1))
	IFS='|' read -r cls fn what <<<"$c"
	echo "--- case $i ($cls): $fn"
	before=$FAILED
	declare -f "$fn" | grep -q 'rogue "' && RUNS=$((RUNS + 1))
	"$fn"
	serving
	[ "$FAILED" -eq "$before" ] && echo "case $i: PASS" || echo "case $i: FAIL"
done
finish
