"""GET /metrics: the Prometheus text format on the RPC port (docs/rpc.md,
"Metrics").  Same checks as JSON-RPC (401 without credentials, 403 from an
address outside -rpcallowip), output accepted by `promtool check metrics`,
values that agree with DEX_stats and getpeerinfo and that move with the
traffic, the propagation lag histogram, RPC calls and errors by method."""

import re
import shutil
import subprocess

import pytest

import dexnet
from dexnet import wait_for

PROMTOOL = shutil.which("promtool")
CTYPE = "text/plain; version=0.0.4; charset=utf-8"

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample; checks that
    each sample's family was announced by HELP and TYPE lines first."""
    out, typed, helped = {}, {}, set()
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            helped.add(ln.split(" ")[2])
            continue
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ")
            assert name not in typed, f"family {name} twice"
            typed[name] = typ
            continue
        assert ln and not ln.startswith("#"), f"unexpected line {ln!r}"
        m = _LINE.match(ln)
        assert m, f"bad sample line {ln!r}"
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        fam = re.sub(r"_(bucket|sum|count)$", "", name) \
            if name not in typed else name
        assert fam in typed and fam in helped, f"{name} without HELP/TYPE"
        key = (name, tuple(sorted(_LABEL.findall(labels))))
        assert key not in out, f"sample {key} twice"
        out[key] = float(value)
    return out, typed


def get_metrics(node):
    """GET /metrics as a scraper does (http.client, a persistent
    connection; test_http checks the half-closing client of
    dexnet.raw_http separately).  Returns HTTPResult."""
    import base64
    import http.client
    user, pw = node.auth()
    tok = base64.b64encode(f"{user}:{pw}".encode()).decode()
    c = http.client.HTTPConnection(dexnet.HOST, node.rpcport, timeout=30)
    try:
        c.request("GET", "/metrics", headers={"Authorization":
                                              "Basic " + tok})
        r = c.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        assert len(body) == int(hdrs["content-length"])
        return dexnet.HTTPResult(r.status, hdrs, body)
    finally:
        c.close()


def scrape(node):
    r = get_metrics(node)
    assert r.status == 200, r
    assert r.headers["content-type"] == CTYPE
    return r.body.decode()


def metrics(node):
    return parse(scrape(node))[0]


def val(m, name, **labels):
    return m[(name, tuple(sorted(labels.items())))]


def series(m, name):
    return {k[1]: v for k, v in m.items() if k[0] == name}


def promtool_check(text):
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and \
        not p.stderr.strip(), f"promtool: {p.stdout} {p.stderr}"


def _get_from(source_ip, port, auth):
    import base64
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                   source_address=(source_ip, 0))
    tok = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        c.request("GET", "/metrics", headers={"Authorization":
                                              "Basic " + tok})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_metrics_checks_and_format(make_node):
    """401 without or with wrong credentials, 403 from a refused address
    (with good credentials), 405 for POST; with credentials 200, the 0.0.4
    content type, no caching, and output promtool accepts without a lint
    warning.  The refusals are counted by status."""
    n = make_node("m", args=["-connect=127.0.0.1:1",
                             "-rpcallowip=127.0.0.3"]).start()
    r = n.http(method="GET", path="/metrics", auth=None)
    assert (r.status, r.body) == (401, b"")
    assert r.headers["www-authenticate"] == 'Basic realm="jsonrpc"'
    r = n.http(method="GET", path="/metrics", auth=(n.auth()[0], "wrong"))
    assert r.status == 401
    assert _get_from("127.0.0.2", n.rpcport, n.auth()) == (403, b"")
    assert n.http(method="POST", path="/metrics").status == 405

    r = get_metrics(n)
    assert r.status == 200
    assert r.headers["content-type"] == CTYPE
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    text = r.body.decode()
    promtool_check(text)
    m, typed = parse(text)
    for name, typ in typed.items():
        assert name.startswith("dexp2p_"), name
        assert (typ == "counter") == name.endswith("_total"), (name, typ)
    assert val(m, "dexp2p_rpc_http_refused_total", code="401") >= 2
    assert val(m, "dexp2p_rpc_http_refused_total", code="403") >= 1
    assert val(m, "dexp2p_rpc_http_refused_total", code="405") >= 1
    assert val(m, "dexp2p_peers") == 0
    assert typed["dexp2p_propagation_lag_seconds"] == "histogram"
    # every drop reason of DEX_stats
    assert sorted(dict(k)["reason"] for k in
                  series(m, "dexp2p_packets_dropped_total")) == \
        sorted(n.stats()["dropped"])


