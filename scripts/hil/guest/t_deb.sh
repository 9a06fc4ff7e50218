#!/bin/sh
# hil-boot: systemd
# The kiosk package on a guest with systemd as PID 1 (the build machine's root as a writable
# overlay; its Debian 12 libraries satisfy the package's Depends, and the Swift toolchain is
# hidden): install → enabled, not started (example config) → a config naming the USB gadget
# devices → systemctl start (READY=1) → a passage to the relay line → systemctl reload applies a
# threshold → unplug/replug under the sandbox → systemctl stop mid-pulse → upgrade to a higher
# version keeps data and the edited config → purge keeps the event log → purge with the marker
# removes it. prep_deb.sh put both packages in $SHARE/debs/{1,2}.
. "$HIL_GUEST/lib.sh"
export DEBIAN_FRONTEND=noninteractive
DEB1=$(ls "$SHARE"/debs/1/postern_*.deb); DEB2=$(ls "$SHARE"/debs/2/postern_*.deb)
V1=$(dpkg-deb -f "$DEB1" Version); V2=$(dpkg-deb -f "$DEB2" Version)
DATA=/var/lib/postern CONF=/etc/postern/postern.toml
# Admin commands run as the service's user, as on a kiosk (files in the data directory stay its).
POSTERN=/tmp/postern-admin
printf '#!/bin/sh\nexec runuser -u postern -- /usr/bin/postern "$@"\n' > $POSTERN; chmod 755 $POSTERN
prop() { systemctl show -P "$1" postern; }
installed_version() { dpkg-query -W -f '${Version}' postern 2>/dev/null; }
# apt with no package lists: the guest has no network, so Depends must be met by what is installed
# (apt still checks them). Without the build machine's lists apt also skips rebuilding its cache
# from them after every dpkg run, which takes tens of seconds under TCG.
mkdir -p /tmp/apt-nolists
apt_get() { apt-get -o Dir::State::Lists=/tmp/apt-nolists -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/apt-nolists "$@"; }

[ "$(cat /proc/1/comm)" = systemd ] && pass "systemd is PID 1 ($(systemctl --version | head -1 | cut -d' ' -f1,2), system $(systemctl is-system-running))" || { fail "PID 1 is $(cat /proc/1/comm)"; finish; exit 1; }
# Nothing of the Swift toolchain may be needed: hide it.
mount -t tmpfs -o ro,mode=755 noswift /opt/swift 2>/dev/null
modprobe gpio-sim && modprobe dummy_hcd num=2 && modprobe libcomposite && modprobe usb_f_acm || { fail "modules"; finish; exit 1; }
make_chip 8
# man-db's trigger rebuilds the index of every manual on the machine: minutes under TCG.
rm -f /var/lib/man-db/auto-update

# 1. Install: user, directories, udev rules, enabled but not started.
t0=$(now_ms)
apt_get install -y "$DEB1" > /tmp/apt-install.log 2>&1 && [ "$(installed_version)" = "$V1" ] && pass "apt-get install ./$(basename "$DEB1") ($(( $(now_ms) - t0 )) ms, offline: Depends already met)" || { fail "install"; cat /tmp/apt-install.log; finish; exit 1; }
grep -q "enabled but not started" /tmp/apt-install.log && pass "postinst says: $(grep -m1 'enabled but not started' /tmp/apt-install.log)" || fail "no not-started notice"
[ "$(systemctl is-enabled postern)" = enabled ] && [ "$(systemctl is-active postern)" = inactive ] && pass "postern.service enabled, not started (config is the example)" || fail "enabled=$(systemctl is-enabled postern) active=$(systemctl is-active postern)"
id postern | grep -q dialout && id postern | grep -q input && pass "user: $(id postern)" || fail "user postern: $(id postern 2>&1)"
[ "$(stat -c '%U:%G %a' $DATA)" = "postern:postern 750" ] && [ "$(stat -c '%U:%G %a' /etc/postern)" = "root:postern 750" ] && pass "directories: $DATA postern:postern 0750, /etc/postern root:postern 0750" || fail "directories: $(stat -c '%n %U:%G %a' $DATA /etc/postern)"
ldd /usr/bin/postern | grep -q "not found" && fail "missing libraries: $(ldd /usr/bin/postern | grep 'not found')" || pass "binary needs only Debian libraries ($(ldd /usr/bin/postern | wc -l) entries; Swift toolchain hidden)"
[ -f /usr/share/man/man1/postern.1.gz ] && [ -f /usr/share/bash-completion/completions/postern ] && man -l /usr/share/man/man1/postern.1.gz 2>/dev/null | grep -q "SUBCOMMAND\|serve" && pass "man page and completions installed" || fail "man page or completions missing"

