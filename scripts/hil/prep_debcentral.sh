#!/usr/bin/env bash
# Host side of the debcentral scenario: the postern-central package of this tree, a second one of
# a higher version (same binary) for the upgrade, and the kiosk package (the kiosk that uplinks
# to it) into SHARE/debs/. Uses what scripts/package.sh built for this version if it is there,
# else packages the existing release binaries (building them if there are none); exit 77 (skip)
# if dpkg-deb is missing.
set -euo pipefail
SHARE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
command -v dpkg-deb >/dev/null || { echo "skipped: dpkg-deb missing"; exit 77; }
cd "$ROOT"
mkdir -p "$SHARE/debs/1" "$SHARE/debs/2" "$SHARE/debs/kiosk"
v1=$(bash scripts/package.sh --print-version)
arch=$(dpkg --print-architecture)
bin=$(swift build -c release --show-bin-path)
for p in postern-central postern; do
  dest=$SHARE/debs/1; [ $p = postern ] && dest=$SHARE/debs/kiosk
  if [ -f ".build-pkg/${p}_${v1}_$arch.deb" ]; then
    cp ".build-pkg/${p}_${v1}_$arch.deb" "$dest/"   # what scripts/test.sh built and lintian checked
  else
    build=--no-build
    [ -x "$bin/$p" ] || build=""
    bash scripts/package.sh $build --out "$dest" $p
  fi
done
bash scripts/package.sh --no-build --version "$v1+hil1" --out "$SHARE/debs/2" postern-central
