"""Packets by (timestamp, id): GETPKTS / PKTREPLY / PKTMISS (PROTOCOL.md
3.6) spoken from Python to real daemons.

A -dexp2p=2 node answers with the packets it holds (relay byte 0) and
lists the keys it lacks; malformed or oversized frames close the
connection; a flood of requests is answered BUSY and then the peer is
disconnected.  A -dexp2p=1 node answers nothing and keeps the peer.
Packets in a PKTREPLY, asked for or not, get no more than a PACKET frame
would: checked, stored, and announced rather than pushed.

Topology: one node (txpowbits 12, no peers of its own) <- raw peer(s).
"""

import struct
import threading
import time

import pytest

from dexnet import (RawPeer, W_INV, W_PACKET, W_PING, W_PONG, frame, mine,
                    packet_bytes, packet_hash, pow_info, wait_for)

W_GETPKTS, W_PKTREPLY, W_PKTMISS = 0x10, 0x11, 0x12
BUSY = 1
V3_FULL = {"version": 3, "services": 3}


def good_packet(payload, tag=b"fetch", t=None, relay=3):
    t = int(time.time()) if t is None else t
    return mine(packet_bytes(t, payload, tag_a=tag, relay=relay), 12)


def key_of(pkt):
    t = struct.unpack("<I", pkt[2:6])[0]
    return t, pow_info(pkt, 12)[2]


def getpkts(reqid, keys, count=None):
    n = len(keys) if count is None else count
    return frame(W_GETPKTS, struct.pack("<IH", reqid, n)
                 + b"".join(struct.pack("<II", t, i) for t, i in keys))


def pktreply(reqid, pkts):
    return frame(W_PKTREPLY, struct.pack("<I", reqid) + b"".join(
        struct.pack("<I", len(p)) + p for p in pkts))


def parse_packets(body):
    out = []
    while body:
        n = struct.unpack("<I", body[:4])[0]
        out.append(body[4:4 + n])
        body = body[4 + n:]
    return out


def parse_miss(payload):
    reqid, flags, n = struct.unpack("<IBH", payload[:7])
    keys = [struct.unpack("<II", payload[7 + 8 * i:15 + 8 * i])
            for i in range(n)]
    assert len(payload) == 7 + 8 * n
    return reqid, flags, keys


def answer(peer, reqid, timeout=10):
    """The packets of the PKTREPLY frames for reqid up to its PKTMISS,
    and the PKTMISS (flags, keys)."""
    pkts = []
    deadline = time.monotonic() + timeout
    while True:
        f = peer.read_frame(max(0.01, deadline - time.monotonic()))
        assert f is not None, "node closed the connection"
        if f[0] == W_PKTREPLY:
            assert struct.unpack("<I", f[1][:4])[0] == reqid
            pkts += parse_packets(f[1][4:])
        elif f[0] == W_PKTMISS:
            r, flags, keys = parse_miss(f[1])
            assert r == reqid
            return pkts, flags, keys


def frames_until_pong(peer, nonce):
    """Types of the frames read before the PONG of nonce."""
    peer.send(frame(W_PING, struct.pack("<Q", nonce)))
    got = []
    while True:
        f = peer.read_frame(10)
        assert f is not None, "node closed the connection"
        if f[0] == W_PONG and f[1] == struct.pack("<Q", nonce):
            return got
        got.append(f[0])


def store_packets(node, peer, n, tag=b"fetch"):
    pkts = [good_packet(b"fetch %d\x00" % i, tag) for i in range(n)]
    peer.send(b"".join(frame(W_PACKET, p) for p in pkts))
    for p in pkts:
        node.wait_packet(packet_hash(p).hex(), 10)
    return pkts


@pytest.fixture
def peer(node):
    p = RawPeer(node.port).handshake(**V3_FULL)
    wait_for(lambda: node.rpc("getinfo")["connections"] == 1, 10,
             what="raw peer connected")
    yield p
    p.close()


