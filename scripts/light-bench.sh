#!/usr/bin/env bash
# light-bench.sh - a light node following one tag while the network carries
# load (docs/bench.md "Light node", docs/daemon.md "Light mode").
#
# Two full nodes F0, F1 (F1 dials F0), a light node L (-light=1 -listen=0,
# -connect to both).  tools/netbench sends LB_RATE packets/s of 256 B to F0
# for LB_SECONDS; 1 in LB_SAMPLE carries tagA "nbs" (the slice L follows:
# it polls DEX_list "" 0 nbs with the newest hash seen as stophash every
# LB_POLL_MS), the rest "nbx" (never asked).  Prints one line:
#
#   bench=light rate=.. seconds=.. sent=.. followed=.. seen_by_light=..
#   light_bytes_recv=.. light_bytes_per_followed_packet=..
#   full_bytes_recv=.. light_rss_kb_max=.. latency_p50_ms=.. latency_p99_ms=..
#
# light_bytes_recv: what L received from both full nodes during the run
# (getpeerinfo bytesrecv); full_bytes_recv: what F1 received from F0 in
# the same time (a full node takes the whole load).  Latency: from the
# packet's creation (the time in its payload, CLOCK_REALTIME) to its first
# listing by L's DEX_list: the midpoint of the poll interval, as
# netbench.sh (+- half the interval), and an upper bound (the end of the
# call that first listed it).
#
# Usage: scripts/light-bench.sh [build-dir]  (default $DEXP2P_BUILD or build)
# Environment: LB_RATE=2000 LB_SECONDS=5 LB_SAMPLE=100 LB_POLL_MS=20
#   LB_BASEPORT=28300 LB_KEEP=0.  Quick by default (make bench); the
#   issue's figure: LB_RATE=20000 LB_SECONDS=20.
# Everything on 127.0.0.1, -txpowbits=0; every wait bounded; an EXIT trap
# stops every daemon started here.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-${DEXP2P_BUILD:-build}}
DAEMON=$BUILD/dexp2pd
GEN=$BUILD/tools/netbench
PY=/usr/bin/python3
RATE=${LB_RATE:-2000}
SECONDS_=${LB_SECONDS:-5}
SAMPLE=${LB_SAMPLE:-100}
POLL_MS=${LB_POLL_MS:-20}
KEEP=${LB_KEEP:-0}

. scripts/benchlib.sh
bench_need light-bench "$DAEMON" "$GEN"
bench_numbers light-bench RATE SECONDS_ SAMPLE POLL_MS
[ "$SECONDS_" -ge 1 ] && [ "$SECONDS_" -le 600 ] || { echo "light-bench: LB_SECONDS 1..600" >&2; exit 1; }

bench_tmp lightbench
base=$(bench_ports "${LB_BASEPORT:-28300}" 6 16)

start() { # name p2p rpc args...
	local name=$1 p=$2 r=$3
	shift 3
	bench_daemon "$name" -port="$p" -rpcport="$r" -rpcuser=lb \
		-rpcpassword=lb -txpowbits=0 "$@"
}
start f0 "$base" $((base + 1)) -connect=127.0.0.1:1
start f1 $((base + 2)) $((base + 3)) -connect=127.0.0.1:"$base"
start light $((base + 4)) $((base + 5)) -light=1 -listen=0 \
	-connect=127.0.0.1:"$base" -connect=127.0.0.1:$((base + 2))
bench_wait_rpc f0 $((base + 1)) lb lb
bench_wait_rpc f1 $((base + 3)) lb lb
bench_wait_rpc light $((base + 5)) lb lb

cat >"$TMP/lb.py" <<'PYEOF'
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), 'scripts'))
import benchrpc  # noqa: E402

a = json.loads(sys.argv[1])
R = lambda p: benchrpc.Rpc(p, 'lb', 'lb', timeout=15)
f0, f1, lt = R(a['rpc'][0]), R(a['rpc'][1]), R(a['rpc'][2])

def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0

def bytes_recv(r, light=None):
    ps = r.call('getpeerinfo')
    if light is not None:
        ps = [p for p in ps if bool(p.get('light')) == light]
    return sum(p['bytesrecv'] for p in ps)

