#!/usr/bin/env bash
# proxy-bench.sh - real dexp2pd nodes whose every link runs through a
# proxy delaying it by a fixed one-way latency (docs/bench.md "proxy"):
# each delivery's time against the shortest-path time from its creator.
# Prints one bench=proxy line (scripts/proxybench.py says what it holds).
#
# Usage: scripts/proxy-bench.sh [build-dir]   (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   PB_NODES=12        daemons (2..64)
#   PB_DEGREE=4        links a node at least (ring + random chords)
#   PB_DELAY_LO=20     one-way delay of a link, uniform LO..HI ms, fixed
#   PB_DELAY_HI=80       per link (both directions)
#   PB_RATE=20         packets/s (DEX_broadcast at random nodes, 256 B)
#   PB_SECONDS=20      load duration
#   PB_SETTLE=20       at most this long after the load for every node to
#                      hold every packet
#   PB_SEED=1          graph, delays and creators
#   PB_BASEPORT=28500  first port tried (node i: p2p base+3i, rpc base+3i+1;
#                      proxies after the nodes)
#   PB_KEEP=0          1 keeps the datadirs (each node's output)
#   PB_DAEMON_ARGS=    extra dexp2pd flags for every node
# Everything runs on 127.0.0.1 with -txpowbits=0; every wait is bounded and
# the daemons are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-${DEXP2P_BUILD:-build}}
DAEMON=$BUILD/dexp2pd
PY=/usr/bin/python3
[ -x "$DAEMON" ] || { echo "proxy-bench: $DAEMON not built" >&2; exit 1; }
N=${PB_NODES:-12}
DEGREE=${PB_DEGREE:-4}
LO=${PB_DELAY_LO:-20}
HI=${PB_DELAY_HI:-80}
RATE=${PB_RATE:-20}
SECS=${PB_SECONDS:-20}
SETTLE=${PB_SETTLE:-20}
SEED=${PB_SEED:-1}
for v in N DEGREE LO HI RATE SECS SETTLE SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "proxy-bench: $v must be a number" >&2; exit 1; }
done
[ "$N" -ge 2 ] && [ "$N" -le 64 ] || { echo "proxy-bench: PB_NODES 2..64" >&2; exit 1; }
[ "$DEGREE" -ge 2 ] && [ "$DEGREE" -le 16 ] || { echo "proxy-bench: PB_DEGREE 2..16" >&2; exit 1; }
[ "$LO" -ge 1 ] && [ "$LO" -le "$HI" ] && [ "$HI" -le 5000 ] ||
	{ echo "proxy-bench: 1 <= PB_DELAY_LO <= PB_DELAY_HI <= 5000" >&2; exit 1; }
[ "$RATE" -ge 1 ] && [ "$RATE" -le 1000 ] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 600 ] ||
	{ echo "proxy-bench: PB_RATE 1..1000, PB_SECONDS 1..600" >&2; exit 1; }

. scripts/benchlib.sh
KEEP=${PB_KEEP:-0}
bench_tmp proxybench
# nodes, then up to 16 * N / 2 proxies
base=$(bench_ports "${PB_BASEPORT:-28500}" $((3 * N + 8 * N)) $((11 * N + 10)))
# the daemons are the Python part's children: it stops them; this trap
# stops them too if it is killed
bench_stop_children() { [ -f "$TMP/pids" ] && for p in $(cat "$TMP/pids"); do pids+=("$p"); done; bench_cleanup; }
trap bench_stop_children EXIT
# shellcheck disable=SC2206
extra=(${PB_DAEMON_ARGS:-})
extra_json=$(printf '%s\n' "${extra[@]:-}" | "$PY" -c 'import json,sys; print(json.dumps([l for l in sys.stdin.read().split("\n") if l]))')
cat >"$TMP/args.json" <<EOT
{"nodes": $N, "degree": $DEGREE, "delay_lo": $LO, "delay_hi": $HI,
 "rate": $RATE, "seconds": $SECS, "settle": $SETTLE,
 "seed": $SEED, "base": $base, "tmp": "$TMP",
 "daemon": "$DAEMON", "daemon_args": $extra_json}
EOT
"$PY" scripts/proxybench.py "$TMP/args.json"
