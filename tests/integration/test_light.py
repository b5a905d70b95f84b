"""Light clients through full nodes (docs/PROTOCOL.md 7, docs/daemon.md
"Light mode"): a -light=1 node answers DEX_list, DEX_get, DEX_orderbook and
inbox like a full node by asking two full nodes; its broadcasts reach every
full node; a full node that lies (tampered, non-matching or missing
packets) is noticed and dropped; the loss of one full node is survived;
-dexp2p=1 nodes refuse; request floods and malformed requests get the
asking peer dropped.

Topology: full nodes A and B (A dials B), light node L (-connect to both,
-listen=0); raw Python peers for the server side and for the lying node.
"""

import json
import socket
import struct
import threading
import time

import pytest

from dexnet import (HOST, RawPeer, W_PACKET, W_PING, W_PONG, W_VERACK,
                    W_VERSION, WIRE_MAX_PAYLOAD, frame, mine, packet_bytes,
                    packet_hash, pow_info, version_payload, wait_for)

W_LLIST, W_LGET, W_LANSWER, W_LSUB, W_LUNSUB, W_LPUSH, W_LRELAY = range(
    0x14, 0x1b)
LS_MORE, LS_DONE, LS_PAGE, LS_REFUSED, LS_NOTFOUND, LS_REJECTED = range(6)
SVC_DEXP2P, SVC_FULL, SVC_LIGHT = 1, 2, 4
U64 = (1 << 64) - 1


# ------------------------------------------------------------ wire helpers
def lfilter(ta=b"", tb=b"", pk=b"", minp=0, min_a=0, max_a=U64, min_b=0,
            max_b=U64, since=0):
    return (bytes([len(ta)]) + ta + bytes([len(tb)]) + tb +
            bytes([len(pk)]) + pk + bytes([minp]) +
            struct.pack("<QQQQI", min_a, max_a, min_b, max_b, since))


def llist(reqid, f, after=b"", mx=4096, stop=b""):
    return (struct.pack("<I", reqid) + f + bytes([len(after)]) + after +
            bytes([len(stop)]) + stop + struct.pack("<H", mx))


def entries(p):
    out, off = [], 0
    while off < len(p):
        rt, n = struct.unpack("<II", p[off:off + 8])
        out.append((rt, p[off + 8:off + 8 + n]))
        off += 8 + n
    return out


def answer(p):
    reqid, status = struct.unpack("<IB", p[:5])
    return reqid, status, entries(p[5:])


def entry(pkt, rt=None):
    return struct.pack("<II", int(time.time()) if rt is None else rt,
                       len(pkt)) + pkt


def read_answer(peer, timeout=10):
    """Frames of one whole answer: (reqid, final status, packets)."""
    pkts = []
    while True:
        reqid, st, es = answer(peer.expect(W_LANSWER, timeout))
        pkts += [e[1] for e in es]
        if st != LS_MORE:
            return reqid, st, pkts


def light_peer(node, version=3, services=SVC_DEXP2P | SVC_LIGHT):
    return RawPeer(node.port).handshake(version=version, services=services,
                                        txpowbits=node.txpowbits)


def order(node, payload, a="1", b="2", prio=0, ta="BTC", tb="KMD", pk=""):
    return node.rpc("DEX_broadcast", payload, str(prio), ta, tb, pk, a, b)


# --------------------------------------------------------------- fixtures
@pytest.fixture
def fulls(make_node):
    b = make_node("B", args=["-connect=127.0.0.1:1"]).start()
    a = make_node("A", args=[f"-connect={b.addr}"]).start()
    wait_for(lambda: a.rpc("getinfo")["connections"] == 1, 20,
             what="A-B connected")
    return a, b


def start_light(make_node, servers, name="L"):
    lt = make_node(name, args=["-light=1", "-listen=0"] +
                   [f"-connect={s}" for s in servers]).start()
    return lt


def servers_of(lt):
    return [p for p in lt.rpc("getpeerinfo") if p["dexp2p"] == 2]


def wait_servers(lt, n):
    wait_for(lambda: len(servers_of(lt)) >= n, 20,
             what=f"light node connected to {n} full nodes")


def same_packet(lp, fp, recvtimes):
    """A light node's packet object equals a full node's but recvtime,
    which is one of the full nodes' (the earliest it was told)."""
    assert list(lp.keys()) == list(fp.keys())
    for k in fp:
        if k == "recvtime":
            assert lp[k] in recvtimes, (lp[k], recvtimes)
        else:
            assert lp[k] == fp[k], (k, lp[k], fp[k])


def by_hash(res):
    return {m["hash"]: m for m in res["matches"]}


