#!/bin/sh
# run-bench.sh - run every benchmark binary in <build>/bench/ and print its
# key=value lines.  Usage: scripts/run-bench.sh [build-dir]  (default build)
# Each line is prefixed by nothing: the binaries print their own conditions.
# Exit status is non-zero if any benchmark failed.
# BENCH_QUICK=1 skips the heavy scenarios (the delaying-proxy network, 50
# daemons, the propagation plot) with a line saying so.
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
	"-nodes=100 -topology=random -degree=4 -rate=1000 -seconds=10 -latency=20 -jitter=10" \
	"-nodes=256 -topology=random -degree=8 -profile=wan -rate=200 -seconds=5"; do
	# shellcheck disable=SC2086  # the arguments are words
	"$build/tools/sim" $args || { echo "run-bench: sim failed" >&2; rc=1; }
done
quick=${BENCH_QUICK:-0}
# Real daemons, every link through a proxy delaying it 20-80 ms one way:
# delivery against the shortest path (scripts/proxy-bench.sh, ~30 s).
echo "# proxy"
if [ "$quick" = 1 ]; then
	echo "# proxy: skipped (BENCH_QUICK=1)"
else
	"$(dirname "$0")/proxy-bench.sh" "$build" || { echo "run-bench: proxy failed" >&2; rc=1; }
fi
# 50 daemons on a random graph of degree 8 at 2,000 packets/s (netbench).
echo "# daemons50"
if [ "$quick" = 1 ]; then
	echo "# daemons50: skipped (BENCH_QUICK=1)"
else
	NB_NODES=50 NB_TOPOLOGY=random NB_DEGREE=8 NB_RATE=2000 \
		NB_SECONDS=${D50_SECONDS:-10} NB_SETTLE=${D50_SETTLE:-15} \
		"$(dirname "$0")/netbench.sh" "$build" || { echo "run-bench: daemons50 failed" >&2; rc=1; }
fi
# Propagation time against node count in the simulator, PNG with gnuplot.
echo "# sim_plot"
if [ "$quick" = 1 ]; then
	echo "# sim_plot: skipped (BENCH_QUICK=1)"
else
	"$(dirname "$0")/sim-plot.sh" "$build" || { echo "run-bench: sim_plot failed" >&2; rc=1; }
fi
echo "# catchup"; CU_HELD=${CU_HELD:-200000} "$(dirname "$0")/catchup-bench.sh" "$build" || { echo "run-bench: catchup failed" >&2; rc=1; }
# Hostile peers and clients against a victim node under honest traffic
# (scripts/attack-bench.sh, about 2.5 minutes): only with BENCH_ATTACK=1.
if [ "${BENCH_ATTACK:-0}" = 1 ]; then
	echo "# attack"
	"$(dirname "$0")/attack-bench.sh" "$build" || { echo "run-bench: attack failed" >&2; rc=1; }
else
	echo "# attack: skipped (BENCH_ATTACK=1 runs it, about 2.5 minutes)"
fi
exit $rc
