"""Identity, payload forms, orderbook, cancels and anonymous messages
across real daemons (API.md 3.6, 4.5 - 4.8, 6.3, Appendix B).

Topology (all txpowbits 12):   a <- b <- c   (b dials a, c dials b), so
every packet from a reaches c through b and back.
"""

import os
import stat
import time
from decimal import Decimal

import pytest

from dexnet import (RawPeer, W_PACKET, frame, mine, packet_bytes,
                    packet_hash, wait_for)

COIN = 100000000


@pytest.fixture
def abc(net):
    return net(3, [(1, 0), (2, 1)], names=["a", "b", "c"])


def sats(amount):
    return int(Decimal(amount) * COIN)


def get(node, h):
    r = node.rpc("DEX_get", h)
    return r if r.get("hash") == h and "timestamp" in r else None


def wait_get(nodes, h, timeout=20):
    """The packet object of hash h on each node, waiting until all hold it."""
    return [wait_for(lambda n=n: get(n, h), timeout,
                     what=f"{h[:12]} on {n.name}") for n in nodes]


def broadcast(node, *params):
    r = node.rpc("DEX_broadcast", *params)
    assert "hash" in r, r
    return r


# ---------------------------------------------------------------- forms

def test_inbox_signed_and_tampered(abc):
    a, b, c = abc.nodes
    pa, pb = a.pubkey(), b.pubkey()
    assert pa.startswith("01") and len(pa) == 66 and pa != pb

    # inbox a -> b: only b decrypts; everyone sees the sender key
    m = broadcast(a, "deadbeef", "0", "inbox", "", pb)
    assert "decrypted" not in m and m["senderpub"] == pa and m["pubkey"] == pb
    on = dict(zip("abc", wait_get(abc.nodes, m["hash"])))
    assert on["b"]["decrypted"] == "deadbeef" and on["b"]["decryptedhex"] == 1
    for k in "abc":
        assert on[k]["senderpub"] == pa
        assert "error" not in on[k]
    for k in "ac":
        assert "decrypted" not in on[k] and "decryptedhex" not in on[k]
    # payload: spk || nonce || box(sig || P), 136 + 4 bytes
    assert len(on["c"]["payload"]) == 2 * 140
    assert on["c"]["payload"][:64] == pa[2:]

    # signed order: everyone verifies it
    s = broadcast(a, "hello", "0", "BTC", "KMD", pa, "0.1", "100")
    for o in wait_get(abc.nodes, s["hash"]):
        assert o.get("decrypted") == "hello" and o["decryptedhex"] == 0, o
        assert o["senderpub"] == pa and "error" not in o
        assert o["payload"].endswith("68656c6c6f00")

    # rebuild the signed packet's bytes, change one plaintext byte, mine it
    # again and inject it through a raw peer into c: wrong sender everywhere
    payload = bytes.fromhex(s["payload"])
    def rebuilt(pl):
        return mine(packet_bytes(s["timestamp"], pl, tag_a=b"BTC",
                                 tag_b=b"KMD", amount_a=sats(s["amountA"]),
                                 amount_b=sats(s["amountB"]),
                                 pubkey=bytes.fromhex(pa)), 12)
    bad = rebuilt(payload[:-2] + b"X\x00")          # "hellX\0"
    good = rebuilt(payload)                         # same content, new nonce
    peer = RawPeer(c.port).handshake()
    try:
        peer.send(frame(W_PACKET, bad))
        peer.send(frame(W_PACKET, good))
        for o in wait_get(abc.nodes, packet_hash(bad).hex()):
            assert o["error"] == "wrong sender"
            assert "decrypted" not in o
            assert o["senderpub"] == pa      # the key found in the payload
        for o in wait_get(abc.nodes, packet_hash(good).hex()):
            assert o["decrypted"] == "hello" and "error" not in o
    finally:
        peer.close()

    # a non-inbox packet cannot carry someone else's key
    r = a.rpc("DEX_broadcast", "hi", "0", "BTC", "KMD", pb)
    assert r["result"] == "error"


# ------------------------------------------------------------- orderbook

def price_str(p):
    return "%.8f" % (p + 0.0000000049) if p >= 0.00000001 - 1e-15 \
        else "%.15f" % p


