"""A raw TCP peer (Python socket, docs/PROTOCOL.md) against one node:
valid packets are stored; bad packets are counted in DEX_stats dropped by
reason and not stored; frame-level violations close the connection; the
node keeps serving RPC and other peers throughout.

Topology: node "solo" (txpowbits 12, no peers of its own) <- raw peer(s).
"""

import struct
import time

import pytest

from dexnet import (RawPeer, W_PACKET, W_PING, W_PONG, W_VERSION, W_VERACK,
                    WIRE_MAX_PAYLOAD, frame, mine, packet_bytes, packet_hash,
                    pow_info, version_payload, wait_for)


def dropped(node):
    return node.stats()["dropped"]


def wait_counter(node, key, want, timeout=10):
    return wait_for(lambda: dropped(node)[key] >= want, timeout,
                    what=f"dropped.{key} >= {want} (now {dropped(node)})")


@pytest.fixture
def peer(node):
    p = RawPeer(node.port).handshake()
    wait_for(lambda: node.rpc("getinfo")["connections"] == 1, 10,
             what="raw peer counted as connection")
    yield p
    p.close()


def good_packet(payload=b"raw hello\x00", tag=b"raw", t=None, **kw):
    t = int(time.time()) if t is None else t
    return mine(packet_bytes(t, payload, tag_a=tag, **kw), 12)


def test_handshake_and_peerinfo(node, peer):
    info = node.rpc("getpeerinfo")
    assert len(info) == 1
    p = info[0]
    assert p["inbound"] is True and p["subver"] == "/rawtest:0/"
    assert p["version"] == 1 and p["pubkey"] == ""
    # PING is answered with PONG carrying the nonce
    peer.send(frame(W_PING, struct.pack("<Q", 0x1122334455667788)))
    assert peer.expect(W_PONG) == struct.pack("<Q", 0x1122334455667788)


def test_valid_packet_stored(node, peer):
    pkt = good_packet(amount_a=150000000)
    h = packet_hash(pkt).hex()
    peer.send(frame(W_PACKET, pkt))
    got = node.wait_packet(h, 10)
    _, prio, pid = pow_info(pkt, 12)
    assert got["id"] == pid and got["priority"] == prio
    assert got["payload"] == "raw hello" and got["tagA"] == "raw"
    assert got["amountA"] == "1.50000000"
    s = node.stats()
    assert s["received"] >= 1 and s["added"] == 1
    # the same packet again is a duplicate, not a second packet
    peer.send(frame(W_PACKET, pkt))
    wait_for(lambda: node.stats()["duplicates"] == 1, 10, what="duplicate")
    assert node.stats()["ram"] == 1


BAD_PACKETS = {
    "badpow": lambda: mine(packet_bytes(int(time.time()), b"x\x00",
                                        tag_a=b"bad"), 12,
                           want=lambda valid, prio: not valid),
    # beyond the 60 s future hold (closer ones are kept until due)
    "future": lambda: good_packet(t=int(time.time()) + 120),
    "expired": lambda: good_packet(t=int(time.time()) - 3600 - 5),
    # 1100 bytes: penalty 1, so a hash with no extra zero bit is priority -1
    "lowpriority": lambda: mine(packet_bytes(int(time.time()), b"y" * 1060
                                             + b"\x00", tag_a=b"low"), 12,
                                want=lambda valid, prio: valid and prio < 0),
    "oversize": lambda: packet_bytes(int(time.time()),
                                     b"z" * (1048577 - 36), tag_a=b"general"),
    "malformed_kind": lambda: good_packet(kind=b"Z"),
    "malformed_short": lambda: b"\x03Q" + b"\x00" * 20,
    "malformed_taglen": lambda: good_packet(tag=b"T" * 16),
    "malformed_plen": lambda: good_packet(pubkey=b"\x01" + b"\x00" * 10),
    "malformed_nultag": lambda: good_packet(tag=b"a\x00b"),
    "malformed_nopayload": lambda: good_packet(payload=b""),
}


@pytest.mark.parametrize("name", sorted(BAD_PACKETS))
def test_bad_packet_counted(node, peer, name):
    reason = name.split("_")[0]
    pkt = BAD_PACKETS[name]()
    if reason == "oversize":
        assert len(pkt) == 1048577
    before = dropped(node)
    ram = node.stats()["ram"]
    peer.send(frame(W_PACKET, pkt))
    wait_counter(node, reason, before[reason] + 1)
    after = dropped(node)
    for k in after:
        if k != reason:
            assert after[k] == before[k], (k, before, after)
    assert node.stats()["ram"] == ram
    # invalid data closes the sender's connection (PROTOCOL.md 5.5); a
    # packet that is only out of its time window or priority does not
    if reason in ("badpow", "oversize", "malformed"):
        assert peer.wait_closed(15), f"{name}: sender not disconnected"
    else:
        alive = good_packet(payload=b"still here\x00")
        peer.send(frame(W_PACKET, alive))
        node.wait_packet(packet_hash(alive).hex(), 10)
    # node healthy: RPC answers, a valid packet from a new peer is stored
    p2 = RawPeer(node.port).handshake()
    try:
        ok = good_packet(payload=b"after " + name.encode() + b"\x00")
        p2.send(frame(W_PACKET, ok))
        node.wait_packet(packet_hash(ok).hex(), 10)
    finally:
        p2.close()


