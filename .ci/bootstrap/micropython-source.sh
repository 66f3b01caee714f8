#!/usr/bin/env bash
# Fetch Debian 13's micropython source package and apply its patches (as Debian builds it).
#   micropython-source.sh VERSION WORKDIR   -> patched tree in WORKDIR/src, log in WORKDIR/build.log
# Used by micropython.sh (the plain unix port) and hil_tests/firmware/build_frozen.sh (firmware frozen in).
set -euo pipefail
version=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
"$here/debian-source.sh" micropython "$version" "$work"
src="$work/src"
while read -r patch; do
  case "$patch" in ''|'#'*) continue;; esac
  patch -d "$src" -p1 -s --forward < "$src/debian/patches/$patch" >>"$work/build.log" 2>&1 \
    || { echo "bootstrap: MicroPython patch $patch failed, see $work/build.log" >&2; exit 1; }
done < "$src/debian/patches/series"
rm -rf "$work/apt" "$work/download"
