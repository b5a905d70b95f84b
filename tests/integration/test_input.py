"""Bad (and borderline) input to DEX_broadcast, DEX_list, DEX_get: result
error objects of API.md 3.3 with exact messages and context keys, payload
input rules (C.1/C.2), amount rules (3.2).  After every group the node
must still serve.

Topology: one node, no peers, txpowbits 12.
"""

import pytest

OTHER_PUB = "01a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"
PACKET_KEYS = ["timestamp", "id", "hash", "tagA", "tagB", "pubkey", "payload",
               "hex", "senderpub", "amountA", "amountB", "priority",
               "recvtime", "cancelled"]
SIGNED_KEYS = ["timestamp", "id", "hash", "tagA", "tagB", "pubkey",
               "payload", "hex", "decrypted", "decryptedhex", "senderpub",
               "amountA", "amountB", "priority", "recvtime", "cancelled"]


def ordered(node, method, *params):
    """Result with its key order (list of pairs, recursively)."""
    import json
    req = {"method": method, "params": list(params), "id": 1}
    r = node.post(json.dumps(req))
    assert r.status == 200, r
    return r.json(ordered=True)[0][1]


def errobj(msg, **ctx):
    d = {"result": "error", "error": msg}
    d.update(ctx)
    return d


def check_error(node, method, params, expected):
    """The result equals `expected` and its keys are in the same order."""
    got = ordered(node, method, *params)
    assert isinstance(got, list), got
    assert dict(got) == expected, (method, params)
    assert [k for k, _ in got] == list(expected), (method, params)


# ----------------------------------------------------------- DEX_broadcast

BROADCAST_ERRORS = [
    ([""], errobj("broadcasting no payload is not supported")),
    (["hi\x00there"], errobj("hex contains a NUL byte", hex="hi\x00there")),
    (["aa", "33"], errobj("priority must be an integer from 0 to 32",
                          priority="33")),
    (["aa", "-1"], errobj("priority must be an integer from 0 to 32",
                          priority="-1")),
    (["aa", "x"], errobj("priority must be an integer from 0 to 32",
                         priority="x")),
    (["aa", "+1"], errobj("priority must be an integer from 0 to 32",
                          priority="+1")),
    (["aa", " 1"], errobj("priority must be an integer from 0 to 32",
                          priority=" 1")),
    (["aa", "1e1"], errobj("priority must be an integer from 0 to 32",
                           priority="1e1")),
    (["aa", "99999999999999999999999"],
     errobj("priority must be an integer from 0 to 32",
            priority="99999999999999999999999")),
    (["aa", "0", "A" * 16], errobj("tagA longer than 15 bytes",
                                   tagA="A" * 16)),
    (["aa", "0", "x", "B" * 16], errobj("tagB longer than 15 bytes",
                                        tagB="B" * 16)),
    # 8 two-byte characters = 16 bytes
    (["aa", "0", "é" * 8], errobj("tagA longer than 15 bytes", tagA="é" * 8)),
    (["aa", "0", "a\x00b"], errobj("tagA contains a NUL byte", tagA="a\x00b")),
    (["aa", "0", "x", "\x00"], errobj("tagB contains a NUL byte", tagB="\x00")),
    (["aa", "0", "x", "y", "02" + "11" * 32],
     errobj("pubkey33 must be 66 hex characters starting with 01",
            pubkey33="02" + "11" * 32)),
    (["aa", "0", "x", "y", "01" + "11" * 31],
     errobj("pubkey33 must be 66 hex characters starting with 01",
            pubkey33="01" + "11" * 31)),
    (["aa", "0", "x", "y", "01" + "11" * 32 + "0"],
     errobj("pubkey33 must be 66 hex characters starting with 01",
            pubkey33="01" + "11" * 32 + "0")),
    (["aa", "0", "x", "y", "01" + "zz" * 32],
     errobj("pubkey33 must be 66 hex characters starting with 01",
            pubkey33="01" + "zz" * 32)),
    (["aa", "0", "x", "y", OTHER_PUB],
     None),  # filled in by the test: needs this node's pubkey
    (["aa", "0", "inbox", "", "01" + "01" + "00" * 31],
     errobj("pubkey33 is not a valid public key",
            pubkey33="01" + "01" + "00" * 31)),
    (["aa", "0", "x", "y", "", "-1"], errobj("negative volA", volA="-1")),
    (["aa", "0", "x", "y", "", "-0"], errobj("negative volA", volA="-0")),
    (["aa", "0", "x", "y", "", "abc"], errobj("invalid volA", volA="abc")),
    (["aa", "0", "x", "y", "", "1.2.3"], errobj("invalid volA", volA="1.2.3")),
    (["aa", "0", "x", "y", "", "1e"], errobj("invalid volA", volA="1e")),
    (["aa", "0", "x", "y", "", "5."], errobj("invalid volA", volA="5.")),
    (["aa", "0", "x", "y", "", "+5"], errobj("invalid volA", volA="+5")),
    (["aa", "0", "x", "y", "", " 5"], errobj("invalid volA", volA=" 5")),
    (["aa", "0", "x", "y", "", "0x10"], errobj("invalid volA", volA="0x10")),
    (["aa", "0", "x", "y", "", "92233720368.54775808"],
     errobj("invalid volA", volA="92233720368.54775808")),
    (["aa", "0", "x", "y", "", "1e20"], errobj("invalid volA", volA="1e20")),
    (["aa", "0", "x", "y", "", "1" * 65], errobj("invalid volA", volA="1" * 65)),
    (["aa", "0", "x", "y", "", "1", "-2"], errobj("negative volB", volB="-2")),
    (["aa", "0", "x", "y", "", "1", "nan"], errobj("invalid volB", volB="nan")),
    # validation order: the first bad parameter is reported
    (["aa", "40", "A" * 16, "", "", "-1"],
     errobj("priority must be an integer from 0 to 32", priority="40")),
    (["aa", "0", "A" * 16, "B" * 16, "zz", "-1"],
     errobj("tagA longer than 15 bytes", tagA="A" * 16)),
    (["", "40"], errobj("broadcasting no payload is not supported")),
]


