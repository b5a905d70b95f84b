"""Out of descriptors on the p2p port: accept() failing must not spin.

Topology: one node whose soft RLIMIT_NOFILE is lowered (prlimit) to a few
descriptors above what it uses, and many idle TCP connections to its p2p
port.  When accept() fails with EMFILE the listener pauses for 500 ms
instead of libevent retrying at once (before: 100 % CPU and a warning line
on stderr per retry).  After the connections close, a peer handshakes
again.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest

from dexnet import HOST, RawPeer, wait_for

pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None,
                                reason="prlimit not installed")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_accept_failure_backs_off(node):
    pid = node.proc.pid
    limit = open_fds(pid) + 8
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={limit}:"],
                   check=True)
    socks = []
    try:
        for _ in range(40):
            s = socket.create_connection((HOST, node.port), 5)
            socks.append(s)
        # the kernel completed every connection; the node has run out of
        # descriptors for some of them: measure its CPU for 3 s
        wait_for(lambda: open_fds(pid) >= limit, 10,
                 what="node out of descriptors")
        c0, t0 = cpu_seconds(pid), time.monotonic()
        err0 = len(node.output())
        wait_for(lambda: time.monotonic() - t0 >= 3.0, 10)
        used = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        grew = len(node.output()) - err0
        print(f"p2p accept: out of descriptors, CPU {used * 100:.0f} %, "
              f"stderr +{grew} B in 3 s")
        assert used < 0.3, f"CPU {used * 100:.0f} % while accept() fails"
        assert grew < 4096, f"stderr grew by {grew} bytes"
    finally:
        for s in socks:
            s.close()
    # descriptors back (the idle connections are dropped at the handshake
    # deadline or on close): a peer gets in again
    def handshakes():
        p = RawPeer(node.port, timeout=5).handshake()
        p.close()
        return True
    wait_for(handshakes, 30, what="a new peer handshakes")
    assert node.rpc("ping") is None
