#!/usr/bin/env bash
# The test command: installs what it needs, builds, runs every test suite, builds the kiosk's
# .deb from a release build and runs lintian on it, then the hardware-in-the-loop suite in a VM
# (real kernel GPIO, USB and power cuts, and the package under systemd; see docs/HIL.md).
# POSTERN_SKIP_HIL=1 skips the VM suite (it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
# Serial: many suites drive real ptys, processes and timers; run in parallel on a 2-core machine
# they starve each other and time out. The whole Swift suite takes about five minutes (the central
# plane's suites, on their own throwaway PostgreSQL clusters, about four of them).
status=0
swift test --skip-build --no-parallel "$@" || status=$?
# A test process that exits without running atexit leaves its clusters (postern-pg-PID-PORT)
# running: remove those whose process is gone (never another run's).
for d in "${TMPDIR:-/tmp}"/postern-pg-*-*; do
  pid=$(basename "$d" | cut -d- -f3)
  if [ -d "$d/data" ] && [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then bash scripts/pg-cluster.sh destroy "$d"; fi
done
[ "$status" -eq 0 ] || exit "$status"
if [ $# -eq 0 ]; then
  # The web front in headless Chromium against the demo (about 1.5 minutes; screenshots in
  # .build/test-artefacts).
  python3 scripts/browser-test.py
  # Coverage-guided fuzzing of every parser, briefly (scripts/fuzz.sh SECONDS for longer runs).
  bash scripts/fuzz.sh "${POSTERN_FUZZ_SECONDS:-10}"
  # The package (release build, static Swift runtime) and lintian: no errors allowed.
  bash scripts/package.sh --lintian
  bash scripts/hil/all.sh
fi
