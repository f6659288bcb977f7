#!/usr/bin/env bash
# Set up a machine for leptonci: system packages (for the tests' real services), a
# virtualenv in .venv with leptonci and its extras. Safe to run again: it skips what is
# already there.
#   scripts/setup.sh            # runtime + training extras
#   scripts/setup.sh --dev      # plus the test tools and the services the tests use
#                               # (and mermaid-cli with Debian's chromium, to render reports)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

PYTHON=${PYTHON:-python3}
MERMAID_CLI_VERSION=11.17.0
apt_packages=(git)
# Debian and Ubuntu ship venv's ensurepip in a separate package (python3.X-venv); without
# it `python -m venv` fails on a fresh machine.
if [ ! -x .venv/bin/python ] && ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1; then
  apt_packages+=("$("$PYTHON" -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')")
fi
if [ "$dev" = 1 ]; then
  # skopeo: tests and bench/push_floor.py read pushed images back with another tool
  apt_packages+=(docker.io docker-registry busybox-static apache2-utils make skopeo)
  # tests/test_report_render.py: mermaid-cli (npm) drives Debian's chromium, headless
  apt_packages+=(chromium fonts-noto-color-emoji)
  # a node already on the machine (e.g. NodeSource's) brings its own npm: Debian's would clash
  command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
extras="train"
[ "$dev" = 1 ] && extras="dev,train"
stamp=".venv/.leptonci-installed-$(sha256sum pyproject.toml | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
  echo "==> pip install -e .[$extras]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import leptonci" # fail here, not later, if the install broke
  touch "$stamp"
fi

if [ "$dev" = 1 ] && [ ! -x .venv/mermaid/node_modules/.bin/mmdc ]; then
  # puppeteer would download a browser of its own: Debian's chromium is used instead
  echo "==> npm install @mermaid-js/mermaid-cli (into .venv/mermaid)"
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent \
    --prefix .venv/mermaid "@mermaid-js/mermaid-cli@$MERMAID_CLI_VERSION" >/dev/null
fi
