#!/usr/bin/env bash
# attack-bench.sh - honest traffic under each kind of hostile peer or client
# (docs/SECURITY.md): 3 local dexp2pd in a line n0 - n1 - n2, tools/netbench
# offering packets to n0, one attack per phase against n1 (the victim).
# Prints one `bench=attack kind=<name> ...` line per phase (figures and
# definitions: scripts/attackbench.py, docs/bench.md "Attack benchmark").
#
# Usage: scripts/attack-bench.sh [build-dir]   (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   AB_SECONDS=10   honest load per phase (1..120)
#   AB_RATE=1000    packets/s offered to n0
#   AB_SETTLE=8     seconds allowed after the load before counting missing
#   AB_KINDS=       comma-separated phases (default: all, baseline first)
#   AB_KEEP=0       1 keeps the datadirs (debug.log of each node)
# Everything runs on 127.0.0.0/8 with -txpowbits=0; attackers bind to
# 127.0.K.x.  Each phase is bounded; every process started is stopped when
# the script ends (also on error or ^C).  A full run (13 phases) takes about
# 2.5 minutes; make bench runs it with BENCH_ATTACK=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${DEXP2P_BUILD:-build}}
for b in "$BUILD/dexp2pd" "$BUILD/tools/netbench"; do
	[ -x "$b" ] || { echo "attack-bench: $b not built" >&2; exit 1; }
done
args=(run --build "$BUILD" --seconds "${AB_SECONDS:-10}" --rate "${AB_RATE:-1000}"
      --settle "${AB_SETTLE:-8}")
[ -n "${AB_KINDS:-}" ] && args+=(--kinds "$AB_KINDS")
[ "${AB_KEEP:-0}" = 1 ] && args+=(--keep)
exec timeout -k 10 900 /usr/bin/python3 scripts/attackbench.py "${args[@]}"
