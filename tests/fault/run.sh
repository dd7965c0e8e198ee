#!/bin/bash
# tests/fault/run.sh - fault injection on the real daemons and real cupsd
# (`make fault-check SEED=n ITER=k`).  One sandbox world, one broker and one
# agent for the whole run.  Each iteration, while printers change on the
# host (lpadmin: add, new driver, delete, a name's case changed) and jobs
# are printed in the guest (lp on printredir queues: a text page, or a 3 MB
# PDF), one of the broker, the agent, the guest's cupsd, the host's cupsd or
# the print server's devices (its JetDirect listeners) is SIGKILLed, stays
# down a while (0-2 s) and is started again as the e2e scenarios do: each
# of them once in every five iterations, in an order drawn from the seed.
# The kill point is drawn from the seed too: a time, a while after a job or
# a host change, or the moment the broker's status shows a job streaming.
# Then, every wait bounded:
#
#   - the guest has exactly the host's network printers that have a driver
#     (names compared ignoring case, as CUPS does; no queue twice, each
#     printing to its own host queue); a printer without a driver may keep
#     the queue an earlier driver made (install.c keeps it);
#   - the broker sees the host's printers, and has the guest's report on its
#     latest generation with a final state for each (installed, or
#     driver-missing for the print server's raw queue);
#   - nothing is left to print anywhere, and every job lp accepted in the
#     guest, in this iteration or an earlier one, is at the print server's
#     devices exactly once (each job's title is a marker that every driver's
#     output carries: PJL JOB NAME, %%Title or the PDF's /Title).
#
# Jobs lp refused (the guest's cupsd was down) are counted and shown.  So
# are jobs lost or printed twice by a killed cupsd or device, and only when
# the evidence says so (explain below): the guest's cupsd writes its jobs up
# to DirtyCleanInterval (30 s) after it took them, the host's restarts a job
# it was printing; a listener killed after it read a job has not stored it.
# (A job the host's cupsd forgets is the broker's to send again.)  Any
# other count is a failure: the run stops there with the iteration, the
# seeds and the victim, and keeps the logs.
#
#   SEED=n ITER=k tests/fault/run.sh   (SEED: random when empty, ITER: 5)
#   VICTIMS="broker agent"             only these victims
#   ISEED=n ITER=1                     one iteration with that iteration seed
#   VERBOSE=1                          every event as it happens
#   CONVERGE_S=120                     bound of each convergence wait
#
# Each iteration draws its choices from its own seed, itself drawn from SEED
# before the first iteration starts: the same SEED replays the same choices
# (the moments differ by what the machine is doing).
#
# The agent runs with no restart command (new printers need no restart, so
# it never looks at applications) and apps_uid_min = 4294967295 (no process
# can count as one), so that processes of other users on this machine cannot
# change what it does.  The guest's cupsd gets `JobRetryLimit 0` (README,
# Printing: a guest job waits as long as the host does).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"

ITER=${ITER:-5}
SEED=${SEED:-}
[ -n "$SEED" ] || SEED=$(($(od -An -N4 -tu4 /dev/urandom) % 1000000))
CONVERGE_S=${CONVERGE_S:-120}
ALL_VICTIMS=(broker agent guest-cupsd host-cupsd print-server)
read -r -a VICTIM_LIST <<<"${VICTIMS:-${ALL_VICTIMS[*]}}"
case $SEED$ITER in *[!0-9]*) echo "fault-check: SEED and ITER must be numbers" >&2; exit 2 ;; esac
for v in "${VICTIM_LIST[@]}"; do
	case " ${ALL_VICTIMS[*]} " in *" $v "*) ;; *) echo "fault-check: unknown victim $v (${ALL_VICTIMS[*]})" >&2; exit 2 ;; esac
done
T_RUN=$SECONDS
echo "fault-check: SEED=$SEED ITER=$ITER victims: ${VICTIM_LIST[*]} (replay: make fault-check SEED=$SEED ITER=$ITER)"

# --- small helpers (no subshell may draw from RANDOM: it would not advance ours) ---

R=0
rnd() { R=$((RANDOM % $1)); }	# rnd N: R = 0..N-1
T_MS=0
now() { T_MS=$((${EPOCHREALTIME/[.,]/} / 1000)); }
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }	# secs MS
say() { echo "$*" >>"$W/fault.log"; [ -z "${VERBOSE:-}" ] || echo "  $*"; }
lower() { tr '[:upper:]' '[:lower:]'; }
running() {	# running PID: alive and not a zombie
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}
gone() { wait_for 10 bash -c "! [ -e /proc/$1 ] || grep -qs '^State:.*Z' /proc/$1/status"; }
answers() { [ "$(lpstat -h "$1" -r 2>/dev/null)" = "scheduler is running" ]; }
# Every client call is bounded: a daemon that hangs fails the iteration.
status_json() { timeout 10 "$BUILD/host-broker" status -c "$W/broker.conf" --json; }
LPSTAT=$(type -P lpstat) LPADMIN=$(type -P lpadmin) LP=$(type -P lp)
lpstat() { timeout 10 "$LPSTAT" "$@"; }
lpadmin() { timeout 20 "$LPADMIN" "$@"; }
lp() { timeout 20 "$LP" "$@"; }
# wait_until SECS FUNC...: FUNC every 0.5 s until it succeeds (lighter than
# wait_for on a shared 2-core machine); 1 when SECS pass.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ $SECONDS -lt $end ] || return 1
		sleep 0.5
	done
}