@pytest.mark.parametrize("params,expected", BROADCAST_ERRORS,
                         ids=[repr(p)[:50] for p, _ in BROADCAST_ERRORS])
def test_broadcast_errors(node, params, expected):
    if expected is None:
        expected = errobj("pubkey33 must be this node's pubkey unless tagA "
                          "is inbox", pubkey33=params[4],
                          publishable_pubkey=node.pubkey())
    check_error(node, "DEX_broadcast", params, expected)
    assert node.stats()["ram"] == 0, "a rejected broadcast stored a packet"


def test_packet_too_large(node):
    # 1,048,541 plaintext bytes with tagA general = 1,048,577 > max
    big = "ab" * 1048541
    got = node.rpc("DEX_broadcast", big)
    assert got == {"result": "error", "error": "packet too large",
                   "size": 1048577, "maxsize": 1048576}
    assert node.stats()["ram"] == 0


@pytest.mark.parametrize("inp,payload,hexflag", [
    ("cafe", "cafe", 1),
    ("FFFF", "ffff", 1),
    ("CaFe01", "cafe01", 1),
    ("hello", "hello", 0),
    ("a", "a", 0),
    ("abc", "abc", 0),
    ("0x12", "0x12", 0),
    ("686900", "hi", 0),
    ("68690001", "68690001", 1),
    ("00", "", 0),          # one NUL byte: text "" (C.2 rule 4)
    ("0000", "0000", 1),
    ("héllo", "68c3a96c6c6f00", 1),
    ('q"\\', 'q"\\', 0),
])
def test_payload_input_and_rendering(node, inp, payload, hexflag):
    p = node.rpc("DEX_broadcast", inp, "0", "render")
    assert (p["payload"], p["hex"]) == (payload, hexflag)
    assert node.rpc("DEX_get", p["hash"]) == p


