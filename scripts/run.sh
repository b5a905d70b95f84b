#!/usr/bin/env bash
# make run: a local 3-node dexp2p network on 127.0.0.1.
#
#   node1 <-> node2 <-> node3 <-> node1   (every node -addnode's the others)
#
# Data directories are ./run/node1 ... ./run/node3 (gitignored; identity
# keys persist between runs, packets do not).  Prints each node's ports and
# example dexp2p-cli commands, broadcasts a few sample packets, then shows
# per-node stats every 2 s until Ctrl-C, which stops all three cleanly.
#
# Environment:
#   DEXP2P_BUILD  directory holding dexp2pd and dexp2p-cli (default ./build)
#   RUN_BASEPORT  first port to try (default 17770); node i uses
#                 base+2(i-1) for p2p and base+2(i-1)+1 for RPC
#   RUN_SECONDS   stop by itself after this many seconds (for use without a
#                 terminal, e.g. in CI)
#   RUN_TXPOWBITS network proof-of-work bits (default 12)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${DEXP2P_BUILD:-$PWD/build}
DAEMON=$BUILD/dexp2pd
CLI=$BUILD/dexp2p-cli
RUNDIR=$PWD/run
N=3
TXPOWBITS=${RUN_TXPOWBITS:-12}
RUN_SECONDS=${RUN_SECONDS:-}

for b in "$DAEMON" "$CLI"; do
	[ -x "$b" ] || { echo "run: $b not built (run make first)" >&2; exit 1; }
done
if [ -n "$RUN_SECONDS" ] && ! [[ $RUN_SECONDS =~ ^[0-9]+$ ]]; then
	echo "run: RUN_SECONDS must be a number of seconds" >&2
	exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Find 2N consecutive free ports, starting at RUN_BASEPORT.
base=${RUN_BASEPORT:-17770}
for _ in $(seq 1 50); do
	ok=1
	for p in $(seq "$base" $((base + 2 * N - 1))); do
		if port_busy "$p"; then ok=0; break; fi
	done
	[ $ok = 1 ] && break
	base=$((base + 2 * N))
done
[ $ok = 1 ] || { echo "run: no free ports found" >&2; exit 1; }

p2p_port() { echo $((base + 2 * ($1 - 1))); }
rpc_port() { echo $((base + 2 * ($1 - 1) + 1)); }
datadir() { echo "$RUNDIR/node$1"; }
cli() { local i=$1; shift; "$CLI" "-datadir=$(datadir "$i")" "-rpcport=$(rpc_port "$i")" "$@"; }

pids=()
stopping=0
cleanup() {
	[ $stopping = 1 ] && return
	stopping=1
	trap - INT TERM
	echo
	echo "stopping the network..."
	for i in $(seq 1 $N); do
		pid=${pids[$((i - 1))]:-}
		[ -n "$pid" ] || continue
		cli "$i" stop >/dev/null 2>&1 || true
	done
	for i in $(seq 1 $N); do
		pid=${pids[$((i - 1))]:-}
		[ -n "$pid" ] || continue
		for _ in $(seq 1 100); do          # up to 10 s for a clean exit
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "node$i did not stop; killing pid $pid" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		echo "node$i stopped (exit status $rc)"
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$RUNDIR"
for i in $(seq 1 $N); do
	d=$(datadir "$i")
	mkdir -p "$d"
	args=("-datadir=$d" "-port=$(p2p_port "$i")" "-rpcport=$(rpc_port "$i")"
	      "-txpowbits=$TXPOWBITS" "-handle=node$i")
	for j in $(seq 1 $N); do
		[ "$j" = "$i" ] || args+=("-addnode=127.0.0.1:$(p2p_port "$j")")
	done
	# own session: Ctrl-C reaches this script only, which stops the nodes
	setsid "$DAEMON" "${args[@]}" >"$d/stdout.log" 2>&1 </dev/null &
	pids+=($!)
done

# Wait (bounded) for every node's RPC.
for i in $(seq 1 $N); do
	up=0
	for _ in $(seq 1 200); do          # up to 20 s
		if cli "$i" getinfo >/dev/null 2>&1; then up=1; break; fi
		if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ $up = 0 ]; then
		echo "run: node$i did not start; its output:" >&2
		tail -n 20 "$(datadir "$i")/stdout.log" "$(datadir "$i")/debug.log" >&2 2>/dev/null || true
		exit 1
	fi
