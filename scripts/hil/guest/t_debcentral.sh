#!/bin/sh
# hil-boot: systemd
# The postern-central package on a guest with systemd as PID 1 and the build machine's own
# PostgreSQL 15 (its Debian packages are in the shared root; the cluster's files are copied up
# into the guest's overlay, so nothing of the host changes): install → enabled, not started, and
# the unit refuses to run on the example config → create-database (role, database; hostile names
# refused; a password file) → TLS files and a config on the local socket → systemctl start
# returns after READY=1 → /healthz over TLS → admin commands as the service's user → the kiosk
# package on the same guest uplinks its log to it → stop → upgrade keeps the edited config and
# restarts → the same service over TCP with the password file → purge removes
# /etc/postern-central and leaves the database. prep_debcentral.sh put the packages in
# $SHARE/debs/{1,2,kiosk}.
. "$HIL_GUEST/lib.sh"
export DEBIAN_FRONTEND=noninteractive
DEB1=$(ls "$SHARE"/debs/1/postern-central_*.deb); DEB2=$(ls "$SHARE"/debs/2/postern-central_*.deb)
KDEB=$(ls "$SHARE"/debs/kiosk/postern_*.deb)
V1=$(dpkg-deb -f "$DEB1" Version); V2=$(dpkg-deb -f "$DEB2" Version)
ETC=/etc/postern-central CONF=/etc/postern-central/central.toml
prop() { systemctl show -P "$1" postern-central; }
installed_version() { dpkg-query -W -f '${Version}' postern-central 2>/dev/null; }
# Admin commands as the service's user: with peer authentication its name is the database role.
pc() { runuser -u postern-central -- /usr/bin/postern-central "$@"; }
sql() { runuser -u postgres -- psql -X -At -d "${2:-postern}" -c "$1"; }
healthz() { curl -s --max-time 5 --cacert $ETC/central.crt https://127.0.0.1:8443/healthz; }
# apt with no package lists (the guest is offline; Depends are checked against what is
# installed, as in the deb scenario).
mkdir -p /tmp/apt-nolists
apt_get() { apt-get -o Dir::State::Lists=/tmp/apt-nolists -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/apt-nolists "$@"; }

[ "$(cat /proc/1/comm)" = systemd ] && pass "systemd is PID 1 ($(systemctl --version | head -1 | cut -d' ' -f1,2))" || { fail "PID 1 is $(cat /proc/1/comm)"; finish; exit 1; }
mount -t tmpfs -o ro,mode=755 noswift /opt/swift 2>/dev/null   # nothing of the toolchain may be needed
rm -f /var/lib/man-db/auto-update                               # man-db's trigger: minutes under TCG

# 1. Install: user, config directory, enabled but not started.
t0=$(now_ms)
apt_get install -y "$DEB1" > /tmp/apt-install.log 2>&1 && [ "$(installed_version)" = "$V1" ] && pass "apt-get install ./$(basename "$DEB1") ($(( $(now_ms) - t0 )) ms, offline: Depends already met)" || { fail "install"; cat /tmp/apt-install.log; finish; exit 1; }
grep -q "enabled but not started" /tmp/apt-install.log && pass "postinst says: $(grep -m1 'enabled but not started' /tmp/apt-install.log)" || fail "no not-started notice"
[ "$(systemctl is-enabled postern-central)" = enabled ] && [ "$(systemctl is-active postern-central)" = inactive ] && pass "postern-central.service enabled, not started" || fail "enabled=$(systemctl is-enabled postern-central) active=$(systemctl is-active postern-central)"
id postern-central >/dev/null 2>&1 && [ "$(getent passwd postern-central | cut -d: -f7)" = /usr/sbin/nologin ] && pass "user: $(id postern-central), shell nologin" || fail "user postern-central: $(getent passwd postern-central)"
[ "$(stat -c '%U:%G %a' $ETC)" = "root:postern-central 750" ] && pass "$ETC root:postern-central 0750" || fail "config directory: $(stat -c '%U:%G %a' $ETC)"
dpkg-query -W -f '${Conffiles}' postern-central | grep -q " $CONF " && pass "$CONF is a conffile" || fail "conffiles: $(dpkg-query -W -f '${Conffiles}' postern-central)"
ldd /usr/bin/postern-central | grep -q "not found" && fail "missing libraries: $(ldd /usr/bin/postern-central | grep 'not found')" || pass "binary needs only Debian libraries ($(ldd /usr/bin/postern-central | wc -l) entries; Swift toolchain hidden)"
man -l /usr/share/man/man1/postern-central.1.gz 2>/dev/null | grep -q "serve" && [ -f /usr/share/bash-completion/completions/postern-central ] && [ -f /usr/share/doc/postern-central/README.Debian ] && pass "man page, completions, README.Debian installed" || fail "man page, completions or README.Debian missing"

# 2. The unit refuses the example config: inactive, not failed, no restart loop, a journal line.
systemctl start postern-central; rc=$?
sleep 3
[ "$(prop ActiveState)" = inactive ] && [ "$(prop NRestarts)" = 0 ] && [ -z "$(pgrep -x postern-central)" ] && pass "systemctl start on the example config: not started (exit $rc, result $(prop Result), restarts 0)" || fail "started on the example: $(prop ActiveState)/$(prop SubState) result $(prop Result) restarts $(prop NRestarts)"
journalctl -u postern-central --no-pager | grep -q "still the packaged example" && pass "journal: $(journalctl -u postern-central --no-pager -o cat | grep -m1 'still the packaged example' | cut -c1-110)…" || fail "no refusal message in the journal"

# 3. PostgreSQL (the build machine's Debian packages and cluster, copied up into the overlay).
t0=$(now_ms)
systemctl start postgresql@15-main && wait_for 60 runuser -u postgres -- psql -X -Atc 'select 1' && pass "PostgreSQL $(runuser -u postgres -- psql -X -Atc 'show server_version') running in the guest ($(( $(now_ms) - t0 )) ms)" || { fail "PostgreSQL did not start"; journalctl -u postgresql@15-main --no-pager | tail -20; finish; exit 1; }
H=/usr/share/postern-central/create-database
$H --role 'x"; DROP DATABASE postgres; --' > /tmp/h1.log 2>&1; rc=$?
[ $rc = 2 ] && grep -q "is not a plain name" /tmp/h1.log && [ "$(sql "select count(*) from pg_roles where rolname like 'x%'" postgres)" = 0 ] && pass "create-database refuses a hostile role name (exit 2: $(head -1 /tmp/h1.log | cut -c1-70)…)" || fail "hostile name: exit $rc $(cat /tmp/h1.log)"
$H > /tmp/h2.log 2>&1 && $H > /tmp/h3.log 2>&1 && [ "$(sql "select pg_get_userbyid(datdba) from pg_database where datname='postern'" postgres)" = postern-central ] && [ "$(sql "select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname='postern-central'" postgres)" = f ] && pass "create-database (twice: idempotent): $(tail -1 /tmp/h3.log | cut -d: -f2-), role without superuser/createdb/createrole" || { fail "create-database"; cat /tmp/h2.log /tmp/h3.log; }
$H --database postgres > /tmp/h5.log 2>&1; rc=$?
[ $rc = 1 ] && grep -q "belongs to postgres" /tmp/h5.log && ! grep -q "could not change directory" /tmp/h5.log && pass "create-database leaves a database of another owner alone (exit 1: $(tail -1 /tmp/h5.log | cut -c1-80))" || fail "foreign database: exit $rc $(cat /tmp/h5.log)"

# 4. The one file an admin edits (and the TLS files it names): listen with TLS on the example's
#    paths, the database over the local socket with peer authentication.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout $ETC/central.key -out $ETC/central.crt 2>/dev/null
chgrp postern-central $ETC/central.key $ETC/central.crt && chmod 0640 $ETC/central.key $ETC/central.crt
sed -i 's|^host = "127.0.0.1"$|socket = "/run/postgresql/.s.PGSQL.5432"|; /^port = 5432$/d; /^password_file = /d' $CONF
grep -q '^socket = ' $CONF && ! grep -q '^password_file' $CONF && pass "config edited: [database] socket = /run/postgresql/.s.PGSQL.5432, TLS files 0640 root:postern-central" || fail "config edit"

# 5. Start: Type=notify, so `systemctl start` returns once migrations ran and the port listens.
t0=$(now_ms)
systemctl start postern-central && [ "$(prop ActiveState)/$(prop SubState)" = active/running ] && pass "systemctl start: active/running after READY=1 ($(( $(now_ms) - t0 )) ms, Type=$(prop Type), status \"$(prop StatusText)\")" || { fail "start: $(prop ActiveState)/$(prop SubState) $(prop Result)"; journalctl -u postern-central --no-pager | tail -20; }
PID1=$(prop MainPID)
[ "$(ps -o user= -p "$PID1")" = postern-central ] && pass "service runs as user postern-central (pid $PID1)" || fail "service user: $(ps -o user= -p "$PID1")"
[ "$(healthz)" = '{"status":"ok"}' ] && pass "GET https://127.0.0.1:8443/healthz → $(healthz) (TLS with the key the sandboxed service read)" || fail "healthz: $(healthz) $(curl -sv --cacert $ETC/central.crt https://127.0.0.1:8443/healthz 2>&1 | tail -3)"
journalctl -u postern-central --no-pager -o cat | grep -q "schema migration" && M=$(sql "select count(*) from schema_migrations") && [ "$M" -ge 1 ] && pass "migrations applied at start ($M in schema_migrations; btree_gist: $(sql "select extversion from pg_extension where extname='btree_gist'"))" || fail "no migrations"
curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8443/healthz | grep -qv '^200$' && pass "plain HTTP to the TLS port is not served" || fail "plain HTTP answered 200"

# 6. Admin commands (as postern-central: peer authentication) and a gate for the kiosk.
pc org city c0 --name City >/dev/null && pc org district d0 --name District --parent c0 >/dev/null && pc org street s0 --name Street --parent d0 >/dev/null \
  && pc community c1 --street s0 --name Community >/dev/null && pc gate enrol gA --community c1 --token-out /tmp/gA.token >/dev/null \
  && pass "postern-central org/community/gate enrol as user postern-central (token $(stat -c %a /tmp/gA.token))" || fail "admin commands"
postern-central org city c9 --name X > /tmp/root-admin.log 2>&1; rc=$?
[ $rc != 0 ] && pass "the same command as root is refused by PostgreSQL's peer authentication (exit $rc: $(tail -1 /tmp/root-admin.log | cut -c1-90)…)" || fail "root admin command succeeded"
RKEY=$(pc registry-key)

# 7. A kiosk on the same machine (the postern package) uplinks to it through the packaged drop-in.
apt_get install -y "$KDEB" > /tmp/apt-kiosk.log 2>&1 && pass "kiosk package installed ($(dpkg-query -W -f '${Version}' postern))" || { fail "kiosk install"; tail -5 /tmp/apt-kiosk.log; }
modprobe gpio-sim && make_chip 8
DATA=/var/lib/postern
kiosk_config /dev/postern/thermo-in "" serial-line /dev/postern/qr-in ""
# No devices plugged in here (the deb scenario does that): not required, so the daemon starts.
sed -i 's/^kind = "\(thermometer\|scanner\)"$/&\nrequired = false/' /tmp/postern.toml
cat /tmp/postern.toml > /etc/postern/postern.toml
install -m 0640 -g postern $ETC/central.crt /etc/postern/central-ca.pem
install -m 0600 -o postern /tmp/gA.token /etc/postern/central.token
cat >> /etc/postern/postern.toml <<CFG
[central]
urls = ["https://127.0.0.1:8443"]
token_file = "/etc/postern/central.token"
ca_file = "/etc/postern/central-ca.pem"
registry_key = "$RKEY"
CFG
/usr/bin/postern config check /etc/postern/postern.toml > /tmp/kcheck.log 2>&1 && pass "kiosk config with [central] checks" || { fail "kiosk config check"; cat /tmp/kcheck.log; }
install -D -m 0644 /usr/share/postern/central-uplink.conf /etc/systemd/system/postern.service.d/central-uplink.conf && systemctl daemon-reload
systemctl start postern && [ "$(systemctl show -P ActiveState postern)" = active ] && pass "kiosk service started with the packaged central-uplink drop-in" || { fail "kiosk start"; journalctl -u postern --no-pager | tail -10; }
up() { [ "$(sql "select count(*) from events where gate='gA'")" -gt 0 ]; }
wait_for 60 up && pass "kiosk's log reached central: $(sql "select count(*) from events where gate='gA'") events of gate gA in PostgreSQL ($WAITED ms); $(pc gate list | grep gA)" || { fail "no events from the kiosk at central"; journalctl -u postern --no-pager | grep -i -m5 "central\|uplink"; }
N1=$(sql "select count(*) from events where gate='gA'")
systemctl stop postern

# 8. systemd's view of the installed unit's sandbox.
SEC=$(systemd-analyze security postern-central.service 2>/dev/null | grep "Overall exposure")
echo "INFO installed unit: ${SEC#→ }"
echo "$SEC" | grep -qE ' (OK|SAFE|PERFECT) ' && pass "systemd-analyze security postern-central.service: $(echo "$SEC" | grep -oE '[0-9]+\.[0-9] [A-Z]+')" || fail "exposure: $SEC"

# 9. Stop: a clean exit on SIGTERM.
t0=$(now_ms); systemctl stop postern-central
[ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] && [ -z "$(pgrep -x postern-central)" ] && pass "systemctl stop: clean exit in $(( $(now_ms) - t0 )) ms" || fail "stop: result $(prop Result) status $(prop ExecMainStatus)"

# 10. Upgrade with the service running: the edited config kept, the service restarted.
dpkg --compare-versions "$V2" gt "$V1" || fail "$V2 is not higher than $V1"
systemctl start postern-central; PIDA=$(prop MainPID); CSUM=$(sha256sum < $CONF)
t0=$(now_ms)
apt_get install -y "$DEB2" > /tmp/apt-upgrade.log 2>&1 && [ "$(installed_version)" = "$V2" ] && pass "upgrade $V1 → $V2 ($(( $(now_ms) - t0 )) ms)" || { fail "upgrade"; tail -20 /tmp/apt-upgrade.log; }
[ "$(sha256sum < $CONF)" = "$CSUM" ] && ! ls $ETC/*.dpkg-* >/dev/null 2>&1 && [ -f $ETC/central.key ] && pass "edited $CONF kept (no prompt: the example did not change), TLS files kept" || fail "config changed by the upgrade"
wait_for 30 sh -c '[ "$(systemctl show -P ActiveState postern-central)" = active ]' && [ "$(prop MainPID)" != "$PIDA" ] && [ "$(healthz)" = '{"status":"ok"}' ] && pass "running service restarted on the new binary (pid $PIDA → $(prop MainPID)), healthz ok" || fail "service after upgrade: $(prop ActiveState) pid $(prop MainPID)"
[ "$(sql "select count(*) from events where gate='gA'")" -ge "$N1" ] && pc gate list | grep -q "c1/gA" && pass "data in PostgreSQL kept: gate gA, $(sql "select count(*) from events where gate='gA'") events" || fail "data after upgrade"

# 11. The other way to the database: TCP with a password file (create-database writes it).
$H --password-file $ETC/db.password > /tmp/h6.log 2>&1 && [ "$(stat -c '%U:%G %a' $ETC/db.password)" = "root:postern-central 640" ] && pass "create-database --password-file: $ETC/db.password root:postern-central 0640" || { fail "password file"; cat /tmp/h6.log; }
sed -i 's|^socket = "/run/postgresql/.s.PGSQL.5432"$|host = "127.0.0.1"\nport = 5432\npassword_file = "/etc/postern-central/db.password"|' $CONF
systemctl restart postern-central && [ "$(healthz)" = '{"status":"ok"}' ] && pass "restart over TCP 127.0.0.1:5432 with the password file (scram-sha-256): healthz ok" || { fail "TCP + password"; journalctl -u postern-central --no-pager | tail -5; }
systemctl stop postern-central; systemctl reset-failed postern-central 2>/dev/null

# 12. Purge: /etc/postern-central goes (config, TLS, password file); PostgreSQL keeps the data.
t0=$(now_ms)
apt_get purge -y postern-central > /tmp/apt-purge.log 2>&1 && [ -z "$(installed_version)" ] && pass "apt-get purge ($(( $(now_ms) - t0 )) ms)" || { fail "purge"; tail -20 /tmp/apt-purge.log; }
[ ! -e $ETC ] && [ ! -e /lib/systemd/system/postern-central.service ] && [ ! -e /usr/bin/postern-central ] && [ ! -e /usr/share/postern-central ] && pass "purged: $ETC (config, TLS files, password file), unit, binary, /usr/share/postern-central" || fail "left behind: $(ls -d $ETC /lib/systemd/system/postern-central.service /usr/bin/postern-central 2>/dev/null)"
[ "$(systemctl is-enabled postern-central 2>&1)" != enabled ] && pass "unit gone: is-enabled says '$(systemctl is-enabled postern-central 2>&1)'" || fail "unit still enabled"
[ "$(sql "select count(*) from events where gate='gA'")" -ge "$N1" ] && [ "$(sql "select count(*) from pg_roles where rolname='postern-central'" postgres)" = 1 ] && pass "kept: database postern ($(sql "select count(*) from events") events, $(sql "select count(*) from gates") gate) and role postern-central; user postern-central $(id -u postern-central >/dev/null 2>&1 && echo kept || echo removed)" || fail "database not kept"
grep -q "was not" /tmp/apt-purge.log && pass "postrm says: $(grep -m1 'The data is in PostgreSQL' /tmp/apt-purge.log | cut -c1-100)" || fail "no purge notice"
finish
