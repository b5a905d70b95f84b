"""Faults with real daemons: nodes in network namespaces (netns.py) under
broadcast traffic, with the network split, lossy, slow, a clock wrong, or
nodes killed and restarted.  Every scenario ends with the same check:
every node holds exactly the packets the traffic created (nothing missing,
nothing else) and so shows the same fingerprint, within a stated bound.

Traffic: Traffic() in netns.py, DEX_broadcast of 100 random bytes (tag
"faults") on every node at RATE calls/s each, txpowbits 8.  The check
(netns.wait_complete) compares DEX_stats ram and fingerprint with the count
and XOR of the hashes the broadcasts returned; on failure it lists, per
node, the packets missing by origin and the dropped counters.

The bounds are what the product must meet (docs/faults.md); a failure
message also says when (or whether) the nodes got there later.
"""

import os
import time

import pytest

import netns
from netns import Traffic, figure, mesh_edges, wait_complete

RATE = 2.0                  # broadcasts per second per node

# bounds, in seconds (times DEXP2P_TIMEOUT_SCALE)
SYNC_START = 30             # nodes connected after start
PARTITION_S = 30            # length of the split
HEAL_BOUND = 10             # identical within 10 s of the heal
LOSS_BOUND = {5: 20, 20: 60}    # after the traffic ends, loss still on
# After the traffic ends, the slow link still slow.  The data alone needs
# about 27 s of this link's time beyond the traffic; what the bound leaves
# on top covers the announcements of five peers and the duplicates a slow
# link still gets (a packet pushed by its creator and fetched from an
# announcer at once: about half of node 5's packets; docs/faults.md).
# Before issue 7's fixes it took 63-67 s.
SLOW_BOUND = 60
SKEW_BOUND = {5: 15, 30: 40}    # after the traffic ends
STEP_BOUND = 15             # after the traffic ends
KILL_BOUND = 20             # after the traffic ends


def start(fabric, n, k=2, args=()):
    f = fabric(n, mesh_edges(n, k), args=args)
    f.start()
    f.wait_connected(SYNC_START)
    return f


