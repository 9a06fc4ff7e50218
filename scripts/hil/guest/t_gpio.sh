#!/bin/sh
# GPIO on a real kernel chip (gpio-sim): relay pulse on admit, locked on deny, lights and alarm,
# door and exit button by `pull`, SIGTERM mid-pulse, SIGKILL, restart driving safe values.
. "$HIL_GUEST/lib.sh"
DATA=/tmp/hil-data; rm -rf "$DATA" /tmp/dev; mkdir -p "$DATA" /tmp/dev
modprobe gpio-sim || { echo "FAIL cannot load gpio-sim"; exit 1; }
make_chip 16
echo "gpio-sim chip /dev/$CHIP at $S"
v() { cat $S/sim_gpio$1/value; }

make_registry
cat > /tmp/postern.toml <<CFG
data_dir = "$DATA"
[rules]
pairing_window_seconds = 10
reading_holdoff_seconds = 0
anti_passback = "off"
[relay]
pulse_ms = 1500
[gpio]
chip = "/dev/$CHIP"
debounce_ms = 20
[[device]]
id = "t"
kind = "thermometer"
protocol = "ascii-line"
path = "/tmp/dev/t"
[[device]]
id = "q"
kind = "scanner"
protocol = "serial-line"
path = "/tmp/dev/q"
[[lane]]
id = "in"
direction = "in"
thermometer = "t"
readers = ["q"]
[lane.gpio]
relay = { offset = 0, active_low = true }
green = 1
red = 2
alarm = 4
door = 5
exit_button = 6
CFG
"$POSTERN" sim thermometer --protocol ascii-line --link /tmp/dev/t >/dev/null 2>&1 &
mkfifo /tmp/scan.fifo
"$POSTERN" sim scanner --protocol serial-line --link /tmp/dev/q < /tmp/scan.fifo >/dev/null 2>&1 &
exec 3>/tmp/scan.fifo
wait_for 20 test -e /tmp/dev/q
start_daemon() { "$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!; }
t0=$(now_ms); start_daemon
if wait_for 60 logged '"kind":"device_state"'; then pass "daemon up on /dev/$CHIP in $(( $(now_ms) - t0 )) ms"; else fail "daemon did not start"; cat /tmp/serve.log; exit 1; fi
[ "$(v 0)" = 1 ] && pass "relay requested locked (line 0 = 1, active-low)" || fail "relay not locked at start ($(v 0))"

# Admit: the relay line goes to 0 (energised) and back to 1.
cat /tmp/pass.txt >&3
if wait_for 20 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]"; then pass "admit: relay pulsed open ($WAITED ms after the scan)"; else fail "admit: relay never opened"; fi
[ "$(v 1)" = 1 ] && pass "admit: green light on" || fail "green light off"
wait_for 5 sh -c "[ \$(cat $S/sim_gpio0/value) = 1 ]" && pass "relay locked again after the pulse ($WAITED ms)" || fail "relay stayed open"

# Deny: a forged code; the relay must not move for 4 s, red light on.
echo "P1AAAAforged" >&3
moved=0; red=0; i=0; while [ $i -lt 60 ]; do [ "$(v 0)" = 0 ] && moved=1; [ "$(v 2)" = 1 ] && red=1; sleep 0.1; i=$((i+1)); done
wait_for 20 logged '"reason":"malformed_credential"' && pass "deny logged" || fail "deny not logged"
[ $moved = 0 ] && pass "deny: relay stayed locked for 6 s" || fail "deny: relay moved"
[ $red = 1 ] && pass "deny: red light on" || fail "deny: red light never on"

# Door forced open while locked: alert and alarm.
echo pull-up > $S/sim_gpio5/pull
wait_for 10 logged '"alert":"forced_open"' && pass "door pulled open while locked: forced_open alert ($WAITED ms)" || fail "no forced_open alert"
[ "$(v 4)" = 1 ] && pass "alarm line on" || fail "alarm line off"
echo pull-down > $S/sim_gpio5/pull
wait_for 10 logged '"message":"door closed"' && pass "door closed logged" || fail "door close not logged"
# Exit button: relay opens, event logged.
echo pull-up > $S/sim_gpio6/pull
wait_for 10 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]" && pass "exit button opened the relay ($WAITED ms)" || fail "exit button: relay did not open"
wait_for 10 logged 'exit button pressed' && pass "exit button logged" || fail "exit button not logged"
echo pull-down > $S/sim_gpio6/pull
wait_for 5 sh -c "[ \$(cat $S/sim_gpio0/value) = 1 ]"

# SIGTERM mid-pulse: outputs safe, log flushed, exit 0.
sleep 2
cat /tmp/pass.txt >&3
wait_for 20 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]"
kill -TERM $PID; wait $PID; rc=$?
[ $rc = 0 ] && pass "SIGTERM mid-pulse: clean exit" || fail "SIGTERM exit status $rc"
[ "$(v 0)" = 1 ] && [ "$(v 1)" = 0 ] && [ "$(v 4)" = 0 ] && pass "after SIGTERM: relay locked, lights and alarm off" || fail "after SIGTERM: relay=$(v 0) green=$(v 1) alarm=$(v 4)"
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies after SIGTERM" || fail "log verify failed"

# SIGKILL mid-pulse: what the line does is the chip's business; show it, then restart.
start_daemon
wait_for 60 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep -c '\"message\":\"started' | grep -q 2"
sleep 2
cat /tmp/pass.txt >&3
if wait_for 20 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]"; then
  kill -KILL $PID; wait $PID 2>/dev/null
  echo "INFO after SIGKILL mid-pulse gpio-sim line 0 reads $(v 0) (released line returns to its pull-up: locked)"
  [ "$(v 0)" = 1 ] && pass "SIGKILL: released relay line falls to its pull-up (locked)" || fail "SIGKILL: relay line $(v 0)"
else
  fail "second admit never opened the relay"
fi
# A floating/pulled-open line is driven locked the moment the daemon requests it.
echo pull-down > $S/sim_gpio0/pull
[ "$(v 0)" = 0 ] && echo "INFO line 0 pulled to 0 (open) before restart"
start_daemon
wait_for 60 sh -c "[ \$(cat $S/sim_gpio0/value) = 1 ]" && pass "restart drives the relay locked at once ($WAITED ms after exec)" || fail "restart did not lock the relay"
kill -TERM $PID; wait $PID
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies after SIGKILL and restart" || fail "log verify failed after SIGKILL"
exec 3>&-
finish
