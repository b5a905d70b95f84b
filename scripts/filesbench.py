"""filesbench.py - the file methods between two local nodes (driven by
scripts/files-bench.sh; see there for the figures and the environment).

A and B (B dials A) on 127.0.0.1 with -filesdir each.  A file of FB_MB MB
of random bytes is written to A's filesdir; the clock starts, A runs
DEX_publish; when it returns B runs DEX_subscribe (after its locators
packet has arrived: polled every 5 ms, counted in the subscribe time).
RSS: VmRSS of each daemon before the publish, VmHWM (peak) after the
subscribe.  Mining share: the sum of the per-packet mining times logged
with -debug=pow by A, over (publish time x worker threads)."""

import hashlib
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
import dexnet  # noqa: E402

WORKERS = 2  # WORKERS_DEFAULT_THREADS


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    mb = float(os.environ.get("FB_MB", "100"))
    bits = int(os.environ.get("FB_TXPOWBITS", "0"))
    size = int(mb * 1_000_000)
    base = tempfile.mkdtemp(prefix="files-bench.")
    dirs = {n: os.path.join(base, f"{n}-files") for n in "ab"}
    for d in dirs.values():
        os.makedirs(d)
    a = dexnet.Node("a", base, txpowbits=bits,
                    args=[f"-filesdir={dirs['a']}", "-connect=127.0.0.1:1",
                          "-debug=pow"])
    b = dexnet.Node("b", base, txpowbits=bits,
                    args=[f"-filesdir={dirs['b']}", f"-connect={a.addr}"])
    nodes = [a, b]
    try:
        a.start()
        b.start()
        dexnet.wait_for(lambda: len(a.peers()) == 1 and len(b.peers()) == 1,
                        30, what="connected")
        h = hashlib.sha256()
        with open(os.path.join(dirs["a"], "bench.bin"), "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        want = h.hexdigest()
        rss0 = {n.name: status_kb(n.proc.pid, "VmRSS") for n in nodes}
        log = os.path.join(a.datadir, "debug.log")
        log_off = os.path.getsize(log) if os.path.exists(log) else 0

        t0 = time.monotonic()
        pub = a.rpc("DEX_publish", "bench.bin", "0")
        t1 = time.monotonic()
        assert pub["result"] == "success" and pub["filehash"] == want, pub
        loc = a.rpc("DEX_get", str(pub["id"]))["hash"]
        b.wait_packet(loc, timeout=120)
        t_loc = time.monotonic()
        sub = b.rpc("DEX_subscribe", "bench.bin", "0", "0", a.pubkey())
        t2 = time.monotonic()
        ok = sub["result"] == "success" and sub["filehash"] == want
        peak = {n.name: status_kb(n.proc.pid, "VmHWM") for n in nodes}

        mine_ms = 0
        with open(log, "rb") as f:
            f.seek(log_off)
            for line in f:
                m = re.search(rb"pow: mine: .* in (\d+) ms", line)
                if m:
                    mine_ms += int(m.group(1))
        pub_s, sub_s = t1 - t0, t2 - t1
        share = mine_ms / 1000.0 / (pub_s * WORKERS) if pub_s > 0 else 0
        print(f"bench=files size_mb={size / 1e6:g} txpowbits={bits} "
              f"fragments={pub['fragments']} ok={int(ok)} "
              f"publish_s={pub_s:.3f} publish_mb_s={size / 1e6 / pub_s:.1f} "
              f"subscribe_after_publish_s={sub_s:.3f} "
              f"locators_arrived_s={t_loc - t1:.3f} "
              f"total_mb_s={size / 1e6 / (pub_s + sub_s):.1f} "
              f"mining_share={share:.2f} "
              f"rss_growth_mb_a={(peak['a'] - rss0['a']) * 1024 / 1e6:.1f} "
              f"rss_growth_mb_b={(peak['b'] - rss0['b']) * 1024 / 1e6:.1f} "
              f"rss_limit_mb={size / 1e6 + 32:.0f}")
        if not ok:
            print(f"# files bench: subscribe answered {sub}", file=sys.stderr)
            for n in nodes:
                st = n.stats()
                print(f"# {n.name}: ram={st['ram']} received={st['received']}"
                      f" dropped={st['dropped']} peermem={st.get('peermem')} "
                      f"perfstats={st['perfstats']}",
                      file=sys.stderr)
            return 1
        return 0
    finally:
        for n in nodes:
            try:
                if n.running():
                    n.stop(check=False)
            finally:
                n.kill()
        if os.environ.get("KEEP") != "1":
            import shutil
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
