"""Conformance checks the other suites did not cover (API.md review):
string escaping of bytes that are not valid UTF-8 (3.4), tiny orderbook
prices (4.5), anonsend to oneself and -recvTaddr precedence (4.7, 4.8),
JSON-RPC id echo (2.3), daemon options -noname, -daemon, -printtoconsole,
-debug (6.1) and the configuration file (6.2).

Topology: one node, no peers, unless a test says otherwise.
"""

import json
import os
import socket
import subprocess
import time

import pytest

import dexnet
from dexnet import (CLI, DAEMON, RawPeer, W_PACKET, frame, mine,
                    packet_bytes, packet_hash, run_cli, wait_for)

SEED_A = "11" * 32
PUB_A = "01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"


# ------------------------------------------------------ 3.4 string escaping

# tagB bytes as a raw peer sends them -> exact JSON text in the RPC body
UTF8_CASES = [
    (b"\xff", b'"\\u00ff"'),                       # never valid
    (b"a\xc3", b'"a\\u00c3"'),                     # truncated sequence
    (b"\xc0\x80", b'"\\u00c0\\u0080"'),            # overlong NUL
    (b"\xed\xa0\x80", b'"\\u00ed\\u00a0\\u0080"'),  # UTF-16 surrogate
    (b"\xf4\x90\x80\x80", b'"\\u00f4\\u0090\\u0080\\u0080"'),  # > U+10FFFF
    (b"\x80\x80", b'"\\u0080\\u0080"'),            # lone continuations
    (b"\xe2\x82\xac", b'"\xe2\x82\xac"'),           # valid: passes through
    (b"\xf0\x9f\x98\x80", b'"\xf0\x9f\x98\x80"'),
    (b"\xc3\xa9\xff\xc3", b'"\xc3\xa9\\u00ff\\u00c3"'),
    (b"\x7f\x1f\x08\x0c", b'"\\u007f\\u001f\\b\\f"'),
]


def test_invalid_utf8_bytes_escaped_as_latin1(node):
    peer = RawPeer(node.port).handshake()
    try:
        wait_for(lambda: node.rpc("getinfo")["connections"] == 1, 10,
                 what="raw peer connected")
        for raw, text in UTF8_CASES:
            pkt = mine(packet_bytes(int(time.time()), b"x\x00", tag_a=b"u8",
                                    tag_b=raw), 12)
            h = packet_hash(pkt).hex()
            peer.send(frame(W_PACKET, pkt))
            node.wait_packet(h, 10)
            body = node.post({"method": "DEX_get", "params": [h],
                              "id": 1}).body
            assert b'"tagB":' + text + b',"pubkey"' in body, (raw, body)
            json.loads(body)     # always valid JSON
        # the listing shows the same bytes
        body = node.post({"method": "DEX_list", "params": ["", "0", "u8"],
                          "id": 1}).body
        for _, text in UTF8_CASES:
            assert b'"tagB":' + text + b',' in body
    finally:
        peer.close()


# --------------------------------------------------- 4.5 tiny prices

def test_orderbook_price_formats(node):
    """price >= 1e-8: %.8f of price + 0.0000000049; below: %.15f."""
    tiny = node.rpc("DEX_broadcast", "o", "0", "P", "Q", "", "100000000",
                    "0.00000001")                       # 1e-16
    edge = node.rpc("DEX_broadcast", "o", "0", "P", "Q", "", "1",
                    "0.00000001")                       # exactly 1e-8
    third = node.rpc("DEX_broadcast", "o", "0", "P", "Q", "", "3", "1")
    third_small = node.rpc("DEX_broadcast", "o", "0", "P", "Q", "",
                           "0.00000003", "0.00000001")  # same price
    zero = node.rpc("DEX_broadcast", "o", "0", "P", "Q", "", "0", "1")
    ob = node.rpc("DEX_orderbook", "", "0", "P", "Q")
    hashes = [e["hash"] for e in ob["asks"]]
    assert zero["hash"] not in hashes
    # ascending price; equal prices: larger base amount first
    assert hashes == [tiny["hash"], edge["hash"], third["hash"],
                      third_small["hash"]]
    e = ob["asks"]
    assert (e[0]["price"], e[0]["price15"]) == ("0.000000000000000",
                                                "0.000000000000000")
    assert (e[1]["price"], e[1]["price15"]) == ("0.00000001",
                                                "0.000000010000000")
    assert (e[2]["price"], e[2]["price15"]) == ("0.33333334",
                                                "0.333333333333333")
    assert e[3]["price"] == e[2]["price"]
    assert e[0]["basesatoshis"] == 10**16 and e[0]["relsatoshis"] == 1
    assert node.rpc("DEX_orderbook", "1", "0", "P", "Q")["asks"] == e[:1]


# ------------------------------------------------ 4.7 / 4.8 with a key

