#!/usr/bin/env bash
# The central plane on one machine: a throwaway PostgreSQL, postern-central, three postern
# kiosks of two communities on simulated devices, a crowd crossing gates, and the district's
# seven counts at the end. Run as root or with sudo (PostgreSQL runs as `postgres`).
#   scripts/city-demo.sh [--duration SECONDS] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --product postern
swift build --product postern-central
swift build --product postern-city
exec .build/debug/postern-city "$@"
