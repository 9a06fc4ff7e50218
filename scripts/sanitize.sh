#!/usr/bin/env bash
# Runs the Swift test suite under AddressSanitizer and ThreadSanitizer (separate build folders).
# Usage: scripts/sanitize.sh [address|thread]...   (default: both)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
status=0
for s in "${@:-address thread}"; do
  for san in $s; do
    echo "== swift test --sanitize=$san"
    swift build --build-tests --sanitize="$san" --scratch-path ".build-$san" >/tmp/postern-$san-build.log 2>&1 \
      || { echo "build failed"; tail -20 /tmp/postern-$san-build.log; status=1; continue; }
    # The SIGKILL, HIL-like and process suites spawn the plain debug binary; skip them here.
    TSAN_OPTIONS="halt_on_error=1" ASAN_OPTIONS="detect_leaks=0" swift test --skip-build --sanitize="$san" --scratch-path ".build-$san" --no-parallel \
      --skip "ProcessTests|AdminCLITests|HostileInputTests|SystemdUnitTests" 2>&1 | tee /tmp/postern-$san.log | grep -E "Test run|SUMMARY|WARNING: ThreadSanitizer|ERROR: AddressSanitizer" | head -20
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
  done
done
exit $status