def test_orderbook(abc):
    a, b, c = abc.nodes
    pa, pb = a.pubkey(), b.pubkey()
    asks = [  # (node, key, base amount, rel amount)
        (a, pa, "0.1", "100"),      # 1000
        (b, "", "0.5", "510"),      # 1020
        (a, pa, "1", "1000"),       # 1000, larger base: before the first
        (b, pb, "0.3", "100"),      # 333.33...
        (b, pb, "0", "100"),        # zero amount: excluded
    ]
    bids = [  # KMD/BTC packets: base amount = amountB
        (b, pb, "950", "1"),        # 950
        (a, "", "96", "0.1"),       # 960
        (a, pa, "10", "0.01"),      # 1000
    ]
    made = []
    for node, key, va, vb in asks:
        made.append(broadcast(node, "ask", "0", "BTC", "KMD", key, va, vb))
    for node, key, va, vb in bids:
        made.append(broadcast(node, "bid", "0", "KMD", "BTC", key, va, vb))
    for m in made:
        wait_get(abc.nodes, m["hash"])

    ob = c.rpc("DEX_orderbook", "", "0", "BTC", "KMD")
    assert list(ob) == ["asks", "bids", "base", "rel"]
    assert ob["base"] == "BTC" and ob["rel"] == "KMD"
    ah = [e["hash"] for e in ob["asks"]]
    assert ah == [made[3]["hash"], made[2]["hash"], made[0]["hash"],
                  made[1]["hash"]]
    bh = [e["hash"] for e in ob["bids"]]
    assert bh == [made[7]["hash"], made[6]["hash"], made[5]["hash"]]
    e = ob["asks"][0]
    assert list(e) == ["price", "price15", "baseamount", "basesatoshis",
                       "relamount", "relsatoshis", "priority", "pubkey",
                       "timestamp", "hash", "id"]
    assert e["price"] == "333.33333334" == price_str(10**10 / 30000000)
    assert e["price15"] == "%.15f" % (10**10 / 30000000)
    assert e["baseamount"] == "0.30000000" and e["basesatoshis"] == 30000000
    assert e["relamount"] == "100.00000000" and e["relsatoshis"] == 10**10
    assert e["pubkey"] == pb and e["id"] == made[3]["id"]
    assert ob["asks"][1]["price"] == "1000.00000000"
    assert ob["asks"][3]["pubkey"] == ""
    b0 = ob["bids"][0]
    assert b0["baseamount"] == "0.01000000" and b0["relamount"] == "10.00000000"
    assert b0["price"] == "1000.00000000"
    # every node shows the same book (only arrival order could differ, and
    # no tie here depends on it)
    assert a.rpc("DEX_orderbook", "", "0", "BTC", "KMD") == ob

    # maxentries, filters
    two = c.rpc("DEX_orderbook", "2", "0", "BTC", "KMD")
    assert [x["hash"] for x in two["asks"]] == ah[:2]
    assert [x["hash"] for x in two["bids"]] == bh[:2]
    mine_ = c.rpc("DEX_orderbook", "", "0", "BTC", "KMD", pa)
    assert {x["pubkey"] for x in mine_["asks"] + mine_["bids"]} == {pa}
    rng = c.rpc("DEX_orderbook", "", "0", "BTC", "KMD", "", "0.2", "0.5")
    assert [x["baseamount"] for x in rng["asks"]] == ["0.30000000",
                                                       "0.50000000"]
    assert rng["bids"] == []
    relr = c.rpc("DEX_orderbook", "", "0", "BTC", "KMD", "", "", "", "", "100")
    assert all(sats(x["relamount"]) <= 100 * COIN
               for x in relr["asks"] + relr["bids"])
    assert len(relr["bids"]) == 2 and len(relr["asks"]) == 2
    # the reversed market: prices in BTC per KMD, ascending asks
    rev = c.rpc("DEX_orderbook", "", "0", "KMD", "BTC")
    assert [x["hash"] for x in rev["asks"]] == bh
    assert rev["asks"][0]["price"] == "0.00100000"
    assert [x["hash"] for x in rev["bids"]] == ah

    # errors
    assert c.rpc("DEX_orderbook", "-1", "0", "BTC", "KMD") == {
        "result": "error", "error": "maxentries must be a non-negative integer",
        "maxentries": "-1"}
    assert c.rpc("DEX_orderbook", "", "0", "BTC", "") == {
        "result": "error",
        "error": "both tagA (base) and tagB (rel) are required",
        "base": "BTC", "rel": ""}
    assert c.rpc("DEX_orderbook", "", "x")["error"] == \
        "minpriority must be a non-negative integer"
    assert c.rpc("DEX_orderbook", "", "0", "BTC", "KMD", "", "2", "1")[
        "error"] == "minA greater than maxA"
    assert c.rpc("DEX_orderbook", "", "0", "A" * 16, "KMD")["error"] == \
        "tagA longer than 15 bytes"


# --------------------------------------------------------------- cancel

