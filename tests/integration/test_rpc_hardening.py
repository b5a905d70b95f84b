"""RPC server, log and data directory under abuse (issue 7: items 3, 4, 5,
12, 13).

Every load loop here is bounded in count and time, and runs on 127.0.0.1.
"""

import base64
import json
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

import dexnet
from dexnet import HOST, TIMEOUT_SCALE, raw_http, wait_for


# ------------------------------------------------------------ helpers

def spawn(node, preexec_fn=None, env=None):
    """Node.spawn with a preexec_fn (umask, rlimits) and environment for
    the child."""
    os.makedirs(node.basedir, exist_ok=True)
    node.starts += 1
    node._auth = None
    node._close_conns()
    with open(node.stderr_path, "wb") as out:
        node.proc = subprocess.Popen(node.argv(), stdout=out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=preexec_fn, env=env)
    return node


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle_sockets(port, n, deadline_s=20.0):
    """Open up to n TCP connections that never send anything.  Returns the
    sockets that connected (a full backlog may refuse some)."""
    socks = []
    end = time.monotonic() + deadline_s * TIMEOUT_SCALE
    for _ in range(n):
        if time.monotonic() > end:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect((HOST, port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def timed_rpc(node, method="getinfo"):
    t0 = time.monotonic()
    r = raw_http(node.rpcport, body=json.dumps({"method": method, "id": 1}),
                 auth=node.auth(), timeout=30.0)
    return r, time.monotonic() - t0


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


# ------------------------------------------------------------ issue 7.3

def test_batch_over_limit_answers_and_survives(node):
    """10,001 calls in one batch: -32600, and the daemon lives on."""
    body = "[" + ",".join('{"method":"ping","id":%d}' % i
                          for i in range(10001)) + "]"
    r = node.http(body=body)
    assert r.status == 500
    assert r.json()["error"]["code"] == -32600
    assert node.running()
    assert node.rpc("getinfo")["version"] == 10000
    # exactly at the limit still works
    body = "[" + ",".join('{"method":"ping","id":%d}' % i
                          for i in range(10000)) + "]"
    r = node.post(body)
    assert r.status == 200 and len(r.json()) == 10000


# ------------------------------------------------ issue 7.13: files, datadir

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_private_under_umask_000(make_node):
    n = make_node("um")
    spawn(n, preexec_fn=lambda: os.umask(0))
    n.wait_ready()
    d = n.datadir
    assert mode(d) == 0o700
    for name in ("debug.log", ".cookie", "dexp2p.key", ".lock"):
        assert mode(os.path.join(d, name)) == 0o600, name
    # a log file reopened on SIGHUP is private too
    os.rename(os.path.join(d, "debug.log"), os.path.join(d, "old.log"))
    n.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(os.path.join(d, "debug.log")),
             what="new debug.log")
    assert mode(os.path.join(d, "debug.log")) == 0o600


def test_existing_datadir_tightened(make_node, workdir):
    d = os.path.join(workdir, "wide")
    os.makedirs(d)
    os.chmod(d, 0o755)
    n = make_node("wide", datadir=d).start()
    assert mode(d) == 0o700
    assert "set to 700" in n.log()


def run_daemon(argv, timeout=20, preexec_fn=None):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout * TIMEOUT_SCALE,
                          stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)


def test_readonly_datadir_reported(make_node, workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only tmpfs")
    d = os.path.join(workdir, "ro")
    os.makedirs(d)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                       d], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        n = make_node("ro", datadir=d)
        p = run_daemon(n.argv())
    finally:
        subprocess.run(["umount", d], capture_output=True)
    assert p.returncode == 1
    assert "Read-only file system" in p.stderr, p.stderr
    assert "another dexp2pd" not in p.stderr, p.stderr


