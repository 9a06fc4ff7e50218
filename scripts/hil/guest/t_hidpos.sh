#!/bin/sh
# A HID-POS scanner on the real kernel HID stack: a dummy_hcd HID gadget with a bar-code-scanner
# report descriptor (usage page 0x8C, input report 2 of 63 bytes, feature report FE) and the
# Honeywell ids 0c2e:0b8f; hid-generic makes /dev/hidrawN, the project's udev rule links it as
# /dev/postern/hidpos-scanner, and `postern serve` reads it with the hid-pos driver. Honeywell
# reports written to /dev/hidg0 carry a QR pass over three reports (MORE set) and an ID number
# to the relay line on gpio-sim; unbind → device_missing, rebind → reopened without a restart.
. "$HIL_GUEST/lib.sh"
ROOT=$(cd "$HIL_GUEST/../../.." && pwd)
DATA=/tmp/hil-data; rm -rf "$DATA" /tmp/dev; mkdir -p "$DATA" /tmp/dev
modprobe gpio-sim && modprobe dummy_hcd && modprobe libcomposite && modprobe usb_f_hid || { echo "FAIL modules"; exit 1; }
modprobe usbhid 2>/dev/null; modprobe hid_generic 2>/dev/null
make_chip 8
mkdir -p /run/udev/rules.d
cp "$ROOT/udev/60-postern.rules" /run/udev/rules.d/
/lib/systemd/systemd-udevd --daemon --resolve-names=never || { echo "FAIL udevd"; exit 1; }

G=/sys/kernel/config/usb_gadget/hidpos; mkdir -p $G; cd $G
echo 0x0c2e > idVendor; echo 0x0b8f > idProduct; echo 0x0200 > bcdUSB
mkdir -p strings/0x409 configs/c.1/strings/0x409 functions/hid.usb0
echo P0001 > strings/0x409/serialnumber; echo HIL > strings/0x409/manufacturer; echo "hid-pos scanner" > strings/0x409/product
echo cfg > configs/c.1/strings/0x409/configuration
echo 0 > functions/hid.usb0/protocol; echo 0 > functions/hid.usb0/subclass; echo 64 > functions/hid.usb0/report_length
# Without an OUT endpoint, SET_REPORT from the host arrives on the gadget's read side.
[ -e functions/hid.usb0/no_out_endpoint ] && echo 1 > functions/hid.usb0/no_out_endpoint
printf '\006\214\000\011\002\241\001\205\002\025\000\046\377\000\165\010\225\077\011\022\201\002\205\376\225\001\011\021\261\002\300' > functions/hid.usb0/report_desc
ln -s functions/hid.usb0 configs/c.1/
UDC=$(ls /sys/class/udc | head -1)
t0=$(now_ms); echo $UDC > UDC; cd /
HIDG=/dev/hidg$(cut -d: -f2 /sys/kernel/config/usb_gadget/hidpos/functions/hid.usb0/dev)
wait_for 30 test -e /dev/postern/hidpos-scanner && pass "udev rule made /dev/postern/hidpos-scanner → $(readlink /dev/postern/hidpos-scanner) ($(( $(now_ms) - t0 )) ms after bind)" || { fail "no /dev/postern/hidpos-scanner"; ls -l /dev/hidraw* 2>&1; }
wait_for 10 test -e "$HIDG" || fail "no gadget node $HIDG"
# send_code TEXT: the Honeywell reports for TEXT, one 64-byte write each.
send_code() { "$POSTERN" debug hid-pos-reports "$1" > /tmp/reports.bin && dd if=/tmp/reports.bin of="$HIDG" bs=64 2>/dev/null; }

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
id = "pos-in"
kind = "scanner"
protocol = "hid-pos"
path = "/dev/postern/hidpos-scanner"
usb = "0c2e:0b8f"
[[lane]]
id = "in"
direction = "in"
thermometer = "thermo-in"
readers = ["pos-in"]
[lane.gpio]
relay = { offset = 0, active_low = true }
CFG
"$POSTERN" sim thermometer --protocol gy-mcu90614 --link /tmp/dev/thermo-in > /tmp/sim-t.log 2>&1 &
SIMT=$!
wait_for 10 test -e /tmp/dev/thermo-in || fail "thermometer simulator did not start"
"$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!
wait_for 60 logged '"device":"pos-in","kind":"device_state","message":"connected' && pass "daemon opened the scanner's hidraw node" || { fail "HID-POS scanner not opened"; cat /tmp/serve.log; }
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' || true
# The feature report FE 01 that switches a Honeywell into HID-POS mode, as the gadget received it.
if [ -e /sys/kernel/config/usb_gadget/hidpos/functions/hid.usb0/no_out_endpoint ]; then
  got=$(timeout 3 dd if="$HIDG" bs=64 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$got" = "fe01" ] && pass "the driver sent feature report FE 01 (HID-POS mode) at open" || fail "feature report FE 01 not received (got '$got')"
else
  echo "INFO this kernel's f_hid has no no_out_endpoint: the FE 01 feature report is not observable"
fi

t1=$(now_ms)
send_code "$(cat /tmp/pass.txt)"
wait_for 30 sh -c "[ \$(cat $S/sim_gpio0/value) = 0 ]" && pass "QR pass in $(( $(stat -c %s /tmp/reports.bin) / 64 )) HID-POS reports → decision → relay line ($(( $(now_ms) - t1 )) ms)" || { fail "no passage from the HID-POS scanner"; tail -5 /tmp/serve.log; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }
wait_for 10 logged '"reason":"ok"' && pass "admit logged" || fail "admit not logged"
wait_for 10 sh -c "[ \$(cat $S/sim_gpio0/value) = 1 ]" || true
sleep 1
send_code "11010519491231002X"
wait_for 30 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"kind\":\"passage\"' | grep -c '\"reason\":\"ok\"' | grep -q 2" && pass "ID number in one report → second admit" || { fail "ID number from the HID-POS scanner not admitted"; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }

echo "" > /sys/kernel/config/usb_gadget/hidpos/UDC
wait_for 30 logged '"alert":"device_missing"' && pass "unplugged scanner: device_missing alert ($WAITED ms)" || fail "no device_missing alert"
kill -0 $PID && pass "daemon still running with the scanner gone" || fail "daemon died"
t2=$(now_ms); echo $UDC > /sys/kernel/config/usb_gadget/hidpos/UDC
wait_for 60 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"device\":\"pos-in\"' | grep -c 'connected at' | grep -q 2" && pass "replugged scanner reopened without a restart in $(( $(now_ms) - t2 )) ms" || fail "scanner not reopened"
sleep 1
HIDG=/dev/hidg$(cut -d: -f2 /sys/kernel/config/usb_gadget/hidpos/functions/hid.usb0/dev)
timeout 2 dd if="$HIDG" bs=64 count=1 of=/dev/null 2>/dev/null  # the FE 01 of the reopen
send_code "$(cat /tmp/pass.txt)"
wait_for 30 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"kind\":\"passage\"' | grep -c '\"reason\":\"ok\"' | grep -q 3" && pass "a passage works again after the replug" || fail "no passage after the replug"
kill -TERM $PID; wait $PID
kill $SIMT 2>/dev/null
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies" || fail "log verify failed"
finish
