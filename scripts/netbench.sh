#!/usr/bin/env bash
# netbench.sh - network benchmark (DESIGN.md 5): N local dexp2pd nodes in a
# pinned topology, load from tools/netbench against node 0, figures from
# DEX_stats / getpeerinfo / DEX_list polling.  Prints one line:
#
#   bench=network nodes=10 topology=ring3 packet_bytes=256 txpowbits=0
#   rate=2000 seconds=10 delivered_per_sec=.. missing=.. dup_ratio=..
#   control_ratio=.. latency_p50_ms=.. latency_p99_ms=..
#
# followed by a '# network detail' line (per-node CPU, settle time, latency
# resolution, ...).  Method and definitions: docs/bench.md.
#
# Usage: scripts/netbench.sh [build-dir]     (default $DEXP2P_BUILD or build)
# Environment (defaults):
#   NB_NODES=10       number of nodes (2..64)
#   NB_TOPOLOGY=ring3 ring (each node -connect's the next: degree 2), ring3
#                     (ring plus a chord to the opposite node: degree 3),
#                     line (a chain: worst case diameter), or random (a ring
#                     plus random chords until each node has NB_DEGREE
#                     links, seeded by NB_SEED)
#   NB_DEGREE=8       random: links a node at least (2..16)
#   NB_SEED=1         random: the graph
#   NB_RATE=2000      packets/s offered by the generator to node 0
#   NB_SECONDS=10     load duration (1..600)
#   NB_SETTLE=5       seconds allowed after the load before counting missing
#   NB_SAMPLE=100     1 packet in NB_SAMPLE is a latency sample (tagA nbs)
#   NB_POLL_MS=5      DEX_list polling period of the latency poller
#   NB_BASEPORT=28100 first port tried (node i: p2p base+2i, rpc base+2i+1)
#   NB_KEEP=0         1 keeps the temporary datadirs (debug.log of each node,
#                     poll.json with every latency sample)
#   NB_DAEMON_ARGS=   extra dexp2pd flags for every node (e.g. -debug=net)
#   NB_RATES=         "r1 r2 ...": one run per offered rate, then a plot of
#                     delivered/s and latency against it (gnuplot; NB_DATA,
#                     NB_PLOT: see "Sweep and plot" below)
# Everything runs on 127.0.0.1 with -txpowbits=0 (no mining cost).  Every
# wait is bounded; an EXIT trap stops every daemon this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-${DEXP2P_BUILD:-build}}
DAEMON=$BUILD/dexp2pd
GEN=$BUILD/tools/netbench
PY=/usr/bin/python3
N=${NB_NODES:-10}
TOPO=${NB_TOPOLOGY:-ring3}
RATE=${NB_RATE:-2000}
SECONDS_=${NB_SECONDS:-10}
SETTLE=${NB_SETTLE:-5}
SAMPLE=${NB_SAMPLE:-100}
POLL_MS=${NB_POLL_MS:-5}
KEEP=${NB_KEEP:-0}
TXPOWBITS=0

. scripts/benchlib.sh
bench_need netbench "$DAEMON" "$GEN"
bench_numbers netbench N RATE SECONDS_ SETTLE SAMPLE POLL_MS
[ "$N" -ge 2 ] && [ "$N" -le 64 ] || { echo "netbench: NB_NODES 2..64" >&2; exit 1; }
[ "$SECONDS_" -ge 1 ] && [ "$SECONDS_" -le 600 ] || { echo "netbench: NB_SECONDS 1..600" >&2; exit 1; }
case $TOPO in ring|ring3|line|random) ;; *) echo "netbench: NB_TOPOLOGY ring|ring3|line|random" >&2; exit 1;; esac
DEGREE=${NB_DEGREE:-8}
SEED=${NB_SEED:-1}
[[ $DEGREE =~ ^[0-9]+$ ]] && [ "$DEGREE" -ge 2 ] && [ "$DEGREE" -le 16 ] || { echo "netbench: NB_DEGREE 2..16" >&2; exit 1; }
[[ $SEED =~ ^[0-9]+$ ]] || { echo "netbench: NB_SEED must be a number" >&2; exit 1; }
# random: "i j" lines, node i dials node j (a ring, then random chords)
if [ "$TOPO" = random ]; then
	random_edges=$("$PY" - "$N" "$DEGREE" "$SEED" <<'PYEOF'
import random, sys
n, deg, seed = map(int, sys.argv[1:])
rng = random.Random(seed)
adj = {i: set() for i in range(n)}
out = []
def add(a, b):
    if a == b or b in adj[a] or len(adj[a]) >= 16 or len(adj[b]) >= 16:
        return
    adj[a].add(b); adj[b].add(a); out.append((a, b))
for i in range(n):
    add(i, (i + 1) % n)
for i in range(n):
    for _ in range(64):
        if len(adj[i]) >= deg:
            break
        add(i, rng.randrange(n))
for a, b in out:
    print(a, b)
PYEOF
)
fi

