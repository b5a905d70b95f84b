#!/usr/bin/python3
"""attackbench.py - honest traffic under hostile peers and clients
(docs/SECURITY.md, docs/bench.md "Attack benchmark").  Standard library only.

Three local dexp2pd on 127.0.0.1 in a line, n0 - n1 - n2 (n1 dials n0, n2
dials n1; -txpowbits=0, -maxmem=256).  tools/netbench offers honest packets
to n0 at a fixed rate; they reach n2 only through n1, the victim.  Each
phase runs the generator for a fixed time while one attacker (a child
process: `attackbench.py attack KIND ARGS.json`) works on n1, and prints

  bench=attack kind=<name> rate=.. seconds=.. delivered_per_sec=..
    missing=.. latency_p50_ms=.. latency_p99_ms=.. victim_cpu_pct=..
    victim_rss_mib=.. victim_rss_peak_mib=.. peermem_total_mib=..
    peermem_peak_mib=.. futurehold=.. <attacker-side counts>

delivered_per_sec: packets n2 gained during the generator's run / its
seconds; missing: packets sent but absent on a node after the settle time,
summed over the three nodes; latency: 1 packet in 100 is a sample (tagA
nbs) whose send time is in its payload, n2 is polled with DEX_list every
5 ms (arrival = midpoint of the poll interval, as scripts/netbench.sh);
victim_cpu_pct: n1's user+system CPU over the generator's run / its wall
time (100 = one core); victim_setup_cpu_s: n1's CPU seconds while the
attacker set up, before the load (opening 1,100 connections, 124
handshakes, ...), setup_s that time; RSS from /proc/<pid>/status at the end
of the phase, peak sampled every 0.25 s; peermem from DEX_stats (the node's
own accounting of what peers make it hold): total at the end, phase_max
sampled every 0.25 s, peak = the node's high-water mark since start;
victim_rpc_ms_max: slowest DEX_stats answer of n1 during the phase;
victim_peers: n1's peers at the end (the two honest ones plus attackers
still connected); victim_ram: packets n1 holds at the end (8 of ~1 MB
preloaded, the rest 256 B: the store the catch-up attacks ask for);
att_*: what the attacker saw (connections refused, bytes received, ...).

Attackers connect from 127.0.K.x (K = 10 x (phase number + 1), each kind
/24s apart from 127.0.0.1 where the honest nodes are): what bans they earn never
touches the honest links.  RPC attackers use 127.0.0.1 (the RPC allow-list
default; bans are a P2P matter).  Every loop is bounded in count and time;
every process started here is stopped in a finally block.

Usage: attackbench.py run [--build DIR] [--seconds 10] [--rate 1000]
                          [--settle 8] [--kinds a,b,...] [--keep]
"""

import argparse
import base64
import http.client
import json
import os
import random
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import benchrpc  # noqa: E402
import dexnet  # noqa: E402
from dexnet import (W_ADDR, W_GETDATA, W_IDLIST, W_INV, W_PACKET,  # noqa: E402
                    W_PING, W_PONG, W_SUMMARY, W_SUMMARY_SEC, W_VERSION,
                    RawPeer, TimeoutExpired, frame, packet_bytes,
                    version_payload)

KINDS = ["baseline", "rpc_idle", "rpc_body", "nonreader", "epoch", "slots",
         "catchup", "addr", "inv", "invalid", "rpc_guess",
         "catchup_reconnect", "catchup_parallel"]
MiB = 1 << 20
PURGETIME = 3600


def now():
    return time.monotonic()


# --------------------------------------------------------------- attacker

