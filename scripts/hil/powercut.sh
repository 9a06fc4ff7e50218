#!/usr/bin/env bash
# Power cuts, host side: the data directory lives on an ext4 disk image attached to the VM; the
# guest appends and prints each acknowledged sequence number on its console; this script kills
# qemu (SIGKILL: no shutdown, no sync, the guest's page cache is lost) at a random moment, boots
# again, and checks that every acknowledged event is there, unchanged, and the log verifies.
# Usage: powercut.sh [CUTS]   (default 20)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HIL_CACHE:-$ROOT/.build-hil}
CUTS=${1:-20}
command -v qemu-system-x86_64 >/dev/null || { echo "skipped: qemu not installed"; exit 77; }
KVER=$(cat "$CACHE/kver" 2>/dev/null) || { echo "skipped: HIL cache not prepared"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/postern-cut.XXXXXX"); trap '[ "${HIL_KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
truncate -s 256M "$WORK/disk.img"
SHARE="$WORK/share"; mkdir -p "$SHARE"
echo "$CACHE" > "$SHARE/cache"; echo 600 > "$SHARE/timeout"
printf 'export POSTERN=%s HIL_GUEST=%s\nsh %s/guest/t_powercut.sh\n' "$ROOT/.build/debug/postern" "$HERE/guest" "$HERE" > "$SHARE/cmd.sh"
: > "$WORK/acked"
boot() {
  qemu-system-x86_64 -M pc -accel tcg,thread=multi,tb-size=64 -cpu max -m 768M -smp 2 \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
    -kernel "$CACHE/vmlinux-$KVER" -initrd "$CACHE/initrd.cpio.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 nokaslr mitigations=off tsc=reliable no_timer_check rdinit=/init" \
    -fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
    -fsdev local,id=s,path="$SHARE",security_model=none -device virtio-9p-pci,fsdev=s,mount_tag=share \
    -drive file="$WORK/disk.img",if=virtio,format=raw,cache=writeback > "$WORK/console" 2>&1 &
  QPID=$!
}
fail=0; checked=0; total_acked=0
for cut in $(seq 1 $((CUTS + 1))); do
  rm -f "$SHARE/digest.txt" "$SHARE/verify.rc"; cp "$WORK/console" "$WORK/console.prev" 2>/dev/null
  boot
  # Wait for appends to start (boot, recovery of the previous cut and the checks take seconds on an
  # idle host, over a minute on a busy one: TCG shares the host's cores), then cut at a random
  # moment 0.2–3 s later.
  for i in $(seq 1 3000); do grep -q HIL-APPEND-START "$WORK/console" 2>/dev/null && break; kill -0 $QPID 2>/dev/null || break; sleep 0.1; done
  if ! grep -q HIL-APPEND-START "$WORK/console"; then
    echo "FAIL cut $cut: the guest never started appending (300 s); its console ends:"; tr -d '\r' < "$WORK/console" | tail -15
    kill -KILL $QPID 2>/dev/null; exit 1
  fi
  if [ -f "$SHARE/digest.txt" ]; then
    last=$(awk '/^recovery/{print}' "$SHARE/digest.txt")
    # join needs lexicographic order on the key (LC_ALL=C), not numeric.
    awk '/^rec /{print $2, $3}' "$SHARE/digest.txt" | LC_ALL=C sort -k1,1 > "$WORK/have"
    missing=$(LC_ALL=C sort -k1,1 "$WORK/acked" | LC_ALL=C join -v1 - "$WORK/have" | wc -l)
    changed=$(LC_ALL=C sort -k1,1 "$WORK/acked" | LC_ALL=C join - "$WORK/have" | awk '$2 != $3' | wc -l)
    vrc=$(cat "$SHARE/verify.rc" 2>/dev/null || echo 9)
    n=$(wc -l < "$WORK/acked")
    if [ "$missing" = 0 ] && [ "$changed" = 0 ] && [ "$vrc" = 0 ]; then
      echo "PASS cut $((cut - 1)): all $n acknowledged events present and unchanged; log verifies ($last)"
    else
      echo "FAIL cut $((cut - 1)): $missing missing, $changed changed of $n acknowledged; verify status $vrc ($last)"
      fail=$((fail + 1))
    fi
    checked=$n
  fi
  [ "$cut" -gt "$CUTS" ] && { kill -KILL $QPID 2>/dev/null; wait $QPID 2>/dev/null; break; }
  sleep "$((RANDOM % 3 + 1)).$((RANDOM % 10))"
  kill -KILL $QPID; wait $QPID 2>/dev/null
  # The kill can cut the console's last line short ("ack 123 45" of "ack 123 4567"): count only
  # lines the guest finished writing, i.e. not the last one.
  tr -d '\r' < "$WORK/console" | sed '$d' | awk '/^ack [0-9]+ [0-9]+$/{print $2, $3}' >> "$WORK/acked"
  LC_ALL=C sort -u -o "$WORK/acked" "$WORK/acked"
done
echo "RESULT power cuts: $CUTS cuts, $checked acknowledged events checked at the end, $fail failed checks"
[ $fail = 0 ] && [ "$checked" -gt 0 ]
