#!/bin/sh
# A HID-POS scanner on the real kernel HID stack: a dummy_hcd HID gadget with a bar-code-scanner
# report descriptor (usage page 0x8C, input report 2 of 63 bytes, feature report FE) and the
# Honeywell ids 0c2e:0b8f; hid-generic makes /dev/hidrawN, the project's udev rule links it as
# /dev/postern/hidpos-scanner, and `postern serve` reads it with the hid-pos driver. Honeywell
# reports written to /dev/hidg0 carry a QR pass over three reports (MORE set) and an ID number
# to the relay line on gpio-sim; unbind → device_missing, rebind → reopened without a restart.
. "$HIL_GUEST/lib.sh"
hid_scenario_setup
hid_gadget hidpos 0c2e 0b8f 0 0 64 '\006\214\000\011\002\241\001\205\002\025\000\046\377\000\165\010\225\077\011\022\201\002\205\376\225\001\011\021\261\002\300' no_out
wait_for 30 test -e /dev/postern/hidpos-scanner && pass "udev rule made /dev/postern/hidpos-scanner → $(readlink /dev/postern/hidpos-scanner) ($(( $(now_ms) - BOUND_MS )) ms after bind)" || { fail "no /dev/postern/hidpos-scanner"; ls -l /dev/hidraw* 2>&1; }
wait_for 10 test -e "$HIDG" || fail "no gadget node $HIDG"
# send_code TEXT: the Honeywell reports for TEXT, one 64-byte write each.
send_code() { "$POSTERN" debug hid-pos-reports "$1" > /tmp/reports.bin && dd if=/tmp/reports.bin of="$HIDG" bs=64 2>/dev/null; }

make_registry
kiosk_config /tmp/dev/thermo-in "" hid-pos /dev/postern/hidpos-scanner 0c2e:0b8f
"$POSTERN" sim thermometer --protocol gy-mcu90614 --link /tmp/dev/thermo-in > /tmp/sim-t.log 2>&1 &
SIMT=$!
wait_for 10 test -e /tmp/dev/thermo-in || fail "thermometer simulator did not start"
"$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!
wait_for 60 logged '"device":"scan-in","kind":"device_state","message":"connected' && pass "daemon opened the scanner's hidraw node" || { fail "HID-POS scanner not opened"; cat /tmp/serve.log; }
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' || true
# The feature report FE 01 that switches a Honeywell into HID-POS mode, as the gadget received it.
if [ -e $G/functions/hid.usb0/no_out_endpoint ]; then
  got=$(timeout 3 dd if="$HIDG" bs=64 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$got" = "fe01" ] && pass "the driver sent feature report FE 01 (HID-POS mode) at open" || fail "feature report FE 01 not received (got '$got')"
else
  echo "INFO this kernel's f_hid has no no_out_endpoint: the FE 01 feature report is not observable"
fi

t1=$(now_ms)
send_code "$(cat /tmp/pass.txt)"
wait_for 30 relay_open && pass "QR pass in $(( $(stat -c %s /tmp/reports.bin) / 64 )) HID-POS reports → decision → relay line ($(( $(now_ms) - t1 )) ms)" || { fail "no passage from the HID-POS scanner"; tail -5 /tmp/serve.log; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }
wait_for 10 admitted 1 && pass "admit logged" || fail "admit not logged"
wait_for 10 relay_locked || true
sleep 1
send_code "11010519491231002X"
wait_for 30 admitted 2 && pass "ID number in one report → second admit" || { fail "ID number from the HID-POS scanner not admitted"; "$POSTERN" tail --after 0 --data-dir $DATA | tail -3; }

unplug_replug scan-in
sleep 1
timeout 2 dd if="$HIDG" bs=64 count=1 of=/dev/null 2>/dev/null  # the FE 01 of the reopen
send_code "$(cat /tmp/pass.txt)"
wait_for 30 admitted 3 && pass "a passage works again after the replug" || fail "no passage after the replug"
kill -TERM $PID; wait $PID
kill $SIMT 2>/dev/null
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies" || fail "log verify failed"
finish
