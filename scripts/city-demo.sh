#!/usr/bin/env bash
# The central plane on one machine: a throwaway PostgreSQL, postern-central, three postern
# kiosks of two communities on simulated devices, a crowd crossing gates, and the district's
# seven counts at the end. While the crowd plays it prints central's live view address and the
# demo's accounts (op-c1, operator of c1; sup, street supervisor) and password
# (POSTERN_CITY_WEB_PASSWORD, default city-demo-password). Run as root or with sudo (PostgreSQL
# runs as `postgres`).
#   scripts/city-demo.sh [--duration SECONDS] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --product postern
swift build --product postern-central
swift build --product postern-city
exec .build/debug/postern-city "$@"