# --- the world ------------------------------------------------------------------

world_start 1
PS_QUEUES=()
read -r -a PS_QUEUES <<<"$PRINTSERVER_QUEUES"
RAW_URI="ipp://$PS/printers/$PRINTSERVER_RAW_QUEUE"
# The JetDirect listeners ("the print server's devices"): label, port, folder.
declare -A JD_PORT JD_OUT JD_PID
for q in "${PS_QUEUES[@]}" "$PRINTSERVER_RAW_QUEUE"; do
	v=PRINTSERVER_DEVICE_PORT_$q
	JD_PORT[$q]=${!v}
	JD_OUT[$q]=$OUTPUT_DIR
done
JD_PORT[$HOST_DIRECT_QUEUE]=$HOST_DIRECT_PORT
JD_OUT[$HOST_DIRECT_QUEUE]=$DIRECT_OUTPUT_DIR
for q in "${!JD_PORT[@]}"; do JD_PID[$q]=$(cat "$SANDBOX_DIR/jetdirect/$q.pid"); done

start_cupsd() {	# start_cupsd guest|host: its cupsd, as resilience.sh does
	local dir server pid
	case $1 in
	guest) dir=$GUEST_DIR server=$GUEST ;;
	host) dir=$HOST_DIR server=$HOST ;;
	esac
	cupsd -f -c "$dir/cupsd.conf" -s "$dir/cups-files.conf" >>"$W/$1-cupsd.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	disown "$pid"	# killed later: no job report from bash
	case $1 in guest) GUEST_PID=$pid ;; host) HOST_PID=$pid ;; esac
	wait_for 20 answers "$server"
}
stop_cupsd() {	# stop_cupsd guest|host SIGNAL
	local pid
	case $1 in guest) pid=$GUEST_PID ;; host) pid=$HOST_PID ;; esac
	kill "-$2" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	gone "$pid"
}
jd_kill() {
	local q f
	for q in "${!JD_PID[@]}"; do kill -KILL "${JD_PID[$q]}" 2>/dev/null; done
	for q in "${!JD_PID[@]}"; do wait "${JD_PID[$q]}" 2>/dev/null; gone "${JD_PID[$q]}"; done
	# What they were receiving stays here (a listener started again would
	# reuse the name): the evidence of a job that reached a device.
	mkdir -p "$W/sink-lost"
	for f in "$OUTPUT_DIR"/.job-*.tmp "$DIRECT_OUTPUT_DIR"/.job-*.tmp; do
		[ -e "$f" ] && mv "$f" "$W/sink-lost/iter$I-${f##*/.}"
	done
	return 0
}
jd_start() {	# every listener again, on its port, writing where it wrote
	local q pf
	for q in "${!JD_PORT[@]}"; do
		pf=$SANDBOX_DIR/jetdirect/$q.pid
		rm -f "$pf"
		"$JETDIRECT" "${JD_PORT[$q]}" "${JD_OUT[$q]}" "$pf" "$q" \
			</dev/null >>"$SANDBOX_DIR/jetdirect/$q.log" 2>&1 &
		JD_PID[$q]=$!
		PIDS+=("$!")
		disown "$!"	# killed later: no job report from bash
	done
	for q in "${!JD_PORT[@]}"; do
		wait_for 10 test -s "$SANDBOX_DIR/jetdirect/$q.pid" || {
			echo "the print server's listener $q did not come back on port ${JD_PORT[$q]}:"
			tail -3 "$SANDBOX_DIR/jetdirect/$q.log"
			return 1
		}
	done
}
broker_answers() { status_json >/dev/null 2>&1; }

# Both cupsd write their state lazily (printers.conf up to 30 s later): a
# clean restart puts the sandbox's queues on disk, so that a SIGKILL of an
# iteration can only lose what the iteration itself changed.  The guest's
# cupsd keeps a job as long as the host makes it wait (README, Printing).
echo "JobRetryLimit 0" >>"$GUEST_DIR/cupsd.conf"
for r in guest host; do
	stop_cupsd $r TERM
	start_cupsd $r || { echo "FAIL: the $r cupsd did not start again"; FAILED=1; exit 1; }
done
broker_conf "print_server = $PS"
broker_start || { FAILED=1; exit 1; }
agent_conf g1 "
[restart]
command =
apps_uid_min = 4294967295
tray_socket = unix:$W/tray-g1.sock"
agent_start g1
wait_for 60 guest_synced g1 || { echo "FAIL: the agent never reported to the broker"; FAILED=1; exit 1; }
# The guest's queues on disk too.
stop_cupsd guest TERM
start_cupsd guest || { echo "FAIL: the guest cupsd did not start again"; FAILED=1; exit 1; }
make_pdf 3 "$W/big.pdf"
echo "printredir fault-check page" >"$W/page.txt"