def test_unwritable_datadir_reported(make_node, workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the daemon as another user")
    d = os.path.join(workdir, "noperm")
    os.makedirs(d)
    os.chmod(d, 0o755)       # root's, not writable for nobody
    os.chmod(workdir, 0o755)

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    n = make_node("np", datadir=d)
    p = run_daemon(n.argv(), preexec_fn=as_nobody)
    assert p.returncode == 1
    assert "Permission denied" in p.stderr, p.stderr
    assert "another dexp2pd" not in p.stderr, p.stderr


def test_second_daemon_still_told_it_is_running(node):
    p = run_daemon(node.argv())
    assert p.returncode == 1
    assert "another dexp2pd is probably running" in p.stderr, p.stderr


# ------------------------------------------------ issue 7.12: log rotation

def test_sighup_reopens_debug_log(node):
    d = node.datadir
    log, old = os.path.join(d, "debug.log"), os.path.join(d, "debug.log.1")
    os.rename(log, old)
    size_old = os.path.getsize(old)
    node.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(log) and "reopened" in open(log).read(),
             what="a new debug.log with lines")
    assert node.running()
    assert node.rpc("getinfo")["version"] == 10000
    # lines written after the reopen go to the new file only
    node.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: open(log).read().count("reopened") == 2,
             what="second reopen logged")
    assert os.path.getsize(old) == size_old


# ------------------------------------------- issue 7.4: idle connections

def raise_own_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {n}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def cpu_share(pid, seconds=2.0):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)   # a measuring window, not a wait for a condition
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def output_bytes(node):
    total = os.path.getsize(node.stderr_path)
    log = os.path.join(node.datadir, "debug.log")
    if os.path.exists(log):
        total += os.path.getsize(log)
    return total


def test_idle_connections_capped(make_node):
    """1,100 idle connections with the usual 1024-descriptor soft limit:
    the node raises its limit, keeps at most -rpcmaxconnections, answers
    an authenticated call at once and does not spin."""
    raise_own_nofile(1400)
    n = make_node("idle", args=["-connect=127.0.0.1:1"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    spawn(n, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (1024, hard)))
    n.wait_ready()
    pid = n.proc.pid
    # an honest client's kept-alive connection, authenticated before the
    # flood, is not the one evicted
    keep = socket.create_connection((HOST, n.rpcport), timeout=10)
    req = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " +
           basic(*n.auth()).encode() +
           b"\r\nContent-Length: 17\r\n\r\n{\"method\":\"ping\"}")

    def exchange():
        keep.sendall(req)
        data = b""
        while not data.endswith(b"}\n"):
            b = keep.recv(4096)
            assert b, data
            data += b
        assert data.startswith(b"HTTP/1.1 200"), data

    exchange()
    socks = idle_sockets(n.rpcport, 1100)
    try:
        assert len(socks) > 200
        exchange()
        r, took = timed_rpc(n)
        assert r.status == 200, r
        assert took < 5.0 * TIMEOUT_SCALE, f"getinfo took {took:.1f}s"
        assert cpu_share(pid) < 0.5
        # the cap: evicted connections are closed by the node
        wait_for(lambda: open_fds(pid) < 64 + 40,
                 what="descriptors back under the cap")
        assert output_bytes(n) < 200_000
        assert n.running()
    finally:
        close_all(socks)
        keep.close()
    assert "file descriptor limit" in n.log()


def test_given_up_waits_do_not_hold_the_connections(make_node):
    """-rpcmaxconnections calls being answered, three of them DEX_waits
    whose clients have left (an hour long, given up with Ctrl-C): evhttp
    does not read those connections, so nothing noticed; a new client is
    served by closing one of them rather than refused, the client still
    waiting keeps its call, and `stop` gets through."""
    n = make_node("gone", args=["-connect=127.0.0.1:1",
                                "-rpcmaxconnections=4"]).start()
    auth = basic(*n.auth()).encode()
    n._close_conns()

    def post(method, *params):
        body = json.dumps({"method": method, "id": 1,
                           "params": list(params)}).encode()
        s = socket.create_connection((HOST, n.rpcport), timeout=30)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                  auth + b"\r\nContent-Length: %d\r\n\r\n" % len(body) +
                  body)
        return s

    def answer(s):
        data = b""
        while not data.endswith(b"}\n"):
            b = s.recv(65536)
            assert b, data
            data += b
        s.close()
        return json.loads(data.split(b"\r\n\r\n", 1)[1])["result"]

    def active():
        return answer(post("DEX_stats"))["subscriptions"]["active"]

    for i in range(3):
        s = post("DEX_wait", "", "3600", "", "GONE")
        wait_for(lambda: active() == i + 1, what="waiting")
        s.close()
    live = post("DEX_wait", "", "60", "", "HERE")
    # four calls being answered: the check needs a fifth connection
    wait_for(lambda: active() == 4, what="the live one waiting")
    for _ in range(3):
        assert answer(post("getinfo"))["txpowbits"] == 12
    p = answer(post("DEX_broadcast", "here", "0", "HERE"))
    assert answer(live)["cursor"] == p["hash"]
    n.stop()