# Sweep and plot.  With NB_RATES="r1 r2 ..." the script runs itself once
# per offered rate (other settings as given), appends each run's offered
# rate, delivered/s, p50 and p99 latency and missing to NB_DATA (default
# $BUILD/netbench-sweep.dat) and, when gnuplot is installed, plots
# delivered/s and latency against the offered rate into NB_PLOT (default
# $BUILD/netbench.png; docs/img/netbench.png is the figure of
# docs/bench.md).  Without gnuplot the plot is skipped, the data kept.
netbench_plot() {   # data png
	if ! command -v gnuplot >/dev/null; then
		echo "# netbench: gnuplot not installed, plot skipped (data in $1)" >&2
		return 0
	fi
	mkdir -p "$(dirname "$2")"
	gnuplot <<GPEOF
set terminal pngcairo size 820,460 font "sans,10"
set output "$2"
set title "netbench: $(sed -n '1s/.*(\(.*\))$/\1/p' "$1"), 256 B packets, txpowbits 0" noenhanced
set xlabel "offered rate (packets/s)"
set ylabel "delivered to every node (packets/s)"
set y2label "latency to the farthest node (ms)"
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key left top
plot "$1" using 1:2 with linespoints pt 7 lw 2 title "delivered/s", \
     "" using 1:1 with lines dt 2 lc rgb "gray50" title "offered", \
     "" using 1:4 axes x1y2 with linespoints pt 5 lw 2 title "p99 latency", \
     "" using 1:3 axes x1y2 with linespoints pt 4 lw 1 title "p50 latency"
GPEOF
	echo "# netbench: plot written to $2" >&2
}
if [ "${NB_REPLOT:-0}" = 1 ]; then   # plot NB_DATA again, no run
	netbench_plot "${NB_DATA:-$BUILD/netbench-sweep.dat}" "${NB_PLOT:-$BUILD/netbench.png}"
	exit 0
fi
if [ -n "${NB_RATES:-}" ]; then
	data=${NB_DATA:-$BUILD/netbench-sweep.dat}
	plot=${NB_PLOT:-$BUILD/netbench.png}
	echo "# offered_per_sec delivered_per_sec latency_p50_ms latency_p99_ms missing (nodes=$N topology=$TOPO seconds=$SECONDS_)" >"$data"
	for r in $NB_RATES; do
		[[ $r =~ ^[0-9]+$ ]] || { echo "netbench: NB_RATES: $r is not a number" >&2; exit 1; }
		out=$(NB_RATES='' NB_RATE=$r scripts/netbench.sh "$BUILD")
		echo "$out"
		echo "$out" | awk -v r="$r" '/^bench=network/ {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print r, v["delivered_per_sec"], v["latency_p50_ms"], v["latency_p99_ms"], v["missing"] }' >>"$data"
	done
	netbench_plot "$data" "$plot"
	exit 0
fi

bench_tmp netbench
base=$(bench_ports "${NB_BASEPORT:-28100}" $((2 * N)) $((2 * N + 10)))

