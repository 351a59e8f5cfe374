#!/usr/bin/env bash
# System tools the test suite needs beyond Node, installed from Debian's packages when
# missing and we may (root with apt-get); otherwise say what to do:
# - redis-server: the distributed-mode tests start their own instances on free ports;
# - the docker CLI: the planner's compose output is validated with `docker stack config`
#   (no daemon needed);
# - openssl: the TLS test makes a certificate authority of its own;
# - chromium: report and page tests open what we serve in a real headless browser
#   (driven by playwright-core, never a downloaded browser);
# - locust (python3-locust): the Locust compatibility test runs the root locustfile.py.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v locust >/dev/null 2>&1 || missing+=(python3-locust)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "ensure-test-deps: missing ${missing[*]}; install them (e.g. 'sudo apt-get install -y ${missing[*]}')" >&2
  exit 1
fi
