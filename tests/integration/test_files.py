"""DEX_publish, DEX_subscribe, DEX_stream, DEX_streamsub between real
daemons (API.md 4.9 - 4.13): sizes across two hops, the packet table,
every error object with its key order, reuse, tampered and forged packets
of each type, the wait rule, progress while the loop keeps answering, the
queue, stop, a source changing while read, output errors, and a growing
file followed slice by slice.

Subscribers here get every fragment by relay; fetching from peers is in
test_files_fetch.py."""

import json
import os
import subprocess
import threading
import time

import pytest

import dexnet
from filesutil import (RESULT_KEYS, Call, amount, files_node, inject, line,
                       locators_hex, next_second, output_path, raw_of, sha,
                       start_all, write_file)


def check_result(r, name, size, pub, data):
    assert list(r.keys()) == RESULT_KEYS, r
    assert r["fname"] == name
    assert r["senderpub"] == pub
    assert r["filesize"] == size
    k = (size + 9999) // 10000
    assert r["fragments"] == k and r["numlocators"] == k
    assert r["filehash"] == r["checkhash"] == sha(data)
    assert r["result"] == "success"


# ------------------------------------------------------------ two hops

def test_sizes_two_hops(make_node, workdir):
    a, _, c = line(make_node, workdir, 3)
    pa = a.pubkey()
    e = write_file(a, "empty.bin", b"")
    assert e
    r = a.rpc("DEX_publish", "empty.bin")
    assert list(r.items()) == [("result", "error"), ("error", "file is empty"),
                               ("filename", "empty.bin")]
    for size in (1, 659, 30000, 10_500_000):
        name = f"s{size}"
        data = os.urandom(size)
        write_file(a, name, data)
        pub = a.rpc("DEX_publish", name, "0", "0")
        check_result(pub, name, size, pa, data)
        # the locators packet must be held (4.11 step 1 does not wait for
        # it); fragments and the hash packet are waited for
        c.wait_packet(a.rpc("DEX_get", str(pub["id"]))["hash"])
        sub = c.rpc("DEX_subscribe", name, "0", "0", pa)
        check_result(sub, name, size, pa, data)
        assert sub["id"] == pub["id"]
        with open(output_path(c, name, pa), "rb") as f:
            assert sha(f.read()) == sha(data)
        # the publisher writes no file
        assert not os.path.exists(output_path(a, name, pa))
    # id given explicitly (deprecated form) gives the same answer
    again = c.rpc("DEX_subscribe", name, "0", str(pub["id"]), pa)
    assert again == sub


def test_default_txpowbits_and_packet_table(make_node, workdir):
    a = files_node(make_node, workdir, "a", txpowbits=12)
    b = files_node(make_node, workdir, "b", txpowbits=12, connect=[a])
    start_all([a, b], [1, 1])
    pa = a.pubkey()
    data = os.urandom(25000)
    write_file(a, "notes.txt", data)
    r = a.rpc("DEX_publish", "notes.txt", "0")
    check_result(r, "notes.txt", 25000, pa, data)
    b.wait_packet(a.rpc("DEX_get", str(r["id"]))["hash"])
    frags = a.rpc("DEX_list", "0", "0", "notes.txt", "data", pa)["matches"]
    frags.sort(key=lambda p: p["amountA"])
    assert [p["amountA"] for p in frags] == ["0.00000000", "0.00000001",
                                             "0.00000002"]
    assert all(p["amountB"] == "0.00000000" for p in frags)
    assert "".join(p["decrypted"] for p in frags) == data.hex()
    loc = a.rpc("DEX_get", str(r["id"]))
    assert loc["tagA"] == "notes.txt" and loc["tagB"] == "locators"
    assert loc["amountA"] == "0.00025000" and loc["amountB"] == "0.00000003"
    assert loc["decrypted"] == locators_hex(frags)
    assert loc["priority"] >= 5 and loc["pubkey"] == pa
    files = a.rpc("DEX_list", "0", "0", "", "notes.txt", pa)["matches"]
    hp = [p for p in files if p["tagA"] == "files"]
    assert len(hp) == 1 and hp[0]["decrypted"] == sha(data)
    assert hp[0]["amountA"] == "0.00025000" and hp[0]["priority"] >= 5
    listed = a.rpc("DEX_list", "", "0", "files")["matches"]
    assert [p["tagB"] for p in listed] == ["notes.txt"]
    sub = b.rpc("DEX_subscribe", "notes.txt", "0", "0", pa)
    check_result(sub, "notes.txt", 25000, pa, data)


# -------------------------------------------------------------- errors