# Stable host queues the jobs go to (never changed by an iteration), with
# weights: the PDF drivers cost least at the print server.
JOB_QUEUES=(net_generic_pdf net_generic_pdf net_hp_cm3530_pdf net_hp_cm3530_pdf
	net_brother_hl5250dn "$HOST_DIRECT_QUEUE" net_hp_designjet_t790 net_ricoh_mp_c3003_ps)

# --- what the world holds ----------------------------------------------------------

# The host's network printers: HNAME[lower]=Name, HURI[lower]=uri.
declare -A HNAME HURI
host_printers() {
	local out line name uri
	HNAME=() HURI=()
	out=$(lpstat -h "$HOST" -v 2>/dev/null) || return 1
	while IFS= read -r line; do
		[[ $line =~ ^device\ for\ ([^:]+):\ (.*)$ ]] || continue
		name=${BASH_REMATCH[1]} uri=${BASH_REMATCH[2]}
		case ${uri%%:*} in ipp | ipps | http | https | socket | lpd | smb | dnssd) ;; *) continue ;; esac
		HNAME[${name,,}]=$name
		HURI[${name,,}]=$uri
	done <<<"$out"
}

WHY=
# The guest has exactly the host's network printers with a driver, once each,
# each printing to its host queue; the broker sees the host's printers and has
# the guest's final report on its latest generation.  A printer without a
# driver may keep the queue an earlier driver made (install.c: "the queue
# installed earlier is kept"), and is reported driver-missing.
printers_converged() {
	local out line name uri k json want got n
	local -A seen dev reported
	host_printers || { WHY="the host's cupsd does not answer"; return 1; }
	out=$(lpstat -h "$GUEST" -v 2>/dev/null) || { WHY="the guest's cupsd does not answer"; return 1; }
	while IFS= read -r line; do
		[[ $line =~ ^device\ for\ ([^:]+):\ (.*)$ ]] || continue
		name=${BASH_REMATCH[1]} uri=${BASH_REMATCH[2]}
		k=${name,,}
		[ -z "${seen[$k]:-}" ] || { WHY="guest queue $name twice (${seen[$k]} and $name)"; return 1; }
		seen[$k]=$name
		[ -z "${dev[${uri,,}]:-}" ] || { WHY="guest queues ${dev[${uri,,}]} and $name both print to $uri"; return 1; }
		dev[${uri,,}]=$name
		[ "${uri,,}" = "printredir:$k" ] || { WHY="guest queue $name prints to $uri"; return 1; }
		[ -n "${HNAME[$k]:-}" ] || { WHY="guest queue $name is not a host network printer"; return 1; }
	done <<<"$out"
	for k in "${!HNAME[@]}"; do
		[ "${HURI[$k]}" = "$RAW_URI" ] && continue
		[ -n "${seen[$k]:-}" ] || { WHY="host printer ${HNAME[$k]} is missing in the guest"; return 1; }
	done
	json=$(status_json 2>/dev/null) || { WHY="the broker does not answer status"; return 1; }
	want=$(printf '%s\n' "${!HNAME[@]}" | sort)
	got=$(jq -r '.printers[] | select(.network) | .name' <<<"$json" | lower | sort)
	[ "$want" = "$got" ] || { WHY="the broker's view of the host differs: $(diff <(echo "$got") <(echo "$want") | grep '^[<>]' | tr '\n' ' ')"; return 1; }
	jq -e '.broker.generation as $b | .broker.error == null and
		([.guests[] | select(.id == "g1" and .connected and .generation >= $b)] | length == 1)' \
		<<<"$json" >/dev/null || { WHY="no report from g1 on the broker's generation $(jq -c '[.broker.generation, .broker.error, (.guests[] | select(.id == "g1") | [.connected, .generation])]' <<<"$json")"; return 1; }
	n=0
	while IFS=$'\t' read -r name got; do
		[ -n "$name" ] || continue
		k=${name,,}
		if [ -z "${HNAME[$k]:-}" ]; then
			[ "$got" = removed ] || { WHY="g1 reports $name $got, which the host does not have"; return 1; }
			continue
		fi
		want=installed
		[ "${HURI[$k]}" != "$RAW_URI" ] || want=driver-missing
		[ "$got" = "$want" ] || { WHY="g1 reports ${HNAME[$k]} $got (want $want)"; return 1; }
		[ -z "${reported[$k]:-}" ] || { WHY="g1 reports ${HNAME[$k]} twice"; return 1; }
		reported[$k]=1
		n=$((n + 1))
	done < <(jq -r '.guests[] | select(.id == "g1") | .printers[] | "\(.name)\t\(.state)"' <<<"$json")
	[ "$n" -eq "${#HNAME[@]}" ] || { WHY="g1 reports $n of the host's ${#HNAME[@]} printers"; return 1; }
	NQUEUES=${#seen[@]} NREPORTS=$n
	WHY=
}

# Jobs.  Every job lp accepted, of every iteration, by its marker m (its
# title): GQ[m] its guest queue, GID[m] its guest job id, EXPECT[m] how many
# times it must be at the print server's devices (1; or what an explained
# fault of CUPS or of a device made of it, see explain).  COUNT[m]: output
# files holding m; each file is read once (a job-*.prn file is whole).
declare -A SEEN COUNT WHERE GQ GID EXPECT NOTE
scan_outputs() {
	local f m
	for f in "$OUTPUT_DIR"/job-*.prn "$DIRECT_OUTPUT_DIR"/job-*.prn; do
		[ -e "$f" ] && [ -z "${SEEN[$f]:-}" ] || continue
		SEEN[$f]=1
		for m in $(grep -aoE 'fz[0-9]+i[0-9]+j[0-9]+z' "$f" | sort -u); do
			COUNT[$m]=$((${COUNT[$m]:-0} + 1))
			WHERE[$m]="${WHERE[$m]:-}${WHERE[$m]:+ }${f##*/}"
		done
	done
}
idle() {	# idle SERVER: no job left to print there
	local out
	out=$(lpstat -h "$1" -o 2>/dev/null) && [ -z "$out" ]
}
# Filters and backends of this world's cupsd (also those a killed cupsd left);
# not the host's notifier, which lives as long as the broker's subscription.
world_filters() {
	local f cmd
	for f in $(grep -lsz "^CUPS_SERVERROOT=$SANDBOX_DIR/" /proc/[0-9]*/environ 2>/dev/null); do
		cmd=$(tr '\0' ' ' <"${f%/environ}/cmdline" 2>/dev/null) || continue
		case $cmd in
		*/notifier/printredir\ *) ;;
		*) echo "${f%/environ} ${cmd:0:80};" ;;
		esac
	done | head -3
}
# Nothing left anywhere that could still print: no job in any cupsd, none
# at the broker, no filter or backend running.
quiet() {
	idle "$GUEST" || { WHY="jobs left in the guest: $(lpstat -h "$GUEST" -o 2>&1 | head -3 | tr '\n' ';')"; return 1; }
	idle "$HOST" || { WHY="jobs left on the host: $(lpstat -h "$HOST" -o 2>&1 | head -3 | tr '\n' ';')"; return 1; }
	idle "$PS" || { WHY="jobs left on the print server: $(lpstat -h "$PS" -o 2>&1 | head -3 | tr '\n' ';')"; return 1; }
	[ "$(status_json 2>/dev/null | jq '.jobs | length')" = 0 ] || { WHY="the broker still has jobs"; return 1; }
	[ -z "$(world_filters)" ] || { WHY="filters or backends still run: $(world_filters | tr '\n' ' ')"; return 1; }
}
# Every job of this iteration printed and nothing left to print; or nothing
# left to print for 3 s (then what is missing is missing).
QUIET_SINCE=
jobs_settled() {
	local j
	scan_outputs
	quiet || { QUIET_SINCE=; return 1; }
	now
	[ -n "$QUIET_SINCE" ] || QUIET_SINCE=$T_MS
	for ((j = 0; j < NJOBS; j++)); do
		[ "${JOK[$j]}" = 1 ] || continue
		[ "${COUNT[${MARK[$j]}]:-0}" -ge 1 ] && continue
		WHY="job ${MARK[$j]} not printed"
		[ $((T_MS - QUIET_SINCE)) -ge 3000 ]
		return
	done
	WHY=
}

