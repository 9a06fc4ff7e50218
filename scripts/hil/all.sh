#!/usr/bin/env bash
# The HIL suite: prepare the VM (cached), then each scenario; prints PASS/FAIL per scenario with
# its figures. Exit 0 when all pass or the suite was skipped (with the reason printed), 1 on any
# failure. Env: HIL_CUTS (power cuts, default 20), POSTERN_SKIP_HIL=1 to skip on purpose.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "${POSTERN_SKIP_HIL:-0}" = 1 ]; then echo "HIL suite skipped: POSTERN_SKIP_HIL=1"; exit 0; fi
if [ "$(uname -m)" != x86_64 ]; then echo "HIL suite skipped: needs an x86_64 build machine (qemu-system-x86_64 with this root)"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "HIL suite skipped: setup needs root for apt-get"; exit 0; fi
bash "$HERE/setup.sh"; s=$?
if [ $s = 77 ]; then echo "HIL suite skipped: setup could not find its packages"; exit 0; fi
[ $s = 0 ] || { echo "HIL suite: FAIL (setup exited $s)"; exit 1; }
failed=0
for scen in gpio usb wedge hidpos gpiod2 deb debcentral; do
  out=$(bash "$HERE/run.sh" "$scen" 2>&1); rc=$?
  echo "$out" | grep -E "^(PASS|FAIL|INFO|RESULT)|^HIL" | sed "s/^/[$scen] /"
  if [ $rc = 77 ]; then echo "HIL $scen: skipped"; elif [ $rc != 0 ]; then echo "HIL $scen: FAIL"; failed=1; else echo "HIL $scen: PASS"; fi
done
out=$(bash "$HERE/powercut.sh" "${HIL_CUTS:-20}" 2>&1); rc=$?
echo "$out" | sed "s/^/[powercut] /"
if [ $rc = 77 ]; then echo "HIL powercut: skipped"; elif [ $rc != 0 ]; then echo "HIL powercut: FAIL"; failed=1; else echo "HIL powercut: PASS"; fi
exit $failed
