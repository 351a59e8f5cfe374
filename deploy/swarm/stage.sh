#!/usr/bin/env bash
# Stages the Docker build context of deploy/swarm/Dockerfile in a directory of its own
# (never the repository root: the repository's node_modules holds dev dependencies and
# every platform's binaries). Usage, from anywhere:
#   deploy/swarm/stage.sh [STAGE_DIR]          # default: /tmp/swarmserve-stage
#   DOCKER_BUILDKIT=0 docker build -f deploy/swarm/Dockerfile -t swarmserve:latest STAGE_DIR
# The stage holds:
#   package.json, package-lock.json, .npmrc
#   dist/src/            the compiled CLI (npm run build)
#   node_modules/        production dependencies only: npm ci --omit=dev in the stage
#                        (koffi's @koromix/koffi-linux-x64 binary package included)
#   models/              the bundled models, generated on the host (models prepare):
#                        moderation/1 and resnet50/1 with config.json and labels.txt
#   .dockerignore        deploy/swarm/dockerignore: drops other platforms' binaries
#   Dockerfile           a copy, so that `docker build STAGE_DIR` works on its own
# The host must be linux/x64 with glibc, like the image (the native packages npm picks
# are the host's).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
stage=${1:-/tmp/swarmserve-stage}
t0=$(date +%s)
cd "$repo"
if [ "$(uname -m)" != x86_64 ]; then echo "stage.sh: the image is linux/x64; this host is $(uname -m)" >&2; exit 1; fi

npm run build --silent
node dist/src/cli/main.js models prepare

rm -rf "$stage"
mkdir -p "$stage/dist" "$stage/models"
cp package.json package-lock.json .npmrc "$stage/"
cp -r dist/src "$stage/dist/src"
for m in moderation resnet50; do cp -r "models/$m" "$stage/models/$m"; done
rm -f "$stage"/models/*/*/.generator.lock 2>/dev/null || true
cp models/README.md "$stage/models/" 2>/dev/null || true
cp deploy/swarm/dockerignore "$stage/.dockerignore"
cp deploy/swarm/Dockerfile "$stage/Dockerfile"

# Production dependencies, installed in the stage (from npm's cache when it has them).
(cd "$stage" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error)

# Checks: the native pieces the image needs for linux/x64.
for p in koffi @koromix/koffi-linux-x64 onnxruntime-node/bin/napi-v6/linux/x64 @img/sharp-linux-x64; do
  if [ ! -e "$stage/node_modules/$p" ]; then echo "stage.sh: $p is missing from the stage" >&2; exit 1; fi
done
(cd "$stage" && node -e 'require("koffi").load("libc.so.6"); require("onnxruntime-node"); require("sharp")') \
  || { echo "stage.sh: the staged native modules do not load" >&2; exit 1; }
echo "stage.sh: staged $stage in $(( $(date +%s) - t0 )) s ($(du -sh "$stage" | cut -f1); the image gets less, see .dockerignore)"
