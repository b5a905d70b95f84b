#!/usr/bin/env bash
# catchup-bench.sh - catch-up benchmark (DESIGN.md 5: "restarted node holding
# 1M packets, 1,000 missing: time to identical <= 3 s").  Prints:
#
#   bench=catchup held=N missing=M packet_bytes=256 txpowbits=0
#     seconds_to_identical=.. bytes_transferred=..
#   # catchup detail: ...
#   bench=catchup_full held=N packet_bytes=256 txpowbits=0
#     seconds_to_identical=.. bytes_transferred=..      (CU_FULL=1)
#   # catchup_full detail: ...
#
# Model (packets are held in RAM only, so a restarted daemon holds nothing;
# "holding 1M, 1,000 missing" is a node that was cut off while the others
# went on):  node A (-connect to a dead port: it never dials out) and node B
# (no -connect; it reaches A only through `addnode A add`).  The generator
# tools/netbench loads N packets into A, which pushes them to B, until both
# hold the same N.  Then B runs `addnode A remove` (link cut, checked on both
# sides), A creates M packets (DEX_broadcast, 256-byte packets), the script
# waits CU_GAP s so they are older than the 2 s in-flight window that
# reconciliation skips (PROTOCOL.md 5.3), and B runs `addnode A add`.
# seconds_to_identical runs from the moment B lists A as a handshaken peer
# (getpeerinfo) to the first poll where the DEX_stats fingerprint and ram of
# A and B are equal; bytes_transferred is bytessent + bytesrecv of that new
# connection at that moment (B's getpeerinfo).  The "full" case is the late
# joiner: a third node C, started empty, runs `addnode A add`.
#
# Usage: scripts/catchup-bench.sh [build-dir]   (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   CU_HELD=200000   packets loaded before the cut (DESIGN.md figure: 1000000)
#   CU_MISSING=1000  packets B misses
#   CU_RATE=50000    generator rate while loading (packets/s)
#   CU_GAP=3         seconds between the last missing packet and the reconnect
#   CU_POLL_MS=20    DEX_stats polling period while waiting for identical
#   CU_FULL=1        also measure the late joiner (catchup_full)
#   CU_BASEPORT=28300 first port tried (7 consecutive ports)
#   CU_KEEP=0        1 keeps the datadirs (debug.log of each node)
#   CU_DEBUG=0       1 starts the nodes with -debug=net
#   CU_COMMIT        commit id printed in the detail lines (default: HEAD)
#   CU_SWEEP=        "m1 m2 ...": one run per CU_MISSING, then a plot of the
#                    catch-up time against it (gnuplot; CU_DATA, CU_PLOT:
#                    see "Sweep and plot" below)
#   CU_PEERS=0       1..3: instead of the two cases above, a late joiner with
#                    that many full peers (catchup_joiner, below)
#   CU_LINK=         with CU_PEERS: a tc rate (e.g. 4mbit): the joiner runs in
#                    a network namespace of its own behind a veth pair whose
#                    side toward it is shaped by tbf (root; created and
#                    removed by this script); empty: everything on 127.0.0.1
# Everything runs on 127.0.0.1 (or that namespace pair) with -txpowbits=0.
# Every wait is bounded; an EXIT trap stops every daemon this script started
# (and removes the namespace).
#
# catchup_joiner (CU_PEERS=k): nodes A, B, D (B and D linked to A) get
# CU_HELD packets (generator into A) until the three are identical; then an
# empty node C runs `addnode` to k of them at once.  Prints
#   bench=catchup_joiner held=N peers=k link=RATE seconds_to_identical=..
#     copies_per_packet=.. bytes_recv=.. one_copy_s=.. time_ratio=..
# seconds_to_identical from the addnode calls to C identical to A;
# copies_per_packet = packets C received from its peers / N (getpeerinfo
# packetsrecv); one_copy_s = N x 256 B at the link rate (payload only).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-${DEXP2P_BUILD:-build}}
DAEMON=$BUILD/dexp2pd
GEN=$BUILD/tools/netbench
PY=/usr/bin/python3
HELD=${CU_HELD:-200000}
MISSING=${CU_MISSING:-1000}
RATE=${CU_RATE:-50000}
GAP=${CU_GAP:-3}
POLL_MS=${CU_POLL_MS:-20}
FULL=${CU_FULL:-1}
KEEP=${CU_KEEP:-0}
DEBUG=${CU_DEBUG:-0}

