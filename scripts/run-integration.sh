#!/usr/bin/env bash
# Run the pytest integration suite against the daemon in $DEXP2P_BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEXP2P_BUILD=${DEXP2P_BUILD:-$PWD/build}
exec /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
