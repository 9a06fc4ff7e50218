#!/usr/bin/env bash
# Builds Debian packages from a release build: postern_VERSION_ARCH.deb (the kiosk) and
# postern-central_VERSION_ARCH.deb (the central service) into .build-pkg/ (or --out DIR). Each
# binary is built with the Swift runtime linked statically, so the packages need only Debian's
# own libraries (Depends: from dpkg-shlibdeps).
#
#   scripts/package.sh [--version V] [--out DIR] [--no-build] [--lintian] [PRODUCT...]
#   scripts/package.sh --print-version
#
# PRODUCT defaults to every product listed in PRODUCTS below. --version overrides the version
# from git (used by the HIL upgrade scenario); --no-build packages the existing release binary;
# --lintian runs lintian on each package and fails on any error.
# Env: DEBFULLNAME/DEBEMAIL (Maintainer), SOURCE_DATE_EPOCH (default: the commit's time),
#      POSTERN_SWIFT_BUILD_FLAGS (extra flags for swift build).
#
# Adding a product: a paragraph in packaging/control, its maintainer scripts as
# packaging/NAME.{postinst,prerm,postrm}, and a stage_NAME function below that puts its files
# into "$R" (the package root); then add NAME to PRODUCTS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PRODUCTS=(postern postern-central)

OUT=$ROOT/.build-pkg
VERSION=""
BUILD=1
LINTIAN=0
PRINT=0
want=()
while [ $# -gt 0 ]; do
  case $1 in
    --version) VERSION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --lintian) LINTIAN=1; shift ;;
    --print-version) PRINT=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "package.sh: unknown option $1" >&2; exit 2 ;;
    *) want+=("$1"); shift ;;
  esac
