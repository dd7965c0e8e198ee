# shellcheck shell=bash
# shellcheck disable=SC2154	# W, BUILD, GUEST... come from tests/e2e/lib.sh and cases.sh
# tests/hostile/held.sh: cases for boundaries that held when they were
# first tried, sourced by cases.sh after its own cases (same table, same
# runner, same check after each case).  Each sends one hostile input, with
# tests/tools/rawpeer, to one of the daemons' doors: the broker's guest
# listener and control socket, the agent's tray and job sockets, and, in
# the rogue broker's place, agent r1; or gives a daemon a broken
# configuration.  Each asserts the specific error the sender gets or the
# log says, and that only that connection suffered.

# --- helpers ---------------------------------------------------------------------------
# mark: the logs' lengths now; since_* print what came after, so that a
# case asserts on its own lines only.
mark() {
	B0=$(wc -l <"$W/broker.log")
	A0=$(wc -l <"$W/agent-g1.log")
	R0=$(cat "$W/agent-r1.log" 2>/dev/null | wc -l)
}
since_broker() { tail -n "+$((B0 + 1))" "$W/broker.log"; }
since_agent() { tail -n "+$((A0 + 1))" "$W/agent-g1.log"; }
since_r1() { tail -n "+$((R0 + 1))" "$W/agent-r1.log"; }
said() { since_broker | grep -aqF -- "$1"; }		# said TEXT: the broker logged it
not_said() { ! said "$1"; }
agent_said() { since_agent | grep -aqF -- "$1"; }	# agent g1 logged it
agent_not_said() { ! agent_said "$1"; }
r1_said() { since_r1 | grep -aqF -- "$1"; }
# No raw ESC or 0xff byte reached a log since the mark: what a peer sent
# is quoted.
clean_since() { ! "$1" | LC_ALL=C grep -aq $'[\033\377]'; }
# Agent g1's own connection to the broker lived through the case.
g1_kept() { ! since_broker | grep -aqE 'guest g1 (disconnected|connected again)'; }
broker_fds() { find "/proc/$BROKER_PID/fd" -mindepth 1 | wc -l; }
fds_at_most() { [ "$(broker_fds)" -le "$1" ]; }

# raw TARGET OPTIONS/STEPS...: tests/tools/rawpeer connected to TARGET;
# what comes back in $W/raw.out, how it ended ("end ...") in $W/raw.end.
raw() {
	local to=$1
	shift
	"$BUILD/tests/rawpeer" -c "$to" "$@" >"$W/raw.out" 2>"$W/raw.end"
}
to_broker() { raw "$W/broker.sock" -f "$@"; }
# answered CODE MESSAGE: the peer got an Error frame with them.
answered() { grep -aqF "$(printf 'error\t%s\t%s' "$1" "$2")" "$W/raw.out"; }
got_frame() { grep -aq "^frame	.*	$1" "$W/raw.out"; }
ended() { grep -q "^end $1 " "$W/raw.end"; }		# ended eof|reset|timeout
end_field() { sed -n "s/^end .* $1=\([0-9]*\).*/\1/p" "$W/raw.end"; }
nothing_back() { [ "$(end_field received)" = 0 ]; }
between() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -lt "$3" ]; }

# to_r1 STEP...: listens where agent r1 looks for its broker, takes r1's
# connection and sends STEPs once r1's Hello has come ($W/raw.out,
# $W/raw.end).  r1 is left running: the case stops it.
to_r1() {
	"$BUILD/tests/rawpeer" -l "$W/rogue.sock" -f -t 10 expect "$@" >"$W/raw.out" 2>"$W/raw.end" &
	local pid=$!
	wait_for 5 test -S "$W/rogue.sock"
	agent_start r1
	wait "$pid"
}