# jobs_named SERVER QUEUE NAME: "id state uuid" of each job named NAME.
jobs_named() {
	"$BUILD/tests/jobattrs" "$1" "$2" 2>/dev/null | awk -v n="$3" '
		function out() { if (name == n) print id, state, uuid }
		/^job$/ { out(); name = id = state = uuid = ""; next }
		/^job-name=/ { name = substr($0, 10) }
		/^job-id=/ { id = substr($0, 8) }
		/^job-state=/ { state = substr($0, 11) }
		/^job-uuid=/ { uuid = substr($0, 10) }
		END { out() }'
}
# The broker's journal records for guest g1's job UUID (jobs.c: the key is
# SHA-256 of the guest id, a NUL and the UUID).
journal() {	# journal UUID
	local key
	key=$(printf 'g1\0%s' "$1" | sha256sum | cut -d' ' -f1)
	grep "^$key " "$W/broker-state/jobs.journal" 2>/dev/null
}
# host_run N: the host cupsd's error_log from its Nth-last start (1: the one
# running now, 2: the one before, killed), to its next start.
host_run() {
	local log=$HOST_DIR/log/error_log starts
	starts=$(grep -c 'Cleaning out old files in .*/spool/tmp' "$log")
	awk -v n=$((starts - $1 + 1)) '/Cleaning out old files in .*\/spool\/tmp/ { k++ } k == n' "$log"
}
# The print-server queue behind a host queue ("" for the direct printer).
ps_queue() {
	local v=HOST_NETWORK_TARGET_$1
	echo "${!v:-}"
}