done
[ ${#want[@]} -gt 0 ] || want=("${PRODUCTS[@]}")
for t in dpkg-deb dpkg-shlibdeps dpkg-gencontrol; do
  command -v $t >/dev/null || { echo "package.sh: $t missing (apt-get install dpkg-dev)" >&2; exit 1; }
done

# A Debian version from git. A tag vX.Y.Z is X.Y.Z; N commits after it, X.Y.Z+gitN.HASH; with no
# tag (a fresh clone may carry none), 0.0~gitN.HASH where N counts commits, so later builds sort
# higher and the first tag sorts above them all. Uncommitted changes add +dirty.
git_version() {
  local d n h v
  h=$(git rev-parse --short=7 HEAD)
  if d=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
    v=${d%-*-g*}; v=${v#v}; n=${d%-g*}; n=${n##*-}
    if [ "$n" = 0 ]; then echo -n "$v"; else echo -n "$v+git$n.$h"; fi
  else
    echo -n "0.0~git$(git rev-list --count HEAD).$h"
  fi
  git diff --quiet HEAD -- 2>/dev/null || echo -n "+dirty"
  echo
}
[ -n "$VERSION" ] || VERSION=$(git_version)
dpkg --validate-version "$VERSION" || { echo "package.sh: $VERSION is not a Debian version" >&2; exit 1; }
[ $PRINT = 0 ] || { echo "$VERSION"; exit 0; }
ARCH=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
MAINTAINER="${DEBFULLNAME:-Postern maintainers} <${DEBEMAIL:-postern@example.org}>"
# Debian 12 layout (pkg-config systemd/udev on the build machine says the same).
UNITDIR=/lib/systemd/system UDEVDIR=/lib/udev/rules.d
SYSUSERSDIR=/usr/lib/sysusers.d TMPFILESDIR=/usr/lib/tmpfiles.d

release_binary() {  # PRODUCT: builds it (static Swift runtime, full RELRO) and prints its path
  if [ $BUILD = 1 ]; then
    swift build -c release --product "$1" --static-swift-stdlib \
      -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now ${POSTERN_SWIFT_BUILD_FLAGS:-} >&2
  fi
  local bin
  bin=$(swift build -c release --show-bin-path)/$1
  [ -x "$bin" ] || { echo "package.sh: no release binary $bin (run without --no-build)" >&2; exit 1; }
  echo "$bin"
}

# The man page comes from swift-argument-parser's own generator (the GenerateManual plugin's
# tool), run on the release binary; `swift package generate-manual --help` builds the tool
# without building every product the way the plugin itself would.
manual_tool() {
  local tool
  tool=$(swift build --show-bin-path)/generate-manual-tool
  [ -x "$tool" ] || swift package generate-manual --help >/dev/null
  [ -x "$tool" ] || { echo "package.sh: generate-manual-tool not built" >&2; exit 1; }
  echo "$tool"
}

# Helpers for stage_* functions; $R is the package root.
put() { install -D -m "$1" "$2" "$R$3"; }                  # MODE SRC DEST
gz() { gzip -9nf "$R$1"; }                                  # DEST (compressed in place)
put_binary() {                                              # SRC DEST, stripped as dh_strip does
  put 0755 "$1" "$2"
  strip --remove-section=.comment --remove-section=.note --strip-unneeded "$R$2"
}
put_cli_docs() {                                            # NAME: man page and completions
  local bin=$R/usr/bin/$1 tmp
  tmp=$(mktemp -d)
  "$(manual_tool)" "$bin" --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" -o "$tmp"
  put 0644 "$tmp/$1.1" "/usr/share/man/man1/$1.1"; gz "/usr/share/man/man1/$1.1"
  # bash-completion sources the file: no #! line (lintian: bash-completion-with-hashbang).
  "$bin" --generate-completion-script bash | sed '1{/^#!/d}' > "$tmp/bash"
  "$bin" --generate-completion-script zsh > "$tmp/zsh"
  "$bin" --generate-completion-script fish > "$tmp/fish"
  put 0644 "$tmp/bash" "/usr/share/bash-completion/completions/$1"
  put 0644 "$tmp/zsh" "/usr/share/zsh/vendor-completions/_$1"
  put 0644 "$tmp/fish" "/usr/share/fish/vendor_completions.d/$1.fish"
  rm -rf "$tmp"
}
# changelog: Debian-format changelog for this version: the commit subjects since the last tag
# (at most 30), wrapped for an 80-column reader. Its entries name the source package (postern,
# packaging/control's Source:), as in every binary package built from one source.
SOURCE=$(sed -n 's/^Source: *//p' packaging/control)
changelog() {
  local range=HEAD tag
  tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null) && range="$tag..HEAD"
  {
    echo "$SOURCE ($VERSION) bookworm; urgency=medium"
    echo
    echo "  * Built from git commit $(git rev-parse --short=12 HEAD)."
    git log --no-merges --format='%s' -n 30 "$range" | while IFS= read -r s; do
      echo "$s" | fold -s -w 72 | sed '1s/^/  * /; 2,$s/^/    /; s/ *$//'
    done
    echo
    echo " -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  }
}
put_doc() {                                                 # NAME: changelog.gz and copyright
  mkdir -p "$R/usr/share/doc/$1"
  changelog > "$R/usr/share/doc/$1/changelog"; gz "/usr/share/doc/$1/changelog"
  put 0644 packaging/copyright "/usr/share/doc/$1/copyright"
}

stage_postern() {
  local bin
  bin=$(release_binary postern)   # an assignment, so a failed build stops the script (set -e)
  put_binary "$bin" /usr/bin/postern
  put 0644 systemd/postern.service "$UNITDIR/postern.service"
  put 0644 systemd/postern.sysusers.conf "$SYSUSERSDIR/postern.conf"
  put 0644 systemd/postern.tmpfiles.conf "$TMPFILESDIR/postern.conf"
  put 0644 udev/60-postern.rules "$UDEVDIR/60-postern.rules"
  put 0644 examples/postern.toml /etc/postern/postern.toml
  # The pristine example: postinst starts the service only once the config differs from it.
  put 0644 examples/postern.toml /usr/share/postern/postern.toml
  # The drop-in that opens the network to the web front, for admins who turn it on.
  put 0644 systemd/postern-web.conf /usr/share/postern/postern-web.conf
  # The drop-in that opens the network to the uplink, for a kiosk with a [central] section.
  put 0644 systemd/postern.service.d/central-uplink.conf /usr/share/postern/central-uplink.conf
  # The board at the gate: Chromium in kiosk mode as a user unit (README).
  put 0644 systemd/postern-board.service /usr/share/postern/postern-board.service
  # lintian overrides, each with its reason (packaging/postern.lintian-overrides).
  put 0644 packaging/postern.lintian-overrides /usr/share/lintian/overrides/postern
  put_cli_docs postern
  put_doc postern
}

stage_postern-central() {
  local bin
  bin=$(release_binary postern-central)
  put_binary "$bin" /usr/bin/postern-central
  put 0644 systemd/postern-central.service "$UNITDIR/postern-central.service"
  put 0644 systemd/postern-central.sysusers.conf "$SYSUSERSDIR/postern-central.conf"
  put 0644 systemd/postern-central.tmpfiles.conf "$TMPFILESDIR/postern-central.conf"
  put 0644 examples/postern-central.toml /etc/postern-central/central.toml
  # The pristine example: postinst and the unit's ExecCondition compare the config with it.
  put 0644 examples/postern-central.toml /usr/share/postern-central/central.toml
  # Role and database on a local PostgreSQL (README.Debian).
  put 0755 packaging/postern-central-create-database /usr/share/postern-central/create-database
  [ ! -f packaging/postern-central.lintian-overrides ] \
    || put 0644 packaging/postern-central.lintian-overrides /usr/share/lintian/overrides/postern-central
  put_cli_docs postern-central
  put_doc postern-central
  put 0644 packaging/postern-central.README.Debian /usr/share/doc/postern-central/README.Debian
  put 0644 docs/CENTRAL.md /usr/share/doc/postern-central/CENTRAL.md; gz /usr/share/doc/postern-central/CENTRAL.md
}

WORK=""
trap 'rm -rf "$WORK"' EXIT
build_deb() {  # NAME
  local name=$1
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/postern-pkg.XXXXXX")
  R=$WORK/root
  mkdir -p "$R/DEBIAN" "$WORK/debian"
  "stage_$name"
  for s in postinst prerm postrm; do
    [ -f "packaging/$name.$s" ] && install -m 0755 "packaging/$name.$s" "$R/DEBIAN/$s"
  done
  if [ -d "$R/etc" ]; then (cd "$R" && find etc -type f | sort | sed 's|^|/|') > "$R/DEBIAN/conffiles"; fi
  # dpkg-shlibdeps and dpkg-gencontrol read debian/control and debian/changelog from a source
  # tree: give them one made of packaging/control and this version's changelog.
  sed "s|@MAINTAINER@|$MAINTAINER|" packaging/control > "$WORK/debian/control"
  changelog > "$WORK/debian/changelog"
  local elves=()
  while IFS= read -r f; do
    file -b "$f" | grep -q '^ELF' && elves+=("$f")
  done < <(find "$R/usr/bin" "$R/usr/lib" -type f 2>/dev/null || true)
  (
    cd "$WORK"
    [ ${#elves[@]} = 0 ] || dpkg-shlibdeps -T"$WORK/substvars" "${elves[@]}"
    echo "misc:Depends=" >> "$WORK/substvars"
    dpkg-gencontrol -p"$name" -v"$VERSION" -P"$R" -T"$WORK/substvars"
  )
  (cd "$R" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort \
    | grep -v '^etc/' | xargs -r -d '\n' md5sum) > "$R/DEBIAN/md5sums"
  find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  chmod -R u+rwX,go+rX,go-w "$R"
  mkdir -p "$OUT"
  local deb=$OUT/${name}_${VERSION}_${ARCH}.deb
  dpkg-deb --root-owner-group -Zxz --build "$R" "$deb" >/dev/null
  rm -rf "$WORK"
  echo "built $deb ($(du -h "$deb" | cut -f1))"
  dpkg-deb -f "$deb" Version Depends | sed 's/^/  /'
  if [ $LINTIAN = 1 ]; then
    # --fail-on error: warnings are listed in docs/PACKAGING.md with why each is kept.
    lintian --fail-on error --tag-display-limit 0 "$deb"
    echo "lintian: no errors on $(basename "$deb")"
  fi
}

for p in "${want[@]}"; do
  declare -F "stage_$p" >/dev/null || { echo "package.sh: unknown product $p" >&2; exit 2; }
  build_deb "$p"
done
