#!/usr/bin/env bash
# Prints Postern's figures next to raw baselines measured in the same run on the same disk
# (durable append vs write+fdatasync, 64 appenders vs the single-writer sync rate, recovery vs
# CRC32C, mirror vs raw sqlite3 inserts, decision vs Ed25519 verify, scan→relay vs fdatasync).
# Usage: scripts/bench.sh [DIR]   (DIR: where to write; default the system temp directory)
#        scripts/bench.sh central  (the central plane's figures and its live view, docs/PERFORMANCE.md)
# The ordo-one/benchmark suites: swift package --package-path Benchmarks benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "central" ]; then
  # The central plane: ingest vs raw COPY, registry fan-out to 100 gates, claim p99, scan→relay
  # with the uplink on vs off (a throwaway PostgreSQL; as root it runs as `postgres`).
  swift build -c release --package-path Benchmarks --product central-ratios
  Benchmarks/.build/release/central-ratios
  # The live view through central: decision → SSE viewer of central's web front, paired with the
  # kiosk's own web front on the same passages; then POSTERN_VIEWERS viewers of one community.
  swift build -c release --package-path Benchmarks --product central-webbench
  exec Benchmarks/.build/release/central-webbench --viewers "${POSTERN_VIEWERS:-1000}"
fi
swift build -c release --package-path Benchmarks --product ratios
Benchmarks/.build/release/ratios "${1:-${TMPDIR:-/tmp}}"
# The web front: decision → event delivered to SSE viewers (one, then POSTERN_VIEWERS).
swift build -c release --package-path Benchmarks --product webbench
Benchmarks/.build/release/webbench "${1:-${TMPDIR:-/tmp}}" --viewers "${POSTERN_VIEWERS:-1000}"
