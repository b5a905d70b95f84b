"""Packet dissemination between real daemons (issue 3).

Each test states its topology.  "a <- b" means b dials a (-connect); every
node dials only the nodes drawn, so the graph is exactly the one shown.
"""

import threading
import time

import pytest

from dexnet import (line_edges, ring_edges, strip_local, wait_for,
                    wait_synced, xor_fingerprint)


def same_packet_everywhere(nodes, pkt, timeout=20):
    """Wait until every node returns pkt (minus recvtime) for its hash."""
    want = strip_local(pkt)
    for n in nodes:
        got = n.wait_packet(pkt["hash"], timeout)
        assert strip_local(got) == want, (n.name, got, want)
    return True


def test_pair_every_field_equal(pair):
    """Topology: a <- b.  Packets made on either node appear on the other
    with every field equal except the local recvtime."""
    a, b = pair
    pub_a, pub_b = a.pubkey(), b.pubkey()
    made = [
        (a, ("plain text", "0")),
        (b, ("cafebabe", "1", "BTC", "KMD", "", "0.1", "100")),
        (a, ("signed order", "3", "BTC", "KMD", pub_a, "1.5", "2e3")),
        (b, ("deadbeef", "2", "", "onlyB", pub_b)),
        (a, ("686900", "0", "tagonly")),
        (b, ("héllo wörld", "4", "utf8", "", "", ".00000001")),
    ]
    pkts = []
    for node, params in made:
        p = node.rpc("DEX_broadcast", *params)
        assert p["priority"] >= int(params[1])
        assert p["recvtime"] == p["timestamp"] or p["recvtime"] >= p["timestamp"]
        pkts.append(p)
    for p in pkts:
        same_packet_everywhere([a, b], p)
    # signed packets verify on both: decrypted and senderpub everywhere
    signed = b.rpc("DEX_get", pkts[2]["hash"])
    assert signed["decrypted"] == "signed order"
    assert signed["senderpub"] == pub_a and "error" not in signed
    # receiver's recvtime is its own clock, not before creation
    for p in pkts:
        for n in (a, b):
            r = n.rpc("DEX_get", p["hash"])
            assert p["timestamp"] <= r["recvtime"] <= int(time.time()) + 1
    fp = wait_synced([a, b], expect_ram=len(pkts))
    assert fp == xor_fingerprint(p["hash"] for p in pkts)
    # counters: each saw the other's packets as received
    sa, sb = a.stats(), b.stats()
    assert sa["received"] >= 3 and sb["received"] >= 3
    assert sa["added"] == sb["added"] == len(pkts)
    # getpeerinfo shows the other node
    pa = a.rpc("getpeerinfo")
    assert len(pa) == 1 and pa[0]["pubkey"] == pub_b and pa[0]["inbound"]
    pb = b.rpc("getpeerinfo")
    assert len(pb) == 1 and pb[0]["pubkey"] == pub_a and not pb[0]["inbound"]
    assert a.rpc("getinfo")["connections"] == 1


def test_pair_inbox_visible_to_addressee_only(pair):
    """Topology: a <- b.  An inbox message a -> b: b decrypts, a does not."""
    a, b = pair
    p = a.rpc("DEX_broadcast", "secret note", "0", "inbox", "", b.pubkey())
    assert "decrypted" not in p
    got = b.wait_packet(p["hash"])
    assert got["decrypted"] == "secret note" and got["decryptedhex"] == 0
    assert got["senderpub"] == a.pubkey()
    assert strip_local({k: v for k, v in got.items()
                        if k not in ("decrypted", "decryptedhex")}) == \
        strip_local(p)


def broadcast_from_all(nodes, per_node, tag, prio="0"):
    made = []
    lock = threading.Lock()
    errors = []

    def run(n):
        try:
            for i in range(per_node):
                p = n.rpc("DEX_broadcast", f"{n.name}-{i}", prio, tag)
                with lock:
                    made.append(p)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=run, args=(n,)) for n in nodes]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    assert len(made) == per_node * len(nodes)
    return made


def check_all_everywhere(nodes, made, tag, timeout=30):
    want = {p["hash"] for p in made}
    for n in nodes:
        wait_for(lambda: {p["hash"] for p in n.list_all(tag)} >= want,
                 timeout, what=f"all {len(want)} packets on {n.name}")
    fp = wait_synced(nodes, timeout=timeout)
    return fp