. scripts/benchlib.sh
bench_need catchup "$DAEMON" "$GEN"
bench_numbers catchup HELD MISSING RATE GAP POLL_MS FULL
[ "$HELD" -ge 1 ] && [ "$HELD" -le 4000000 ] || { echo "catchup: CU_HELD 1..4000000" >&2; exit 1; }
[ "$MISSING" -ge 1 ] && [ "$MISSING" -le 100000 ] || { echo "catchup: CU_MISSING 1..100000" >&2; exit 1; }
[ "$RATE" -ge 100 ] && [ "$RATE" -le 1000000 ] || { echo "catchup: CU_RATE 100..1000000" >&2; exit 1; }
[ $(( (HELD + RATE - 1) / RATE )) -le 600 ] || { echo "catchup: CU_HELD/CU_RATE > 600 s" >&2; exit 1; }
[ "$GAP" -le 60 ] && [ "$POLL_MS" -ge 1 ] && [ "$POLL_MS" -le 1000 ] || { echo "catchup: CU_GAP <= 60, CU_POLL_MS 1..1000" >&2; exit 1; }
PEERS=${CU_PEERS:-0}
LINK=${CU_LINK:-}
[[ $PEERS =~ ^[0-3]$ ]] || { echo "catchup: CU_PEERS 0..3" >&2; exit 1; }
[ -z "$LINK" ] || [[ $LINK =~ ^[0-9]+(kbit|mbit)$ ]] || { echo "catchup: CU_LINK like 4mbit or 512kbit" >&2; exit 1; }
[ -z "$LINK" ] || [ "$PEERS" -gt 0 ] || { echo "catchup: CU_LINK needs CU_PEERS" >&2; exit 1; }

# Sweep and plot.  With CU_SWEEP="m1 m2 ..." the script runs itself once
# per backlog size (CU_MISSING=m, CU_FULL=0, other settings as given),
# appends missing, seconds_to_identical and bytes_transferred to CU_DATA
# (default $BUILD/catchup-sweep.dat) and, when gnuplot is installed, plots
# the catch-up time against the backlog into CU_PLOT (default
# $BUILD/catchup.png; docs/img/catchup.png is the figure of docs/bench.md).
# Without gnuplot the plot is skipped, the data kept.
catchup_plot() {   # data png
	if ! command -v gnuplot >/dev/null; then
		echo "# catchup: gnuplot not installed, plot skipped (data in $1)" >&2
		return 0
	fi
	mkdir -p "$(dirname "$2")"
	gnuplot <<GPEOF
set terminal pngcairo size 820,460 font "sans,10"
set output "$2"
set title "catch-up after a cut: $(sed -n '1s/.*(\(.*\))$/\1/p' "$1"), 256 B, txpowbits 0" noenhanced
set xlabel "packets missed during the cut (backlog)"
set ylabel "seconds to identical"
set y2label "bytes transferred (MB)"
set logscale x
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key left top
plot "$1" using 1:2 with linespoints pt 7 lw 2 title "time to identical", \
     "" using 1:(\$3/1e6) axes x1y2 with linespoints pt 5 lw 1 title "bytes transferred"
GPEOF
	echo "# catchup: plot written to $2" >&2
}
if [ "${CU_REPLOT:-0}" = 1 ]; then   # plot CU_DATA again, no run
	catchup_plot "${CU_DATA:-$BUILD/catchup-sweep.dat}" "${CU_PLOT:-$BUILD/catchup.png}"
	exit 0
fi
if [ -n "${CU_SWEEP:-}" ]; then
	data=${CU_DATA:-$BUILD/catchup-sweep.dat}
	plot=${CU_PLOT:-$BUILD/catchup.png}
	echo "# missing seconds_to_identical bytes_transferred (held=$HELD gap=$GAP poll_ms=$POLL_MS)" >"$data"
	for m in $CU_SWEEP; do
		[[ $m =~ ^[0-9]+$ ]] || { echo "catchup: CU_SWEEP: $m is not a number" >&2; exit 1; }
		out=$(CU_SWEEP='' CU_MISSING=$m CU_FULL=0 scripts/catchup-bench.sh "$BUILD")
		echo "$out"
		echo "$out" | awk '/^bench=catchup / {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print v["missing"], v["seconds_to_identical"], v["bytes_transferred"] }' >>"$data"
	done
	catchup_plot "$data" "$plot"
	exit 0
