"""dexnet - harness for the integration tests: real dexp2pd processes on
127.0.0.1 with temporary data directories.

Node       one daemon: start/stop/restart/kill, rpc(), http(), cli(), log()
wait_for   poll a condition with a deadline (tests never sleep a fixed time)
Network    a set of nodes started in a topology (pair, line, ring, ...)

The daemon and client come from $DEXP2P_BUILD (default: <repo>/build).
Everything a test starts is stopped by the fixtures in conftest.py, also
when the test fails.
"""

import base64
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DEXP2P_BUILD", os.path.join(REPO, "build"))
DAEMON = os.path.join(BUILD, "dexp2pd")
CLI = os.path.join(BUILD, "dexp2p-cli")

HOST = "127.0.0.1"
START_TIMEOUT = 20.0   # daemon start until RPC answers
STOP_TIMEOUT = 20.0    # RPC stop until the process exits
RPC_TIMEOUT = 120.0    # one RPC call (mining at priority <= 8 takes < 1 s)


class TimeoutExpired(AssertionError):
    pass


# Sanitizer builds run several times slower: `make asan` sets
# DEXP2P_TIMEOUT_SCALE so that every deadline stretches alike.
TIMEOUT_SCALE = float(os.environ.get("DEXP2P_TIMEOUT_SCALE", "1"))


def wait_for(cond, timeout=20.0, interval=0.05, what=None):
    """Call cond() until it returns a true value; return that value.  Fail
    with an AssertionError naming `what` (or cond) after `timeout` seconds
    (times TIMEOUT_SCALE).  Exceptions raised by cond count as "not yet"
    until the deadline, then the last one is reported."""
    timeout *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            name = what or getattr(cond, "__name__", "condition")
            msg = f"timed out after {timeout:.1f}s waiting for {name}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise TimeoutExpired(msg)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


_port_lock = threading.Lock()
_ports_given = set()


def sanitized():
    """True when the daemon under test is built with AddressSanitizer
    (make asan)."""
    with open(DAEMON, "rb") as f:
        return b"__asan_init" in f.read()


def _ephemeral_low():
    """The lowest port the kernel hands out as a connection's source port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now and that this
    process has not handed out before (the daemon binds it later).  It is
    taken below the kernel's ephemeral range: a port from that range could
    meanwhile become the source port of some connection (the daemons' own
    dials, a test's client), and the daemon would then fail to bind it."""
    hi = min(_ephemeral_low(), 65536) - 1
    lo = 10000 if hi > 12000 else 1024
    with _port_lock:
        for _ in range(500):
            port = random.randint(lo, hi)
            if port in _ports_given:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            finally:
                s.close()
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port")


class RPCError(Exception):
    """A JSON-RPC error (HTTP 500 with an error object)."""

    def __init__(self, code, message, status=500):
        super().__init__(f"RPC error {code}: {message!r}")
        self.code = code
        self.message = message
        self.status = status


class HTTPResult:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # dict, lower-case names
        self.body = body            # bytes

    def json(self, ordered=False):
        hook = (lambda pairs: pairs) if ordered else None
        return json.loads(self.body.decode(), object_pairs_hook=hook)

    def __repr__(self):
        return f"HTTPResult({self.status}, {self.body[:200]!r})"


