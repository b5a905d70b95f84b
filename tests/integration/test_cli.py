"""dexp2p-cli output rules and error texts (API.md 6.4), and dexp2pd
startup options (6.1): -help, bad options, a second daemon on the same
datadir, clean stop.

Topology: one node, no peers; a few tests start a second daemon or a fake
HTTP server on 127.0.0.1.
"""

import json
import os
import socket
import subprocess
import threading

import dexnet
from dexnet import CLI, DAEMON, run_cli


def test_object_result_indented(node):
    cp = node.cli("DEX_stats")
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr == ""
    assert cp.stdout.startswith('{\n  "result": "success",\n  "publishable_pubkey": ')
    assert cp.stdout.endswith("}\n")
    pairs = json.loads(cp.stdout, object_pairs_hook=lambda p: p)
    keys = [k for k, _ in pairs]
    assert keys[:3] == ["result", "publishable_pubkey", "secpkey"]
    # API.md's keys end with rate; this implementation's extensions follow
    # (docs/rpc.md)
    assert keys[keys.index("rate") + 1:] == ["peermem", "futurehold",
                                                 "subscriptions"]
    # every line is indented by a multiple of 2 spaces
    for ln in cp.stdout.splitlines():
        ind = len(ln) - len(ln.lstrip(" "))
        assert ind % 2 == 0, ln


def test_packet_output_matches_rpc(node):
    cp = node.cli("DEX_broadcast", "hello", "0", "cli")
    assert cp.returncode == 0, cp.stderr
    p = json.loads(cp.stdout, object_pairs_hook=lambda p: p)
    assert [k for k, _ in p][:3] == ["timestamp", "id", "hash"]
    d = dict(p)
    assert node.rpc("DEX_get", d["hash"]) == d
    assert cp.stdout == json.dumps(d, indent=2, ensure_ascii=False) + "\n"


def test_string_result_printed_raw(node):
    cp = node.cli("help", "DEX_get")
    assert cp.returncode == 0
    assert cp.stdout.startswith("DEX_get id\n\n")
    assert not cp.stdout.startswith('"')
    cp = node.cli("help")
    assert cp.returncode == 0
    assert cp.stdout.startswith("== DEX ==\nDEX_anonsend message priority destpub33\n")
    assert cp.stdout.endswith("getinfo\nhelp [command]\nstop\n")
    cp = node.cli("help", "nosuch")
    assert cp.stdout == "help: unknown command: nosuch\n"


def test_help_exact(node):
    expected = "\n".join([
        "== DEX ==",
        "DEX_anonsend message priority destpub33",
        "DEX_broadcast hex [priority [tagA [tagB [pubkey33 [volA [volB]]]]]]",
        "DEX_cancel id [pubkey33 [tagA tagB]]",
        "DEX_get id",
        "DEX_list stopat minpriority tagA tagB pubkey33 [minA maxA minB maxB [stophash]]",
        "DEX_orderbook maxentries minpriority tagA tagB pubkey33 [minA maxA minB maxB]",
        "DEX_publish filename priority sliceid",
        "DEX_setpubkey pubkey33",
        "DEX_stats",
        "DEX_stream filename priority",
        "DEX_streamsub filename priority pubkey",
        "DEX_subscribe filename priority id [publisher33]",
        "DEX_wait cursor [timeout [minpriority [tagA [tagB [pubkey33 "
        "[minA maxA minB maxB]]]]]]",
        "",
        "== Network ==",
        "addnode node add|remove|onetry",
        "clearbanned",
        "getpeerinfo",
        "listbanned",
        "ping",
        "setban subnet add|remove [bantime [absolute]]",
        "",
        "== Control ==",
        "getinfo",
        "help [command]",
        "stop",
    ])
    assert node.rpc("help") == expected


def test_null_result_prints_nothing(node):
    cp = node.cli("ping")
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")


def test_params_sent_as_strings(node):
    # "-1" after the method is a parameter, not an option
    cp = node.cli("DEX_broadcast", "hello", "0", "BTC", "KMD", "", "-1")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == {"result": "error",
                                     "error": "negative volA", "volA": "-1"}
    # a number argument arrives as a string: context value is a string
    cp = node.cli("DEX_broadcast", "aa", "77")
    assert json.loads(cp.stdout)["priority"] == "77"
    cp = node.cli("DEX_get", "3534964992")
    assert json.loads(cp.stdout) == {"result": "error", "error": "id not found",
                                     "id": 3534964992}
    cp = node.cli("DEX_get", "")
    assert json.loads(cp.stdout) == {"result": "error", "error": "invalid id",
                                     "id": ""}