def test_rpc_calls_and_errors_by_method(node):
    """Calls are counted per method; errors per method count JSON-RPC
    errors (arity) and error objects ("result":"error"); calls that name no
    method are counted apart.  Exact deltas: nothing else calls."""
    m0 = metrics(node)
    for _ in range(3):
        node.rpc("getinfo")
    r = node.rpc("DEX_get", "")                 # error object: invalid id
    assert r["result"] == "error"
    with pytest.raises(dexnet.RPCError):
        node.rpc("DEX_stats", "extra")          # arity: -1
    with pytest.raises(dexnet.RPCError):
        node.rpc("nosuchmethod")                # -32601
    node.post(b'[1, {"method": 5}]')            # two invalid calls
    m1 = metrics(node)

    def d(name, **lb):
        return val(m1, name, **lb) - val(m0, name, **lb)
    assert d("dexp2p_rpc_calls_total", method="getinfo") == 3
    assert d("dexp2p_rpc_errors_total", method="getinfo") == 0
    assert d("dexp2p_rpc_calls_total", method="DEX_get") == 1
    assert d("dexp2p_rpc_errors_total", method="DEX_get") == 1
    assert d("dexp2p_rpc_calls_total", method="DEX_stats") == 1
    assert d("dexp2p_rpc_errors_total", method="DEX_stats") == 1
    assert d("dexp2p_rpc_invalid_calls_total") == 3
    assert d("dexp2p_rpc_calls_total", method="DEX_list") == 0
    # a label value is only ever a method of the tables, never the
    # client's text
    assert not any("nosuchmethod" in str(k) for k in m1)


def _hist_ok(m, name):
    b = series(m, name + "_bucket")
    les = sorted(((float(dict(k)["le"]), v) for k, v in b.items()))
    counts = [v for _, v in les]
    assert counts == sorted(counts), "buckets not cumulative"
    assert les[-1][0] == float("inf")
    assert les[-1][1] == val(m, name + "_count")
    return val(m, name + "_count"), val(m, name + "_sum")


def test_metrics_follow_the_traffic(net):
    """A 3-node line n0 - n1 - n2: n1 shows 2 peers with their ids and
    addresses as getpeerinfo does, the ends 1.  Packets broadcast on n0
    raise n1's received/added/sent counters and per-peer byte counters,
    and n2's lag histogram counts each of them once.  At rest the counters
    equal DEX_stats'."""
    nw = net(3, [(1, 0), (2, 1)])
    n0, n1, n2 = nw
    m1 = metrics(n1)
    assert val(m1, "dexp2p_peers") == 2
    assert val(metrics(n0), "dexp2p_peers") == 1
    assert val(metrics(n2), "dexp2p_peers") == 1
    want = sorted((str(p["id"]), p["addr"]) for p in n1.peers())
    got = sorted((dict(k)["id"], dict(k)["peer"]) for k in
                 series(m1, "dexp2p_peer_received_bytes_total"))
    assert got == want
    assert len(series(m1, "dexp2p_peer_send_queue_bytes")) == 2
    assert len(series(m1, "dexp2p_peer_catchup_backlog_packets")) == 2
    m2 = metrics(n2)
    lag0, _ = _hist_ok(m2, "dexp2p_propagation_lag_seconds")

    k = 5
    hashes = [n0.rpc("DEX_broadcast", f"metrics {i}")["hash"]
              for i in range(k)]
    for h in hashes:
        n2.wait_packet(h)
    wait_for(lambda: val(metrics(n1), "dexp2p_packets_sent_total") >=
             val(m1, "dexp2p_packets_sent_total") + k,
             what="n1 forwarded the packets")
    a = metrics(n1)

    def d(name, **lb):
        return val(a, name, **lb) - val(m1, name, **lb)
    assert d("dexp2p_packets_received_total") >= k
    assert d("dexp2p_packets_added_total") == k
    assert d("dexp2p_store_packets") == k
    rx = series(a, "dexp2p_peer_received_bytes_total")
    rx0 = series(m1, "dexp2p_peer_received_bytes_total")
    assert any(rx[lb] > rx0.get(lb, 0) for lb in rx)
    b = metrics(n2)
    lag1, lagsum = _hist_ok(b, "dexp2p_propagation_lag_seconds")
    assert lag1 - lag0 == k
    assert 0 <= lagsum < 120 * k

    # at rest, the counters of /metrics are DEX_stats's
    def agree():
        s = n1.stats()
        m = metrics(n1)
        ok = (val(m, "dexp2p_packets_received_total") == s["received"] and
              val(m, "dexp2p_packets_sent_total") == s["sent"] and
              val(m, "dexp2p_packets_added_total") == s["added"] and
              val(m, "dexp2p_packets_duplicate_total") == s["duplicates"] and
              val(m, "dexp2p_store_packets") == s["ram"] and
              all(val(m, "dexp2p_packets_dropped_total", reason=r) == v
                  for r, v in s["dropped"].items()))
        s2 = n1.stats()
        keys = ("received", "sent", "added", "duplicates", "ram", "dropped")
        return ok and all(s[x] == s2[x] for x in keys)
    wait_for(agree, what="metrics equal DEX_stats at rest")
    wait_for(lambda: val(metrics(n1), "dexp2p_synced") == 1,
             what="n1 synced")
    promtool_check(scrape(n1))