g1_jobs() {	# accepted, refused and retried jobs of g1 as the broker counts them
	status_json | jq -r '.guests[] | select(.id == "g1") | .jobs | "\(.accepted) \(.refused) \(.retried)"'
}
printed() { find "$OUTPUT_DIR" -type f | wc -l; }	# jobs the print server received
as_desk() { setpriv --reuid=60001 --regid=60001 --clear-groups "$@"; }
to_tray() {	# as desk user 60001; the agent keeps a good tray: wait 1 s at most
	as_desk "$BUILD/tests/rawpeer" -c "$W/tray-g1.sock" -t 1 "$@" >"$W/raw.out" 2>"$W/raw.end"
}
# A config like the broker's own but on sockets of its own, so that a
# broker started by mistake never touches the one that serves.
side_conf() {	# side_conf OUT [SED-SCRIPT]
	sed "s|^control = .*|control = unix:$W/c2.sock|; s|^listen = .*|listen = unix:$W/b2.sock|; ${2:-}" \
		"$W/broker.conf" >"$1"
}
# run_broker CONF: host-broker on CONF; output in $W/conf.out, status in RC.
run_broker() {
	timeout 10 "$BUILD/host-broker" -c "$1" >"$W/conf.out" 2>&1
	RC=$?
}

# --- the frame reader, on the broker's guest listener ----------------------------------
# A frame header is "PR", format 1, flags (0 plain, 1 sealed), a length
# (u32 big-endian): 5052 01 00 LLLLLLLL.
hcase frame frame_over_cap \
	"a frame header announcing 1 MiB before the handshake (the cap is 64 KiB until then): \`ERR_TOO_LARGE\` saying the cap, that connection closed, the broker's descriptors back where they were"
frame_over_cap() {
	local fds
	mark
	fds=$(broker_fds)
	to_broker hex:5052010000100000
	check "answered ERR_TOO_LARGE, naming the cap" answered ERR_TOO_LARGE "frame of 1048576 bytes is over the cap of 65536"
	check "then closed" ended eof
	check "the broker logs it" said "frame of 1048576 bytes is over the cap of 65536"
	check "its descriptor is released" wait_for 5 fds_at_most "$fds"
	check "g1's connection lives on" g1_kept
}
hcase frame frame_cut_short \
	"a header announcing 100 bytes, 2 of them, then the end: closed before the handshake, saying so; its descriptor released"
frame_cut_short() {
	local fds
	mark
	fds=$(broker_fds)
	to_broker -w hex:5052010000000064 hex:0803
	check "nothing is answered to half a frame" nothing_back
	check "the broker says the peer closed before the handshake" \
		said ": closed before the handshake completed: connection closed by peer"
	check "its descriptor is released" wait_for 5 fds_at_most "$fds"
	check "g1's connection lives on" g1_kept
}
hcase frame frame_empty \
	"a frame of length 0: \`ERR_PROTOCOL\` \"empty frame\", that connection closed"
frame_empty() {
	mark
	to_broker hex:5052010000000000
	check "answered ERR_PROTOCOL: empty frame" answered ERR_PROTOCOL "empty frame"
	check "then closed" ended eof
	check "the broker logs it" said ": empty frame"
	check "g1's connection lives on" g1_kept
}
hcase frame frame_http \
	"an HTTP request instead of the handshake (a web client at the broker's address): \`ERR_PROTOCOL\` quoting its first bytes"
frame_http() {
	mark
	to_broker text:$'GET / HTTP/1.1\r\nHost: broker\r\n\r\n'
	check "answered: not a printredir frame, quoting it" answered ERR_PROTOCOL 'not a printredir frame (header "GET / HT")'
	check "then closed" ended eof
	check "the broker logs the same" said 'not a printredir frame (header "GET / HT")'
	check "g1's connection lives on" g1_kept
}
hcase frame frame_unknown_type \
	"a frame that decodes to message type 99: \`ERR_PROTOCOL\` \"unknown message type 99\", the frame's first bytes logged, escaped"
frame_unknown_type() {
	mark
	# An Envelope: version (field 1) 3, type (field 2) 99, no body.
	to_broker frame:08031063
	check "answered ERR_PROTOCOL: unknown message type 99" answered ERR_PROTOCOL "unknown message type 99"
	check "logged with an escaped sample of the frame" \
		said 'bad frame of 4 bytes: unknown message type 99 (starts "\x08\x03\x10c")'
	check "g1's connection lives on" g1_kept
}
hcase frame frame_job_first \
	"a valid JobStart sent before any handshake: \`ERR_PROTOCOL\`, no job at the host"
