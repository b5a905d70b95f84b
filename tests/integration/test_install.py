"""Install, man pages, shell completion, sample configuration, systemd unit,
lint (README "Install", docs/daemon.md "Install layout").

The man pages and the completion are the ones `make` wrote into
$DEXP2P_BUILD (make man completion; `make integration` builds them); they
are compared with what the programs say now: `dexp2pd -help`,
`dexp2p-cli -help` and a running daemon's `help`.  The option table of
src/node/config.c is read as text, so an option added there without its
line in contrib/dexp2p.conf, or a default changed in one place only, fails
here.
"""

import os
import re
import shutil
import subprocess

import pytest

import dexnet

REPO = dexnet.REPO
BUILD = dexnet.BUILD
CONFIG_C = os.path.join(REPO, "src", "node", "config.c")
SAMPLE = os.path.join(REPO, "contrib", "dexp2p.conf")
UNIT = os.path.join(REPO, "contrib", "systemd", "dexp2pd.service")
MAN_D = os.path.join(BUILD, "man", "dexp2pd.1")
MAN_CLI = os.path.join(BUILD, "man", "dexp2p-cli.1")
COMPLETION = os.path.join(BUILD, "completion", "dexp2p")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def run(argv, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def make(*args):
    """make in the repository against the build under test."""
    r = run(["make", "-s", "--no-print-directory", "-C", REPO,
             f"BUILD={BUILD}", *args], timeout=300)
    assert r.returncode == 0, f"make {' '.join(args)}:\n{r.stdout}{r.stderr}"
    return r


# ---- what the sources and programs say ----

def config_table():
    """[(name, kind, field, default-as-shown)] from config.c's opts[]."""
    src = open(CONFIG_C).read()
    table = src[src.index("static const struct opt opts[]"):]
    table = table[:table.index("};")]
    # Entries are { "name", KIND, O(field), min, max, "<arg>", "default", ...
    ent = re.findall(r'\{\s*"(\w+)",\s*(OPT_\w+),\s*O\((\w+)\),\s*[^,]+,'
                     r'\s*[^,]+,\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"', table)
    assert len(ent) >= 25, "config.c option table not recognised"
    return [(n, k, f, d.replace('\\"', '"')) for n, k, f, d in ent]


def help_options(prog):
    """{name: (whole line)} of the option lines of `prog -help`."""
    out = run([prog, "-help"]).stdout
    opts = {}
    for line in out.splitlines():
        m = re.match(r"^  -(\w+)", line)
        if m and not line.startswith("  -help"):
            opts[m.group(1)] = line.strip()
    return opts


def help_descriptions(prog):
    """{name: text after the option column} of `prog -help`."""
    return {n: re.sub(r"^\S+\s+", "", line)
            for n, line in help_options(prog).items()}


def man_text(page):
    assert os.path.exists(page), f"{page} missing: run `make man`"
    r = run(["man", "-l", page], env={**os.environ, "MANWIDTH": "2000",
                                      "MAN_KEEP_FORMATTING": "0"})
    assert r.returncode == 0, r.stderr
    # Drop overstrike/escapes if any, and normalise the hyphen forms.
    t = re.sub(r".\x08", "", r.stdout)
    return t.replace("\u2010", "-").replace("\u2212", "-")


def man_options(text):
    """Options as listed in a man page's option section: lines that start
    (after the indent) with -name."""
    return {m.group(1) for m in re.finditer(r"(?m)^\s+-(\w+)", text)
            if m.group(1) != "help"}


def norm(s):
    return " ".join(s.split())


def live_methods(node):
    text = node.rpc("help")
    return [ln.split()[0] for ln in text.splitlines()
            if ln and not ln.startswith("== ")], text


# ---- -help tells the truth ----

def test_daemon_help_lists_config_table_with_code_defaults():
    table = config_table()
    shown = help_options(dexnet.DAEMON)
    assert set(shown) == {n for n, *_ in table}
    src = open(CONFIG_C).read()
    body = src[src.index("static void defaults(struct config *c)"):]
    body = body[:body.index("\n}\n")]
    for name, kind, field, default in table:
        assert f"(default: {default})" in shown[name], name
        if kind in ("OPT_INT", "OPT_U32"):
            m = re.search(rf"c->{field} = (\d+);", body)
            assert m and m.group(1) == default, \
                f"-{name}: -help says {default}, defaults() sets " \
                f"{m.group(1) if m else 'nothing'}"
        elif kind == "OPT_MIB":
            m = re.search(rf"c->{field} = \(uint64_t\)(\d+) << 20;", body)
            assert m and m.group(1) == default, name
        elif kind == "OPT_BOOL":
            on = re.search(rf"c->{field} = true;", body) is not None
            assert default == ("1" if on else "0"), name


def test_daemon_help_defaults_are_what_it_runs_with(make_node):
    # The defaults getinfo shows, from a daemon started without them.
    n = make_node("defaults", args=["-connect=127.0.0.1:1"])
    n.txpowbits = None
    n.start()
    info = n.rpc("getinfo")
    shown = help_options(dexnet.DAEMON)
    for k in ("purgetime", "txpowbits"):
        assert f"(default: {info[k]})" in shown[k], k


# ---- man pages agree with -help and help ----

@pytest.mark.parametrize("prog,page", [(dexnet.DAEMON, MAN_D),
                                       (dexnet.CLI, MAN_CLI)])
def test_man_page_options_match_help(prog, page):
    text = man_text(page)
    helped = help_descriptions(prog)
    assert helped, f"{prog} -help lists no options"
    assert man_options(text) == set(helped), \
        f"man {os.path.basename(page)} and -help list different options"
    flat = norm(text)
    for name, desc in helped.items():
        assert norm(desc) in flat, f"-{name}: '{desc}' not in the man page"


def test_man_page_cli_lists_every_method_of_help(node):
    text = man_text(MAN_CLI)
    names, listing = live_methods(node)
    sect = text[text.index("RPC METHODS"):]
    sect = sect[:re.search(r"(?m)^[A-Z][A-Z ]+$", sect[12:]).start() + 12]
    flat = norm(sect)
    for line in listing.splitlines():
        if line and not line.startswith("== "):
            assert norm(line) in flat, f"usage line '{line}' not in man page"
    roff = open(MAN_CLI).read()
    roff = roff[roff.index('.SH "RPC METHODS"'):]
    roff = roff[:roff.find("\n.SH", 1) % (len(roff) + 1)]
    listed = re.findall(r"(?m)^\.TP\n\.B (\w+)", roff)
    assert sorted(listed) == sorted(names)
    # A description too, as `help <method>` gives it.
    desc = node.rpc("help", "getpeerinfo").split("\n\n", 1)[1]
    assert norm(desc) in flat


def test_man_page_has_the_hand_written_sections():
    t = man_text(MAN_D)
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "SEE ALSO",
              "SIGNALS"):
        assert re.search(rf"(?m)^{s}$", t), s
    assert "/var/lib/dexp2p-files" in t


