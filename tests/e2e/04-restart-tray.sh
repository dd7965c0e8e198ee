#!/bin/bash
# Scenario 4, the restart prompt in a real desktop session: a private D-Bus
# session bus, Xvfb, the dunst notification daemon and build/guest-tray.
# The restart prompt appears as a notification (a screenshot is saved), and
# "Restart now" is chosen through dunst's context menu, whose dmenu is a
# script that picks that action; the answer must reach the agent, which then
# restarts the workspace.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

for tool in Xvfb dunst dunstctl dbus-daemon import; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (make deps)"; exit 77; }
done

# --- a desktop session: X display, session bus, notification daemon --------------
for d in $(seq 90 130); do [ -e "/tmp/.X$d-lock" ] || break; done
export DISPLAY=:$d
Xvfb "$DISPLAY" -screen 0 1024x600x24 -nolisten tcp >"$W/xvfb.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -e "/tmp/.X11-unix/X$d" || { echo "FAIL: Xvfb did not start"; exit 1; }
# A session bus without service files: D-Bus must not auto-start a second
# notification daemon (with the default configuration) behind our dunst.
cat >"$W/session.conf" <<BUS
<busconfig>
  <type>session</type>
  <listen>unix:dir=$W</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
BUS
eval "$(dbus-daemon --config-file="$W/session.conf" --fork --print-address=1 --print-pid=1 |
	{ read -r a; read -r p; echo "export DBUS_SESSION_BUS_ADDRESS='$a'; BUS_PID=$p"; })"
PIDS+=("$BUS_PID")
cat >"$W/pick" <<'PICK'
#!/bin/sh
# dunst's "dmenu": gets the actions on stdin, answers with the one to run.
tee -a "$(dirname "$0")/menu.seen" | grep -m1 'Restart now'
PICK
chmod +x "$W/pick"
cat >"$W/dunstrc" <<RC
[global]
    font = DejaVu Sans 14
    width = 700
    height = 300
    origin = top-left
    offset = 40x40
    frame_width = 3
    dmenu = $W/pick
[urgency_critical]
    background = "#203040"
    foreground = "#ffffff"
    frame_color = "#ff9000"
    timeout = 0
RC
dunst -config "$W/dunstrc" >"$W/dunst.log" 2>&1 &
PIDS+=($!)
wait_for 10 dunstctl is-paused >/dev/null 2>&1 || { echo "FAIL: dunst did not start"; exit 1; }

# --- the printredir world, an open application, the tray ------------------------------
world_start
broker_conf "print_server = $PS"
broker_start || exit 1
cat /proc/sys/kernel/random/uuid >"$W/boot_id-t1"
agent_conf t1 "
[restart]
command = $TOP/tests/e2e/fake-restart $W t1 $BUILD
boot_id_file = $W/boot_id-t1
defer_interval = 1h
max_deferrals = 3
apps_uid_min = 42000
tray_socket = unix:$W/tray-t1.sock"
pkill -u 42424 2>/dev/null
setpriv --reuid=42424 --regid=42424 --clear-groups sleep 600 &
PIDS+=($!)
agent_start t1
"$BUILD/guest-tray" -d -s "unix:$W/tray-t1.sock" >"$W/tray.log" 2>&1 &
PIDS+=($!)

check "the tray connects and says it can show notifications" \
	wait_for 20 grep -q 'can ask the user' "$W/agent-t1.log"
shown() { dunstctl count displayed 2>/dev/null | grep -qv '^0$'; }
check "the restart prompt is shown as a notification" wait_for 40 shown
sleep 0.5
import -window root "$W/restart-prompt.png" 2>/dev/null
check "a screenshot of it is taken" test -s "$W/restart-prompt.png"
[ -n "${SCREENSHOT_DIR:-}" ] && cp "$W/restart-prompt.png" "$SCREENSHOT_DIR/"
check "the notification lists the new printers and the open application" \
	bash -c "grep -q 'prompt New printers are ready: .*net_generic_pdf' '$W/tray.log' &&
		grep -q '^Open applications: sleep' '$W/tray.log'"

dunstctl context
menu_offers() { grep -q 'Restart now' "$W/menu.seen" && grep -q 'Later' "$W/menu.seen"; }
check "dunst's context menu offers Restart now and Later" wait_for 10 menu_offers
check "the chosen action reaches the agent" wait_for 10 grep -q 'answered "now"' "$W/agent-t1.log"
check "and the workspace restarts" wait_for 10 test -s "$W/restart-t1.calls"
phase_is_done() { [ "$(status_json | jq -r '.guests[] | select(.id == "t1") | .restart')" = "done" ]; }
check "the broker shows done after the new boot" wait_for 20 phase_is_done
check "the tray reconnects to the restarted agent" \
	wait_for 20 bash -c "[ \$(grep -c 'connected to the agent' '$W/tray.log') -ge 2 ]"

finish
