#!/usr/bin/env bash
# The MicroPython unix port with firmware/ frozen into the binary (frozen_manifest.py), for the
# heap-budget runs (8-h round under 64 KiB, bench): code in ROM as on a production board.
#   build_frozen.sh VERSION CACHE_DIR   -> CACHE_DIR/bin/micropython
# Same Debian source and patches as .ci/bootstrap/micropython.sh; the patched tree stays in CACHE_DIR
# so a firmware change only re-freezes and relinks (a few seconds). Rebuilt when the firmware
# sources, the manifest or this script change (hash in CACHE_DIR/stamp); safe to run concurrently
# (flock).
set -euo pipefail
version=$1 cache=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$cache"; cache=$(cd "$cache" && pwd)
exec 9>"$cache/.lock"
flock 9
stamp=$(cd "$repo" && { echo "$version"; cat hil_tests/firmware/frozen_manifest.py hil_tests/firmware/build_frozen.sh;
  find firmware -name '*.py' ! -path 'firmware/tests/*' | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)
[ -x "$cache/bin/micropython" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ] && exit 0
src="$cache/src"
if [ ! -f "$src/.facteur-patched" ]; then
  echo "build_frozen: fetching MicroPython $version source" >&2
  rm -rf "${cache:?}/src" "$cache/bin"
  "$repo/.ci/bootstrap/micropython-source.sh" "$version" "$cache"
  touch "$src/.facteur-patched"
fi
echo "build_frozen: MicroPython $version unix port with firmware/ frozen in" >&2
(make -C "$src/mpy-cross" -j"$(nproc)" >>"$cache/build.log" 2>&1 \
  && make -C "$src/ports/unix" -j"$(nproc)" FROZEN_MANIFEST="$here/frozen_manifest.py" \
       MICROPY_PY_BTREE=0 MICROPY_SSL_AXTLS=0 MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 >>"$cache/build.log" 2>&1) \
  || { echo "build_frozen: build failed, see $cache/build.log" >&2; exit 1; }
mkdir -p "$cache/bin"
install -m 0755 "$src/ports/unix/build-standard/micropython" "$cache/bin/micropython"
echo "$stamp" > "$cache/stamp"