@pytest.mark.parametrize("shape", ["line", "ring"])
def test_five_nodes_every_packet_reaches_all(net, shape):
    """Topology: 5 nodes.
        line: n0 - n1 - n2 - n3 - n4        (n_i dials n_{i-1})
        ring: the line plus n0 - n4          (n0 dials n4)
    Every node broadcasts 20 packets concurrently; every packet reaches
    every node and the fingerprints converge to the XOR of all hashes
    within 5 s of the last broadcast (issue 3)."""
    edges = line_edges(5) if shape == "line" else ring_edges(5)
    nw = net(5, edges)
    made = broadcast_from_all(nw.nodes, 20, shape)
    fp = check_all_everywhere(nw.nodes, made, shape, timeout=5)
    assert fp == xor_fingerprint(p["hash"] for p in made)
    for n in nw:
        assert n.stats()["ram"] == 100
        listed = n.list_all(shape)
        assert len(listed) == 100
        assert len({p["hash"] for p in listed}) == 100
    # end nodes of the line got the other end's packets through 3 relays
    far = [p for p in made if p["payload"].startswith("n0-")][0]
    same_packet_everywhere([nw[4]], far)


def test_late_joiner_gets_earlier_packets(net, make_node):
    """Topology: a <- b, then later c dials b (a - b - c).  Packets made
    before c existed reach c."""
    nw = net(2, [(1, 0)], names=["a", "b"])
    a, b = nw.nodes
    made = broadcast_from_all([a, b], 15, "early")
    made.append(a.rpc("DEX_broadcast", "vip", "6", "early"))
    wait_synced([a, b], expect_ram=len(made))
    c = make_node("c", args=[f"-connect={b.addr}"]).start()
    fp = wait_synced([a, b, c], expect_ram=len(made), timeout=30)
    assert fp == xor_fingerprint(p["hash"] for p in made)
    for p in made[::5]:
        same_packet_everywhere([c], p)
    wait_for(lambda: c.rpc("getinfo")["synced"] is True, 20,
             what="c synced")
    assert all(pi["synced"] for pi in c.rpc("getpeerinfo"))


def test_restarted_node_recovers_missed_packets_30s(net):
    """Topology: a <- b <- c (line).  b is stopped for 30 s while a and c
    keep broadcasting (c is isolated from a meanwhile), then restarted on
    the same datadir and ports: all three end with the same packets."""
    nw = net(3, line_edges(3), names=["a", "b", "c"])
    a, b, c = nw.nodes
    before = broadcast_from_all([a, b, c], 5, "restart")
    wait_synced(nw.nodes, expect_ram=15)
    pub_b = b.pubkey()
    b.stop()
    t_stop = time.monotonic()
    deadline = t_stop + 30
    during = []
    rounds = 0
    # keep broadcasting on both sides, one round per second, for the
    # whole 30 s outage
    while time.monotonic() < deadline:
        during.append(a.rpc("DEX_broadcast", f"a-{rounds}", "0", "restart"))
        during.append(c.rpc("DEX_broadcast", f"c-{rounds}", "0", "restart"))
        rounds += 1
        wait_for(lambda: time.monotonic() >= min(deadline, t_stop + rounds),
                 5, what="next round")
    # a and c cannot see each other's packets while b is down
    assert a.stats()["ram"] == 15 + rounds
    assert c.stats()["ram"] == 15 + rounds
    b.start()
    assert b.pubkey() == pub_b
    # c dials b with its own reconnect backoff: allow for it
    wait_for(lambda: sorted(p["pubkey"] for p in b.peers()) ==
             sorted([a.pubkey(), c.pubkey()]), 60, what="b reconnected")
    total = before + during
    fp = wait_synced(nw.nodes, expect_ram=len(total), timeout=30)
    assert fp == xor_fingerprint(p["hash"] for p in total)


def test_quick_restart_recovers(net):
    """Topology: a <- b.  b restarts at once (held packets are lost on
    stop) and gets everything back from a."""
    nw = net(2, [(1, 0)], names=["a", "b"])
    a, b = nw.nodes
    made = broadcast_from_all([a, b], 10, "quick")
    wait_synced(nw.nodes, expect_ram=20)
    b.restart()
    fp = wait_synced(nw.nodes, expect_ram=20, timeout=30)
    assert fp == xor_fingerprint(p["hash"] for p in made)


