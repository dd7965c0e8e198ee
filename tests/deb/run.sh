#!/bin/bash
# make deb-check: the Debian packages as IT gets them, on this machine.
#
# Builds the packages (make deb), runs lintian on them, installs them with
# `apt-get install -y ./build/deb/*.deb` and no questions, checks their
# files, owners, modes, user, folders, conffiles and units, then runs the
# installed programs as the units would (the broker as _printredir with no
# capability, the agent as root with none) against the sandbox's real cupsd
# instances, the host's cupsd under Debian's default policy: the broker
# serves the packaged channels folder, the agent reaches it through a
# stand-in for the VM's virtio-serial port, and a job printed in the guest
# must reach the print server.  Then an upgrade with edited conffiles keeps
# the edits, and a purge leaves nothing the packages made.
#
# It installs and purges packages, creates a system user and starts
# daemons ON THIS MACHINE, so it refuses to run unless the machine is
# disposable: CI=true (CI's machine is) or PRINTREDIR_DEB_CHECK_HOST=1.
# It never touches /etc/cups or the system's cupsd.  At the end the machine
# is as before: packages purged, and the _printredir user (which a purge
# keeps, as Debian's policy has it) deleted when this run created it.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PKGS=(printredir-broker printredir-agent printredir-tray)
PASSED=0 FAILED=0
PIDS=()
START=$SECONDS

if [ "${CI:-}" != true ] && [ "${PRINTREDIR_DEB_CHECK_HOST:-}" != 1 ]; then
	cat >&2 <<'EOF'
deb-check: this installs, runs and purges the printredir packages on THIS
machine (and creates the system user _printredir while they are there).
Run it only where that is fine: CI=true (a disposable CI machine) or
PRINTREDIR_DEB_CHECK_HOST=1 make deb-check.
EOF
	exit 2
fi
[ "$(id -u)" = 0 ] || { echo "deb-check: must run as root (apt-get, cupsd)" >&2; exit 2; }
for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
		echo "deb-check: $p is installed already; purge it first (apt-get purge ${PKGS[*]})" >&2
		exit 2
	fi
done

W=$(mktemp -d /tmp/printredir-deb.XXXXXX)
chmod 755 "$W"	# the broker's user and cupsd's lp must reach inside
USER_BEFORE=0
getent passwd _printredir >/dev/null && USER_BEFORE=1
export DEBIAN_FRONTEND=noninteractive

phase() { echo "--- $* ($((SECONDS - START)) s)"; }

# shellcheck source=tests/checks.sh
source "$TOP/tests/checks.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