def test_error_objects(make_node, workdir):
    a = files_node(make_node, workdir, "a", txpowbits=0)
    b = files_node(make_node, workdir, "b", txpowbits=0, connect=[a])
    start_all([a, b], [1, 1])
    pa, pb = a.pubkey(), b.pubkey()

    def err(node, method, *params):
        return list(node.rpc(method, *params).items())

    for m in ("DEX_publish", "DEX_stream"):
        assert err(a, m, "a_name_too_long.bin") == [
            ("result", "error"), ("error", "filename longer than 15 chars"),
            ("filename", "a_name_too_long.bin")]
        for bad in ("..", ".", "a/b", "../etc", "a\\b", "x\ny", "x\x00y",
                    "\x1b"):
            assert err(a, m, bad) == [("result", "error"),
                                      ("error", "invalid filename"),
                                      ("filename", bad)], bad
        assert err(a, m, "ok", "33") == [
            ("result", "error"),
            ("error", "priority must be an integer from 0 to 32"),
            ("priority", "33")]
    assert err(a, "DEX_publish", "ok", "0", "-2") == [
        ("result", "error"), ("error", "negative sliceid"), ("sliceid", -2)]
    for bad in ("x", "92235", "1.5", "+1"):
        assert err(a, "DEX_publish", "ok", "0", bad) == [
            ("result", "error"), ("error", "invalid sliceid"),
            ("sliceid", bad)]
    r = a.rpc("DEX_publish", "nosuchfile.x")
    home = os.environ.get("HOME")
    searched = [os.path.join(os.getcwd(), "nosuchfile.x")]
    if home:
        searched.append(os.path.join(home, "dexp2p", "nosuchfile.x"))
    searched.append(os.path.join(a.filesdir, "nosuchfile.x"))
    assert list(r.items()) == [("result", "error"), ("error", "file not found"),
                               ("filename", "nosuchfile.x"),
                               ("searched", searched)]
    assert err(a, "DEX_stream", "nosuchfile.x")[:3] == list(r.items())[:3]
    # the default name
    assert err(a, "DEX_publish")[:3] == [("result", "error"),
                                         ("error", "file not found"),
                                         ("filename", "testfile")]
    big = write_file(a, "big.bin", b"")
    os.truncate(big, 1_310_000_001)   # sparse
    assert err(a, "DEX_publish", "big.bin") == [
        ("result", "error"), ("error", "file too big"),
        ("filename", "big.bin"), ("filesize", 1_310_000_001),
        ("maxsize", 1310000000)]
    os.unlink(big)
    write_file(a, "small.bin", os.urandom(1_500_000))
    assert err(a, "DEX_publish", "small.bin", "0", "3") == [
        ("result", "error"), ("error", "sliceid beyond end of file"),
        ("sliceid", 3), ("filesize", 1_500_000), ("offset0", 2_000_000)]
    # a slice of a file: fname carries offset0
    sl = a.rpc("DEX_publish", "small.bin", "0", "2")
    assert sl["fname"] == "small.bin.1000000" and sl["filesize"] == 500000
    assert sl["fragments"] == 50 and sl["result"] == "success"

    # subscribe
    for bad in ("", "02" + "00" * 32, "01" + "00" * 31, "zz"):
        assert err(b, "DEX_subscribe", "f", "0", "0", bad) == [
            ("result", "error"), ("error", "need publisher pubkey for sub"),
            ("publisher33", bad)]
    assert err(b, "DEX_subscribe", "f", "0", "0") == [
        ("result", "error"), ("error", "need publisher pubkey for sub"),
        ("publisher33", "")]
    assert err(b, "DEX_subscribe", "f", "0", "4294967296", pa) == [
        ("result", "error"), ("error", "invalid id"), ("id", "4294967296")]
    assert err(b, "DEX_subscribe", "..", "0", "0", pa)[1] == (
        "error", "invalid filename")
    assert err(b, "DEX_subscribe", "nothing", "0", "0", pa) == [
        ("result", "error"), ("error", "couldnt find id"), ("id", 0)]
    assert err(b, "DEX_subscribe", "nothing", "0", "12345", pa) == [
        ("result", "error"), ("error", "couldnt find id"), ("id", 12345)]
    other = b.rpc("DEX_broadcast", "68656c6c6f", "0", "tA", "tB")
    assert err(b, "DEX_subscribe", "nothing", "0", str(other["id"]), pa) == [
        ("result", "error"), ("error", "tags mismatch"), ("tagA", "tA"),
        ("filename", "nothing"), ("tagB", "tB"), ("tagBstr", "locators")]
    # a locators packet signed by b, asked for as a's
    fake = b.rpc("DEX_broadcast", "00" * 16, "5", "fake", "locators", pb,
                 amount(10000), amount(1))
    assert err(b, "DEX_subscribe", "fake", "0", str(fake["id"]), pa) == [
        ("result", "error"), ("error", "wrong sender"), ("senderpub", pb)]
    # a plain (unsigned) packet tagged as locators: no sender key
    plain = b.rpc("DEX_broadcast", "00" * 40, "5", "plainloc", "locators")
    assert err(b, "DEX_subscribe", "plainloc", "0", str(plain["id"]), pa) == [
        ("result", "error"), ("error", "wrong sender"), ("senderpub", "")]
    # a's own locators packet shorter than its 8-byte header
    short = a.rpc("DEX_broadcast", "0011223344", "5", "shortloc", "locators",
                  pa, amount(25000), amount(3))
    b.wait_packet(short["hash"])
    assert err(b, "DEX_subscribe", "shortloc", "0", "0", pa) == [
        ("result", "error"), ("error", "invalid locators packet"),
        ("id", short["id"]), ("filesize", 25000), ("fragments", 3),
        ("numlocators", 0)]
    # a's own locators packet with a bad shape
    bad = a.rpc("DEX_broadcast", "00" * 15, "5", "badloc", "locators", pa,
                amount(25000), amount(3))
    b.wait_packet(bad["hash"])
    assert err(b, "DEX_subscribe", "badloc", "0", "0", pa) == [
        ("result", "error"), ("error", "invalid locators packet"),
        ("id", bad["id"]), ("filesize", 25000), ("fragments", 3),
        ("numlocators", 0)]
    # stream and streamsub
    for bad in ("", "03" + "11" * 32):
        assert err(b, "DEX_streamsub", "cam", "0", bad) == [
            ("result", "error"), ("error", "need publisher pubkey for sub"),
            ("pubkey", bad)]
    assert err(b, "DEX_streamsub", "cam", "0", pa) == [
        ("result", "success"), ("warning", "stream has no new slice yet"),
        ("filename", "cam"), ("offset0", 0), ("filesize", 0)]
    write_file(a, "cam", os.urandom(458334))
    assert err(a, "DEX_stream", "cam", "0") == [
        ("result", "success"), ("warning", "not enough data to extend stream"),
        ("filename", "cam"), ("filesize", 458334), ("offset0", 0),
        ("available", 458334), ("needed", 1000000)]
    # nothing was written for any refused name
    assert os.listdir(b.filesdir) == []