@pytest.mark.parametrize("inp,out", [
    ("0", "0.00000000"), ("1", "1.00000000"), (".5", "0.50000000"),
    ("0.1", "0.10000000"), ("007", "7.00000000"), ("1e2", "100.00000000"),
    ("1E-8", "0.00000001"), ("2.5e-1", "0.25000000"),
    ("0.000000005", "0.00000000"),     # exact half rounds down
    ("0.000000015", "0.00000001"),     # exact half rounds down
    ("0.0000000151", "0.00000002"),    # above half rounds up
    ("0.000000025", "0.00000002"),
    ("92233720368.54775807", "92233720368.54775807"),  # 2^63 - 1 satoshis
    ("123456789.12345678", "123456789.12345678"),
    ("", "0.00000000"),
])
def test_amount_parsing(node, inp, out):
    p = node.rpc("DEX_broadcast", "aa", "0", "amt", "", "", inp, inp)
    assert p["amountA"] == out and p["amountB"] == out


def test_tags_at_the_limit(node):
    p = node.rpc("DEX_broadcast", "aa", "0", "A" * 15, "B" * 15)
    assert (p["tagA"], p["tagB"]) == ("A" * 15, "B" * 15)
    p = node.rpc("DEX_broadcast", "aa", "0", "é" * 7)          # 14 bytes
    assert p["tagA"] == "é" * 7
    # tagB only: no general default
    p = node.rpc("DEX_broadcast", "aa", "0", "", "onlyB")
    assert (p["tagA"], p["tagB"]) == ("", "onlyB")


def test_packet_object_key_order(node):
    got = ordered(node, "DEX_broadcast", "hello world")
    assert [k for k, _ in got] == PACKET_KEYS
    d = dict(got)
    assert d["tagA"] == "general" and d["payload"] == "hello world"
    assert d["hex"] == 0 and d["senderpub"] == "" and d["pubkey"] == ""
    assert d["cancelled"] == 0 and d["recvtime"] == d["timestamp"]
    assert d["hash"][:2] == "77" and d["hash"][3] == "7"
    # id = (h64 >> txpowbits) mod 2^32 for packets < 1024 bytes
    h64 = int.from_bytes(bytes.fromhex(d["hash"])[:8], "little")
    assert d["id"] == (h64 >> 12) & 0xFFFFFFFF
    mine = node.pubkey()
    got = ordered(node, "DEX_broadcast", "hello", "2", "BTC", "KMD", mine,
                  "0.1", "100")
    assert [k for k, _ in got] == SIGNED_KEYS
    d = dict(got)
    assert d["decrypted"] == "hello" and d["decryptedhex"] == 0
    assert d["senderpub"] == mine and d["pubkey"] == mine
    assert d["amountA"] == "0.10000000" and d["amountB"] == "100.00000000"
    assert d["priority"] >= 2
    assert d["payload"].startswith(mine[2:]) and d["hex"] == 1


def test_upper_case_pubkey_accepted_output_lower(node):
    mine = node.pubkey()
    p = node.rpc("DEX_broadcast", "aa", "0", "up", "", mine.upper())
    assert p["pubkey"] == mine


def test_priority_is_at_least_requested(node):
    for prio in (0, 1, 3, 6):
        p = node.rpc("DEX_broadcast", "aa", str(prio), "prio")
        assert p["priority"] >= prio
        # trailing zero bits of the id = priority (priority < 32)
        tz = (p["id"] & -p["id"]).bit_length() - 1 if p["id"] else 32
        assert tz == p["priority"] or p["priority"] >= 32


def test_blaster(node):
    r = node.rpc("DEX_broadcast", "ffff", "1", "blast")
    assert list(r) == ["result", "n", "ids"]
    assert r["result"] == "success" and r["n"] == 10 and len(r["ids"]) == 10
    got = node.rpc("DEX_list", "", "0", "blast")["matches"]
    assert len(got) == 10
    by_id = {p["id"]: p for p in got}
    for i, pid in enumerate(r["ids"]):
        p = by_id[pid]
        assert p["priority"] >= 1 + i // 3
        assert p["hex"] == 1 and len(p["payload"]) == 200
        assert p["tagA"] == "blast"
    # default tag for the blaster is general
    r = node.rpc("DEX_broadcast", "ffff")
    assert r["n"] == 10
    gen = {p["id"] for p in node.list_all("general")}
    assert set(r["ids"]) <= gen


# ------------------------------------------------------------- DEX_list