def test_cancel_modes(abc):
    a, b, c = abc.nodes
    pa, pb = a.pubkey(), b.pubkey()
    o1 = broadcast(a, "o1", "0", "BTC", "KMD", pa, "1", "100")
    o2 = broadcast(a, "o2", "0", "BTC", "KMD", pa, "1", "101")
    o3 = broadcast(a, "o3", "0", "LTC", "KMD", pa, "1", "50")
    o4 = broadcast(a, "o4", "0", "DOGE", "KMD", pa, "1", "5")
    ob_ = broadcast(b, "ob", "0", "BTC", "KMD", pb, "1", "99")
    plain = broadcast(a, "plain", "0", "BTC", "KMD", "", "1", "98")
    for m in (o1, o2, o3, o4, ob_, plain):
        wait_get(abc.nodes, m["hash"])

    # errors
    assert a.rpc("DEX_cancel", "") == {"result": "error", "error":
        "nothing to cancel: need an id, this node's pubkey33, or both "
        "tagA and tagB"}
    assert a.rpc("DEX_cancel", "", pb) == {
        "result": "error", "error": "wrong pubkey", "pubkey": pb,
        "correct pubkey": pa}
    assert a.rpc("DEX_cancel", "", "", "A" * 16, "KMD") == {
        "result": "error", "error": "too long tags", "tagA": "A" * 16,
        "tagB": "KMD"}
    assert a.rpc("DEX_cancel", "x")["error"] == "invalid id"

    # b cannot cancel a's order: its cancel is signed by b
    xb = b.rpc("DEX_cancel", str(o1["id"]))
    assert xb["tagA"] == "cancel" and xb["tagB"] == "id"
    assert xb["pubkey"] == pb and xb["priority"] >= 7
    wait_get(abc.nodes, xb["hash"])

    # by id, on a: cancelled everywhere with the cancel's timestamp
    x = a.rpc("DEX_cancel", str(o1["id"]))
    assert x["tagA"] == "cancel" and x["tagB"] == "id" and x["pubkey"] == pa
    assert x["decrypted"] == o1["id"].to_bytes(4, "little").hex()
    assert x["priority"] >= 7 and x["senderpub"] == pa
    for n in abc.nodes:
        wait_for(lambda n=n: get(n, o1["hash"])["cancelled"] ==
                 x["timestamp"], 20, what=f"o1 cancelled on {n.name}")
        ob = n.rpc("DEX_orderbook", "", "0", "BTC", "KMD")
        hs = {e["hash"] for e in ob["asks"]}
        assert o1["hash"] not in hs and o2["hash"] in hs
        assert ob_["hash"] in hs and plain["hash"] in hs

    # pair and pubkey modes spare orders younger than 10 s: wait until the
    # orders are old enough (bounded by the clock, not a fixed sleep)
    newest = max(m["timestamp"] for m in (o2, o3, o4))
    wait_for(lambda: time.time() >= newest + 12, 20, what="orders > 10 s old")
    fresh = broadcast(a, "fresh", "0", "BTC", "KMD", pa, "1", "102")

    xp = a.rpc("DEX_cancel", "", "", "BTC", "KMD")
    assert xp["tagB"] == "pair" and xp["decrypted"] == "03425443034b4d44"
    for n in abc.nodes:
        wait_for(lambda n=n: get(n, o2["hash"])["cancelled"] ==
                 xp["timestamp"], 20, what=f"o2 cancelled on {n.name}")
        assert get(n, o3["hash"])["cancelled"] == 0
        assert get(n, ob_["hash"])["cancelled"] == 0
        assert get(n, plain["hash"])["cancelled"] == 0
    wait_get(abc.nodes, fresh["hash"])
    for n in abc.nodes:
        assert get(n, fresh["hash"])["cancelled"] == 0
        assert get(n, o1["hash"])["cancelled"] == x["timestamp"]  # kept

    xk = a.rpc("DEX_cancel", "", pa.upper())
    assert xk["tagB"] == "pubkey" and xk["decrypted"] == pa
    for n in abc.nodes:
        for m in (o3, o4):
            wait_for(lambda n=n, m=m: get(n, m["hash"])["cancelled"] ==
                     xk["timestamp"], 20, what=f"pubkey cancel on {n.name}")
        assert get(n, ob_["hash"])["cancelled"] == 0
        assert get(n, fresh["hash"])["cancelled"] == 0
        ob = n.rpc("DEX_orderbook", "", "0", "BTC", "KMD")
        assert {e["hash"] for e in ob["asks"]} == {
            ob_["hash"], plain["hash"], fresh["hash"]}
    # b's cancel never touched a's packets
    for n in abc.nodes:
        assert get(n, xb["hash"])["cancelled"] == 0


# ------------------------------------------------------------- anonsend