# 2. USB gadgets: the package's udev rules name them and give them to group postern.
UDC1=$(ls /sys/class/udc | sed -n 1p); UDC2=$(ls /sys/class/udc | sed -n 2p)
acm_gadget thermo 1a86 7523 T0001 $UDC1
acm_gadget scanner 1eab 8306 S0001 $UDC2
wait_for 30 test -e /dev/postern/thermo-in && wait_for 30 test -e /dev/postern/qr-in && [ "$(stat -L -c %G /dev/postern/thermo-in)" = postern ] && pass "packaged udev rules: /dev/postern/thermo-in → $(readlink /dev/postern/thermo-in), qr-in → $(readlink /dev/postern/qr-in), group postern" || { fail "no /dev/postern links"; ls -l /dev/postern /dev/ttyACM* 2>&1; }
GS_T=$(gadget_tty thermo); GS_S=$(gadget_tty scanner)

# 3. The one file an admin edits, and the registry (admin commands as postern).
make_registry
kiosk_config /dev/postern/thermo-in 1a86:7523 serial-line /dev/postern/qr-in 1eab:8306
sed -i 's/^\[rules\]$/[rules]\nretests = 0/; s/^pulse_ms = 1500$/pulse_ms = 3000/' /tmp/postern.toml
cat /tmp/postern.toml > $CONF
/usr/bin/postern config check $CONF > /tmp/check.log 2>&1 && pass "postern config check $CONF" || { fail "config check"; cat /tmp/check.log; }
/usr/bin/postern sim thermometer --protocol gy-mcu90614 --attach $GS_T > /tmp/sim-t.log 2>&1 &
SIMT=$!
mkfifo /tmp/scan.fifo
/usr/bin/postern sim scanner --protocol serial-line --attach $GS_S < /tmp/scan.fifo > /tmp/sim-s.log 2>&1 &
exec 3>/tmp/scan.fifo

# 4. Start: Type=notify, so `systemctl start` returns once the daemon sent READY=1.
t0=$(now_ms)
systemctl start postern && [ "$(prop ActiveState)/$(prop SubState)" = active/running ] && pass "systemctl start: active/running after READY=1 ($(( $(now_ms) - t0 )) ms; Type=$(prop Type), WatchdogUSec=$(prop WatchdogUSec))" || { fail "start: $(prop ActiveState)/$(prop SubState) $(prop Result)"; journalctl -u postern --no-pager | tail -20; }
PID1=$(prop MainPID)
[ "$(ps -o user= -p $PID1)" = postern ] && pass "daemon runs as user postern (pid $PID1)" || fail "daemon user: $(ps -o user= -p $PID1)"
wait_for 30 logged '"device":"thermo-in","kind":"device_state","message":"connected' && wait_for 30 logged '"device":"scan-in","kind":"device_state","message":"connected' && pass "sandboxed daemon opened both gadget devices" || { fail "devices not connected"; journalctl -u postern --no-pager | tail -20; }
cat /tmp/pass.txt >&3
wait_for 30 relay_open && pass "passage: gadget bytes → decision → relay line open ($WAITED ms)" || fail "no passage to the relay"
wait_for 10 relay_locked && wait_for 10 admitted 1 && pass "admit logged, relay locked again" || fail "admit not logged or relay open"