frame_job_first() {
	local jobs
	jobs=$(g1_jobs)
	mark
	to_broker job:1:net_generic_pdf
	check "answered: unexpected job-start during the handshake" \
		answered ERR_PROTOCOL "unexpected job-start message during the handshake"
	check "then closed" ended eof
	check "no job reached the submitter" not_said "job on"
	check "no guest's job counts moved" test "$(g1_jobs)" = "$jobs"
	check "g1's connection lives on" g1_kept
}
hcase frame slowloris \
	"a Hello sent one byte a second: cut at the 5 s deadline with \`ERR_TIMEOUT\`; a real agent connects meanwhile"
slowloris() {
	local pid ms
	mark
	"$BUILD/tests/rawpeer" -c "$W/broker.sock" -f -b 1000 -t 15 hello:slow >"$W/raw.out" 2>"$W/raw.end" &
	pid=$!
	"$BUILD/tests/probe" -a "unix:$W/broker.sock" -k "$W/key-r1" -i r1 -o "$W" -t 10 >"$W/probe.out" 2>&1
	check "a real agent gets its printer set meanwhile" grep -q '^set	' "$W/probe.out"
	wait "$pid"
	check "the slow one is told: handshake timed out" answered ERR_TIMEOUT "handshake timed out"
	ms=$(end_field ms)
	check "at the deadline (${ms:-?} ms)" between "$ms" 4500 7000
	check "before its Hello was whole ($(end_field sent) bytes)" test "$(end_field sent)" -lt 20
	check "the broker logs it" said ": closed before the handshake completed: handshake timed out"
	check "g1's connection lives on" g1_kept
}

# --- the frame reader, on the agent (a "broker" that is not one) ------------------------
hcase frame agent_frame_over_cap \
	"a \"broker\" whose first frame announces 1 MiB (the agent's cap before the handshake is 64 KiB): the agent answers \`ERR_TOO_LARGE\`, drops that connection and tries again later"
agent_frame_over_cap() {
	mark
	to_r1 hex:5052010000100000
	check "answered ERR_TOO_LARGE, naming the cap" answered ERR_TOO_LARGE "frame of 1048576 bytes is over the cap of 65536"
	check "the agent says why it gave up that broker" \
		wait_for 5 r1_said "broker connection failed: frame of 1048576 bytes is over the cap of 65536"
	check "and runs on" kill -0 "$(agent_pid r1)"
	agent_stop r1
}
hcase frame agent_set_first \
	"a \"broker\" that sends a printer set instead of its challenge: \`ERR_PROTOCOL\`, nothing installed"
agent_set_first() {
	mark
	# An Envelope: version 3, type 4, printer_set (field 13) { generation 1,
	# printers { name "pwned", driver_state missing } }.
	to_r1 frame:080310046a0d080112090a0570776e65643002
	check "answered: unexpected printer-set during the handshake" \
		answered ERR_PROTOCOL "unexpected printer-set message during the handshake"
	check "the agent says why it gave up that broker" \
		wait_for 5 r1_said "broker connection failed: unexpected printer-set message during the handshake"
	check "no queue for it" bash -c "! lpstat -h '$GUEST2_SERVER' -p pwned >/dev/null 2>&1"
	check "the agent runs on" kill -0 "$(agent_pid r1)"
	agent_stop r1
}

# --- the handshake ---------------------------------------------------------------------
r1_connected() {
	status_json | jq -e '.guests[] | select(.id == "r1") | .connected' >/dev/null
}
hcase handshake replayed_handshake \
	"an agent's handshake recorded on the way (tests/tools/relay) and replayed while its session is up: authentication failed after a fresh challenge; the real session stays"