# Topology: node i makes outgoing connections (-connect) to these nodes.
targets() {
	local i=$1
	case $TOPO in
	line) [ "$i" -lt $((N - 1)) ] && echo $((i + 1)) ;;
	ring) echo $(((i + 1) % N)) ;;
	ring3)
		echo $(((i + 1) % N))
		if [ "$i" -lt $((N / 2)) ] && [ $((N / 2)) -gt 1 ]; then
			echo $((i + N / 2))
		fi ;;
	random) echo "$random_edges" | awk -v i="$i" '$1 == i { print $2 }' ;;
	esac
	return 0
}

edges=""
for i in $(seq 0 $((N - 1))); do
	args=(-port=$((base + 2 * i)) -rpcport=$((base + 2 * i + 1))
	      -rpcuser=nb -rpcpassword=nb -txpowbits="$TXPOWBITS" -listen=1)
	# shellcheck disable=SC2206  # word splitting of the extra flags intended
	args+=(${NB_DAEMON_ARGS:-})
	for t in $(targets "$i"); do
		args+=(-connect=127.0.0.1:$((base + 2 * t)))
		edges="$edges $i-$t"
	done
	bench_daemon "n$i" "${args[@]}"
done

# All measuring is done by the Python part below (one process for the
# snapshots, a child process for the latency poller).
cat >"$TMP/nb.py" <<'PYEOF'
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), 'scripts'))
import benchrpc  # noqa: E402

def now_ms():
    return time.time() * 1000.0

def Rpc(port):
    return benchrpc.Rpc(port, 'nb', 'nb', timeout=10)

cpu_s = benchrpc.cpu_s

def rss_mb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for l in f:
                if l.startswith('VmRSS:'):
                    return int(l.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0

def snapshot(rpcs, pids=None):
    out = []
    for k, r in enumerate(rpcs):
        s = r.call('DEX_stats')
        p = r.call('getpeerinfo')
        links = [x for x in p if not x.get('subver', '').startswith('/netbench')]
        out.append({'ram': s['ram'], 'fp': s['fingerprint'],
                    'received': s['received'], 'dup': s['duplicates'],
                    'added': s['added'], 'dropped': s['dropped'],
                    'peers': len(links),
                    'bsent': sum(x['bytessent'] for x in links),
                    'psent': sum(x['packetssent'] for x in links),
                    'rss': rss_mb(pids[k]) if pids else -1.0})
    return out

def pct(v, q):
    if not v:
        return -1.0
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]

def poller(port, poll_ms, outfile, stopfile, max_s):
    # Latency samples on one node: DEX_list on tagA nbs with stophash =
    # newest already seen.  A packet first listed by the call made in
    # [t_req, t_resp] was stored after the previous call's request time
    # t_prev: arrival in (t_prev, t_resp], estimate the midpoint.
    r = Rpc(port)
    last = ''
    t_prev = now_ms()
    res = []
    polls = 0
    t_end = time.time() + max_s
    while time.time() < t_end and not os.path.exists(stopfile):
        t_req = now_ms()
        try:
            m = r.call('DEX_list', '', 0, 'nbs', '', '', '', '', '', '', last)['matches']
        except Exception as e:
            print('netbench poller: %s' % e, file=sys.stderr)
            time.sleep(0.05)
            continue
        t_resp = now_ms()
        polls += 1
        if m:
            last = m[0]['hash']
            for p in m:
                txt = bytes.fromhex(p['payload']).decode() if p.get('hex') else p['payload']
                send_us = int(txt.split()[3])
                res.append((send_us / 1000.0, (t_prev + t_resp) / 2.0,
                            (t_resp - t_prev) / 2.0))
        t_prev = t_req
        d = poll_ms / 1000.0 - (now_ms() - t_req) / 1000.0
        if d > 0:
            time.sleep(d)
    json.dump({'samples': res, 'polls': polls}, open(outfile, 'w'))

