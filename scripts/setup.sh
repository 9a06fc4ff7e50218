#!/usr/bin/env bash
# Installs what Postern needs to build and test on Debian 12 (or Pi OS bookworm). Idempotent.
set -euo pipefail
# dpkg-dev, file and lintian: scripts/package.sh builds and checks the .deb; libjpeg/libpng: photos;
# chromium, chromium-driver, curl, openssl: the web front's browser and TLS tests; postgresql: the
# central plane's tests (a throwaway cluster run as the postgres user).
pkgs=(libgpiod-dev libsqlite3-dev libusb-1.0-0-dev libqrencode-dev libjpeg-dev libpng-dev pkg-config socat gpiod python3-pip systemd zbar-tools librsvg2-bin fonts-wqy-zenhei dpkg-dev file lintian chromium chromium-driver curl openssl postgresql)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# The Modbus driver is also tested against an independent peer (pymodbus) on a pty pair.
python3 -c 'import sys, serial, pymodbus; sys.exit(pymodbus.__version__ != "3.8.6")' 2>/dev/null || python3 -m pip install -q 'pymodbus==3.8.6' pyserial || echo "note: pymodbus not installed; its interop test will be skipped"
# The web front is tested in a real browser: Debian's headless Chromium driven through Selenium.
python3 -c 'import sys, selenium; sys.exit(selenium.__version__ != "4.51.0")' 2>/dev/null || python3 -m pip install -q 'selenium==4.51.0'