def test_anonsend_to_self_and_recvtaddr(make_node, workdir):
    kf = os.path.join(workdir, "a.key")
    with open(kf, "w") as f:
        f.write(SEED_A + "\n")
    os.chmod(kf, 0o600)
    n = make_node("anonself", args=["-connect=127.0.0.1:1",
                                    f"-dexkeyfile={kf}", "-recvTaddr=RTaddr",
                                    "-recvZaddr=zsZaddr"]).start()
    # the sender's node is the addressee: it shows anonmsg/anonsender
    r = n.rpc("DEX_anonsend", "note to self", "", PUB_A.upper())
    assert list(r) == ["timestamp", "id", "hash", "tagA", "tagB", "pubkey",
                       "payload", "hex", "anonmsg", "anonsender",
                       "senderpub", "amountA", "amountB", "priority",
                       "recvtime", "cancelled"]
    assert r["anonmsg"] == "note to self" and r["anonsender"] == PUB_A
    assert r["senderpub"] == "" and r["priority"] >= 7
    assert n.rpc("DEX_get", r["hash"]) == r
    # -recvTaddr wins over the address derived from a 02/03 key
    s = n.rpc("DEX_setpubkey",
              "03ac42ded82688c381563d2e123a2eaf54b29d9fd15a8bd4f9f2727dbfe9be1688")
    assert (s["recvaddr"], s["recvZaddr"]) == ("RTaddr", "zsZaddr")
    assert s["publishable_pubkey"] == PUB_A
    assert n.stats() == {**s, "perfstats": n.stats()["perfstats"],
                         "rate": n.stats()["rate"]}


# ------------------------------------------------------- 2.3 id echo

@pytest.mark.parametrize("idtext", [b"1e2", b"2.50", b"-0", b"-0.0E+00",
                                    b"123456789012345678901234567890",
                                    b"1e400"])
def test_id_number_echoed_unchanged(node, idtext):
    r = node.post(b'{"method":"ping","id":' + idtext + b'}')
    assert r.status == 200
    assert r.body == b'{"result":null,"error":null,"id":' + idtext + b'}\n'
    # an error answer, and the last of duplicate "id" keys
    r = node.post(b'{"id":"x","method":"nope","params":[{"id":1}],"id" : '
                  + idtext + b'}')
    assert r.status == 500
    assert r.body == (b'{"result":null,"error":{"code":-32601,"message":'
                      b'"Method not found"},"id":' + idtext + b'}\n')
    # a batch: each element its own id, non-objects counted
    r = node.post(b'[{"method":"ping","id":' + idtext + b'},5,'
                  b'{"method":"ping","id":' + idtext + b',"id":"s"},'
                  b'{"method":"ping","id":7}]')
    assert r.status == 200
    assert r.body == (b'[{"result":null,"error":null,"id":' + idtext + b'},'
                      b'{"result":null,"error":{"code":-32600,"message":'
                      b'"Invalid Request object"},"id":null},'
                      b'{"result":null,"error":null,"id":"s"},'
                      b'{"result":null,"error":null,"id":7}]\n')


# ------------------------------------------------------- 6.1 options

def _spawn(tmp_path, *opts, name="d", **kw):
    d = tmp_path / name
    port, rpcport = dexnet.free_port(), dexnet.free_port()
    argv = [DAEMON, f"-datadir={d}", f"-port={port}", f"-rpcport={rpcport}",
            "-connect=127.0.0.1:1"] + list(opts)
    return d, port, rpcport, argv


def _cli(d, rpcport, *args):
    return run_cli([CLI, f"-datadir={d}", f"-rpcport={rpcport}"] + list(args),
                   timeout=30)


def _wait_rpc(d, rpcport, proc=None):
    def up():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}")
        return _cli(d, rpcport, "getinfo").returncode == 0
    wait_for(up, 20, what="RPC up")


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("opt,listens", [
    ("-nolisten", False), ("-listen=0", False), ("-nolisten=0", True),
    ("-listen", True), ("-nolisten=1", False)])
def test_listen_boolean_forms(tmp_path, opt, listens):
    d, port, rpcport, argv = _spawn(tmp_path, opt)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        _wait_rpc(d, rpcport, p)
        assert _listening(port) is listens, opt
        assert _cli(d, rpcport, "stop").stdout == "dexp2pd stopping\n"
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


@pytest.mark.parametrize("opt", ["-nohandle", "-noconnect", "-listen=2",
                                 "-daemon=2", "-printtoconsole=yes",
                                 "-debug=bogus", "-maxconnections=-1",
                                 "-handle", "-addnode="])
def test_option_range_errors(tmp_path, opt):
    d, _, _, argv = _spawn(tmp_path, opt)
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert cp.returncode == 1, (opt, cp.stderr)
    assert cp.stderr.strip(), opt
    assert not os.path.exists(d / ".cookie")


