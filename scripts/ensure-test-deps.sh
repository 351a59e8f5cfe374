#!/usr/bin/env bash
# System tools the test suite needs beyond Node: the docker CLI (the planner's compose
# output is validated with `docker stack config`, which needs no daemon). Installed from
# Debian's packages when missing and we may (root with apt-get); otherwise say what to do.
set -euo pipefail
if command -v docker >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: installing docker.io (for 'docker stack config')" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
else
  echo "ensure-test-deps: the docker CLI is missing; install it (e.g. 'sudo apt-get install -y docker.io') — one test needs 'docker stack config'" >&2
fi