fi

bench_tmp catchup
base=$(bench_ports "${CU_BASEPORT:-28300}" 9 17)
# node A: p2p base, rpc base+1; B: base+2/3; C: base+4/5; D: base+6/7;
# base+8 stays closed
dead=$((base + 8))
dbg=()
[ "$DEBUG" = 1 ] && dbg=(-debug=net)
NS='' HOST_SRC=127.0.0.1 HOST_C=127.0.0.1
cu_cleanup() {
	bench_cleanup
	[ -z "$NS" ] || ip netns del "$NS" 2>/dev/null || true
}
if [ -n "$LINK" ]; then
	# the joiner's namespace: veth cuh<pid> (here) - cuj<pid> (there), a /30
	# of 10.213/16, tbf on our side (what the joiner receives)
	NS=cu$$ sub=$(( $$ % 16384 ))
	HOST_SRC=10.213.$((sub / 64)).$(( (sub % 64) * 4 + 1 ))
	HOST_C=10.213.$((sub / 64)).$(( (sub % 64) * 4 + 2 ))
	trap cu_cleanup EXIT
	ip netns add "$NS"
	ip link add "cuh$$" type veth peer name "cuj$$" netns "$NS"
	ip addr add "$HOST_SRC/30" dev "cuh$$"
	ip link set "cuh$$" up
	ip -n "$NS" addr add "$HOST_C/30" dev "cuj$$"
	ip -n "$NS" link set "cuj$$" up
	ip -n "$NS" link set lo up
	tc qdisc add dev "cuh$$" root tbf rate "$LINK" burst 32kb latency 400ms
fi
start_node() {   # name p2p rpc extra-args...
	local name=$1 p2p=$2 rpc=$3
	shift 3
	BENCH_WRAP=()
	[ "$name" = c ] && [ -n "$NS" ] &&
		BENCH_WRAP=(ip netns exec "$NS") &&
		set -- "$@" -rpcbind="$HOST_C" -rpcallowip="$HOST_SRC/32"
	bench_daemon "$name" -port="$p2p" -rpcport="$rpc" \
		-rpcuser=cu -rpcpassword=cu -txpowbits=0 -dexp2p=2 "${dbg[@]}" "$@"
}
start_node a "$base" $((base + 1)) -listen=1 -connect=127.0.0.1:$dead
pid_d=0
if [ "$PEERS" -gt 0 ]; then
	# the joiner's full peers listen (and, like C, dial only what
	# addnode gives them); the others do not, or C would find them by
	# address exchange
	start_node b $((base + 2)) $((base + 3)) -listen=$(( PEERS >= 2 ))
	start_node d $((base + 6)) $((base + 7)) -listen=$(( PEERS >= 3 ))
	start_node c $((base + 4)) $((base + 5)) -listen=0
	pid_b=${pids[1]} pid_d=${pids[2]} pid_c=${pids[3]}
else
	start_node b $((base + 2)) $((base + 3)) -listen=0
	pid_b=${pids[1]} pid_c=0
	if [ "$FULL" = 1 ]; then
		start_node c $((base + 4)) $((base + 5)) -listen=0
		pid_c=${pids[2]}
	fi
fi
pid_a=${pids[0]}

cat >"$TMP/cu.py" <<'PYEOF'
import json, math, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), 'scripts'))
import benchrpc  # noqa: E402

def mono():
    return time.monotonic()

def Rpc(port, host='127.0.0.1'):
    return benchrpc.Rpc(port, 'cu', 'cu', timeout=30, host=host)

def payload_hex(kind, i, n):
    # n plaintext bytes (a 256-byte packet with tagA cux), unique per run
    t = ('%s %d %d %d ' % (kind, os.getpid(), int(time.time()), i)).encode()
    return (t + b'.' * (n - len(t))).hex()

def die(msg):
    sys.exit('catchup: ' + msg)

def wait_for(what, secs, fn, period=0.05):
    t_end = mono() + secs
    while True:
        v = fn()
        if v:
            return v
        if mono() > t_end:
            die('%s: not within %d s' % (what, secs))
        time.sleep(period)

def node_peers(r):
    # handshaken dexp2p nodes (the generator's link excluded)
    return [p for p in r.call('getpeerinfo')
            if not p.get('subver', '').startswith('/netbench')]

