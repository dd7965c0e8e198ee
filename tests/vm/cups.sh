# Sourced by the test VM's scripts (guest-boot, vsock-check): a cupsd of the
# host's own binaries with its configuration and spool in a folder of its
# own, and the printredir backend next to the system's backends.
#
#   cups_serverbin BACKEND   the ServerBin all of them share (/run/serverbin)
#   cups_start DIR LISTEN    a cupsd on LISTEN (a socket path or 127.0.0.1:PORT)
#                            whose ServerRoot is DIR; returns once it answers

SB=/run/serverbin

cups_serverbin() {
	[ -x "$SB/backend/printredir" ] && return 0
	mkdir -p "$SB/backend"
	for f in /usr/lib/cups/*; do
		[ "$(basename "$f")" = backend ] || ln -s "$f" "$SB/$(basename "$f")"
	done
	for f in /usr/lib/cups/backend/*; do ln -s "$f" "$SB/backend/$(basename "$f")"; done
	cp "$1" "$SB/backend/printredir"
	chown root:root "$SB/backend/printredir"
	chmod 0755 "$SB/backend/printredir"
}

cups_start() {
	c=$1
	mkdir -p "$c/ppd" "$c/ssl" "$c/spool/tmp" "$c/cache" "$c/run" "$c/log"
	chown root:lp "$c" "$c/ppd" "$c/spool" "$c/spool/tmp" "$c/cache" "$c/run" "$c/log"
	chmod 0755 "$c" "$c/ppd" "$c/run" "$c/log"
	chmod 0710 "$c/spool"
	chmod 1770 "$c/spool/tmp"
	chmod 0770 "$c/cache"
	cat >"$c/cups-files.conf" <<CONF
User lp
Group lp
SystemGroup root
ServerRoot $c
ServerBin $SB
RequestRoot $c/spool
TempDir $c/spool/tmp
CacheDir $c/cache
StateDir $c/run
Printcap $c/run/printcap
AccessLog $c/log/access_log
ErrorLog $c/log/error_log
PageLog $c/log/page_log
FileDevice No
SetEnv PRINTREDIR_JOB_SOCKET /run/printredir/jobs.sock
CONF
	cat >"$c/cupsd.conf" <<CONF
LogLevel info
Listen $2
Browsing No
DefaultAuthType None
JobRetryInterval 5
JobRetryLimit 0
<Location />
  Order allow,deny
  Allow all
</Location>
CONF
	cupsd -f -c "$c/cupsd.conf" -s "$c/cups-files.conf" >"$c/log/cupsd.out" 2>&1 &
	n=200
	while [ "$n" -gt 0 ]; do
		lpstat -h "$2" -r 2>/dev/null | grep -q "scheduler is running" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "cupsd in $c did not answer on $2" >&2
	return 1
}