# ------------------------------------ packets by (timestamp, id): GETPKTS

PKTFETCH = ("requests_total", "keys_asked_total", "keys_reasked_total",
            "packets_received_total", "packets_unsolicited_total",
            "keys_delivered_total", "miss_answers_total", "keys_missed_total",
            "busy_answers_total", "timeouts_total", "keys_expired_total",
            "keys_refused_total", "keys_wanted", "requests_outstanding")
PKTSERVE = ("requests_total", "requests_ignored_total",
            "requests_refused_total", "keys_served_total",
            "keys_missing_total", "keys_busy_total", "packets_sent_total")


def test_packet_fetch_counters(make_node, workdir):
    """The counters of the fetching by (timestamp, id) (GETPKTS, PKTREPLY,
    PKTMISS: PROTOCOL.md 3.6), shown before only by -debug=net lines, are
    families of /metrics, on both sides.  Answering: a raw peer asks the
    node for a key it holds and one it does not.  Asking: a DEX_subscribe
    whose fragments the node lacks asks the raw peer, which answers BUSY
    first, then the packet of one key and PKTMISS for the other, then
    nothing at all (a timeout).  Exact deltas where nothing else moves."""
    import struct
    import threading
    import time
    from dexnet import (RawPeer, W_PING, W_PONG, frame, mine, packet_bytes,
                        pow_info)
    from filesutil import Call, amount, files_node, locators_hex
    W_GETPKTS, W_PKTREPLY, W_PKTMISS, BUSY = 0x10, 0x11, 0x12, 1

    n = files_node(make_node, workdir, "n", txpowbits=0)
    n.start()
    pa = n.pubkey()
    m0 = metrics(n)
    for f in PKTFETCH:
        assert val(m0, "dexp2p_pktfetch_" + f) == 0, f
    for f in PKTSERVE:
        assert val(m0, "dexp2p_pktserve_" + f) == 0, f

    def keys_frame(mtype, reqid, keys, flags=None):
        head = struct.pack("<I", reqid) + (
            b"" if flags is None else bytes([flags]))
        return frame(mtype, head + struct.pack("<H", len(keys)) + b"".join(
            struct.pack("<II", t, i) for t, i in keys))

    # answering side
    held = n.rpc("DEX_broadcast", "cd" * 100, "0", "held")
    hk = (held["timestamp"], held["id"])
    unknown = (hk[0], hk[1] ^ 0x5a5a5a5a)
    peer = RawPeer(n.port).handshake(txpowbits=0, version=3, services=3)
    wait_for(lambda: n.rpc("getinfo")["connections"] == 1, 10,
             what="raw peer connected")
    peer.send(keys_frame(W_GETPKTS, 7, [hk, unknown]))
    got = 0
    while True:
        t, body = peer.read_frame(10)
        if t == W_PKTREPLY:
            got += 1
        if t == W_PKTMISS and struct.unpack("<I", body[:4])[0] == 7:
            break
    assert got == 1
    m1 = metrics(n)

    def d(m, a, name):
        return val(m, name) - val(a, name)
    for f, want in (("requests_total", 1), ("keys_served_total", 1),
                    ("keys_missing_total", 1), ("packets_sent_total", 1),
                    ("requests_refused_total", 0),
                    ("requests_ignored_total", 0)):
        assert d(m1, m0, "dexp2p_pktserve_" + f) == want, f

    # asking side: locators naming a packet only the peer holds and a key
    # nobody holds
    pkt = mine(packet_bytes(int(time.time()), b"fetched by key\x00",
                            tag_a=b"other"), 0)
    real = (struct.unpack("<I", pkt[2:6])[0], pow_info(pkt, 0)[2])
    ghost = (hk[0], (hk[1] + 1) % 2**32)
    n.rpc("DEX_broadcast", locators_hex(
        [{"timestamp": k[0], "id": k[1]} for k in (real, ghost)]), "5",
        "mx", "locators", pa, amount(10500), amount(2))
    asked = []
    stop = threading.Event()

    def respond():      # BUSY, then the packet and PKTMISS, then nothing
        while not stop.is_set():
            try:
                f = peer.read_frame(0.2)
            except (dexnet.TimeoutExpired, TimeoutError):
                continue
            if f is None:
                return
            t, body = f
            if t == W_PING:
                peer.send(frame(W_PONG, body))
            if t != W_GETPKTS:
                continue
            reqid, count = struct.unpack("<IH", body[:6])
            keys = [struct.unpack("<II", body[6 + 8 * i:14 + 8 * i])
                    for i in range(count)]
            asked.append(keys)
            if len(asked) == 1:
                peer.send(keys_frame(W_PKTMISS, reqid, keys, BUSY))
            elif len(asked) == 2:
                rest = [k for k in keys if k != real]
                out = b""
                if real in keys:
                    out = frame(W_PKTREPLY, struct.pack("<I", reqid)
                                + struct.pack("<I", len(pkt)) + pkt)
                peer.send(out + keys_frame(W_PKTMISS, reqid, rest, 0))

    th = threading.Thread(target=respond, daemon=True)
    th.start()
    try:
        call = Call(n, "DEX_subscribe", "mx", "0", "0", pa)

        def moved():
            m = metrics(n)
            return m if (val(m, "dexp2p_pktfetch_timeouts_total") >= 1 and
                         val(m, "dexp2p_pktfetch_miss_answers_total") >= 1
                         ) else None
        m2 = wait_for(moved, 20, what="busy, answered, then timed out")
    finally:
        stop.set()
        th.join(5)
    assert len(asked) >= 3 and set(asked[0]) == {real, ghost}, asked
    assert real in asked[1], asked
    f = "dexp2p_pktfetch_"
    assert d(m2, m1, f + "requests_total") >= 3
    assert d(m2, m1, f + "keys_asked_total") >= 2 + 1 + 1
    assert d(m2, m1, f + "busy_answers_total") == 1
    assert d(m2, m1, f + "packets_received_total") == 1
    assert d(m2, m1, f + "packets_unsolicited_total") == 0
    assert d(m2, m1, f + "keys_delivered_total") >= 1
    assert d(m2, m1, f + "keys_missed_total") == \
        d(m2, m1, f + "miss_answers_total") == 1
    # asked again of the same peer (the only one): not "reasked", which
    # counts keys asked of a further peer
    assert d(m2, m1, f + "keys_reasked_total") == 0
    assert val(m2, f + "keys_wanted") >= 1
    # the node stored the packet it was sent
    n.wait_packet(dexnet.packet_hash(pkt).hex())
    promtool_check(scrape(n))
    peer.close()
    r = call.get(60)
    assert r["result"] == "error", r