replayed_handshake() {
	local relay probe
	"$BUILD/tests/relay" -l "$W/relay.sock" -c "$W/broker.sock" -w "$W/relay.cap" -a "$W/agent.cap" &
	relay=$!
	wait_for 5 test -S "$W/relay.sock"
	mark
	# -n 2: it waits for a second set, which does not come: its session stays.
	"$BUILD/tests/probe" -a "unix:$W/relay.sock" -k "$W/key-r1" -i r1 -o "$W" -n 2 -t 30 >"$W/probe.out" 2>&1 &
	probe=$!
	check "a real agent's session is up through the relay" wait_for 10 grep -q '^set	' "$W/probe.out"
	to_broker "file:$W/agent.cap"
	check "the replay gets a fresh challenge" got_frame auth-challenge
	check "and then authentication failed" \
		answered ERR_AUTH_FAILED 'authentication failed: agent "r1" does not hold its key'
	check "it took no session" not_said "guest r1 connected again"
	check "the real session is still up" r1_connected
	kill "$probe" "$relay"
	wait "$probe" "$relay" 2>/dev/null
	check "g1's connection lives on" g1_kept
}
hcase handshake id_too_long \
	"a Hello with a 200-byte guest id: \`ERR_PROTOCOL\` \"peer id is longer than 127 bytes\", no key derived"
id_too_long() {
	mark
	to_broker "hello:$(printf 'g%.0s' $(seq 200))"
	check "answered: peer id is longer than 127 bytes" answered ERR_PROTOCOL "hello: peer id is longer than 127 bytes"
	check "no challenge was sent" bash -c "! grep -q auth-challenge '$W/raw.out'"
	check "g1's connection lives on" g1_kept
}
hcase handshake id_escape \
	"a Hello whose guest id holds a terminal escape (\`g1 ESC [2J\`): \`ERR_PROTOCOL\`, the log shows it escaped"
id_escape() {
	mark
	to_broker hello:$'g1\033[2J'
	check "answered: peer id has a control character" answered ERR_PROTOCOL "hello: peer id has a control character"
	check "the broker logs it, escaped" said 'g1\x1b[2J'
	check "no raw escape reached the log" clean_since since_broker
	check "g1's connection lives on" g1_kept
}
hcase handshake id_not_text \
	"Hellos whose guest id is not UTF-8 (\`caf\\xe9\`) or holds a C1 control (CSI, \`\\xc2\\x9b\`): \`ERR_PROTOCOL\`, no challenge, the log shows them escaped"
id_not_text() {
	mark
	to_broker hello:$'caf\xe9'
	check "answered: peer id is not UTF-8" answered ERR_PROTOCOL "hello: peer id is not UTF-8"
	check "no challenge was sent" bash -c "! grep -q auth-challenge '$W/raw.out'"
	to_broker hello:$'x\xc2\x9b31m'
	check "answered: peer id has a control character" answered ERR_PROTOCOL "hello: peer id has a control character"
	check "no raw byte of them reached the log" bash -c "! tail -n +$((B0 + 1)) '$W/broker.log' |
		LC_ALL=C grep -aq -e \$'\\xe9' -e \$'\\xc2\\x9b'"
	check "g1's connection lives on" g1_kept
}
hcase handshake old_version \
	"a Hello speaking protocol versions 1..2 only: \`ERR_UNSUPPORTED_VERSION\` naming both ranges and what to do"
old_version() {
	mark
	to_broker -V 1,2 hello:old
	check "answered ERR_UNSUPPORTED_VERSION with both ranges" answered ERR_UNSUPPORTED_VERSION \
		'unsupported protocol version: peer "old" speaks 1..2, we speak 3..3; upgrade the older side'
	check "the broker logs it" said 'peer "old" speaks 1..2, we speak 3..3'
	check "g1's connection lives on" g1_kept
}
hcase handshake handshake_halfway \
	"a Hello claiming g1, then silence after the challenge: \`ERR_TIMEOUT\` at the 5 s deadline; the real g1 is not disturbed"
handshake_halfway() {
	local ms
	mark
	to_broker -t 15 hello:g1 expect
	check "it got the challenge" got_frame auth-challenge
	check "then: handshake timed out" answered ERR_TIMEOUT "handshake timed out"
	ms=$(end_field ms)
	check "at the deadline (${ms:-?} ms)" between "$ms" 4500 7000
	check "the real g1's connection lives on" g1_kept
}

# --- the control socket ----------------------------------------------------------------
to_control() { raw "$W/control.sock" "$@"; }
control_error() { [ "$(jq -r .error "$W/raw.out" 2>/dev/null)" = "$1" ]; }
hcase control control_garbage \
	"binary bytes and a terminal escape on the control socket: \`{\"error\": \"unknown request ...\"}\` quoting them escaped"