# ---------------------------------------------------------------- tests
def test_light_answers_like_a_full_node(make_node, fulls):
    a, b = fulls
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    info = lt.rpc("getinfo")
    assert info["light"] is True and "light" not in a.rpc("getinfo")
    assert lt.stats()["light"] is True and "light" not in a.stats()
    assert list(info)[-1] == "light"     # after the documented keys
    lpk = lt.pubkey()
    apk = a.pubkey()
    # plain and signed orders both ways, an inbox message to L, noise
    o1 = order(a, "ask1", "1", "100")
    o2 = order(b, "ask2", "2", "190", prio=1)
    o3 = order(a, "signed ask", "3", "300", pk=apk)
    o4 = order(b, "bid1", "50", "0.5", ta="KMD", tb="BTC")
    o5 = order(a, "to be cancelled", "4", "400", pk=apk)
    secret = a.rpc("DEX_broadcast", "hello light", "0", "inbox", "", lpk)
    a.rpc("DEX_broadcast", "ffff")            # 10 general packets, not asked
    a.rpc("DEX_cancel", str(o5["id"]))
    for x in (o1, o2, o3, o4, o5, secret):
        b.wait_packet(x["hash"])
        a.wait_packet(x["hash"])
    wait_for(lambda: a.fingerprint() == b.fingerprint(), 20,
             what="A and B synced")
    rt = {}
    for n in (a, b):
        for m in n.rpc("DEX_list", "", "0", "BTC", "KMD")["matches"]:
            rt.setdefault(m["hash"], set()).add(m["recvtime"])

    # DEX_list: every field, the order, n, the echoed filters
    fl = a.rpc("DEX_list", "", "0", "BTC", "KMD")
    ll = lt.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert [m["hash"] for m in ll["matches"]] == \
        [m["hash"] for m in fl["matches"]] or \
        sorted(by_hash(ll)) == sorted(by_hash(fl))
    assert sorted(by_hash(ll)) == sorted(by_hash(fl)) and fl["n"] == 4
    for h, m in by_hash(fl).items():
        same_packet(by_hash(ll)[h], m, rt[h])
    assert {k: v for k, v in ll.items() if k != "matches"} == \
        {k: v for k, v in fl.items() if k != "matches"}
    assert by_hash(ll)[o5["hash"]]["cancelled"] != 0   # cancel applied
    # filters: minpriority, amounts, pubkey
    for args in (["", "1", "BTC", "KMD"],
                 ["", "0", "BTC", "KMD", "", "2", "3"],
                 ["", "0", "BTC", "", apk]):
        f, l_ = a.rpc("DEX_list", *args), lt.rpc("DEX_list", *args)
        assert sorted(by_hash(l_)) == sorted(by_hash(f)), args
    # DEX_get by id and by hash
    for key in (str(o3["id"]), o2["hash"]):
        fg, lg = a.rpc("DEX_get", key), lt.rpc("DEX_get", key)
        same_packet(lg, fg, rt[fg["hash"]])
    miss = lt.rpc("DEX_get", "12345")
    assert miss == a.rpc("DEX_get", "12345")
    # DEX_orderbook: both sides, the cancelled order gone
    ob_f = a.rpc("DEX_orderbook", "", "0", "BTC", "KMD")
    ob_l = lt.rpc("DEX_orderbook", "", "0", "BTC", "KMD")
    assert ob_l == ob_f and len(ob_f["asks"]) == 3 and ob_f["bids"]
    # inbox: decrypted on the light node only (same fields otherwise)
    fi = a.rpc("DEX_list", "", "0", "inbox", "", lpk)
    li = lt.rpc("DEX_list", "", "0", "inbox", "", lpk)
    assert li["n"] == fi["n"] == 1
    lm, fm = li["matches"][0], fi["matches"][0]
    assert lm["decrypted"] == "hello light" and fm.get("decrypted") != \
        "hello light"
    for k in ("hash", "id", "timestamp", "tagA", "pubkey", "payload",
              "priority", "cancelled"):
        assert lm[k] == fm[k], k
    # the light node holds only what it asked: not the 10 general ones,
    # and it disseminates nothing itself
    assert lt.stats()["ram"] < a.stats()["ram"] - 5
    assert lt.stats()["sent"] == 0
    # the full nodes count it as light and push it nothing
    for n in (a, b):
        ps = [p for p in n.rpc("getpeerinfo") if p.get("light")]
        assert len(ps) == 1 and ps[0]["packetssent"] == 0
        assert ps[0]["lightstats"]["requests"] >= 5
    srv = lt.stats()["lightclient"]["servers"]
    assert len(srv) == 2 and all(s["invalid"] == 0 and s["omitted"] == 0
                                 for s in srv)
    # a filter asked again is incremental: nothing new, no packet resent
    def sent_to_light():
        return [p for p in a.rpc("getpeerinfo")
                if p.get("light")][0]["lightstats"]["packets"]
    before = sent_to_light()
    assert lt.rpc("DEX_list", "", "0", "BTC", "KMD")["n"] == 4
    assert sent_to_light() == before
    # live filters: a new order is pushed to the light node at once
    lc = lt.stats()["lightclient"]
    assert lc["livefilters"] >= 2        # BTC/KMD and the cancels
    pushed0 = sum(s["pushed"] for s in lc["servers"])
    o6 = order(b, "new one")
    wait_for(lambda: sum(s["pushed"] for s in
                         lt.stats()["lightclient"]["servers"]) > pushed0,
             10, what="new order pushed to the light node")
    res = lt.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert res["n"] == 5 and res["matches"][0]["hash"] == o6["hash"]
    same_packet(res["matches"][0], b.rpc("DEX_get", o6["hash"]),
                {b.rpc("DEX_get", o6["hash"])["recvtime"],
                 a.rpc("DEX_get", o6["hash"])["recvtime"]})