def test_cli_string_params(make_node, workdir):
    """dexp2p-cli sends strings; the documented command lines work."""
    a = files_node(make_node, workdir, "a", txpowbits=0)
    a.start()
    data = os.urandom(659)
    write_file(a, "cli.txt", data)
    p = a.cli("DEX_publish", "cli.txt", "0")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert list(r.keys()) == RESULT_KEYS and r["filehash"] == sha(data)
    p = a.cli("DEX_subscribe", "cli.txt", "0", "0", a.pubkey())
    assert json.loads(p.stdout)["result"] == "success"
    # the subscriber side on the publisher node writes the copy
    with open(output_path(a, "cli.txt", a.pubkey()), "rb") as f:
        assert f.read() == data


# --------------------------------------------------------------- reuse

def test_reuse_same_content(make_node, workdir):
    a = files_node(make_node, workdir, "a", txpowbits=0)
    a.start()
    data = os.urandom(45000)
    write_file(a, "re.bin", data)
    r1 = a.rpc("DEX_publish", "re.bin")
    added = a.stats()["added"]
    r2 = a.rpc("DEX_publish", "re.bin", "3")
    assert r2 == r1
    assert a.stats()["added"] == added, "reuse broadcast something"
    # same size, other content: published again
    write_file(a, "re.bin", os.urandom(45000))
    r3 = a.rpc("DEX_publish", "re.bin")
    assert r3["id"] != r1["id"] and r3["filehash"] != r1["filehash"]
    assert a.stats()["added"] == added + 5 + 2
    # back to the first content: the first publication is not what a
    # subscriber would now get (newest locators), so it is published again
    write_file(a, "re.bin", data)
    r4 = a.rpc("DEX_publish", "re.bin")
    assert r4["id"] not in (r1["id"], r3["id"])
    assert r4["filehash"] == sha(data)
    assert a.stats()["added"] == added + 2 * 7
    sub = a.rpc("DEX_subscribe", "re.bin", "0", "0", a.pubkey())
    assert sub["result"] == "success" and sub["id"] == r4["id"]
    assert sub["filehash"] == sha(data)
    # and that one is reused
    assert a.rpc("DEX_publish", "re.bin") == r4


# ------------------------------------------------- tampering and forgery