control_garbage() {
	mark
	to_control hex:00ff1b5b324a0a
	check "answered an error quoting the bytes, escaped" \
		control_error 'unknown request "\x00\xff\x1b[2J" (the requests are "status" and "summary")'
	check "logged, escaped" said 'control: unknown request "\x00\xff\x1b[2J"'
	check "no raw escape reached the log" clean_since since_broker
}
hcase control control_huge_line \
	"a request of 10,000 bytes without a newline: dropped after 256, logged with a 64-byte sample, nothing answered"
control_huge_line() {
	mark
	to_control "text:$(printf 'a%.0s' $(seq 10000))"
	check "nothing answered" nothing_back
	check "logged: over 256 bytes, with a short sample" \
		said "control: dropping a client whose request is over 256 bytes: \"$(printf 'a%.0s' $(seq 64))...\""
}
hcase control control_unknown \
	"an unknown command (\`reload\`): \`{\"error\": ...}\` naming the requests there are"
control_unknown() {
	mark
	to_control text:$'reload\n'
	check "answered an error naming the requests there are" \
		control_error 'unknown request "reload" (the requests are "status" and "summary")'
	check "logged" said 'control: unknown request "reload"'
}
hcase control control_no_newline \
	"\`status\` without its newline, then the end of the request: answered with the whole status"
control_no_newline() {
	to_control -w text:status
	check "answered the status document" jq -e '.broker.generation >= 1 and (.guests | length) >= 1' "$W/raw.out"
}
hcase control control_crowd \
	"100 \`host-broker status\` at once while 50 idle clients hold the control socket: every one answered"
control_crowd() {
	local flood pids=() ok=0 valid=0 p i
	"$BUILD/tests/flood" -s "$W/control.sock" -n 50 -t 4 >"$W/flood.out" 2>&1 &
	flood=$!
	wait_for 5 grep -q 'opened 50' "$W/flood.out"
	for i in $(seq 100); do
		"$BUILD/host-broker" status -c "$W/broker.conf" --json >"$W/crowd.$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done
	for i in $(seq 100); do jq -e '.broker.generation >= 1' "$W/crowd.$i" >/dev/null 2>&1 && valid=$((valid + 1)); done
	check "the 50 idle clients were let in" grep -q 'opened 50' "$W/flood.out"
	check "all 100 exit 0 ($ok)" test "$ok" -eq 100
	check "all 100 got the status document ($valid)" test "$valid" -eq 100
	kill "$flood"
	wait "$flood" 2>/dev/null
	rm -f "$W"/crowd.*
}

# --- the tray socket, from a desk user ---------------------------------------------------
HELLO='{"type":"hello","notifications":true}'
hcase tray tray_long_line \
	"a tray line of 5,000 bytes (the cap is 4 KiB): that tray closed, \"line too long\"; the same user's next tray is kept"
tray_long_line() {
	mark
	to_tray "text:{\"type\":\"hello\",\"x\":\"$(printf 'a%.0s' $(seq 5000))\"}"$'\n'
	check "that tray is closed: line too long" agent_said "tray of uid 60001 left: line too long"
	to_tray "text:$HELLO"$'\n'
	check "the user's next tray is kept" agent_said "tray of uid 60001 can ask the user"
}
hcase tray tray_not_json \
	"a tray line that is not JSON: refused, saying where it breaks; the same tray's next line is taken"
tray_not_json() {
	mark
	to_tray text:$'{"type":"hello",\n'"$HELLO"$'\n'
	check "refused, saying where" agent_said "tray of uid 60001: line refused (it is not JSON: unexpected end of data at byte 16)"
	check "its next line is taken" agent_said "tray of uid 60001 can ask the user"
}
hcase tray tray_not_utf8 \
	"tray lines that are not UTF-8 (\`\\xff\\xfe\`, a type \`hel\\xfflo\`): refused, no raw byte in the log; the next line is taken"