# ---- bash completion ----

def complete(line, cwd=None):
    """Completions bash-completion gives for the last word of line, as
    COMP_WORDS split at COMP_WORDBREAKS would hold them."""
    if not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion not installed (scripts/deps.sh)")
    assert os.path.exists(COMPLETION), f"{COMPLETION}: run `make completion`"
    words = []
    for w in line.split(" "):
        # bash splits "-name=value" into "-name" "=" "value".
        if "=" in w:
            a, b = w.split("=", 1)
            words += [a, "=", b] if b or w.endswith("=") else [a, "="]
            if b == "" and words[-1] == "=":
                words.append("")
        else:
            words.append(w)
    if words[-1] == "=":
        words.append("")
    cmd = words[0]
    fn = "_dexp2pd" if cmd == "dexp2pd" else "_dexp2p_cli"
    q = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = f"""
source {BASH_COMPLETION}
source {COMPLETION}
compopt() {{ :; }}
COMP_WORDS=({q})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE={subprocess.list2cmdline([line])}
COMP_POINT=${{#COMP_LINE}}
{fn} {cmd} "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd)
    assert r.returncode == 0, r.stderr
    return sorted(x for x in r.stdout.splitlines() if x)


def test_completion_cli_methods_are_the_daemons(node):
    names, _ = live_methods(node)
    assert complete("dexp2p-cli ") == sorted(names)
    assert complete("dexp2p-cli DEX_st") == \
        sorted(n for n in names if n.startswith("DEX_st"))
    # after options, and as the parameter of help
    assert complete("dexp2p-cli -rpcport=7771 getp") == ["getpeerinfo"]
    assert complete("dexp2p-cli help DEX_li") == ["DEX_list"]
    assert complete("dexp2p-cli nosuchprefix") == []


def test_completion_cli_options_and_choices():
    opts = {"-" + n + "=" for n in help_options(dexnet.CLI)}
    assert set(complete("dexp2p-cli -")) == opts | {"-help"}
    assert complete("dexp2p-cli -rpcc") == ["-rpcconnect="]
    assert complete("dexp2p-cli addnode 127.0.0.1 ") == \
        ["add", "onetry", "remove"]
    assert complete("dexp2p-cli addnode 127.0.0.1 o") == ["onetry"]
    # the first parameter of addnode is a free host: nothing offered
    assert complete("dexp2p-cli addnode ") == []
    # parameters after the method are never options
    assert complete("dexp2p-cli DEX_get -") == []


def test_completion_daemon_options(tmp_path):
    helped = help_options(dexnet.DAEMON)
    got = set(complete("dexp2pd -"))
    for name, line in helped.items():
        takes = re.match(r"^-\w+=", line) is not None
        assert ("-" + name + ("=" if takes else "")) in got, name
    assert complete("dexp2pd -rpcserv") == ["-rpcservertimeout="]
    assert complete("dexp2pd -nolis") == ["-nolisten"]
    assert complete("dexp2pd -debug=ne") == ["net"]
    (tmp_path / "dir1").mkdir()
    (tmp_path / "file1").write_text("x")
    assert complete("dexp2pd -datadir=", cwd=tmp_path) == ["dir1"]
    assert "file1" in complete("dexp2pd -conf=", cwd=tmp_path)
    assert complete("dexp2pd -port=7") == []


def test_completion_installed_loads_on_demand(tmp_path):
    # bash-completion loads completions/<command> the first time the
    # command is completed; both names must find the file make install put.
    if not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion not installed (scripts/deps.sh)")
    prefix = tmp_path / "p"
    make("install", f"PREFIX={prefix}")
    script = f"""