def test_txpowbits_mismatch_refused(make_node):
    """Topology: a (txpowbits 12) <- b (txpowbits 10): the handshake is
    refused, each logs the reason, no packet crosses."""
    a = make_node("a", txpowbits=12, args=["-connect=127.0.0.1:1"]).start()
    b = make_node("b", txpowbits=10, args=[f"-connect={a.addr}"]).start()
    wait_for(lambda: "txpowbits" in a.log() + b.log(), 15,
             what="txpowbits refusal logged")
    log = a.log() + b.log()
    assert ("peer txpowbits 10 != 12" in log or
            "peer txpowbits 12 != 10" in log), log[-2000:]
    p = b.rpc("DEX_broadcast", "lonely", "0", "mismatch")
    a.rpc("DEX_broadcast", "also lonely", "0", "mismatch")
    # b keeps retrying; give it several attempts, all must fail
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 3 and
             a.rpc("getinfo")["connections"] == 0, 10, what="still refused")
    assert a.rpc("getinfo")["connections"] == 0
    assert b.rpc("getinfo")["connections"] == 0
    assert a.rpc("DEX_get", p["hash"])["result"] == "error"
    assert a.stats()["ram"] == 1 and b.stats()["ram"] == 1


def test_addnode_rpc(make_node):
    """Topology: a, b unconnected; then b: addnode a add -> a - b; remove
    -> disconnected; errors -23 / -24."""
    from dexnet import RPCError
    # no -connect here: -connect limits outgoing connections to its list
    a = make_node("a").start()
    b = make_node("b").start()
    assert b.rpc("getinfo")["connections"] == 0
    assert b.rpc("addnode", a.addr, "add") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 1, 15,
             what="b connected to a")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", a.addr, "add")
    assert (ei.value.code, ei.value.message) == (-23,
                                                 "Error: Node already added")
    p = a.rpc("DEX_broadcast", "via addnode", "0", "addn")
    same_packet_everywhere([b], p)
    assert b.rpc("addnode", a.addr, "remove") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 0, 15,
             what="b disconnected after remove")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", a.addr, "remove")
    assert (ei.value.code, ei.value.message) == (
        -24, "Error: Node has not been added.")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", a.addr, "sometimes")
    assert ei.value.code == -1
    assert b.rpc("addnode", a.addr, "onetry") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 1, 15,
             what="onetry connection")


def test_ping_measures_rtt(pair):
    """Topology: a <- b."""
    a, b = pair
    assert a.rpc("ping") is None
    info = wait_for(lambda: (lambda pi: pi if pi and "pingtime" in pi[0]
                             else None)(a.rpc("getpeerinfo")), 15,
                    what="pingtime")
    assert 0 <= info[0]["pingtime"] < 1.0
    # a dexp2pd peer speaks the version this node reports
    assert info[0]["version"] == a.rpc("getinfo")["protocolversion"] == 3
    keys = list(info[0])
    assert keys == ["id", "addr", "inbound", "dexp2p", "pubkey", "version",
                    "subver", "conntime", "lastsend", "lastrecv", "bytessent",
                    "bytesrecv", "packetssent", "packetsrecv", "synced",
                    "pingtime", "membytes", "recvpaused", "addr_processed",
                    "addr_rate_limited"]


def test_address_exchange_connects_strangers(make_node):
    """Topology: b -> a and c -> a, each started with one -addnode; b and
    c learn each other's listen address from a (GETADDR/ADDR) and connect,
    so all three end fully connected."""
    a = make_node("a").start()
    b = make_node("b", args=[f"-addnode={a.addr}"]).start()
    c = make_node("c", args=[f"-addnode={a.addr}"]).start()
    wait_for(lambda: b.pubkey() in c.peer_pubkeys()
             or c.pubkey() in b.peer_pubkeys(), 40,
             what="b and c connected through learned addresses")
    p = c.rpc("DEX_broadcast", "learned", "0", "addrx")
    same_packet_everywhere([a, b], p)


def test_maxconnections_limits_inbound(make_node):
    """Topology: a (-maxconnections=1) <- b, a <- c: a accepts one peer;
    c's dials are refused (logged) while b stays connected."""
    a = make_node("a", args=["-maxconnections=1", "-debug=net"]).start()
    b = make_node("b", args=[f"-connect={a.addr}"]).start()
    wait_for(lambda: a.rpc("getinfo")["connections"] == 1, 15,
             what="first peer")
    c = make_node("c", args=[f"-connect={a.addr}"]).start()
    wait_for(lambda: a.log().count("inbound connection refused") >= 2, 20,
             what="c refused twice")
    assert a.rpc("getinfo")["connections"] == 1
    assert c.rpc("getinfo")["connections"] == 0
    assert b.rpc("getinfo")["connections"] == 1


