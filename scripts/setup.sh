#!/usr/bin/env bash
# Installs what Postern needs to build and test on Debian 12 (or Pi OS bookworm). Idempotent.
set -euo pipefail
pkgs=(libgpiod-dev libsqlite3-dev libusb-1.0-0-dev libqrencode-dev pkg-config socat gpiod python3-pip systemd zbar-tools librsvg2-bin fonts-wqy-zenhei postgresql openssl)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
# The Modbus driver is also tested against an independent peer (pymodbus) on a pty pair.
python3 -c 'import sys, serial, pymodbus; sys.exit(pymodbus.__version__ != "3.8.6")' 2>/dev/null || python3 -m pip install -q 'pymodbus==3.8.6' pyserial || echo "note: pymodbus not installed; its interop test will be skipped"
