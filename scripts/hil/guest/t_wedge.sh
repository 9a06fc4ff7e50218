#!/bin/sh
# A keyboard-wedge scanner on the real kernel input stack: a dummy_hcd HID gadget with a boot
# keyboard descriptor and a Honeywell vendor id (0c2e:0b8f); usbhid makes /dev/input/eventN, the
# project's udev rule links it as /dev/postern/kbd-scanner, and `postern serve` reads it with the
# evdev driver (EVIOCGRAB). Key reports typed into /dev/hidg0 carry a QR pass and an ID number
# (shift for upper case) to the relay line on gpio-sim; a second reader gets nothing while the
# daemon holds the grab; unbind → device_missing, rebind → reopened without a restart.
. "$HIL_GUEST/lib.sh"
ROOT=$(cd "$HIL_GUEST/../../.." && pwd)
DATA=/tmp/hil-data; rm -rf "$DATA" /tmp/dev; mkdir -p "$DATA" /tmp/dev
modprobe gpio-sim && modprobe dummy_hcd && modprobe libcomposite && modprobe usb_f_hid || { echo "FAIL modules"; exit 1; }
modprobe usbhid 2>/dev/null; modprobe hid_generic 2>/dev/null
make_chip 8
mkdir -p /run/udev/rules.d
cp "$ROOT/udev/60-postern.rules" /run/udev/rules.d/
/lib/systemd/systemd-udevd --daemon --resolve-names=never || { echo "FAIL udevd"; exit 1; }

G=/sys/kernel/config/usb_gadget/wedge; mkdir -p $G; cd $G
echo 0x0c2e > idVendor; echo 0x0b8f > idProduct; echo 0x0200 > bcdUSB
mkdir -p strings/0x409 configs/c.1/strings/0x409 functions/hid.usb0
echo W0001 > strings/0x409/serialnumber; echo HIL > strings/0x409/manufacturer; echo "wedge scanner" > strings/0x409/product
echo cfg > configs/c.1/strings/0x409/configuration
echo 1 > functions/hid.usb0/protocol; echo 1 > functions/hid.usb0/subclass; echo 8 > functions/hid.usb0/report_length
# The boot keyboard report descriptor (Documentation/usb/gadget_hid.rst), octal escapes for dash.
printf '\005\001\011\006\241\001\005\007\031\340\051\347\025\000\045\001\165\001\225\010\201\002\225\001\165\010\201\003\225\005\165\001\005\010\031\001\051\005\221\002\225\001\165\003\221\003\225\006\165\010\025\000\045\145\005\007\031\000\051\145\201\000\300' > functions/hid.usb0/report_desc
ln -s functions/hid.usb0 configs/c.1/
UDC=$(ls /sys/class/udc | head -1)
t0=$(now_ms); echo $UDC > UDC; cd /
HIDG=/dev/hidg$(cut -d: -f2 /sys/kernel/config/usb_gadget/wedge/functions/hid.usb0/dev)
wait_for 30 test -e /dev/postern/kbd-scanner && pass "udev rule made /dev/postern/kbd-scanner → $(readlink /dev/postern/kbd-scanner) ($(( $(now_ms) - t0 )) ms after bind)" || { fail "no /dev/postern/kbd-scanner"; ls -l /dev/input 2>&1; }
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
[[device]]
id = "thermo-in"
kind = "thermometer"
protocol = "gy-mcu90614"
path = "/tmp/dev/thermo-in"
baud = 9600
[[device]]
id = "wedge-in"
kind = "scanner"
protocol = "evdev"
path = "/dev/postern/kbd-scanner"
usb = "0c2e:0b8f"
[[lane]]
id = "in"
direction = "in"
thermometer = "thermo-in"
readers = ["wedge-in"]
[lane.gpio]
relay = { offset = 0, active_low = true }
CFG
"$POSTERN" sim thermometer --protocol gy-mcu90614 --link /tmp/dev/thermo-in > /tmp/sim-t.log 2>&1 &
SIMT=$!
wait_for 10 test -e /tmp/dev/thermo-in || fail "thermometer simulator did not start"
"$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!
wait_for 60 logged '"device":"wedge-in","kind":"device_state","message":"connected' && pass "daemon opened and grabbed the wedge's event node" || { fail "wedge not opened"; cat /tmp/serve.log; }
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' || true
# Another reader of the same node: with EVIOCGRAB held by the daemon it must get nothing.
cat /dev/postern/kbd-scanner > /tmp/leak & LEAK=$!

t1=$(now_ms)
type_line "$(cat /tmp/pass.txt)"
wait_for 30 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]" && pass "QR pass typed by the wedge ($(wc -c < /tmp/pass.txt) chars) → decision → relay line ($(( $(now_ms) - t1 )) ms from the first key)" || { fail "no passage from the wedge"; tail -5 /tmp/serve.log; }
wait_for 10 logged '"reason":"ok"' && pass "admit logged" || fail "admit not logged"
wait_for 10 sh -c "[ \$(cat $S/sim_gpio0/value) = 1 ]" || true
sleep 1
type_line "11010519491231002X"
wait_for 30 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"kind\":\"passage\"' | grep -c '\"reason\":\"ok\"' | grep -q 2" && pass "ID number with a shifted X typed by the wedge → second admit" || { fail "ID number from the wedge not admitted"; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }
kill $LEAK 2>/dev/null
[ ! -s /tmp/leak ] && pass "EVIOCGRAB: a second reader of the node got 0 bytes while the daemon held it" || fail "keystrokes leaked to another reader ($(wc -c < /tmp/leak) bytes)"

echo "" > /sys/kernel/config/usb_gadget/wedge/UDC
wait_for 30 logged '"alert":"device_missing"' && pass "unplugged wedge: device_missing alert ($WAITED ms)" || fail "no device_missing alert"
kill -0 $PID && pass "daemon still running with the wedge gone" || fail "daemon died"
t2=$(now_ms); echo $UDC > /sys/kernel/config/usb_gadget/wedge/UDC
wait_for 60 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"device\":\"wedge-in\"' | grep -c 'connected at' | grep -q 2" && pass "replugged wedge reopened without a restart in $(( $(now_ms) - t2 )) ms" || fail "wedge not reopened"
sleep 1
HIDG=/dev/hidg$(cut -d: -f2 /sys/kernel/config/usb_gadget/wedge/functions/hid.usb0/dev)
type_line "$(cat /tmp/pass.txt)"
wait_for 30 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"kind\":\"passage\"' | grep -c '\"reason\":\"ok\"' | grep -q 3" && pass "a passage works again after the replug" || fail "no passage after the replug"
kill -TERM $PID; wait $PID
kill $SIMT 2>/dev/null
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies" || fail "log verify failed"
finish
