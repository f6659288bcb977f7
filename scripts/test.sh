#!/usr/bin/env bash
# Set up everything the tests need, start the services they use (a Docker engine with
# its own data root and socket), and run the test suite. Arguments go to pytest.
#   scripts/test.sh                 # the whole suite
#   scripts/test.sh -k gate -x      # a part of it
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --dev

# Service-backed tests fail instead of skipping when this is set (CI sets it).
if [ "${CI:-}" = "true" ]; then export LEPTONCI_REQUIRE_SERVICES=1; fi

state_dir="${LEPTONCI_SERVICES_DIR:-/tmp/leptonci-services}"
if [ -z "${DOCKER_HOST:-}" ]; then
  eval "$(scripts/start-services.sh "$state_dir")"
fi

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
