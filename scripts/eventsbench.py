"""eventsbench.py - the measuring part of scripts/events-bench.sh.

For each subscriber count S (0 = the baseline), opens S GET /events streams
(tagA nbs, since=now) on one dexp2pd, loads the node with tools/netbench
(every packet tagA nbx, 1 in SAMPLE tagA nbs: those match every
subscriber), reads every stream with poll(), and for each `packet` event
takes receive time - the send time the generator wrote in the payload.
first_*: per latency sample, the subscriber that got it first (the node's
own delay, less the reader's: one Python process reads every stream).
The daemon's CPU time (utime + stime) over the load gives the cost of the
subscribers (minus the S=0 baseline).  Prints one line per S.
Usage: eventsbench.py <rpcport> <user> <pw> <daemon pid> <netbench> <p2p
port> <rate> <seconds> <sample> <counts, comma separated>."""

import base64
import os
import re
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchrpc  # noqa: E402

# netbench's payload has no final NUL: it is rendered as hex (API.md C.2)
PAY = re.compile(rb'"payload":"(6e6220[0-9a-f]{100})')


def send_us(hexpay):
    """The send time in the payload "nb <run> <seq> <send us> ..."."""
    return int(bytes.fromhex(hexpay.decode()).split(b" ")[3])


def pct(v, q):
    if not v:
        return -1.0
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Stream:
    def __init__(self, port, auth):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(("GET /events?tagA=nbs&since=now HTTP/1.0\r\n"
                        "Host: 127.0.0.1\r\nAuthorization: Basic %s\r\n\r\n"
                        % auth).encode())
        self.s.setblocking(False)
        self.buf = b""
        self.ready = False
        self.events = 0

    def read(self, lat):
        try:
            d = self.s.recv(1 << 18)
        except BlockingIOError:
            return
        if not d:
            raise RuntimeError("stream closed")
        t_us = time.time() * 1e6
        self.buf += d
        if not self.ready and b"event: eose" in self.buf:
            self.ready = True
        # complete events only
        cut = self.buf.rfind(b"\n\n")
        if cut < 0:
            return
        block, self.buf = self.buf[:cut + 2], self.buf[cut + 2:]
        for m in PAY.finditer(block):
            lat.append((send_us(m.group(1)), (t_us - send_us(m.group(1)))
                        / 1000.0))
            self.events += 1


def run(port, auth, pid, gen, p2p, rate, seconds, sample, n):
    streams = []
    for wave in range(0, n, 40):
        new = [Stream(port, auth) for _ in range(min(40, n - wave))]
        t_end = time.time() + 30
        while not all(s.ready for s in new):
            if time.time() > t_end:
                raise RuntimeError("subscribers not ready")
            for s in new:
                s.read([])
            time.sleep(0.005)
        streams += new
    poller = select.poll()
    fds = {}
    for s in streams:
        poller.register(s.s, select.POLLIN)
        fds[s.s.fileno()] = s
    lat = []
    cpu0 = benchrpc.cpu_s(pid)
    t0 = time.time()
    g = subprocess.Popen([gen, "-connect=127.0.0.1:%d" % p2p,
                          "-rate=%d" % rate, "-seconds=%d" % seconds,
                          "-size=256", "-sample=%d" % sample],
                         stdout=subprocess.PIPE, text=True)
    t_stop = None
    while True:
        if t_stop is None and g.poll() is not None:
            t_stop = time.time() + 1.0      # settle: the last events
        if t_stop is not None and time.time() > t_stop:
            break
        if time.time() > t0 + seconds + 60:
            raise RuntimeError("generator did not end")
        for fd, _ in poller.poll(50):
            fds[fd].read(lat)
    wall = time.time() - t0
    cpu = benchrpc.cpu_s(pid) - cpu0
    out = g.stdout.read()
    m = re.search(r"rate_actual=([0-9.]+)", out)
    for s in streams:
        s.s.close()
    first = {}
    for k, v in lat:
        first[k] = min(v, first.get(k, v))
    return {"cpu": cpu, "wall": wall, "lat": [v for _, v in lat],
            "first": list(first.values()),
            "rate": float(m.group(1)) if m else -1.0,
            "events": sum(s.events for s in streams)}


def main():
    (port, user, pw, pid, gen, p2p, rate, seconds, sample,
     counts) = sys.argv[1:11]
    port, pid, p2p = int(port), int(pid), int(p2p)
    rate, seconds, sample = int(rate), int(seconds), int(sample)
    auth = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    base = None
    for n in [int(c) for c in counts.split(",")]:
        r = run(port, auth, pid, gen, p2p, rate, seconds, sample, n)
        cpu_pct = 100.0 * r["cpu"] / r["wall"]
        if n == 0:
            base = cpu_pct
        per_sub = ((cpu_pct - base) / n) if (n and base is not None) else 0.0
        ev_s = r["events"] / r["wall"]
        per_ev_us = ((cpu_pct - base) / 100.0 * 1e6 / ev_s
                     if (n and base is not None and ev_s > 0) else 0.0)
        print("bench=events subscribers=%d rate_target=%d rate_actual=%.0f "
              "seconds=%d sample=1/%d events=%d latency_p50_ms=%.2f "
              "latency_p99_ms=%.2f first_p50_ms=%.2f first_p99_ms=%.2f "
              "daemon_cpu_pct=%.1f "
              "cpu_pct_per_subscriber=%.4f cpu_us_per_event=%.2f"
              % (n, rate, r["rate"], seconds, sample, r["events"],
                 pct(r["lat"], 50), pct(r["lat"], 99), pct(r["first"], 50),
                 pct(r["first"], 99), cpu_pct, per_sub,
                 per_ev_us), flush=True)


if __name__ == "__main__":
    main()
