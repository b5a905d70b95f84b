#!/usr/bin/env bash
# events-bench.sh - live subscriptions benchmark (docs/bench.md, "Live
# subscriptions"): one dexp2pd under netbench load (20,000 packets/s of
# 256 B, -txpowbits=0), with 0, 1, 100 and 1,000 GET /events subscribers
# on the latency samples (tagA nbs, 1 packet in EB_SAMPLE).  Per run one
# line: latency from the generator's send() to the event read from the
# subscriber's socket by tools/evread (p50/p99 over every event, and per
# sample the first subscriber to read it; an upper bound of store-to-socket:
# it adds the P2P hop into the node and the reader's own delay), the
# daemon's CPU, and its cost per subscriber and per delivered event over the
# baseline.
#
# Usage: scripts/events-bench.sh [build-dir]   (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   EB_QUICK=0        1: 3 s per run and 1 packet in 1000 sampled
#   EB_RATE=20000     packets/s offered to the node
#   EB_SECONDS=10     load per run (1..600)
#   EB_SAMPLE=200     1 packet in EB_SAMPLE matches the subscribers
#   EB_COUNTS=0,1,100,1000   subscriber counts, 0 first (the baseline)
#   EB_BASEPORT=28400 first port tried
#   EB_KEEP=0         1 keeps the datadir
# Everything on 127.0.0.1; every wait bounded; the EXIT trap stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-${DEXP2P_BUILD:-build}}
DAEMON=$BUILD/dexp2pd
GEN=$BUILD/tools/netbench
READER=$BUILD/tools/evread
PY=/usr/bin/python3
if [ "${EB_QUICK:-0}" = 1 ]; then
	SECONDS_=${EB_SECONDS:-3}
	SAMPLE=${EB_SAMPLE:-1000}
else
	SECONDS_=${EB_SECONDS:-10}
	SAMPLE=${EB_SAMPLE:-200}
fi
RATE=${EB_RATE:-20000}
COUNTS=${EB_COUNTS:-0,1,100,1000}
KEEP=${EB_KEEP:-0}

. scripts/benchlib.sh
bench_need events-bench "$DAEMON" "$GEN" "$READER"
bench_numbers events-bench RATE SECONDS_ SAMPLE
[ "$SECONDS_" -ge 1 ] && [ "$SECONDS_" -le 600 ] || { echo "events-bench: EB_SECONDS 1..600" >&2; exit 1; }
[[ $COUNTS =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "events-bench: EB_COUNTS n,n,..." >&2; exit 1; }

bench_tmp eventsbench
base=$(bench_ports "${EB_BASEPORT:-28400}" 2 10)
bench_daemon n0 -port="$base" -rpcport=$((base + 1)) \
	-rpcuser=eb -rpcpassword=eb -txpowbits=0 -listen=1 -connect=127.0.0.1:1 \
	-rpcmaxsubscriptions=2000 -rpcmaxclientsubscriptions=2000 \
	-printtoconsole=0
pid=$BENCH_PID
bench_wait_rpc n0 $((base + 1)) eb eb
"$PY" scripts/eventsbench.py $((base + 1)) eb eb "$pid" "$GEN" "$READER" "$base" \
	"$RATE" "$SECONDS_" "$SAMPLE" "$COUNTS"
echo "# events detail: host $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
