"""JSON-RPC over HTTP transport rules (API.md 2.1-2.4, 3.1).

Topology: one node, no peers (-connect to a closed port).
"""

import json
import threading
import time

import pytest

from dexnet import RPCError, raw_http

MAX_BODY = 16 * 1024 * 1024


def resp_keys(r):
    """Keys of a response object in the order they were sent."""
    return [k for k, _ in r.json(ordered=True)]


def check_healthy(node):
    assert node.rpc("getinfo")["version"] == 10000


# ------------------------------------------------------------ 2.1 statuses

def test_success_response_shape(node):
    r = node.http(body='{"method":"getinfo","id":"x7"}')
    assert r.status == 200
    assert r.headers.get("content-type", "").startswith("application/json")
    assert r.body.endswith(b"\n") and not r.body.endswith(b"\n\n")
    # compact JSON: re-serialising compactly gives the same text
    obj = json.loads(r.body)
    assert r.body[:-1].decode() == json.dumps(obj, separators=(",", ":"),
                                              ensure_ascii=False)
    assert resp_keys(r) == ["result", "error", "id"]
    assert obj["error"] is None and obj["id"] == "x7"


def test_404_wrong_path(node):
    for path in ("/foo", "//", "/wallet/x", "/x/"):
        r = node.http(path=path, body='{"method":"getinfo"}')
        assert (r.status, r.body) == (404, b""), path


def test_404_before_405_and_401(node):
    r = node.http(method="GET", path="/nope", auth=None)
    assert (r.status, r.body) == (404, b"")


def test_405_not_post(node):
    for m in ("GET", "PUT", "DELETE"):
        r = node.http(method=m, body=b"", auth=node.auth())
        assert (r.status, r.body) == (405, b""), m


def test_405_before_401(node):
    r = node.http(method="GET", auth=None)
    assert r.status == 405


def test_401_missing_and_wrong_credentials(node):
    user, pw = node.auth()
    cases = [None, (user, "0" * 64), ("__cookie__", pw[:-1]),
             ("someone", pw), ("", "")]
    for auth in cases:
        t0 = time.monotonic()
        r = node.http(body='{"method":"getinfo"}', auth=auth)
        took = time.monotonic() - t0
        assert r.status == 401, auth
        assert r.body == b"", auth
        assert r.headers.get("www-authenticate") == 'Basic realm="jsonrpc"', \
            (auth, r.headers)
        assert took < 2.0, f"401 answer took {took:.2f}s (max delay 250 ms)"
    # garbage Authorization header
    r = node.http(body='{"method":"getinfo"}', auth=None,
                  headers={"Authorization": "Basic !!!notbase64"})
    assert r.status == 401
    r = node.http(body='{"method":"getinfo"}', auth=None,
                  headers={"Authorization": "Bearer abc"})
    assert r.status == 401
    check_healthy(node)


def test_401_before_413(node):
    r = node.http(body=b" " * (MAX_BODY + 1), auth=None)
    assert r.status == 401


def test_413_body_too_large(node):
    r = node.http(body=b" " * (MAX_BODY + 1))
    assert (r.status, r.body) == (413, b"")
    check_healthy(node)


def test_body_of_exactly_16_mib_is_served(node):
    req = b'{"method":"ping","id":16}'
    body = req + b" " * (MAX_BODY - len(req))
    assert len(body) == MAX_BODY
    r = node.http(body=body)
    assert r.status == 200, r
    assert r.json() == {"result": None, "error": None, "id": 16}


def test_cookie_file(node):
    import os
    import stat
    path = os.path.join(node.datadir, ".cookie")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    data = open(path, "rb").read()
    assert data.startswith(b"__cookie__:")
    secret = data[len(b"__cookie__:"):]
    assert len(secret) == 64 and all(c in b"0123456789abcdef" for c in secret)


def test_rpcpassword_no_cookie(make_node):
    import os
    n = make_node("pw", args=["-connect=127.0.0.1:1", "-rpcuser=alice",
                              "-rpcpassword=s3cret"])
    n.rpcauth = ("alice", "s3cret")    # instead of the cookie
    n.start()
    assert not os.path.exists(os.path.join(n.datadir, ".cookie"))
    assert n.http(body='{"method":"ping"}', auth=("alice", "wrong")).status == 401
    assert n.http(body='{"method":"ping"}', auth=("bob", "s3cret")).status == 401
    assert n.http(body='{"method":"ping"}', auth=("__cookie__", "s3cret")).status == 401
    r = n.http(body='{"method":"ping"}', auth=("alice", "s3cret"))
    assert r.status == 200
    # the CLI with the password, no cookie
    cp = n.cli("getinfo", opts=["-rpcuser=alice", "-rpcpassword=s3cret"])
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["port"] == n.port


