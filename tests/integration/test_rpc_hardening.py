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

def spawn(node, preexec_fn=None):
    """Node.spawn with a preexec_fn (umask, rlimits) for the child."""
    os.makedirs(node.basedir, exist_ok=True)
    node.starts += 1
    node._auth = None
    node._close_conns()
    with open(node.stderr_path, "wb") as out:
        node.proc = subprocess.Popen(node.argv(), stdout=out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=preexec_fn)
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