def run_traffic(traffic, seconds):
    """Let the traffic run `seconds` (checking it does not fail)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))
    assert not traffic.errors, traffic.errors[:3]


def settle_origin(f, traffic, nd, timeout=10.0):
    """Wait until every packet broadcast on nd is held by at least one other
    running node: after that nd may die without any accepted packet being
    lost with it."""
    mine = set(traffic.origin_hashes(nd.name))
    others = [o for o in f if o is not nd and o.running()]

    def cond():
        held = set()
        for o in others:
            held |= {p["hash"] for p in o.list_all(traffic.tag)}
            if mine <= held:
                return True
        return False
    netns.dexnet.wait_for(cond, timeout,
                          what=f"{nd.name}'s packets on another node")


# ------------------------------------------------------------- (a) partition
@pytest.mark.quick
def test_partition_heals(fabric):
    """8 nodes split 4 | 4 for 30 s (nftables drops every frame between
    the halves; the TCP connections across stay open and stall) with
    traffic on both sides; traffic stops and the split heals at the same
    moment; every node must hold every packet within HEAL_BOUND s."""
    f = start(fabric, 8)
    tr = Traffic(f.nodes, rate=RATE).start()
    try:
        run_traffic(tr, 5)
        f.partition(range(0, 4), range(4, 8))
        split_at = time.monotonic()
        run_traffic(tr, PARTITION_S)
    finally:
        tr.stop()
    frames = f.heal()
    heal_t = time.monotonic()
    assert frames > 0, "the partition dropped nothing"
    figure(f"faults: partition split_s={heal_t - split_at:.1f} "
           f"packets={tr.count()} frames_dropped={frames}")
    took = wait_complete(f.nodes, tr, HEAL_BOUND, observe=90,
                         what=f"identical within {HEAL_BOUND}s of the heal")
    figure(f"faults: partition nodes=8 split_s={PARTITION_S} "
           f"packets={tr.count()} heal_to_identical_s={took:.1f} "
           f"bound_s={HEAL_BOUND}")


# ------------------------------------------------------------- (b) loss
@pytest.mark.parametrize("pct", [pytest.param(5, marks=pytest.mark.quick), 20])
def test_random_loss(fabric, pct):
    """6 nodes, pct % of the frames on every link dropped at random
    (nftables numgen) during 30 s of traffic and after it; every node must
    hold every packet within LOSS_BOUND[pct] s of the end of the traffic."""
    f = start(fabric, 6)
    f.loss(pct)
    tr = Traffic(f.nodes, rate=RATE).start()
    try:
        run_traffic(tr, 30)
    finally:
        tr.stop()
    took = wait_complete(f.nodes, tr, LOSS_BOUND[pct], observe=60,
                         what=f"{pct}% loss: complete within "
                              f"{LOSS_BOUND[pct]}s")
    frames = f.dropped_frames("dxfloss")
    assert frames > 0, "the loss rule dropped nothing"
    figure(f"faults: loss pct={pct} nodes=6 traffic_s=30 "
           f"packets={tr.count()} complete_after_s={took:.1f} "
           f"bound_s={LOSS_BOUND[pct]} frames_dropped={frames}")


# ------------------------------------------------------------- (c) slow link
def test_slow_link(fabric):
    """6 nodes; node 5's link limited to 64 kbit/s each way (tc tbf, 500 ms
    queue) while the other five broadcast 30 s of 600-byte packets (about
    6.6 kB/s of packets against the link's 8 kB/s, before headers and
    announcements): node 5 lags behind during the traffic and must hold
    everything within SLOW_BOUND s of its end."""
    f = start(fabric, 6)
    f.slow(5, rate="64kbit", burst="16kb", latency="500ms")
    tr = Traffic(f.nodes[:5], rate=RATE, payload_bytes=1200).start()
    try:
        run_traffic(tr, 30)
    finally:
        tr.stop()
    behind = tr.count() - f[5].stats()["ram"]

    def slow_node_figures():
        st = f[5].stats()
        pi = f[5].rpc("getpeerinfo")
        return (f"slow_node_received={st['received']} "
                f"slow_node_duplicates={st['duplicates']} "
                f"slow_node_bytes_in={sum(p['bytesrecv'] for p in pi)} "
                f"slow_node_bytes_out={sum(p['bytessent'] for p in pi)}")
    try:
        took = wait_complete(f.nodes, tr, SLOW_BOUND, observe=60,
                             what=f"slow link: complete within {SLOW_BOUND}s")
    finally:
        figure(f"faults: slow_link {slow_node_figures()}")
    figure(f"faults: slow_link rate=64kbit nodes=6 traffic_s=30 "
           f"packets={tr.count()} slow_node_behind_at_end={behind} "
           f"complete_after_s={took:.1f} bound_s={SLOW_BOUND}")


# ------------------------------------------------------------- (d) clock skew
@pytest.mark.parametrize("skew", [pytest.param(5, marks=pytest.mark.quick),
                                  -5, 30, -30])
def test_clock_skew(fabric, skew):
    """5 nodes (full mesh); node 0's wall clock is `skew` seconds off
    (libfaketime, monotonic clock untouched); 20 s of traffic on every node
    including node 0; nothing may be missing anywhere within
    SKEW_BOUND[|skew|] s of the end of the traffic."""
    if netns.faketime_lib() is None:
        pytest.skip("libfaketime not installed (scripts/deps.sh)")
    f = fabric(5, mesh_edges(5, 2))
    f[0].set_skew(skew)
    f.start()
    f.wait_connected(SYNC_START)
    tr = Traffic(f.nodes, rate=RATE).start()
    try:
        run_traffic(tr, 20)
    finally:
        tr.stop()
    bound = SKEW_BOUND[abs(skew)]
    took = wait_complete(f.nodes, tr, bound, observe=60,
                         what=f"clock {skew:+d}s: complete within {bound}s")
    figure(f"faults: skew={skew:+d}s nodes=5 traffic_s=20 "
           f"packets={tr.count()} complete_after_s={took:.1f} "
           f"bound_s={bound} dropped={netns.drops(f)}")


def test_clock_step(fabric, workdir):
    """4 nodes (full mesh) under 30 s of traffic; node 0's wall clock steps
    10 s back, 7 s later 10 s forward (back to right), 7 s later 60 s
    forward and 5 s later back again (libfaketime, monotonic clock
    untouched; node 0 broadcasts nothing while 60 s ahead, so no packet is
    from the far future).  Timeouts run on the monotonic clock, so node 0
    must keep every connection (no disconnect in its log, same peers) and
    every node must hold every packet within STEP_BOUND s of the end of
    the traffic."""
    if netns.faketime_lib() is None:
        pytest.skip("libfaketime not installed (scripts/deps.sh)")
    f = fabric(4, mesh_edges(4, 2))
    f[0].set_clock_file(os.path.join(workdir, "n0.faketime"), 0)
    f.start()
    f.wait_connected(SYNC_START)
    peers0 = f[0].peer_pubkeys()
    log0 = len(f[0].log())
    tr = Traffic(f.nodes, rate=RATE).start()
    try:
        run_traffic(tr, 5)
        f[0].step(-10)
        run_traffic(tr, 7)
        f[0].step(0)
        run_traffic(tr, 7)
        tr.pause(f[0])
        f[0].step(60)
        run_traffic(tr, 5)
        f[0].step(0)
        tr.resume(f[0])
        run_traffic(tr, 6)
    finally:
        tr.stop()
    lost = [ln for ln in f[0].log()[log0:].splitlines()
            if "disconnect" in ln.lower()]
    figure(f"faults: clock_step steps=-10,+10,+60,-60 nodes=4 "
           f"packets={tr.count()} disconnects_n0={len(lost)} "
           f"peers_n0={len(f[0].peers())}")
    took = wait_complete(f.nodes, tr, STEP_BOUND, observe=60,
                         what=f"clock steps: complete within {STEP_BOUND}s")
    figure(f"faults: clock_step complete_after_s={took:.1f} "
           f"bound_s={STEP_BOUND} dropped={netns.drops(f)}")
    assert not lost, f"node 0 lost connections after its clock stepped: " \
        f"{lost[:5]}"
    assert f[0].peer_pubkeys() == peers0


# ------------------------------------------------- (e) kill -9, rolling restart
def test_kill_and_rolling_restart(fabric):
    """8 nodes under traffic: kill -9 of nodes 6 and 7 (their own packets
    having reached another node), 10 s without them, restart both, then a
    rolling restart of all 8 (clean stop and start, one at a time); every
    node must hold every packet within KILL_BOUND s of the end of the
    traffic."""
    f = start(fabric, 8)
    tr = Traffic(f.nodes, rate=RATE).start()
    t0 = time.monotonic()
    try:
        run_traffic(tr, 8)
        victims = [f[6], f[7]]
        for v in victims:
            tr.pause(v)
        for v in victims:
            settle_origin(f, tr, v)
        for v in victims:
            v.kill()
        run_traffic(tr, 10)
        for v in victims:
            v.start()
            tr.resume(v)
        run_traffic(tr, 5)
        for nd in f:
            tr.pause(nd)
            settle_origin(f, tr, nd)
            nd.stop()
            nd.start()
            tr.resume(nd)
            run_traffic(tr, 1)
        run_traffic(tr, 3)
    finally:
        tr.stop()
    under = time.monotonic() - t0
    took = wait_complete(f.nodes, tr, KILL_BOUND, observe=60,
                         what=f"kill/restart: complete within {KILL_BOUND}s")
    figure(f"faults: kill_restart nodes=8 killed=2 rolling=8 "
           f"traffic_s={under:.0f} packets={tr.count()} "
           f"complete_after_s={took:.1f} bound_s={KILL_BOUND}")
