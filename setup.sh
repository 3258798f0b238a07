#!/usr/bin/env bash
# Set up everything the harness needs on a fresh Debian/Ubuntu-like machine, then run the main job.
#
#   ./setup.sh            install, then start the embedded sandbox, call the shop through it, stop it
#   ./setup.sh --no-run   install only (what CI uses)
#
# Installs: Prometheus (apt, only where `prometheus` is not on PATH) and a virtualenv in .venv with
# the harness and its test tools. Re-running is safe and fast.
set -euo pipefail
cd "$(dirname "$0")"

run=1
[ "${1:-}" = "--no-run" ] && run=0

if ! command -v prometheus >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Prometheus (apt-get)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus is not on PATH and apt-get is missing: install Prometheus 2.x and re-run" >&2
    exit 2
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing the harness into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

if [ "$run" = 1 ]; then
  echo "==> starting the embedded sandbox, sending a request through the gateway, stopping it"
  .venv/bin/harness sandbox up --state-dir .harness/sandbox
  trap '.venv/bin/harness sandbox down --state-dir .harness/sandbox' EXIT
  url=$(.venv/bin/python -c 'import json,sys; print(json.load(open(".harness/sandbox/state.json"))["gateway_url"])')
  .venv/bin/python -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]+'/').read().decode())" "$url"
fi
