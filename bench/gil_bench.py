"""WSGIPerInterpreterGIL, measured (issue 17): a CPU-bound app (a
pure-Python loop of about 5 ms) in two application groups of one daemon
process with 4 threads; 4 clients, two per group, for --duration seconds,
with WSGIPerInterpreterGIL Off then On. Prints requests/s of each and the
ratio On/Off (the issue asks >= 1.7 on 2 cores).

    python3 bench/gil_bench.py --venv build/venv-3.12 [--duration 10]

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


def run(venv, gil, loops, duration, scratch):
    import requests
    conf = CONF % {"gil": gil, "dir": scratch}
    srv = ApacheServer(venv, "event", conf)
    srv.start(ready_path="/a?1")
    try:
        for path in ("/a?1", "/b?1"):
            srv.get(path)
        counts = [0] * 4
        stop = time.monotonic() + duration

        def client(k):
            s = requests.Session()
            path = "/%s?%d" % ("ab"[k % 2], loops)
            while time.monotonic() < stop:
                r = s.get(srv.url(path), timeout=60)
                if r.status_code == 200:
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", required=True)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    venv = os.path.abspath(args.venv)
    scratch = "/tmp/mod_wsgi-gil-bench"
    os.makedirs(scratch, exist_ok=True)
    os.chmod(scratch, 0o755)
    write_file(os.path.join(scratch, "app.wsgi"), APP)
    loops = loops_for_5ms()
    off = run(venv, "Off", loops, args.duration, scratch)
    on = run(venv, "On", loops, args.duration, scratch)
    print("loops per request %d (~5 ms here), %s cores" % (loops,
                                                           os.cpu_count()))
    print("WSGIPerInterpreterGIL Off: %.1f req/s" % off)
    print("WSGIPerInterpreterGIL On:  %.1f req/s" % on)
    print("ratio On/Off: %.2f" % (on / off if off else float("nan")))


if __name__ == "__main__":
    main()