def test_descriptor_exhaustion_recovers(make_node):
    """A node that cannot raise its 64-descriptor limit, more idle clients
    than descriptors: accept fails, the node backs off instead of spinning,
    logs a bounded amount, and RPC works again once the idle connections
    time out."""
    n = make_node("fd64", args=["-connect=127.0.0.1:1",
                                "-rpcmaxconnections=500",
                                "-rpcservertimeout=3"])
    spawn(n, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_NOFILE, (64, 64)))
    n.wait_ready()
    pid = n.proc.pid
    socks = idle_sockets(n.rpcport, 300, deadline_s=15.0)
    try:
        assert n.running()
        assert cpu_share(pid) < 0.5
        before = output_bytes(n)

        def answers():
            r, _ = timed_rpc(n)
            return r.status == 200
        wait_for(answers, timeout=20.0, what="RPC after the idle timeout")
        assert output_bytes(n) - before < 100_000
        assert output_bytes(n) < 300_000
    finally:
        close_all(socks)
    assert "accept failed" in n.log()
    assert n.running()


def test_idle_timeout_closes_connection(make_node):
    n = make_node("to", args=["-connect=127.0.0.1:1",
                              "-rpcservertimeout=2"]).start()
    s = socket.create_connection((HOST, n.rpcport), timeout=10)
    try:
        # a slow client sending one header byte a second is closed too
        t0 = time.monotonic()
        s.sendall(b"POST / HTTP/1.1\r\n")
        closed = False
        for _ in range(15):
            try:
                s.sendall(b"X")
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.5)   # the slow client's pace
        assert closed, "slow header connection not closed"
        assert time.monotonic() - t0 < 8 * TIMEOUT_SCALE
    finally:
        s.close()
    assert n.rpc("getinfo")["version"] == 10000


# ----------------------------- issue 7.5: bodies before authentication

