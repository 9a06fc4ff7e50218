#!/usr/bin/env bash
# Prepares the hardware-in-the-loop VM: Debian's stock kernel (unpacked, never installed), the
# gpio-sim and irq_sim modules built out of tree (Debian's 6.1 has neither), and a busybox
# initramfs that mounts this machine's own root read-only over 9p. Everything is cached in
# $HIL_CACHE (default .build-hil/) and rebuilt only when missing. Needs root (apt-get).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${HIL_CACHE:-$ROOT/.build-hil}
mkdir -p "$CACHE"
cd "$CACHE"
say() { echo "[hil setup +${SECONDS}s] $*"; }

# The kernel version comes from the metapackage now: Debian drops old ABI packages.
apt_ready=0
need_apt() { [ $apt_ready = 1 ] || { apt-get update -qq; apt_ready=1; }; }
KVER=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{sub("linux-image-","",$2); print $2; exit}')
if [ -z "$KVER" ]; then need_apt; KVER=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{sub("linux-image-","",$2); print $2; exit}'); fi
[ -n "$KVER" ] || { echo "skipped: cannot find Debian's kernel package (no apt lists?)"; exit 77; }
echo "$KVER" > kver

PKGS="qemu-system-x86 curl linux-headers-$KVER linux-source-6.1 busybox-static cpio kmod udev gpiod build-essential e2fsprogs"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  say "apt-get install$missing"
  need_apt
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "kroot/boot/vmlinuz-$KVER" ]; then
  say "kernel image $KVER (unpacked only)"
  need_apt
  mkdir -p dl && (cd dl && apt-get download -qq "linux-image-$KVER")
  dpkg -x dl/linux-image-"$KVER"_*.deb kroot
fi

if [ ! -f "kroot/lib/modules/$KVER/extra/gpio-sim.ko" ]; then
  say "building gpio-sim and irq_sim out of tree"
  rm -rf mod && mkdir -p mod
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C mod --transform='s|.*/||' \
    linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
    linux-source-6.1/kernel/irq/irq_sim.c linux-source-6.1/scripts/extract-vmlinux
  # irq_to_desc() is not exported in 6.1, and irq_sim needs a licence to load as a module.
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' mod/irq_sim.c
  printf '\n#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >> mod/irq_sim.c
  echo 'obj-m += irq_sim.o gpio-sim.o' > mod/Kbuild
  make -s -C "/usr/src/linux-headers-$KVER" M="$CACHE/mod" modules
  mkdir -p "kroot/lib/modules/$KVER/extra"
  cp mod/irq_sim.ko mod/gpio-sim.ko "kroot/lib/modules/$KVER/extra/"
  depmod -a -b "$CACHE/kroot" "$KVER"
fi

if [ ! -f "vmlinux-$KVER" ]; then
  say "vmlinux (boots through the PVH entry, no decompression)"
  sh mod/extract-vmlinux "kroot/boot/vmlinuz-$KVER" > "vmlinux-$KVER"
fi

# libgpiod 2.x (Debian 13 / Pi OS trixie) for the shim's 2.x branch, which Debian 12 cannot build:
# the two packages by pinned hash, unpacked (never installed), and the check driver compiled.
G2=2.2.1-2+deb13u1
if [ ! -x gpiod2/check ] || [ "$HERE/gpiod2-check.c" -nt gpiod2/check ] || [ "$ROOT/Sources/CGpiodShim/shim.c" -nt gpiod2/check ]; then
  say "libgpiod $G2 for the 2.x shim check"
  mkdir -p gpiod2 && (
    cd gpiod2 || exit 1
    for p in "libgpiod-dev 9b6dabc524bbc7610887e1c31facc0be01073c1a89cc64ea137df3f260e2e771" \
             "libgpiod3 e2900fafeac756d8a83d8feba6f6b757cf6bdb5c56e1e3621d776ecbca20d3ad"; do
      set -- $p; f="${1}_${G2}_amd64.deb"
      [ -f "$f" ] || curl -fsS --max-time 120 -o "$f" "http://deb.debian.org/debian/pool/main/libg/libgpiod/$f" || exit 1
      echo "$2  $f" | sha256sum -c --quiet || { rm -f "$f"; exit 1; }
      dpkg-deb -x "$f" root
    done
    cc -Wall -Wextra -Werror -O1 -I root/usr/include -I "$ROOT/Sources/CGpiodShim/include" \
      "$HERE/gpiod2-check.c" "$ROOT/Sources/CGpiodShim/shim.c" \
      -L root/usr/lib/x86_64-linux-gnu -l:libgpiod.so.3 -o check
  ) || say "libgpiod 2.x not available (download or build failed): the gpiod2 scenario will be skipped"
fi

say "initramfs"
MD=kroot/lib/modules/$KVER
T=$(mktemp -d)
mkdir -p "$T"/{bin,m,proc,sys,dev,newroot,lower,upper}
cp /bin/busybox "$T/bin/busybox"
for a in sh mount umount mkdir insmod switch_root sleep cat echo grep ln cp rm uname sed; do ln -s busybox "$T/bin/$a"; done
ORDER=""
for w in virtio_pci 9pnet_virtio 9p overlay virtio_blk ext4; do
  line=$(grep -E "/$w\.ko(\.xz)?:" "$MD/modules.dep" || true)
  [ -n "$line" ] || continue
  for f in $(echo "${line#*:}" | tr ' ' '\n' | tac) ${line%%:*}; do
    n=$(basename "$f"); n=${n%.xz}; n=${n%.ko}
    case " $ORDER " in *" $n "*) ;; *) ORDER="$ORDER $n"; cp "$MD/$f" "$T/m/" ;; esac
  done
done
echo $ORDER > "$T/m/order"
cp "$HERE/init" "$T/init"
sed -i "s|@STAGE2@|$HERE/guest/stage2.sh|; s|@GUEST@|$HERE/guest|g" "$T/init"
chmod +x "$T/init"
(cd "$T" && find . | cpio -o -H newc --quiet | gzip -1) > initrd.cpio.gz
rm -rf "$T"
say "ready: kernel $KVER in $CACHE"
