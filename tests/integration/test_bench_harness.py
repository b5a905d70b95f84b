"""The real-daemon bench harnesses (docs/bench.md "proxy", netbench): the
delaying proxy network and netbench's random topology with RSS figures, in
their smallest configurations.  What is checked is the harness itself: a
proxy that did not delay, or a topology that did not come up, fails."""

import os
import subprocess
import time

import dexnet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_script(name, env, timeout):
    e = dict(os.environ, **env)
    p = subprocess.run([os.path.join(ROOT, "scripts", name), dexnet.BUILD],
                       capture_output=True, text=True, env=e,
                       timeout=timeout * dexnet.TIMEOUT_SCALE)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [l for l in p.stdout.splitlines() if l.startswith("bench=")]
    assert len(lines) == 1, p.stdout
    kv = dict(x.split("=", 1) for x in lines[0].split()[1:])
    return kv, lines[0], p.stdout


def test_proxy_network_delivers_no_faster_than_the_links(tmp_path):
    gfile = tmp_path / "graph.txt"
    r, line, _ = run_script("proxy-bench.sh", {
        "PB_NODES": "5", "PB_DEGREE": "3", "PB_RATE": "10",
        "PB_SECONDS": "2", "PB_DELAY_LO": "30", "PB_DELAY_HI": "60",
        "PB_BASEPORT": "29100", "PB_GRAPH_OUT": str(gfile)}, 90)
    assert int(r["sent"]) == 20, line
    assert int(r["missing"]) == 0 and int(r["missing_by_ram"]) == 0, line
    assert int(r["deliveries"]) == 20 * 4, line
    # every hop is delayed 30-60 ms: nothing arrives before the shortest
    # path (the proxy stamps the write, so only a proxy that skipped its
    # delay could give a ratio under 1)
    assert float(r["ratio_p50"]) >= 1.0, line
    assert 30 <= int(r["bound_p50_ms"]) <= 4 * 60, line
    assert float(r["delivery_p50_ms"]) >= 30, line
    # the same network in the simulator: same nodes, links and bound
    p = subprocess.run([os.path.join(dexnet.BUILD, "tools", "sim"),
                        "-graph=%s" % gfile, "-rate=10", "-seconds=2"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    s = dict(x.split("=", 1) for x in p.stdout.split()[1:])
    assert s["nodes"] == "5", p.stdout
    assert abs(float(s["avg_degree"]) - float(r["degree"])) < 0.01
    assert float(s["delivery_ratio_p50"]) >= 1.0


def test_proxy_bench_rejects_bad_settings():
    for env in ({"PB_NODES": "1"}, {"PB_DELAY_LO": "90", "PB_DELAY_HI": "20"},
                {"PB_RATE": "x"}):
        e = dict(os.environ, **env)
        p = subprocess.run([os.path.join(ROOT, "scripts", "proxy-bench.sh"),
                            dexnet.BUILD], capture_output=True, text=True,
                           env=e, timeout=30)
        assert p.returncode != 0 and "proxy-bench:" in p.stderr, env


def test_netbench_random_topology_reports_rss():
    r, line, out = run_script("netbench.sh", {
        "NB_NODES": "6", "NB_TOPOLOGY": "random", "NB_DEGREE": "3",
        "NB_RATE": "200", "NB_SECONDS": "2", "NB_SETTLE": "10",
        "NB_BASEPORT": "29300"}, 120)
    assert r["topology"] == "random" and r["nodes"] == "6", line
    assert int(r["missing"]) == 0, line
    detail = [l for l in out.splitlines() if l.startswith("# network detail")]
    d = dict(x.split("=", 1) for x in detail[0].split()[3:] if "=" in x)
    # a daemon holds at least a few MB; under load no less than idle
    assert 1.0 < float(d["rss_idle_mb_avg"]) <= float(d["rss_load_mb_max"]), detail


def test_sim_plot_lines_and_png(tmp_path):
    png = tmp_path / "p.png"
    e = dict(os.environ, SP_NODES="8 12", SP_SECONDS="1", SP_RATE="20",
             SP_PNG=str(png))
    p = subprocess.run([os.path.join(ROOT, "scripts", "sim-plot.sh"),
                        dexnet.BUILD], capture_output=True, text=True, env=e,
                       timeout=60 * dexnet.TIMEOUT_SCALE)
    assert p.returncode == 0, p.stderr
    rows = [dict(x.split("=", 1) for x in l.split()[1:])
            for l in p.stdout.splitlines() if l.startswith("bench=sim_plot")]
    assert [r["nodes"] for r in rows] == ["8", "12"], p.stdout
    for r in rows:
        assert r["label"] == "current" and r["missing"] == "0", r
        assert int(r["prop100_p50_ms"]) >= int(r["bound100_p50_ms"]) > 0, r
    if subprocess.run(["sh", "-c", "command -v gnuplot"],
                      capture_output=True).returncode == 0:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "no PNG" in p.stdout


def test_sim_plot_options_per_label(tmp_path):
    """`label=binary,option` runs that label with its own options: the pull
    design (-mode=1) is much slower than the tree on the same seed and graph."""
    sim = os.path.join(dexnet.BUILD, "tools", "sim")
    e = dict(os.environ, SP_NODES="16", SP_SECONDS="1", SP_RATE="20",
             SP_PNG=str(tmp_path / "p.png"),
             SP_SIMS="hop=%s,-mode=1 tree=%s" % (sim, sim))
    p = subprocess.run([os.path.join(ROOT, "scripts", "sim-plot.sh"),
                        dexnet.BUILD], capture_output=True, text=True, env=e,
                       timeout=60 * dexnet.TIMEOUT_SCALE)
    assert p.returncode == 0, p.stderr
    rows = {r["label"]: r for r in
            (dict(x.split("=", 1) for x in l.split()[1:])
             for l in p.stdout.splitlines() if l.startswith("bench=sim_plot"))}
    assert set(rows) == {"hop", "tree"}, p.stdout
    # (the two modes draw different creators from the seed: compare ratios)
    assert (float(rows["hop"]["ratio100_p50"]) >
            1.5 * float(rows["tree"]["ratio100_p50"])), p.stdout
    bad = dict(e, SP_SIMS="a/b=%s" % sim)
    p = subprocess.run([os.path.join(ROOT, "scripts", "sim-plot.sh"),
                        dexnet.BUILD], capture_output=True, text=True, env=bad,
                       timeout=30)
    assert p.returncode != 0 and "bad label" in p.stderr
def test_benchlib_helpers(tmp_path):
    """scripts/benchlib.sh, shared by the bench scripts: the checks of
    binaries and numbers, a daemon started by bench_daemon that dies while
    bench_wait_rpc waits (reported with its output, at once), the EXIT trap
    removing $TMP, and a bench script rejecting a bad setting through
    them."""
    fake = tmp_path / "fakedaemon"
    fake.write_text("#!/bin/sh\necho \"fake daemon: $*\"\nexit 3\n")
    fake.chmod(0o755)
    tmpfile = tmp_path / "tmpdir"
    script = r"""
set -euo pipefail
cd "$1"
. scripts/benchlib.sh
BUILD=$2 DAEMON=$3
bench_need lbtest "$DAEMON"
X=12 Y=1x
bench_numbers lbtest X
( bench_numbers lbtest Y ) && exit 10
( bench_need lbtest "$BUILD/nonexistent" ) && exit 11
bench_tmp lbtest
echo "$TMP" >"$4"
bench_daemon d1 -port=1 -rpcport=2
[ "${pids[0]}" = "$BENCH_PID" ] && [ -d "$TMP/d1" ] || exit 12
bench_wait_rpc d1 1 u p 20
exit 13
"""
    t0 = time.monotonic()
    p = subprocess.run(["bash", "-c", script, "lbtest", ROOT, dexnet.BUILD,
                        str(fake), str(tmpfile)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert time.monotonic() - t0 < 15 * dexnet.TIMEOUT_SCALE
    assert "lbtest: Y must be a number" in p.stderr, p.stderr
    assert f"lbtest: {dexnet.BUILD}/nonexistent not built" in p.stderr
    assert "lbtest: daemon d1 died" in p.stderr, p.stderr
    # its output, with the -datadir bench_daemon gave it
    tmp = tmpfile.read_text().strip()
    assert f"fake daemon: -datadir={tmp}/d1 -port=1 -rpcport=2" in p.stderr
    assert not os.path.exists(tmp)
    for script_name, env, msg in (
            ("light-bench.sh", {"LB_RATE": "x"}, "light-bench: RATE must be"),
            ("events-bench.sh", {"EB_SECONDS": "-1"},
             "events-bench: SECONDS_ must be"),
            ("catchup-bench.sh", {"CU_GAP": "1.5"}, "catchup: GAP must be"),
            ("netbench.sh", {"NB_NODES": "two"}, "netbench: N must be")):
        e = dict(os.environ, **env)
        p = subprocess.run([os.path.join(ROOT, "scripts", script_name),
                            dexnet.BUILD], capture_output=True, text=True,
                           env=e, timeout=30)
        assert p.returncode == 1 and msg in p.stderr, (script_name, p.stderr)
    p = subprocess.run([os.path.join(ROOT, "scripts", "files-bench.sh"),
                        str(tmp_path)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "files-bench:" in p.stderr and \
        "not built" in p.stderr, p.stderr
