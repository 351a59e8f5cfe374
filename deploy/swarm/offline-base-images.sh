#!/usr/bin/env bash
# Makes the two base images the stack needs WITHOUT any registry, from this host's own
# binaries (the "fast" recipe of ../shared/notes/offline-swarm.md; ~3 s each):
#   node:20-bookworm-slim  - the host's Node 20 + the libraries ldd lists + librt/libresolv
#                            (sharp, onnxruntime) + dash as /bin/sh + /etc/passwd with
#                            user node (uid 1000, as in the official image)
#   redis:7-bookworm       - the host's redis-server (apt) + its libraries + dash as /bin/sh
# Tagged so that the Dockerfile's default FROM (and the stack's redis image) resolve
# locally. For tests on our machines only: production pulls the official images.
# Usage: deploy/swarm/offline-base-images.sh [node-tag] [redis-tag]
set -euo pipefail
NODE_TAG=${1:-node:20-bookworm-slim}
REDIS_TAG=${2:-redis:7-bookworm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

copy_with_libs() { # root binary...
  local root=$1; shift
  for bin in "$@"; do
    mkdir -p "$root$(dirname "$bin")"; cp -L "$bin" "$root$bin"
    ldd "$bin" | awk '/=>/ {print $3} $1 ~ /^\/lib/ {print $1}' | while read -r lib; do
      [ -n "$lib" ] || continue
      mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
  done
}

skeleton() { # root user uid
  local root=$1 user=$2 uid=$3
  mkdir -p "$root"/{etc,tmp,bin,usr/bin,lib64,run,proc,sys,dev,home/"$user"}
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s::/home/%s:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' "$user" "$uid" "$uid" "$user" > "$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\nnogroup:x:65534:\n' "$user" "$uid" > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  chown "$uid:$uid" "$root/home/$user"
  copy_with_libs "$root" /bin/dash
  ln -sf dash "$root/bin/sh"
}

libdir=/lib/x86_64-linux-gnu
# node
n=$work/node; skeleton "$n" node 1000
copy_with_libs "$n" "$(readlink -f "$(command -v node)")"
[ "$(readlink -f "$(command -v node)")" = /usr/bin/node ] || ln -sf "$(readlink -f "$(command -v node)")" "$n/usr/bin/node"
for l in librt.so.1 libresolv.so.2 libnss_dns.so.2 libnss_files.so.2; do [ -e "$libdir/$l" ] && cp -L "$libdir/$l" "$n$libdir/"; done
tar -C "$n" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'ENV NODE_VERSION='"$(node -p process.versions.node)" -c 'CMD ["node"]' - "$NODE_TAG"
# redis
r=$work/redis; skeleton "$r" redis 999
copy_with_libs "$r" "$(command -v redis-server)"
mkdir -p "$r/data"; chown 999:999 "$r/data"
tar -C "$r" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'WORKDIR /data' -c 'CMD ["redis-server"]' - "$REDIS_TAG"
