"""pytest fixtures for the integration tests.

make_node(name, txpowbits=12, args=[...])  a Node, not started
net(n, edges, ...)                          a started Network
node                                        one started node (txpowbits 12)
pair                                        two started, connected nodes

Every node made through these fixtures is stopped at the end of the test,
passed or failed: first with RPC stop (a failing clean stop is reported as
a test error), then SIGKILL for anything still alive.
"""

import os
import shutil
import tempfile

import pytest

import dexnet


def pytest_configure(config):
    if not os.access(dexnet.DAEMON, os.X_OK):
        raise pytest.UsageError(
            f"{dexnet.DAEMON} not found: build it (make) or set DEXP2P_BUILD")


@pytest.fixture
def workdir(request):
    d = tempfile.mkdtemp(prefix=f"dexp2p-{request.node.name[:40]}-")
    yield d
    if os.environ.get("DEXP2P_KEEP") != "1":   # keep logs for debugging
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_node(workdir):
    made = []

    def factory(name, txpowbits=12, args=(), datadir=None):
        n = dexnet.Node(name, workdir, txpowbits=txpowbits, args=args,
                        datadir=datadir)
        made.append(n)
        return n

    yield factory

    errors = []
    for n in made:
        try:
            if n.running():
                n.stop(check=True)
        except Exception as e:  # noqa: BLE001 - collected, reported below
            errors.append(f"{n.name}: {e}")
        finally:
            n.kill()
    if errors:
        pytest.fail("clean shutdown failed: " + "; ".join(errors),
                    pytrace=False)


@pytest.fixture
def net(make_node):
    """net(n, edges, txpowbits=12, args=(), connect=True) -> started
    Network (and, with connect, its topology fully connected)."""
    def factory(n, edges, txpowbits=12, args=(), connect=True, names=None):
        nw = dexnet.Network(make_node, n, edges, txpowbits=txpowbits,
                            args=args, names=names)
        nw.start()
        if connect:
            nw.wait_connected()
        return nw
    return factory


@pytest.fixture
def node(make_node):
    return make_node("solo", args=["-connect=127.0.0.1:1"]).start()


@pytest.fixture
def pair(net):
    """a - b (b dials a)."""
    return net(2, [(1, 0)], names=["a", "b"])
