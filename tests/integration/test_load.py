"""10,000 packets broadcast on one node are listed on every node.

Topology: n0 - n1 - n2 - n3 - n4 (line; each node dials the previous one),
txpowbits 4 so that the network and not mining is measured.

How the 10,000 are made: 1,000 calls of the blaster (DEX_broadcast ffff,
10 packets of 100 random bytes each) spread over 8 threads, each on its own
keep-alive HTTP connection to n0.  The blaster asks priorities 0..3, so at
4 bits a packet costs about 2^4..2^7 hashes.
"""

import threading
import time

from dexnet import line_edges, wait_synced

CALLS = 1000            # x 10 packets
THREADS = 8
TAG = "load"
NODES = 5


def test_ten_thousand_packets_reach_every_node(net):
    nw = net(NODES, line_edges(NODES), txpowbits=4)
    src = nw[0]
    ids, errors, lock = [], [], threading.Lock()
    todo = list(range(CALLS))

    def worker():
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    todo.pop()
                r = src.rpc("DEX_broadcast", "ffff", "0", TAG)
                assert r["result"] == "success" and r["n"] == 10, r
                with lock:
                    ids.extend(r["ids"])
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append(e)

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    made_s = time.monotonic() - t0
    assert not errors, errors[:3]
    assert len(ids) == 10 * CALLS
    assert src.stats()["ram"] == 10 * CALLS

    # identical sets within 5 s of the last broadcast (issue 3)
    fp = wait_synced(nw.nodes, expect_ram=10 * CALLS, timeout=5,
                     what="10,000 packets on all nodes")
    synced_s = time.monotonic() - t0
    want_ids = sorted(ids)
    for n in nw:
        listed = n.list_all(TAG)
        assert len(listed) == 10 * CALLS, n.name
        assert len({p["hash"] for p in listed}) == 10 * CALLS
        assert sorted(p["id"] for p in listed) == want_ids, n.name
        s = n.stats()
        assert s["fingerprint"] == fp
        assert sum(s["dropped"].values()) == 0, (n.name, s["dropped"])
    print(f"\nload: {10 * CALLS} packets txpowbits=4 made in {made_s:.1f}s, "
          f"on all {NODES} nodes after {synced_s:.1f}s")