def test_anonsend(abc):
    a, b, c = abc.nodes
    pa, pb = a.pubkey(), b.pubkey()
    r = a.rpc("DEX_anonsend", "meet at noon", "0", pb)
    assert r["tagA"] == "anon" and r["tagB"] == "" and r["pubkey"] == ""
    assert r["senderpub"] == "" and r["priority"] >= 7
    assert len(r["payload"]) == 2 * 1168 and r["hex"] == 1
    assert "anonmsg" not in r and "decrypted" not in r
    on = dict(zip("abc", wait_get(abc.nodes, r["hash"])))
    assert on["b"]["anonmsg"] == "meet at noon"
    assert on["b"]["anonsender"] == pa
    keys = list(on["b"])
    assert keys.index("anonmsg") == keys.index("hex") + 1
    for k in "ac":
        assert "anonmsg" not in on[k] and "anonsender" not in on[k]
        assert "error" not in on[k]
    for k in "abc":
        assert on[k]["senderpub"] == "" and "decrypted" not in on[k]
        # the bytes on the wire name neither party
        assert pa[2:] not in on[k]["payload"]
        assert pb[2:] not in on[k]["payload"]
    lst = b.rpc("DEX_list", "", "0", "anon")
    assert any(m.get("anonmsg") == "meet at noon" for m in lst["matches"])

    assert a.rpc("DEX_anonsend", "") == {"result": "error",
                                        "error": "anonsend needs a message"}
    assert a.rpc("DEX_anonsend", "x" * 1025, "0", pb) == {
        "result": "error", "error": "message too long for anonsend",
        "maxlength": 1024}
    assert a.rpc("DEX_anonsend", "hi", "0", "02" + pb[2:]) == {
        "result": "error", "error": "need destpubkey for anonsend",
        "destpub33": "02" + pb[2:]}
    assert a.rpc("DEX_anonsend", "hi", "33", pb)["error"] == \
        "priority must be an integer from 0 to 32"


# -------------------------------------------------------- identity, keys

def test_identity_restart_and_setpubkey(make_node):
    n = make_node("id", args=["-connect=127.0.0.1:1"]).start()
    pk = n.pubkey()
    keyfile = os.path.join(n.datadir, "dexp2p.key")
    st = os.stat(keyfile)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(keyfile) as f:
        seed = f.read()
    assert len(seed) == 65 and seed.endswith("\n")
    int(seed[:64], 16)
    n.restart()
    assert n.pubkey() == pk
    assert n.stats()["publishable_pubkey"] == pk

    r = n.rpc("DEX_setpubkey",
              "03AC42DED82688C381563D2E123A2EAF54B29D9FD15A8BD4F9F2727DBFE9BE1688")
    assert r["result"] == "success"
    assert r["secpkey"] == \
        "03ac42ded82688c381563d2e123a2eaf54b29d9fd15a8bd4f9f2727dbfe9be1688"
    assert r["recvaddr"] == "RTteDcwszpLbd2S6uw5ib2wqC9vjSE8N4Q"
    assert r["publishable_pubkey"] == pk
    assert list(r)[:4] == ["result", "publishable_pubkey", "secpkey",
                           "recvaddr"]
    r = n.rpc("DEX_setpubkey", pk)
    assert r["secpkey"] == pk and r["recvaddr"] == ""
    assert n.rpc("DEX_setpubkey", "04" + pk[2:]) == {
        "result": "error",
        "error": "pubkey33 must be 66 hex characters starting with 01, 02 or 03",
        "pubkey33": "04" + pk[2:]}
    n.restart()
    assert n.stats()["secpkey"] == ""


def test_chosen_and_bad_key_file(make_node, workdir):
    good = os.path.join(workdir, "a.key")
    with open(good, "w") as f:
        f.write("11" * 32 + "\n")
    os.chmod(good, 0o600)
    n = make_node("chosen", args=["-connect=127.0.0.1:1",
                                  f"-dexkeyfile={good}"]).start()
    assert n.pubkey() == \
        "01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
    n.stop()

    bad = os.path.join(workdir, "bad.key")
    with open(bad, "w") as f:
        f.write("not a key\n")
    m = make_node("badkey", args=["-connect=127.0.0.1:1",
                                  f"-dexkeyfile={bad}"]).spawn()
    rc = m.proc.wait(20)
    assert rc == 1
    out = m.output()
    assert "64 hex digits" in out and bad in out, out

    # group-readable key: starts, with a warning in the log
    os.chmod(good, 0o644)
    w = make_node("warn", args=["-connect=127.0.0.1:1",
                                f"-dexkeyfile={good}"]).start()
    assert "readable by group or others" in w.log()