# 5. Reload: a threshold below the simulated 36.5 °C turns the next passage into a fever deny.
sed -i 's/^retests = 0$/retests = 0\nfever_threshold = 36.0/' $CONF
systemctl reload postern && wait_for 20 logged '"kind":"config_reload"' && [ "$(prop MainPID)" = "$PID1" ] && pass "systemctl reload: config_reload logged, same pid" || fail "reload: $(prop ActiveState) pid $(prop MainPID)"
sleep 4; cat /tmp/pass.txt >&3
wait_for 30 logged '"reason":"fever"' && pass "threshold 36.0 applied: 36.5 °C denied as fever" || fail "no fever deny after the reload"
relay_locked && pass "relay stayed locked on the fever deny" || fail "relay open on a deny"

# 6. Hotplug under the sandbox (DevicePolicy=closed, DeviceAllow=char-ttyACM): unplug, replug.
G=/sys/kernel/config/usb_gadget/thermo; UDC=$UDC1
kill $SIMT 2>/dev/null
echo "" > $G/UDC
wait_for 30 logged '"alert":"device_missing"' && pass "unplugged thermometer: device_missing alert, service $(systemctl is-active postern)" || fail "no device_missing alert"
t1=$(now_ms); echo $UDC > $G/UDC
wait_for 60 sh -c "$POSTERN tail --after 0 --json --data-dir $DATA | grep '\"device\":\"thermo-in\"' | grep -c 'connected at' | grep -q 2" && pass "replugged thermometer reopened by the sandboxed service in $(( $(now_ms) - t1 )) ms" || fail "thermometer not reopened"
journalctl -u postern --no-pager | grep -q "arrived; reopening" && echo "INFO libusb hotplug saw the arrival" || echo "INFO no libusb hotplug arrival logged (the periodic retry reopened it)"
/usr/bin/postern sim thermometer --protocol gy-mcu90614 --attach $(gadget_tty thermo) > /tmp/sim-t2.log 2>&1 &

# 7. Stop mid-pulse: a clean exit and every output safe.
sed -i 's/^fever_threshold = 36.0$/fever_threshold = 38.0/' $CONF
systemctl reload postern; sleep 4
cat /tmp/pass.txt >&3
if wait_for 30 relay_open; then
  t2=$(now_ms); systemctl stop postern
  [ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] && pass "systemctl stop mid-pulse: clean exit in $(( $(now_ms) - t2 )) ms" || fail "stop: result $(prop Result) status $(prop ExecMainStatus)"
  relay_locked && pass "after stop: relay locked (line 0 = 1; a released gpio-sim line also falls to its pull-up, as wired)" || fail "after stop: relay $(cat $S/sim_gpio0/value)"
else
  fail "no admit after reload to 38.0"
fi
$POSTERN log verify --data-dir $DATA > /dev/null && pass "log verifies after stop" || fail "log verify after stop"
[ "$(prop NRestarts)" = 0 ] && pass "no restarts (watchdog fed throughout)" || fail "NRestarts=$(prop NRestarts)"

