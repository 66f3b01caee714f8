#!/usr/bin/env bash
# Fetch and unpack one Debian 13 (trixie) source package without touching the system's apt sources.
#   debian-source.sh NAME UPSTREAM_VERSION WORKDIR   -> unpacked tree in WORKDIR/src
# The mirror is the one the machine's own apt sources use for Debian.
set -euo pipefail
name=$1 upstream=$2 work=$3
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d" "$work/download"
work=$(cd "$work" && pwd)
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/{for (i=2;i<=NF;i++) print $i}' /etc/apt/sources.list.d/debian.sources | grep -v -- -security | head -n1)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "bootstrap: cannot find the Debian mirror in /etc/apt/sources.list[.d]" >&2; exit 1; }
echo "deb-src $mirror trixie main" > "$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/apt/sources.list" -o "Dir::Etc::sourceparts=$work/apt/sources.list.d"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq >/dev/null
(cd "$work/download" && apt-get "${apt_opts[@]}" source --download-only -qq "$name" >/dev/null)
dsc=$(ls "$work/download/${name}_${upstream}"*.dsc 2>/dev/null | head -n1 || true)
if [ -z "$dsc" ]; then
  echo "bootstrap: trixie's $name is not version $upstream (got: $(ls "$work/download" | grep dsc)); update the pin in the Makefile" >&2
  exit 1
fi
rm -rf "$work/src"
# apt already checked the files against the signed Release index; the keyring for the .dsc
# signature itself is not installed on a plain Debian 12.
dpkg-source --no-check --skip-patches -x "$dsc" "$work/src" >/dev/null