tray_not_utf8() {
	mark
	to_tray text:$'\xff\xfe\033[2J\n{"type":"hel\xfflo"}\n'"$HELLO"$'\n'
	check "the binary line is refused as not JSON" \
		agent_said "tray of uid 60001: line refused (it is not JSON: unexpected character at byte 0)"
	check "the bad type is refused" agent_said "tray of uid 60001: line refused (an unknown \"type\")"
	check "no raw byte reached the log" clean_since since_agent
	check "its next line is taken" agent_said "tray of uid 60001 can ask the user"
}
g1_restart() { status_json | jq -r '.guests[] | select(.id == "g1") | .restart'; }
hcase tray tray_stray_answer \
	"a tray's answer \"now\" to prompt 999, which was never shown: ignored, the restart state unchanged"
tray_stray_answer() {
	local before
	before=$(g1_restart)
	mark
	to_tray "text:$HELLO"$'\n{"type":"answer","id":999,"choice":"now"}\n'
	check "the answer is ignored, saying why" agent_said "tray of uid 60001 answered prompt 999, which it was not asked; ignored"
	check "nothing restarts" agent_not_said "restart restarting"
	check "the state the broker has is unchanged ($before)" test "$(g1_restart)" = "$before"
}

# --- the job socket, from root --------------------------------------------------------------
hcase jobs job_not_a_frame \
	"PostScript written straight to the job socket: closed without a result, the log quoting its first bytes; nothing printed"
job_not_a_frame() {
	local n jobs
	n=$(printed)
	jobs=$(g1_jobs)
	mark
	raw "$GUEST_JOB_SOCKET" -f -t 5 text:$'%!PS-Adobe-3.0\nshowpage\n'
	check "closed, nothing answered" nothing_back
	check "the agent says why, quoting it" \
		agent_said 'job socket: backend connection closed: not a printredir frame (header "%!PS-Ado")'
	check "nothing reached the broker" test "$(g1_jobs)" = "$jobs"
	check "nothing printed" test "$(printed)" -eq "$n"
}
hcase jobs job_header_cut \
	"a job frame announcing 256 bytes, 4 sent, then the end: that connection closed, saying so; nothing printed"
job_header_cut() {
	local n
	n=$(printed)
	mark
	raw "$GUEST_JOB_SOCKET" -f -w -t 5 hex:5052010000000100 hex:0803100a
	check "closed, nothing answered" nothing_back
	check "the agent says the backend ended early" \
		agent_said "job socket: backend connection closed: the backend ended before the whole document was sent"
	check "nothing printed" test "$(printed)" -eq "$n"
}
ghost_done() { "$BUILD/tests/jobattrs" "$GUEST" ghost | grep -qE '^job-state=(canceled|aborted|completed)$'; }
hcase jobs job_no_such_printer \
	"a guest queue made by hand for \`printredir:ghost\`, which the host does not redirect: the job is cancelled with the host's reason; nothing printed"
job_no_such_printer() {
	local n refused
	n=$(printed)
	refused=$(g1_jobs | awk '{print $2}')
	mark
	lpadmin -h "$GUEST" -p ghost -E -v printredir:ghost -P "$GENERIC" 2>/dev/null
	lp -h "$GUEST" -d ghost -t ghostjob /usr/share/cups/data/testprint >/dev/null
	check "the job ends" wait_for 15 ghost_done
	check "cancelled, with the host's reason" bash -c "
		'$BUILD/tests/jobattrs' '$GUEST' ghost >'$W/ghost.attrs'
		grep -qx 'job-state=canceled' '$W/ghost.attrs' &&
		grep -qx 'job-printer-state-message=printredir: the host refused the job: the host does not redirect this printer (any more)' '$W/ghost.attrs'"
	check "the broker says so" said "not printed: the host does not redirect this printer (any more)"
	check "and counts it refused" test "$(g1_jobs | awk '{print $2}')" -eq $((refused + 1))
	check "nothing printed" test "$(printed)" -eq "$n"
	lpadmin -h "$GUEST" -x ghost
}

hcase jobs job_socket_idle \
	"root connects to the job socket and sends nothing: closed after 10 s, saying so, so that idle connections cannot hold the 64 job slots"
