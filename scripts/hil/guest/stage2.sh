#!/bin/sh
# Inside the guest, from the host's root: mounts, the module tree, then /tmp/share/cmd.sh.
# Its exit code goes to /tmp/share/rc; then the VM powers off. Under systemd (hil.service) the
# kernel file systems and the module tree are already in place (init and systemd made them).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
  mount -t proc proc /proc
  mount -t sysfs sys /sys
  mkdir -p /dev/pts /dev/shm
  mount -t devpts -o ptmxmode=666 devpts /dev/pts
  mount -t tmpfs tmpfs /dev/shm
  mount -t tmpfs -o mode=755 tmpfs /var/tmp 2>/dev/null
  KVER=$(uname -r)
  if [ ! -e /lib/modules/$KVER/modules.dep ]; then
    mount -t tmpfs -o mode=755 modules /lib/modules
    ln -s "$(cat /tmp/share/cache)/kroot/lib/modules/$KVER" /lib/modules/$KVER
  fi
  modprobe configfs 2>/dev/null; mount -t configfs configfs /sys/kernel/config
fi
echo "HIL: guest up after $(cut -d' ' -f1 /proc/uptime) s (PID 1: $(cat /proc/1/comm))"
cd /tmp/share
timeout -k 5 "$(cat /tmp/share/timeout)" sh /tmp/share/cmd.sh
echo $? > /tmp/share/rc
sync
echo o > /proc/sysrq-trigger
sleep 10
