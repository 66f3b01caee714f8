#!/usr/bin/env bash
# The dashboard's browser packages (MapLibre GL; playwright-core for the browser test), from npm,
# as pinned by ingest/dashboard/package-lock.json, into a git-ignored folder (default .cache/npm).
# Fast when nothing changed: the lockfile is compared with the installed copy's.
# Debian's nodejs + npm are installed only when there is no npm at all (another node may be present
# on the machine, and Debian's packages would conflict with it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/ingest/dashboard"
dest="${1:-$root/.cache/npm}"
if [ -f "$dest/node_modules/maplibre-gl/dist/maplibre-gl.js" ] \
   && [ -f "$dest/node_modules/playwright-core/package.json" ] \
   && cmp -s "$src/package.json" "$dest/package.json" \
   && cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  "$root/.ci/bootstrap/system-packages.sh" nodejs npm
fi
echo "bootstrap: installing the dashboard's npm packages in $dest"
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
# npm ci may rewrite the lockfile's copy; keep the committed one for the up-to-date check above.
cp "$src/package-lock.json" "$dest/package-lock.json"
