#!/bin/sh
# One power-cut cycle, guest side. MODE=append: mount the ext4 disk, check what survived the last
# cut, then append until the VM is killed (acks go to the console as `ack SEQ CRC`).
. "$HIL_GUEST/lib.sh"
mkdir -p /run/data
if [ ! -e /dev/vda ]; then echo "FAIL no disk"; exit 1; fi
blkid /dev/vda >/dev/null 2>&1 || mkfs.ext4 -q /dev/vda
mount -o data=ordered /dev/vda /run/data || { echo "FAIL cannot mount the disk"; exit 1; }
if [ -d /run/data/log ]; then
  "$POSTERN" debug log-digest --data-dir /run/data > /tmp/share/digest.txt 2>&1 || echo "FAIL digest"
  "$POSTERN" log verify --data-dir /run/data > /tmp/share/verify.txt 2>&1; echo $? > /tmp/share/verify.rc
fi
sync
echo "HIL-APPEND-START"
"$POSTERN" debug append-stress --data-dir /run/data --writers 4 --count 1000000 > /dev/console 2>&1