done

# Wait (bounded) until each node sees both others.
for _ in $(seq 1 100); do                  # up to 10 s
	all=1
	for i in $(seq 1 $N); do
		c=$(cli "$i" getinfo | sed -n 's/^  "connections": \([0-9]*\).*/\1/p')
		[ "${c:-0}" -ge $((N - 1)) ] || all=0
	done
	[ $all = 1 ] && break
	sleep 0.1
done

echo "dexp2p: $N nodes on 127.0.0.1, txpowbits $TXPOWBITS, data under $RUNDIR"
echo
printf '%-6s %-6s %-6s %-68s %s\n' node p2p rpc pubkey datadir
for i in $(seq 1 $N); do
	pub=$(cli "$i" getinfo | sed -n 's/^  "pubkey": "\(.*\)",*/\1/p')
	printf '%-6s %-6s %-6s %-68s %s\n' "node$i" "$(p2p_port "$i")" "$(rpc_port "$i")" "$pub" "$(datadir "$i")"
done
pub2=$(cli 2 getinfo | sed -n 's/^  "pubkey": "\(.*\)",*/\1/p')
pub1=$(cli 1 getinfo | sed -n 's/^  "pubkey": "\(.*\)",*/\1/p')

C1="$CLI -datadir=$(datadir 1) -rpcport=$(rpc_port 1)"
C2="$CLI -datadir=$(datadir 2) -rpcport=$(rpc_port 2)"
C3="$CLI -datadir=$(datadir 3) -rpcport=$(rpc_port 3)"
cat <<EOF

Try, in another terminal:
  $C1 DEX_broadcast "hello world"
  $C2 DEX_list "" 0 demo
  $C3 DEX_orderbook 10 0 BTC KMD
  $C1 DEX_broadcast hello 0 inbox "" $pub2
  $C2 DEX_list "" 0 inbox
  $C3 DEX_stats
  $C1 getpeerinfo
  $C2 help

Sample packets:
EOF

# one line per packet: id, tags, priority and the start of the payload
show() {
	sed -n -e 's/^  "payload": "\(.\{32\}\).*",$/payload="\1..."/p' \
	       -e 's/^  "\(id\|tagA\|tagB\|payload\|priority\)": \(.*\),$/\1=\2/p' |
		paste -sd' ' -
}
echo "  node1: $(cli 1 DEX_broadcast "hello from node1" 0 demo | show)"
echo "  node2: $(cli 2 DEX_broadcast "hello from node2" 1 demo | show)"
echo "  node3: $(cli 3 DEX_broadcast cafebabe 0 demo | show)"
echo "  node1: $(cli 1 DEX_broadcast "ask 0.1 BTC for 100 KMD" 0 BTC KMD "$pub1" 0.1 100 | show)"
echo "  node1: $(cli 1 DEX_broadcast "for node2 only" 0 inbox "" "$pub2" | show)"
echo

field() { sed -n "s/^  \"$1\": \"*\([^\",]*\)\"*,*\$/\1/p"; }
if [ -n "$RUN_SECONDS" ]; then
	echo "live stats every 2 s for $RUN_SECONDS s"
else
	echo "live stats every 2 s; Ctrl-C stops the network"
fi
printf '%-8s %-8s %-8s %-6s %-8s %s\n' time node packets peers rate fingerprint
start=$SECONDS
while :; do
	for i in $(seq 1 $N); do
		s=$(cli "$i" DEX_stats 2>&1) || { echo "node$i: $s" >&2; exit 1; }
		printf '%-8s %-8s %-8s %-6s %-8s %s\n' "$(date +%T)" "node$i" \
			"$(echo "$s" | field ram)" "$(echo "$s" | field peers)" \
			"$(echo "$s" | field rate)" "$(echo "$s" | field fingerprint | cut -c1-16)"
	done
	if [ -n "$RUN_SECONDS" ] && [ $((SECONDS - start)) -ge "$RUN_SECONDS" ]; then
		break
	fi
	sleep 2
done