def main_run(a):
    ports, pids = a['rpc_ports'], a['pids']
    rpcs = [Rpc(p) for p in ports]
    n = len(ports)
    deg = a['degree']
    # 1. every node up with its expected number of peers (bounded 30 s)
    t_end = time.time() + 30
    while True:
        try:
            cnt = [len(r.call('getpeerinfo')) for r in rpcs]
            if all(cnt[i] >= deg[i] for i in range(n)):
                break
        except Exception as e:
            cnt = str(e)
        if time.time() > t_end:
            sys.exit('netbench: topology not up after 30 s: %s (want %s)' % (cnt, deg))
        time.sleep(0.2)
    base = snapshot(rpcs, pids)
    cpu0 = [cpu_s(p) for p in pids]
    # 2. latency poller on the farthest node, then the generator on node 0
    stopfile = a['tmp'] + '/poll.stop'
    latfile = a['tmp'] + '/poll.json'
    pol = subprocess.Popen([sys.executable, a['tmp'] + '/nb.py', 'poll',
                            str(ports[a['far']]), str(a['poll_ms']), latfile,
                            stopfile, str(a['seconds'] + a['settle'] + 20)])
    time.sleep(0.3)
    gen = subprocess.Popen([a['gen'], '-connect=127.0.0.1:%d' % a['p2p0'],
                            '-rate=%d' % a['rate'], '-seconds=%d' % a['seconds'],
                            '-sample=%d' % a['sample'], '-txpowbits=0'],
                           stdout=subprocess.PIPE, text=True)
    line = gen.stdout.readline()      # printed the moment sending stops
    t_stop = now_ms()
    end = snapshot(rpcs, pids)
    cpu1 = [cpu_s(p) for p in pids]
    try:
        gen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gen.kill()
        gen.wait()
    if not line.startswith('netbench_gen') or gen.returncode != 0:
        pol.kill()
        sys.exit('netbench: generator failed (rc %s)' % gen.returncode)
    g = dict(kv.split('=', 1) for kv in line.split()[1:])
    sent = int(g['sent'])
    gsecs = float(g['seconds'])
    # 3. settle: until every node holds every packet, at most settle s
    all_ms = -1.0
    deadline = t_stop + a['settle'] * 1000.0
    while now_ms() < deadline:
        rams = [r.call('DEX_stats')['ram'] for r in rpcs]
        if min(rams) >= sent:
            all_ms = now_ms() - t_stop
            break
        time.sleep(0.05)
    # give the poller 300 ms more to see the last samples, then stop it
    time.sleep(0.3)
    open(stopfile, 'w').close()
    try:
        pol.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pol.kill()
        pol.wait()
    fin = snapshot(rpcs)
    # 4. figures
    missing = sum(max(0, sent - f['ram']) for f in fin)
    over = sum(max(0, f['ram'] - sent) for f in fin)
    fp_same = int(len(set(f['fp'] for f in fin)) == 1)
    delivered = min(e['ram'] for e in end)
    dps = delivered / gsecs
    added = sum(f['added'] - b['added'] for f, b in zip(fin, base))
    dups = sum(f['dup'] - b['dup'] for f, b in zip(fin, base))
    dup_ratio = dups / added if added else 0.0
    dbytes = sum(e['bsent'] - b['bsent'] for e, b in zip(end, base))
    dpk = sum(e['psent'] - b['psent'] for e, b in zip(end, base))
    pbytes = dpk * a['size']
    control = (dbytes - pbytes) / pbytes if pbytes else -1.0
    ndup = ','.join(str(f['dup'] - b['dup']) for f, b in zip(fin, base))
    dropped = {}
    for f in fin:
        for k, v in f['dropped'].items():
            dropped[k] = dropped.get(k, 0) + v
    lat = json.load(open(latfile)) if os.path.exists(latfile) else {'samples': [], 'polls': 0}
    samp = lat['samples']
    lats = [t - s for s, t, h in samp]
    res_ms = sum(h for s, t, h in samp) / len(samp) if samp else -1.0
    nsamp = int(g['samples'])
    cpu = [c1 - c0 for c0, c1 in zip(cpu0, cpu1)]
    print('bench=network nodes=%d topology=%s packet_bytes=%d txpowbits=0 '
          'rate=%d seconds=%d delivered_per_sec=%.0f missing=%d dup_ratio=%.4f '
          'control_ratio=%.4f latency_p50_ms=%.1f latency_p99_ms=%.1f'
          % (n, a['topo'], a['size'], a['rate'], a['seconds'], dps, missing,
             dup_ratio, control, pct(lats, 50), pct(lats, 99)))
    print('# network detail: sent=%d rate_actual=%s gen_max_behind=%s '
          'held_by_all_at_end=%d all_delivered_after_ms=%.0f settle_s=%d '
          'extra=%d fingerprints_equal=%d dropped=%s latency_node=%d '
          'latency_hops=%d latency_samples=%d/%d latency_max_ms=%.1f '
          'latency_resolution_ms=+-%.1f polls=%d packets_sent=%d '
          'link_bytes=%d '
          'dups_per_node=%s node_cpu_s_during_load=%s load_cpu_pct_of_2_cores=%.0f '
          'rss_idle_mb_avg=%.1f rss_idle_mb_max=%.1f rss_load_mb_avg=%.1f '
          'rss_load_mb_max=%.1f'
          % (sent, g['rate_actual'], g['max_behind'], delivered, all_ms,
             a['settle'], over, fp_same,
             ','.join('%s:%d' % kv for kv in dropped.items() if kv[1]) or 'none',
             a['far'], a['hops'], len(samp), nsamp,
             max(lats) if lats else -1.0, res_ms, lat['polls'], dpk, dbytes, ndup,
             ','.join('%.1f' % c for c in cpu),
             100.0 * sum(cpu) / (gsecs * 2),
             sum(b['rss'] for b in base) / n, max(b['rss'] for b in base),
             sum(e['rss'] for e in end) / n, max(e['rss'] for e in end)))
    bad = [f for f in fin if f['peers'] < 1]
    if bad:
        print('# network warning: a node lost its peers', file=sys.stderr)

