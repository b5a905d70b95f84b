"""Exact output bytes of the RPC server (API.md 3.4, 4.4, 5.6) that the
other suites check only after JSON decoding: string escaping, real number
formatting, help per method, context values kept as written.

Topology: one node, no peers (-connect to a closed port).
"""

import json

import pytest

from dexnet import RPCError


def raw_result(node, method, params):
    r = node.post({"method": method, "params": params, "id": 7})
    assert r.status == 200, r
    assert r.body.endswith(b"\n") and not r.body.endswith(b"\n\n")
    return r.body


def test_control_and_del_bytes_are_escaped(node):
    # tags are bytes: a BEL and a DEL come back as \u0007 and \u007f
    body = raw_result(node, "DEX_broadcast", ["hi", "0", "a\u0007b",
                                              "c\u007fd"])
    assert b'"tagA":"a\\u0007b","tagB":"c\\u007fd"' in body
    assert b"\x7f" not in body
    # non-ASCII UTF-8 passes through unchanged
    body = raw_result(node, "DEX_broadcast", ["hi", "0", "\u00e9t\u00e9"])
    assert '"tagA":"été"'.encode() in body


def test_compact_and_key_order(node):
    body = raw_result(node, "DEX_get", ["12345"])
    assert body == (b'{"result":{"result":"error","error":"id not found",'
                    b'"id":12345},"error":null,"id":7}\n')


def test_rate_is_a_real_with_one_decimal(node):
    body = raw_result(node, "DEX_stats", [])
    tail = body[body.index(b'"rate":'):]
    num = tail[len(b'"rate":'):]
    # the number ends at the next key (extensions after API.md's keys,
    # docs/rpc.md) or at the end of the object
    num = num[:min(i for i in (num.find(b","), num.find(b"}")) if i >= 0)]
    assert b"." in num and len(num.split(b".")[1]) == 1, num


def test_number_params_keep_their_text_in_errors(node):
    body = raw_result(node, "DEX_broadcast", ["hi", 1e3])
    # json.dumps writes 1000.0; the error echoes exactly that text
    assert b'"priority":"1000.0"' in body
    r = node.post(b'{"method":"DEX_list","params":[1E400],"id":1}')
    assert r.status == 200
    assert b'"error":"invalid stopat","stopat":"1E400"' in r.body
    r = node.post(b'[{"method":"DEX_list","params":["",-0.5]}]')
    assert b'"minpriority":"-0.5"' in r.body


def test_invalid_number_is_a_parse_error(node):
    r = node.post(b'{"method":"DEX_get","params":[01],"id":1}')
    assert r.status == 500
    assert r.json()["error"] == {"code": -32700, "message": "Parse error"}


def test_help_for_one_method(node):
    text = node.rpc("help", "DEX_list")
    lines = text.split("\n")
    assert lines[0] == ("DEX_list stopat minpriority tagA tagB pubkey33 "
                        "[minA maxA minB maxB [stophash]]")
    assert lines[1] == ""
    assert len(lines) > 2 and lines[2]
    assert node.rpc("help", "nosuch") == "help: unknown command: nosuch"
    for name in ("getinfo", "stop", "addnode", "DEX_stats", "help"):
        assert node.rpc("help", name).split("\n")[1] == ""


def test_help_lists_every_callable_method(node):
    text = node.rpc("help")
    usages = [l for l in text.split("\n") if l and not l.startswith("==")]
    for u in usages:
        name = u.split(" ")[0]
        # every listed method either exists (arity error or a result) or
        # is one this build does not have yet
        try:
            node.rpc(name, *(["x"] * 20))
        except RPCError as e:
            assert e.code in (-1, -32601), (name, e)


@pytest.mark.parametrize("cmd", ["", "ADD", "add ", "del"])
def test_addnode_bad_command(node, cmd):
    with pytest.raises(RPCError) as ei:
        node.rpc("addnode", "127.0.0.1:1", cmd)
    assert ei.value.code == -1
    assert ei.value.message == "addnode node add|remove|onetry\n"


def test_signed_packet_memo_stable(node):
    pk = node.pubkey()
    p = node.rpc("DEX_broadcast", "hello", "0", "BTC", "KMD", pk)
    assert p["decrypted"] == "hello" and p["senderpub"] == pk
    for _ in range(3):   # rendering from the memo gives the same object
        assert node.rpc("DEX_get", p["hash"]) == p
    lst = node.rpc("DEX_list", "", "0", "BTC", "KMD")
    assert lst["matches"] == [p]
    assert json.dumps(lst["matches"][0]) == json.dumps(p)
