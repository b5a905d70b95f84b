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
