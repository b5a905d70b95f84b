"""benchrpc.py - helpers shared by the benchmark scripts' Python parts
(netbench.sh, catchup-bench.sh): a keep-alive JSON-RPC client and a
process CPU-time reader.  Standard library only."""

import base64
import http.client
import json
import os


class Rpc:
    """JSON-RPC 1.0 over one keep-alive connection to host:port
    (127.0.0.1 unless given) with HTTP Basic user:password; one reconnect
    on a broken connection."""

    def __init__(self, port, user, password, timeout=10, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.timeout = timeout
        tok = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.auth = "Basic " + tok
        self.c = None

    def call(self, method, *params):
        body = json.dumps({"jsonrpc": "1.0", "id": "bench", "method": method,
                           "params": [str(p) for p in params]})
        for attempt in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout)
                self.c.request("POST", "/", body,
                               {"Authorization": self.auth,
                                "Content-Type": "application/json"})
                r = self.c.getresponse()
                data = r.read()
                if r.status != 200:
                    raise RuntimeError("%s: HTTP %d: %s"
                                       % (method, r.status, data[:200]))
                j = json.loads(data)
                if j.get("error"):
                    raise RuntimeError("%s: %s" % (method, j["error"]))
                return j["result"]
            except (OSError, http.client.HTTPException):
                self.c = None
                if attempt == 1:
                    raise
        return None


def cpu_s(pid):
    """User + system CPU seconds of a process (0.0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
