#!/usr/bin/python3
"""proxybench.py - real dexp2pd nodes on 127.0.0.1 whose every link runs
through a proxy that delays it by a fixed one-way latency (docs/bench.md
"proxy").  Run by scripts/proxy-bench.sh; standard library only.

N daemons on a random graph (a ring plus random chords up to PB_DEGREE
links a node, seeded), each link one TCP connection from its dialer
(-connect, so no node learns or dials other addresses) to a proxy port;
the proxy (asyncio, this process) forwards both directions to the other
node, each chunk after the link's delay (uniform PB_DELAY_LO..HI ms, fixed
per link, the same both ways), in order.  A load thread calls DEX_broadcast
at random nodes, PB_RATE a second for PB_SECONDS, payload "pxb <seq> ..."
(256-byte packets, tagA pxb).

Delivery times are exact, not polled: the proxy sees the packet's bytes
(frames are plaintext) and stamps the moment it writes them to a node's
socket; the first such moment per (packet, node), minus the moment the
DEX_broadcast call started, is that node's delivery time.  Each delivery is
divided by the shortest-path time from the creator to that node (Dijkstra
over the link delays: what no protocol can beat).  Missing: (packet, node)
pairs never delivered, checked against every node's DEX_stats ram.

Prints one line:
  bench=proxy nodes degree links delay_ms rate seconds packet_bytes sent
  deliveries missing delivery_p50_ms delivery_p99_ms delivery_max_ms
  ratio_p50 ratio_p99 ratio_max bound_p50_ms bound_p99_ms
"""

import asyncio
import heapq
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchrpc  # noqa: E402

MARK = re.compile(rb"pxb (\d+) ")
PAYLOAD_LEN = 256 - 29 - 3          # a 256-byte packet with tagA pxb


def env_int(name, default, lo, hi):
    v = os.environ.get(name, str(default))
    if not v.isdigit() or not lo <= int(v) <= hi:
        sys.exit("proxybench: %s must be %d..%d" % (name, lo, hi))
    return int(v)