LIST_ERRORS = [
    (["x"], errobj("invalid stopat", stopat="x")),
    (["-1"], errobj("invalid stopat", stopat="-1")),
    (["4294967296"], errobj("invalid stopat", stopat="4294967296")),
    (["", "-1"], errobj("minpriority must be a non-negative integer",
                        minpriority="-1")),
    (["", "a"], errobj("minpriority must be a non-negative integer",
                       minpriority="a")),
    (["", "0", "T" * 16], errobj("tagA longer than 15 bytes", tagA="T" * 16)),
    (["", "0", "", "T" * 16], errobj("tagB longer than 15 bytes",
                                     tagB="T" * 16)),
    (["", "0", "", "", "03" + "00" * 32],
     errobj("pubkey33 must be 66 hex characters starting with 01",
            pubkey33="03" + "00" * 32)),
    (["", "0", "t", "", "", "-1"], errobj("negative minA", minA="-1")),
    (["", "0", "t", "", "", "", "x"], errobj("invalid maxA", maxA="x")),
    (["", "0", "t", "", "", "", "", "-0.1"], errobj("negative minB",
                                                    minB="-0.1")),
    (["", "0", "t", "", "", "", "", "", "1..2"], errobj("invalid maxB",
                                                        maxB="1..2")),
    (["", "0", "t", "", "", "2", "1"],
     errobj("minA greater than maxA", minA="2", maxA="1")),
    (["", "0", "t", "", "", "", "", "0.3", "0.20"],
     errobj("minB greater than maxB", minB="0.3", maxB="0.20")),
    (["", "0", "t", "", "", "", "", "", "", "abc"],
     errobj("stophash must be 64 hex characters", stophash="abc")),
    (["", "0", "t", "", "", "", "", "", "", "g" * 64],
     errobj("stophash must be 64 hex characters", stophash="g" * 64)),
    # order: stopat before minpriority before tags
    (["x", "-1", "T" * 16], errobj("invalid stopat", stopat="x")),
    (["", "0", "t", "", "", "3", "1", "x"], errobj("invalid minB", minB="x")),
]


@pytest.mark.parametrize("params,expected", LIST_ERRORS,
                         ids=[repr(p)[:50] for p, _ in LIST_ERRORS])
def test_list_errors(node, params, expected):
    check_error(node, "DEX_list", params, expected)


def test_list_output_and_filters(node):
    a = node.rpc("DEX_broadcast", "one", "0", "F", "G", "", "1", "10")
    b = node.rpc("DEX_broadcast", "two", "3", "F", "H", "", "2", "20")
    c = node.rpc("DEX_broadcast", "three", "0", "F", "G", "", "3", "30")
    got = ordered(node, "DEX_list", "", "0", "F")
    assert [k for k, _ in got] == ["result", "matches", "tagA", "tagB",
                                   "pubkey", "n"]
    r = node.rpc("DEX_list", "", "0", "F")
    assert [p["hash"] for p in r["matches"]] == [c["hash"], b["hash"],
                                                 a["hash"]]
    assert (r["tagA"], r["tagB"], r["pubkey"], r["n"]) == ("F", "", "", 3)
    assert r["matches"][0] == c
    r = node.rpc("DEX_list", "", "0", "F", "G")
    assert [p["hash"] for p in r["matches"]] == [c["hash"], a["hash"]]
    r = node.rpc("DEX_list", "", "0", "", "H")
    assert [p["hash"] for p in r["matches"]] == [b["hash"]]
    assert r["tagA"] == ""
    r = node.rpc("DEX_list", "", str(b["priority"]), "F")
    assert b["hash"] in [p["hash"] for p in r["matches"]]
    assert all(p["priority"] >= b["priority"] for p in r["matches"])
    r = node.rpc("DEX_list", "", "0", "F", "", "", "2", "2.0")
    assert [p["hash"] for p in r["matches"]] == [b["hash"]]
    r = node.rpc("DEX_list", "", "0", "F", "", "", "", "", "15", "30")
    assert [p["hash"] for p in r["matches"]] == [c["hash"], b["hash"]]
    # stop points
    r = node.rpc("DEX_list", str(b["id"]), "0", "F")
    assert [p["hash"] for p in r["matches"]] == [c["hash"]]
    r = node.rpc("DEX_list", "", "0", "F", "", "", "", "", "", "",
                 a["hash"].upper())
    assert [p["hash"] for p in r["matches"]] == [c["hash"], b["hash"]]
    # default tag general is echoed
    r = node.rpc("DEX_list", "")
    assert r["tagA"] == "general" and r["n"] == 0
    # unknown tag: empty, success
    r = node.rpc("DEX_list", "", "0", "nosuchtag")
    assert r == {"result": "success", "matches": [], "tagA": "nosuchtag",
                 "tagB": "", "pubkey": "", "n": 0}