# explain M N: job M is at the devices N times instead of EXPECT[M].  Sets
# EXPL when this iteration's fault of a cupsd or of a device explains it from
# the evidence (CUPS's own logs and job histories, the broker's journal, a
# device's unfinished file); 1 otherwise: a failure of printredir, or of this
# test.  INFO gathers the evidence either way.
explain() {
	local m=$1 n=$2 q=${GQ[$1]} guest host ps psq uuid ndone hostjob
	EXPL=
	guest=$(jobs_named "$GUEST" "$q" "$m")
	local guest_raw=$guest
	host=$(jobs_named "$HOST" "$q" "$m")
	psq=$(ps_queue "$q")
	ps=
	[ -z "$psq" ] || ps=$(jobs_named "$PS" "$psq" "$m")
	uuid=$(awk 'NR == 1 {print $3}' <<<"$guest")
	ndone='' hostjob=''
	if [ -n "$uuid" ]; then
		ndone=$(journal "$uuid" | grep -c ' done ')
		hostjob=$(journal "$uuid" | awk '$2 == "done" {print $3}' | tail -1)
	fi
	[ -n "$guest" ] || guest="unknown to the guest's cupsd"
	INFO="guest job ${GID[$m]} on $q: $guest; host jobs: ${host:-none}; print-server jobs: ${ps:-none}; broker journal: $([ -z "$uuid" ] || journal "$uuid")"
	INFO=${INFO//$'\n'/; }
	case $VICTIM:$n in
	print-server:0)
		# The device took the job and was killed before it stored it:
		# the job reached the end of the line.
		if grep -lqa "$m" "$W/sink-lost/"* 2>/dev/null; then
			EXPL="reached a print-server device that was killed before it stored it ($(grep -la "$m" "$W/sink-lost/"* | xargs -n1 basename | tr '\n' ' '))"
		fi
		;;
	guest-cupsd:0)
		# Accepted by the guest's cupsd, which was killed before it saved
		# the job (it writes job files up to DirtyCleanInterval later): it
		# forgot the job, which never reached the host.
		if [ -z "$guest_raw" ] && [ -z "$host" ]; then
			EXPL="lost by the guest's cupsd, killed before it saved the job it had accepted (it never reached printredir)"
		fi
		;;
	host-cupsd:*)
		# One more copy than before: the broker handed it over once, and
		# the host's cupsd, killed while printing it (or before it saved
		# that it had), printed the same host job again after its restart
		# (its log): as many print-server jobs as copies, all with the
		# host job's one UUID, or (direct printer) one host job.
		[ "$n" -eq $((EXPECT[$m] + 1)) ] || return 1
		if [ "${ndone:-0}" -eq 1 ] && [ "$(wc -l <<<"$host")" -eq 1 ] && [ -n "$host" ] &&
			host_run 1 | grep -q "\[Job $hostjob\] Started backend"; then
			if [ -z "$psq" ] || { [ "$(wc -l <<<"$ps")" -eq "$n" ] &&
				[ "$(awk '{print $3}' <<<"$ps" | sort -u | wc -l)" -eq 1 ]; }; then
				EXPL="printed again by the host's cupsd: the broker handed it over once (host job $hostjob, one journal record done), the host's cupsd was killed while printing it or before it saved that it had, and printed it again after its restart"
			fi
		fi
		;;
	esac
	[ -n "$EXPL" ]
}

# --- one iteration ------------------------------------------------------------------

NEXT_NAME=0
declare -A MARK JOK JQ JDOC JERR
JT=()
OPS_DONE=() JOBS_SENT=0

# A change on the host: add, new driver (another print-server queue), delete,
# or the same printer under a name in another case.
host_op() {	# host_op KIND NAME [QUEUE]
	local rc=0 out
	case $1 in
	add) out=$(lpadmin -h "$HOST" -p "$2" -E -v "ipp://$PS/printers/$3" -D "fault $2" 2>&1) || rc=$? ;;
	driver) out=$(lpadmin -h "$HOST" -p "$2" -v "ipp://$PS/printers/$3" 2>&1) || rc=$? ;;
	delete) out=$(lpadmin -h "$HOST" -x "$2" 2>&1) || rc=$? ;;
	recase)
		local uri
		uri=$(lpstat -h "$HOST" -v "$2" 2>&1 | sed -n 's/^device for [^:]*: //p')
		out=$(lpadmin -h "$HOST" -x "$2" 2>&1) &&
			out=$(lpadmin -h "$HOST" -p "$3" -E -v "$uri" -D "fault $3" 2>&1) || rc=$?
		;;
	esac
	OPS_DONE+=("$1")
	say "$(secs $((T_MS - T0)))s host $1 $2 ${3:-}${out:+: $out} (status $rc)"
}

guest_job() {	# guest_job J
	local j=$1 out rc=0 doc=$W/page.txt q=${JQ[$1]}
	[ "${JDOC[$j]}" = page ] || doc=$W/big.pdf
	out=$(lp -h "$GUEST" -d "$q" -t "${MARK[$j]}" "$doc" 2>&1) || rc=$?
	JOBS_SENT=$((JOBS_SENT + 1))
	if [ $rc -eq 0 ]; then
		JOK[$j]=1
		GQ[${MARK[$j]}]=$q
		GID[${MARK[$j]}]=$(sed -n 's/^request id is .*-\([0-9]*\) .*/\1/p' <<<"$out")
		EXPECT[${MARK[$j]}]=1
	else
		JOK[$j]=0
		JERR[$j]=$out
		[ "$DOWN_NOW$VICTIM" != 1guest-cupsd ] || JERR[$j]="the guest's cupsd was down (killed): $out"
	fi
	say "$(secs $((T_MS - T0)))s job ${MARK[$j]} on $q: ${out//$'\n'/ } (status $rc)"
}

