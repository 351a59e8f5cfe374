#!/usr/bin/env bash
# Proves that `npm run test:unit` needs none of what `npm test` sets up: it runs it (or the
# command given as arguments) in a copy of the checkout's files (tracked and untracked, not
# the ignored ones, so without models/*/<version>, .cache/photos and dist/; node_modules's
# packages are symlinks), in a network namespace with only loopback, with redis-server, docker,
# chromium and locust off PATH (and, where a mount namespace is allowed, unrunnable by
# absolute path too), as an unprivileged user when started as root.
#
#   bash scripts/test-unit-isolated.sh                     # npm run test:unit
#   bash scripts/test-unit-isolated.sh npx vitest run --project unit src/queue
#
# Needs util-linux (unshare, and setpriv when run as root) and iproute2 (ip); as a
# non-root user, unprivileged user namespaces (unshare -r).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$#" -gt 0 ] || set -- npm run test:unit
HIDDEN=(redis-server redis-cli docker dockerd chromium chromium-browser google-chrome locust)

if [ "${SWARMSERVE_ISOLATED:-}" != "1" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/swarmserve-unit-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # The checkout's files as a fresh clone plus your edits would have them.
  mkdir "$work/repo" "$work/home"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
    tar -C "$ROOT" --null -T - -cf - | tar -C "$work/repo" -xf -
  # node_modules: a directory of symlinks to the installed packages, so that vite and vitest
  # can write their caches (.vite, .vite-temp) here and not in the shared installation.
  modules=$(readlink -f "$ROOT/node_modules")
  mkdir "$work/repo/node_modules"
  for entry in "$modules"/* "$modules"/.[!.]*; do
    case ${entry##*/} in .vite | .vite-temp | '.[!.]*') continue ;; esac
    ln -s "$entry" "$work/repo/node_modules/${entry##*/}"
  done
  for absent in dist .cache models/moderation/1 models/resnet50/1; do
    if [ -e "$work/repo/$absent" ]; then echo "test-unit-isolated: $absent is in the copy" >&2 && exit 1; fi
  done
  # A PATH of symlinks to everything on the current PATH but the hidden commands.
  mkdir "$work/bin"
  IFS=: read -r -a dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    [ -d "$dir" ] || continue
    for exe in "$dir"/*; do
      name=${exe##*/}
      [ -x "$exe" ] && [ ! -d "$exe" ] && [ ! -e "$work/bin/$name" ] || continue
      for hidden in "${HIDDEN[@]}"; do [ "$name" = "$hidden" ] && continue 2; done
      ln -s "$exe" "$work/bin/$name"
    done
  done
  masks=()
  for hidden in "${HIDDEN[@]}"; do
    found=$(command -v "$hidden" 2>/dev/null || true)
    [ -n "$found" ] && masks+=("$(readlink -f "$found")")
    for fixed in /usr/bin/$hidden /usr/local/bin/$hidden /usr/sbin/$hidden; do [ -e "$fixed" ] && masks+=("$fixed"); done
  done
  [ "$(id -u)" = "0" ] && namespace=(unshare --net --mount) || namespace=(unshare --map-root-user --net --mount)
  if [ "$(id -u)" = "0" ]; then chown -R 65534:65534 "$work/repo" "$work/home" && chmod a+rx "$work"; fi
  export SWARMSERVE_ISOLATED=1 SWARMSERVE_ISOLATED_DIR="$work" SWARMSERVE_ISOLATED_MASKS="${masks[*]:-}" SWARMSERVE_ISOLATED_UID
  SWARMSERVE_ISOLATED_UID=$(id -u)
  started=$SECONDS
  status=0
  "${namespace[@]}" bash "$0" "$@" || status=$?
  echo "test-unit-isolated: exit $status in $((SECONDS - started)) s (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  exit "$status"
fi

# Inside the namespaces: loopback up, the hidden commands masked, then the command.
work=$SWARMSERVE_ISOLATED_DIR
ip link set lo up
for mask in $SWARMSERVE_ISOLATED_MASKS; do mount --bind /dev/null "$mask" 2>/dev/null || true; done
export PATH="$work/bin" HOME="$work/home"
cd "$work/repo"
echo "test-unit-isolated: $(pwd), network: $(ip -brief link | awk '{print $1}' | paste -sd, -)" >&2
for hidden in "${HIDDEN[@]}"; do
  if command -v "$hidden" >/dev/null 2>&1; then echo "test-unit-isolated: $hidden is still on PATH" >&2 && exit 1; fi
done
if [ "$SWARMSERVE_ISOLATED_UID" = "0" ]; then
  exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
fi
exec "$@"