def test_list_by_pubkey(node):
    mine = node.pubkey()
    p = node.rpc("DEX_broadcast", "signed", "0", "S", "", mine)
    r = node.rpc("DEX_list", "", "0", "", "", mine.upper())
    assert r["pubkey"] == mine and r["tagA"] == ""
    assert [m["hash"] for m in r["matches"]] == [p["hash"]]


# ------------------------------------------------------------- DEX_get

@pytest.mark.parametrize("arg,expected", [
    ("12345", errobj("id not found", id=12345)),
    ("0", errobj("id not found", id=0)),
    ("4294967295", errobj("id not found", id=4294967295)),
    ("", errobj("invalid id", id="")),
    ("-1", errobj("invalid id", id="-1")),
    ("4294967296", errobj("invalid id", id="4294967296")),
    ("12x", errobj("invalid id", id="12x")),
    ("AB" * 32, errobj("hash not found", hash="ab" * 32)),
    ("ab" * 31, errobj("invalid id", id="ab" * 31)),
])
def test_get_errors(node, arg, expected):
    check_error(node, "DEX_get", [arg], expected)


def test_get_by_id_and_hash(node):
    p = node.rpc("DEX_broadcast", "getme", "1", "G")
    assert node.rpc("DEX_get", str(p["id"])) == p
    assert node.rpc("DEX_get", p["id"]) == p
    assert node.rpc("DEX_get", p["hash"]) == p
    assert node.rpc("DEX_get", p["hash"].upper()) == p
    assert node.rpc("DEX_get", "000" + str(p["id"])) == p


# ------------------------------------------------------------- DEX_stats

def test_stats_shape(node):
    got = ordered(node, "DEX_stats")
    keys = [k for k, _ in got]
    # API.md 4.4's keys in order, then this implementation's extensions
    # (docs/rpc.md)
    assert keys == ["result", "publishable_pubkey", "secpkey", "recvaddr",
                    "recvZaddr", "handle", "txpowbits", "vip", "cmdpriority",
                    "perfstats", "ram", "fingerprint", "peers", "received",
                    "sent", "added", "duplicates", "dropped", "rate",
                    "peermem", "futurehold", "subscriptions"]
    d = dict(got)
    assert [k for k, _ in d["dropped"]] == ["malformed", "oversize", "badpow",
                                            "lowpriority", "future",
                                            "expired", "overload"]
    assert d["txpowbits"] == 12 and d["vip"] == 5 and d["cmdpriority"] == 7
    assert d["ram"] == 0 and d["fingerprint"] == "0" * 64
    assert d["perfstats"].startswith("RAM.0 00000000 R.0 S.0 A.0 dup.0 | ")
    assert d["perfstats"].endswith("  0/sec")


def test_stats_fingerprint_and_counters(node):
    from dexnet import xor_fingerprint
    hashes, ids = [], []
    for i in range(5):
        p = node.rpc("DEX_broadcast", f"fp{i}", "0", "fp")
        hashes.append(p["hash"])
        ids.append(p["id"])
    s = node.stats()
    assert s["ram"] == 5 and s["added"] == 5 and s["received"] == 0
    assert s["fingerprint"] == xor_fingerprint(hashes)
    x = 0
    for i in ids:
        x ^= i
    assert s["perfstats"].startswith(f"RAM.5 {x:08x} R.0 S.0 A.5 dup.0 |")
    assert 0 < s["rate"] <= 0.5


def test_node_serves_after_bad_input(node):
    for params, _ in BROADCAST_ERRORS:
        node.rpc("DEX_broadcast", *params)
    for params, _ in LIST_ERRORS:
        node.rpc("DEX_list", *params)
    p = node.rpc("DEX_broadcast", "still alive")
    assert node.rpc("DEX_get", p["hash"]) == p
    assert node.stats()["ram"] == 1