KILL_NOTE='' DOWN_NOW=''
streams() { status_json 2>/dev/null | jq -e '[.jobs[] | select(.bytes > 0)] | length > 0' >/dev/null; }
kill_victim() {
	local streaming queued i
	if [ -n "$STREAM_WAIT" ]; then
		# Up to 5 s for the job's bytes to show at the broker.
		now
		i=$((T_MS + 5000))
		until streams; do
			now
			[ "$T_MS" -lt "$i" ] || { KILL_REF="$KILL_REF (not seen streaming within 5 s)"; break; }
			sleep 0.01
		done
	fi
	streaming=$(status_json 2>/dev/null | jq '.jobs | length' 2>/dev/null)
	queued=$(lpstat -h "$GUEST" -o 2>/dev/null | wc -l)
	KILL_NOTE="$KILL_REF; after ${#OPS_DONE[@]}/$NOPS changes, $JOBS_SENT/$NJOBS jobs: $queued queued in the guest, ${streaming:-?} at the broker"
	now
	KILL_AT=$((T_MS - T0))
	case $VICTIM in
	broker)
		kill -KILL "$BROKER_PID"
		wait "$BROKER_PID" 2>/dev/null
		;;
	agent) agent_stop g1 KILL ;;
	guest-cupsd) stop_cupsd guest KILL ;;
	host-cupsd) stop_cupsd host KILL ;;
	print-server) jd_kill ;;
	esac
	DOWN_NOW=1
	say "$(secs $((T_MS - T0)))s SIGKILL $VICTIM ($KILL_NOTE)"
}

restart_victim() {
	say "$(secs $((T_MS - T0)))s start $VICTIM"
	DOWN_NOW=
	case $VICTIM in
	broker) broker_start && wait_for 20 broker_answers ;;
	agent) agent_start g1 ;;
	guest-cupsd) start_cupsd guest ;;
	host-cupsd) start_cupsd host ;;
	print-server) jd_start ;;
	esac
}

fail() {	# fail WHAT: the iteration failed; say everything needed to replay it
	FAILED=$((FAILED + 1))
	echo "FAIL iteration $I/$ITER: $1"
	echo "  SEED=$SEED (iteration seed $ISEED), victim $VICTIM killed at $(secs "$KILL_AT") s ($KILL_NOTE), down $(secs "$DOWN") s"
	echo "  host changes: ${OPS_TEXT:-none}; jobs: ${JOBS_TEXT:-none}"
	echo "  replay: make fault-check SEED=$SEED ITER=$I VICTIMS=\"${VICTIM_LIST[*]}\" (or ISEED=$ISEED ITER=1 VICTIMS=$VICTIM)"
	echo "  events of this iteration:"
	sed -n "/^--- iteration $I /,\$p" "$W/fault.log" | sed 's/^/    /'
}