def test_tamper_and_forgery(make_node, workdir):
    a = files_node(make_node, workdir, "a", txpowbits=0)
    b = files_node(make_node, workdir, "b", txpowbits=0, connect=[a])
    start_all([a, b], [1, 1])
    pa, pb = a.pubkey(), b.pubkey()
    data = os.urandom(25000)
    write_file(a, "t.bin", data)
    pub = a.rpc("DEX_publish", "t.bin")
    b.wait_packet(a.rpc("DEX_get", str(pub["id"]))["hash"])
    assert b.rpc("DEX_subscribe", "t.bin", "0", "0", pa)["result"] == "success"
    frags = sorted(a.rpc("DEX_list", "0", "0", "t.bin", "data", pa)["matches"],
                   key=lambda p: p["amountA"])

    # forged locators (a's pubkey, b's signature), newer, naming nothing
    next_second()
    fb = b.rpc("DEX_broadcast", "00" * 8 + "11" * 24, "5", "t.bin",
               "locators", pb, amount(25000), amount(3))
    forged = inject(b, raw_of(fb, pubkey=pa, t=int(time.time())))
    r = b.rpc("DEX_subscribe", "t.bin", "0", "0", pa)
    assert r["result"] == "success" and r["id"] == pub["id"]
    assert list(b.rpc("DEX_subscribe", "t.bin", "0", str(forged["id"]),
                      pa).items()) == [("result", "error"),
                                       ("error", "wrong sender"),
                                       ("senderpub", pb)]

    # forged hash packet (a's pubkey, b's signature) announcing zeros
    next_second()
    fh = b.rpc("DEX_broadcast", "00" * 32, "5", "files", "t.bin", pb,
               amount(25000), amount(3))
    inject(b, raw_of(fh, pubkey=pa, t=int(time.time())))
    r = b.rpc("DEX_subscribe", "t.bin", "0", "0", pa)
    assert r["result"] == "success" and r["checkhash"] == sha(data)

    # tampered fragment: a valid packet of a with other bytes, named by
    # newer locators of a
    next_second()
    t1 = a.rpc("DEX_broadcast", os.urandom(10000).hex(), "0", "t.bin", "data",
               pa, amount(1), amount(0))
    loc = a.rpc("DEX_broadcast",
                locators_hex([frags[0], t1, frags[2]]), "5", "t.bin",
                "locators", pa, amount(25000), amount(3))
    b.wait_packet(loc["hash"])
    r = b.rpc("DEX_subscribe", "t.bin", "0", "0", pa)
    assert list(r.keys()) == RESULT_KEYS + ["error"]
    assert r["id"] == loc["id"] and r["result"] == "error"
    assert r["error"] == "file hash mismatch"
    assert r["checkhash"] == sha(data) and r["filehash"] != sha(data)

    # truncated locators of a: invalid
    next_second()
    tr = a.rpc("DEX_broadcast", locators_hex(frags)[:-2], "5", "t.bin",
               "locators", pa, amount(25000), amount(3))
    b.wait_packet(tr["hash"])
    assert list(b.rpc("DEX_subscribe", "t.bin", "0", "0", pa).items()) == [
        ("result", "error"), ("error", "invalid locators packet"),
        ("id", tr["id"]), ("filesize", 25000), ("fragments", 3),
        ("numlocators", 2)]

    # forged fragment (a's pubkey, b's signature) named by a's locators:
    # it does not count as present
    next_second()
    ff = b.rpc("DEX_broadcast", data[10000:20000].hex(), "0", "t.bin", "data",
               pb, amount(1), amount(0))
    forged_frag = inject(b, raw_of(ff, pubkey=pa, t=int(time.time())))
    assert forged_frag["error"] == "wrong sender"
    loc = a.rpc("DEX_broadcast", locators_hex([frags[0], forged_frag,
                                               frags[2]]),
                "5", "t.bin", "locators", pa, amount(25000), amount(3))
    b.wait_packet(loc["hash"])
    t0 = time.monotonic()
    r = b.rpc("DEX_subscribe", "t.bin", "0", "0", pa)
    waited = time.monotonic() - t0
    assert list(r.keys()) == RESULT_KEYS + ["error", "missing"]
    assert (r["result"], r["error"], r["missing"]) == (
        "error", "missing fragments", 1)
    assert r["checkhash"] == sha(data)
    # the wait rule: 10 s without progress
    assert 9.5 <= waited <= 30 * dexnet.TIMEOUT_SCALE, waited
    # the output holds zeros where the fragment is missing
    with open(output_path(b, "t.bin", pa), "rb") as f:
        out = f.read()
    assert out[10000:20000] == b"\0" * 10000 and out[:10000] == data[:10000]