def test_daemon_background_keeps_cwd(tmp_path):
    d, _, rpcport, argv = _spawn(tmp_path, "-daemon")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    t0 = time.monotonic()
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                        cwd=cwd)
    assert cp.returncode == 0, cp.stderr
    assert time.monotonic() - t0 < 10
    _wait_rpc(d, rpcport)
    pid = None
    try:
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if f"-rpcport={rpcport}".encode() in cmd and b"-daemon" in cmd:
                pid = int(p)
        assert pid is not None, "no background daemon process"
        assert os.readlink(f"/proc/{pid}/cwd") == str(cwd)
        assert os.path.exists(d / ".cookie")
        assert os.path.exists(d / "debug.log")
    finally:
        cp = _cli(d, rpcport, "stop")
        if pid is not None:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}")
                     or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
                     20, what="background daemon exit")
    assert cp.stdout == "dexp2pd stopping\n"
    assert not os.path.exists(d / ".cookie")


def test_printtoconsole_and_debug(tmp_path):
    d, _, rpcport, argv = _spawn(tmp_path, "-printtoconsole", "-debug=rpc")
    out = tmp_path / "stdout"
    with open(out, "wb") as f:
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL)
    try:
        _wait_rpc(d, rpcport, p)
        _cli(d, rpcport, "DEX_stats")
        _cli(d, rpcport, "stop")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    log = out.read_text()
    assert "DEX_stats" in log, log       # -debug=rpc logs each call
    assert not os.path.exists(d / "debug.log")

    # without -debug the calls are not logged; the log goes to debug.log
    d2, _, rpcport2, argv2 = _spawn(tmp_path, name="d2")
    p = subprocess.Popen(argv2, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        _wait_rpc(d2, rpcport2, p)
        _cli(d2, rpcport2, "DEX_stats")
        _cli(d2, rpcport2, "stop")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    log2 = (d2 / "debug.log").read_text()
    assert "dexp2pd" in log2 and "DEX_stats" not in log2


# --------------------------------------------------- 6.2 configuration

def test_conf_password_relative_conf_and_cli(make_node):
    n = make_node("confpw", args=["-connect=127.0.0.1:1", "-conf=my.conf"])
    os.makedirs(n.datadir, exist_ok=True)
    with open(os.path.join(n.datadir, "my.conf"), "w") as f:
        f.write("# rpc credentials\n\nrpcuser=alice\nrpcpassword=pw1\n"
                f"rpcport={n.rpcport}\nhandle=fromconf\n")
    n.rpcauth = ("alice", "pw1")
    n.start()
    assert not os.path.exists(os.path.join(n.datadir, ".cookie"))
    assert n.stats()["handle"] == "fromconf"
    # the CLI takes rpcuser/rpcpassword/rpcport from the same file
    cp = run_cli([CLI, f"-datadir={n.datadir}", "-conf=my.conf",
                  "DEX_stats"])
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["handle"] == "fromconf"
    # a command-line password overrides the file's
    cp = run_cli([CLI, f"-datadir={n.datadir}", "-conf=my.conf",
                  "-rpcpassword=bad", "ping"])
    assert cp.returncode == 1
    assert cp.stderr.strip() == \
        "error: incorrect rpcuser or rpcpassword (authorization failed)"


def test_conf_unknown_or_bad_value_exits_1(tmp_path):
    for i, text in enumerate(["nosuch=1\n", "txpowbits=25\n",
                              "listen=maybe\n"]):
        d = tmp_path / f"c{i}"
        d.mkdir()
        (d / "dexp2p.conf").write_text(text)
        cp = subprocess.run([DAEMON, f"-datadir={d}",
                             f"-port={dexnet.free_port()}",
                             f"-rpcport={dexnet.free_port()}"],
                            capture_output=True, text=True, timeout=10)
        assert cp.returncode == 1, text
        assert "dexp2p.conf" in cp.stderr, cp.stderr


# ------------------------------------------------- 2.2 cookie, 5.1 synced

def test_stale_cookie_replaced_and_synced_without_peers(make_node):
    """No -connect/-addnode and no connections: getinfo synced is true.
    A stale .cookie (wrong content, mode 0644) is replaced at startup."""
    import stat
    n = make_node("alone", args=["-listen=0"])
    os.makedirs(n.datadir, exist_ok=True)
    path = os.path.join(n.datadir, ".cookie")
    with open(path, "w") as f:
        f.write("__cookie__:stale")
    os.chmod(path, 0o644)
    n.start()
    data = open(path).read()
    assert data != "__cookie__:stale" and len(data) == len("__cookie__:") + 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = n.rpc("getinfo")
    assert info["connections"] == 0 and info["synced"] is True


def test_password_with_default_empty_user(make_node):
    n = make_node("emptyuser", args=["-connect=127.0.0.1:1",
                                     "-rpcpassword=pw2"])
    n.rpcauth = ("", "pw2")
    n.start()
    assert n.rpc("ping") is None
    body = '{"method":"ping"}'
    assert n.http(body=body, auth=("__cookie__", "pw2")).status == 401
    assert n.http(body=body, auth=("x", "pw2")).status == 401
    cp = n.cli("ping", opts=["-rpcpassword=pw2"])
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")
