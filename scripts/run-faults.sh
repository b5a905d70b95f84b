#!/usr/bin/env bash
# Run the fault scenarios of tests/faults (real daemons in network
# namespaces created and removed by the tests; root, ip, nft and tc needed,
# skipped with the reason otherwise) against the daemon in $DEXP2P_BUILD.
# Extra arguments go to pytest, e.g. -m quick or -k partition.
# Prints the scenarios' figures, each test's duration and the total.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export DEXP2P_BUILD=${DEXP2P_BUILD:-$PWD/build}
rc=0
/usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEs --durations=0 \
	tests/faults "$@" </dev/null || rc=$?
echo "faults: total ${SECONDS}s, pytest exit $rc"
exit "$rc"
