"""Helpers for the file method tests (test_files.py, test_files_fetch.py):
nodes with their own -filesdir, the line topology, packets crafted for
forgery tests, and the file result object's key order (API.md 4.9)."""

import hashlib
import os
import struct
import threading
import time

import dexnet
from dexnet import RawPeer, W_PACKET, frame, mine, packet_bytes, packet_hash

RESULT_KEYS = ["fname", "id", "senderpub", "filesize", "fragments",
               "numlocators", "filehash", "checkhash", "result"]


def files_node(make_node, workdir, name, txpowbits=0, connect=(), extra=()):
    """A node (not started) with -filesdir=<workdir>/<name>-files, dialing
    exactly `connect` (Nodes)."""
    fd = os.path.join(workdir, f"{name}-files")
    os.makedirs(fd, exist_ok=True)
    args = [f"-filesdir={fd}"]
    args += [f"-connect={c.addr}" for c in connect] or ["-connect=127.0.0.1:1"]
    n = make_node(name, txpowbits=txpowbits, args=args + list(extra))
    n.filesdir = fd
    return n


def start_all(nodes, peers):
    """Start nodes; wait until node i has peers[i] peers."""
    for n in nodes:
        n.spawn()
    for n in nodes:
        n.wait_ready()
    dexnet.wait_for(lambda: all(len(n.peers()) == p
                                for n, p in zip(nodes, peers)),
                    30, what="topology connected")
    return nodes


def line(make_node, workdir, count=3, txpowbits=0):
    """n0 - n1 - ... (node i dials node i-1)."""
    nodes = []
    for i in range(count):
        nodes.append(files_node(make_node, workdir, f"n{i}", txpowbits,
                                connect=[nodes[-1]] if nodes else ()))
    peers = [1 if i in (0, count - 1) else 2 for i in range(count)]
    return start_all(nodes, peers)


def write_file(node, name, data):
    p = os.path.join(node.filesdir, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def output_path(node, name, pub):
    return os.path.join(node.filesdir, f"{name}.{pub}")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def amount(sats):
    """Amount text for an integer number of satoshis (raw integer)."""
    return f"{sats // 10**8}.{sats % 10**8:08d}"


def sats(text):
    whole, frac = text.split(".")
    return int(whole) * 10**8 + int(frac)


def locators_hex(pkts, offset0=0):
    """Locators plaintext (hex) naming packet objects in order."""
    b = struct.pack("<Q", offset0)
    for p in pkts:
        b += struct.pack("<Q", (p["timestamp"] << 32) | p["id"])
    return b.hex()


def raw_of(obj, pubkey=None, t=None, txpowbits=0):
    """Rebuild a packet from its packet object, optionally with another
    pubkey field or timestamp (which breaks its signature), and mine it."""
    payload = (bytes.fromhex(obj["payload"]) if obj["hex"]
               else obj["payload"].encode() + b"\x00")
    pk = bytes.fromhex(pubkey if pubkey is not None else obj["pubkey"])
    pkt = packet_bytes(obj["timestamp"] if t is None else t, payload,
                       tag_a=obj["tagA"].encode(), tag_b=obj["tagB"].encode(),
                       amount_a=sats(obj["amountA"]),
                       amount_b=sats(obj["amountB"]), pubkey=pk)
    return mine(pkt, txpowbits)


def inject(node, pkt, txpowbits=0):
    """Hand a raw packet to node as a peer; wait until it holds it."""
    peer = RawPeer(node.port)
    try:
        peer.handshake(txpowbits=txpowbits)
        peer.send(frame(W_PACKET, pkt))
        return node.wait_packet(packet_hash(pkt).hex())
    finally:
        peer.close()


def next_second():
    """Wait until the wall clock's second changes (packets made after this
    have a greater timestamp than those made before)."""
    t = int(time.time())
    dexnet.wait_for(lambda: int(time.time()) > t, 3, interval=0.02,
                    what="next second")


class Call(threading.Thread):
    """node.rpc(method, *params) on a thread; .result / .error, .t_end."""

    def __init__(self, node, method, *params):
        super().__init__(daemon=True)
        self.node, self.method, self.params = node, method, params
        self.result = self.error = None
        self.t_end = None
        self.start()

    def run(self):
        try:
            self.result = self.node.rpc(self.method, *self.params)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        self.t_end = time.monotonic()

    def get(self, timeout=120):
        self.join(timeout * dexnet.TIMEOUT_SCALE)
        assert not self.is_alive(), f"{self.method} did not answer"
        if self.error:
            raise self.error
        return self.result
