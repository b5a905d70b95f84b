"""eventsbench.py - the measuring part of scripts/events-bench.sh.

For each subscriber count S (0 = the baseline), tools/evread opens S
GET /events streams (tagA nbs, since=now) on one dexp2pd; tools/netbench
then loads the node (every packet tagA nbx, 1 in SAMPLE tagA nbs: those
match every subscriber).  evread takes, for each `packet` event, the time
it read it minus the send time the generator wrote in the payload (all of
them, and per sample the subscriber that read it first).  The daemon's CPU
time (utime + stime) over the load, minus the S=0 baseline, gives the cost
per subscriber and per delivered event.  Prints one line per S.
Usage: eventsbench.py <rpcport> <user> <pw> <daemon pid> <netbench>
<evread> <p2p port> <rate> <seconds> <sample> <counts, comma separated>."""

import base64
import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchrpc  # noqa: E402


def field(line, name, conv=float, dflt=-1):
    m = re.search(r"\b%s=([-0-9.]+)" % name, line or "")
    return conv(m.group(1)) if m else dflt


def run(port, auth, pid, gen, evread, p2p, rate, seconds, sample, n):
    rd = None
    if n:
        rd = subprocess.Popen([evread, "-port=%d" % port, "-auth=" + auth,
                               "-n=%d" % n, "-seconds=%d" % (seconds + 120)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
        r, _, _ = select.select([rd.stdout], [], [], 120)
        if not r or rd.stdout.readline().strip() != "ready":
            raise RuntimeError("evread not ready")
    cpu0 = benchrpc.cpu_s(pid)
    t0 = time.time()
    g = subprocess.run([gen, "-connect=127.0.0.1:%d" % p2p,
                        "-rate=%d" % rate, "-seconds=%d" % seconds,
                        "-size=256", "-sample=%d" % sample],
                       stdout=subprocess.PIPE, text=True,
                       timeout=seconds + 60)
    wall = time.time() - t0
    cpu = benchrpc.cpu_s(pid) - cpu0
    out = ""
    if rd:
        time.sleep(1.0)            # the last events reach the readers
        rd.stdin.close()
        out = rd.stdout.read()
        rd.wait(30)
    return {"cpu": cpu, "wall": wall, "rd": out,
            "rate": field(g.stdout, "rate_actual")}


def main():
    (port, user, pw, pid, gen, evread, p2p, rate, seconds, sample,
     counts) = sys.argv[1:12]
    port, pid, p2p = int(port), int(pid), int(p2p)
    rate, seconds, sample = int(rate), int(seconds), int(sample)
    auth = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
    base = None
    for n in [int(c) for c in counts.split(",")]:
        r = run(port, auth, pid, gen, evread, p2p, rate, seconds, sample, n)
        cpu_pct = 100.0 * r["cpu"] / r["wall"]
        if n == 0:
            base = cpu_pct
        events = field(r["rd"], "events", int, 0)
        extra = cpu_pct - base if base is not None else 0.0
        per_sub = extra / n if n else 0.0
        ev_s = events / r["wall"]
        per_ev_us = extra / 100.0 * 1e6 / ev_s if (n and ev_s) else 0.0
        print("bench=events subscribers=%d rate_target=%d rate_actual=%.0f "
              "seconds=%d sample=1/%d events=%d latency_p50_ms=%.2f "
              "latency_p99_ms=%.2f first_p50_ms=%.2f first_p99_ms=%.2f "
              "overflow=%d daemon_cpu_pct=%.1f cpu_pct_per_subscriber=%.4f "
              "cpu_us_per_event=%.2f"
              % (n, rate, r["rate"], seconds, sample, events,
                 field(r["rd"], "p50_ms"), field(r["rd"], "p99_ms"),
                 field(r["rd"], "first_p50_ms"),
                 field(r["rd"], "first_p99_ms"),
                 field(r["rd"], "overflow", int, 0), cpu_pct, per_sub,
                 per_ev_us), flush=True)


if __name__ == "__main__":
    main()
