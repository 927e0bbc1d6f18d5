#!/usr/bin/env bash
# Fetches the Python 3.11 documentation (Debian package python3.11-doc) into .cache/python-docs:
# real text (reST sources under html/_sources) and HTML for the demo, tests and benchmarks.
set -euo pipefail
dest="${1:-.cache/python-docs}"
if [ -d "$dest/usr/share/doc/python3.11/html/_sources" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download python3.11-doc >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get download python3.11-doc >/dev/null
fi
cd - >/dev/null
mkdir -p "$dest"
dpkg-deb -x "$tmp"/python3.11-doc_*.deb "$dest"
echo "python docs in $dest/usr/share/doc/python3.11/html"
