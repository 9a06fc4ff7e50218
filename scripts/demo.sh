#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build, run the kiosk demo on simulated
# devices (pty thermometers, scanners and ID reader, simulated GPIO) with the live tail.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product postern
exec .build/release/postern demo "$@"
