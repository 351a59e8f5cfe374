#!/usr/bin/env bash
# Real photos for INT8 calibration and evaluation, from Debian packages (nothing from a
# model or data hub): `apt-get download` + `dpkg -x`, no install and no root needed when
# the apt lists are present. Then the selection (dist/tools/photos/main.js): rule,
# reviewed exclusions, perceptual-hash dedupe, calibration/evaluation split, manifest.
# Never run by `models prepare` or `npm start`. Usage: scripts/fetch-photos.sh [OUT_DIR]
# (default .cache/photos). A second run reuses the downloaded .debs and extracted trees.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.cache/photos}
# Packages holding photographs (docs/photos.md lists what each contributes).
PACKAGES=(
  plasma-workspace-wallpapers mate-backgrounds gnome-backgrounds ukui-wallpapers
  lomiri-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
  python3-skimage python3-sklearn python-matplotlib-data
)
MAIN=dist/tools/photos/main.js
if [ ! -f "$MAIN" ]; then
  echo "fetch-photos: $MAIN is missing; run 'npm run build' first" >&2
  exit 1
fi
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
  echo "fetch-photos: needs apt-get and dpkg-deb (a Debian or Ubuntu system)" >&2
  exit 1
}
mkdir -p "$OUT/debs" "$OUT/extracted"
debs=$(cd "$OUT/debs" && pwd)

missing=()
for p in "${PACKAGES[@]}"; do
  compgen -G "$debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "fetch-photos: downloading ${missing[*]}" >&2
  # apt drops privileges to _apt when it may write here; otherwise it warns and goes on.
  if ! (cd "$debs" && apt-get download -q "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2; exit "${PIPESTATUS[0]}"); then
    if [ "$(id -u)" = "0" ]; then
      echo "fetch-photos: download failed; refreshing the apt lists once" >&2
      apt-get update -qq
      (cd "$debs" && apt-get download -q "${missing[@]}")
    else
      echo "fetch-photos: apt-get download failed; run 'sudo apt-get update' and retry" >&2
      exit 1
    fi
  fi
fi

for p in "${PACKAGES[@]}"; do
  deb=$(ls -t "$debs/${p}_"*.deb | head -n 1)
  version=$(dpkg-deb -f "$deb" Version)
  if [ "$(cat "$OUT/extracted/$p.version" 2>/dev/null)" != "$version" ]; then
    rm -rf "$OUT/extracted/$p"
    dpkg -x "$deb" "$OUT/extracted/$p"
    echo "$version" > "$OUT/extracted/$p.version"
  fi
done

exec node "$MAIN" --extracted "$OUT/extracted" --out "$OUT" --fixtures .
