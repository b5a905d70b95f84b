"""The web view at GET / (docs/rpc.md, "Web view").

Without a browser: the page is served only to a client that accepts HTML
and gives the credentials, with a Content-Security-Policy whose hashes name
exactly the page's own style and script blocks.

In headless Chromium driven by Selenium (Debian's chromium, chromium-driver
and python3-selenium; skipped with the reason when absent), on the middle
node of a 3-node line: the page loads without console errors, lists both
peers, shows a packet broadcast on another node within 2 s, renders
hostile tags and payloads as text (no element made from them, no script
run), filters by tag, shows an order book, and its forms broadcast and send
an inbox message that other nodes receive.  A screenshot is saved as
$DEXP2P_BUILD/webui.png.
"""

import base64
import hashlib
import os
import re
import shutil
import time

import pytest

import dexnet
from dexnet import wait_for

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _blocks(page):
    out = {}
    for tag in ("script", "style"):
        m = re.search(rf"<{tag}>(.*?)</{tag}>".encode(), page, re.S)
        assert m, f"no <{tag}> block"
        out[tag] = "'sha256-" + base64.b64encode(
            hashlib.sha256(m.group(1)).digest()).decode() + "'"
    return out


def test_page_served_with_checks_and_headers(node):
    """401 without credentials, 405 for a GET / that does not accept HTML
    (API.md 2.1 for non-browsers), 200 with the page and its security
    headers otherwise.  The CSP allows only the page's own blocks (by
    hash), connections to the same origin, nothing from elsewhere."""
    r = node.http(method="GET", path="/", headers=HTML, auth=None)
    assert (r.status, r.body) == (401, b"")
    assert node.http(method="GET", path="/").status == 405
    r = node.http(method="GET", path="/", headers=HTML)
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert b"<title>dexp2p node</title>" in r.body
    csp = dict(d.strip().split(" ", 1)
               for d in r.headers["content-security-policy"].split(";"))
    h = _blocks(r.body)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == h["script"]
    assert csp["style-src"] == h["style"]
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    # no external request: nothing in the page names another origin
    assert not re.search(rb"(src|href)=\"(https?:)?//", r.body)
    assert b"https://" not in r.body and b"http://" not in r.body


def test_other_sites_cannot_use_the_browsers_credentials(node):
    """Once a browser holds the credentials of the web view, a page of
    another site could make it POST to the node (a form, fetch no-cors).
    Browsers name the page's origin in an Origin header: a request whose
    Origin is not http://<Host> is refused with 403 (with or without
    credentials, whatever the path), same-origin ones and clients that send
    no Origin (dexp2p-cli, curl) are served."""
    stop = b'{"method":"stop","params":[]}'
    host = f"127.0.0.1:{node.rpcport}"
    for origin in ("http://evil.example", "null", f"https://{host}",
                   f"http://{host}.evil.example", "http://127.0.0.1"):
        for auth in ("cookie", None):
            r = node.http(body=stop, auth=auth,
                          headers={"Origin": origin, "Host": host})
            assert (r.status, r.body) == (403, b""), origin
        r = node.http(method="GET", path="/metrics",
                      headers={"Origin": origin, "Host": host})
        assert r.status == 403, origin
    body = b'{"method":"ping","params":[]}'
    r = node.http(body=body, headers={"Origin": f"http://{host}",
                                      "Host": host})
    assert r.status == 200 and r.json()["result"] is None
    r = node.http(body=body, headers={"Origin": f"HTTP://{host.upper()}",
                                      "Host": host})
    assert r.status == 200
    assert node.rpc("ping") is None     # no Origin: served
    assert node.running()


# ---------------------------------------------------------------- browser

def _browser(tmpdir):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("python3-selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("chromium or chromedriver is not installed "
                    "(Debian packages chromium, chromium-driver)")
    o = Options()
    o.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1400,1300",
              "--no-first-run", "--disable-extensions",
              f"--user-data-dir={os.path.join(tmpdir, 'chromium')}"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=o)


def _console_errors(drv):
    """SEVERE console entries, but the expected failure of the /events
    probe while the node does not serve /events (the page then polls)."""
    out = []
    for e in drv.get_log("browser"):
        if e.get("level") != "SEVERE":
            continue
        if e.get("source") == "network" and "/events" in e.get("message", ""):
            continue
        out.append(e)
    return out


@pytest.fixture
def line(net):
    return net(3, [(1, 0), (2, 1)], names=["a", "b", "c"])


@pytest.fixture
def browser(workdir):
    drv = _browser(workdir)
    yield drv
    drv.quit()


