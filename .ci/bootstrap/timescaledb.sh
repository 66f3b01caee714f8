#!/usr/bin/env bash
# Build TimescaleDB (Apache-2.0 build) from Debian 13's source package for the system's PostgreSQL,
# cache the installed files under CACHE_DIR, and copy them into PostgreSQL's directories.
#   timescaledb.sh VERSION PG_MAJOR CACHE_DIR
# Idempotent: a cached build is reused; the copy only happens when the system files differ.
set -euo pipefail
version=$1 pg=$2 cache=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"; cache=$(cd "$cache" && pwd)
pg_config=/usr/lib/postgresql/$pg/bin/pg_config
[ -x "$pg_config" ] || { echo "bootstrap: $pg_config not found (is postgresql-server-dev-$pg installed?)" >&2; exit 1; }
stage="$cache/stage"
if [ ! -f "$cache/built" ]; then
  echo "bootstrap: building TimescaleDB $version for PostgreSQL $pg (about a minute)"
  rm -rf "${cache:?}"/*
  "$here/debian-source.sh" timescaledb "$version" "$cache"
  (cd "$cache/src" && ./bootstrap -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
      -DPG_CONFIG="$pg_config" >"$cache/build.log" 2>&1 \
    && make -C build -j"$(nproc)" >>"$cache/build.log" 2>&1 \
    && make -C build install DESTDIR="$stage" >>"$cache/build.log" 2>&1) \
    || { echo "bootstrap: TimescaleDB build failed, see $cache/build.log" >&2; exit 1; }
  rm -rf "$cache/src" "$cache/apt" "$cache/download"
  touch "$cache/built"
fi
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
changed=0
while IFS= read -r -d '' f; do
  target=/${f#"$stage"/}
  if ! cmp -s "$f" "$target"; then
    $sudo install -D -m 0644 "$f" "$target"; changed=1
  fi
done < <(find "$stage" -type f -print0)
[ $changed -eq 0 ] || echo "bootstrap: installed TimescaleDB $version into PostgreSQL $pg"
