#!/usr/bin/env bash
# sim-plot.sh - propagation time against node count in the simulator
# (docs/bench.md "sim"): for each node count, one WAN run (random graph of
# degree 8, -profile=wan) per simulator binary; prints one line per run
#   bench=sim_plot label nodes prop100_p50_ms prop100_p99_ms bound100_p50_ms
#   bound100_p99_ms ratio100_p50 ratio100_p99
# and, when gnuplot is installed, draws them into a PNG (p50 and p99 of the
# time to reach every node, and the shortest-path bound).
#
# Usage: scripts/sim-plot.sh [build-dir]    (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   SP_SIMS="current=<build>/tools/sim"  label=binary[,option...] entries,
#                      space separated: options after the binary go to its
#                      runs only (e.g. "hop=build/tools/sim,-mode=1
#                      tree=build/tools/sim" compares two designs of one
#                      build; "old=/tmp/main/build/tools/sim new=build/tools/sim"
#                      two builds)
#   SP_NODES="64 128 256 512 1000"       node counts
#   SP_RATE=100 SP_SECONDS=5 SP_SEED=1   load of each run
#   SP_ARGS=           extra sim options for every run
#   SP_PNG=<build>/sim-propagation.png   the plot
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${DEXP2P_BUILD:-build}}
SIMS=${SP_SIMS:-current=$BUILD/tools/sim}
NODES=${SP_NODES:-64 128 256 512 1000}
RATE=${SP_RATE:-100}
SECS=${SP_SECONDS:-5}
SEED=${SP_SEED:-1}
PNG=${SP_PNG:-$BUILD/sim-propagation.png}
for v in RATE SECS SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "sim-plot: $v must be a number" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/simplot.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
for pair in $SIMS; do
	label=${pair%%=*}
	spec=${pair#*=}
	bin=${spec%%,*}
	opts=""
	[ "$spec" = "$bin" ] || opts=${spec#*,}
	opts=${opts//,/ }
	[[ $label =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "sim-plot: bad label $label" >&2; exit 1; }
	[ -x "$bin" ] || { echo "sim-plot: $bin not built" >&2; exit 1; }
	for n in $NODES; do
		[[ $n =~ ^[0-9]+$ ]] || { echo "sim-plot: bad node count $n" >&2; exit 1; }
		# shellcheck disable=SC2086  # SP_ARGS and opts are words
		line=$("$bin" -nodes="$n" -topology=random -degree=8 -profile=wan \
			-rate="$RATE" -seconds="$SECS" -seed="$SEED" ${SP_ARGS:-} $opts 2>/dev/null)
		get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
		out="bench=sim_plot label=$label nodes=$n"
		for k in prop100_p50_ms prop100_p99_ms bound100_p50_ms bound100_p99_ms \
			ratio100_p50 ratio100_p99 missing; do
			out="$out $k=$(get $k)"
		done
		echo "$out"
		echo "$n $(get prop100_p50_ms) $(get prop100_p99_ms) $(get bound100_p50_ms) $(get bound100_p99_ms)" >>"$TMP/$label.dat"
	done
done
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "# sim-plot: gnuplot not installed, no PNG"
	exit 0
fi
plot=""
first=1
for pair in $SIMS; do
	label=${pair%%=*}
	f="$TMP/$label.dat"
	[ $first = 1 ] || plot="$plot, "
	plot="$plot'$f' using 1:2 with linespoints title '$label p50', '$f' using 1:3 with linespoints title '$label p99'"
	if [ $first = 1 ]; then
		plot="$plot, '$f' using 1:4 with lines dashtype 2 title 'shortest path p50', '$f' using 1:5 with lines dashtype 2 title 'shortest path p99'"
	fi
	first=0
done
gnuplot <<EOT
set terminal png size 900,560
set output '$PNG'
set title 'Time to reach every node (sim, random graph degree 8, WAN 20-150 ms + 10 ms jitter, $RATE packets/s)'
set xlabel 'nodes'
set ylabel 'ms'
set logscale x
set key left top
set grid
plot $plot
EOT
echo "# sim-plot: $PNG"