class SrcPeer(RawPeer):
    """A raw peer (dexnet.RawPeer) whose socket is bound to `src`, with an
    optional small receive buffer (set before connect, so the window stays
    small: what it does not read stays in the node's output buffer)."""

    def __init__(self, port, src, timeout=5.0, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.bind((src, 0))
            s.settimeout(timeout)
            s.connect((dexnet.HOST, port))
        except OSError:
            s.close()
            raise
        self.sock = s
        self.buf = b""
        self.closed = False


def try_handshake(port, src, st, rcvbuf=None, **kw):
    """A handshaken SrcPeer or None; counts refusals in st."""
    try:
        p = SrcPeer(port, src, rcvbuf=rcvbuf)
    except OSError:
        st["connect_failed"] = st.get("connect_failed", 0) + 1
        return None
    try:
        return p.handshake(txpowbits=0, purgetime=PURGETIME, **kw)
    except (AssertionError, OSError, TimeoutExpired):
        st["refused"] = st.get("refused", 0) + 1
        p.close()
        return None


def pump(peers, st, timeout=0.05, on_frame=None):
    """Read what the node sent on every open peer (bounded: one recv per
    readable socket), answer PING with PONG, count bytes and frames; a peer
    the node closed is marked closed and counted."""
    live = [p for p in peers if not p.closed]
    if not live:
        time.sleep(timeout)
        return
    try:
        r, _, _ = select.select([p.sock for p in live], [], [], timeout)
    except (OSError, ValueError):
        return
    rs = set(r)
    for p in live:
        if p.sock not in rs:
            continue
        try:
            b = p.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError, socket.timeout):
            continue
        except OSError:
            b = b""
        if not b:
            p.closed = True
            st["closed_by_node"] = st.get("closed_by_node", 0) + 1
            continue
        st["bytes_received"] = st.get("bytes_received", 0) + len(b)
        p.buf += b
        off = 0                 # one slice at the end: no quadratic copying
        for _ in range(100000):
            if len(p.buf) - off < 9:
                break
            n = struct.unpack_from("<I", p.buf, off + 5)[0]
            if len(p.buf) - off < 9 + n:
                break
            t, pl = p.buf[off + 4], p.buf[off + 9:off + 9 + n]
            off += 9 + n
            st["frames_received"] = st.get("frames_received", 0) + 1
            if t == W_PING:
                try:
                    p.sock.sendall(frame(W_PONG, pl))
                except OSError:
                    pass
            elif on_frame:
                on_frame(p, t, pl)
        p.buf = p.buf[off:]


def close_all(peers):
    for p in peers:
        p.close()


class Attack:
    """Base: setup() before the honest load starts (bounded), run(stop)
    while it runs, teardown(); st is the attacker-side counts."""

    def __init__(self, a):
        self.a = a
        self.port = a["victim_port"]
        self.rpcport = a["victim_rpc"]
        self.net = a["net"]          # 127.0.K.
        self.other = "127.0.%d.3" % (int(self.net.split(".")[2]) + 5)
        self.st = {}
        self.peers = []

    def setup(self):
        pass

    def run(self, stop):
        while not stop.is_set():
            pump(self.peers, self.st, 0.1)

    def teardown(self):
        close_all(self.peers)

    def newcomer(self, src):
        """Does an honest newcomer from another /24 still get in?"""
        q = try_handshake(self.port, src, {}, ua=b"/newcomer:0/")
        if q is None:
            return 0
        # still open 1 s later (not evicted at once)
        t_end = now() + 1.0
        ok = 1
        while now() < t_end:
            s = {}
            pump([q], s, 0.1)
            if q.closed:
                ok = 0
                break
        q.close()
        return ok


class Baseline(Attack):
    pass


class RpcIdle(Attack):
    """1,100 idle TCP connections to the RPC port; ones the node closes are
    reopened (at most 5,000 connects in all)."""
    N = 1100
    MAX_CONNECTS = 5000

    def connect(self):
        self.st["connects"] = self.st.get("connects", 0) + 1
        try:
            s = socket.create_connection((dexnet.HOST, self.rpcport), 2.0)
            s.setblocking(False)
            return s
        except OSError:
            self.st["connect_failed"] = self.st.get("connect_failed", 0) + 1
            return None

    def setup(self):
        self.socks = []
        t_end = now() + 20
        for _ in range(self.N):
            if now() > t_end:
                break
            s = self.connect()
            if s:
                self.socks.append(s)
        self.st["open_after_setup"] = len(self.socks)

    def run(self, stop):
        while not stop.is_set():
            pl = select.poll()      # select() stops at descriptor 1023
            byfd = {}
            for s in self.socks:
                pl.register(s, select.POLLIN)
                byfd[s.fileno()] = s
            r = [byfd[fd] for fd, _ in pl.poll(200)]
            for s in r:
                try:
                    b = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if not b:
                    self.st["closed_by_node"] = \
                        self.st.get("closed_by_node", 0) + 1
                    self.socks.remove(s)
                    s.close()
            while (len(self.socks) < self.N and not stop.is_set()
                   and self.st["connects"] < self.MAX_CONNECTS):
                s = self.connect()
                if not s:
                    break
                self.socks.append(s)
        self.st["open_at_end"] = len(self.socks)

    def teardown(self):
        for s in self.socks:
            s.close()