def slow_body_clients(port, count, headers, body_mib, src=None):
    """count clients send headers claiming 64 MiB, then body_mib MiB in
    1 MiB pieces; each records the time to its answer and its status."""
    results = [None] * count
    started = threading.Barrier(count + 1)

    def client(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            if src:
                s.bind((src, 0))
            s.connect((HOST, port))
            started.wait(30)
            head = ("POST / HTTP/1.1\r\nHost: x\r\n" + headers +
                    "Content-Length: %d\r\n\r\n" % (64 << 20)).encode()
            t0 = time.monotonic()
            s.sendall(head + b"{" * (1 << 20))
            buf = b""
            while b"\r\n\r\n" not in buf:
                b = s.recv(4096)
                if not b:
                    break
                buf += b
            took = time.monotonic() - t0
            status = int(buf.split(b" ", 2)[1]) if buf else None
            sent = 1
            for _ in range(body_mib - 1):
                try:
                    s.sendall(b"{" * (1 << 20))
                    sent += 1
                except OSError:
                    break
            results[i] = (status, took, sent)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = ("error", repr(e), 0)
        finally:
            s.close()

    ts = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in ts:
        t.start()
    started.wait(30)
    return ts, results


def small_quarantine_node(make_node, name):
    """A node whose freed memory is returned at once under ASan too (its
    quarantine would otherwise hold what the node dropped)."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":quarantine_size_mb=1").lstrip(":")
    n = make_node(name, args=["-connect=127.0.0.1:1"])
    spawn(n, env=env)
    n.wait_ready()
    return n


def check_bounded_refusals(node, headers, expect, src=None):
    pid = node.proc.pid
    base = rss_kib(pid)
    peak = [base]
    ts, results = slow_body_clients(node.rpcport, 20, headers, 8, src=src)
    end = time.monotonic() + 120 * TIMEOUT_SCALE
    while any(t.is_alive() for t in ts) and time.monotonic() < end:
        peak[0] = max(peak[0], rss_kib(pid))
        time.sleep(0.05)   # sampling period
    for t in ts:
        t.join(1)
    for r in results:
        assert r and r[0] == expect, results
        assert r[1] < 3.0 * TIMEOUT_SCALE, f"answer after {r[1]:.1f}s"
    # 20 clients x 8 MiB were sent; the node held almost none of it
    assert sum(r[2] for r in results) >= 20 * 4
    grown = (peak[0] - base) / 1024
    assert grown < 48, f"RSS grew {grown:.0f} MiB"
    assert node.rpc("getinfo")["version"] == 10000


def test_unauthenticated_bodies_not_buffered(make_node):
    node = small_quarantine_node(make_node, "wrongpw")
    check_bounded_refusals(
        node, "Authorization: %s\r\n" % basic("__cookie__", "0" * 64), 401)


def test_missing_credentials_bodies_not_buffered(make_node):
    node = small_quarantine_node(make_node, "nopw")
    check_bounded_refusals(node, "", 401)


def test_forbidden_client_bodies_not_buffered(make_node):
    node = small_quarantine_node(make_node, "forbidden")
    # 127.0.0.2 is not in the allow list (only 127.0.0.1 and ::1 are)
    check_bounded_refusals(
        node, "Authorization: %s\r\n" % basic(*node.auth()), 403,
        src="127.0.0.2")


def test_keepalive_after_refused_request(node):
    """A refused request's body is skipped and the next request on the
    same connection is read normally."""
    s = socket.create_connection((HOST, node.rpcport), timeout=10)
    try:
        body = b'{"method":"getinfo","id":1}'
        bad = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " +
               basic("x", "y").encode() +
               b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        good = (b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                basic(*node.auth()).encode() +
                b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        s.sendall(bad + good)
        data = b""
        end = time.monotonic() + 10 * TIMEOUT_SCALE
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"\n"):
            assert time.monotonic() < end, data
            b = s.recv(65536)
            assert b, data
            data += b
        first, second = data.split(b"HTTP/1.1 ")[1:3]
        assert first.startswith(b"401")
        assert second.startswith(b"200") and b'"version":10000' in second
    finally:
        s.close()


def test_oversized_declared_body_refused_unread(node):
    """An authenticated request declaring more than 16 MiB gets 413 at
    once, without the node reading (or the client sending) the body."""
    s = socket.create_connection((HOST, node.rpcport), timeout=10)
    try:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                  basic(*node.auth()).encode() +
                  b"\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 413"), head
    finally:
        s.close()


# -------------------------------------------- issue 7.13: password delay

def test_wrong_password_delayed_without_blocking(node):
    user, pw = node.auth()
    fast = []
    stop = threading.Event()

    def honest():
        while not stop.is_set() and len(fast) < 200:
            t0 = time.monotonic()
            assert node.rpc("ping") is None
            fast.append(time.monotonic() - t0)

    th = threading.Thread(target=honest)
    t0 = time.monotonic()
    th.start()
    try:
        for _ in range(20):
            r = node.http(body='{"method":"getinfo"}', auth=(user, "0" * 64))
            assert r.status == 401
    finally:
        took = time.monotonic() - t0
        stop.set()
        th.join(30)
    assert took >= 20 * 0.25 * 0.95, f"20 wrong tries took {took:.2f}s"
    assert fast and max(fast) < 0.2 * TIMEOUT_SCALE + 0.1, max(fast)


def test_wrong_password_log_rate_limited(node):
    user, _ = node.auth()

    def tries():
        for _ in range(10):
            node.http(body="{}", auth=(user, "0" * 64))

    ts = [threading.Thread(target=tries) for _ in range(30)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    took = time.monotonic() - t0
    lines = node.log().count("incorrect password attempt")
    assert lines >= 1
    assert lines <= 30 + 5 * (took + 1), (lines, took)