cleanup() {
	local pid p any=
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	[ -d "$W/world" ] && "$TOP/tests/sandbox/sandbox" stop "$W/world" >/dev/null 2>&1
	for p in "${PKGS[@]}"; do installed "$p" && any=1; done
	if [ -n "$any" ]; then
		echo "deb-check: purging the packages left installed"
		apt-get purge -y -q "${PKGS[@]}" >>"$W/apt.log" 2>&1 </dev/null
	fi
	if [ "$USER_BEFORE" = 0 ] && getent passwd _printredir >/dev/null; then
		userdel _printredir 2>/dev/null
		getent group _printredir >/dev/null && groupdel _printredir 2>/dev/null
	fi
	if [ "$FAILED" -gt 0 ] || [ -n "${KEEP_DEB:-}" ]; then
		echo "deb-check: logs kept in $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every path outside the work folders whose name says printredir: what a
# purge must bring back to how it was.
footprint() {
	find /etc /usr /lib /var /run /opt /srv \
		\( -path /var/cache/apt -o -path /var/log -o -path /var/lib/apt \
		   -o -path /var/lib/dpkg -o -path /var/tmp \) -prune -o \
		-name '*printredir*' -print 2>/dev/null | sort
}

# --- build and lint ---------------------------------------------------------------
phase "building the packages (make deb)"
if ! make -C "$TOP" --no-print-directory BUILD="$BUILD" deb >"$W/make-deb.log" 2>&1; then
	cat "$W/make-deb.log"
	echo "FAIL: make deb"
	exit 1
fi
make -C "$TOP" --no-print-directory BUILD="$BUILD" "$BUILD/tests/jetdirect" \
	"$BUILD/tests/vport" >>"$W/make-deb.log" 2>&1 || { cat "$W/make-deb.log"; exit 1; }
DEBS=("$BUILD"/deb/*.deb)
check "make deb built the three packages" test "${#DEBS[@]}" -eq 3
VERSION=$(dpkg-deb -f "${DEBS[0]}" Version)
echo "version $VERSION"

phase "lintian"
# Every tag is fixed or overridden with the reason (packaging/debian/*.lintian-overrides).
lintian --fail-on error,warning,info --display-level '>=info' "${DEBS[@]}" >"$W/lintian.log" 2>&1
check "lintian: no error, warning or info tag that is not overridden" test $? -eq 0
grep -E '^[EWI]:' "$W/lintian.log"
echo "lintian: $(lintian --show-overrides "${DEBS[@]}" 2>/dev/null | grep -c '^O:') tags overridden, each with its reason"

# --- install ----------------------------------------------------------------------
BEFORE=$(footprint)
phase "apt-get install -y ./build/deb/*.deb"
# No terminal and no input: a question would fail the install.
timeout 600 apt-get install -y -q "${DEBS[@]}" </dev/null >"$W/install.log" 2>&1
check "apt-get install of the three packages succeeds without a question" test $? -eq 0
for p in "${PKGS[@]}"; do check "$p is installed" installed "$p"; done
check "the broker's postinst says where the master key goes" \
	grep -q 'no master key at /etc/printredir/key' "$W/install.log"
check "the agent's postinst says where this guest's key goes" \
	grep -q 'no key for this guest at /etc/printredir/key' "$W/install.log"
check "no key was made" test ! -e /etc/printredir/key

# owner:group mode of a path
is() { [ "$(stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2" ] || { echo "  $1: $(stat -c '%U:%G %a' "$1" 2>&1), want $2"; return 1; }; }
check "host-broker root:root 0755" is /usr/sbin/host-broker "root:root 755"
check "guest-agent root:root 0755" is /usr/sbin/guest-agent "root:root 755"
check "guest-tray root:root 0755" is /usr/bin/guest-tray "root:root 755"
# cupsd runs a backend as its User (lp) when others may run it, and only if
# nobody but root may change it: the printredir backend needs no root.
check "the CUPS backend: root:root 0755, run by cupsd as lp" is /usr/lib/cups/backend/printredir "root:root 755"
check "the CUPS notifier: root:root 0755, run by cupsd as lp" is /usr/lib/cups/notifier/printredir "root:root 755"
check "broker.conf root:root 0644" is /etc/printredir/broker.conf "root:root 644"
check "agent.conf root:root 0644" is /etc/printredir/agent.conf "root:root 644"
check "the XDG autostart entry" is /etc/xdg/autostart/printredir-tray.desktop "root:root 644"
check "the broker's unit" is /lib/systemd/system/printredir-broker.service "root:root 644"
check "the agent's unit" is /lib/systemd/system/printredir-agent.service "root:root 644"
check "the tray's user unit" is /usr/lib/systemd/user/printredir-tray.service "root:root 644"
check "the udev rule" is /lib/udev/rules.d/60-printredir-agent.rules "root:root 644"
for m in printredir-broker:man8/host-broker.8 printredir-broker:man5/printredir.conf.5 \
	printredir-agent:man8/guest-agent.8 printredir-tray:man1/guest-tray.1; do
	check "${m%%:*} has the man page ${m##*/}" is "/usr/share/man/${m#*:}.gz" "root:root 644"
done
check "man finds them" bash -c 'for p in host-broker guest-agent guest-tray printredir.conf; do man -w "$p" >/dev/null || exit 1; done'
check "the udev rule starts the agent for the port org.printredir.0" \
	grep -q 'ATTR{name}=="org.printredir.0".*SYSTEMD_WANTS}+="printredir-agent.service"' \
	/lib/udev/rules.d/60-printredir-agent.rules

check "system user _printredir, no login shell" bash -c \
	'getent passwd _printredir | awk -F: "\$3 < 1000 && \$7 ~ /nologin/ {ok=1} END {exit !ok}"'
check "_printredir is in lpadmin (CUPS's SystemGroup)" bash -c 'id -nG _printredir | grep -qw lpadmin'
check "/var/lib/printredir/broker _printredir 0700" is /var/lib/printredir/broker "_printredir:_printredir 700"
check "/var/lib/printredir/agent root 0700" is /var/lib/printredir/agent "root:root 700"
check "/run/printredir _printredir 0755" is /run/printredir "_printredir:_printredir 755"
# 775: with an ACL, the group bits show its mask (the group itself has r-x).
check "/run/printredir/channels _printredir, with an ACL" is /run/printredir/channels "_printredir:_printredir 775"
# The hypervisor's socket, group-writable as libvirt makes it (0775): the
# folder's default ACL gives the broker's user write on it.
check "the channels folder's ACL lets _printredir write a socket root makes there" bash -c '
	(umask 002; mkfifo /run/printredir/channels/acl-probe) &&
	setpriv --reuid=_printredir --regid=_printredir --init-groups test -w /run/printredir/channels/acl-probe
	rc=$?; rm -f /run/printredir/channels/acl-probe; exit $rc'

conffiles() { dpkg-query -W -f='${Conffiles}\n' "$1" | awk 'NF {print $1}' | sort | tr '\n' ' '; }
check "printredir-broker's conffiles" test "$(conffiles printredir-broker)" = "/etc/printredir/broker.conf "
check "printredir-agent's conffiles" test "$(conffiles printredir-agent)" = "/etc/printredir/agent.conf "
check "printredir-tray's conffiles" test "$(conffiles printredir-tray)" = "/etc/xdg/autostart/printredir-tray.desktop "
check "broker.conf shows every key at its default" "$TOP/packaging/conf/check" \
	"$TOP/host-broker/broker.c" broker_keys /etc/printredir/broker.conf /usr/sbin/host-broker
check "agent.conf shows every key at its default" "$TOP/packaging/conf/check" \
	"$TOP/guest-agent/agent.c" agent_keys /etc/printredir/agent.conf /usr/sbin/guest-agent

check "the broker's unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/printredir-broker.service
check "the agent's unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/printredir-agent.service
check "the tray's user unit is enabled" test -L /etc/systemd/user/graphical-session.target.wants/printredir-tray.service
# Documentation=man: pages come from packaging/man once they are written.
man=--man=yes
ls "$TOP"/packaging/man/*.8 >/dev/null 2>&1 || man=--man=no
check "systemd-analyze verify: the broker's and the agent's units" \
	systemd-analyze verify "$man" printredir-broker.service printredir-agent.service
mkdir -m 700 "$W/xdg"
check "systemd-analyze verify --user: the tray's unit" env XDG_RUNTIME_DIR="$W/xdg" \
	systemd-analyze verify --user "$man" printredir-tray.service
for u in printredir-broker printredir-agent; do
	echo "  $(systemd-analyze security --offline=yes "/lib/systemd/system/$u.service" 2>/dev/null | tail -1)"
done
echo "  $(XDG_RUNTIME_DIR="$W/xdg" systemd-analyze security --offline=yes --user \
	/usr/lib/systemd/user/printredir-tray.service 2>/dev/null | tail -1)"

check "without its key the broker refuses to start, saying how to make one" bash -c '
	out=$(setpriv --reuid=_printredir --regid=_printredir --init-groups /usr/sbin/host-broker 2>&1)
	rc=$?; echo "  $out" | head -2; [ $rc = 2 ] && grep -q "head -c 32 /dev/urandom" <<<"$out"'
check "without its key the agent refuses to start, saying to run host-broker keygen" bash -c '
	out=$(/usr/sbin/guest-agent 2>&1); rc=$?; echo "  $out" | head -2
	[ $rc = 2 ] && grep -q "host-broker keygen" <<<"$out"'

# --- run the installed programs on the sandbox ----------------------------------------
phase "the installed broker and agent on the sandbox"
export JETDIRECT=$BUILD/tests/jetdirect
export PRINTREDIR_BACKEND=/usr/lib/cups/backend/printredir	# the installed one
export PRINTREDIR_NOTIFIER=/usr/lib/cups/notifier/printredir
if ! SANDBOX_GUESTS=1 "$TOP/tests/sandbox/sandbox" start "$W/world" >"$W/sandbox.log" 2>&1; then
	cat "$W/sandbox.log"
	echo "FAIL: the sandbox did not start"
	FAILED=$((FAILED + 1))
	exit 1
fi
# shellcheck disable=SC1091
source "$W/world/env"
# The host's cupsd under Debian's own default policy: Send-Document and
# Cancel-Job need the job's owner or the SystemGroup (lpadmin).
sed -i '/^<Policy default>/,/^<\/Policy>/d; s/^DefaultAuthType .*/DefaultAuthType Basic/' "$HOST_DIR/cupsd.conf"
sed -n '/^<Policy default>/,/^<\/Policy>/p' /usr/share/cups/cupsd.conf.default >>"$HOST_DIR/cupsd.conf"
sed -i 's/^SystemGroup .*/SystemGroup root lpadmin/' "$HOST_DIR/cups-files.conf"
kill -HUP "$HOST_PID"
sleep 1
check "the host's cupsd runs Debian's default policy" wait_for 20 \
	bash -c "lpstat -h '$HOST_SERVER' -r 2>/dev/null | grep -q 'is running' && grep -q 'Require user @OWNER @SYSTEM' '$HOST_DIR/cupsd.conf'"

# The master key as IT makes it, root:_printredir 0640 (here in the work
# folder, so that /etc/printredir is the packages' only).
(umask 077; head -c 32 /dev/urandom | base64 >"$W/key")
chown root:_printredir "$W/key" && chmod 640 "$W/key"
# The packaged broker.conf, edited as IT would (this edit must outlive the
# upgrade below).
sed -i -e "s|^;cups =.*|cups = $HOST_SERVER|" -e "s|^;channels =.*|channels = /run/printredir/channels|" \
	-e "s|^;key_file =.*|key_file = $W/key|" -e "s|^;name =.*|name = deb-check|" /etc/printredir/broker.conf
/usr/sbin/host-broker keygen -o "$W/key-vm1" vm1
check "host-broker keygen (as root) writes the guest's key from the broker's key" is "$W/key-vm1" "root:root 600"

# The broker as its unit runs it: user _printredir with its groups, no
# capability, no new privileges, umask 077, readiness through NOTIFY_SOCKET.
systemd-socket-activate --datagram -l "$W/notify.sock" \
	sh -c "dd bs=4096 count=1 <&3 2>/dev/null >'$W/notify.out'" >"$W/notify.log" 2>&1 &
PIDS+=($!)
wait_for 5 test -S "$W/notify.sock" && chmod 666 "$W/notify.sock"
(umask 077; exec env NOTIFY_SOCKET="$W/notify.sock" setpriv --reuid=_printredir --regid=_printredir \
	--init-groups --inh-caps=-all --bounding-set=-all --no-new-privs /usr/sbin/host-broker -d) \
	>"$W/broker.log" 2>&1 &
BROKER=$!
PIDS+=("$BROKER")
check "the broker tells its readiness (READY=1) once it has looked at the host's CUPS" \
	wait_for 20 grep -qs '^READY=1' "$W/notify.out"
check "...with its sockets listening and the host's printers counted" bash -c "
	[ -S /run/printredir/control.sock ] && grep -q '^STATUS=generation 1: [0-9]* host printers' '$W/notify.out'"
sed 's/^/  /' "$W/notify.out" && echo
check "the broker's process runs as _printredir with no capability" bash -c "
	grep -q \"^Uid:.*\$(id -u _printredir)\" /proc/$BROKER/status && grep -q '^CapEff:.*0000000000000000' /proc/$BROKER/status"
check "host-broker status (as root, the packaged paths) answers" bash -c \
	"/usr/sbin/host-broker status >'$W/status.txt' 2>&1"
head -3 "$W/status.txt" | sed 's/^/  /'
check "the host's cupsd pushes its changes through the packaged notifier" \
	grep -q '(changes push)$' "$W/status.txt"
check "...to the events socket, mode 0666 for cupsd's lp" is /run/printredir/cups-events.sock "_printredir:_printredir 666"
check "its state is in /var/lib/printredir/broker" test -s /var/lib/printredir/broker/broker.json

# A VM: its virtio-serial port's socket in the channels folder, made by root
# with the umask libvirt gives QEMU (002).
(umask 002; exec "$BUILD/tests/vport" -s /run/printredir/channels/vm1.sock -d "$W/vport-vm1") \
	2>"$W/vport.log" &
PIDS+=($!)
sed -i -e "s|^broker = .*|broker = virtio-serial:$W/vport-vm1|" -e "s|^;cups =.*|cups = $GUEST_SERVER|" \
	-e "s|^;key_file =.*|key_file = $W/key-vm1|" -e "s|^;guest_id =.*|guest_id = vm1|" \
	-e "s|^;job_socket =.*|job_socket = unix:$GUEST_JOB_SOCKET|" -e "s|^;command =.*|command =|" \
	-e "s|^;tray_socket =.*|tray_socket = unix:$W/tray.sock|" /etc/printredir/agent.conf
# The agent as its unit runs it: root without a capability.
(exec setpriv --inh-caps=-all --bounding-set=-all --no-new-privs /usr/sbin/guest-agent -d) \
	>"$W/agent.log" 2>&1 &
PIDS+=($!)
check "the broker reaches the VM through the packaged channels folder" \
	wait_for 20 grep -q 'channel /run/printredir/channels/vm1.sock: new' "$W/broker.log"
check "the agent installs the host's printers in the guest" wait_for 60 \
	bash -c "lpstat -h '$GUEST_SERVER' -p 2>/dev/null | grep -q '^printer net_generic_pdf'"
check "guest-agent status (the packaged paths) answers" bash -c "/usr/sbin/guest-agent status >'$W/agent-status.txt' 2>&1"
lpadmin -h "$HOST_SERVER" -p pushed -E -v "ipp://127.0.0.1:$PRINTSERVER_PORT/printers/generic_pdf"
check "a queue added on the host reaches the guest, pushed" wait_for 10 \
	bash -c "lpstat -h '$GUEST_SERVER' -p pushed >/dev/null 2>&1"
check "...by the notifier the host's cupsd runs as lp" \
	grep -q 'push: the host CUPS notifier is connected' "$W/broker.log"

echo "printredir deb-check page" >"$W/page.txt"
lp -h "$GUEST_SERVER" -U alice -d net_generic_pdf "$W/page.txt" >"$W/lp.out" 2>&1
check "a job printed in the guest (the installed backend) reaches the print server" \
	wait_for 90 bash -c "ls '$OUTPUT_DIR'/job-*-generic_pdf.prn >/dev/null 2>&1"
# lpstat -u asks the host's cupsd for the jobs of one owner (it withholds
# the owner's name from others under the default policy's JobPrivateValues).
check "...printed on the host as the guest's user alice, not as _printredir" \
	wait_for 10 bash -c "[ \$(lpstat -h '$HOST_SERVER' -W all -u alice 2>/dev/null | grep -c '^net_generic_pdf-') = 1 ] &&
		[ \$(lpstat -h '$HOST_SERVER' -W all -u _printredir 2>/dev/null | grep -c '^net_generic_pdf-') = 0 ]"

for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
PIDS=()
"$TOP/tests/sandbox/sandbox" stop "$W/world" >/dev/null 2>&1
rm -f /run/printredir/channels/vm1.sock

# --- upgrade ------------------------------------------------------------------------
phase "upgrade to a newer version, edited conffiles"
# The same packages as version +1, and the agent's conffile changed in it as
# a new release may change it: dpkg then keeps the administrator's edit
# (--force-confold, as for any unattended upgrade) and puts the new one
# beside it as .dpkg-dist.
mkdir -p "$W/up"
for f in "${DEBS[@]}"; do
	d=$W/up/$(dpkg-deb -f "$f" Package)
	dpkg-deb -R "$f" "$d"
	sed -i "s/^Version: .*/Version: $VERSION.1/" "$d/DEBIAN/control"
	if [ -f "$d/etc/printredir/agent.conf" ]; then
		echo "; a line of the next release" >>"$d/etc/printredir/agent.conf"
		(cd "$d" && sed -i "s|^[0-9a-f]*  etc/printredir/agent.conf\$|$(md5sum etc/printredir/agent.conf)|" DEBIAN/md5sums)
	fi
	dpkg-deb --root-owner-group -b "$d" "$W/up/$(basename "$d")_up.deb" >/dev/null
done
timeout 600 apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"$W"/up/*_up.deb </dev/null >"$W/upgrade.log" 2>&1
check "apt-get install of the newer packages succeeds without a question" test $? -eq 0
check "printredir-broker is upgraded" test "$(dpkg-query -W -f='${Version}' printredir-broker)" = "$VERSION.1"
check "the edited broker.conf is kept" grep -q "^key_file = $W/key" /etc/printredir/broker.conf
check "the edited agent.conf is kept" grep -q "^guest_id = vm1" /etc/printredir/agent.conf
check "...and the release's new agent.conf is beside it" test -f /etc/printredir/agent.conf.dpkg-dist
check "the upgrade asks nothing of the key (it is there)" bash -c "! grep -q 'no master key' '$W/upgrade.log'"
check "the broker's state survives the upgrade" test -s /var/lib/printredir/broker/broker.json

# --- purge ----------------------------------------------------------------------------
phase "apt-get purge"
timeout 600 apt-get purge -y -q "${PKGS[@]}" </dev/null >"$W/purge.log" 2>&1
check "apt-get purge succeeds" test $? -eq 0
for p in "${PKGS[@]}"; do check "$p is gone" bash -c "! dpkg-query -W -f='\${Status}' $p 2>/dev/null | grep -q installed"; done
AFTER=$(footprint)
check "nothing the packages made is left (files, folders, unit links, state)" \
	bash -c "diff <(echo \"\$1\") <(echo \"\$2\")" _ "$BEFORE" "$AFTER"
check "the _printredir user stays (Debian's policy: files it owned may remain)" \
	getent passwd _printredir
check "the key IT made is not touched" test -s "$W/key"

echo "deb-check: $((SECONDS - START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