def http_head(port, length, user, pw):
    tok = base64.b64encode(f"{user}:{pw}".encode()).decode()
    return (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Basic {tok}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


class RpcBody(Attack):
    """40 connections at once, each a POST declaring and sending 8 MiB with
    a wrong password; repeated (at most 4 rounds) while the load runs."""
    N = 40
    SIZE = 8 * MiB
    ROUNDS = 4

    def one(self, lock, stop):
        chunk = b"x" * (1 << 16)
        for _ in range(self.ROUNDS):
            if stop.is_set():
                return
            t0 = now()
            sent = 0
            status = None
            try:
                s = socket.create_connection((dexnet.HOST, self.rpcport), 10)
            except OSError:
                with lock:
                    self.st["connect_failed"] = \
                        self.st.get("connect_failed", 0) + 1
                continue
            try:
                try:
                    s.sendall(http_head(self.rpcport, self.SIZE, "bench",
                                        "wrong"))
                    while sent < self.SIZE and not stop.is_set():
                        s.sendall(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                s.settimeout(10)
                try:
                    data = s.recv(4096)
                    if data.startswith(b"HTTP/1.1 "):
                        status = int(data[9:12])
                except (OSError, ValueError):
                    pass
            finally:
                s.close()
            with lock:
                k = "http_%s" % status if status else "no_answer"
                self.st[k] = self.st.get(k, 0) + 1
                self.st["body_mib_sent"] = \
                    self.st.get("body_mib_sent", 0) + sent / MiB
                ms = (now() - t0) * 1000
                self.st["max_request_ms"] = max(
                    self.st.get("max_request_ms", 0), round(ms))

    def run(self, stop):
        lock = threading.Lock()
        ths = [threading.Thread(target=self.one, args=(lock, stop),
                                daemon=True) for _ in range(self.N)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(120)
        self.st["body_mib_sent"] = round(self.st.get("body_mib_sent", 0))


def getdata_frame(ids):
    return frame(W_GETDATA, struct.pack(f"<I{len(ids)}Q", len(ids), *ids))


class NonReader(Attack):
    """40 peers with 4 KB receive windows from two addresses; each asks for
    every preloaded ~1 MB packet, then for 65,536 unknown ids over and over,
    and never reads."""
    N = 40

    def setup(self):
        for i in range(self.N):
            p = try_handshake(self.port, self.net + str(2 + i % 2), self.st,
                              rcvbuf=4096)
            if p:
                self.peers.append(p)
        self.st["handshaken"] = len(self.peers)
        big = getdata_frame(self.a["big_sids"])
        self.msgs = []
        for i, p in enumerate(self.peers):
            unknown = getdata_frame([(i + 1 << 32) + j + 1
                                     for j in range(65536)])
            p.sock.setblocking(False)
            self.msgs.append([big + unknown, 0, unknown])

    def run(self, stop):
        sent = 0
        while not stop.is_set():
            progress = False
            for p, m in zip(self.peers, self.msgs):
                if p.closed:
                    continue
                for _ in range(4):
                    try:
                        n = p.sock.send(m[0][m[1]:m[1] + (1 << 18)])
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        p.closed = True
                        self.st["dropped_by_node"] = \
                            self.st.get("dropped_by_node", 0) + 1
                        break
                    sent += n
                    progress = True
                    m[1] += n
                    if m[1] >= len(m[0]):
                        m[0], m[1] = m[2], 0
            if not progress:
                time.sleep(0.02)
        self.st["mib_sent"] = round(sent / MiB, 1)


class Epoch(Attack):
    """1,100 handshakes with fresh nonces from one address (30 kept open,
    answering PINGs; the rest closed at once), then a newcomer from another
    /24."""
    N = 1100
    KEEP = 30

    def run(self, stop):
        t0 = now()
        done = 0
        for _ in range(self.N):
            if stop.is_set():
                break
            p = try_handshake(self.port, self.net + "2", self.st)
            if p is None:
                continue
            done += 1
            if len(self.peers) < self.KEEP:
                self.peers.append(p)
            else:
                p.close()
            if done % 50 == 0:
                pump(self.peers, self.st, 0)
        self.st["handshakes"] = done
        self.st["handshake_s"] = round(now() - t0, 2)
        self.st["newcomer_ok"] = self.newcomer(self.other)
        super().run(stop)


class Slots(Attack):
    """124 idle handshaken connections from one address (answering PINGs),
    then a newcomer from another /24."""
    N = 124

    def setup(self):
        for _ in range(self.N):
            p = try_handshake(self.port, self.net + "2", self.st)
            if p:
                self.peers.append(p)
        self.st["held"] = len(self.peers)
        self.st["newcomer_ok"] = self.newcomer(self.other)

    def run(self, stop):
        super().run(stop)
        self.st["held_at_end"] = sum(1 for p in self.peers if not p.closed)


class Catchup(Attack):
    """A SUMMARY over the whole purge window with every bucket empty, then
    an IDLIST naming every second the node lists with no ids ("I hold
    nothing, send everything"), repeated every 0.5 s; everything sent is
    read and counted."""

    ROUNDS_PER_CONN = 0      # 0: one connection for the whole phase

    def run(self, stop):
        p = try_handshake(self.port, self.net + "2", self.st)
        if p is None:
            return
        self.peers = [p]
        self.st["connections"] = 1
        rounds = answered = 0
        bytes_up = 0
        state = {"sec": None}

        def on_frame(_p, t, pl):
            if t == W_SUMMARY_SEC:
                state["sec"] = pl
            elif t in (W_PACKET, 0x0f):
                self.st["packet_frames"] = self.st.get("packet_frames", 0) + 1
        for _ in range(400):
            if stop.is_set() or p.closed:
                break
            if self.ROUNDS_PER_CONN and rounds and \
                    rounds % self.ROUNDS_PER_CONN == 0:
                p.close()
                p = try_handshake(self.port, self.net + "2", self.st)
                if p is None:
                    break
                self.peers.append(p)
                self.st["connections"] += 1
            t1 = int(time.time()) - 2
            t0 = t1 - PURGETIME + 7
            nb = t1 // 60 - t0 // 60 + 1
            summ = struct.pack("<IIH", t0, t1, nb) + b"\x00" * (12 * nb)
            state["sec"] = None
            try:
                p.sock.sendall(frame(W_SUMMARY, summ))
            except OSError:
                break
            bytes_up += 9 + len(summ)
            rounds += 1
            t_end = now() + 2.0
            while state["sec"] is None and now() < t_end and not p.closed:
                pump(self.peers, self.st, 0.05, on_frame)
            sec = state["sec"]
            if sec is not None and len(sec) >= 12:
                n = struct.unpack("<I", sec[8:12])[0]
                if n:
                    answered += 1
                    secs = [struct.unpack("<I", sec[12 + 16 * i:16 + 16 * i])[0]
                            for i in range(n)]
                    body = struct.pack("<I", n) + b"".join(
                        struct.pack("<II", s, 0) for s in secs)
                    try:
                        p.sock.sendall(frame(W_IDLIST, body))
                    except OSError:
                        break
                    bytes_up += 9 + len(body)
            t_end = now() + 0.5
            while now() < t_end and not stop.is_set():
                pump(self.peers, self.st, 0.05, on_frame)
        self.st["rounds"] = rounds
        self.st["rounds_answered"] = answered
        self.st["bytes_sent"] = bytes_up
        self.st["amplification"] = round(
            self.st.get("bytes_received", 0) / max(1, bytes_up), 1)
        super().run(stop)


class CatchupReconnect(Catchup):
    """Catchup, on a new connection every 3 rounds (a new connection starts
    with a full catch-up budget)."""
    ROUNDS_PER_CONN = 3


class CatchupParallel(Attack):
    """Catchup on 16 connections at once from one address (under the
    per-address cap of 32), each with its own catch-up budget."""
    N = 16

    def run(self, stop):
        subs = [Catchup(self.a) for _ in range(self.N)]
        ths = [threading.Thread(target=c.run, args=(stop,), daemon=True)
               for c in subs]
        for t in ths:
            t.start()
        for t in ths:
            t.join(self.a["max_run_s"] + 10)
        for c in subs:
            self.peers += c.peers
            for k, v in c.st.items():
                if k != "amplification":
                    self.st[k] = self.st.get(k, 0) + v
        self.st["amplification"] = round(
            self.st.get("bytes_received", 0)
            / max(1, self.st.get("bytes_sent", 1)), 1)


def addr_frame(first, count, ts):
    body = struct.pack("<H", count)
    for i in range(first, first + count):
        ip = b"\x00" * 10 + b"\xff\xff" + bytes(
            [10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
        body += ip + struct.pack("<HIH", 7770, ts, 1)
    return frame(W_ADDR, body)


class Addr(Attack):
    """1,000 ADDR frames of 1,000 fresh addresses (24 MB), then a PING:
    the PONG comes once every ADDR before it has been handled."""
    NFRAMES = 1000

    def setup(self):
        ts = int(time.time())
        self.frames = [addr_frame(k * 1000, 1000, ts)
                       for k in range(self.NFRAMES)]
        p = try_handshake(self.port, self.net + "2", self.st)
        if p:
            self.peers = [p]

    def run(self, stop):
        if not self.peers:
            return
        p = self.peers[0]
        pong = {}

        def on_frame(_p, t, pl):
            if t == W_PONG and pl == struct.pack("<Q", 77):
                pong["t"] = now()

        def flood():
            try:
                for f in self.frames:
                    if stop.is_set():
                        break
                    p.sock.sendall(f)
                    self.st["addr_frames_sent"] = \
                        self.st.get("addr_frames_sent", 0) + 1
                p.sock.sendall(frame(W_PING, struct.pack("<Q", 77)))
            except OSError:
                pass
        p.sock.settimeout(30)
        t0 = now()
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        while not stop.is_set() and not p.closed:
            pump(self.peers, self.st, 0.05, on_frame)
        th.join(30)
        if "t" in pong:
            self.st["flood_handled_s"] = round(pong["t"] - t0, 2)


class Inv(Attack):
    """6 peers each announcing 16,384 fresh ids per INV, never delivering
    them (GETDATA/GETBITS read and ignored), as fast as the node reads, at
    most 20 INVs each."""
    N = 6
    IDS = 16384
    PER_PEER = 20

    def setup(self):
        for i in range(self.N):
            p = try_handshake(self.port, self.net + str(2 + i), self.st)
            if p:
                self.peers.append(p)
        self.st["handshaken"] = len(self.peers)

    def run(self, stop):
        rnd = random.Random(7)
        reqs = {"n": 0}

        def on_frame(_p, t, pl):
            if t in (W_GETDATA, 0x0e):
                reqs["n"] += 1
        ids_sent = 0
        for _ in range(self.PER_PEER):
            for p in self.peers:
                if stop.is_set() or p.closed:
                    continue
                ids = [rnd.getrandbits(64) for _ in range(self.IDS)]
                try:
                    p.sock.settimeout(5)
                    p.sock.sendall(frame(W_INV, struct.pack(
                        f"<I{self.IDS}Q", self.IDS, *ids)))
                    ids_sent += self.IDS
                except OSError:
                    p.closed = True
                pump(self.peers, self.st, 0, on_frame)
            pump(self.peers, self.st, 0.2, on_frame)
        self.st["ids_announced"] = ids_sent
        while not stop.is_set():
            pump(self.peers, self.st, 0.1, on_frame)
        self.st["requests_received"] = reqs["n"]


BAD = [
    ("bad_ping", lambda: frame(W_PING, b"\x00" * 7)),
    ("bad_magic", lambda: frame(W_PING, b"\x00" * 8, magic=b"XXXX")),
    ("bad_packet", lambda: frame(W_PACKET, packet_bytes(
        int(time.time()), b"x\x00", tag_a=b"bad", kind=b"Z"))),
    ("huge_length", lambda: frame(W_PACKET, b"", length=0xFFFFFFFF)),
    ("inv_count_zero", lambda: frame(W_INV, struct.pack("<I", 0))),
]


class Invalid(Attack):
    """Connections from 127.0.K.1.. and 127.0.K+1.. (at most 400, a fresh
    address each): handshake, one invalid packet or malformed frame, wait
    for the close.  Bans (address, then /24) turn later ones away at
    accept."""
    MAX = 400

    def run(self, stop):
        k = int(self.net.split(".")[2])
        i = 0
        while i < self.MAX and not stop.is_set():
            src = "127.0.%d.%d" % (k + i // 200, 1 + i % 200)
            name, mk = BAD[i % len(BAD)]
            i += 1
            self.st["connections"] = i
            try:
                p = SrcPeer(self.port, src, timeout=3)
            except OSError:
                self.st["connect_failed"] = \
                    self.st.get("connect_failed", 0) + 1
                continue
            try:
                p.send(frame(W_VERSION, version_payload(
                    txpowbits=0, purgetime=PURGETIME)))
                f = p.read_frame(3)
                if f is None:
                    self.st["refused_at_accept"] = \
                        self.st.get("refused_at_accept", 0) + 1
                    continue
                p.send(frame(2))        # VERACK
                p.expect(2, 3)
                p.send(mk())
                if p.wait_closed(5):
                    self.st["closed_after_violation"] = \
                        self.st.get("closed_after_violation", 0) + 1
            except (AssertionError, OSError, TimeoutExpired):
                self.st["other"] = self.st.get("other", 0) + 1
            finally:
                p.close()


class RpcGuess(Attack):
    """64 keep-alive connections guessing the password as fast as the node
    answers (each 401 comes 250 ms late)."""
    N = 64

    def one(self, lock, stop):
        c = None
        k = 0
        while not stop.is_set() and k < 10000:
            k += 1
            try:
                if c is None:
                    c = http.client.HTTPConnection(dexnet.HOST, self.rpcport,
                                                   timeout=10)
                tok = base64.b64encode(
                    f"bench:guess{random.getrandbits(32)}".encode()).decode()
                c.request("POST", "/", '{"method":"getinfo"}',
                          {"Authorization": "Basic " + tok})
                r = c.getresponse()
                r.read()
                with lock:
                    key = "http_%d" % r.status
                    self.st[key] = self.st.get(key, 0) + 1
                if r.will_close:
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException):
                with lock:
                    self.st["conn_errors"] = self.st.get("conn_errors", 0) + 1
                if c:
                    c.close()
                c = None
                time.sleep(0.05)
        if c:
            c.close()

    def run(self, stop):
        lock = threading.Lock()
        t0 = now()
        ths = [threading.Thread(target=self.one, args=(lock, stop),
                                daemon=True) for _ in range(self.N)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        self.st["guesses_per_sec"] = round(
            self.st.get("http_401", 0) / max(0.001, now() - t0), 1)


ATTACKS = {"baseline": Baseline, "rpc_idle": RpcIdle, "rpc_body": RpcBody,
           "nonreader": NonReader, "epoch": Epoch, "slots": Slots,
           "catchup": Catchup, "catchup_reconnect": CatchupReconnect,
           "catchup_parallel": CatchupParallel,
           "addr": Addr, "inv": Inv, "invalid": Invalid,
           "rpc_guess": RpcGuess}


def attack_main(kind, argfile):
    """Child process: setup, print 'ready', run until a line on stdin (or
    the time bound), teardown, print 'result {json}'."""
    a = json.load(open(argfile))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    att = ATTACKS[kind](a)
    t0 = now()
    att.setup()
    att.st["setup_s"] = round(now() - t0, 2)
    stop = threading.Event()

    def watch():
        sys.stdin.readline()
        stop.set()
    threading.Thread(target=watch, daemon=True).start()
    threading.Timer(a["max_run_s"], stop.set).start()
    print("ready", flush=True)
    try:
        att.run(stop)
    finally:
        stop.wait(a["max_run_s"])
        att.teardown()
    print("result " + json.dumps(att.st), flush=True)
    os._exit(0)


# ------------------------------------------------------------ measurement

def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0


def pct(v, q):
    if not v:
        return -1.0
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def poller(rpc, stop, out, max_s):
    """Latency samples on the far node (scripts/netbench.sh's method)."""
    last = ""
    for _ in range(3):      # start from the newest sample held now
        try:
            m = rpc.call("DEX_list", "", 0, "nbs", "", "", "", "", "", "",
                         "")["matches"]
            last = m[0]["hash"] if m else ""
            break
        except Exception:  # noqa: BLE001 - tried again
            time.sleep(0.05)
    t_prev = time.time() * 1000
    t_end = now() + max_s
    while now() < t_end and not stop.is_set():
        t_req = time.time() * 1000
        try:
            m = rpc.call("DEX_list", "", 0, "nbs", "", "", "", "", "", "",
                         last)["matches"]
        except Exception:  # noqa: BLE001 - a missed poll only
            time.sleep(0.05)
            continue
        t_resp = time.time() * 1000
        if m:
            last = m[0]["hash"]
            for p in m:
                txt = (bytes.fromhex(p["payload"]).decode() if p.get("hex")
                       else p["payload"])
                out.append((t_prev + t_resp) / 2 - int(txt.split()[3]) / 1000)
        t_prev = t_req
        d = 0.005 - (time.time() * 1000 - t_req) / 1000
        if d > 0:
            time.sleep(d)


def sampler(rpc, pid, stop, acc):
    """Victim RSS and peermem every 0.25 s; RPC round trip as well."""
    for _ in range(100000):
        if stop.is_set():
            break
        acc["rss_peak"] = max(acc.get("rss_peak", 0), rss_mib(pid))
        t = now()
        try:
            s = rpc.call("DEX_stats")
            acc["rpc_ms_max"] = max(acc.get("rpc_ms_max", 0),
                                    (now() - t) * 1000)
            acc["peermem_max"] = max(acc.get("peermem_max", 0),
                                     s["peermem"]["total"])
        except Exception as e:  # noqa: BLE001
            acc["rpc_errors"] = acc.get("rpc_errors", 0) + 1
            acc["rpc_error"] = str(e)[:80]
        stop.wait(0.25)


class Bench:
    def __init__(self, o):
        self.o = o
        self.tmp = tempfile.mkdtemp(prefix="attackbench.")
        self.nodes = []
        self.children = []

    def start(self):
        def factory(name, txpowbits, args):
            return dexnet.Node(name, self.tmp, txpowbits=txpowbits,
                               args=args + ["-maxmem=256"])
        net = dexnet.Network(factory, 3, dexnet.line_edges(3), txpowbits=0)
        net.start()
        net.wait_connected(30)
        self.nodes = list(net)
        self.rpcs = []
        for n in self.nodes:
            u, p = n.auth()
            self.rpcs.append(benchrpc.Rpc(n.rpcport, u, p, timeout=20))
        self.v = self.nodes[1]
        self.vpid = self.v.proc.pid
        u, p = self.v.auth()
        self.vrpc2 = benchrpc.Rpc(self.v.rpcport, u, p, timeout=20)
        self.farrpc = benchrpc.Rpc(self.nodes[2].rpcport,
                                   *self.nodes[2].auth(), timeout=20)
        for r in (self.vrpc2, self.farrpc):     # authenticated at once
            r.call("getinfo")

    def preload(self):
        """Data for the catch-up and non-reader attacks: 8 packets of
        ~1 MB and 4,000 of 256 bytes (tools/netbench at 4,000/s)."""
        self.big = []
        for i in range(8):
            payload = (b"%07d" % i) * 140000
            r = self.rpcs[1].call("DEX_broadcast", payload.hex(), 0, "big",
                                  "", "")
            self.big.append(struct.unpack(
                "<Q", bytes.fromhex(r["hash"])[8:16])[0])
        self.generate(4000, 1)
        self.wait_sync(30)

    def rams(self):
        return [r.call("DEX_stats")["ram"] for r in self.rpcs]

    def wait_sync(self, timeout):
        t_end = now() + timeout
        while now() < t_end:
            r = self.rams()
            if len(set(r)) == 1:
                return r
            time.sleep(0.1)
        return self.rams()

    def generate(self, rate, seconds):
        gen = subprocess.Popen(
            [os.path.join(self.o.build, "tools", "netbench"),
             "-connect=127.0.0.1:%d" % self.nodes[0].port,
             "-rate=%d" % rate, "-seconds=%d" % seconds, "-sample=100",
             "-txpowbits=0"], stdout=subprocess.PIPE, text=True)
        self.children.append(gen)
        line = gen.stdout.readline()
        try:
            gen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gen.kill()
            gen.wait()
        if not line.startswith("netbench_gen") or gen.returncode != 0:
            raise RuntimeError("generator failed (rc %s)" % gen.returncode)
        return dict(kv.split("=", 1) for kv in line.split()[1:])

    def phase(self, idx, kind):
        o = self.o
        base_ram = self.wait_sync(20)
        args = {"victim_port": self.v.port, "victim_rpc": self.v.rpcport,
                "net": "127.0.%d." % (10 * idx + 10), "big_sids": self.big,
                "max_run_s": o.seconds + o.settle + 30}
        af = os.path.join(self.tmp, "attack-%s.json" % kind)
        json.dump(args, open(af, "w"))
        cs0, ts0 = benchrpc.cpu_s(self.vpid), now()
        ch = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                               "attack", kind, af], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
        self.children.append(ch)
        ready = ch.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError("attacker %s did not start: %r" % (kind, ready))
        setup_s = now() - ts0
        setup_cpu = benchrpc.cpu_s(self.vpid) - cs0
        stop = threading.Event()
        lat = []
        acc = {}
        ths = [threading.Thread(target=poller, daemon=True,
                                args=(self.farrpc, stop, lat,
                                      o.seconds + o.settle + 20)),
               threading.Thread(target=sampler, daemon=True,
                                args=(self.vrpc2, self.vpid, stop, acc))]
        for t in ths:
            t.start()
        time.sleep(0.2)
        c0, t0 = benchrpc.cpu_s(self.vpid), now()
        g = self.generate(o.rate, o.seconds)
        c1, t1 = benchrpc.cpu_s(self.vpid), now()
        end_ram = self.rams()
        sent = int(g["sent"])
        ch.stdin.write("stop\n")
        ch.stdin.flush()
        # settle: every node holds every packet, at most o.settle s
        t_end = now() + o.settle
        fin = end_ram
        while now() < t_end:
            fin = self.rams()
            if all(f - b >= sent for f, b in zip(fin, base_ram)):
                break
            time.sleep(0.05)
        settle_ms = (now() - t1) * 1000
        time.sleep(0.3)
        stop.set()
        for t in ths:
            t.join(20)
        res = {}
        try:
            out, _ = ch.communicate(timeout=60)
            for ln in out.splitlines():
                if ln.startswith("result "):
                    res = json.loads(ln[7:])
        except subprocess.TimeoutExpired:
            ch.kill()
            ch.wait()
            res = {"attacker": "killed"}
        s = self.vrpc2.call("DEX_stats")
        peers = self.vrpc2.call("getpeerinfo")
        banned = len(self.vrpc2.call("listbanned"))
        missing = sum(max(0, sent - (f - b)) for f, b in zip(fin, base_ram))
        pm = s["peermem"]
        fh = s.get("futurehold", {})
        fields = [
            ("kind", kind), ("rate", o.rate), ("seconds", o.seconds),
            ("sent", sent),
            ("delivered_per_sec", "%.0f" % ((end_ram[2] - base_ram[2])
                                            / float(g["seconds"]))),
            ("missing", missing),
            ("latency_p50_ms", "%.1f" % pct(lat, 50)),
            ("latency_p99_ms", "%.1f" % pct(lat, 99)),
            ("latency_samples", len(lat)),
            ("all_delivered_after_ms", "%.0f" % settle_ms),
            ("victim_cpu_pct", "%.0f" % (100 * (c1 - c0) / (t1 - t0))),
            ("victim_setup_cpu_s", "%.2f" % setup_cpu),
            ("setup_s", "%.1f" % setup_s),
            ("victim_rss_mib", "%.1f" % rss_mib(self.vpid)),
            ("victim_rss_peak_mib", "%.1f" % acc.get("rss_peak", -1)),
            ("peermem_total_mib", "%.1f" % (pm["total"] / MiB)),
            ("peermem_phase_max_mib", "%.1f" % (acc.get("peermem_max", 0)
                                               / MiB)),
            ("peermem_peak_mib", "%.1f" % (pm["peak"] / MiB)),
            ("peermem_budget_mib", "%.0f" % (pm["budget"] / MiB)),
            ("peermem_disconnected", pm.get("disconnected", 0)),
            ("futurehold", fh.get("held", 0)),
            ("victim_rpc_ms_max", "%.0f" % acc.get("rpc_ms_max", -1)),
            ("victim_rpc_errors", acc.get("rpc_errors", 0)),
            ("victim_peers", len(peers)),
            ("victim_ram", s["ram"]),
            ("banned", banned),
        ]
        fields += sorted(("att_" + k, v) for k, v in res.items())
        print("bench=attack " + " ".join("%s=%s" % kv for kv in fields),
              flush=True)
        if acc.get("rpc_error"):
            print("# %s: victim rpc error: %s" % (kind, acc["rpc_error"]),
                  file=sys.stderr)
        # the honest links must still be there
        if len(self.nodes[1].peer_pubkeys()) < 1:
            print("# %s: victim lost its peers" % kind, file=sys.stderr)

    def stop(self):
        for c in self.children:
            if c.poll() is None:
                c.kill()
                try:
                    c.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        for n in self.nodes:
            try:
                n.stop(timeout=15, check=False)
            except Exception:  # noqa: BLE001
                n.kill()
        if self.o.keep:
            print("# attackbench: datadirs kept in %s" % self.tmp,
                  file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_main(argv):
    ap = argparse.ArgumentParser(prog="attackbench.py run")
    ap.add_argument("--build", default=os.environ.get(
        "DEXP2P_BUILD", os.path.join(REPO, "build")))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--settle", type=int, default=8)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--keep", action="store_true")
    o = ap.parse_args(argv)
    o.build = os.path.abspath(o.build)
    kinds = [k for k in o.kinds.split(",") if k]
    for k in kinds:
        if k not in ATTACKS:
            sys.exit("attackbench: unknown kind %s (%s)" % (k, ",".join(KINDS)))
    if not (1 <= o.seconds <= 120 and 1 <= o.rate <= 20000):
        sys.exit("attackbench: --seconds 1..120, --rate 1..20000")
    dexnet.DAEMON = os.path.join(o.build, "dexp2pd")
    # a TERM (timeout, kill) unwinds through the finally below as ^C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(o)
    t0 = now()
    try:
        b.start()
        b.preload()
        for i, k in enumerate(kinds):
            b.phase(KINDS.index(k), k)
    finally:
        b.stop()
    print("# attackbench: %d phases in %.0f s" % (len(kinds), now() - t0))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "attack":
        attack_main(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "run":
        run_main(sys.argv[2:])
    else:
        sys.exit(__doc__)
