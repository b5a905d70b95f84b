"""netns - a private network of dexp2pd nodes in Linux network namespaces,
for the fault tests (tests/faults).

Layout of one Fabric (one test):

    <prefix>br          a namespace holding only the bridge br0 and, per
                        node i, the bridge end p<i> of a veth pair
    <prefix>n<i>        node i's namespace: lo and eth0 (the other end of
                        the veth), address 10.231.0.<i+1>/24, the daemon

Everything lives in namespaces the test creates: the host's own network
namespace gets no interface, address or route, so nothing here can reach
the host's network (the 10.231.0.0/24 addresses exist only inside the
namespaces).  The daemons are started with `ip netns exec`; the test talks
to their RPC port (127.0.0.1:7771 inside each namespace) through sockets
created inside that namespace (setns(2) in a short-lived thread: the
socket keeps its namespace, the rest of the process stays in the host's).

Faults:
    partition(groups)   nftables (bridge family) drops every frame between
                        two groups of nodes; heal() removes it
    loss(pct)           nftables `numgen random mod 100 < pct drop` on every
                        frame the bridge forwards (every node-to-node link)
    slow(i, rate)       tc tbf on both directions of node i's link
    skewed clocks       Node env: libfaketime (FAKETIME="+30s")

Names carry a per-run prefix "dxf<pid>t<k>-"; cleanup_stale() removes the
namespaces (and kills their processes) of runs whose process is gone.
"""

import ctypes
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import dexnet  # noqa: E402

NS_PREFIX = "dxf"
SUBNET = "10.231.0"          # test-only, exists only inside our namespaces
P2P_PORT = 7770
RPC_PORT = 7771
CMD_TIMEOUT = 20.0           # one ip/nft/tc command

FIGURES = []                 # "faults: ..." lines printed at the end of the run


def figure(line):
    """Record one result line (printed in pytest's terminal summary)."""
    FIGURES.append(line)

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def sh(*argv, check=True, input_=None, timeout=CMD_TIMEOUT):
    """Run one command (no shell); raise with its stderr on failure."""
    r = subprocess.run(list(argv), capture_output=True, text=True,
                       input=input_, timeout=timeout,
                       stdin=None if input_ is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: "
                           f"{r.stderr.strip()[:500]}")
    return r


def faketime_lib():
    for p in FAKETIME_LIBS:
        if os.path.exists(p):
            return p
    return None


def unavailable():
    """None if namespaces can be used here, else the reason why not."""
    if os.geteuid() != 0:
        return "fault tests need root (network namespaces, nftables, tc)"
    for tool in ("ip", "nft", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} not found (scripts/deps.sh installs it)"
    probe = f"{NS_PREFIX}{os.getpid()}probe"
    try:
        r = sh("ip", "netns", "add", probe, check=False)
        if r.returncode != 0:
            return f"ip netns add failed: {r.stderr.strip()[:200]}"
        for argv in (("ip", "-n", probe, "link", "add", "b0", "type",
                      "bridge"),
                     ("ip", "-n", probe, "link", "add", "v0", "type", "veth",
                      "peer", "name", "v1"),
                     ("ip", "netns", "exec", probe, "nft", "list", "ruleset"),
                     ("tc", "-n", probe, "qdisc", "show")):
            r = sh(*argv, check=False)
            if r.returncode != 0:
                return (f"{' '.join(argv[:6])} failed: "
                        f"{r.stderr.strip()[:200]}")
    finally:
        sh("ip", "netns", "del", probe, check=False)
    return None


def _netns_names():
    r = sh("ip", "netns", "list", check=False)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]


def _kill_ns_procs(ns):
    """SIGKILL every process in namespace ns (bounded retries)."""
    for _ in range(20):
        r = sh("ip", "netns", "pids", ns, check=False)
        pids = [int(p) for p in r.stdout.split() if p.isdigit()]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def delete_ns(ns):
    _kill_ns_procs(ns)
    sh("ip", "netns", "del", ns, check=False)


