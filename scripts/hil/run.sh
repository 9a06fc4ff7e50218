#!/usr/bin/env bash
# Boots the HIL VM (Debian's stock kernel under qemu, this machine's root read-only over 9p) and
# runs one guest scenario from scripts/hil/guest/: run.sh gpio | powercut | all
# Env: HIL_ACCEL=tcg|kvm (default tcg: the KVM here is paravirtual and far slower for a stock
#      kernel), HIL_TIMEOUT (s, default 600), HIL_CACHE, HIL_QEMU_EXTRA.
# A scenario whose file has the line "# hil-boot: systemd" boots systemd as PID 1 on a writable
# overlay root (see init); scripts/hil/prep_SCENARIO.sh, if present, runs on the host first with
# the share folder as its argument (exit 77 = skip).
# Exit: the scenario's status; 77 = skipped (printed with the reason).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HIL_CACHE:-$ROOT/.build-hil}
SCEN=${1:?usage: run.sh SCENARIO}
command -v qemu-system-x86_64 >/dev/null || { echo "skipped: qemu-system-x86_64 not installed (run scripts/hil/setup.sh)"; exit 77; }
KVER=$(cat "$CACHE/kver" 2>/dev/null) || { echo "skipped: HIL cache not prepared (run scripts/hil/setup.sh)"; exit 77; }
[ -f "$CACHE/vmlinux-$KVER" ] && [ -f "$CACHE/initrd.cpio.gz" ] || { echo "skipped: kernel or initramfs missing in $CACHE"; exit 77; }
[ -f "$HERE/guest/t_$SCEN.sh" ] || { echo "no scenario $SCEN"; exit 2; }
# A scenario that sets POSTERN itself (the deb scenario: the installed package) needs no build.
if ! grep -q '^POSTERN=' "$HERE/guest/t_$SCEN.sh"; then
  [ -x "$ROOT/.build/debug/postern" ] || { echo "skipped: build postern first (swift build)"; exit 77; }
fi
BOOT=""
grep -q '^# hil-boot: systemd' "$HERE/guest/t_$SCEN.sh" && BOOT="hil.systemd=1 systemd.unit=hil.target systemd.firstboot=off systemd.show_status=error"
avail=$(df -Pk "$CACHE" | awk 'NR==2{print $4}')
[ "$avail" -gt 1048576 ] || { echo "skipped: less than 1 GiB free in $CACHE"; exit 77; }

SHARE=$(mktemp -d "${TMPDIR:-/tmp}/postern-hil.XXXXXX")
trap 'rm -rf "$SHARE"' EXIT
TIMEOUT=${HIL_TIMEOUT:-600}
echo "$CACHE" > "$SHARE/cache"
echo $((TIMEOUT - 20)) > "$SHARE/timeout"
if [ -f "$HERE/prep_$SCEN.sh" ]; then
  bash "$HERE/prep_$SCEN.sh" "$SHARE"; p=$?
  [ $p = 77 ] && exit 77
  [ $p = 0 ] || { echo "HIL $SCEN: FAIL (prep_$SCEN.sh exited $p)"; exit 1; }
fi
cat > "$SHARE/cmd.sh" <<CMD
export POSTERN=$ROOT/.build/debug/postern HIL_GUEST=$HERE/guest SHARE=/tmp/share
sh $HERE/guest/t_$SCEN.sh
CMD
case ${HIL_ACCEL:-tcg} in
  kvm) ACC="-accel kvm -cpu host" ;;
  *)   ACC="-accel tcg,thread=multi,tb-size=64 -cpu max" ;;
esac
start=$(date +%s.%N)
timeout "$TIMEOUT" qemu-system-x86_64 -M pc $ACC -m ${HIL_MEM:-768M} -smp 2 \
  -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
  -kernel "$CACHE/vmlinux-$KVER" -initrd "$CACHE/initrd.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet loglevel=3 nokaslr mitigations=off tsc=reliable no_timer_check rdinit=/init $BOOT" \
  -fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
  -fsdev local,id=s,path="$SHARE",security_model=none -device virtio-9p-pci,fsdev=s,mount_tag=share \
  ${HIL_QEMU_EXTRA:-}
q=$?
[ $q = 124 ] && { echo "HIL $SCEN: FAIL (VM timed out after ${TIMEOUT}s)"; exit 1; }
rc=$(cat "$SHARE/rc" 2>/dev/null || echo 125)
echo "HIL $SCEN: VM exited after $(echo "$(date +%s.%N) - $start" | bc) s, scenario status $rc"
exit "$rc"