def test_light_broadcast_reaches_every_full_node(make_node, fulls):
    a, b = fulls
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    o = lt.rpc("DEX_broadcast", "from light", "0", "BTC", "KMD", "", "1",
               "2")
    assert o["tagA"] == "BTC" and o["payload"] == "from light"
    for n in (a, b):
        got = n.wait_packet(o["hash"], 20)
        assert got["id"] == o["id"] and got["payload"] == "from light"
    # signed order and cancel by id, made on the light node
    s = lt.rpc("DEX_broadcast", "light signed", "0", "BTC", "KMD",
               lt.pubkey(), "1", "2")
    a.wait_packet(s["hash"])
    c = lt.rpc("DEX_cancel", str(s["id"]))
    for n in (a, b):
        n.wait_packet(c["hash"])
        wait_for(lambda: n.rpc("DEX_get", s["hash"])["cancelled"] != 0,
                 10, what="cancel applied on the full node")
    assert lt.rpc("DEX_get", s["hash"])["cancelled"] != 0


def test_light_survives_loss_of_a_full_node(make_node, fulls):
    a, b = fulls
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    o1 = order(a, "before")
    b.wait_packet(o1["hash"])
    assert lt.rpc("DEX_list", "", "0", "BTC", "KMD")["n"] == 1
    b.stop()
    wait_for(lambda: len(servers_of(lt)) == 1, 20, what="B gone")
    o2 = order(a, "after")
    t0 = time.monotonic()
    wait_for(lambda: sorted(by_hash(lt.rpc("DEX_list", "", "0", "BTC",
                                           "KMD")))
             == sorted([o1["hash"], o2["hash"]]), 10, what="o2 listed")
    assert time.monotonic() - t0 < 4
    # and its own packets still go out
    o3 = lt.rpc("DEX_broadcast", "light after loss", "0", "BTC", "KMD")
    a.wait_packet(o3["hash"])


def test_light_survives_a_silent_full_node(make_node, fulls):
    # a "full node" that takes the requests and never answers: the call
    # ends at the 4 s deadline with the other node's answer, and the silent
    # one is left aside for the next calls
    a, b = fulls
    fake = FakeFull(lambda t, pl: [])
    o = order(a, "real")
    lt = start_light(make_node, [a.addr, fake.addr])
    wait_servers(lt, 2)
    t0 = time.monotonic()
    res = lt.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert [m["hash"] for m in res["matches"]] == [o["hash"]]
    assert 3.5 < time.monotonic() - t0 < 10
    s = [s for s in lt.stats()["lightclient"]["servers"]
         if s["addr"] == fake.addr][0]
    assert s["timeouts"] >= 1
    o2 = order(a, "real 2")
    t0 = time.monotonic()
    res = lt.rpc("DEX_get", str(o2["id"]))
    assert res["hash"] == o2["hash"] and time.monotonic() - t0 < 2
    fake.stop = True