# 8. Upgrade to a higher version with the service running: data and the edited config kept.
dpkg --compare-versions "$V2" gt "$V1" || fail "$V2 is not higher than $V1"
systemctl start postern; wait_for 30 logged '"message":"started'
N=$($POSTERN tail --after 0 --json --data-dir $DATA | wc -l); A=$($POSTERN tail --after 0 --json --data-dir $DATA | grep -c '"reason":"ok"')
CSUM=$(sha256sum < $CONF); PIDA=$(prop MainPID)
t0=$(now_ms)
apt_get install -y "$DEB2" > /tmp/apt-upgrade.log 2>&1 && [ "$(installed_version)" = "$V2" ] && pass "upgrade $V1 → $V2 ($(( $(now_ms) - t0 )) ms)" || { fail "upgrade"; tail -20 /tmp/apt-upgrade.log; }
[ "$(sha256sum < $CONF)" = "$CSUM" ] && ! ls /etc/postern/*.dpkg-* >/dev/null 2>&1 && pass "edited $CONF kept as it was (no prompt: the shipped example did not change)" || fail "config changed by the upgrade"
[ "$($POSTERN tail --after 0 --json --data-dir $DATA | grep -c '"reason":"ok"')" = "$A" ] && [ "$($POSTERN tail --after 0 --json --data-dir $DATA | wc -l)" -ge "$N" ] && $POSTERN log verify --data-dir $DATA >/dev/null && pass "data kept: $N events before, $A admits, log verifies" || fail "data after upgrade"
wait_for 30 sh -c '[ "$(systemctl show -P ActiveState postern)" = active ]' && [ "$(prop MainPID)" != "$PIDA" ] && pass "running service restarted on the new binary (pid $PIDA → $(prop MainPID))" || fail "service after upgrade: $(prop ActiveState) pid $(prop MainPID)"
sleep 4; cat /tmp/pass.txt >&3
wait_for 30 relay_open && pass "passage after the upgrade" || fail "no passage after the upgrade"
SEC=$(systemd-analyze security postern.service 2>/dev/null | grep "Overall exposure")
echo "INFO installed unit: ${SEC#→ }"
echo "$SEC" | grep -qE ' (OK|SAFE|PERFECT) ' && pass "systemd-analyze security on the installed unit: $(echo "$SEC" | grep -oE '[0-9]+\.[0-9] [A-Z]+')" || fail "exposure: $SEC"

# 9. Purge: the configuration goes, the event log stays (no marker).
cp /usr/bin/postern /tmp/postern-kept
t0=$(now_ms)
apt_get purge -y postern > /tmp/apt-purge.log 2>&1 && [ -z "$(installed_version)" ] && pass "apt-get purge ($(( $(now_ms) - t0 )) ms)" || { fail "purge"; tail -20 /tmp/apt-purge.log; }
pgrep -u postern -x postern >/dev/null && fail "daemon still running after purge" || pass "prerm stopped the running service"
[ ! -e /etc/postern ] && [ ! -e /lib/systemd/system/postern.service ] && [ ! -e /lib/udev/rules.d/60-postern.rules ] && [ ! -e /usr/bin/postern ] && pass "purged: /etc/postern, unit, udev rules, binary" || fail "left behind: $(ls -d /etc/postern /lib/systemd/system/postern.service /usr/bin/postern 2>/dev/null)"
[ -d $DATA ] && runuser -u postern -- /tmp/postern-kept log verify --data-dir $DATA > /dev/null && pass "kept: $DATA ($(ls $DATA | tr '\n' ' ')), log verifies; user postern $(id -u postern >/dev/null 2>&1 && echo kept || echo removed)" || fail "event log not kept"
grep -q "kept $DATA" /tmp/apt-purge.log && pass "postrm says: $(grep -m1 "kept $DATA" /tmp/apt-purge.log)" || fail "no kept notice"
[ "$(systemctl is-enabled postern 2>&1)" != enabled ] && pass "unit gone: is-enabled says '$(systemctl is-enabled postern 2>&1)'" || fail "unit still enabled"

# 10. Reinstall (enabled, not started again: the config is the example), then purge with the marker.
apt_get install -y "$DEB2" > /tmp/apt-reinstall.log 2>&1 && grep -q "enabled but not started" /tmp/apt-reinstall.log && pass "reinstall after purge: example config again, not started" || fail "reinstall"
touch $DATA/PURGE-EVENT-LOG
apt_get purge -y postern > /tmp/apt-purge2.log 2>&1 && [ ! -e $DATA ] && pass "purge with $DATA/PURGE-EVENT-LOG removed the event log" || fail "marker purge left $DATA"
exec 3>&-
finish
