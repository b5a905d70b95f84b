"""DEX_list polling with a stop point (API.md 4.2 "Polling"): a client that
always passes the newest hash (or id) it has seen sees every packet exactly
once, while packets keep arriving, locally and from a peer.

Topology: a <- b.  Producers broadcast on both; pollers run on both.
"""

import threading
import time

from dexnet import wait_for, wait_synced

TAG = "poll"
PER_PRODUCER = 60


class Poller(threading.Thread):
    """Polls node with DEX_list "" 0 TAG ... stophash (or stopat)."""

    def __init__(self, node, by="hash"):
        super().__init__(daemon=True)
        self.node, self.by = node, by
        self.seen = []          # hashes in the order reported
        self.stop_ev = threading.Event()
        self.error = None
        self.calls = 0
        self.last_id = None

    def poll_once(self):
        newest = self.seen[-1] if self.seen else None
        if self.by == "hash":
            args = ["", "0", TAG, "", "", "", "", "", "", newest or ""]
        else:
            args = [str(self.last_id) if newest else "", "0", TAG]
        r = self.node.rpc("DEX_list", *args)
        assert r["result"] == "success", r
        self.calls += 1
        got = r["matches"]          # newest first
        if got:
            self.last_id = got[0]["id"]
        self.seen.extend(p["hash"] for p in reversed(got))
        return len(got)

    def run(self):
        try:
            deadline = time.monotonic() + 120
            while not self.stop_ev.is_set() and time.monotonic() < deadline:
                self.poll_once()
                self.stop_ev.wait(0.01)
            self.poll_once()        # a final poll after the producers end
        except Exception as e:  # noqa: BLE001
            self.error = e


def produce(node, n, out, lock):
    for i in range(n):
        p = node.rpc("DEX_broadcast", f"{node.name}-{i}", "0", TAG)
        with lock:
            out.append(p["hash"])


def test_polling_sees_every_packet_once(pair):
    a, b = pair
    pollers = [Poller(a, "hash"), Poller(b, "hash"), Poller(a, "id"),
               Poller(b, "id")]
    for p in pollers:
        p.start()
    made, lock = [], threading.Lock()
    prods = [threading.Thread(target=produce, args=(n, PER_PRODUCER, made,
                                                    lock)) for n in (a, b)]
    try:
        for t in prods:
            t.start()
        for t in prods:
            t.join(120)
        assert len(made) == 2 * PER_PRODUCER
        wait_synced([a, b], expect_ram=len(made))
        # wait until every poller has seen everything, then stop them
        want = set(made)
        for p in pollers:
            wait_for(lambda: p.error is not None or set(p.seen) >= want,
                     20, what=f"poller {p.node.name}/{p.by} complete")
    finally:
        for p in pollers:
            p.stop_ev.set()
        for p in pollers:
            p.join(30)
    for p in pollers:
        assert p.error is None, p.error
        dups = len(p.seen) - len(set(p.seen))
        assert dups == 0, f"{p.node.name}/{p.by}: {dups} packets seen twice"
        assert set(p.seen) == set(made), f"{p.node.name}/{p.by}"
        assert p.calls > 5
    # arrival order of the node: what a poller saw is the node's DEX_list
    # order reversed
    for p in pollers:
        listed = [m["hash"] for m in p.node.list_all(TAG)]
        assert list(reversed(listed)) == p.seen


def test_stop_point_not_in_selection_walks_all(node):
    """A stop hash that is not among the selected packets stops nothing."""
    x = node.rpc("DEX_broadcast", "other", "0", "othertag")
    mine_ = [node.rpc("DEX_broadcast", f"p{i}", "0", TAG) for i in range(3)]
    r = node.rpc("DEX_list", "", "0", TAG, "", "", "", "", "", "", x["hash"])
    assert r["n"] == 3
    r = node.rpc("DEX_list", str(x["id"]), "0", TAG)
    assert r["n"] == 3
    # the stop packet itself is excluded, newer ones listed
    r = node.rpc("DEX_list", str(mine_[0]["id"]), "0", TAG)
    assert [m["hash"] for m in r["matches"]] == [mine_[2]["hash"],
                                                 mine_[1]["hash"]]
    # the stop test comes before the minpriority filter: a stop packet
    # that the filter would drop still stops the walk
    old_hi = node.rpc("DEX_broadcast", "old hi", "4", "filt")
    for _ in range(10):     # a priority-0 request gets >= 4 1 time in 16
        lo = node.rpc("DEX_broadcast", "lo", "0", "filt")
        if lo["priority"] < 4:
            break
    assert lo["priority"] < 4
    hi = node.rpc("DEX_broadcast", "hi", "4", "filt")
    r = node.rpc("DEX_list", "", "4", "filt", "", "", "", "", "", "",
                 lo["hash"])
    assert [m["hash"] for m in r["matches"]] == [hi["hash"]]
    r = node.rpc("DEX_list", "", "4", "filt")
    assert {m["hash"] for m in r["matches"]} >= {hi["hash"], old_hi["hash"]}