cpu_s = benchrpc.cpu_s

def rss_mb(pid):
    try:
        for l in open('/proc/%d/status' % pid):
            if l.startswith('VmRSS:'):
                return int(l.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0

def stats(r):
    s = r.call('DEX_stats')
    return s['ram'], s['fingerprint']

def measure_sync(joiner, src, src_addr, poll_ms, bound_s, pids):
    # addnode on the joiner, then poll until the link is up and until both
    # DEX_stats agree.  Returns a dict of timings (seconds) and bytes.
    cpu0 = [cpu_s(p) for p in pids]
    t_add = mono()
    joiner.call('addnode', src_addr, 'add')
    t_link = None
    t_end = t_add + bound_s
    polls = 0
    ram_j = ram_s = 0
    progress = []          # (t since link, joiner ram) about every second
    while True:
        t = mono()
        if t > t_end:
            die('not identical within %d s (joiner ram %d, source ram %d)'
                % (bound_s, ram_j, ram_s))
        if t_link is None:
            if node_peers(joiner):
                t_link = mono()
                progress.append((0.0, stats(joiner)[0]))
        else:
            ram_j, fp_j = stats(joiner)
            ram_s, fp_s = stats(src)
            polls += 1
            if fp_j == fp_s and ram_j == ram_s:
                t_same = mono()
                break
            if mono() - t_link >= len(progress):
                progress.append((mono() - t_link, ram_j))
        d = poll_ms / 1000.0 - (mono() - t)
        if d > 0:
            time.sleep(d)
    cpu1 = [cpu_s(p) for p in pids]
    peer = node_peers(joiner)
    if len(peer) != 1:
        die('joiner has %d peers, want 1' % len(peer))
    p = peer[0]
    return {'link_s': t_link - t_add, 'identical_s': t_same - t_link,
            'from_addnode_s': t_same - t_add, 'polls': polls,
            'bytes': p['bytessent'] + p['bytesrecv'],
            'bytessent': p['bytessent'], 'bytesrecv': p['bytesrecv'],
            'packetsrecv': p.get('packetsrecv', -1),
            'ram': ram_j, 'progress': progress,
            'cpu': [c1 - c0 for c0, c1 in zip(cpu0, cpu1)]}

def main(a):
    A, B = Rpc(a['rpc'][0]), Rpc(a['rpc'][1])
    C = Rpc(a['rpc'][2]) if a['full'] else None
    addr_a = '127.0.0.1:%d' % a['p2p_a']
    poll_ms = a['poll_ms']
    def up():
        try:
            for r in [A, B] + ([C] if C else []):
                r.call('getinfo')
            return True
        except Exception:
            return False
    wait_for('nodes answering RPC', 30, up, 0.1)
    # 1. link B -> A, load N packets into A; A pushes them to B
    B.call('addnode', addr_a, 'add')
    wait_for('link B-A', 30, lambda: node_peers(B) and node_peers(A))
    t_load = mono()
    held, a['topup'], rate = load_into_a(a, A, [B], addr_a)
    load_s = mono() - t_load
    # 2. cut the link, create M packets on A, wait out the in-flight window
    B.call('addnode', addr_a, 'remove')
    wait_for('link cut', 30, lambda: not node_peers(B) and not node_peers(A))
    pay = a['payload_len']
    t_miss = mono()
    for i in range(a['missing']):
        A.call('DEX_broadcast', payload_hex('cum', i, pay), 0, 'cux')
    miss_s = mono() - t_miss
    ram_a = stats(A)[0]
    ram_b = stats(B)[0]
    if ram_b != held or ram_a != held + a['missing']:
        die('after the cut: A holds %d, B %d (want %d and %d)'
            % (ram_a, ram_b, held + a['missing'], held))
    time.sleep(a['gap'])
    if node_peers(B) or node_peers(A):
        die('B and A reconnected by themselves during the gap')
    # 3. reconnect and measure
    m = measure_sync(B, A, addr_a, poll_ms, 60 + held // 5000,
                     [a['pid'][0], a['pid'][1]])
    print('bench=catchup held=%d missing=%d packet_bytes=256 txpowbits=0 '
          'seconds_to_identical=%.3f bytes_transferred=%d'
          % (held, ram_a - ram_b, m['identical_s'], m['bytes']), flush=True)
    print('# catchup detail: link_after_addnode_s=%.3f from_addnode_s=%.3f '
          'poll_ms=%d polls=%d b_sent=%d b_recv=%d packets_recv=%d '
          'bytes_per_missing=%.0f gap_s=%d cpu_s_a_b=%s load_rate=%d '
          'load_s=%.1f load_topup=%d missing_created_s=%.2f rss_mb_a_b=%.0f,%.0f '
          'commit=%s'
          % (m['link_s'], m['from_addnode_s'], poll_ms, m['polls'],
             m['bytessent'], m['bytesrecv'], m['packetsrecv'],
             m['bytes'] / float(a['missing']), a['gap'],
             ','.join('%.2f' % c for c in m['cpu']), rate, load_s, a['topup'], miss_s,
             rss_mb(a['pid'][0]), rss_mb(a['pid'][1]), a['commit']),
          flush=True)
    if not C:
        return
    # 4. late joiner: C, empty, connects to A (which holds held + M)
    held_a = stats(A)[0]
    m = measure_sync(C, A, addr_a, poll_ms, 120 + held_a // 2000,
                     [a['pid'][0], a['pid'][2]])
    prog = ' '.join('%.1f:%d' % pr for pr in m['progress'][:8])
    if len(m['progress']) > 8:
        prog += ' ..%d more' % (len(m['progress']) - 8)
    print('bench=catchup_full held=%d packet_bytes=256 txpowbits=0 '
          'seconds_to_identical=%.3f bytes_transferred=%d'
          % (held_a, m['identical_s'], m['bytes']), flush=True)
    print('# catchup_full detail: packets_per_sec=%.0f overhead_ratio=%.4f '
          'link_after_addnode_s=%.3f polls=%d c_sent=%d c_recv=%d '
          'cpu_s_a_c=%s progress_s_ram=[%s] commit=%s'
          % (held_a / m['identical_s'] if m['identical_s'] > 0 else -1,
             (m['bytes'] - 256.0 * held_a) / (256.0 * held_a),
             m['link_s'], m['polls'], m['bytessent'], m['bytesrecv'],
             ','.join('%.2f' % c for c in m['cpu']), prog, a['commit']),
          flush=True)

def load_into_a(a, A, others, addr_a):
    # N packets into A through the generator (A pushes them on), topped
    # up with DEX_broadcast (same size) where the generator, which paces
    # by the ms, fell a few short; returns (held, topped up, rate) when A
    # and every other node hold the same
    secs = max(1, int(math.ceil(a['held'] / float(a['rate']))))
    rate = int(math.ceil(a['held'] / float(secs)))
    g = subprocess.run([a['gen'], '-connect=%s' % addr_a, '-rate=%d' % rate,
                        '-seconds=%d' % secs, '-sample=1000000', '-txpowbits=0'],
                       stdout=subprocess.PIPE, text=True, timeout=secs + 60)
    if g.returncode != 0 or not g.stdout.startswith('netbench_gen'):
        die('generator failed (rc %d)' % g.returncode)
    gen = dict(kv.split('=', 1) for kv in g.stdout.split()[1:])
    sent = int(gen['sent'])
    topup = max(0, a['held'] - sent)
    for i in range(topup):
        A.call('DEX_broadcast', payload_hex('cut', i, a['payload_len']), 0, 'cux')
    sent += topup
    def loaded():
        ra, fa = stats(A)
        return ra >= sent and all(stats(o) == (ra, fa) for o in others) and ra
    held = wait_for('nodes identical after the load', 60 + sent // 5000,
                    loaded, 0.1)
    return held, topup, rate

def joiner(a):
    srcs = [Rpc(p) for p in a['rpc_src']]          # A, B, D
    C = Rpc(a['rpc'][2], a['host_c'])
    A = srcs[0]
    addrs = ['%s:%d' % (a['host_src'], p) for p in a['p2p_src']]
    def up():
        try:
            for r in srcs + [C]:
                r.call('getinfo')
            return True
        except Exception:
            return False
    wait_for('nodes answering RPC', 30, up, 0.1)
    for r in srcs[1:]:
        r.call('addnode', '127.0.0.1:%d' % a['p2p_src'][0], 'add')
    wait_for('B and D linked to A', 30,
             lambda: len(node_peers(A)) == 2 and
             all(node_peers(r) for r in srcs[1:]))
    held = load_into_a(a, A, srcs[1:], '127.0.0.1:%d' % a['p2p_src'][0])[0]
    k = a['peers']
    fp_a = stats(A)
    cpu0 = [cpu_s(p) for p in a['pid_src'][:k] + [a['pid'][2]]]
    t_add = mono()
    for addr in addrs[:k]:
        C.call('addnode', addr, 'add')
    t_end = t_add + 120 + held // 500
    progress = []
    while True:
        if mono() > t_end:
            die('joiner not identical within %d s (ram %d of %d)'
                % (t_end - t_add, stats(C)[0], held))
        s = stats(C)
        if s == fp_a:
            t_same = mono()
            break
        if mono() - t_add >= len(progress):
            progress.append((mono() - t_add, s[0]))
        time.sleep(a['poll_ms'] / 1000.0)
    cpu1 = [cpu_s(p) for p in a['pid_src'][:k] + [a['pid'][2]]]
    peers = node_peers(C)
    if len(peers) != k:
        die('joiner has %d peers, want %d' % (len(peers), k))
    recv = sum(p.get('packetsrecv', 0) for p in peers)
    brecv = sum(p['bytesrecv'] for p in peers)
    t = t_same - t_add
    link = a['link'] or 'none'
    one = -1.0
    if a['link']:
        v = int(a['link'][:-4]) * (1000 if a['link'].endswith('kbit') else 1000000)
        one = held * 256 * 8.0 / v
    print('bench=catchup_joiner held=%d peers=%d link=%s packet_bytes=256 '
          'txpowbits=0 seconds_to_identical=%.3f copies_per_packet=%.4f '
          'bytes_recv=%d one_copy_s=%.1f time_ratio=%.3f'
          % (held, k, link, t, recv / float(held), brecv, one,
             t / one if one > 0 else -1.0), flush=True)
    prog = ' '.join('%.1f:%d' % pr for pr in progress[:8])
    if len(progress) > 8:
        prog += ' ..%d more' % (len(progress) - 8)
    print('# catchup_joiner detail: per_peer_packets=%s per_peer_bytes=%s '
          'cpu_s_srcs_c=%s progress_s_ram=[%s] commit=%s'
          % (','.join(str(p.get('packetsrecv', 0)) for p in peers),
             ','.join(str(p['bytesrecv']) for p in peers),
             ','.join('%.2f' % (c1 - c0) for c0, c1 in zip(cpu0, cpu1)),
             prog, a['commit']), flush=True)

if __name__ == '__main__':
    args = json.load(open(sys.argv[1]))
    if args.get('peers'):
        joiner(args)
    else:
        main(args)
PYEOF

# Which code is measured: CU_COMMIT if given (e.g. a build of a clean
# `git archive`), else HEAD, marked +dirty when src/ has uncommitted changes
# and +stale when a file under src/ is newer than the daemon binary.
if [ -n "${CU_COMMIT:-}" ]; then
	commit=$CU_COMMIT
else
	if commit=$(git rev-parse --short HEAD 2>/dev/null); then
		git diff --quiet HEAD -- src 2>/dev/null || commit="$commit+dirty"
	else
		commit=unknown   # not a git checkout (e.g. git archive): set CU_COMMIT
	fi
	[ -z "$(find src -newer "$DAEMON" -print -quit 2>/dev/null)" ] || commit="$commit+stale"
fi
cat >"$TMP/args.json" <<EOF
{"rpc": [$((base + 1)), $((base + 3)), $((base + 5))], "p2p_a": $base,
 "pid": [$pid_a, $pid_b, $pid_c], "full": $FULL, "gen": "$GEN",
 "peers": $PEERS, "link": "$LINK", "host_src": "$HOST_SRC", "host_c": "$HOST_C",
 "rpc_src": [$((base + 1)), $((base + 3)), $((base + 7))],
 "p2p_src": [$base, $((base + 2)), $((base + 6))],
 "pid_src": [$pid_a, $pid_b, $pid_d],
 "held": $HELD, "missing": $MISSING, "rate": $RATE, "gap": $GAP,
 "poll_ms": $POLL_MS, "payload_len": $((256 - 29 - 3)), "commit": "$commit"}
EOF
"$PY" "$TMP/cu.py" "$TMP/args.json"