def test_loopback_always_allowed(make_node):
    """127.0.0.1 is always allowed, whatever -rpcallowip says."""
    n = make_node("allow", args=["-connect=127.0.0.1:1",
                                 "-rpcallowip=10.11.12.0/24"]).start()
    assert n.rpc("ping") is None


def _post_from(source_ip, port, path="/", body=b"{}"):
    """POST without credentials from a chosen 127.x source address;
    returns (status, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                   source_address=(source_ip, 0))
    try:
        c.request("POST", path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_rpcallowip_refuses_other_clients(make_node):
    """A client address outside -rpcallowip (127.0.0.2: not 127.0.0.1, not
    in 10.11.12.0/24) gets 403 with an empty body, before the path, method
    and credential checks; an address in the list gets past it (401)."""
    n = make_node("deny", args=["-connect=127.0.0.1:1",
                                "-rpcallowip=10.11.12.0/24",
                                "-rpcallowip=127.0.0.3"]).start()
    assert _post_from("127.0.0.2", n.rpcport) == (403, b"")
    assert _post_from("127.0.0.2", n.rpcport, path="/x") == (403, b"")
    status, _ = _post_from("127.0.0.3", n.rpcport)
    assert status == 401
    assert n.rpc("ping") is None   # 127.0.0.1 still served


def test_keepalive_many_requests_one_connection(node):
    import http.client
    import base64
    user, pw = node.auth()
    tok = base64.b64encode(f"{user}:{pw}".encode()).decode()
    c = http.client.HTTPConnection("127.0.0.1", node.rpcport, timeout=10)
    try:
        for i in range(50):
            c.request("POST", "/", body=json.dumps({"method": "ping", "id": i}),
                      headers={"Authorization": "Basic " + tok})
            r = c.getresponse()
            assert r.status == 200
            assert json.loads(r.read())["id"] == i
            assert not r.will_close
    finally:
        c.close()


def test_four_concurrent_requests(node):
    """The server works on several requests at once: slow mining calls do
    not block DEX_stats."""
    results = []

    def slow():
        # priority 8 at txpowbits 12: ~2^20 hashes
        results.append(node.rpc("DEX_broadcast", "slow", "8", "slow"))

    ts = [threading.Thread(target=slow) for _ in range(3)]
    for t in ts:
        t.start()
    try:
        t0 = time.monotonic()
        for _ in range(5):
            node.rpc("DEX_stats")
        fast = time.monotonic() - t0
    finally:
        for t in ts:
            t.join(120)
    assert len(results) == 3
    assert all(r["priority"] >= 8 for r in results)
    assert fast < 5.0, f"5 DEX_stats took {fast:.2f}s while mining ran"


# ------------------------------------------------- 2.3/2.4 request objects

def err_of(node, body):
    r = node.http(body=body)
    return r.status, r.json()


@pytest.mark.parametrize("body,code,msg", [
    ("{", -32700, "Parse error"),
    ('{"method":"getinfo"', -32700, "Parse error"),
    ("not json", -32700, "Parse error"),
    ("", -32700, "Parse error"),
    ('{"method":"getinfo"} x', -32700, "Parse error"),
    ("5", -32700, "Top-level object parse error"),
    ('"getinfo"', -32700, "Top-level object parse error"),
    ("null", -32700, "Top-level object parse error"),
    ('{"params":[]}', -32600, "Missing method"),
    ('{"method":5}', -32600, "Method must be a string"),
    ('{"method":null}', -32600, "Method must be a string"),
    ('{"method":"getinfo","params":{}}', -32600, "Params must be an array"),
    ('{"method":"getinfo","params":"x"}', -32600, "Params must be an array"),
    ('{"method":"DEX_get","params":{"id":"1"}}', -32600,
     "Params must be an array"),
    ('{"method":"nosuchmethod"}', -32601, "Method not found"),
    ('{"method":"DEX_notarize","params":[]}', -32601, "Method not found"),
    ('{"method":"GETINFO"}', -32601, "Method not found"),
])
def test_request_errors(node, body, code, msg):
    status, resp = err_of(node, body)
    assert status == 500
    assert resp["result"] is None
    assert resp["error"] == {"code": code, "message": msg}
    check_healthy(node)


def test_parse_error_has_null_id(node):
    status, resp = err_of(node, '{"id":5, "method":')
    assert status == 500 and resp["id"] is None


@pytest.mark.parametrize("idv", [7, "abc", None, [1, 2], {"a": 1}, 1.5, True])
def test_id_echoed(node, idv):
    r = node.http(body=json.dumps({"method": "ping", "id": idv}))
    assert r.status == 200
    assert r.json() == {"result": None, "error": None, "id": idv}


def test_no_id_means_null_and_jsonrpc_ignored(node):
    for extra in ({}, {"jsonrpc": "2.0"}, {"jsonrpc": "1.0"}, {"foo": 1}):
        req = {"method": "ping"}
        req.update(extra)
        r = node.http(body=json.dumps(req))
        assert r.status == 200
        assert r.json(ordered=True) == [("result", None), ("error", None),
                                        ("id", None)]


def test_params_null_means_empty(node):
    r = node.http(body='{"method":"getinfo","params":null,"id":1}')
    assert r.status == 200 and r.json()["result"]["version"] == 10000


# ------------------------------------------------------------ batches

def test_batch_empty(node):
    r = node.http(body="[]")
    assert r.status == 200
    assert r.json() == []


def test_batch_mixed(node):
    batch = [
        {"method": "ping", "id": 1},
        5,
        {"method": "nosuch", "id": 2},
        {"method": "DEX_get", "params": [], "id": 3},
        {"method": "DEX_get", "params": ["12345"], "id": 4},
        "x",
        {"method": "getinfo", "id": 5},
        {"params": [], "id": 6},
    ]
    r = node.http(body=json.dumps(batch))
    assert r.status == 200
    out = r.json()
    assert isinstance(out, list) and len(out) == len(batch)
    assert out[0] == {"result": None, "error": None, "id": 1}
    assert out[1] == {"result": None, "id": None,
                      "error": {"code": -32600,
                                "message": "Invalid Request object"}}
    assert out[2]["error"] == {"code": -32601, "message": "Method not found"}
    assert out[2]["id"] == 2
    assert out[3]["error"] == {"code": -1, "message": "DEX_get id\n"}
    assert out[4] == {"result": {"result": "error", "error": "id not found",
                                 "id": 12345}, "error": None, "id": 4}
    assert out[5]["error"]["code"] == -32600 and out[5]["id"] is None
    assert out[6]["result"]["version"] == 10000 and out[6]["id"] == 5
    assert out[7]["error"] == {"code": -32600, "message": "Missing method"}
    for o in r.json(ordered=True):
        if isinstance(o, list):
            assert [k for k, _ in o] == ["result", "error", "id"]


def test_batch_order_kept_with_slow_elements(node):
    """Elements may run concurrently but answers come in request order."""
    batch = [{"method": "DEX_broadcast", "params": [f"b{i}", str(6 - i), "batch"],
              "id": i} for i in range(5)]
    batch.insert(2, {"method": "DEX_stats", "id": "s"})
    r = node.http(body=json.dumps(batch))
    assert r.status == 200
    out = r.json()
    assert [o["id"] for o in out] == [0, 1, "s", 2, 3, 4]
    for o in out:
        assert o["error"] is None
    assert out[0]["result"]["payload"] == "b0"
    assert out[5]["result"]["payload"] == "b4"


# ------------------------------------------------ 3.1 parameters

def test_wrong_arity_gives_usage(node):
    cases = [
        ("DEX_get", [], "DEX_get id\n"),
        ("DEX_get", ["1", "2"], "DEX_get id\n"),
        ("DEX_stats", ["x"], "DEX_stats\n"),
        ("getinfo", [""], "getinfo\n"),
        ("DEX_broadcast", [],
         "DEX_broadcast hex [priority [tagA [tagB [pubkey33 [volA [volB]]]]]]\n"),
        ("DEX_broadcast", ["aa"] * 8,
         "DEX_broadcast hex [priority [tagA [tagB [pubkey33 [volA [volB]]]]]]\n"),
        ("DEX_list", [],
         "DEX_list stopat minpriority tagA tagB pubkey33 "
         "[minA maxA minB maxB [stophash]]\n"),
        ("DEX_list", [""] * 11,
         "DEX_list stopat minpriority tagA tagB pubkey33 "
         "[minA maxA minB maxB [stophash]]\n"),
        ("addnode", ["127.0.0.1:1"], "addnode node add|remove|onetry\n"),
        ("stop", ["now"], "stop\n"),
        ("ping", ["x"], "ping\n"),
        ("help", ["a", "b"], "help [command]\n"),
    ]
    for method, params, usage in cases:
        with pytest.raises(RPCError) as ei:
            node.rpc(method, *params)
        assert (ei.value.code, ei.value.message) == (-1, usage), method
        assert ei.value.status == 500
    check_healthy(node)


@pytest.mark.parametrize("bad", [True, False, [], ["1"], {}, {"a": "b"}])
def test_param_type_error(node, bad):
    status, resp = node.call("DEX_get", [bad])
    assert status == 500
    assert resp["error"] == {
        "code": -3,
        "message": "JSON value is not a string or number as expected"}


def test_numbers_as_params(node):
    # a number is read as its JSON text
    r = node.rpc("DEX_get", 12345)
    assert r == {"result": "error", "error": "id not found", "id": 12345}
    p = node.rpc("DEX_broadcast", 1234, 0, "nums", "", "", 0.1, 1e-8)
    assert p["payload"] == "1234" and p["hex"] == 1
    assert p["amountA"] == "0.10000000"
    assert p["amountB"] == "0.00000001"
    assert p["tagA"] == "nums"
    # the priority 1.5 is read as "1.5", not an integer
    r = node.rpc("DEX_broadcast", "aa", 1.5)
    assert r == {"result": "error",
                 "error": "priority must be an integer from 0 to 32",
                 "priority": "1.5"}


def test_number_text_is_kept_exactly(node):
    """3.1: '5' is read as "5", 1e-8 as "1e-8": send raw JSON."""
    body = ('{"method":"DEX_broadcast","params":["aa",1e0],"id":1}')
    r = node.http(body=body)
    res = r.json()["result"]
    assert res == {"result": "error",
                   "error": "priority must be an integer from 0 to 32",
                   "priority": "1e0"}
    body = ('{"method":"DEX_broadcast","params":["aa",0,"n","","",1e-8,'
            '100.50],"id":1}')
    res = node.http(body=body).json()["result"]
    assert res["amountA"] == "0.00000001"
    assert res["amountB"] == "100.50000000"


def test_null_param_means_default(node):
    p = node.rpc("DEX_broadcast", "cafe", None, None, None, None, None, None)
    assert p["tagA"] == "general" and p["priority"] >= 0
    assert p["amountA"] == "0.00000000"
    r = node.rpc("DEX_list", None, None, "general")
    assert r["result"] == "success" and r["n"] >= 1


def test_node_serves_after_abuse(node):
    """A burst of broken requests on raw sockets, then normal service."""
    import socket
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 b"POST / HTTP/9.9\r\n\r\n", b"\r\n" * 1000,
                 b"POST / HTTP/1.1\r\n" + b"X-A: " + b"a" * 100000 + b"\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", node.rpcport), timeout=5)
        try:
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                while s.recv(65536):
                    pass
            except (OSError, socket.timeout):
                pass    # the server may close first: fine
        finally:
            s.close()
    # a client that connects and says nothing must not block others
    idle = socket.create_connection(("127.0.0.1", node.rpcport), timeout=5)
    try:
        check_healthy(node)
        r = raw_http(node.rpcport, body='{"method":"ping"}', auth=node.auth())
        assert r.status == 200
    finally:
        idle.close()


def test_large_answer_reaches_a_client_that_half_closed(node):
    """A client may shut down its sending side once its request is written
    (raw_http does): the whole answer still arrives.  evhttp watches the
    connection for reads while it writes an answer, and took that EOF for a
    client gone: answers were cut after their first write (~16 KB)."""
    payload = "ab" * 150000
    h = node.rpc("DEX_broadcast", payload, "4", "halfclose")["hash"]
    for _ in range(3):
        r = node.http(body=json.dumps({"method": "DEX_get",
                                       "params": [h], "id": 1}))
        assert r.status == 200
        assert len(r.body) > 300000, len(r.body)
        res = json.loads(r.body)["result"]
        assert res["hash"] == h and res["payload"] == payload
    check_healthy(node)