def test_packets_by_key(node, peer):
    pkts = store_packets(node, peer, 3)
    keys = [key_of(p) for p in pkts]
    t0, id0 = keys[0]
    unknown = [(t0 + 7, id0), (t0, id0 ^ 0x5a5a5a5a)]
    peer.send(getpkts(0xabcdef01, keys + unknown))
    got, flags, missing = answer(peer, 0xabcdef01)
    # each packet once, relay byte 0, the rest byte for byte
    assert sorted(g[1:] for g in got) == sorted(p[1:] for p in pkts)
    assert all(g[0] == 0 for g in got)
    assert flags == 0
    assert sorted(missing) == sorted(unknown)
    # only unknown keys: no PKTREPLY, a PKTMISS naming them all
    peer.send(getpkts(2, unknown))
    got, flags, missing = answer(peer, 2)
    assert got == [] and flags == 0 and sorted(missing) == sorted(unknown)
    # still connected and in good standing
    assert node.rpc("getinfo")["connections"] == 1
    frames_until_pong(peer, 5)


def test_many_keys_several_frames(node, peer):
    """200 packets of ~2 KB asked at once: answered whole (several
    PKTREPLY frames, none over the payload limit), then PKTMISS."""
    t = int(time.time())
    pkts = [good_packet(b"%d" % i + b"y" * 900 + b"\x00", b"many", t)
            for i in range(200)]
    peer.send(b"".join(frame(W_PACKET, p) for p in pkts))
    wait_for(lambda: node.rpc("DEX_list", "", "0", "many")["n"] == 200,
             20, what="200 packets stored")
    peer.send(getpkts(77, [key_of(p) for p in pkts]))
    got, flags, missing = answer(peer, 77)
    assert flags == 0 and missing == []
    assert sorted(g[1:] for g in got) == sorted(p[1:] for p in pkts)


