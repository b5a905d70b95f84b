#!/bin/sh
# run-bench.sh - run every benchmark binary in <build>/bench/ and print its
# key=value lines.  Usage: scripts/run-bench.sh [build-dir]  (default build)
# Each line is prefixed by nothing: the binaries print their own conditions.
# Exit status is non-zero if any benchmark failed.
set -u
build=${1:-build}
dir="$build/bench"
if [ ! -d "$dir" ]; then
	echo "run-bench: no $dir (build first: make BUILD=$build)" >&2
	exit 1
fi
echo "# host: $(uname -m) $(nproc 2>/dev/null || echo ?) cpus;" \
	"$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
rc=0
for b in "$dir"/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	echo "# $(basename "$b")"
	if ! "$b"; then
		echo "run-bench: $(basename "$b") failed" >&2
		rc=1
	fi
done
# The network benchmark: 10 local nodes, short default run (NB_SECONDS,
# NB_RATE, NB_NODES, NB_TOPOLOGY override; see scripts/netbench.sh).
echo "# netbench"
if ! NB_SECONDS=${NB_SECONDS:-10} "$(dirname "$0")/netbench.sh" "$build"; then
	echo "run-bench: netbench failed" >&2
	rc=1
fi
# The protocol alone, CPU out of the picture: the simulator (tools/sim),
# virtual clock, deterministic for its seed.
echo "# sim"
for args in "-nodes=10 -topology=ring3 -rate=20000 -seconds=10 -latency=1" \
	"-nodes=100 -topology=random -degree=4 -rate=1000 -seconds=10 -latency=20 -jitter=10"; do
	# shellcheck disable=SC2086  # the arguments are words
	"$build/tools/sim" $args || { echo "run-bench: sim failed" >&2; rc=1; }
done
echo "# catchup"; CU_HELD=${CU_HELD:-200000} "$(dirname "$0")/catchup-bench.sh" "$build" || { echo "run-bench: catchup failed" >&2; rc=1; }
# The file methods: a 100 MB file between two local nodes, -txpowbits=0
# and the default 12 (FB_MB, FB_BITS override; scripts/files-bench.sh).
echo "# files"
"$(dirname "$0")/files-bench.sh" "$build" || { echo "run-bench: files failed" >&2; rc=1; }
# Hostile peers and clients against a victim node under honest traffic
# (scripts/attack-bench.sh, about 2.5 minutes): only with BENCH_ATTACK=1.
if [ "${BENCH_ATTACK:-0}" = 1 ]; then
	echo "# attack"
	"$(dirname "$0")/attack-bench.sh" "$build" || { echo "run-bench: attack failed" >&2; rc=1; }
else
	echo "# attack: skipped (BENCH_ATTACK=1 runs it, about 2.5 minutes)"
fi
exit $rc
