#!/usr/bin/env bash
# Build the MicroPython unix port (asyncio frozen; littlefs, sockets, select built in) and the
# matching mpy-cross from Debian 13's source package, into CACHE_DIR/bin.
#   micropython.sh VERSION CACHE_DIR
set -euo pipefail
version=$1 cache=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"; cache=$(cd "$cache" && pwd)
[ -x "$cache/bin/micropython" ] && [ -x "$cache/bin/mpy-cross" ] && exit 0
echo "bootstrap: building MicroPython $version unix port and mpy-cross (about 30 s)"
rm -rf "${cache:?}"/*; mkdir -p "$cache/bin"
"$here/micropython-source.sh" "$version" "$cache"
src="$cache/src"
# Only what the firmware needs frozen in: asyncio (micropython-lib is not in the Debian source).
echo 'include("$(MPY_DIR)/extmod/asyncio")' > "$cache/manifest.py"
(make -C "$src/mpy-cross" -j"$(nproc)" >>"$cache/build.log" 2>&1 \
  && make -C "$src/ports/unix" -j"$(nproc)" FROZEN_MANIFEST="$cache/manifest.py" \
       MICROPY_PY_BTREE=0 MICROPY_SSL_AXTLS=0 MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 >>"$cache/build.log" 2>&1) \
  || { echo "bootstrap: MicroPython build failed, see $cache/build.log" >&2; exit 1; }
install -m 0755 "$src/ports/unix/build-standard/micropython" "$cache/bin/micropython"
install -m 0755 "$src/mpy-cross/build/mpy-cross" "$cache/bin/mpy-cross"
rm -rf "$src" "$cache/apt" "$cache/download"