# ---- a lying full node: a raw Python peer the light node dials ----
class FakeFull:
    """Listens; the light node connects; answers light requests with
    `lie(frame)` (a callable returning the LANSWER payloads to send)."""

    def __init__(self, lie, push=None, lsub=None):
        self.lie = lie
        self.push = push             # a packet pushed on every LSUB
        self.lsub = lsub             # LSUB payload -> status answered
        self.srv = socket.socket()
        self.srv.bind((HOST, 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.closed = threading.Event()
        self.asked = 0
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    def run(self):
        self.srv.settimeout(30)
        try:
            s, _ = self.srv.accept()
        except OSError:
            return
        p = RawPeer.__new__(RawPeer)
        p.sock, p.buf = s, b""
        p.expect(W_VERSION)
        p.send(frame(W_VERSION, version_payload(
            version=3, services=SVC_DEXP2P | SVC_FULL, ua=b"/liar:0/")))
        p.send(frame(W_VERACK))
        while not self.stop:
            try:
                f = p.read_frame(1.0)
            except (AssertionError, TimeoutError):   # nothing this second
                continue
            except OSError:      # reset by the light node
                f = None
            if f is None:
                self.closed.set()
                return
            try:
                self.answer(p, *f)
            except OSError:      # the light node closed while we wrote
                self.closed.set()
                return

    def answer(self, p, t, pl):
        if t == W_PING:
            p.send(frame(W_PONG, pl))
        elif t in (W_LLIST, W_LGET):
            self.asked += 1
            for out in self.lie(t, pl):
                p.send(frame(W_LANSWER, out))
        elif t == W_LSUB and self.lsub is not None:
            p.send(frame(W_LANSWER, pl[:4] + bytes([self.lsub(pl)])))
        elif t == W_LSUB and self.push is not None:
            subid = pl[:4]
            p.send(frame(W_LANSWER, subid + bytes([LS_DONE])))
            p.send(frame(W_LPUSH, subid + entry(self.push)))


def good(tag_a=b"BTC", tag_b=b"KMD", t=None, payload=b"liar\x00"):
    t = int(time.time()) if t is None else t
    return mine(packet_bytes(t, payload, tag_a=tag_a, tag_b=tag_b), 12)


def tampered():
    pkt = bytearray(good(payload=b"honest order\x00"))
    while True:
        pkt[-6] ^= 0x01      # a payload byte: the hash changes, the proof
        valid, prio, _ = pow_info(bytes(pkt), 12)   # of work breaks
        if not (valid and prio >= 0):
            return bytes(pkt)


def wait_liar_noticed(lt, fake, key):
    def noticed():
        for s in lt.stats()["lightclient"]["servers"]:
            if s["addr"] == fake.addr and s[key] >= 1:
                return s
    s = wait_for(noticed, 20, what=f"liar's {key} counted")
    assert fake.closed.wait(10), "light node did not drop the liar"
    return s


@pytest.mark.parametrize("kind", ["tampered", "nomatch", "push"])
def test_lying_full_node_is_dropped(make_node, fulls, kind):
    a, b = fulls
    bad = tampered() if kind == "tampered" else good(tag_a=b"ETH")

    def lie(t, pl):
        reqid = struct.unpack("<I", pl[:4])[0]
        if kind == "push":           # honest answers, a lying push
            return [struct.pack("<IB", reqid, LS_DONE)]
        return [struct.pack("<IB", reqid, LS_DONE) + entry(bad)]
    fake = FakeFull(lie, push=bad if kind == "push" else None)
    o = order(a, "real")
    lt = start_light(make_node, [a.addr, fake.addr])
    wait_servers(lt, 2)
    res = lt.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert [m["hash"] for m in res["matches"]] == [o["hash"]]
    s = wait_liar_noticed(lt, fake, "invalid" if kind == "tampered"
                          else "nomatch")
    if kind == "push":
        assert s["pushed"] == 0      # not stored
    assert s["distrusted"] is True
    assert lt.stats()["lightclient"]["lies"] >= 1
    assert lt.rpc("DEX_get", packet_hash(bad).hex()).get("result") == \
        "error"                       # never stored
    # answers keep coming from the honest node (pushed or asked: within
    # milliseconds, so polled)
    o2 = order(a, "real 2")
    wait_for(lambda: sorted(by_hash(lt.rpc("DEX_list", "", "0", "BTC",
                                           "KMD")))
             == sorted([o["hash"], o2["hash"]]), 10, what="o2 listed")
    fake.stop = True


def test_full_node_omitting_packets_is_noticed(make_node, fulls):
    a, b = fulls

    def lie(t, pl):              # "complete" and empty: omits everything
        reqid = struct.unpack("<I", pl[:4])[0]
        return [struct.pack("<IB", reqid, LS_DONE)]
    fake = FakeFull(lie)
    # packets 30 s old, so no honest node could still lack them
    raw = light_peer(a, version=1, services=SVC_DEXP2P)
    old = [good(t=int(time.time()) - 30, payload=b"old %d\x00" % i)
           for i in range(3)]
    for pkt in old:
        raw.send(frame(W_PACKET, pkt))
    for pkt in old:
        a.wait_packet(packet_hash(pkt).hex())
    lt = start_light(make_node, [a.addr, fake.addr])
    wait_servers(lt, 2)
    res = lt.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert res["n"] == 3          # the union: the honest node's
    s = wait_liar_noticed_omit(lt, fake)
    # first handed the packets it lacked (LRELAY), then blamed for
    # leaving them out again
    assert s["suspected"] >= 3 and s["omitted"] >= 3
    raw.close()
    fake.stop = True


def test_honest_node_is_not_framed_by_a_withheld_packet(make_node, fulls):
    # a node returns a valid packet it never gave the network: the honest
    # node lacks it through no fault of its own.  It is handed the packet
    # instead of being blamed, and returns it from then on.
    a, b = fulls
    withheld = good(t=int(time.time()) - 30, payload=b"withheld\x00")

    def answer_withheld(t, pl):
        reqid = struct.unpack("<I", pl[:4])[0]
        return [struct.pack("<IB", reqid, LS_DONE) + entry(withheld)]
    fake = FakeFull(answer_withheld)
    lt = start_light(make_node, [a.addr, fake.addr])
    wait_servers(lt, 2)
    for i in range(4):           # whole asks (a new filter each time)
        lt.rpc("DEX_list", "", "0", "BTC", "KMD", "", "0", str(1000 + i))
    a.wait_packet(packet_hash(withheld).hex(), 10)
    rec = [s for s in lt.stats()["lightclient"]["servers"]
           if s["addr"] == a.addr][0]
    assert rec["suspected"] >= 1 and rec["omitted"] == 0
    assert a.addr in [p["addr"] for p in servers_of(lt)]
    fake.stop = True


def wait_liar_noticed_omit(lt, fake):
    # each answer with omissions scores 34: the third one drops it.  A
    # filter asked again within 30 s is asked incrementally (not compared),
    # so each call here is a new filter (maxA) selecting the same packets.
    for i in range(6):
        if fake.closed.is_set():
            break
        res = lt.rpc("DEX_list", "", "0", "BTC", "KMD", "", "0",
                     str(1000 + i))
        assert res["n"] == 3
    assert fake.closed.wait(10), "omitting node not dropped"
    for s in lt.stats()["lightclient"]["servers"]:
        if s["addr"] == fake.addr:
            return s
    raise AssertionError("no record of the omitting node")


def test_busy_app_does_not_get_the_light_node_dropped(make_node, fulls):
    # 80 different filters at once: far more requests than the full
    # nodes allow (20/s, burst 60); the light node keeps under their limit
    # (answering from its store what it cannot ask) and stays connected
    a, b = fulls
    o = order(a, "x", ta="T7", tb="U")
    b.wait_packet(o["hash"])
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    for i in range(80):
        lt.rpc("DEX_list", "", "0", f"T{i}", "U")
    srv = lt.stats()["lightclient"]["servers"]
    assert sum(s["ratelimited"] for s in srv) > 0
    assert len(servers_of(lt)) == 2
    for n in (a, b):
        ps = [p for p in n.rpc("getpeerinfo") if p.get("light")]
        assert len(ps) == 1 and ps[0]["lightstats"]["refused"] == 0
    res = wait_for(lambda: lt.rpc("DEX_list", "", "0", "T7", "U")["n"] == 1,
                   10, what="answers again once the budget refills")
    assert res


# ---- the server side, spoken to directly ----
def test_full_node_serves_list_get_sub_relay(make_node, fulls):
    a, b = fulls
    o1 = order(a, "one", "1", "10")
    o2 = order(a, "two", "5", "10", prio=1)
    order(a, "other pair", ta="LTC")
    p = light_peer(a)
    # list with filters and a page of one, then the cursor
    p.send(frame(W_LLIST, llist(7, lfilter(b"BTC", b"KMD"), mx=1)))
    rid, st, pk = read_answer(p)
    assert rid == 7 and st == LS_PAGE and len(pk) == 1
    assert packet_hash(pk[0]).hex() == o2["hash"]          # newest first
    p.send(frame(W_LLIST, llist(8, lfilter(b"BTC", b"KMD"),
                                after=packet_hash(pk[0]))))
    rid, st, pk = read_answer(p)
    assert (rid, st) == (8, LS_DONE)
    assert [packet_hash(x).hex() for x in pk] == [o1["hash"]]
    mp = max(o1["priority"], o2["priority"])   # achieved, >= asked
    want = [o["hash"] for o in (o2, o1) if o["priority"] >= mp]
    p.send(frame(W_LLIST, llist(9, lfilter(b"BTC", b"KMD", minp=mp))))
    assert [packet_hash(x).hex() for x in read_answer(p)[2]] == want
    p.send(frame(W_LLIST, llist(10, lfilter(b"BTC", min_a=300000000))))
    assert [packet_hash(x).hex() for x in read_answer(p)[2]] == [o2["hash"]]
    # get by hash, by id, unknown
    p.send(frame(W_LGET, struct.pack("<IB", 11, 1) +
                 bytes.fromhex(o1["hash"])))
    rid, st, pk = read_answer(p)
    assert (rid, st, len(pk)) == (11, LS_DONE, 1)
    assert packet_hash(pk[0]).hex() == o1["hash"]
    p.send(frame(W_LGET, struct.pack("<IBI", 12, 0, o2["id"])))
    rid, st, pk = read_answer(p)
    assert st == LS_DONE and packet_hash(pk[0]).hex() == o2["hash"]
    p.send(frame(W_LGET, struct.pack("<IBI", 13, 0, 424242)))
    assert read_answer(p)[1] == LS_NOTFOUND
    # live filter: a new match is pushed, a non-match is not
    p.send(frame(W_LSUB, struct.pack("<I", 99) + lfilter(b"BTC", b"KMD")))
    assert read_answer(p)[:2] == (99, LS_DONE)
    order(b, "not this pair", ta="DOGE")
    o3 = order(b, "pushed")                  # from B, gossiped to A
    sub, es = struct.unpack("<I", (pl := p.expect(W_LPUSH, 20))[:4])[0], \
        entries(pl[4:])
    assert sub == 99 and packet_hash(es[0][1]).hex() == o3["hash"]
    p.send(frame(W_LUNSUB, struct.pack("<I", 99)))
    # relay: a packet the light peer mined reaches A and B
    pkt = good(payload=b"relayed by a light peer\x00")
    p.send(frame(W_LRELAY, struct.pack("<I", 5) + pkt))
    assert read_answer(p)[:2] == (5, LS_DONE)
    b.wait_packet(packet_hash(pkt).hex())
    # after the unsubscribe nothing more is pushed: the next frame is
    # the answer to a later request, not a push of this order
    # (A pushes while storing, before DEX_broadcast returns, so a push
    # would come before the answer to the request sent afterwards)
    order(a, "after unsub")
    p.send(frame(W_LGET, struct.pack("<IBI", 14, 0, 1)))
    while True:
        f = p.read_frame(10)
        assert f is not None and f[0] != W_LPUSH, "pushed after LUNSUB"
        if f[0] == W_LANSWER:
            break
    p.close()


def test_dexp2p1_node_does_not_answer(make_node):
    r = make_node("R", args=["-dexp2p=1", "-connect=127.0.0.1:1"]).start()
    o = order(r, "held but not served")
    assert r.rpc("DEX_get", o["hash"])["hash"] == o["hash"]
    p = light_peer(r)
    p.send(frame(W_LLIST, llist(3, lfilter(b"BTC", b"KMD"))))
    assert read_answer(p) == (3, LS_REFUSED, [])
    p.send(frame(W_LGET, struct.pack("<IB", 4, 1) + bytes.fromhex(o["hash"])))
    assert read_answer(p) == (4, LS_REFUSED, [])
    # and a light node does not count it as a full node to ask
    lt = start_light(make_node, [r.addr], name="L1")
    wait_for(lambda: lt.rpc("getinfo")["connections"] == 1, 20,
             what="light node connected to the relay-only node")
    assert servers_of(lt) == []
    assert lt.rpc("DEX_list", "", "0", "BTC", "KMD")["n"] == 0
    p.close()


def test_request_abuse_gets_the_peer_dropped(make_node, fulls):
    a, b = fulls
    order(a, "x")
    # a flood: 200 requests at once, past the burst of 60 and 20/s
    p = light_peer(a)
    p.send(b"".join(frame(W_LLIST, llist(i, lfilter(b"BTC")))
                    for i in range(200)))
    assert p.wait_closed(20)
    # malformed: a page of 0, a 16-byte tag, an unknown LGET kind
    for bad in (llist(1, lfilter(b"BTC"), mx=0),
                llist(1, lfilter(b"BTC" * 5 + b"X")),):
        q = light_peer(a)
        q.send(frame(W_LLIST, bad))
        assert q.wait_closed(10)
    q = light_peer(a)
    q.send(frame(W_LGET, struct.pack("<IBI", 1, 7, 0)))
    assert q.wait_closed(10)
    # oversize: a request frame declaring more than WIRE_MAX_PAYLOAD
    q = light_peer(a)
    q.send(frame(W_LLIST, b"", length=WIRE_MAX_PAYLOAD + 1))
    assert q.wait_closed(10)
    # too many live filters: refused, then dropped
    q = light_peer(a)
    q.send(b"".join(frame(W_LSUB, struct.pack("<I", i) + lfilter(b"T%d" % i))
                    for i in range(30)))
    assert q.wait_closed(10)
    # an answer nobody asked for, from a peer, is misbehaviour too
    q = light_peer(a)
    for i in range(6):
        q.send(frame(W_LANSWER, struct.pack("<IB", i, LS_DONE)))
    assert q.wait_closed(10)
    # the node still serves others
    q = light_peer(a)
    q.send(frame(W_LLIST, llist(2, lfilter(b"BTC", b"KMD"))))
    assert read_answer(q)[1] == LS_DONE
    q.close()


def test_large_answers_are_split_and_paged(make_node):
    # 44 packets of 100 KB (4.4 MB): answers are split into frames of at
    # most WIRE_MAX_PAYLOAD and paged at 4 MiB; a light node follows the
    # pages and gets them all
    f = make_node("F", txpowbits=0, args=["-connect=127.0.0.1:1"]).start()
    payload = "ab" * 100000
    hashes = set()
    for i in range(44):
        hashes.add(f.rpc("DEX_broadcast", payload + "%04x" % i, "0", "BIG",
                         "")["hash"])
    p = light_peer(f)
    p.send(frame(W_LLIST, llist(1, lfilter(b"BIG"))))
    frames, got = [], []
    while True:
        pl = p.expect(W_LANSWER, 20)
        assert len(pl) <= WIRE_MAX_PAYLOAD
        rid, st, es = answer(pl)
        frames.append(st)
        got += [e[1] for e in es]
        if st != LS_MORE:
            break
    assert frames[-1] == LS_PAGE and len(frames) >= 4
    assert 40 <= len(got) < 44 and sum(len(x) for x in got) <= 4 << 20
    p.send(frame(W_LLIST, llist(2, lfilter(b"BIG"),
                                after=packet_hash(got[-1]))))
    rest = read_answer(p, 20)
    assert rest[1] == LS_DONE
    assert {packet_hash(x).hex() for x in got + rest[2]} == hashes
    p.close()
    lt = make_node("L", txpowbits=0, args=["-light=1", "-listen=0",
                                           f"-connect={f.addr}"]).start()
    wait_servers(lt, 1)
    res = lt.rpc("DEX_list", "", "0", "BIG")
    assert res["n"] == 44 and set(by_hash(res)) == hashes


def test_own_packets_wait_for_a_full_node(make_node):
    # made while no full node is connected: queued, relayed when one is
    a = make_node("A", args=["-connect=127.0.0.1:1"])
    lt = start_light(make_node, [a.addr])
    o = lt.rpc("DEX_broadcast", "queued", "0", "BTC", "KMD")
    assert lt.stats()["lightclient"]["relayqueue"] == 1
    assert lt.rpc("DEX_list", "", "0", "BTC", "KMD")["n"] == 1   # local
    a.start()
    got = a.wait_packet(o["hash"], 40)
    assert got["payload"] == "queued"
    wait_for(lambda: lt.stats()["lightclient"]["relayqueue"] == 0, 10,
             what="relay queue emptied")


# ------------------------------------------------- subscriptions (events)
def lc_stats(lt):
    return lt.stats()["lightclient"]


def srv_subs(full):
    """Live filters a full node keeps for its light peers."""
    return [p["lightstats"]["subscriptions"] for p in full.rpc("getpeerinfo")
            if p.get("light")]


def same_entry(got, lt, full_nodes):
    """A subscription's entry equals the light node's DEX_list entry;
    recvtime is one of the full nodes' (the light node keeps the earliest
    it was told, which a later answer may lower)."""
    h = got["hash"]
    want = [m for m in lt.rpc("DEX_list", "", "0", got["tagA"])["matches"]
            if m["hash"] == h]
    assert want, h
    rts = {f.rpc("DEX_get", h)["recvtime"] for f in full_nodes}
    same_packet(got, want[0], rts)
    assert got["recvtime"] in rts and want[0]["recvtime"] in rts


def test_light_subscriptions_follow_the_network(make_node, fulls):
    """/events and DEX_wait on a light node with no DEX_list before: the
    subscription keeps its filter (and "cancel") live on the full nodes,
    fetches the held matches, gets a packet broadcast on a full node and
    its cancel, and releases the filters when it ends."""
    from test_events import SSE
    a, b = fulls
    apk = a.pubkey()
    held = order(a, "held before", ta="SUBT", pk=apk)
    b.wait_packet(held["hash"])
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    lc = lc_stats(lt)
    assert lc["livefilters"] == 0 and lc["subfilters"] == 0
    s = SSE(lt, {"tagA": "SUBT"})
    s.wait(SSE.eose, what="eose")
    assert s.status == 200
    wait_for(lambda: lc_stats(lt)["livefilters"] == 2, 20,
             what="the subscription's live filters on the full nodes")
    assert lc_stats(lt)["subfilters"] == 2       # SUBT and cancel
    assert lc_stats(lt)["calls"] == 0            # no DEX_list ran
    for n in (a, b):
        assert srv_subs(n) == [2]                # held by each full node
    # the network's held match: fetched by the subscription's first ask,
    # replayed before eose
    before = s.events[:[e for e, _, _ in s.events].index("eose")]
    assert [json.loads(d)["hash"] for e, _, d in before
            if e == "packet"] == [held["hash"]]
    # a packet broadcast on each full node arrives within seconds
    for n, text in ((b, "live from B"), (a, "live from A")):
        o = order(n, text, ta="SUBT")
        t0 = time.monotonic()
        s.wait(lambda x: o["hash"] in {p["hash"] for p in x.of("packet")},
               20, what=text)
        assert time.monotonic() - t0 < 10
    for p in s.of("packet"):
        same_entry(p, lt, (a, b))
    # a cancel made on a full node is an event too
    a.rpc("DEX_cancel", str(held["id"]))
    s.wait(lambda x: held["hash"] in {p["hash"] for p in x.of("cancel")},
           20, what="cancel event")
    # DEX_wait, a new filter: waits, then returns the network's packet
    out = {}

    def waiter():
        out["r"] = lt.rpc("DEX_wait", "", "60", "0", "WAITT")
    th = threading.Thread(target=waiter)
    th.start()
    wait_for(lambda: lc_stats(lt)["subfilters"] == 3, 20,
             what="DEX_wait's filter kept")
    wait_for(lambda: lc_stats(lt)["livefilters"] == 3, 20,
             what="DEX_wait's filter accepted")
    w = order(b, "for the waiter", ta="WAITT")
    th.join(30)
    assert not th.is_alive()
    r = out["r"]
    assert r["n"] == 1 and r["cursor"] == w["hash"]
    same_entry(r["matches"][0], lt, (a, b))
    # released: DEX_wait's filter at once from the subscriptions, from
    # the full nodes after LC_SUB_LINGER_MS; the stream's when it closes
    wait_for(lambda: lc_stats(lt)["subfilters"] == 2, 10,
             what="DEX_wait's filter unused")
    wait_for(lambda: lc_stats(lt)["livefilters"] == 2, 20,
             what="DEX_wait's filter released")
    s.close()
    wait_for(lambda: lc_stats(lt)["subfilters"] == 0, 10,
             what="stream's filters unused")
    wait_for(lambda: lc_stats(lt)["livefilters"] == 0, 20,
             what="stream's filters released")
    # the full nodes dropped them too (LUNSUB)
    for n in (a, b):
        wait_for(lambda: srv_subs(n) == [0], 20,
                 what="live filters gone on the full node")


def test_light_subscription_filters_are_bounded(make_node, fulls):
    """Each distinct subscription filter holds a live filter on the full
    nodes: beyond LC_MAX_SUBLIVE (6, "cancel" included) a new filter is
    refused clearly, a filter already held is not, and a freed one
    makes room."""
    from test_events import SSE
    a, b = fulls
    lt = start_light(make_node, [a.addr, b.addr])
    wait_servers(lt, 2)
    subs = [SSE(lt, {"tagA": f"T{i}"}) for i in range(5)]
    for s in subs:
        s.wait(SSE.eose, what="eose")
    assert lc_stats(lt)["subfilters"] == 6
    extra = SSE(lt, {"tagA": "T5"})
    assert extra.wait_status() == 503
    assert "light node" in extra.error_text()
    r = lt.rpc("DEX_wait", "", "1", "0", "T5")
    assert "light node" in r["error"] and r["limit"] == 5
    # the same filter again shares the live filter
    again = SSE(lt, {"tagA": "T0"})
    again.wait(SSE.eose, what="eose")
    assert lc_stats(lt)["subfilters"] == 6
    subs[1].close()
    wait_for(lambda: lc_stats(lt)["subfilters"] == 5, 10, what="freed")
    later = SSE(lt, {"tagA": "T5"})
    later.wait(SSE.eose, what="eose")
    assert later.status == 200 and lc_stats(lt)["subfilters"] == 6
    # DEX_list still works beside them (local answers when no slot)
    assert lt.rpc("DEX_list", "", "0", "T9")["result"] == "success"
    for s in subs + [again, later]:
        s.close()


def test_light_subscription_filter_refused_is_sent_again(make_node):
    """A full node that did not accept a subscription's live filter (here:
    refused it) is sent it again (LC_SUB_RETRY_MS) until it does."""
    from test_events import SSE
    seen = []

    def lsub(pl):
        seen.append(pl)
        return LS_REFUSED if len(seen) <= 2 else LS_DONE
    fake = FakeFull(lambda t, pl: [pl[:4] + bytes([LS_DONE])], lsub=lsub)
    lt = start_light(make_node, [fake.addr])
    wait_servers(lt, 1)
    s = SSE(lt, {"tagA": "RETRY"})
    s.wait(SSE.eose, what="eose")
    wait_for(lambda: len(seen) >= 2, 10, what="LSUBs")
    wait_for(lambda: lc_stats(lt)["livefilters"] == 2, 20,
             what="the filters accepted after a retry")
    assert len(seen) >= 4 and lc_stats(lt)["subfilters"] == 2
    s.close()
    fake.stop = True