MALFORMED = {
    "count_zero": lambda: frame(W_GETPKTS, struct.pack("<IH", 1, 0)),
    "count_over_1024": lambda: getpkts(1, [(1, i) for i in range(1025)]),
    "count_lies": lambda: getpkts(1, [(1, 2)], count=2),
    "trailing_byte": lambda: frame(W_GETPKTS,
                                   struct.pack("<IHII", 1, 1, 2, 3) + b"\0"),
    "short": lambda: frame(W_GETPKTS, b"\x01\x00\x00"),
    "miss_bad_flags": lambda: frame(W_PKTMISS, struct.pack("<IBH", 1, 2, 0)),
    "miss_count_lies": lambda: frame(W_PKTMISS,
                                     struct.pack("<IBH", 1, 0, 3) + b"\0" * 8),
    "reply_no_packet": lambda: frame(W_PKTREPLY, struct.pack("<I", 1)),
    "reply_entry_past_end": lambda: frame(
        W_PKTREPLY, struct.pack("<II", 1, 500) + b"\0" * 100),
    "reply_entry_len_zero": lambda: frame(W_PKTREPLY,
                                          struct.pack("<II", 1, 0)),
    "reserved_0x13": lambda: frame(0x13, b""),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_disconnects(node, peer, name):
    peer.send(MALFORMED[name]())
    assert peer.wait_closed(15)
    wait_for(lambda: node.rpc("getinfo")["connections"] == 0, 10,
             what="peer gone")
    # the node still answers others
    p2 = RawPeer(node.port).handshake(**V3_FULL)
    try:
        p2.send(getpkts(3, [(1, 1)]))
        assert answer(p2, 3)[2] == [(1, 1)]
    finally:
        p2.close()


def test_bad_packet_in_reply_disconnects(node, peer):
    bad = mine(packet_bytes(int(time.time()), b"x\x00", tag_a=b"bad"), 12,
               want=lambda valid, prio: not valid)
    peer.send(pktreply(1, [bad]))
    assert peer.wait_closed(15)
    assert node.rpc("DEX_list", "", "0", "bad")["n"] == 0


def test_flood_rate_limited(node, peer):
    """Full requests of unknown keys as fast as the socket takes them:
    past the key budget (262,144 keys, then 131,072/s) each request is
    answered BUSY without a lookup and is a misbehaviour point: the peer is
    disconnected (a local peer is not banned: it may come back)."""
    req = getpkts(9, [(1, i) for i in range(1024)])
    answered = []
    done = threading.Event()

    def reader():
        try:
            while True:
                f = peer.read_frame(30)
                if f is None:
                    break
                if f[0] == W_PKTMISS:
                    answered.append(parse_miss(f[1])[1])
        except Exception:  # noqa: BLE001 - a timeout ends it too
            pass
        done.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    sent = 0
    t0 = time.monotonic()
    try:
        while sent < 4000 and time.monotonic() - t0 < 30:
            peer.sock.sendall(req * 20)
            sent += 20
    except OSError:
        pass   # closed by the node
    assert done.wait(30), "connection still open after the flood"
    # answered while within the budget (the node's unsent answers are
    # lost when it closes the connection)
    assert answered.count(0) >= 1, answered[:5]
    wait_for(lambda: "disconnected: getpkts rate" in node.log(), 10,
             what="disconnected for the request rate")
    wait_for(lambda: node.rpc("getinfo")["connections"] == 0, 10,
             what="flooder gone")
    p2 = RawPeer(node.port).handshake(**V3_FULL)
    p2.send(getpkts(4, [(1, 1)]))
    assert answer(p2, 4)[2] == [(1, 1)]
    p2.close()


def test_answer_size_cap(make_node):
    """One request is answered with at most 2 MiB of packets (the first
    always): the keys past it come back BUSY, to be asked again."""
    node = make_node("big", txpowbits=0,
                     args=["-connect=127.0.0.1:1"]).start()
    peer = RawPeer(node.port).handshake(txpowbits=0, **V3_FULL)
    try:
        t = int(time.time())
        pkts = [mine(packet_bytes(t, b"%d" % i + b"b" * (700 << 10)
                                  + b"\x00", tag_a=b"big"), 0)
                for i in range(3)]
        for p in pkts:
            peer.send(frame(W_PACKET, p))
            node.wait_packet(packet_hash(p).hex(), 20)
        keys = [(t, pow_info(p, 0)[2]) for p in pkts]
        peer.send(getpkts(31, keys))
        got, flags, missing = answer(peer, 31, timeout=20)
        assert len(got) == 2 and flags == BUSY and len(missing) == 1
        served = {g[1:] for g in got}
        rest = [k for k, p in zip(keys, pkts) if p[1:] not in served]
        assert missing == rest
        # asked again alone, it comes
        peer.send(getpkts(32, missing))
        got, flags, missing2 = answer(peer, 32, timeout=20)
        assert len(got) == 1 and flags == 0 and missing2 == []
        assert got[0][1:] not in served
    finally:
        peer.close()


def test_reply_gets_no_more_than_a_push(node, peer):
    """A packet pushed in a PACKET frame with hop budget left is pushed on
    to another peer; the same kind of packet in an (unsolicited) PKTREPLY
    is stored too but only announced (INV): the reply path cannot buy
    eager relaying."""
    watcher = RawPeer(node.port).handshake()   # a v1 peer, not full
    wait_for(lambda: node.rpc("getinfo")["connections"] == 2, 10,
             what="second peer connected")
    try:
        def seen_as(pkt):
            sid = packet_hash(pkt)[8:16]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                f = watcher.read_frame(10)
                assert f is not None
                if f[0] == W_PACKET and f[1][1:] == pkt[1:]:
                    return "push"
                if f[0] == W_INV and sid in f[1][4:]:
                    return "announce"
            raise AssertionError("packet never relayed")

        pushed = good_packet(b"as push\x00", relay=3)
        peer.send(frame(W_PACKET, pushed))
        assert seen_as(pushed) == "push"
        replied = good_packet(b"as reply\x00", relay=3)
        peer.send(pktreply(12345, [replied]))
        node.wait_packet(packet_hash(replied).hex(), 10)
        assert seen_as(replied) == "announce"
        # the sender is not punished for an answer we did not ask for
        frames_until_pong(peer, 6)
    finally:
        watcher.close()


def test_dexp2p1_does_not_answer(make_node):
    node = make_node("light", args=["-connect=127.0.0.1:1",
                                    "-dexp2p=1"]).start()
    peer = RawPeer(node.port).handshake(**V3_FULL)
    try:
        pkts = store_packets(node, peer, 2)
        keys = [key_of(p) for p in pkts]
        # many requests, some of them over any budget: no answer at all,
        # and the peer stays connected
        for r in range(300):
            peer.send(getpkts(r, keys + [(1, i) for i in range(1000)]))
        got = frames_until_pong(peer, 7)
        assert W_PKTREPLY not in got and W_PKTMISS not in got, got
        assert node.rpc("getinfo")["connections"] == 1
        # a malformed one still breaks the protocol
        peer.send(frame(W_GETPKTS, struct.pack("<IH", 1, 0)))
        assert peer.wait_closed(15)
    finally:
        peer.close()


# ------------------------------------------------- the requesting side
# (needs the file methods: DEX_subscribe is what calls node_fetch_keys)

class Server:
    """Raw peers connected to a node, served from one thread: each records
    the GETPKTS it gets and, if `packets` is given (key -> packet bytes),
    answers them as a -dexp2p=2 node would."""

    def __init__(self):
        self.peers = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.th = threading.Thread(target=self.run, daemon=True)

    def add(self, port, name, packets=None, **kw):
        p = RawPeer(port).handshake(**kw)
        p.name, p.packets, p.requests = name, packets, []
        p.sock.setblocking(False)
        self.peers.append(p)
        return p

    def run(self):
        import select
        while not self.stop.is_set():
            socks = [p.sock for p in self.peers]
            r, _, _ = select.select(socks, [], [], 0.05)
            for p in self.peers:
                if p.sock not in r:
                    continue
                try:
                    with self.lock:
                        b = p.sock.recv(1 << 16)
                except (BlockingIOError, ConnectionResetError):
                    continue
                p.buf += b
                while len(p.buf) >= 9:
                    n = struct.unpack("<I", p.buf[5:9])[0]
                    if len(p.buf) < 9 + n:
                        break
                    t, body = p.buf[4], p.buf[9:9 + n]
                    p.buf = p.buf[9 + n:]
                    if t == W_GETPKTS:
                        self.on_request(p, body)
                    elif t == W_PING:   # keep the link alive
                        self.send(p, frame(W_PONG, body))

    def on_request(self, p, body):
        reqid, count = struct.unpack("<IH", body[:6])
        assert len(body) == 6 + 8 * count and 1 <= count <= 1024
        keys = [struct.unpack("<II", body[6 + 8 * i:14 + 8 * i])
                for i in range(count)]
        p.requests.append((time.monotonic(), reqid, keys))
        if p.packets is None:
            return
        found = [p.packets[k] for k in keys if k in p.packets]
        miss = [k for k in keys if k not in p.packets]
        out = pktreply(reqid, found) if found else b""
        out += frame(W_PKTMISS, struct.pack("<IBH", reqid, 0, len(miss))
                     + b"".join(struct.pack("<II", *k) for k in miss))
        self.send(p, out)

    def send(self, p, data):
        with self.lock:
            p.sock.setblocking(True)
            p.sock.sendall(data)
            p.sock.setblocking(False)

    def close(self):
        self.stop.set()
        self.th.join(5)
        for p in self.peers:
            p.close()


def published(make_node, workdir, size):
    """A publisher node holding a fresh publication of `size` bytes, and
    its packets as raw bytes (asked of it by key): fragments, locators,
    hash packet."""
    pytest.importorskip("filesutil")    # the file methods
    import os
    from filesutil import files_node, start_all, write_file
    pub = files_node(make_node, workdir, "pub")
    start_all([pub], [0])
    data = os.urandom(size)
    write_file(pub, "f.bin", data)
    r = pub.rpc("DEX_publish", "f.bin", "0")
    assert r["result"] == "success", r
    pk = pub.pubkey()
    objs = (pub.rpc("DEX_list", "0", "0", "f.bin", "data", pk)["matches"]
            + pub.rpc("DEX_list", "0", "0", "f.bin", "locators",
                      pk)["matches"]
            + pub.rpc("DEX_list", "0", "0", "files", "f.bin", pk)["matches"])
    keys = [(o["timestamp"], o["id"]) for o in objs]
    q = RawPeer(pub.port).handshake(txpowbits=0, **V3_FULL)
    pkts, want = [], keys
    for reqid in range(1, 20):          # 2 MiB per answer: ask the rest
        q.send(getpkts(reqid, want))
        got, flags, want = answer(q, reqid)
        pkts += got
        if not want:
            break
        assert flags == BUSY
    q.close()
    assert len(pkts) == len(keys)
    raw = {}
    for p in pkts:
        raw[(struct.unpack("<I", p[2:6])[0], pow_info(p, 0)[2])] = p
    frags = {k: raw[k] for k in keys[:-2]}
    return pub, r, data, frags, raw[keys[-2]], raw[keys[-1]]


def test_requester_asks_answering_peers(make_node, workdir):
    """A subscriber holding the locators and hash packets but no fragment
    asks only peers of version >= 3 with the FULL service; one that never
    answers is given up after the 3 s timeout and the keys go to one that
    does; the file completes from the answers."""
    pytest.importorskip("filesutil")    # the file methods
    from filesutil import Call, files_node, output_path, sha, start_all
    pub, r, data, frags, loc, fh = published(make_node, workdir, 45000)
    sub = files_node(make_node, workdir, "sub", extra=["-debug=net"])
    start_all([sub], [0])
    srv = Server()
    v1 = srv.add(sub.port, "v1", txpowbits=0, version=1, services=3)
    light = srv.add(sub.port, "light", txpowbits=0, version=3, services=1)
    silent = srv.add(sub.port, "silent", txpowbits=0, **V3_FULL)
    wait_for(lambda: sub.rpc("getinfo")["connections"] == 3, 10,
             what="three raw peers")
    srv.th.start()
    try:
        for p in (loc, fh):
            srv.send(silent, frame(W_PACKET, p))
            sub.wait_packet(packet_hash(p).hex(), 10)
        call = Call(sub, "DEX_subscribe", "f.bin", "0", "0", pub.pubkey())
        wait_for(lambda: silent.requests, 10, what="silent peer asked")
        t_silent = silent.requests[0][0]
        asked = {k for _, _, ks in silent.requests for k in ks}
        assert asked == set(frags), "not every fragment asked"
        good = srv.add(sub.port, "good", packets=frags, txpowbits=0,
                       **V3_FULL)
        res = call.get(60)
        assert res["result"] == "success", res
        assert res["filehash"] == sha(data)
        with open(output_path(sub, "f.bin", pub.pubkey()), "rb") as f:
            assert f.read() == data
        assert good.requests, "the answering peer was never asked"
        # re-asked only after the silent peer's request timed out
        assert good.requests[0][0] - t_silent >= 2.5
        assert not v1.requests and not light.requests
        # each key asked at most once of each peer
        for p in (silent, good):
            ks = [k for _, _, keys in p.requests for k in keys]
            assert len(ks) == len(set(ks)), p.name
    finally:
        srv.close()


def test_subscribe_fetches_from_full_node(make_node, workdir):
    """Between real daemons: a subscriber holding only the locators and
    hash packets of a 3 MB file subscribes, then connects to the
    publisher (-dexp2p=2): the fragments are asked by (timestamp, id) at
    once and the copy completes; its log counts what the answers
    brought."""
    import re
    pytest.importorskip("filesutil")
    from filesutil import Call, files_node, inject, sha, start_all
    pub, r, data, frags, loc, fh = published(make_node, workdir, 3_000_000)
    sub = files_node(make_node, workdir, "sub", extra=["-debug=net"])
    start_all([sub], [0])
    for p in (loc, fh):
        inject(sub, p)
    call = Call(sub, "DEX_subscribe", "f.bin", "0", "0", pub.pubkey())
    assert sub.rpc("addnode", pub.addr, "onetry") is None
    res = call.get(60)
    assert res["result"] == "success", res
    assert res["filehash"] == sha(data)

    def got():
        n = [int(m) for m in re.findall(r"fetch: asked \d+ keys in \d+ "
                                        r"requests \(\d+ timed out\), got "
                                        r"(\d+) packets", sub.log())]
        return max(n) if n else 0
    wait_for(lambda: got() > 0, 10, what="packets fetched by key")
    assert got() <= len(frags)