# Iteration seeds and victims, drawn from SEED before anything else uses
# RANDOM.  Each victim once in every ${#VICTIM_LIST[@]} iterations, in an
# order drawn anew each time: ITER=5 kills each one.
RANDOM=$SEED
ISEEDS=() VICTIM_AT=() order=()
for ((I = 1; I <= ITER; I++)); do
	ISEEDS[I]=$(((RANDOM << 15 | RANDOM) % 1000000))
	if [ ${#order[@]} -eq 0 ]; then
		order=("${VICTIM_LIST[@]}")
		for ((k = ${#order[@]} - 1; k > 0; k--)); do
			rnd $((k + 1))
			v=${order[k]}
			order[k]=${order[R]}
			order[R]=$v
		done
	fi
	VICTIM_AT[I]=${order[0]}
	order=("${order[@]:1}")
done
[ -z "${ISEED:-}" ] || ISEEDS[1]=$ISEED

iteration() {
	local e t wait_ms k n names=() name q j events=() todo
	ISEED=${ISEEDS[I]}
	RANDOM=$ISEED
	VICTIM=${VICTIM_AT[I]}
	# Host changes on the printers iterations made (fz...), never on the
	# sandbox's: the jobs print on those.
	host_printers
	for k in "${!HNAME[@]}"; do [[ $k == fz* ]] && names+=("${HNAME[$k]}"); done
	mapfile -t names < <(printf '%s\n' "${names[@]}" | sort | grep .)
	rnd 3; NOPS=$((2 + R))
	OPS=() OPS_TEXT=
	for ((n = 0; n < NOPS; n++)); do
		rnd 10
		if [ ${#names[@]} -lt 2 ] || { [ ${#names[@]} -lt 6 ] && [ $R -lt 4 ]; }; then
			NEXT_NAME=$((NEXT_NAME + 1))
			name=fz${I}_$NEXT_NAME
			rnd 3; [ $R -ne 0 ] || name=Fz${I}_$NEXT_NAME
			rnd 8; q=${PS_QUEUES[R % ${#PS_QUEUES[@]}]}
			[ $R -ne 7 ] || q=$PRINTSERVER_RAW_QUEUE
			OPS+=("add $name $q")
			names+=("$name")
		else
			rnd ${#names[@]}; k=$R name=${names[k]}
			rnd 10
			if [ $R -lt 4 ]; then
				rnd ${#PS_QUEUES[@]}; OPS+=("driver $name ${PS_QUEUES[R]}")
			elif [ $R -lt 8 ]; then
				OPS+=("delete $name")
				unset 'names[k]'
				names=("${names[@]}")
			else
				# The same name in another case: Fz <-> fz.
				case $name in fz*) q=F${name#f} ;; *) q=f${name#F} ;; esac
				OPS+=("recase $name $q")
				names[k]=$q
			fi
		fi
		OPS_TEXT="$OPS_TEXT${OPS_TEXT:+, }${OPS[n]}"
	done
	# Jobs: a text page (the guest renders it), or a 3 MB PDF that takes a
	# while to stream (only on PDF drivers: the print server renders those
	# cheaply).
	rnd 3; NJOBS=$((3 + R))
	MARK=() JOK=() JQ=() JDOC=() JERR=() JT=() JOBS_TEXT=
	for ((j = 0; j < NJOBS; j++)); do
		MARK[$j]=fz${SEED}i${I}j${j}z
		rnd ${#JOB_QUEUES[@]}; JQ[$j]=${JOB_QUEUES[R]}
		JDOC[$j]=page
		case ${JQ[$j]} in
		net_generic_pdf | net_hp_cm3530_pdf | "$HOST_DIRECT_QUEUE") rnd 2; [ $R -ne 0 ] || JDOC[$j]=big ;;
		esac
		JOBS_TEXT="$JOBS_TEXT${JOBS_TEXT:+, }${JQ[$j]}"
		[ "${JDOC[$j]}" = page ] || JOBS_TEXT="$JOBS_TEXT (3 MB)"
	done
	# The schedule: changes within 4 s (in the order drawn), jobs within 5 s.
	local times=() ref
	for ((n = 0; n < NOPS; n++)); do rnd 4000; times+=("$R"); done
	mapfile -t times < <(printf '%s\n' "${times[@]}" | sort -n)
	for ((n = 0; n < NOPS; n++)); do events+=("${times[n]} op $n"); done
	for ((j = 0; j < NJOBS; j++)); do rnd 5000; JT[$j]=$R; events+=("$R job $j"); done
	# The kill point: a time, or a while after a job was submitted (while the
	# guest renders it, the agent streams it, the broker submits it...), or
	# after a host change (while the broker fetches the driver, the agent
	# installs it...), or the moment the broker's status shows a job's bytes
	# streaming (a window of some 100 ms that a time rarely hits).
	rnd 4
	STREAM_WAIT=
	case $R in
	0) rnd 4800; KILL_AT=$((200 + R)) KILL_REF="at random" ;;
	1) rnd "$NJOBS"; ref=$R; rnd 2500; KILL_AT=$((JT[ref] + R)) KILL_REF="job $ref + $(secs "$R") s" ;;
	2) rnd "$NOPS"; ref=$R; rnd 1000; KILL_AT=$((times[ref] + R)) KILL_REF="change $ref + $(secs "$R") s" ;;
	3)
		# A 3 MB job streams for some 100 ms, a page for a few: only
		# the former can be caught; without one, a while after a job.
		ref=
		for ((j = 0; j < NJOBS; j++)); do [ "${JDOC[$j]}" = page ] || ref=$j; done
		if [ -n "$ref" ]; then
			KILL_AT=${JT[ref]} KILL_REF="job $ref streaming" STREAM_WAIT=1
		else
			rnd "$NJOBS"; ref=$R; rnd 2500; KILL_AT=$((JT[ref] + R)) KILL_REF="job $ref + $(secs "$R") s"
		fi
		;;
	esac
	rnd 2000; DOWN=$R
	events+=("$KILL_AT kill" "$((KILL_AT + DOWN)) start")
	mapfile -t events < <(printf '%s\n' "${events[@]}" | sort -n -k1,1 -s)
	echo "--- iteration $I seed $ISEED: $VICTIM at $(secs "$KILL_AT") s ($KILL_REF), down $(secs "$DOWN") s; $OPS_TEXT; jobs $JOBS_TEXT" >>"$W/fault.log"

	OPS_DONE=() JOBS_SENT=0 KILL_NOTE=
	now; T0=$T_MS
	for e in "${events[@]}"; do
		read -r t todo n <<<"$e"
		now; wait_ms=$((T0 + t - T_MS))
		[ $wait_ms -le 0 ] || sleep "$(secs "$wait_ms")"
		now
		case $todo in
		op) # shellcheck disable=SC2086
			host_op ${OPS[n]} ;;
		job) guest_job "$n" ;;
		kill) kill_victim ;;
		start) restart_victim || { fail "$VICTIM did not start again"; return 1; } ;;
		esac
	done

	now; T1=$T_MS
	if ! wait_until "$CONVERGE_S" printers_converged; then
		fail "printers did not converge within $CONVERGE_S s: $WHY"
		return 1
	fi
	now; T2=$T_MS
	QUIET_SINCE=
	if ! wait_until "$CONVERGE_S" jobs_settled; then
		fail "jobs were still printing after $CONVERGE_S s: $WHY"
		return 1
	fi
	now; T3=$T_MS
	# Nothing is left anywhere that could print: count every job of the run
	# (a fault can also print an earlier iteration's job again).
	scan_outputs
	local ok=0 refused=0 explained=0 notes=() printed m
	for ((j = 0; j < NJOBS; j++)); do
		[ "${JOK[$j]}" = 0 ] || continue
		# Refused by the guest's CUPS (lp said so): it may still have made
		# the job before it died, never twice.
		m=${MARK[$j]}
		printed=${COUNT[$m]:-0}
		if [ "$printed" -gt 1 ]; then
			fail "job $m, refused by lp (${JERR[$j]//$'\n'/ }), printed $printed times: ${WHERE[$m]}"
			return 1
		fi
		refused=$((refused + 1))
		notes+=("refused at submission: $m on ${JQ[$j]}: ${JERR[$j]//$'\n'/ } (printed $printed times)")
	done
	for m in "${!EXPECT[@]}"; do
		printed=${COUNT[$m]:-0}
		if [ "$printed" -eq "${EXPECT[$m]}" ]; then
			[ "$printed" -ne 1 ] || [[ $m != fz${SEED}i${I}j* ]] || ok=$((ok + 1))
			continue
		fi
		if explain "$m" "$printed"; then
			EXPECT[$m]=$printed
			NOTE[$m]=$EXPL
			explained=$((explained + 1))
			EXPLAINED_RUN=$((EXPLAINED_RUN + 1))
			notes+=("explained: $m on ${GQ[$m]} printed $printed times: $EXPL")
			say "explained: $m printed $printed times: $EXPL; $INFO"
			continue
		fi
		explain "$m" "$printed"
		fail "job $m on ${GQ[$m]} (guest job ${GID[$m]}) is at the print server's devices $printed times, not ${EXPECT[$m]}${NOTE[$m]:+ (earlier: ${NOTE[$m]})}: ${WHERE[$m]:-no file}
  evidence: $INFO"
		return 1
	done
	# The printers again, now that everything is quiet.
	if ! printers_converged; then
		fail "printers diverged after the jobs: $WHY"
		return 1
	fi
	for k in broker agent; do
		case $k in broker) t=$BROKER_PID ;; agent) t=$(agent_pid g1) ;; esac
		running "$t" || { fail "the $k is not running"; return 1; }
	done
	now
	local extra=
	[ "$refused" -eq 0 ] || extra=" ($refused refused by lp)"
	[ "$explained" -eq 0 ] || extra="$extra ($explained explained by a killed cupsd or device, below)"
	printf 'iter %2d/%d seed %-6s %-12s killed at %3s s, down %3s s (%s) | checked: %d queues = host, %d reports final, %d/%d jobs printed once%s | %s s (printers %s s, jobs %s s)\n' \
		"$I" "$ITER" "$ISEED" "$VICTIM" "$(secs "$KILL_AT")" "$(secs "$DOWN")" "$KILL_NOTE" \
		"$NQUEUES" "$NREPORTS" "$ok" "$NJOBS" "$extra" \
		"$(secs $((T_MS - T0)))" "$(secs $((T2 - T1)))" "$(secs $((T3 - T2)))"
	for e in "${notes[@]}"; do echo "    $e"; done
	return 0
}

DONE=0 EXPLAINED_RUN=0
for ((I = 1; I <= ITER; I++)); do
	iteration || break
	DONE=$I
done

# The daemons stop now, so that a sanitizer's report at exit is in their logs.
for f in "$W"/*.pid; do [ -f "$f" ] && PIDS+=("$(cat "$f")"); done
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${PIDS[@]}"; do wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"; done
PIDS=()
if grep -l -E 'runtime error|AddressSanitizer|LeakSanitizer' "$W"/*.log; then
	echo "FAIL: a sanitizer report in the daemons' logs above"
	FAILED=$((FAILED + 1))
fi
if [ "$FAILED" -eq 0 ]; then
	extra=
	[ "$EXPLAINED_RUN" -eq 0 ] || extra=" ($EXPLAINED_RUN job$([ "$EXPLAINED_RUN" -eq 1 ] || echo s) lost or printed again by a killed cupsd or device, explained above)"
	echo "fault-check: $DONE iterations, SEED=$SEED, all converged$extra ($((SECONDS - T_RUN)) s)"
	exit 0
fi
echo "fault-check: FAILED at iteration $((DONE + 1)) of $ITER, SEED=$SEED, victim ${VICTIM:-none} ($((SECONDS - T_RUN)) s)"
exit 1
