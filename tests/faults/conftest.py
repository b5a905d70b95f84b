"""pytest fixtures for the fault tests (real daemons in network namespaces).

fabric(n, edges, ...)   a Fabric (netns.py) of n nodes, not started; every
                        daemon, namespace and veth it made is removed at the
                        end of the test, passed or failed

The whole directory is skipped (with the reason) when not run as root or
when network namespaces, nftables or tc cannot be used.  At the start of a
session the namespaces left by earlier runs that crashed are removed.
"""

import os
import shutil
import tempfile

import pytest

import netns


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "quick: short scenario also run by make test")


_why_not = []


def pytest_sessionstart(session):
    why = netns.unavailable()
    _why_not.append(why)
    if why is None:
        gone = netns.cleanup_stale()
        if gone:
            print(f"faults: removed {len(gone)} namespaces left by earlier "
                  f"runs: {' '.join(gone)}")


def pytest_collection_modifyitems(config, items):
    why = _why_not[0] if _why_not else netns.unavailable()
    if why is not None:
        mark = pytest.mark.skip(reason=why)
        for it in items:
            it.add_marker(mark)
    elif not os.access(netns.dexnet.DAEMON, os.X_OK):
        raise pytest.UsageError(
            f"{netns.dexnet.DAEMON} not found: build it (make) or set "
            "DEXP2P_BUILD")


def pytest_terminal_summary(terminalreporter):
    if netns.FIGURES:
        terminalreporter.section("fault scenario figures")
        for ln in netns.FIGURES:
            terminalreporter.write_line(ln)


@pytest.fixture
def workdir(request):
    d = tempfile.mkdtemp(prefix=f"dexp2p-faults-{request.node.name[:40]}-")
    yield d
    if os.environ.get("DEXP2P_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fabric(workdir):
    made = []

    def factory(n, edges, txpowbits=8, args=()):
        f = netns.Fabric(workdir, n, edges, txpowbits=txpowbits, args=args)
        made.append(f)
        return f

    try:
        yield factory
    finally:
        errors = []
        for f in made:
            try:
                errors += f.stop_all()
            finally:
                f.destroy()
        if errors:
            pytest.fail("clean shutdown failed: " + "; ".join(errors),
                        pytrace=False)