def _open(drv, node):
    user, pw = node.auth()
    drv.get(f"http://{user}:{pw}@127.0.0.1:{node.rpcport}/")
    # the first poll has filled the peer table
    wait_for(lambda: drv.execute_script(
        "return document.getElementById('h-last').textContent") != "…",
        what="page's first update")


def _rows(drv, table):
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] +"
        " ' tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent))",
        table)


def _hashes(drv):
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#packets tbody tr'))"
        ".map(r => r.dataset.hash)")


def _fill(drv, form, values):
    from selenium.webdriver.common.by import By
    f = drv.find_element(By.ID, form)
    for name, v in values.items():
        e = f.find_element(By.NAME, name)
        e.clear()
        e.send_keys(v)
    f.find_element(By.TAG_NAME, "button").click()


def test_browser_view_of_the_middle_node(line, browser, workdir):
    a, b, c = line
    drv = browser
    _open(drv, b)

    # both peers of the middle node, with the addresses getpeerinfo gives
    want = sorted(p["addr"] for p in b.peers())
    wait_for(lambda: sorted(r[1] for r in _rows(drv, "peers")) == want,
             what="both peers on the page")
    assert drv.execute_script(
        "return document.getElementById('h-peers').textContent") == "2"
    # polling while the node does not serve /events, else its stream
    assert drv.execute_script(
        "return document.getElementById('h-mode').textContent") in \
        ("polling 1 s", "events (push)")

    # a packet broadcast on another node shows within 2 s
    h = a.rpc("DEX_broadcast", "hello from a")["hash"]
    t0 = time.monotonic()
    wait_for(lambda: h in _hashes(drv), timeout=10, interval=0.02,
             what="packet of node a on the page")
    took = time.monotonic() - t0
    assert took < 2.0 * dexnet.TIMEOUT_SCALE, f"took {took:.2f} s"
    row = [r for r in _rows(drv, "packets") if "hello from a" in r]
    assert row and row[0][2] == "general"

    # hostile text: shown as text, no element made from it, no script run
    evil = '<img src=x onerror="window.__xss=1">'
    tag = "<svg onload=1>"     # 14 bytes: fits a tag
    h1 = c.rpc("DEX_broadcast", evil)["hash"]
    h2 = c.rpc("DEX_broadcast", evil + "2", "0", tag, "<b>x</b>")["hash"]
    wait_for(lambda: h1 in _hashes(drv), what="hostile payload shown")
    assert any(evil in r for r in _rows(drv, "packets"))
    _fill(drv, "filter", {"tagA": tag, "tagB": "<b>x</b>"})
    wait_for(lambda: _hashes(drv) == [h2], what="filtered by the tags")
    r = _rows(drv, "packets")[0]
    assert r[2] == tag and r[3] == "<b>x</b>" and r[4] == evil + "2"
    assert drv.execute_script(
        "return [window.__xss, document.querySelectorAll('img, svg').length,"
        " document.querySelectorAll("
        "'#packets tbody *:not(tr):not(td)').length]") == [None, 0, 0]

    # the order book of a pair
    a.rpc("DEX_broadcast", "ask", "0", "BTC", "KMD", "", "1", "100")
    a.rpc("DEX_broadcast", "bid", "0", "KMD", "BTC", "", "90", "1")
    _fill(drv, "book", {"base": "BTC", "rel": "KMD"})
    wait_for(lambda: [x[0] for x in _rows(drv, "asks")] == ["100.00000000"]
             and [x[0] for x in _rows(drv, "bids")] == ["90.00000000"],
             what="order book BTC/KMD")

    # the forms: a broadcast reaches node c, an inbox message node a
    _fill(drv, "bcast", {"hex": "typed in the page", "tagA": "webui"})
    wait_for(lambda: [p["payload"] for p in c.list_all("webui")] ==
             ["typed in the page"], what="form broadcast on node c")
    _fill(drv, "inbox", {"to": a.pubkey(), "msg": "secret note"})
    wait_for(lambda: [p.get("decrypted") for p in a.list_all("inbox")] ==
             ["secret note"], what="inbox message decrypted on node a")
    wait_for(lambda: "sent: id" in drv.execute_script(
        "return document.getElementById('inbox-msg').textContent"),
        what="the form shows the sent message")

    # the chart has drawn the rate line (its colour is in the canvas)
    wait_for(lambda: drv.execute_script("""
        const c = document.getElementById('chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4)
          if (d[i] === 0x28 && d[i+1] === 0x66 && d[i+2] === 0xc8) return true;
        return false;"""), what="rate line on the chart")

    shot = os.path.join(dexnet.BUILD, "webui.png")
    drv.save_screenshot(shot)
    drv.save_screenshot(os.path.join(workdir, "webui.png"))
    assert os.path.getsize(shot) > 10000
    errs = _console_errors(drv)
    assert not errs, f"console errors: {errs}"