def pct(v, q):
    if not v:
        return -1.0
    v = sorted(v)
    k = max(0, min(len(v) - 1, -(-len(v) * q // 100) - 1))
    return v[int(k)]


def graph(n, degree, lo, hi, rng):
    """Edges {(a, b): delay_ms}, a the dialer: a ring plus random chords."""
    adj = {i: set() for i in range(n)}
    edges = {}

    def add(a, b):
        if a == b or b in adj[a] or len(adj[a]) >= 16 or len(adj[b]) >= 16:
            return
        adj[a].add(b)
        adj[b].add(a)
        edges[(a, b)] = rng.randint(lo, hi)
    for i in range(n):
        add(i, (i + 1) % n)
    for i in range(n):
        for _ in range(64):
            if len(adj[i]) >= degree:
                break
            add(i, rng.randrange(n))
    return edges


def dijkstra(n, edges, src):
    nb = {i: [] for i in range(n)}
    for (a, b), d in edges.items():
        nb[a].append((b, d))
        nb[b].append((a, d))
    dist = [None] * n
    h = [(0, src)]
    while h:
        d, u = heapq.heappop(h)
        if dist[u] is not None:
            continue
        dist[u] = d
        for v, w in nb[u]:
            if dist[v] is None:
                heapq.heappush(h, (d + w, v))
    return dist


class Proxy:
    """All links' proxies; arrivals[(seq, node)] = first write time."""

    def __init__(self):
        self.arrivals = {}
        self.bytes = 0

    def seen(self, data, tail, node, t):
        buf = tail + data
        for m in MARK.finditer(buf):
            k = (int(m.group(1)), node)
            if k not in self.arrivals:
                self.arrivals[k] = t
        return buf[-40:]

    async def pipe(self, reader, writer, delay_s, node):
        """reader -> writer, each chunk delay_s later, in order."""
        loop = asyncio.get_running_loop()
        q = asyncio.Queue()

        async def out():
            tail = b""
            while True:
                due, data = await q.get()
                if data is None:
                    break
                d = due - loop.time()
                if d > 0:
                    await asyncio.sleep(d)
                tail = self.seen(data, tail, node, time.monotonic())
                writer.write(data)
                self.bytes += len(data)
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
            writer.close()
        task = asyncio.ensure_future(out())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                q.put_nowait((loop.time() + delay_s, data))
        except (ConnectionError, OSError):
            pass
        q.put_nowait((loop.time() + delay_s, None))
        await task

    async def serve(self, listen_port, target_port, delay_ms, a, b):
        async def handle(cr, cw):
            try:
                ur, uw = await asyncio.open_connection("127.0.0.1",
                                                       target_port)
            except OSError:
                cw.close()
                return
            d = delay_ms / 1000.0
            # dialer a -> b arrives at b; b -> a at a
            await asyncio.gather(self.pipe(cr, uw, d, b),
                                 self.pipe(ur, cw, d, a),
                                 return_exceptions=True)
        return await asyncio.start_server(handle, "127.0.0.1", listen_port)


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    t_end = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(max(0.1, t_end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    a = json.load(open(sys.argv[1]))
    n, base = a["nodes"], a["base"]
    rng = random.Random(a["seed"])
    edges = graph(n, a["degree"], a["delay_lo"], a["delay_hi"], rng)
    p2p = [base + 3 * i for i in range(n)]
    rpcp = [base + 3 * i + 1 for i in range(n)]
    pport = {}
    k = 0
    for e in sorted(edges):
        pport[e] = base + 3 * n + k
        k += 1
    prox = Proxy()
    loop = asyncio.new_event_loop()
    servers = [loop.run_until_complete(
        prox.serve(pport[e], p2p[e[1]], edges[e], e[0], e[1]))
        for e in sorted(edges)]
    procs = []
    for i in range(n):
        dd = os.path.join(a["tmp"], "n%d" % i)
        os.makedirs(dd, exist_ok=True)
        args = [a["daemon"], "-datadir=" + dd, "-port=%d" % p2p[i],
                "-rpcport=%d" % rpcp[i], "-rpcuser=pb", "-rpcpassword=pb",
                "-txpowbits=0", "-listen=1"] + a["daemon_args"]
        for e in sorted(edges):
            if e[0] == i:
                args.append("-connect=127.0.0.1:%d" % pport[e])
        procs.append(subprocess.Popen(args, stdout=open(dd + ".out", "w"),
                                      stderr=subprocess.STDOUT))
    with open(os.path.join(a["tmp"], "pids"), "w") as f:
        f.write(" ".join(str(p.pid) for p in procs))
    deg = [sum(1 for e in edges if i in e) for i in range(n)]
    result = {}

    def load():
        try:
            rpcs = [benchrpc.Rpc(p, "pb", "pb", timeout=10) for p in rpcp]
            t_end = time.monotonic() + 60
            while True:
                try:
                    cnt = [len(r.call("getpeerinfo")) for r in rpcs]
                    if all(c >= d for c, d in zip(cnt, deg)):
                        break
                except Exception as e:       # not up yet
                    cnt = str(e)
                if time.monotonic() > t_end:
                    result["error"] = ("topology not up after 60 s: %s "
                                       "(want %s)" % (cnt, deg))
                    return
                time.sleep(0.2)
            lrng = random.Random(a["seed"] + 1)
            created = []
            period = 1.0 / a["rate"]
            t0 = time.monotonic()
            for seq in range(a["rate"] * a["seconds"]):
                due = t0 + seq * period
                d = due - time.monotonic()
                if d > 0:
                    time.sleep(d)
                c = lrng.randrange(n)
                txt = ("pxb %d " % seq).encode()
                pl = (txt + b"." * (PAYLOAD_LEN - len(txt))).hex()
                t = time.monotonic()
                rpcs[c].call("DEX_broadcast", pl, 0, "pxb")
                created.append((seq, c, t))
            result["created"] = created
            # settle: every node holds every packet (bounded)
            t_end = time.monotonic() + a["settle"]
            while time.monotonic() < t_end:
                rams = [r.call("DEX_stats")["ram"] for r in rpcs]
                if min(rams) >= len(created):
                    break
                time.sleep(0.1)
            result["rams"] = [r.call("DEX_stats")["ram"] for r in rpcs]
        except Exception as e:               # report, never hang
            result["error"] = repr(e)
        finally:
            loop.call_soon_threadsafe(loop.stop)

    th = threading.Thread(target=load, daemon=True)
    th.start()
    try:
        loop.run_forever()
    finally:
        th.join(5)
        for s in servers:
            s.close()
        stop(procs)
    if "error" in result:
        print("proxybench: " + result["error"], file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)
    created = result["created"]
    ratios, times, bounds = [], [], []
    missing = 0
    dist_of = {}
    for seq, c, t in created:
        if c not in dist_of:
            dist_of[c] = dijkstra(n, edges, c)
        dist = dist_of[c]
        for j in range(n):
            if j == c:
                continue
            at = prox.arrivals.get((seq, j))
            if at is None:
                missing += 1
                continue
            ms = (at - t) * 1000.0
            times.append(ms)
            bounds.append(dist[j])
            ratios.append(ms / dist[j])
    ram_short = sum(max(0, len(created) - r) for r in result["rams"])
    print("bench=proxy nodes=%d degree=%.2f links=%d delay_ms=%d-%d rate=%d "
          "seconds=%d packet_bytes=256 sent=%d deliveries=%d missing=%d "
          "missing_by_ram=%d delivery_p50_ms=%.1f delivery_p99_ms=%.1f "
          "delivery_max_ms=%.1f ratio_p50=%.3f ratio_p99=%.3f ratio_max=%.3f "
          "bound_p50_ms=%.0f bound_p99_ms=%.0f seed=%d"
          % (n, 2.0 * len(edges) / n, len(edges), a["delay_lo"],
             a["delay_hi"], a["rate"], a["seconds"], len(created),
             len(times), missing, ram_short, pct(times, 50), pct(times, 99),
             max(times) if times else -1, pct(ratios, 50), pct(ratios, 99),
             max(ratios) if ratios else -1, pct(bounds, 50), pct(bounds, 99),
             a["seed"]))
    sys.stdout.flush()
    # the proxies' tasks die with the process (no teardown chatter)
    os._exit(0)


if __name__ == "__main__":
    main()
