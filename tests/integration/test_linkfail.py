"""Dead links (issue #2): a partition is noticed in seconds and heals in
seconds after it ends.

Topology: b -connect-> proxy -> a, all on 127.0.0.1 (-connect on both
sides, so that neither dials the other directly).  The proxy is a Python
TCP relay.  partition() black-holes every connection: sockets stay open,
nothing is read, accepted or forwarded.  heal() forwards again, for the
connections made since; the connections that were open during the
partition stay stalled for STALL_AFTER_HEAL more seconds, as TCP
connections in exponential retransmission backoff do after a real
partition (their next retransmission comes late).

Before the fix the nodes kept the old link (60 s idle limit, PING every
30 s), so a packet broadcast during a 30 s partition reached the other
side only when that link resumed or timed out: 25-30 s after the heal.
Now each side notices within about 10 s (PING on a quiet link, pong
deadline), b redials at once, and the packet is on both sides within a few
seconds of the heal.
"""

import selectors
import socket
import threading
import time

from dexnet import HOST, free_port, wait_for

PARTITION = 30.0
STALL_AFTER_HEAL = 30.0
DETECT_WITHIN = 20.0   # seconds after the partition starts (expected ~10)
HEAL_WITHIN = 10.0     # seconds after the heal (expected 1-3)


class Pair:
    def __init__(self, client, server):
        self.s = {client: server, server: client}
        self.stalled_until = 0.0   # monotonic: no forwarding before
        self.closed = False


class BlackholeProxy:
    """127.0.0.1:port -> 127.0.0.1:target, with partition()/heal()."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.lis = socket.socket()
        self.lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lis.bind((HOST, self.port))
        self.lis.listen(64)
        self.lis.setblocking(False)
        self.pairs = []
        self.blackhole = False
        self.stop_ = False
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def partition(self):
        with self.lock:
            self.blackhole = True
            for p in self.pairs:
                p.stalled_until = float("inf")

    def heal(self):
        with self.lock:
            self.blackhole = False
            until = time.monotonic() + STALL_AFTER_HEAL
            for p in self.pairs:
                if p.stalled_until == float("inf"):
                    p.stalled_until = until

    def _close(self, p):
        p.closed = True
        for s in p.s:
            try:
                s.close()
            except OSError:
                pass

    def run(self):
        deadline = time.monotonic() + 600   # bounded
        while not self.stop_ and time.monotonic() < deadline:
            with self.lock:
                blackhole = self.blackhole
                now = time.monotonic()
                live = [p for p in self.pairs if not p.closed]
                self.pairs = live
                active = [p for p in live
                          if not blackhole and p.stalled_until <= now]
            sel = selectors.DefaultSelector()
            if not blackhole:
                sel.register(self.lis, selectors.EVENT_READ, None)
            for p in active:
                for s in p.s:
                    sel.register(s, selectors.EVENT_READ, p)
            for key, _ in sel.select(0.05):
                if key.data is None:
                    try:
                        c, _ = self.lis.accept()
                    except OSError:
                        continue
                    try:
                        u = socket.create_connection((HOST, self.target), 5)
                    except OSError:
                        c.close()
                        continue
                    with self.lock:
                        self.pairs.append(Pair(c, u))
                    continue
                p, s = key.data, key.fileobj
                if p.closed:
                    continue
                try:
                    data = s.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    self._close(p)
                    continue
                try:
                    p.s[s].sendall(data)
                except OSError:
                    self._close(p)
            sel.close()
            if not active and blackhole:
                time.sleep(0.05)

    def close(self):
        self.stop_ = True
        self.t.join(5)
        for p in self.pairs:
            self._close(p)
        self.lis.close()


def peers(x):
    return len(x.rpc("getpeerinfo"))


def held(x, h):
    return any(m["hash"] == h for m in x.list_all("part"))


def test_partition_heals_in_seconds(make_node):
    a = make_node("a", args=["-connect=127.0.0.1:1"]).start()
    proxy = BlackholeProxy(a.port)
    try:
        b = make_node("b", args=[f"-connect={HOST}:{proxy.port}"]).start()
        wait_for(lambda: peers(a) == 1 and peers(b) == 1, 20,
                 what="a-b connected through the proxy")
        p0 = a.rpc("DEX_broadcast", "before", "0", "part")
        wait_for(lambda: held(b, p0["hash"]), 10, what="packet before")

        proxy.partition()
        t0 = time.monotonic()
        pa = a.rpc("DEX_broadcast", "during-a", "0", "part")
        pb = b.rpc("DEX_broadcast", "during-b", "0", "part")
        wait_for(lambda: peers(a) == 0 and peers(b) == 0, DETECT_WITHIN,
                 what="both sides notice the dead link")
        detected = time.monotonic() - t0
        # hold the partition for its full length
        wait_for(lambda: time.monotonic() - t0 >= PARTITION, PARTITION + 5)
        proxy.heal()
        t1 = time.monotonic()
        wait_for(lambda: held(b, pa["hash"]) and held(a, pb["hash"]),
                 HEAL_WITHIN, what="packets of the partition on both sides")
        healed = time.monotonic() - t1
        assert peers(a) == 1 and peers(b) == 1
        print(f"linkfail: dead link noticed in {detected:.1f} s, healed "
              f"{healed:.1f} s after a {PARTITION:.0f} s partition")
        for x in (a, b):
            log = x.log()
            assert "disconnected: ping timeout" in log or \
                "disconnected: Connection timed out" in log, log[-3000:]
    finally:
        proxy.close()
