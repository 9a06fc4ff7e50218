# Shared helpers for guest scenarios (POSIX sh: dash/busybox).
PASS=0; FAIL=0
pass() { PASS=$((PASS+1)); echo "PASS $*"; }
fail() { FAIL=$((FAIL+1)); echo "FAIL $*"; }
now_ms() { cut -d' ' -f1 /proc/uptime | awk '{printf "%d", $1*1000}'; }
# wait_for SECONDS COMMAND...: polls until the command succeeds; prints the wait in ms on success.
wait_for() {
  t=$1; shift; start=$(now_ms); end=$((start + t*1000))
  while [ "$(now_ms)" -lt "$end" ]; do
    if "$@" >/dev/null 2>&1; then WAITED=$(( $(now_ms) - start )); return 0; fi
    sleep 0.05
  done
  WAITED=-1; return 1
}
finish() { echo "RESULT $PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; }
# A small registry with one resident and a signed pass in $DATA; prints the pass payload file.
make_registry() {
  printf 'id,name,sex,id_number,building,unit,room\nr1,Zhang Wei,M,11010519491231002X,1,1,101\n' > /tmp/res.csv
  "$POSTERN" residents import /tmp/res.csv --data-dir "$DATA" >/dev/null
  "$POSTERN" keys generate --data-dir "$DATA" >/dev/null
  "$POSTERN" pass issue r1 --data-dir "$DATA" --out /tmp/pass.txt >/dev/null 2>&1
}
logged() { "$POSTERN" tail --after 0 --json --data-dir "$DATA" | grep -q "$1"; }
# make_chip LINES: a gpio-sim chip "kiosk" with LINES lines; sets CHIP (gpiochipN) and S (its sim_gpio
# folder), and pulls the relay line (0) up: released or undriven = locked, like a wired board.
make_chip() {
  C=/sys/kernel/config/gpio-sim/kiosk
  mkdir -p $C/bank0 && echo "$1" > $C/bank0/num_lines
  i=0; while [ $i -lt "$1" ]; do mkdir -p $C/bank0/line$i; i=$((i+1)); done
  echo relay > $C/bank0/line0/name
  echo 1 > $C/live
  CHIP=$(cat $C/bank0/chip_name); S=/sys/devices/platform/$(cat $C/dev_name)/$CHIP
  echo pull-up > $S/sim_gpio0/pull
}
# kiosk_config THERMO_PATH THERMO_USB SCANNER_PROTOCOL SCANNER_PATH SCANNER_USB: /tmp/postern.toml
# for one "in" lane on $CHIP (relay on line 0, active-low) with a GY-MCU90614 thermometer
# "thermo-in" and a scanner "scan-in"; an empty USB id leaves that key out.
kiosk_config() {
  tu=""; [ -n "$2" ] && tu="usb = \"$2\""
  su=""; [ -n "$5" ] && su="usb = \"$5\""
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
path = "$1"
baud = 9600
$tu
[[device]]
id = "scan-in"
kind = "scanner"
protocol = "$3"
path = "$4"
$su
[[lane]]
id = "in"
direction = "in"
thermometer = "thermo-in"
readers = ["scan-in"]
# The scenarios also carry an ID number through each scanner path (a shifted X on the wedge), so
# this lane opts into typed ID numbers (off by default: only an ID-card reader's chip read counts).
typed_id_numbers = true
[lane.gpio]
relay = { offset = 0, active_low = true }
CFG
}
# udev_with_rules: systemd-udevd in the guest with the project's rules (the host's /etc is
# read-only: the runtime rules directory).
udev_with_rules() {
  mkdir -p /run/udev/rules.d
  cp "$HIL_GUEST/../../../udev/60-postern.rules" /run/udev/rules.d/
  /lib/systemd/systemd-udevd --daemon --resolve-names=never || { echo "FAIL udevd"; exit 1; }
}
# hid_gadget NAME VID PID PROTOCOL SUBCLASS REPORT_LENGTH DESCRIPTOR [no_out]: a dummy_hcd HID
# gadget (DESCRIPTOR in printf octal escapes: dash has no \x), bound; sets G, UDC, HIDG, BOUND_MS.
hid_gadget() {
  G=/sys/kernel/config/usb_gadget/$1; mkdir -p $G
  echo 0x$2 > $G/idVendor; echo 0x$3 > $G/idProduct; echo 0x0200 > $G/bcdUSB
  mkdir -p $G/strings/0x409 $G/configs/c.1/strings/0x409 $G/functions/hid.usb0
  echo "${1}0001" > $G/strings/0x409/serialnumber; echo HIL > $G/strings/0x409/manufacturer; echo "$1" > $G/strings/0x409/product
  echo cfg > $G/configs/c.1/strings/0x409/configuration
  echo $4 > $G/functions/hid.usb0/protocol; echo $5 > $G/functions/hid.usb0/subclass; echo $6 > $G/functions/hid.usb0/report_length
  # Without an OUT endpoint, SET_REPORT from the host arrives on the gadget's read side.
  [ "${8:-}" = no_out ] && [ -e $G/functions/hid.usb0/no_out_endpoint ] && echo 1 > $G/functions/hid.usb0/no_out_endpoint
  printf "$7" > $G/functions/hid.usb0/report_desc
  ln -s $G/functions/hid.usb0 $G/configs/c.1/
  UDC=$(ls /sys/class/udc | head -1)
  BOUND_MS=$(now_ms); echo $UDC > $G/UDC
  HIDG=/dev/hidg$(cut -d: -f2 $G/functions/hid.usb0/dev)
}
# acm_gadget NAME VID PID SERIAL UDC: a dummy_hcd gadget with one CDC-ACM function, bound to UDC;
# the host side gets a ttyACM node, the gadget side /dev/ttyGS<port_num>.
acm_gadget() {
  G=/sys/kernel/config/usb_gadget/$1; mkdir -p $G
  echo 0x$2 > $G/idVendor; echo 0x$3 > $G/idProduct; echo 0x0200 > $G/bcdUSB
  echo 0xEF > $G/bDeviceClass; echo 0x02 > $G/bDeviceSubClass; echo 0x01 > $G/bDeviceProtocol
  mkdir -p $G/strings/0x409 $G/configs/c.1/strings/0x409 $G/functions/acm.usb0
  echo $4 > $G/strings/0x409/serialnumber; echo "HIL" > $G/strings/0x409/manufacturer; echo "$1" > $G/strings/0x409/product
  echo cfg > $G/configs/c.1/strings/0x409/configuration
  ln -s $G/functions/acm.usb0 $G/configs/c.1/ 2>/dev/null
  echo $5 > $G/UDC
}
# gadget_tty NAME: the gadget side of NAME's ACM function (/dev/ttyGS<n>).
gadget_tty() { echo /dev/ttyGS$(cat /sys/kernel/config/usb_gadget/$1/functions/acm.usb0/port_num); }
relay_open() { [ "$(cat $S/sim_gpio0/value)" = 0 ]; }
relay_locked() { [ "$(cat $S/sim_gpio0/value)" = 1 ]; }
# admitted N: at least N passages admitted with reason ok are in the log.
admitted() { [ "$("$POSTERN" tail --after 0 --json --data-dir "$DATA" | grep '"kind":"passage"' | grep -c '"reason":"ok"')" -ge "$1" ]; }
# unplug_replug DEVICE_ID: unbinds gadget $G, expects device_missing with the daemon ($PID)
# still running, rebinds, expects DEVICE_ID reopened without a restart; refreshes HIDG.
unplug_replug() {
  echo "" > $G/UDC
  wait_for 30 logged '"alert":"device_missing"' && pass "unplugged $1: device_missing alert ($WAITED ms)" || fail "no device_missing alert for $1"
  kill -0 $PID && pass "daemon still running with $1 gone" || fail "daemon died"
  replug_at=$(now_ms); echo $UDC > $G/UDC
  wait_for 60 sh -c "\"$POSTERN\" tail --after 0 --json --data-dir $DATA | grep '\"device\":\"$1\"' | grep -c 'connected at' | grep -q 2" && pass "replugged $1 reopened without a restart in $(( $(now_ms) - replug_at )) ms" || fail "$1 not reopened"
  HIDG=/dev/hidg$(cut -d: -f2 $G/functions/hid.usb0/dev 2>/dev/null)
}
# hid_scenario_setup: a fresh $DATA and /tmp/dev, the gadget and HID host modules, a gpio-sim
# chip for the relay, and udevd with the project's rules (the HID scanner scenarios).
hid_scenario_setup() {
  DATA=/tmp/hil-data; rm -rf "$DATA" /tmp/dev; mkdir -p "$DATA" /tmp/dev
  modprobe gpio-sim && modprobe dummy_hcd && modprobe libcomposite && modprobe usb_f_hid || { echo "FAIL modules"; exit 1; }
  modprobe usbhid 2>/dev/null; modprobe hid_generic 2>/dev/null
  make_chip 8
  udev_with_rules
}
