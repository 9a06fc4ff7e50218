#!/usr/bin/env bash
# Host side of the deb scenario: the kiosk package of this tree and a second one of a higher
# version (same binary) for the upgrade, into SHARE/debs/. Builds the release binary if there is
# none yet (scripts/package.sh); exit 77 (skip) if dpkg-deb is missing.
set -euo pipefail
SHARE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
command -v dpkg-deb >/dev/null || { echo "skipped: dpkg-deb missing"; exit 77; }
cd "$ROOT"
mkdir -p "$SHARE/debs/1" "$SHARE/debs/2"
v1=$(bash scripts/package.sh --print-version)
arch=$(dpkg --print-architecture)
if [ -f ".build-pkg/postern_${v1}_$arch.deb" ]; then
  cp ".build-pkg/postern_${v1}_$arch.deb" "$SHARE/debs/1/"   # what scripts/test.sh built and lintian checked
else
  build=--no-build
  [ -x "$(swift build -c release --show-bin-path)/postern" ] || build=""
  bash scripts/package.sh $build --out "$SHARE/debs/1" postern
fi
bash scripts/package.sh --no-build --version "$v1+hil1" --out "$SHARE/debs/2" postern
