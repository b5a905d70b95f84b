"""Wall-clock steps (issue #14): timers run on the monotonic clock.

Two daemons (a <- b) and a raw full peer R connected to b run under
libfaketime with one shared offset file re-read on every call
(FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1); FAKETIME_DONT_FAKE_MONOTONIC=1
keeps CLOCK_MONOTONIC real, so only the wall clock steps.  The offset is
stepped back 10 s, back one hour more, then forward 2 minutes.  After each
step: the a-b link is the same connection (no "timeout" disconnect), a
packet broadcast after the step reaches the other node, b keeps
starting reconciliation rounds with R (SUMMARY frames keep coming; R
answers each with an empty SUMMARY_SEC, "nothing to exchange"), and a
packet only R holds, timestamped in b's last 10 s, reaches b through such a
round (the windows follow the stepped wall clock, the timers do not).

Before the fix (timers on CLOCK_REALTIME) the 10 s step back ended the link
with "timeout (60 s without data)" and after the one-hour step back b sent
no SUMMARY for an hour.
"""

import os
import struct
import threading
import time

import pytest

from dexnet import (RawPeer, W_IDLIST, W_PACKET, W_PING, W_PONG, W_SUMMARY,
                    W_SUMMARY_SEC, frame, mine, packet_bytes, packet_hash,
                    sanitized, wait_for)

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(LIBFAKETIME),
                       reason="libfaketime not installed"),
    # libfaketime's clock interposition hangs an ASan daemon at start:
    # this runs in the plain build (make test) only
    pytest.mark.skipif(sanitized(), reason="libfaketime under ASan"),
]


class FullResponder:
    """R: a raw peer advertising a full node; answers PING, and every
    SUMMARY with an empty SUMMARY_SEC over the same range ("nothing to
    exchange"); counts the SUMMARY frames.  With `offer` = (t, packet) set,
    it answers the next SUMMARY covering t with one differing second t
    instead, and the IDLIST that follows with the packet: the packet b
    missed is recovered by reconciliation."""

    def __init__(self, port):
        self.p = RawPeer(port).handshake(services=3)
        self.summaries = 0
        self.last = None
        self.closed = False
        self.stop = False
        self.offer = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                f = self.p.read_frame(1.0)
            except (AssertionError, TimeoutError):  # nothing for 1 s
                continue
            except OSError:
                f = None
            if f is None:
                self.closed = True
                return
            t, pl = f
            if t == W_PING:
                self.p.send(frame(W_PONG, pl))
            elif t == W_SUMMARY:
                t0, t1 = struct.unpack("<II", pl[:8])
                offer = self.offer
                if offer and t0 <= offer[0] <= t1:
                    sec = struct.pack("<IIQ", offer[0], 1,
                                      0x5EC0DDBADC0FFEE5)
                    self.p.send(frame(W_SUMMARY_SEC,
                                      struct.pack("<III", t0, t1, 1) + sec))
                else:
                    self.p.send(frame(W_SUMMARY_SEC,
                                      struct.pack("<III", t0, t1, 0)))
                self.summaries += 1
                self.last = time.monotonic()
            elif t == W_IDLIST and self.offer:
                self.p.send(frame(W_PACKET, self.offer[1]))
                self.offer = None

    def close(self):
        self.stop = True
        self.t.join(5)
        self.p.close()


def set_offset(path, seconds):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{seconds:+d}\n")
    os.replace(tmp, path)


def link_id(x):
    peers = x.rpc("getpeerinfo")
    return peers[0]["id"] if len(peers) == 1 else None


def test_wall_clock_steps(make_node, workdir, monkeypatch):
    ts = os.path.join(workdir, "faketime")
    set_offset(ts, 0)
    monkeypatch.setenv("LD_PRELOAD", LIBFAKETIME)
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", ts)
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    a = make_node("a").start()
    b = make_node("b", args=[f"-addnode={a.addr}"]).start()
    monkeypatch.delenv("LD_PRELOAD")
    wait_for(lambda: link_id(a) is not None and link_id(b) is not None, 20,
             what="a-b connected")
    r = FullResponder(b.port)
    try:
        wait_for(lambda: r.summaries >= 2, 20, what="b reconciles with R")
        ida, idb = link_id(a), link_id(b)
        total = 0
        for i, off in enumerate((-10, -3610, -3490)):
            # traffic just before the step: the link has fresh receive times
            a.rpc("DEX_broadcast", f"before-{i}", "0", "clk")
            total += 1
            wait_for(lambda: b.list_all("clk") and
                     len(b.list_all("clk")) >= total, 20,
                     what="pre-step packet at b")
            set_offset(ts, off)
            stepped = time.monotonic()
            n0 = r.summaries
            p = b.rpc("DEX_broadcast", f"after-{i}", "0", "clk")
            total += 1
            a.wait_packet(p["hash"], 20)
            # rounds keep starting (one a second; the limit is generous)
            wait_for(lambda: r.summaries >= n0 + 2, 15,
                     what=f"reconciliation after a step to {off:+d} s")
            # at least 3 s after the step: each node's 1 s timers ran
            wait_for(lambda: time.monotonic() - stepped > 3, 10)
            assert (link_id(a), link_id(b)) == (ida, idb), \
                f"a-b link replaced after the step to {off:+d} s"
            assert not r.closed, "R disconnected"
            # a packet b lacks (from b's clock's last 10 s) comes back by
            # reconciliation with R
            pt = int(time.time()) + off - 10
            pkt = mine(packet_bytes(pt, f"missed {i}\x00".encode(),
                                    tag_a=b"clk"), 12)
            r.offer = (pt, pkt)
            b.wait_packet(packet_hash(pkt).hex(), 20)
            total += 1
        for x in (a, b):
            log = x.log()
            assert "disconnected: timeout" not in log, log[-3000:]
            assert "ping timeout" not in log, log[-3000:]
    finally:
        r.close()
        set_offset(ts, 0)
