#!/bin/sh
# The libgpiod 2.x branch of the GPIO shim on a real gpio-sim chip: scripts/hil/gpiod2-check.c,
# built by setup.sh against Debian 13's libgpiod 2.2 (Debian 12 has only 1.6).
. "$HIL_GUEST/lib.sh"
G="$(cat /tmp/share/cache)/gpiod2"
[ -x "$G/check" ] || { echo "SKIP libgpiod 2.x check not built (setup.sh could not fetch Debian 13's libgpiod)"; exit 77; }
modprobe gpio-sim || { echo "FAIL cannot load gpio-sim"; exit 1; }
make_chip 4
LD_LIBRARY_PATH="$G/root/usr/lib/x86_64-linux-gnu" "$G/check" "/dev/$CHIP" "$S"