if __name__ == '__main__':
    if sys.argv[1] == 'poll':
        poller(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5],
               float(sys.argv[6]))
    else:
        main_run(json.load(open(sys.argv[2])))
PYEOF

# Expected degree per node and the node farthest (in hops) from node 0.
cfg=$("$PY" - "$N" "$edges" <<'PYEOF'
import sys, json
n = int(sys.argv[1])
adj = {i: set() for i in range(n)}
for e in sys.argv[2].split():
    a, b = map(int, e.split('-'))
    adj[a].add(b); adj[b].add(a)
dist = {0: 0}; q = [0]
while q:
    u = q.pop(0)
    for v in sorted(adj[u]):
        if v not in dist:
            dist[v] = dist[u] + 1; q.append(v)
far = max(range(n), key=lambda i: (dist.get(i, -1), i))
print(json.dumps({'degree': [len(adj[i]) for i in range(n)], 'far': far,
                  'hops': dist.get(far, -1)}))
PYEOF
)

rpc_ports=$(seq -s, 1 2 $((2 * N - 1)) | awk -F, -v b="$base" '{for(i=1;i<=NF;i++) printf "%s%d", (i>1?",":""), b+$i}')
pid_list=$(IFS=,; echo "${pids[*]}")
cat >"$TMP/args.json" <<EOF
{"rpc_ports": [$rpc_ports], "pids": [$pid_list], "p2p0": $base,
 "gen": "$GEN", "tmp": "$TMP", "rate": $RATE, "seconds": $SECONDS_,
 "settle": $SETTLE, "sample": $SAMPLE, "poll_ms": $POLL_MS, "size": 256,
 "topo": "$TOPO", "degree": $(echo "$cfg" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["degree"])'),
 "far": $(echo "$cfg" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["far"])'),
 "hops": $(echo "$cfg" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["hops"])')}
EOF
"$PY" "$TMP/nb.py" run "$TMP/args.json"