# ---- host names: resolved in the background (evdns), never on the loop


def test_addnode_name_localhost_connects(make_node):
    """Topology: a, b unconnected; b: addnode localhost:<a.port> add ->
    a - b (localhost resolves through /etc/hosts).  The book keeps the
    string given: add again -23, remove disconnects, remove again -24."""
    from dexnet import RPCError
    a = make_node("a").start()
    b = make_node("b").start()
    name = f"localhost:{a.port}"
    assert b.rpc("addnode", name, "add") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 1, 15,
             what="b connected to a through localhost")
    assert b.rpc("getpeerinfo")[0]["addr"] == a.addr
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "add")
    assert (ei.value.code, ei.value.message) == (-23,
                                                 "Error: Node already added")
    assert b.rpc("addnode", name, "remove") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 0, 15,
             what="b disconnected after remove")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "remove")
    assert (ei.value.code, ei.value.message) == (
        -24, "Error: Node has not been added.")
    # onetry with a name: one connection, the name is not remembered
    assert b.rpc("addnode", name, "onetry") is None
    wait_for(lambda: b.rpc("getinfo")["connections"] == 1, 15,
             what="onetry connection through localhost")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "remove")
    assert ei.value.code == -24


def test_addnode_name_options_at_startup(make_node):
    """Topology: a <- b (-addnode=localhost:<a.port>), a <- c
    (-connect=localhost:<a.port>): names given as options connect too."""
    a = make_node("a").start()
    b = make_node("b", args=[f"-addnode=localhost:{a.port}"]).start()
    c = make_node("c", args=[f"-connect=localhost:{a.port}"]).start()
    wait_for(lambda: b.rpc("getinfo")["connections"] == 1 and
             c.rpc("getinfo")["connections"] == 1, 20,
             what="b and c connected to a by name")
    wait_for(lambda: a.rpc("getinfo")["connections"] == 2, 15,
             what="a sees both")
    assert c.rpc("getinfo")["connections"] == 1  # -connect: only a


def test_addnode_unresolvable_name_does_not_block(make_node):
    """Topology: b alone.  addnode of a well-formed name that does not
    resolve answers null at once; RPC keeps answering (ping < 200 ms right
    after); the failure is logged with the name; -23 / -24 behave as for
    an address; syntax errors still give -1 with the usage line."""
    from dexnet import RPCError
    b = make_node("b").start()
    b.rpc("ping")  # connection to the RPC port open and warm
    name = "no-such-host.invalid:7770"
    t0 = time.monotonic()
    assert b.rpc("addnode", name, "add") is None
    t1 = time.monotonic()
    assert b.rpc("ping") is None
    t2 = time.monotonic()
    assert t1 - t0 < 0.2, f"addnode took {t1 - t0:.3f} s"
    assert t2 - t1 < 0.2, f"ping after addnode took {t2 - t1:.3f} s"
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "add")
    assert (ei.value.code, ei.value.message) == (-23,
                                                 "Error: Node already added")
    wait_for(lambda: "cannot resolve no-such-host.invalid:7770" in b.log(),
             30, what="resolution failure logged")
    # still remembered after the failure (retried in the background)
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "add")
    assert ei.value.code == -23
    assert b.rpc("addnode", name, "remove") is None
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", name, "remove")
    assert (ei.value.code, ei.value.message) == (
        -24, "Error: Node has not been added.")
    # onetry: null, then a logged failure, never remembered
    assert b.rpc("addnode", "other.invalid", "onetry") is None
    wait_for(lambda: "cannot resolve other.invalid" in b.log(), 30,
             what="onetry failure logged")
    with pytest.raises(RPCError) as ei:
        b.rpc("addnode", "other.invalid", "remove")
    assert ei.value.code == -24
    for bad in ["bad host!", "[1:2]:5", "[zz]:1", "name:0", "a:b:c"]:
        with pytest.raises(RPCError) as ei:
            b.rpc("addnode", bad, "add")
        assert (ei.value.code, ei.value.message) == (
            -1, "addnode node add|remove|onetry\n"), bad
    assert b.rpc("getinfo")["connections"] == 0
