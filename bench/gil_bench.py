"""WSGIPerInterpreterGIL, measured (issue 17): a CPU-bound app (a
pure-Python loop of about 5 ms) in two application groups of one daemon
process with 4 threads; 4 clients, two per group, for --duration seconds,
with WSGIPerInterpreterGIL Off and On, in --rounds interleaved rounds.
Prints the median requests/s of each (min-max) and the ratio of the
medians On/Off (the issue asks >= 1.7 on 2 cores).

With --reference-venv (a venv holding a build from before the feature,
e.g. of commit 69edcd0^): the hello cell, one client in a loop against
an application group of the same daemon with WSGIPerInterpreterGIL Off,
ours against that build in interleaved rounds: the median latency of
each and their ratio (the issue asks 1.00 +- 0.03).

    python3 bench/gil_bench.py --venv build/venv-3.12 [--duration 10]
        [--rounds 3] [--reference-venv /tmp/venv-before]

Uses the test harness (tests/harness.py) to run Apache; needs the venv
built by `make build PYTHONS=<python3.12>` and `requests`."""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from harness import ApacheServer, write_file  # noqa: E402

APP = r'''
def application(environ, start_response):
    if environ["PATH_INFO"] == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello world!"]
    n = 0
    for i in range(int(environ["QUERY_STRING"] or "0")):
        n += i
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(n).encode()]
'''

CONF = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIPerInterpreterGIL %(gil)s
WSGIDaemonProcess bench processes=1 threads=4
WSGIScriptAlias /a "%(dir)s/app.wsgi" process-group=bench application-group=a
WSGIScriptAlias /b "%(dir)s/app.wsgi" process-group=bench application-group=b
<Directory "%(dir)s">
    Require all granted
</Directory>
"""


def loops_for_5ms():
    """The loop count that takes about 5 ms in this Python, here."""
    n = 100000
    t = time.perf_counter()
    s = 0
    for i in range(n):
        s += i
    took = time.perf_counter() - t
    return max(1000, int(n * 0.005 / took))


def _server(venv, gil, scratch):
    conf = CONF % {"gil": gil, "dir": scratch}
    srv = ApacheServer(venv, "event", conf)
    srv.start(ready_path="/a?1")
    for path in ("/a?1", "/b?1", "/a/hello"):
        srv.get(path)
    return srv


class Client:
    """One keep-alive connection of raw HTTP/1.1: a client that costs
    little CPU next to the server it measures, on the same cores."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def get(self, path):
        """The body of a 200 response with Content-Length, or None."""
        import socket
        if self.sock is None:   # Apache ends a keep-alive after N requests
            self.sock = socket.create_connection(("127.0.0.1", self.port),
                                                 timeout=60)
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                           % path).encode())
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = int(head.lower().split(b"content-length:")[1]
                             .split(b"\r\n")[0])
                if len(body) >= length:
                    ok = head.startswith(b"HTTP/1.1 200")
                    return body[:length] if ok else None
            chunk = self.sock.recv(65536)
            if not chunk:
                self.sock.close()
                self.sock = None
                return None
            data += chunk


def cpu_round(venv, gil, loops, duration, scratch):
    """Requests/s of 4 clients of the CPU-bound app, two per group."""
    srv = _server(venv, gil, scratch)
    try:
        counts = [0] * 4
        stop = time.monotonic() + duration

        def client(k):
            c = Client(srv.port)
            path = "/%s?%d" % ("ab"[k % 2], loops)
            while time.monotonic() < stop:
                if c.get(path) is not None:
                    counts[k] += 1

        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(4)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / (time.monotonic() - t0)
    finally:
        srv.stop()


def hello_round(venv, duration, scratch):
    """Median ms of one client's hello requests in a loop."""
    srv = _server(venv, "Off", scratch)
    try:
        c = Client(srv.port)
        times = []
        stop = time.monotonic() + duration
        while time.monotonic() < stop:
            t = time.perf_counter()
            if c.get("/a/hello") == b"Hello world!":
                times.append(time.perf_counter() - t)
        times.sort()
        return 1000 * times[len(times) // 2]
    finally:
        srv.stop()


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (
        xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", required=True)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reference-venv")
    args = ap.parse_args()
    venv = os.path.abspath(args.venv)
    scratch = "/tmp/mod_wsgi-gil-bench"
    os.makedirs(scratch, exist_ok=True)
    os.chmod(scratch, 0o755)
    write_file(os.path.join(scratch, "app.wsgi"), APP)
    load = os.getloadavg()
    loops = loops_for_5ms()
    off, on, ours, ref = [], [], [], []
    for _ in range(args.rounds):
        off.append(cpu_round(venv, "Off", loops, args.duration, scratch))
        on.append(cpu_round(venv, "On", loops, args.duration, scratch))
        if args.reference_venv:
            ours.append(hello_round(venv, args.duration, scratch))
            ref.append(hello_round(os.path.abspath(args.reference_venv),
                                   args.duration, scratch))
    print("load before: %.2f %.2f %.2f" % load)
    print("loops per request %d (~5 ms here), %s cores, %d rounds of %g s"
          % (loops, os.cpu_count(), args.rounds, args.duration))
    for name, xs in (("Off", off), ("On", on)):
        print("WSGIPerInterpreterGIL %-3s: %.1f req/s (%.1f-%.1f)"
              % (name, median(xs), min(xs), max(xs)))
    print("ratio On/Off: %.2f" % (median(on) / median(off)))
    if ref:
        print("hello, one client, Off: ours %.3f ms (%.3f-%.3f), before the "
              "feature %.3f ms (%.3f-%.3f); ratio %.3f"
              % (median(ours), min(ours), max(ours), median(ref), min(ref),
                 max(ref), median(ours) / median(ref)))


if __name__ == "__main__":
    main()