job_socket_idle() {
	local ms
	mark
	raw "$GUEST_JOB_SOCKET" -f -t 20 text:
	ms=$(end_field ms)
	check "closed by the agent" ended eof
	check "after about 10 s (${ms} ms)" between "$ms" 9000 15000
	check "saying why" agent_said "job socket: backend connection closed: no job came within 10 s of connecting"
}
rawjob_done() { "$BUILD/tests/jobattrs" "$GUEST" net_generic_pdf | grep -qE '^job-state=(canceled|aborted|completed)$'; }
hcase jobs job_raw \
	"root in the guest prints raw bytes (\`lp -o raw\`: PJL for the device itself, past the host's driver): refused, \`[jobs] formats\` takes PDF only; nothing printed"
job_raw() {
	local n
	n=$(printed)
	mark
	printf '\033%%-12345X@PJL SET ECONOMODE=ON\r\n\033%%-12345X' >"$W/pjl.raw"
	lp -h "$GUEST" -d net_generic_pdf -o raw -t rawjob "$W/pjl.raw" >/dev/null
	check "the job ends" wait_for 15 rawjob_done
	check "the broker refuses it, saying why" bash -c "tail -n +$((B0 + 1)) '$W/broker.log' |
		grep -q 'not printed: the host takes no [a-z/.-]* documents from guests (\[jobs\] formats)'"
	check "nothing printed" test "$(printed)" -eq "$n"
}

# --- configuration --------------------------------------------------------------------------
hcase config conf_directory \
	"\`host-broker -c\` a directory: exit status 2, \"cannot read: Is a directory\""
conf_directory() {
	mkdir -p "$W/conf.d"
	run_broker "$W/conf.d"
	check "exit status 2" test "$RC" -eq 2
	check "saying what is wrong" grep -q "conf.d: cannot read: Is a directory" "$W/conf.out"
}
hcase config conf_out_of_range \
	"\`frame_cap = 100\` in broker.conf: exit status 2, the message names file, line, key and the range"
conf_out_of_range() {
	side_conf "$W/range.conf"
	echo "frame_cap = 100" >>"$W/range.conf"
	run_broker "$W/range.conf"
	check "exit status 2" test "$RC" -eq 2
	check "naming file, line, key and range" grep -q \
		"range.conf:$(wc -l <"$W/range.conf"): key \"frame_cap\" in \[broker\]: 100 is out of range (65536 to 1073741824)" \
		"$W/conf.out"
}
hcase config key_too_short \
	"a key file of 10 bytes: the broker refuses to start (exit status 2), saying how long a key is and how to make one"
key_too_short() {
	printf '0123456789' >"$W/short.key"
	chmod 600 "$W/short.key"
	side_conf "$W/short.conf" "s|^key_file = .*|key_file = $W/short.key|"
	run_broker "$W/short.conf"
	check "exit status 2" test "$RC" -eq 2
	check "saying how long a key is and how to make one" grep -qF \
		"short.key holds 10 bytes; a key is 16 to 1024 bytes (make one with: head -c 32 /dev/urandom | base64 >" "$W/conf.out"
}
hcase config conf_fifo \
	"\`host-broker -c\` a FIFO no one writes to: exit status 2 at once, \"not a regular file\" (it used to wait for ever)"
conf_fifo() {
	local t0
	mkfifo "$W/conf.fifo"
	t0=$(now_ms)
	run_broker "$W/conf.fifo"
	check "exit status 2" test "$RC" -eq 2
	check "at once ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 5000
	check "saying what is wrong" grep -q "conf.fifo: not a regular file" "$W/conf.out"
}
hcase config key_foreign_owner \
	"a master key file of mode 0600 that a desk user owns (a link to it, or the file itself): the broker refuses to start, saying chown"
key_foreign_owner() {
	head -c 32 /dev/urandom | base64 >"$W/theirs.key"
	chmod 600 "$W/theirs.key"
	chown 60001 "$W/theirs.key"
	ln -sf "$W/theirs.key" "$W/link.key"
	side_conf "$W/theirs.conf" "s|^key_file = .*|key_file = $W/link.key|"
	run_broker "$W/theirs.conf"
	check "exit status 2" test "$RC" -eq 2
	check "saying whose it is and what to do" grep -q \
		"link.key belongs to uid 60001, neither root nor this daemon's user; run: chown root" "$W/conf.out"
}