def test_hash_packet_missing_waits(make_node, workdir):
    """Fragments present, no file hash packet: waits 10 s without progress,
    then `file hash not found`; progress shows meanwhile."""
    a = files_node(make_node, workdir, "a", txpowbits=0)
    a.start()
    pa = a.pubkey()
    data = os.urandom(15000)
    f0 = a.rpc("DEX_broadcast", data[:10000].hex(), "0", "nohash", "data", pa,
               amount(0), amount(0))
    f1 = a.rpc("DEX_broadcast", data[10000:].hex(), "0", "nohash", "data", pa,
               amount(1), amount(0))
    loc = a.rpc("DEX_broadcast", locators_hex([f0, f1]), "5", "nohash",
                "locators", pa, amount(15000), amount(2))
    t0 = time.monotonic()
    call = Call(a, "DEX_subscribe", "nohash", "0", "0", pa)
    st = dexnet.wait_for(lambda: "progress" in a.stats() and a.stats(), 5,
                         what="progress while waiting")
    keys = list(st.keys())
    assert keys.index("progress") == keys.index("cmdpriority") + 1
    assert st["progress"] == 100.0   # both fragments written
    r = call.get()
    waited = time.monotonic() - t0
    assert list(r.items()) == [
        ("fname", "nohash"), ("id", loc["id"]), ("senderpub", pa),
        ("filesize", 15000), ("fragments", 2), ("numlocators", 2),
        ("filehash", sha(data)), ("checkhash", "0" * 64),
        ("result", "error"), ("error", "file hash not found")]
    assert 9.5 <= waited <= 30 * dexnet.TIMEOUT_SCALE, waited
    assert "progress" not in a.stats()


# ----------------------------------------- the loop, the queue and stop

def slow_node(make_node, workdir, name):
    """txpowbits 12: a 10 KB fragment takes ~2^16 hashes, so a 2 MB
    publish lasts long enough to be watched."""
    n = files_node(make_node, workdir, name, txpowbits=12)
    n.start()
    return n


def test_progress_queue_and_liveness(make_node, workdir):
    a = slow_node(make_node, workdir, "a")
    data = os.urandom(2_000_000)
    write_file(a, "big.bin", data)
    write_file(a, "small.bin", b"x" * 100)
    call = Call(a, "DEX_publish", "big.bin")
    seen, lat = [], []
    deadline = time.monotonic() + 120 * dexnet.TIMEOUT_SCALE
    queued = None
    while call.is_alive() and time.monotonic() < deadline:
        t0 = time.monotonic()
        st = a.stats()
        lat.append(time.monotonic() - t0)
        if "progress" in st:
            seen.append(st["progress"])
            if queued is None:
                queued = Call(a, "DEX_publish", "small.bin")
        time.sleep(0.05)
    r = call.get()
    assert r["result"] == "success" and r["fragments"] == 200
    assert seen and all(0 <= p <= 100 for p in seen)
    assert seen == sorted(seen) and len(set(seen)) > 1, seen
    # the loop kept answering while mining went on
    assert max(lat) < 2.0 * dexnet.TIMEOUT_SCALE, max(lat)
    # the queued call ran after the first
    q = queued.get()
    assert q["result"] == "success" and queued.t_end >= call.t_end
    assert "progress" not in a.stats()


def test_stop_interrupts(make_node, workdir):
    a = slow_node(make_node, workdir, "a")
    write_file(a, "big.bin", os.urandom(3_000_000))
    call = Call(a, "DEX_publish", "big.bin")
    waiting = None
    dexnet.wait_for(lambda: "progress" in a.stats(), 30, what="publishing")
    waiting = Call(a, "DEX_stream", "big.bin")
    time.sleep(0.2)
    assert a.rpc("stop") == "dexp2pd stopping"
    assert call.get(30) == {"result": "error", "error": "shutting down"}
    assert waiting.get(30) == {"result": "error", "error": "shutting down"}
    a.proc.wait(20)
    assert a.proc.returncode == 0


def test_stop_interrupts_subscribe(make_node, workdir):
    """A subscription waiting for a fragment that never comes is answered
    "shutting down" by stop, at once."""
    a = files_node(make_node, workdir, "a", txpowbits=0)
    a.start()
    pa = a.pubkey()
    f0 = a.rpc("DEX_broadcast", "ab" * 500, "0", "never", "data", pa,
               amount(0), amount(0))
    ghost = dict(f0, id=(f0["id"] + 1) % 2**32)
    a.rpc("DEX_broadcast", locators_hex([f0, ghost]), "5", "never",
          "locators", pa, amount(10500), amount(2))
    call = Call(a, "DEX_subscribe", "never", "0", "0", pa)
    dexnet.wait_for(lambda: "progress" in a.stats(), 10, what="waiting")
    t0 = time.monotonic()
    assert a.rpc("stop") == "dexp2pd stopping"
    assert call.get(30) == {"result": "error", "error": "shutting down"}
    assert time.monotonic() - t0 < 5 * dexnet.TIMEOUT_SCALE
    a.proc.wait(20)
    assert a.proc.returncode == 0