def cleanup_stale():
    """Remove the namespaces left by earlier runs that died (their pid, in
    the name, is no longer alive).  Returns the names removed."""
    gone = []
    for ns in _netns_names():
        m = re.match(rf"{NS_PREFIX}(\d+)(t|probe)", ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and os.path.exists(f"/proc/{pid}"):
            continue        # a run still in progress
        if pid == os.getpid() and m.group(2) != "probe":
            continue
        delete_ns(ns)
        gone.append(ns)
    return gone


def ns_socket(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A socket created inside network namespace ns."""
    out = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {ns}: {os.strerror(e)}")
            finally:
                os.close(fd)
            out["sock"] = socket.socket(family, kind)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            out["err"] = e
    t = threading.Thread(target=run, name=f"setns-{ns}")
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]


class NsHTTPConnection(http.client.HTTPConnection):
    """HTTPConnection whose socket lives in a given network namespace."""

    def __init__(self, ns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self.ns = ns

    def connect(self):
        s = ns_socket(self.ns)
        try:
            s.settimeout(self.timeout)
            s.connect((self.host, self.port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            s.close()
            raise
        self.sock = s


class NsNode(dexnet.Node):
    """A dexnet.Node running in its own namespace (same API: start, stop,
    kill, restart, rpc, stats, ...).  env adds variables for the daemon
    (e.g. libfaketime)."""

    def __init__(self, name, basedir, ns, ip, txpowbits, args=(), env=None):
        super().__init__(name, basedir, txpowbits=txpowbits, args=args)
        self.ns = ns
        self.ip = ip
        self.port = P2P_PORT
        self.rpcport = RPC_PORT
        self.env = dict(env or {})

    @property
    def addr(self):
        return f"{self.ip}:{self.port}"

    def argv(self):
        pre = ["ip", "netns", "exec", self.ns]
        if self.env:   # env execs the daemon: the pid stays the daemon's
            pre += ["env"] + [f"{k}={v}" for k, v in self.env.items()]
        return pre + super().argv()

    def set_skew(self, seconds):
        """Run the daemon (from its next start) with its wall clock offset
        by `seconds` (libfaketime; the monotonic clock is left alone, as on
        a machine whose wall clock is wrong)."""
        lib = faketime_lib()
        if lib is None:
            raise RuntimeError("libfaketime not installed")
        if seconds == 0:
            self.env = {}
            return
        self.env = {"LD_PRELOAD": lib, "FAKETIME": f"{seconds:+d}s",
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                    "FAKETIME_NO_CACHE": "1"}

    def set_clock_file(self, path, offset=0):
        """Run the daemon (from its next start) with its wall clock offset
        by what `path` says; step() rewrites it while the daemon runs
        (libfaketime re-reads it on every clock read)."""
        lib = faketime_lib()
        if lib is None:
            raise RuntimeError("libfaketime not installed")
        self.clock_file = path
        self.step(offset)
        self.env = {"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": path,
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                    "FAKETIME_NO_CACHE": "1"}

    def step(self, offset):
        """Set the wall clock offset (seconds) of a set_clock_file() node."""
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{int(offset):+d}s\n")
        os.replace(tmp, self.clock_file)

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = NsHTTPConnection(self.ns, "127.0.0.1", self.rpcport,
                                 timeout=dexnet.RPC_TIMEOUT)
            self._local.conn = c
            self.__dict__.setdefault("_all_conns", []).append(c)
        return c


_run_counter = [0]


class Fabric(dexnet.NodeList):
    """n nodes in namespaces on one bridge.  edges (i, j): node i starts
    with -connect=<node j>, so the topology is exactly the one given (a
    node that dials no one gets -connect to a closed address)."""

    def __init__(self, basedir, n, edges, txpowbits=8, args=()):
        _run_counter[0] += 1
        self.prefix = f"{NS_PREFIX}{os.getpid()}t{_run_counter[0]}-"
        self.bridge_ns = self.prefix + "br"
        self.basedir = basedir
        self.n = n
        self.edges = list(edges)
        self.created = []
        self.nodes = []
        self._faults = set()
        self._slow = set()
        try:
            self._build(txpowbits, args)
        except BaseException:
            self.destroy()
            raise

    def _build(self, txpowbits, args):
        n = self.n
        self.created.append(self.bridge_ns)
        sh("ip", "netns", "add", self.bridge_ns)
        sh("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        for i in range(n):
            ns = f"{self.prefix}n{i}"
            self.created.append(ns)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", self.bridge_ns, "link", "add", f"p{i}", "type",
               "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.bridge_ns, "link", "set", f"p{i}", "master",
               "br0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{SUBNET}.{i + 1}/24",
               "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        for i in range(n):
            ns = f"{self.prefix}n{i}"
            outs = [f"{SUBNET}.{j + 1}:{P2P_PORT}" for a, j in self.edges
                    if a == i] or ["127.0.0.1:1"]
            node = NsNode(f"n{i}", self.basedir, ns, f"{SUBNET}.{i + 1}",
                          txpowbits, args=[f"-connect={o}" for o in outs]
                          + list(args))
            self.nodes.append(node)

    # ------------------------------------------------------------ nodes
    def start(self, timeout=dexnet.START_TIMEOUT):
        for nd in self.nodes:
            nd.spawn()
        for nd in self.nodes:
            nd.wait_ready(timeout)
        return self

    def neighbours(self, i):
        return {b for a, b in self.edges if a == i} | \
            {a for a, b in self.edges if b == i}

    def wait_connected(self, timeout=30.0, nodes=None):
        """Wait until each node (of `nodes`, default all) has exactly its
        topology neighbours as peers."""
        keys = [nd.pubkey() for nd in self.nodes]
        idx = range(self.n) if nodes is None else nodes

        def cond():
            for i in idx:
                want = sorted(keys[j] for j in self.neighbours(i))
                if self.nodes[i].peer_pubkeys() != want:
                    return False
            return True
        try:
            dexnet.wait_for(cond, timeout, what="topology connected")
        except AssertionError as e:
            got = {nd.name: len(nd.peers()) for nd in self.nodes
                   if nd.running()}
            raise AssertionError(f"{e}; peers per node {got}") from None

    def stop_all(self):
        """Stop every daemon (RPC stop, then SIGKILL); return the errors
        of clean stops that failed."""
        errors = []
        for nd in self.nodes:
            try:
                if nd.running():
                    nd.stop(check=True)
            except Exception as e:  # noqa: BLE001 - reported by the caller
                errors.append(f"{nd.name}: {e}")
            finally:
                nd.kill()
        return errors

    def destroy(self):
        for nd in self.nodes:
            try:
                nd.kill()
            except Exception:  # noqa: BLE001
                pass
        for ns in reversed(self.created):
            delete_ns(ns)
        self.created = []

    # ----------------------------------------------------------- faults
    def _nft(self, ruleset):
        sh("ip", "netns", "exec", self.bridge_ns, "nft", "-f", "-",
           input_=ruleset)

    def partition(self, *groups):
        """Drop every frame between nodes of different groups (lists of
        node indexes).  TCP connections across the split stay open and
        stall, as in a real partition."""
        rules = []
        for a in range(len(groups)):
            for b in range(len(groups)):
                if a == b:
                    continue
                ia = ", ".join(f'"p{i}"' for i in groups[a])
                ib = ", ".join(f'"p{i}"' for i in groups[b])
                rules.append(f"iifname {{ {ia} }} oifname {{ {ib} }} counter drop")
        self._nft("table bridge dxfsplit {\n chain filt {\n"
                  "  type filter hook forward priority 0; policy accept;\n"
                  + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
        self._faults.add("dxfsplit")

    def dropped_frames(self, table):
        """Frames the counters of nft table `table` dropped so far."""
        r = sh("ip", "netns", "exec", self.bridge_ns, "nft", "list", "table",
               "bridge", table)
        return sum(int(m) for m in re.findall(r"counter packets (\d+)",
                                              r.stdout))

    def heal(self):
        """End the partition; returns the frames it dropped."""
        n = 0
        if "dxfsplit" in self._faults:
            n = self.dropped_frames("dxfsplit")
            sh("ip", "netns", "exec", self.bridge_ns, "nft", "delete",
               "table", "bridge", "dxfsplit")
            self._faults.discard("dxfsplit")
        return n

    def loss(self, pct):
        """Drop pct % of the frames crossing the bridge, at random."""
        self._nft("table bridge dxfloss {\n chain filt {\n"
                  "  type filter hook forward priority 1; policy accept;\n"
                  f"  numgen random mod 100 < {int(pct)} counter drop\n }}\n}}\n")
        self._faults.add("dxfloss")

    def no_loss(self):
        if "dxfloss" in self._faults:
            sh("ip", "netns", "exec", self.bridge_ns, "nft", "delete",
               "table", "bridge", "dxfloss")
            self._faults.discard("dxfloss")

    def slow(self, i, rate="256kbit", burst="16kb", latency="500ms"):
        """Token bucket on node i's link, both directions."""
        for ns, dev in ((self.nodes[i].ns, "eth0"), (self.bridge_ns, f"p{i}")):
            sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf",
               "rate", rate, "burst", burst, "latency", latency)
        self._slow.add(i)

    def unslow(self, i):
        for ns, dev in ((self.nodes[i].ns, "eth0"), (self.bridge_ns, f"p{i}")):
            sh("tc", "-n", ns, "qdisc", "del", "dev", dev, "root",
               check=False)
        self._slow.discard(i)



def mesh_edges(n, k=2):
    """Node i dials i+1 .. i+k (mod n): every node has 2k neighbours (for
    n > 2k), and any run of consecutive nodes is connected on its own."""
    e = set()
    for i in range(n):
        for d in range(1, k + 1):
            j = (i + d) % n
            if j != i and (j, i) not in e:
                e.add((i, j))
    return sorted(e)


# ---------------------------------------------------------------- traffic
class Traffic:
    """Broadcasts from several nodes at once: one thread per node, each at
    most `rate` calls per second, until stop() or `max_seconds`.  Every
    packet a call returned is recorded (hash, origin); a node can be taken
    out of the rotation (pause) with no call left in flight on it, e.g.
    before it is killed."""

    def __init__(self, nodes, rate=4.0, payload_bytes=200, tag="faults",
                 max_seconds=600.0):
        self.nodes = list(nodes)
        self.rate = rate
        self.payload_bytes = payload_bytes
        self.tag = tag
        self.max_seconds = max_seconds
        self.hashes = {}                 # hash -> origin node name
        self.errors = []
        self._lock = threading.Lock()
        self._node_locks = {nd.name: threading.Lock() for nd in self.nodes}
        self._paused = set()
        self._stop = threading.Event()
        self._threads = []
        self.t0 = self.t1 = None

    def start(self):
        self.t0 = time.monotonic()
        for nd in self.nodes:
            t = threading.Thread(target=self._run, args=(nd,), daemon=True,
                                 name=f"traffic-{nd.name}")
            t.start()
            self._threads.append(t)
        return self

    def _run(self, nd):
        seq = 0
        period = 1.0 / self.rate
        deadline = time.monotonic() + self.max_seconds
        nxt = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._node_locks[nd.name]:
                if nd.name not in self._paused and nd.running():
                    seq += 1
                    body = os.urandom(self.payload_bytes // 2).hex()
                    try:
                        r = nd.rpc("DEX_broadcast", body, "0", self.tag)
                        with self._lock:
                            self.hashes[r["hash"]] = nd.name
                    except Exception as e:  # noqa: BLE001
                        with self._lock:
                            self.errors.append(f"{nd.name}: {e!r}")
            nxt += period
            delay = nxt - time.monotonic()
            if delay < 0:
                nxt = time.monotonic()
            else:
                self._stop.wait(delay)

    def pause(self, nd):
        """Take nd out of the rotation; returns once no call is in flight."""
        with self._node_locks[nd.name]:
            self._paused.add(nd.name)

    def resume(self, nd):
        with self._node_locks[nd.name]:
            self._paused.discard(nd.name)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(dexnet.RPC_TIMEOUT + 10)
        self.t1 = time.monotonic()
        return self

    def count(self):
        with self._lock:
            return len(self.hashes)

    def origin_hashes(self, name):
        with self._lock:
            return [h for h, o in self.hashes.items() if o == name]

    def expected(self):
        """(count, fingerprint) every node must end with."""
        with self._lock:
            hs = list(self.hashes)
        return len(hs), dexnet.xor_fingerprint(hs)


def drops(nodes):
    """Sum of DEX_stats dropped over the running nodes, nonzero reasons
    only, as "reason=n,..." ("none" if nothing was dropped)."""
    tot = {}
    for nd in nodes:
        if not nd.running():
            continue
        try:
            for k, v in nd.stats()["dropped"].items():
                if v:
                    tot[k] = tot.get(k, 0) + v
        except Exception:  # noqa: BLE001 - figures only
            pass
    return ",".join(f"{k}={v}" for k, v in sorted(tot.items())) or "none"


def node_state(nd):
    s = nd.stats()
    return s["ram"], s["fingerprint"]


def missing_report(nodes, traffic):
    """Per node: how many of the recorded packets it lacks (DEX_list), its
    ram, fingerprint prefix and dropped counters."""
    want = set(traffic.hashes)
    out = []
    for nd in nodes:
        try:
            held = {p["hash"] for p in nd.list_all(traffic.tag)}
            s = nd.stats()
            drops = {k: v for k, v in s["dropped"].items() if v}
            by_origin = {}
            for h in want - held:
                o = traffic.hashes[h]
                by_origin[o] = by_origin.get(o, 0) + 1
            out.append(f"{nd.name}: missing {len(want - held)}/{len(want)} "
                       f"(by origin {by_origin}) extra {len(held - want)} "
                       f"ram={s['ram']} peers={s['peers']} "
                       f"received={s['received']} dup={s['duplicates']} "
                       f"sent={s['sent']} "
                       f"fp={s['fingerprint'][:12]} dropped={drops}")
        except Exception as e:  # noqa: BLE001
            out.append(f"{nd.name}: {e!r}")
    return out


def wait_complete(nodes, traffic, timeout, what="every packet on every node",
                  poll=0.2, observe=0.0):
    """Wait (bounded) until every node holds exactly the packets the
    traffic recorded: ram == count and fingerprint == XOR of their hashes
    (so nothing is missing and every fingerprint is equal).  Returns the
    seconds it took.  Past `timeout` the test fails with missing_report();
    with observe > 0 it first keeps watching up to `observe` more seconds so
    that the message says when (or whether) the nodes got there."""
    count, fp = traffic.expected()
    t0 = time.monotonic()
    deadline = t0 + timeout * dexnet.TIMEOUT_SCALE
    last = None

    def done():
        nonlocal last
        try:
            st = [node_state(nd) for nd in nodes]
        except Exception as e:  # noqa: BLE001 - "not yet" until the deadline
            last = e
            return False
        last = [(r, f[:12]) for r, f in st]
        return all(s == (count, fp) for s in st)

    while True:
        if done():
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    rep = missing_report(nodes, traffic)
    at_bound = last
    late = ""
    if observe > 0:
        end = time.monotonic() + observe
        while time.monotonic() < end and not done():
            time.sleep(0.5)
        took = time.monotonic() - t0
        late = (f"; complete after {took:.1f}s" if done() else
                f"; still incomplete after {took:.1f}s: " + "; ".join(
                    r.split(" (by origin")[0]
                    for r in missing_report(nodes, traffic)))
    figure(f"faults: FAILED {what}: {count} packets{late}")
    raise AssertionError(
        f"{what}: not reached within {timeout:.0f}s ({count} packets "
        f"expected, fp {fp[:12]}){late}; states at the bound {at_bound!r}\n  " +
        "\n  ".join(rep))