def pct(v, q):
    if not v:
        return -1.0
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))]

t_end = time.time() + 30
while True:
    try:
        if (len(lt.call('getpeerinfo')) >= 2 and
                len([p for p in f1.call('getpeerinfo') if not p.get('light')]) >= 1):
            break
    except Exception as e:  # noqa: BLE001
        pass
    if time.time() > t_end:
        sys.exit('light-bench: nodes not connected after 30 s')
    time.sleep(0.2)
lt.call('DEX_list', '', 0, 'nbs')           # L follows the slice from now
lb0, fb0 = bytes_recv(lt), bytes_recv(f1, light=False)
gen = subprocess.Popen([a['gen'], '-connect=127.0.0.1:%d' % a['p2p0'],
                        '-rate=%d' % a['rate'], '-seconds=%d' % a['seconds'],
                        '-sample=%d' % a['sample'], '-txpowbits=0'],
                       stdout=subprocess.PIPE, text=True)
last, seen, lats, ups, rss = '', {}, [], [], 0
t_prev = time.time() * 1000
t_stop = None
polls = 0
deadline = time.time() + a['seconds'] + 40
line = ''
while time.time() < deadline:
    t_req = time.time() * 1000
    m = lt.call('DEX_list', '', 0, 'nbs', '', '', '', '', '', '', last)['matches']
    t_resp = time.time() * 1000
    polls += 1
    rss = max(rss, rss_kb(a['lpid']))
    if m:
        last = m[0]['hash']
        for p in m:
            if p['hash'] in seen:
                continue
            txt = (bytes.fromhex(p['payload']).decode(errors='replace')
                   if p.get('hex') else p['payload'])
            send_ms = int(txt.split()[3]) / 1000.0
            seen[p['hash']] = 1
            lats.append((t_prev + t_resp) / 2.0 - send_ms)
            ups.append(t_resp - send_ms)
    t_prev = t_req
    if gen.poll() is not None and t_stop is None:
        t_stop = time.time()
        line = gen.stdout.read()
    if t_stop and time.time() - t_stop > 3:
        break
    d = a['poll_ms'] / 1000.0 - (time.time() * 1000 - t_req) / 1000.0
    if d > 0:
        time.sleep(d)
if not line.startswith('netbench_gen'):
    sys.exit('light-bench: generator failed: %r' % line)
g = dict(kv.split('=', 1) for kv in line.split()[1:])
sent, samples = int(g['sent']), int(g['samples'])
lb = bytes_recv(lt) - lb0
fb = bytes_recv(f1, light=False) - fb0
print('bench=light rate=%d seconds=%d sent=%d followed=%d seen_by_light=%d '
      'light_bytes_recv=%d light_bytes_per_followed_packet=%.0f '
      'full_bytes_recv=%d light_rss_kb_max=%d latency_p50_ms=%.1f '
      'latency_p99_ms=%.1f latency_upper_p50_ms=%.1f latency_upper_p99_ms=%.1f'
      % (a['rate'], a['seconds'], sent, samples, len(seen), lb,
         lb / max(1, len(seen)), fb, rss, pct(lats, 50), pct(lats, 99),
         pct(ups, 50), pct(ups, 99)))
print('# light detail: rate_actual=%s polls=%d poll_ms=%d light_ram=%d '
      'f0_ram=%d light_stats=%s'
      % (g['rate_actual'], polls, a['poll_ms'], lt.call('DEX_stats')['ram'],
         f0.call('DEX_stats')['ram'],
         json.dumps({k: v for k, v in lt.call('DEX_stats')['lightclient'].items()
                     if k != 'servers'})))
PYEOF

args=$(printf '{"rpc": [%d, %d, %d], "p2p0": %d, "gen": "%s", "rate": %d, "seconds": %d, "sample": %d, "poll_ms": %d, "lpid": %d}' \
	$((base + 1)) $((base + 3)) $((base + 5)) "$base" "$GEN" "$RATE" "$SECONDS_" \
	"$SAMPLE" "$POLL_MS" "${pids[2]}")
"$PY" "$TMP/lb.py" "$args"