def test_source_changes_while_read(make_node, workdir):
    a = slow_node(make_node, workdir, "a")
    p = write_file(a, "grow.bin", os.urandom(2_000_000))
    call = Call(a, "DEX_publish", "grow.bin")
    dexnet.wait_for(lambda: "progress" in a.stats(), 30, what="publishing")
    with open(p, "ab") as f:
        f.write(b"more")
    assert list(call.get().items()) == [("result", "error"),
                                        ("error", "file read error"),
                                        ("filename", "grow.bin")]
    # nothing announces it: no locators, no hash packet
    pa = a.pubkey()
    assert a.rpc("DEX_list", "0", "0", "grow.bin", "locators", pa)["n"] == 0
    assert a.rpc("DEX_list", "0", "0", "files", "grow.bin", pa)["n"] == 0
    # same size, other bytes while read: detected when H was computed
    # first, i.e. when an earlier publication of that name and size exists
    # (4.10 step 2 needs H before broadcasting); otherwise H is the hash of
    # the bytes read, so the publication is consistent anyway
    write_file(a, "same.bin", os.urandom(2_000_000))
    assert a.rpc("DEX_publish", "same.bin")["result"] == "success"
    write_file(a, "same.bin", os.urandom(2_000_000))
    call = Call(a, "DEX_publish", "same.bin")
    dexnet.wait_for(lambda: a.stats().get("progress", 0) > 0, 30,
                    what="publishing")
    with open(os.path.join(a.filesdir, "same.bin"), "r+b") as f:
        f.seek(1_990_000)
        f.write(os.urandom(10000))
    assert call.get()["error"] == "file read error"


# ----------------------------------------------------------- output errors

def mounted_tmpfs(path, opts):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                       capture_output=True)
    return r.returncode == 0