export XDG_DATA_DIRS={prefix}/share
source {BASH_COMPLETION}
for c in dexp2pd dexp2p-cli; do
    __load_completion "$c" && complete -p "$c"
done
"""
    r = run(["bash", "--norc", "--noprofile", "-c", script])
    assert r.stdout.splitlines() == ["complete -F _dexp2pd dexp2pd",
                                     "complete -F _dexp2p_cli dexp2p-cli"], \
        r.stdout + r.stderr
    make("uninstall", f"PREFIX={prefix}")


# ---- sample configuration ----

def test_sample_conf_has_every_option():
    text = open(SAMPLE).read()
    for name, kind, *_ in config_table():
        if kind == "OPT_PATH":   # -datadir, -conf: command line only
            assert re.search(rf"\b{name}\b", text), name
            assert not re.search(rf"(?m)^#{name}=", text), name
        else:
            assert re.search(rf"(?m)^#{name}=", text), \
                f"{name} has no '#{name}=' line in contrib/dexp2p.conf"
    assert not re.search(r"(?m)^[^#\s]", text), "an uncommented setting"


def test_sample_conf_uncommented_is_accepted(tmp_path):
    # Every #name=value line made live: the daemon reads the whole file
    # before the command line, so an unknown trailing option shows the file
    # parsed cleanly (nothing is started).
    live = re.sub(r"(?m)^#(\w+=)", r"\1", open(SAMPLE).read())
    conf = tmp_path / "live.conf"
    conf.write_text(live)
    r = run([dexnet.DAEMON, f"-datadir={tmp_path}/d", f"-conf={conf}",
             "-zzcanary"])
    assert r.returncode == 1
    assert "unknown option -zzcanary (command line)" in r.stderr, r.stderr
    # ...and a broken line would have been caught.
    conf.write_text(live + "maxmem=0\n")
    r = run([dexnet.DAEMON, f"-datadir={tmp_path}/d", f"-conf={conf}",
             "-zzcanary"])
    assert "maxmem" in r.stderr and "zzcanary" not in r.stderr


# ---- install / uninstall ----

INSTALLED = ["bin/dexp2pd", "bin/dexp2p-cli", "share/man/man1/dexp2pd.1",
             "share/man/man1/dexp2p-cli.1",
             "share/bash-completion/completions/dexp2pd",
             "share/bash-completion/completions/dexp2p-cli",
             "lib/systemd/system/dexp2pd.service",
             "share/doc/dexp2p/examples/dexp2p.conf"]


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_install_uninstall_destdir(tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    assert files_under(dest) == sorted("usr/local/" + f for f in INSTALLED)
    root = dest / "usr/local"
    assert os.access(root / "bin/dexp2pd", os.X_OK)
    r = run([str(root / "bin/dexp2pd"), "-help"])
    assert r.returncode == 0 and r.stdout.startswith("Usage: dexp2pd")
    unit = (root / "lib/systemd/system/dexp2pd.service").read_text()
    assert "ExecStart=/usr/local/bin/dexp2pd " in unit
    assert "-conf=/usr/local/etc/dexp2p/dexp2p.conf" in unit
    assert (root / "share/man/man1/dexp2pd.1").read_bytes() == \
        open(MAN_D, "rb").read()
    # A file of someone else in a shared directory, and in ours.
    (root / "share/man/man1/other.1").write_text("x")
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local")
    assert files_under(dest) == ["usr/local/share/man/man1/other.1"]
    assert not (root / "share/doc/dexp2p").exists()
    # uninstall of nothing is fine
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local")


def test_install_prefix_usr_puts_conf_in_etc(tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    unit = (dest / "usr/lib/systemd/system/dexp2pd.service").read_text()
    assert "ExecStart=/usr/bin/dexp2pd " in unit
    assert "-conf=/etc/dexp2p/dexp2p.conf" in unit
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert files_under(dest) == []


# ---- systemd unit ----

def unit_settings():
    s = {}
    text = open(UNIT).read().replace("\\\n", " ")
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            s.setdefault(k.strip(), []).append(v.strip())
    return s


def test_unit_sandbox_settings():
    s = unit_settings()
    for k, v in [("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                 ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                 ("ProtectHome", "yes"), ("PrivateDevices", "yes"),
                 ("MemoryDenyWriteExecute", "yes"),
                 ("CapabilityBoundingSet", "")]:
        assert s.get(k) == [v], k
    state = s["StateDirectory"][0].split()
    assert "dexp2p" in state
    exec_start = s["ExecStart"][0].split()
    datadir = next(a.split("=", 1)[1] for a in exec_start
                   if a.startswith("-datadir="))
    filesdir = next(a.split("=", 1)[1] for a in exec_start
                    if a.startswith("-filesdir="))
    # DEX_publish looks in the working directory first (API.md 4.9): it
    # must not be the data directory with the identity key in it.
    wd = s["WorkingDirectory"][0]
    assert wd.rstrip("/") != datadir.rstrip("/")
    assert wd == filesdir
    assert wd in ["/var/lib/" + d for d in state]
    # No state directory inside another: with DynamicUser= that fails to
    # start on some systemd versions (systemd issue 24783).
    for a in state:
        for b in state:
            assert not b.startswith(a + "/"), (a, b)
    assert "-nodaemon" in exec_start and "-printtoconsole" in exec_start
    assert s.get("UnsetEnvironment") == ["HOME"]


def test_unit_systemd_analyze(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    prefix = tmp_path / "p"
    make("install", f"PREFIX={prefix}")
    unit = prefix / "lib/systemd/system/dexp2pd.service"
    # verify: the ExecStart binary exists, man:dexp2pd(1) resolves, no
    # unknown or misspelt setting (reported on stderr with status 0).
    env = {**os.environ, "MANPATH": str(prefix / "share/man")}
    r = run(["systemd-analyze", "verify", str(unit)], cwd=tmp_path, env=env)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    bad = tmp_path / "bad" / "dexp2pd.service"
    bad.parent.mkdir()
    bad.write_text(unit.read_text().replace("ProtectHome=yes",
                                            "ProtectHome=yes\nProtectHom=yes"))
    r = run(["systemd-analyze", "verify", str(bad)], cwd=tmp_path, env=env)
    assert "ProtectHom" in r.stderr     # the check above can fail
    r = run(["systemd-analyze", "security", "--offline=yes", str(unit)],
            cwd=tmp_path, env=env)
    m = re.search(r"Overall exposure level for dexp2pd.service: ([\d.]+)",
                  r.stdout)
    if not m:
        pytest.skip("systemd-analyze security --offline unsupported")
    assert float(m.group(1)) <= 2.0, r.stdout
    make("uninstall", f"PREFIX={prefix}")


# ---- lint ----

def test_make_lint_and_it_can_fail(tmp_path):
    for tool in ("shellcheck", "clang-format"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (scripts/deps.sh)")
    make("lint")
    bad = tmp_path / "bad.c"
    bad.write_text("int f(void) { return 1; }\n")
    r = run(["clang-format", "--dry-run", "-Werror",
             f"--style=file:{REPO}/.clang-format", str(bad)])
    assert r.returncode != 0
    sh = tmp_path / "bad.sh"
    sh.write_text("#!/bin/sh\ncd $1\nrm -rf $1/*\n")
    r = run(["shellcheck", "-S", "warning", str(sh)])
    assert r.returncode != 0