def test_many_bad_packets_node_survives(node, peer):
    """300 badpow packets in one burst: all counted, node still serves."""
    t = int(time.time())
    burst = b"".join(
        frame(W_PACKET, mine(packet_bytes(t, b"%d\x00" % i, tag_a=b"spam"),
                             12, want=lambda v, p: not v))
        for i in range(300))
    try:
        peer.send(burst)
    except (BrokenPipeError, ConnectionResetError):
        pass   # the node may disconnect a misbehaving peer
    wait_for(lambda: dropped(node)["badpow"] >= 1, 10, what="badpow counted")
    assert node.rpc("DEX_list", "", "0", "spam")["n"] == 0
    assert node.rpc("ping") is None


FRAME_VIOLATIONS = {
    "bad_magic": lambda: frame(W_PING, b"\x00" * 8, magic=b"XXXX"),
    "unknown_type": lambda: frame(0x7F, b""),
    "type_zero": lambda: frame(0x00, b""),
    "oversized_length": lambda: frame(W_PACKET, b"", length=WIRE_MAX_PAYLOAD + 1),
    "huge_length": lambda: frame(W_PACKET, b"", length=0xFFFFFFFF),
    "ping_wrong_size": lambda: frame(W_PING, b"\x00" * 7),
    "second_version": lambda: frame(W_VERSION, version_payload()),
    "inv_count_overrun": lambda: frame(0x08, struct.pack("<I", 5) + b"\x00" * 8),
    "inv_count_zero": lambda: frame(0x08, struct.pack("<I", 0)),
    "empty_packet": lambda: frame(W_PACKET, b""),
}


@pytest.mark.parametrize("name", sorted(FRAME_VIOLATIONS))
def test_frame_violation_disconnects(node, peer, name):
    peer.send(FRAME_VIOLATIONS[name]())
    assert peer.wait_closed(15)
    wait_for(lambda: node.rpc("getinfo")["connections"] == 0, 10,
             what="peer gone from connections")
    assert node.rpc("ping") is None
    # still accepts new peers
    RawPeer(node.port).handshake().close()


@pytest.mark.parametrize("name,data", [
    ("packet_before_version", lambda: frame(W_PACKET, good_packet())),
    ("ping_before_version", lambda: frame(W_PING, b"\x00" * 8)),
    ("garbage", lambda: b"GET / HTTP/1.1\r\n\r\n"),
    ("truncated_version", lambda: frame(W_VERSION, b"\x01\x00")),
])
def test_pre_handshake_violation_disconnects(node, name, data):
    p = RawPeer(node.port)
    try:
        p.send(data())
        assert p.wait_closed(15)
    finally:
        p.close()
    assert node.rpc("getinfo")["connections"] == 0
    assert node.stats()["ram"] == 0, "packet accepted before handshake"


def test_version_mismatch_refused(node):
    cases = [({"txpowbits": 10}, "peer txpowbits 10 != 12"),
             ({"purgetime": 600}, "peer purgetime 600 != 3600"),
             ({"services": 0}, "peer is not a dexp2p node"),
             ({"version": 0}, "peer protocol version 0 < 1")]
    for kw, reason in cases:
        p = RawPeer(node.port)
        try:
            p.send(frame(W_VERSION, version_payload(**kw)))
            # the node may send its VERSION first; it must never complete
            while True:
                f = p.read_frame(15)
                if f is None:
                    break
                assert f[0] != W_VERACK, f"handshake accepted with {kw}"
        finally:
            p.close()
        wait_for(lambda: reason in node.log(), 10,
                 what=f"log line {reason!r}")
    assert node.rpc("getinfo")["connections"] == 0


def test_silent_connection_dropped_at_handshake_timeout(node):
    """A connection that never sends VERSION is closed (10 s rule) and
    does not stop others from connecting meanwhile."""
    p = RawPeer(node.port)
    try:
        q = RawPeer(node.port).handshake()
        q.close()
        t0 = time.monotonic()
        assert p.wait_closed(20)
        assert time.monotonic() - t0 < 15
    finally:
        p.close()


def test_getaddr_answered_once(node, peer):
    """GETADDR is answered once per connection: repeating the 9-byte request
    does not buy another address list (amplification)."""
    from dexnet import W_ADDR, W_GETADDR

    def frames_until_pong(nonce):
        got = []
        while True:
            f = peer.read_frame(10)
            assert f is not None, "node closed the connection"
            if f[0] == W_PONG and f[1] == struct.pack("<Q", nonce):
                return got
            got.append(f[0])

    peer.send(frame(W_GETADDR))
    peer.send(frame(W_PING, struct.pack("<Q", 1)))
    assert frames_until_pong(1).count(W_ADDR) == 1
    for _ in range(5):
        peer.send(frame(W_GETADDR))
    peer.send(frame(W_PING, struct.pack("<Q", 2)))
    assert frames_until_pong(2).count(W_ADDR) == 0
    assert node.rpc("getinfo")["connections"] == 1
