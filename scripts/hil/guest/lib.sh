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