def test_jsonrpc_error_output(node):
    cp = node.cli("DEX_get")
    assert cp.returncode == 1
    assert cp.stdout == ""
    assert cp.stderr.startswith("error code: -1\nerror message:\nDEX_get id\n")
    cp = node.cli("nosuchmethod")
    assert cp.returncode == 1
    assert cp.stderr.startswith("error code: -32601\nerror message:\nMethod not found")


def test_connection_refused(tmp_path):
    port = dexnet.free_port()
    (tmp_path / ".cookie").write_text("__cookie__:" + "ab" * 32)
    cp = run_cli([CLI, f"-datadir={tmp_path}", f"-rpcport={port}", "getinfo"])
    assert cp.returncode == 1
    assert cp.stderr.strip() == "error: couldn't connect to server"


def test_wrong_password(node):
    cp = node.cli("getinfo", opts=["-rpcpassword=wrong"])
    assert cp.returncode == 1
    assert cp.stderr.strip() == \
        "error: incorrect rpcuser or rpcpassword (authorization failed)"


def test_other_http_status(tmp_path):
    """A server answering 404 (not a dexp2pd) is reported with its status."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            c.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    b = c.recv(4096)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        (tmp_path / ".cookie").write_text("__cookie__:" + "ab" * 32)
        cp = run_cli([CLI, f"-datadir={tmp_path}", f"-rpcport={port}",
                      "getinfo"], timeout=20)
        assert cp.returncode == 1
        assert cp.stderr.strip() == "error: server returned HTTP status 404"
    finally:
        srv.close()
        t.join(5)


def test_no_credentials(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    port = dexnet.free_port()
    cp = run_cli([CLI, f"-datadir={d}", f"-rpcport={port}", "getinfo"])
    assert cp.returncode == 1
    assert cp.stderr.startswith(
        "error: no RPC credentials (no rpcpassword and no ")
    assert ".cookie)" in cp.stderr


def test_cli_usage(tmp_path):
    cp = run_cli([CLI, f"-datadir={tmp_path}"])
    assert cp.returncode == 1 and cp.stdout == "" and cp.stderr.strip()
    for h in ("-help", "-?", "--help"):
        cp = run_cli([CLI, h])
        assert cp.returncode == 0, h
        assert "dexp2p-cli" in cp.stdout and cp.stderr == "", h


def test_cli_reads_conf(node):
    """rpcport from <datadir>/dexp2p.conf; the option overrides it."""
    with open(os.path.join(node.datadir, "dexp2p.conf"), "a") as f:
        f.write(f"\n# written by the test\nrpcport={node.rpcport}\n")
    cp = run_cli([CLI, f"-datadir={node.datadir}", "getinfo"])
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["port"] == node.port
    bad = dexnet.free_port()
    cp = run_cli([CLI, f"-datadir={node.datadir}", f"-rpcport={bad}",
                  "getinfo"])
    assert cp.returncode == 1
    assert "couldn't connect" in cp.stderr


def test_cli_stop(make_node):
    n = make_node("clistop", args=["-connect=127.0.0.1:1"]).start()
    cp = n.cli("stop")
    assert cp.returncode == 0
    assert cp.stdout == "dexp2pd stopping\n"
    assert n.proc.wait(20) == 0
    assert not os.path.exists(os.path.join(n.datadir, ".cookie"))


# ------------------------------------------------------------ daemon options

OPTIONS = ["datadir", "conf", "port", "listen", "addnode", "connect",
           "maxconnections", "rpcport", "rpcbind", "rpcallowip", "rpcuser",
           "rpcpassword", "dexp2p", "handle", "recvTaddr", "recvZaddr",
           "txpowbits", "purgetime", "filesdir", "dexkeyfile", "daemon",
           "printtoconsole", "debug"]


def test_daemon_help_lists_options():
    for h in ("-help", "-?"):
        cp = subprocess.run([DAEMON, h], capture_output=True, text=True,
                            timeout=10)
        assert cp.returncode == 0, h
        for o in OPTIONS:
            assert f"-{o}" in cp.stdout, f"-help lacks -{o}"


def test_bad_options_exit_1(tmp_path):
    cases = ["-nosuchoption=1", "-txpowbits=25", "-txpowbits=x",
             "-dexp2p=3", "-purgetime=9", "-purgetime=86401", "-port=70000",
             "-rpcport=abc", f"-filesdir={tmp_path}/does-not-exist"]
    for opt in cases:
        d = tmp_path / ("d" + str(abs(hash(opt))))
        cp = subprocess.run([DAEMON, f"-datadir={d}", "-port=1",
                             "-rpcport=1", opt], capture_output=True,
                            text=True, timeout=10)
        assert cp.returncode == 1, (opt, cp.stdout, cp.stderr)
        assert cp.stderr.strip(), f"no message on stderr for {opt}"


def test_bad_key_file_exit_1(tmp_path):
    kf = tmp_path / "bad.key"
    kf.write_text("1234\n")
    cp = subprocess.run([DAEMON, f"-datadir={tmp_path}/d",
                         f"-dexkeyfile={kf}", f"-port={dexnet.free_port()}",
                         f"-rpcport={dexnet.free_port()}"],
                        capture_output=True, text=True, timeout=10)
    assert cp.returncode == 1


def test_identity_key_file(make_node):
    """A chosen seed gives the pubkey of Appendix D; a new datadir gets a
    0600 key file, kept across restarts."""
    import stat
    n = make_node("keyed", args=["-connect=127.0.0.1:1"])
    os.makedirs(n.basedir, exist_ok=True)
    kf = os.path.join(n.basedir, "alice.key")
    with open(kf, "w") as f:
        f.write("11" * 32 + "\n")
    os.chmod(kf, 0o600)
    n.args.append(f"-dexkeyfile={kf}")
    n.start()
    assert n.pubkey() == ("01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016"
                          "baf8520a332c9778737")
    assert n.stats()["publishable_pubkey"] == n.pubkey()
    m = make_node("fresh", args=["-connect=127.0.0.1:1"]).start()
    key = os.path.join(m.datadir, "dexp2p.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    seed = open(key).read()
    assert len(seed.strip()) == 64
    pub = m.pubkey()
    m.restart()
    assert m.pubkey() == pub and open(key).read() == seed


def test_getinfo(make_node):
    n = make_node("info", args=["-connect=127.0.0.1:1", "-handle=alice",
                                "-purgetime=600"]).start()
    got = n.post(json.dumps({"method": "getinfo", "id": 1})).json(ordered=True)
    res = got[0][1]
    assert [k for k, _ in res] == ["version", "subversion", "protocolversion",
                                   "dexp2p", "pubkey", "connections",
                                   "synced", "txpowbits", "purgetime", "port",
                                   "uptime"]
    d = dict(res)
    assert d["version"] == 10000 and d["subversion"] == "/dexp2p:0.1.0/"
    assert d["dexp2p"] == 2 and d["connections"] == 0
    assert d["txpowbits"] == 12 and d["purgetime"] == 600
    assert d["port"] == n.port and d["pubkey"].startswith("01")
    assert n.stats()["handle"] == "alice"
    assert n.rpc("getpeerinfo") == []


def test_second_daemon_same_datadir(node):
    """A second dexp2pd on a running node's datadir exits with status 1 and
    a message; the first keeps serving with its cookie intact."""
    cookie = open(os.path.join(node.datadir, ".cookie")).read()
    cp = subprocess.run([DAEMON, f"-datadir={node.datadir}",
                         f"-port={dexnet.free_port()}",
                         f"-rpcport={dexnet.free_port()}", "-txpowbits=12"],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode != 0
    msg = (cp.stderr + cp.stdout).lower()
    assert msg.strip(), "no message"
    assert ("already" in msg or "lock" in msg or
            node.datadir.lower() in msg), msg
    assert open(os.path.join(node.datadir, ".cookie")).read() == cookie
    cp = node.cli("getinfo")
    assert cp.returncode == 0, cp.stderr


def test_port_in_use_exits(node, make_node):
    n = make_node("clash")
    n.port = node.port          # p2p port already taken
    n.spawn()
    rc = n.proc.wait(20)
    assert rc != 0, n.output()
    assert node.rpc("ping") is None


def test_conf_file_options(make_node):
    n = make_node("conf", args=["-connect=127.0.0.1:1"])
    os.makedirs(n.datadir, exist_ok=True)
    with open(os.path.join(n.datadir, "dexp2p.conf"), "w") as f:
        f.write("# comment\n\nhandle=fromfile\npurgetime=120\n")
    n.start()
    assert n.stats()["handle"] == "fromfile"
    assert n.rpc("getinfo")["purgetime"] == 120
    n.stop()
    n.args.append("-handle=fromargs")
    n.start()
    assert n.stats()["handle"] == "fromargs"
