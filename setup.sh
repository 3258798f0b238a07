#!/usr/bin/env bash
# Set up everything the harness needs on a fresh Debian/Ubuntu-like machine, then run the main job.
#
#   ./setup.sh            install, then run the example experiment suite on the embedded sandbox
#   ./setup.sh --no-run   install only (what CI uses)
#
# Installs: Prometheus, Alertmanager, kubectl and Chromium (apt, only where they are not on PATH) and a virtualenv in .venv with
# the harness and its test tools. Re-running is safe and fast.
set -euo pipefail
cd "$(dirname "$0")"

run=1
[ "${1:-}" = "--no-run" ] && run=0

apt_install() {  # apt_install PACKAGE...: the first package apt knows is installed
  if ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  [ -n "${APT_UPDATED:-}" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
  for package in "$@"; do
    if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$package" >/dev/null; then
      return 0
    fi
  done
  return 1
}

if ! command -v prometheus >/dev/null 2>&1; then
  echo "==> installing Prometheus (apt-get)"
  apt_install prometheus || { echo "prometheus is not on PATH and apt-get cannot install it: install Prometheus 2.x and re-run" >&2; exit 2; }
fi
# the report tests lay report.html out in a headless browser (width at 1280 px, print to A4)
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Chromium (apt-get; headless, for the report layout tests)"
  apt_install chromium chromium-browser || echo "chromium could not be installed: the report layout tests will skip" >&2
fi
# alert guardrails ask Alertmanager; the sandbox runs one (Debian names the binary prometheus-alertmanager)
if ! command -v alertmanager >/dev/null 2>&1 && ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  echo "==> installing Alertmanager (apt-get)"
  apt_install prometheus-alertmanager || { echo "alertmanager is not on PATH and apt-get cannot install it: install Alertmanager 0.2x and re-run" >&2; exit 2; }
fi
# the tests drive the sandbox cluster with the stock kubectl, as users do
if ! command -v kubectl >/dev/null 2>&1; then
  echo "==> installing kubectl (apt-get)"
  apt_install kubectl kubernetes-client || { echo "kubectl is not on PATH and apt-get cannot install it: install kubectl and re-run" >&2; exit 2; }
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "==> installing the harness into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

if [ "$run" = 1 ]; then
  echo "==> running the example suite on the embedded sandbox (about 4 minutes)"
  rc=0
  .venv/bin/harness run --sandbox --state-dir .harness/sandbox experiments/sandbox/ || rc=$?
  # 0 all PASS, 1 a FAIL, 4 only INCONCLUSIVE: the suite ran. The example suite holds one experiment
  # that is meant to FAIL (03-same-route-timeout-FAILS.yaml), so 1 is what a healthy run gives.
  case "$rc" in
    0|1|4) echo "==> done: reports are in reports/ (open report.html; see the README for what each verdict means)";;
    *) exit "$rc";;
  esac
fi
