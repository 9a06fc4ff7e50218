#!/bin/sh
# USB on real kernel stacks: two dummy_hcd gadgets with the vendor/product ids of a CH340
# thermometer (1a86:7523) and a Newland CDC scanner (1eab:8306), each an ACM function; the host
# side enumerates them, systemd-udevd applies the project's own udev/60-postern.rules to make
# /dev/postern/thermo-in and /dev/postern/qr-in, and `postern serve` runs a full passage from
# gadget bytes (GY-MCU90614 frames, a QR line) to the relay line on gpio-sim. Then hotplug:
# unbind the thermometer mid-run (fault logged, the daemon keeps running), rebind (it recovers
# without a restart; the time is printed).
. "$HIL_GUEST/lib.sh"
DATA=/tmp/hil-data; rm -rf "$DATA"; mkdir -p "$DATA"
modprobe gpio-sim && modprobe dummy_hcd num=2 && modprobe libcomposite && modprobe usb_f_acm || { echo "FAIL modules"; exit 1; }
# GPIO chip for the relay.
make_chip 8
udev_with_rules
UDC1=$(ls /sys/class/udc | sed -n 1p); UDC2=$(ls /sys/class/udc | sed -n 2p)
t0=$(now_ms)
acm_gadget thermo 1a86 7523 T0001 $UDC1
acm_gadget scanner 1eab 8306 S0001 $UDC2
wait_for 30 test -e /dev/postern/thermo-in && pass "udev rule made /dev/postern/thermo-in → $(readlink /dev/postern/thermo-in) ($(( $(now_ms) - t0 )) ms after bind)" || { fail "no /dev/postern/thermo-in"; ls -l /dev/ttyACM* /dev/postern 2>&1; }
wait_for 30 test -e /dev/postern/qr-in && pass "udev rule made /dev/postern/qr-in → $(readlink /dev/postern/qr-in)" || fail "no /dev/postern/qr-in"
ls /dev/serial/by-id/ 2>/dev/null | grep -q 1a86 || ls /dev/serial/by-id/ 2>/dev/null | grep -q HIL && pass "/dev/serial/by-id link present: $(ls /dev/serial/by-id | head -1)" || echo "INFO no /dev/serial/by-id link"
# Which gadget-side port belongs to which gadget: ttyGS<n> follows the function's port_num.
GS_T=$(gadget_tty thermo)
GS_S=$(gadget_tty scanner)

make_registry
kiosk_config /dev/postern/thermo-in 1a86:7523 serial-line /dev/postern/qr-in 1eab:8306
# The devices' far ends: GY frames (a person at 36.5 every 4 s) and QR lines from a fifo.
"$POSTERN" sim thermometer --protocol gy-mcu90614 --attach $GS_T > /tmp/sim-t.log 2>&1 &
SIMT=$!
mkfifo /tmp/scan.fifo
"$POSTERN" sim scanner --protocol serial-line --attach $GS_S < /tmp/scan.fifo > /tmp/sim-s.log 2>&1 &
exec 3>/tmp/scan.fifo
"$POSTERN" serve --config /tmp/postern.toml > /tmp/serve.log 2>&1 & PID=$!
wait_for 60 logged '"device":"scan-in"' && pass "daemon opened the USB devices by their udev names" || { fail "daemon did not come up"; cat /tmp/serve.log; }
"$POSTERN" devices --config /tmp/postern.toml | sed 's/^/INFO devices: /'
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' || true
cat /tmp/pass.txt >&3
wait_for 30 relay_open && pass "full passage: gadget bytes → decision → relay line ($WAITED ms after the QR line)" || fail "no passage from USB devices to the relay"
wait_for 10 logged '"reason":"ok"' && pass "admit logged" || fail "admit not logged"

# Hotplug: unbind the thermometer gadget mid-run.
echo "" > /sys/kernel/config/usb_gadget/thermo/UDC
wait_for 30 logged '"alert":"device_missing"' && pass "unplugged thermometer: device_missing alert ($WAITED ms)" || fail "no device_missing alert"
kill -0 $PID && pass "daemon still running with the device gone" || fail "daemon died"
kill $SIMT 2>/dev/null
echo $UDC1 > /sys/kernel/config/usb_gadget/thermo/UDC
t1=$(now_ms)
wait_for 60 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"device\":\"thermo-in\"' | grep -c 'connected at' | grep -q 2" && pass "replugged thermometer reopened without a restart in $(( $(now_ms) - t1 )) ms" || fail "thermometer not reopened"
"$POSTERN" sim thermometer --protocol gy-mcu90614 --attach $GS_T > /tmp/sim-t2.log 2>&1 &
sleep 2
cat /tmp/pass.txt >&3
wait_for 30 relay_open && pass "passage works again after the replug" || fail "no passage after replug"
grep -q "hotplug unavailable" /tmp/serve.log && echo "INFO daemon log: $(grep -o 'USB hotplug unavailable.*' /tmp/serve.log | head -1)"
grep -q "arrived; reopening" /tmp/serve.log && pass "libusb hotplug saw the arrival" || echo "INFO no libusb hotplug arrival logged (periodic retry reopened it)"
kill -TERM $PID; wait $PID
"$POSTERN" log verify --data-dir "$DATA" >/dev/null && pass "log verifies" || fail "log verify failed"
exec 3>&-
finish