def raw_http(port, method="POST", path="/", body=b"", headers=None,
             auth=None, timeout=30.0, send_length=True):
    """One HTTP/1.1 exchange on a fresh socket, written by hand so that any
    method, path, header or body size can be sent.  auth is (user, pw) or
    None.  A server may answer (413, 401) before the body has been sent and
    close: send errors are ignored and the answer is still read."""
    if isinstance(body, str):
        body = body.encode()
    hdrs = {"Host": f"{HOST}:{port}", "Connection": "close"}
    if send_length:
        hdrs["Content-Length"] = str(len(body))
    if auth is not None:
        tok = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        hdrs["Authorization"] = "Basic " + tok
    hdrs.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        try:
            s.sendall(head.encode())
            view = memoryview(body)
            for off in range(0, len(body), 1 << 16):
                s.sendall(view[off:off + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                b = s.recv(1 << 16)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return parse_http_response(b"".join(chunks))


def parse_http_response(data):
    if not data:
        raise ConnectionError("no HTTP answer")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            body += rest[:n]
            rest = rest[n + 2:]
    elif "content-length" in headers:
        body = rest[:int(headers["content-length"])]
    else:
        body = rest
    return HTTPResult(status, headers, body)


class Node:
    """One dexp2pd.  Ports are chosen at construction, so a topology can
    name a node's address before the node runs.  `args` are extra daemon
    options, e.g. ["-addnode=127.0.0.1:1234"]."""

    def __init__(self, name, basedir, txpowbits=12, args=(), datadir=None):
        self.name = name
        self.basedir = basedir
        self.datadir = datadir or os.path.join(basedir, name)
        self.port = free_port()
        self.rpcport = free_port()
        self.txpowbits = txpowbits
        self.args = list(args)
        self.proc = None
        self.starts = 0
        self._local = threading.local()
        self._auth = None
        self.rpcauth = None     # (user, pw) when -rpcpassword is used

    # ---------------------------------------------------------- process
    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    @property
    def stderr_path(self):
        return os.path.join(self.basedir, f"{self.name}.stderr.{self.starts}")

    def argv(self):
        a = [DAEMON, f"-datadir={self.datadir}", f"-port={self.port}",
             f"-rpcport={self.rpcport}", "-printtoconsole=0"]
        if self.txpowbits is not None:
            a.append(f"-txpowbits={self.txpowbits}")
        return a + self.args

    def spawn(self):
        """Start the process without waiting for RPC."""
        assert self.proc is None or self.proc.poll() is not None, \
            f"{self.name} already running"
        os.makedirs(self.basedir, exist_ok=True)
        self.starts += 1
        self._auth = None
        self._close_conns()
        out = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv(), stdout=out,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            out.close()
        return self

    def start(self, timeout=START_TIMEOUT):
        """Start and wait (bounded) until RPC answers getinfo."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(
                    f"{self.name} exited with {rc} during startup: "
                    f"{self.output()[-2000:]}")
            try:
                return self.rpc("getinfo")
            except (OSError, http.client.HTTPException, RPCError,
                    AuthError):
                self._auth = None
                self._close_conns()
                return None
        try:
            wait_for(ready, timeout, what=f"{self.name} RPC ready")
        except AssertionError:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode} during "
                    f"startup: {self.output()[-2000:]}")
            raise

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        """What the daemon wrote on stdout/stderr in its latest run."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log(self):
        """Contents of <datadir>/debug.log ("" if none)."""
        try:
            with open(os.path.join(self.datadir, "debug.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=STOP_TIMEOUT, check=True):
        """RPC stop, then wait for the exit; SIGKILL if it does not exit.
        With check, fail unless the answer was "dexp2pd stopping" and the
        exit status 0.  Returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        answer = None
        try:
            answer = self.rpc("stop")
        except Exception as e:  # noqa: BLE001
            answer = e
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self._close_conns()
            if check:
                raise AssertionError(
                    f"{self.name} did not exit within {timeout}s of stop "
                    f"(answer {answer!r}); killed")
            return self.proc.returncode
        self._close_conns()
        if check:
            assert answer == "dexp2pd stopping", \
                f"{self.name} stop answered {answer!r}"
            assert rc == 0, f"{self.name} exited with {rc} after stop: " \
                            f"{self.output()[-2000:]}"
        return rc

    def kill(self, sig=signal.SIGKILL):
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_conns()

    def restart(self, timeout=START_TIMEOUT):
        """Stop cleanly and start again on the same datadir and ports."""
        self.stop()
        return self.start(timeout)

    # --------------------------------------------------------------- RPC
    def auth(self):
        """(user, password): rpcauth if set, else <datadir>/.cookie."""
        if self.rpcauth is not None:
            return self.rpcauth
        if self._auth is None:
            path = os.path.join(self.datadir, ".cookie")
            with open(path) as f:
                user, _, pw = f.read().partition(":")
            if not pw:
                raise AuthError(f"malformed cookie in {path}")
            self._auth = (user, pw)
        return self._auth

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(HOST, self.rpcport,
                                           timeout=RPC_TIMEOUT)
            self._local.conn = c
            conns = self.__dict__.setdefault("_all_conns", [])
            conns.append(c)
        return c

    def _close_conns(self):
        for c in self.__dict__.get("_all_conns", []):
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        self.__dict__["_all_conns"] = []
        self._local = threading.local()

    def post(self, body, auth=None):
        """POST / with `body` (bytes, str or a JSON-serialisable object) on
        this thread's keep-alive connection.  Returns HTTPResult."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        user, pw = auth or self.auth()
        tok = base64.b64encode(f"{user}:{pw}".encode()).decode()
        headers = {"Authorization": "Basic " + tok,
                   "Content-Type": "application/json"}
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request("POST", "/", body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if r.will_close:
                    c.close()
                return HTTPResult(r.status, hdrs, data)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError, http.client.CannotSendRequest,
                    http.client.ResponseNotReady):
                # a kept-alive connection the server closed: retry once on
                # a new one (a request is never sent twice successfully)
                c.close()
                self._local.conn = None
                if attempt:
                    raise

    def call(self, method, params=None, id_=1):
        """Full JSON-RPC response object (dict) and HTTP status."""
        req = {"jsonrpc": "1.0", "id": id_, "method": method,
               "params": [] if params is None else params}
        r = self.post(req)
        if r.status == 401:
            raise AuthError(f"{self.name}: 401")
        return r.status, r.json()

    def rpc(self, method, *params):
        """Call a method; return its result or raise RPCError."""
        status, resp = self.call(method, list(params))
        if resp.get("error") is not None:
            raise RPCError(resp["error"]["code"], resp["error"]["message"],
                           status)
        assert status == 200, f"status {status} with a result: {resp}"
        return resp["result"]

    def http(self, method="POST", path="/", body=b"", headers=None,
             auth="cookie", **kw):
        """Raw HTTP exchange on a new connection (status-code tests).
        auth: "cookie" (default), None, or (user, pw)."""
        if auth == "cookie":
            auth = self.auth()
        return raw_http(self.rpcport, method, path, body, headers, auth, **kw)

    # --------------------------------------------------------------- CLI
    def cli(self, *args, opts=None, timeout=60, input_=None):
        """Run dexp2p-cli -datadir=<datadir> -rpcport=<rpcport> [opts]
        args...; returns CompletedProcess (text mode)."""
        base = [CLI, f"-datadir={self.datadir}", f"-rpcport={self.rpcport}"]
        return run_cli(base + list(opts or []) + list(args), timeout)

    # ------------------------------------------------------- conveniences
    def stats(self):
        return self.rpc("DEX_stats")

    def fingerprint(self):
        return self.stats()["fingerprint"]

    def peers(self):
        return self.rpc("getpeerinfo")

    def peer_pubkeys(self):
        return sorted(p["pubkey"] for p in self.peers())

    def pubkey(self):
        return self.rpc("DEX_stats")["publishable_pubkey"]

    def wait_packet(self, h, timeout=20.0):
        """Wait until this node holds the packet with hash h; return its
        packet object."""
        def held():
            r = self.rpc("DEX_get", h)
            # "hash not found" error objects carry the hash too
            return r if r.get("hash") == h and "result" not in r else None
        return wait_for(held, timeout, what=f"{h[:12]} on {self.name}")

    def list_all(self, tag="general"):
        """Every held packet with tagA = tag (DEX_list), newest first."""
        r = self.rpc("DEX_list", "", "0", tag)
        assert r["result"] == "success", r
        return r["matches"]

    def __repr__(self):
        return f"Node({self.name}, port={self.port}, rpc={self.rpcport})"


class AuthError(Exception):
    pass


def run_cli(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def strip_local(pkt):
    """A packet object without its node-local fields (recvtime)."""
    return {k: v for k, v in pkt.items() if k != "recvtime"}


def fingerprints_equal(nodes):
    fps = [n.fingerprint() for n in nodes]
    return len(set(fps)) == 1 and fps[0]


def wait_synced(nodes, expect_ram=None, timeout=30.0, what="fingerprints"):
    """Wait until every node shows the same fingerprint (and, if given,
    ram == expect_ram).  Returns the common fingerprint.  On timeout the
    message lists every node's ram and fingerprint."""
    def cond():
        st = [n.stats() for n in nodes]
        if expect_ram is not None and any(s["ram"] != expect_ram for s in st):
            return None
        fps = {s["fingerprint"] for s in st}
        return fps.pop() if len(fps) == 1 else None
    try:
        return wait_for(cond, timeout, what=what)
    except AssertionError as e:
        detail = []
        for n in nodes:
            try:
                s = n.stats()
                detail.append(f"{n.name}: ram={s['ram']} fp={s['fingerprint'][:16]} "
                              f"peers={s['peers']} dropped={s['dropped']}")
            except Exception as ex:  # noqa: BLE001
                detail.append(f"{n.name}: {ex!r}")
        raise AssertionError(f"{e}; expected ram={expect_ram}; " +
                             "; ".join(detail)) from None


def xor_fingerprint(hashes):
    """API.md 4.4: byte-wise XOR of the 32-byte hashes."""
    acc = bytearray(32)
    for h in hashes:
        for i, b in enumerate(bytes.fromhex(h)):
            acc[i] ^= b
    return acc.hex()


class NodeList:
    """A group of nodes held in self.nodes: iterate, index and count it."""

    def __iter__(self):
        return iter(self.nodes)

    def __getitem__(self, i):
        return self.nodes[i]

    def __len__(self):
        return len(self.nodes)


class Network(NodeList):
    """Nodes started in a topology.  edges are (i, j) pairs: node i is
    started with -connect to node j, so node i dials j and no one else
    (-connect stops connections to learned addresses).  A node that dials
    no one gets -connect to a closed port (127.0.0.1:1) for the same
    reason: the topology stays exactly the one drawn."""

    def __init__(self, factory, n, edges, txpowbits=12, args=(),
                 names=None):
        self.nodes = [factory(names[i] if names else f"n{i}",
                              txpowbits=txpowbits, args=list(args))
                      for i in range(n)]
        self.edges = list(edges)
        for i, node in enumerate(self.nodes):
            outs = [self.nodes[j].addr for (a, j) in self.edges if a == i]
            if not outs:
                outs = [f"{HOST}:1"]
            node.args += [f"-connect={o}" for o in outs]

    def start(self, timeout=START_TIMEOUT):
        for n in self.nodes:
            n.spawn()
        for n in self.nodes:
            n.wait_ready(timeout)
        return self

    def neighbours(self, i):
        s = set()
        for a, b in self.edges:
            if a == i:
                s.add(b)
            if b == i:
                s.add(a)
        return s

    def wait_connected(self, timeout=30.0):
        """Wait until every node has exactly its topology neighbours as
        peers (compared by pubkey)."""
        keys = [n.pubkey() for n in self.nodes]

        def cond():
            for i, n in enumerate(self.nodes):
                want = sorted(keys[j] for j in self.neighbours(i))
                if n.peer_pubkeys() != want:
                    return False
            return True
        try:
            wait_for(cond, timeout, what="topology connected")
        except AssertionError as e:
            got = {n.name: len(n.peers()) for n in self.nodes}
            raise AssertionError(f"{e}; peers per node {got}; edges "
                                 f"{self.edges}") from None
        return self



def line_edges(n):
    """0 - 1 - 2 - ... - n-1; node i dials node i-1."""
    return [(i, i - 1) for i in range(1, n)]


def ring_edges(n):
    return line_edges(n) + [(0, n - 1)]


# ---------------------------------------------------------------------------
# Packets and the peer wire protocol (API.md Appendix A, docs/PROTOCOL.md),
# for tests that talk to a node as a raw TCP peer.

import hashlib  # noqa: E402
import struct  # noqa: E402

PACKET_MAX_LEN = 1048576
WIRE_MAGIC = b"DXP2"
WIRE_MAX_PAYLOAD = PACKET_MAX_LEN + 4096
(W_VERSION, W_VERACK, W_PING, W_PONG, W_GETADDR, W_ADDR, W_PACKET, W_INV,
 W_GETDATA, W_NOTFOUND, W_SUMMARY, W_SUMMARY_SEC, W_IDLIST) = range(1, 14)


def packet_bytes(t, payload, tag_a=b"general", tag_b=b"", kind=b"Q",
                 amount_a=0, amount_b=0, pubkey=b"", nonce=0, relay=3):
    """Packet layout of API.md A.1 (no checks: tests build bad ones too)."""
    return (bytes([relay]) + kind + struct.pack("<IQQ", t, amount_a, amount_b)
            + bytes([len(pubkey)]) + pubkey + bytes([len(tag_a)]) + tag_a
            + bytes([len(tag_b)]) + tag_b + payload + struct.pack("<I", nonce))


def packet_hash(pkt):
    return hashlib.sha256(pkt[1:]).digest()


def pow_info(pkt, txpowbits):
    """(valid, priority, id) of A.3."""
    h64 = int.from_bytes(packet_hash(pkt)[:8], "little")
    mask = (1 << txpowbits) - 1
    valid = (h64 & mask) == (0x777 & mask)
    pen = (len(pkt) >> 10).bit_length()
    v = h64 >> txpowbits
    z = (v & -v).bit_length() - 1 if v else 64 - txpowbits
    return valid, z - pen, (h64 >> (txpowbits + pen)) & 0xFFFFFFFF


def mine(pkt, txpowbits, want=lambda valid, prio: valid and prio >= 0,
         limit=1 << 22):
    """Search nonces (the last 4 bytes) until want(valid, priority)."""
    base = bytearray(pkt)
    start = random.getrandbits(32)
    for i in range(limit):
        base[-4:] = struct.pack("<I", (start + i) & 0xFFFFFFFF)
        valid, prio, _ = pow_info(base, txpowbits)
        if want(valid, prio):
            return bytes(base)
    raise RuntimeError("mining limit reached")


def frame(mtype, payload=b"", magic=WIRE_MAGIC, length=None):
    n = len(payload) if length is None else length
    return magic + bytes([mtype]) + struct.pack("<I", n) + payload


def version_payload(txpowbits=12, purgetime=3600, services=1, version=1,
                    nonce=None, ua=b"/rawtest:0/", pubkey=b""):
    nonce = random.getrandbits(64) if nonce is None else nonce
    return (struct.pack("<IQBIQHI", version, services, txpowbits, purgetime,
                        nonce, 0, int(time.time()))
            + bytes([len(pubkey)]) + pubkey + bytes([len(ua)]) + ua)


class RawPeer:
    """A hand-written peer connection to a node's p2p port."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self, timeout=10.0):
        """(type, payload), or None at EOF / reset."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 9:
                n = struct.unpack("<I", self.buf[5:9])[0]
                if len(self.buf) >= 9 + n:
                    t, p = self.buf[4], self.buf[9:9 + n]
                    self.buf = self.buf[9 + n:]
                    return t, p
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutExpired("no frame from node")
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not b:
                return None
            self.buf += b

    def expect(self, mtype, timeout=10.0):
        """Read frames until one of type mtype (others are discarded)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise AssertionError(f"closed while waiting for type {mtype}")
            if f[0] == mtype:
                return f[1]

    def handshake(self, **kw):
        self.send(frame(W_VERSION, version_payload(**kw)))
        self.expect(W_VERSION)
        self.send(frame(W_VERACK))
        self.expect(W_VERACK)
        return self

    def wait_closed(self, timeout=10.0):
        """True once the node has closed the connection (frames it sends
        meanwhile are discarded); fails after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("node did not close the connection")
            try:
                if self.read_frame(left) is None:
                    return True
            except TimeoutExpired:
                raise AssertionError("node did not close the connection")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
