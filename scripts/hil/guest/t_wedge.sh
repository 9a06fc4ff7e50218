#!/bin/sh
# A keyboard-wedge scanner on the real kernel input stack: a dummy_hcd HID gadget with a boot
# keyboard descriptor and a Honeywell vendor id (0c2e:0b8f); usbhid makes /dev/input/eventN, the
# project's udev rule links it as /dev/postern/kbd-scanner, and `postern serve` reads it with the
# evdev driver (EVIOCGRAB). Key reports typed into /dev/hidg0 carry a QR pass and an ID number
# (shift for upper case) to the relay line on gpio-sim; a second reader gets nothing while the
# daemon holds the grab; unbind → device_missing, rebind → reopened without a restart.
. "$HIL_GUEST/lib.sh"
hid_scenario_setup
# The boot keyboard report descriptor (Documentation/usb/gadget_hid.rst).
hid_gadget wedge 0c2e 0b8f 1 1 8 '\005\001\011\006\241\001\005\007\031\340\051\347\025\000\045\001\165\001\225\010\201\002\225\001\165\010\201\003\225\005\165\001\005\010\031\001\051\005\221\002\225\001\165\003\221\003\225\006\165\010\025\000\045\145\005\007\031\000\051\145\201\000\300'
wait_for 30 test -e /dev/postern/kbd-scanner && pass "udev rule made /dev/postern/kbd-scanner → $(readlink /dev/postern/kbd-scanner) ($(( $(now_ms) - BOUND_MS )) ms after bind)" || { fail "no /dev/postern/kbd-scanner"; ls -l /dev/input 2>&1; }
wait_for 10 test -e "$HIDG" || fail "no gadget node $HIDG"

# key CHAR: sets K (HID usage id) and M (modifier: 2 = left shift) for one character.
key() {
  M=0
  case "$1" in
    [a-z]) K=$(( $(printf '%d' "'$1") - 97 + 4 )) ;;
    [A-Z]) K=$(( $(printf '%d' "'$1") - 65 + 4 )); M=2 ;;
    [1-9]) K=$(( $1 + 29 )) ;;
    0) K=39 ;;
    -) K=45 ;;
    _) K=45; M=2 ;;
    .) K=55 ;;
    *) K=0 ;;
  esac
}
report() { printf "\\$(printf '%03o' $1)\\000\\$(printf '%03o' $2)\\000\\000\\000\\000\\000" > "$HIDG"; }
# type_line TEXT: one press and one release report per character, then Enter.
type_line() {
  s=$1
  while [ -n "$s" ]; do
    c=${s%"${s#?}"}; s=${s#?}
    key "$c"; report $M $K; report 0 0
  done
  report 0 40; report 0 0
}

make_registry
kiosk_config /tmp/dev/thermo-in "" evdev /dev/postern/kbd-scanner 0c2e:0b8f
"$POSTERN" sim thermometer --protocol gy-mcu90614 --link /tmp/dev/thermo-in > /tmp/sim-t.log 2>&1 &
SIMT=$!
wait_for 10 test -e /tmp/dev/thermo-in || fail "thermometer simulator did not start"
"$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!
wait_for 60 logged '"device":"scan-in","kind":"device_state","message":"connected' && pass "daemon opened and grabbed the wedge's event node" || { fail "wedge not opened"; cat /tmp/serve.log; }
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' || true
# Another reader of the same node: with EVIOCGRAB held by the daemon it must get nothing.
cat /dev/postern/kbd-scanner > /tmp/leak & LEAK=$!

t1=$(now_ms)
type_line "$(cat /tmp/pass.txt)"
wait_for 30 relay_open && pass "QR pass typed by the wedge ($(wc -c < /tmp/pass.txt) chars) → decision → relay line ($(( $(now_ms) - t1 )) ms from the first key)" || { fail "no passage from the wedge"; tail -5 /tmp/serve.log; }
wait_for 10 admitted 1 && pass "admit logged" || fail "admit not logged"
wait_for 10 relay_locked || true
sleep 1
type_line "11010519491231002X"
wait_for 30 admitted 2 && pass "ID number with a shifted X typed by the wedge → second admit" || { fail "ID number from the wedge not admitted"; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }
kill $LEAK 2>/dev/null
[ ! -s /tmp/leak ] && pass "EVIOCGRAB: a second reader of the node got 0 bytes while the daemon held it" || fail "keystrokes leaked to another reader ($(wc -c < /tmp/leak) bytes)"

unplug_replug scan-in
sleep 1
type_line "$(cat /tmp/pass.txt)"
wait_for 30 admitted 3 && pass "a passage works again after the replug" || fail "no passage after the replug"
kill -TERM $PID; wait $PID
kill $SIMT 2>/dev/null
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies" || fail "log verify failed"
finish