def test_output_errors(make_node, workdir):
    a = files_node(make_node, workdir, "a", txpowbits=0)
    full = os.path.join(workdir, "full")
    ro = os.path.join(workdir, "ro")
    if os.geteuid() != 0 or not mounted_tmpfs(full, "size=64k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        if not mounted_tmpfs(ro, "ro,size=64k"):
            pytest.skip("cannot mount a read-only tmpfs")
        try:
            b = make_node("b", txpowbits=0, args=[
                f"-filesdir={full}", f"-connect={a.addr}"])
            c = make_node("c", txpowbits=0, args=[
                f"-filesdir={ro}", f"-connect={a.addr}"])
            start_all([a, b, c], [2, 1, 1])
            pa = a.pubkey()
            data = os.urandom(200_000)
            write_file(a, "o.bin", data)
            pub = a.rpc("DEX_publish", "o.bin")
            loc_hash = a.rpc("DEX_get", str(pub["id"]))["hash"]
            for n in (b, c):
                n.wait_packet(loc_hash)
            for n, d in ((b, full), (c, ro)):
                r = n.rpc("DEX_subscribe", "o.bin", "0", "0", pa)
                assert list(r.items()) == [
                    ("result", "error"), ("error", "cannot write output file"),
                    ("path", os.path.join(d, f"o.bin.{pa}"))], r
            # a directory in the way
            os.makedirs(os.path.join(a.filesdir, f"o.bin.{pa}"))
            r = a.rpc("DEX_subscribe", "o.bin", "0", "0", pa)
            assert r["error"] == "cannot write output file"
        finally:
            subprocess.run(["umount", "-l", ro], capture_output=True)
    finally:
        subprocess.run(["umount", "-l", full], capture_output=True)


def test_links_in_the_way(make_node, workdir):
    """A source is found through a symbolic link (the operator's link:
    docs/decisions.md); the output is never written through a link, a
    symbolic or a hard one, or into a FIFO: the other file keeps its bytes
    and the call answers `cannot write output file` at once."""
    a = files_node(make_node, workdir, "a")
    a.start()
    pa = a.pubkey()
    outside = os.path.join(workdir, "outside")
    os.makedirs(outside)
    src = os.path.join(outside, "src")
    data = os.urandom(12_345)
    with open(src, "wb") as f:
        f.write(data)
    os.symlink(src, os.path.join(a.filesdir, "lnk"))
    r = a.rpc("DEX_publish", "lnk")
    assert r["result"] == "success" and r["filehash"] == sha(data)
    write_file(a, "f.bin", os.urandom(30_000))
    assert a.rpc("DEX_publish", "f.bin")["result"] == "success"
    out = output_path(a, "f.bin", pa)
    victim = os.path.join(outside, "victim")
    for make in (lambda: os.symlink(victim, out),
                 lambda: os.link(victim, out),
                 lambda: os.mkfifo(out)):
        with open(victim, "wb") as f:
            f.write(b"keep")
        make()
        r = a.rpc("DEX_subscribe", "f.bin", "0", "0", pa)
        assert list(r.items()) == [
            ("result", "error"), ("error", "cannot write output file"),
            ("path", out)], r
        with open(victim, "rb") as f:
            assert f.read() == b"keep"
        os.unlink(out)
    r = a.rpc("DEX_subscribe", "f.bin", "0", "0", pa)
    assert r["result"] == "success", r


# stat() of a name holding "racefifo" reports a FIFO as a regular file:
# what a check made on the name just before it was swapped for a FIFO sees
# (a check-then-open race, made deterministic)
RACE_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#define FAKE(p, st) \
	if (strstr((p), "racefifo") && S_ISFIFO((st)->st_mode)) \
		(st)->st_mode = ((st)->st_mode & ~S_IFMT) | S_IFREG
int stat(const char *p, struct stat *st)
{
	int (*real)(const char *, struct stat *) = dlsym(RTLD_NEXT, "stat");
	int r = real(p, st);
	if (r == 0)
		FAKE(p, st);
	return r;
}
int stat64(const char *p, struct stat64 *st)
{
	int (*real)(const char *, struct stat64 *) = dlsym(RTLD_NEXT, "stat64");
	int r = real(p, st);
	if (r == 0)
		FAKE(p, st);
	return r;
}
"""


def test_fifo_source_and_output_do_not_block(make_node, workdir,
                                             monkeypatch):
    """A FIFO with no writer where a source or an output is looked for is
    answered at once and the daemon goes on answering: the name is opened
    without blocking and checked on the descriptor (no stat() of the name
    before the open: the shim below makes such a check see a regular
    file, as a name swapped for a FIFO after the check would)."""
    src = os.path.join(workdir, "race_shim.c")
    shim = os.path.join(workdir, "race_shim.so")
    with open(src, "w") as f:
        f.write(RACE_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src, "-ldl"],
                   check=True)
    monkeypatch.setenv("LD_PRELOAD", shim)
    # an ASan build wants its runtime first; the shim only wraps stat()
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") +
                       ":verify_asan_link_order=0")
    a = files_node(make_node, workdir, "a")
    a.start()
    monkeypatch.delenv("LD_PRELOAD")
    pa = a.pubkey()
    fifo = os.path.join(a.filesdir, "racefifo")
    os.mkfifo(fifo)
    home = os.environ.get("HOME")
    searched = [os.path.join(os.getcwd(), "racefifo")]
    if home:
        searched.append(os.path.join(home, "dexp2p", "racefifo"))
    searched.append(fifo)
    for m in ("DEX_publish", "DEX_stream"):
        t0 = time.monotonic()
        call = Call(a, m, "racefifo")
        r = call.get(10)
        assert time.monotonic() - t0 < 5 * dexnet.TIMEOUT_SCALE
        # "the first regular file found": a FIFO is not one
        assert list(r.items()) == [("result", "error"),
                                   ("error", "file not found"),
                                   ("filename", "racefifo"),
                                   ("searched", searched)], r
        assert "connections" in a.rpc("getinfo")
    os.unlink(fifo)

    # outputs: a FIFO in the place of DEX_subscribe's and DEX_streamsub's
    # output file
    data = os.urandom(1_000_000)
    write_file(a, "racefifo", data)
    assert a.rpc("DEX_publish", "racefifo")["result"] == "success"
    assert a.rpc("DEX_stream", "racefifo")["result"] == "success"
    out = output_path(a, "racefifo", pa)
    os.mkfifo(out)
    for m in ("DEX_subscribe", "DEX_streamsub"):
        params = ("racefifo", "0", "0", pa) if m == "DEX_subscribe" else \
            ("racefifo", "0", pa)
        t0 = time.monotonic()
        r = Call(a, m, *params).get(10)
        assert time.monotonic() - t0 < 5 * dexnet.TIMEOUT_SCALE
        assert list(r.items()) == [
            ("result", "error"), ("error", "cannot write output file"),
            ("path", out)], (m, r)
        assert "connections" in a.rpc("getinfo")
    assert not os.path.isfile(out)
    os.unlink(out)
    r = a.rpc("DEX_streamsub", "racefifo", "0", pa)
    assert r["result"] == "success" and r["fname"] == "racefifo.0", r
    with open(out, "rb") as f:
        assert f.read() == data


# ---------------------------------------------------------------- stream

def test_stream_growing_file(make_node, workdir):
    a, _, c = line(make_node, workdir, 3)
    pa = a.pubkey()
    src = write_file(a, "rec.bin", b"")
    stop = threading.Event()
    written = bytearray()

    def writer():   # 300 KB/s for 12 s, 30,000 bytes every 0.1 s
        t0 = time.monotonic()
        for i in range(120):
            chunk = os.urandom(30000)
            with open(src, "ab") as f:
                f.write(chunk)
            written.extend(chunk)
            delay = t0 + (i + 1) * 0.1 - time.monotonic()
            if stop.wait(max(0.0, delay)):
                return

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    first = a.rpc("DEX_stream", "rec.bin")
    assert first["warning"] == "not enough data to extend stream"
    published, subbed = [], []
    out = output_path(c, "rec.bin", pa)
    deadline = time.monotonic() + 60 * dexnet.TIMEOUT_SCALE
    try:
        while time.monotonic() < deadline:
            tick = time.monotonic()
            r = a.rpc("DEX_stream", "rec.bin")
            if "fname" in r:
                assert r["result"] == "success" and r["fragments"] == 100
                published.append(r)
            s = c.rpc("DEX_streamsub", "rec.bin", "0", pa)
            if "fname" in s:
                assert s["result"] == "success", s
                subbed.append(s)
            else:
                assert list(s.keys()) == ["result", "warning", "filename",
                                          "offset0", "filesize"]
            if not w.is_alive() and len(published) == 3 and \
                    len(subbed) == 3:
                break
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        stop.set()
        w.join(5)
    assert [p["fname"] for p in published] == [
        "rec.bin.0", "rec.bin.1000000", "rec.bin.2000000"]
    assert [s["fname"] for s in subbed] == [p["fname"] for p in published]
    assert [s["filehash"] for s in subbed] == [p["filehash"] for p in published]
    with open(out, "rb") as f:
        copy = f.read()
    assert len(copy) == 3_000_000 and copy == bytes(written[:3_000_000])
    # nothing more: both sides say so
    r = a.rpc("DEX_stream", "rec.bin")
    assert list(r.items()) == [
        ("result", "success"), ("warning", "not enough data to extend stream"),
        ("filename", "rec.bin"), ("filesize", 3_600_000),
        ("offset0", 3_000_000), ("available", 600_000), ("needed", 1000000)]
    s = c.rpc("DEX_streamsub", "rec.bin", "0", pa)
    assert list(s.items()) == [
        ("result", "success"), ("warning", "stream has no new slice yet"),
        ("filename", "rec.bin"), ("offset0", 3_000_000),
        ("filesize", 3_000_000)]
    # the short last slice, published by hand, completes the copy
    last = a.rpc("DEX_publish", "rec.bin", "0", "4")
    assert last["fname"] == "rec.bin.3000000" and last["filesize"] == 600_000
    c.wait_packet(a.rpc("DEX_get", str(last["id"]))["hash"])
    s = c.rpc("DEX_streamsub", "rec.bin", "0", pa)
    assert s["result"] == "success" and s["filesize"] == 600_000
    with open(out, "rb") as f:
        assert f.read() == bytes(written)


def test_streamsub_jumps_and_resumes(make_node, workdir):
    """Slices 2 and 3 published, slice 1 never (as if expired): the first
    DEX_streamsub jumps to slice 2 (4.13 step 3); after a restart the
    cursor resumes from the output file's size (step 2)."""
    a = files_node(make_node, workdir, "a", txpowbits=0)
    b = files_node(make_node, workdir, "b", txpowbits=0, connect=[a])
    start_all([a, b], [1, 1])
    pa = a.pubkey()
    data = os.urandom(3_000_000)
    write_file(a, "cam", data)
    for s in (2, 3):
        r = a.rpc("DEX_publish", "cam", "0", str(s))
        assert r["result"] == "success"
        b.wait_packet(a.rpc("DEX_get", str(r["id"]))["hash"])
    r = b.rpc("DEX_streamsub", "cam", "0", pa)
    assert r["fname"] == "cam.1000000" and r["result"] == "success"
    r = b.rpc("DEX_streamsub", "cam", "0", pa)
    assert r["fname"] == "cam.2000000" and r["result"] == "success"
    out = output_path(b, "cam", pa)
    with open(out, "rb") as f:
        copy = f.read()
    assert copy[:1_000_000] == b"\0" * 1_000_000
    assert copy[1_000_000:] == data[1_000_000:]
    b.stop()
    b.start()
    assert list(b.rpc("DEX_streamsub", "cam", "0", pa).items()) == [
        ("result", "success"), ("warning", "stream has no new slice yet"),
        ("filename", "cam"), ("offset0", 3_000_000), ("filesize", 3_000_000)]
