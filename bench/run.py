#!/usr/bin/env python3
"""Speed and memory of our mod_wsgi against the reference: Apache serving a
static file (the ceiling), Debian's mod_wsgi 4.9 and upstream mod_wsgi 6.1
(embedded and daemon), gunicorn (sync and gthread), and Apache as a reverse
proxy to gunicorn and to uWSGI, all with the same process x thread count.

    python bench/run.py                 every workload x concurrency x connection
    python bench/run.py --quick         hello, 1 MiB file, 1 MiB POST; c=16; keep-alive
    python bench/run.py --smoke         every contender answers 200 (a few seconds)
    python bench/run.py --workloads hello,post --concurrency 16 --rounds 5 ...

Every cell (workload, concurrency, connection mode) is measured in rounds
interleaved across the contenders (A B C, B C A, C A B, ...); the report
quotes medians with the min-max spread.  Results go to bench/results/ as
JSON plus bench/results/latest.md.  See bench/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import servers  # noqa: E402

CACHE = os.path.join(HERE, ".cache")
RESULTS = os.path.join(HERE, "results")
WRK_LUA = os.path.join(HERE, "wrk.lua")
APP = os.path.join(HERE, "app", "benchapp.py")

SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGE = "libapache2-mod-wsgi-py3"
GUNICORN = "gunicorn==27.0.1"
UPSTREAM = "mod-wsgi==6.1.1"
PYUWSGI = "pyuwsgi==2.0.30.post1"

MIB = 1 << 20

# name -> (method, request body bytes, response body bytes, description)
WORKLOADS = {
    "hello": ("GET", 0, 12, "12 B body"),
    "64k": ("GET", 0, 65536, "64 KiB body"),
    "file": ("GET", 0, MIB, "1 MiB via wsgi.file_wrapper"),
    "post": ("POST", MIB, MIB, "1 MiB POST echoed"),
    "sleep": ("GET", 0, 12, "50 ms sleep, 12 B body"),
    "blocks": ("GET", 0, 100000, "10,000 blocks of 10 B from a generator"),
    "slowclient": ("GET", 0, 12, "hello alongside 64 slow clients each "
                   "POSTing 64 KiB in 1 KiB pieces 10 ms apart"),
}
# slowclient: the slow POSTs go to the "post" path (echo; static: a file).
SLOW_CLIENTS, SLOW_BODY, SLOW_PIECE, SLOW_GAP = 64, 65536, 1024, 0.010
CONTENDERS = ["static", "ours-embedded", "ours-daemon", "debian-embedded",
              "debian-daemon", "gunicorn-sync", "gunicorn-gthread",
              "upstream-embedded", "upstream-daemon", "proxy-gunicorn",
              "proxy-uwsgi", "ours-embedded-metrics", "ours-daemon-metrics"]
# ours-*-metrics: ours with every figure on (issue 13): WSGIServerMetrics
# On, mod_wsgi.start_recording_metrics() in the script, a wsgi-metrics
# page configured (not scraped while wrk runs).
# The contender each one is compared with in the "x Debian" column.
DEBIAN_PEER = {"ours-embedded": "debian-embedded", "ours-daemon": "debian-daemon",
               "debian-embedded": "debian-embedded", "debian-daemon": "debian-daemon"}
CONNECTIONS = ["keepalive", "close"]

RUN_OVERHEAD = 0.35     # seconds around each wrk run, for the estimate


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def csv(text, allowed, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad:
        raise SystemExit("unknown %s: %s (choose from %s)" % (
            what, ", ".join(bad), ", ".join(allowed)))
    return items


# ----------------------------------------------------------- preparation

def our_venv(arg):
    if arg:
        return os.path.abspath(arg)
    out = subprocess.run([SYSTEM_PYTHON, "-c",
                          "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=60, check=True)
    return os.path.join(TOP, "build", "venv-" + out.stdout.strip())


def our_module(venv):
    express = os.path.join(venv, "bin", "mod_wsgi-express")
    if not os.access(express, os.X_OK):
        raise RuntimeError("%s has no mod_wsgi-express: build it first "
                           "(make build PYTHONS=%s)" % (venv, SYSTEM_PYTHON))
    out = subprocess.run([express, "module-location"], capture_output=True,
                         text=True, timeout=60, cwd="/")
    path = out.stdout.strip()
    if out.returncode != 0 or not os.path.isfile(path):
        raise RuntimeError("no built module in %s: %s" % (venv, out.stderr.strip()))
    return path


def debian_module(fetch):
    """Debian's mod_wsgi.so, unpacked (never installed) under .cache."""
    root = os.path.join(CACHE, "debian-mod-wsgi")
    found = _find(root, "mod_wsgi.so")
    if found or not fetch:
        if not found:
            raise RuntimeError("Debian's module is not in %s (fetching disabled)" % root)
        return found
    os.makedirs(CACHE, exist_ok=True)
    debs = _debs()
    if not debs:
        cmd = ["apt-get", "download", DEBIAN_PACKAGE]
        out = subprocess.run(cmd, cwd=CACHE, capture_output=True, text=True,
                             timeout=300)
        if out.returncode != 0 and os.geteuid() == 0:
            log("apt-get download failed; running apt-get update once")
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True,
                           timeout=600)
            out = subprocess.run(cmd, cwd=CACHE, capture_output=True, text=True,
                                 timeout=300)
        debs = _debs()
        if not debs:
            raise RuntimeError("apt-get download %s failed: %s" % (
                DEBIAN_PACKAGE, (out.stderr or out.stdout).strip()[-500:]))
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", debs[-1], tmp], check=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    found = _find(root, "mod_wsgi.so")
    if not found:
        raise RuntimeError("%s holds no mod_wsgi.so" % debs[-1])
    return found


def _debs():
    if not os.path.isdir(CACHE):
        return []
    return sorted(os.path.join(CACHE, f) for f in os.listdir(CACHE)
                  if f.startswith(DEBIAN_PACKAGE + "_") and f.endswith(".deb"))


def _find(root, name):
    for dirpath, _dirs, files in os.walk(root):
        if name in files:
            return os.path.join(dirpath, name)
    return None


def debian_version():
    debs = _debs()
    if debs:
        m = re.match(re.escape(DEBIAN_PACKAGE) + r"_([^_]+)_", os.path.basename(debs[-1]))
        if m:
            return m.group(1)
    return "?"


def cached_venv(name, package, exe_name, fetch):
    """A venv of its own under bench/.cache, made from /usr/bin/python3,
    with package pip-installed; created on first use."""
    venv = os.path.join(CACHE, name)
    exe = os.path.join(venv, "bin", exe_name)
    if os.access(exe, os.X_OK):
        return venv
    if not fetch:
        raise RuntimeError("%s is not in %s (fetching disabled)" % (package, venv))
    log("creating %s from %s and installing %s" % (venv, SYSTEM_PYTHON, package))
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", venv], check=True, timeout=300)
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install",
                          "-q", "--disable-pip-version-check", package],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 or not os.access(exe, os.X_OK):
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError("pip install %s failed: %s" % (package, out.stderr[-500:]))
    return venv


def gunicorn_venv(fetch):
    return cached_venv("venv-gunicorn", GUNICORN, "gunicorn", fetch)


def uwsgi_venv(fetch):
    return cached_venv("venv-uwsgi", PYUWSGI, "uwsgi", fetch)


def upstream_module(fetch):
    """(module .so, venv) of upstream mod_wsgi from PyPI, built by pip with
    apxs against this Apache and /usr/bin/python3."""
    venv = cached_venv("venv-upstream", UPSTREAM, "mod_wsgi-express", fetch)
    out = subprocess.run([os.path.join(venv, "bin", "mod_wsgi-express"),
                          "module-location"], capture_output=True, text=True,
                         timeout=60)
    so = out.stdout.strip()
    if out.returncode != 0 or not os.path.exists(so):
        raise RuntimeError("mod_wsgi-express module-location failed in %s" % venv)
    return so, venv


def make_data(base):
    """htdocs/ with the static files and app/ with the WSGI script, readable
    by the servers' unprivileged workers."""
    htdocs = os.path.join(base, "htdocs")
    appdir = os.path.join(base, "app")
    os.makedirs(htdocs)
    os.makedirs(os.path.join(appdir, "data"))
    blob = bytes(range(256)) * (MIB // 256)
    files = {os.path.join(htdocs, "hello.txt"): b"Hello world!",
             os.path.join(htdocs, "64k.bin"): b"x" * 65536,
             os.path.join(htdocs, "1m.bin"): blob,
             os.path.join(htdocs, "blocks.bin"): b"0123456789" * 10000,
             os.path.join(appdir, "data", "1m.bin"): blob}
    for path, data in files.items():
        with open(path, "wb") as f:
            f.write(data)
    script = os.path.join(appdir, "benchapp.py")
    shutil.copyfile(APP, script)
    # ours-*-metrics: the same application, recording.
    with open(os.path.join(appdir, "metrics.wsgi"), "w") as f:
        f.write("import os, sys\n"
                "import mod_wsgi\n"
                "sys.path.insert(0, os.path.dirname(__file__))\n"
                "mod_wsgi.start_recording_metrics()\n"
                "from benchapp import application\n")
    for dirpath, dirs, fs in os.walk(base):
        os.chmod(dirpath, 0o755)
        for f in fs:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return {"htdocs": htdocs, "script": script}


def make_server(name, base, settings, data, mods):
    root = os.path.join(base, name)
    os.makedirs(root)
    os.chmod(root, 0o755)
    if name == "static":
        return servers.Apache(name, root, settings, data, "static")
    if name.startswith("ours-"):
        mode = name.split("-")[1]
        return servers.Apache(name, root, settings, data, mode,
                              module=mods["ours"], python_home=mods["ours_home"],
                              metrics=name.endswith("-metrics"))
    if name.startswith("debian-"):
        return servers.Apache(name, root, settings, data, name[7:],
                              module=mods["debian"])
    if name.startswith("upstream-"):
        so, home = mods["upstream"]
        return servers.Apache(name, root, settings, data, name[9:],
                              module=so, python_home=home)
    if name == "proxy-gunicorn":
        return servers.Proxy(name, root, settings, data, servers.Backend(
            "gunicorn", root, settings, data, mods["gunicorn"]))
    if name == "proxy-uwsgi":
        return servers.Proxy(name, root, settings, data, servers.Backend(
            "uwsgi", root, settings, data, mods["uwsgi"]))
    if name.startswith("gunicorn-"):
        return servers.Gunicorn(name, root, settings, data, name[9:],
                                mods["gunicorn"])
    raise ValueError(name)


def prepare(names, venv, fetch, strict):
    """Finds or fetches what each contender needs.  Returns (mods, skipped):
    with strict, a missing piece is an error instead of a skip."""
    mods, skipped = {}, {}
    wanted = set(names)

    def need(key, contenders, fn):
        if not wanted & set(contenders):
            return
        try:
            mods[key] = fn()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            if strict:
                raise
            for c in contenders:
                if c in wanted:
                    skipped[c] = str(e).splitlines()[0]

    need("ours", ["ours-embedded", "ours-daemon", "ours-embedded-metrics",
                  "ours-daemon-metrics"], lambda: our_module(venv))
    mods["ours_home"] = venv
    need("debian", ["debian-embedded", "debian-daemon"], lambda: debian_module(fetch))
    need("gunicorn", ["gunicorn-sync", "gunicorn-gthread", "proxy-gunicorn"],
         lambda: gunicorn_venv(fetch))
    need("upstream", ["upstream-embedded", "upstream-daemon"],
         lambda: upstream_module(fetch))
    need("uwsgi", ["proxy-uwsgi"], lambda: uwsgi_venv(fetch))
    return mods, skipped


# ----------------------------------------------------------- measuring

def wrk_run(srv, workload, concurrency, connection, duration, wrk_threads):
    method, req_bytes, resp_bytes, _ = WORKLOADS[workload]
    path = srv.paths[workload]
    cmd = ["wrk", "-t", str(max(1, min(wrk_threads, concurrency))),
           "-c", str(concurrency), "-d", "%ds" % duration, "--timeout", "10s",
           "--latency", "-s", WRK_LUA]
    if connection == "close":
        cmd += ["-H", "Connection: close"]
    cmd.append(srv.url(path))
    env = dict(os.environ, BENCH_METHOD=method, BENCH_BODY_SIZE=str(req_bytes))
    pids = srv.pids()
    cpu0 = servers.cpu_ticks(pids)
    cs0 = servers.context_switches(pids)
    busy0 = machine_busy_ticks()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    slow = None
    if workload == "slowclient":
        slow = SlowClients(srv.port, srv.paths["post"])
        slow.start()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        out, err = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    wall = time.monotonic() - t0
    if slow is not None:
        slow.stop()
    pids1 = srv.pids()
    cpu1 = servers.cpu_ticks(pids1)
    cs1 = servers.context_switches(pids1)
    busy1 = machine_busy_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"^BENCH-JSON (\{.*\})$", out, re.M)
    if proc.returncode != 0 or not m:
        return {"failed": "wrk exited %s: %s" % (proc.returncode,
                                                  (err or out).strip()[-300:])}
    r = json.loads(m.group(1))
    if slow is not None:
        r["slow_done"], r["slow_failed"] = slow.done, slow.failed
        r["slow_errors"] = slow.errors
    n = r["requests"]
    secs = r["duration_us"] / 1e6
    r["rps"] = n / secs if secs > 0 else 0.0
    r["errors"] = (r["err_connect"] + r["err_read"] + r["err_write"]
                   + r["err_timeout"])
    r["non2xx"] = r["err_status"]
    r["server_cpu_s"] = (cpu1 - cpu0) / servers.CLK_TCK
    r["cpu_us_per_req"] = (r["server_cpu_s"] * 1e6 / n) if n else None
    r["cs_per_req"] = ((cs1 - cs0) / n) if n else None
    r["bytes_per_resp"] = r["bytes"] / n if n else 0
    # Headers make every response longer than its body: a shorter average
    # means truncated bodies.
    r["short"] = bool(n) and r["bytes_per_resp"] < resp_bytes
    r["wall_s"] = wall
    # The client's CPU (wrk is the only child reaped during the run) and
    # what everything else on the machine used meanwhile, in % of one CPU:
    # other work (a test suite) skews the numbers.
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    r["wrk_cpu_pct"] = 100.0 * wrk_cpu / wall if wall > 0 else None
    if busy0 is not None and busy1 is not None and wall > 0:
        other = (busy1 - busy0) / servers.CLK_TCK - r["server_cpu_s"] - wrk_cpu
        r["other_cpu_pct"] = max(0.0, 100.0 * other / wall)
    else:
        r["other_cpu_pct"] = None
    return r


class SlowClients:
    """SLOW_CLIENTS connections, each sending POSTs of SLOW_BODY bytes in
    SLOW_PIECE pieces SLOW_GAP apart, one after the other, from an asyncio
    loop in a thread of its own, until stop().  Bounded: every socket
    operation has a timeout, and stop() waits at most a few seconds."""

    def __init__(self, port, path):
        import threading
        self.port, self.path = port, path
        self.done = self.failed = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        time.sleep(0.2)     # let the first pieces reach the server

    def stop(self):
        self._stop.set()
        self._thread.join(SLOW_BODY // SLOW_PIECE * SLOW_GAP + 12)

    def _run(self):
        import asyncio
        asyncio.run(self._main())

    async def _main(self):
        import asyncio
        await asyncio.gather(*(self._client() for _ in range(SLOW_CLIENTS)))

    async def _client(self):
        import asyncio
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                "application/octet-stream\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n"
                % (self.path, SLOW_BODY)).encode()
        piece = b"s" * SLOW_PIECE
        reader = writer = None
        while not self._stop.is_set():
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", self.port), 10)
                writer.write(head)
                for _ in range(SLOW_BODY // SLOW_PIECE):
                    await asyncio.sleep(SLOW_GAP)
                    writer.write(piece)
                    await writer.drain()
                status = await asyncio.wait_for(reader.readline(), 10)
                length = None
                while True:
                    line = await asyncio.wait_for(reader.readline(), 10)
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.decode("latin-1").partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                if length is None:
                    raise OSError("no Content-Length")
                await asyncio.wait_for(reader.readexactly(length), 10)
                if status.split()[1:2] != [b"200"]:
                    raise OSError(status.decode("latin-1").strip())
                self.done += 1
                # One request per connection: Apache's event MPM closes
                # idle keep-alive connections whenever its workers are all
                # busy, which the slow clients see to it they are.
                writer.close()
                writer = None
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                    ValueError, IndexError) as e:
                self.failed += 1
                if len(self.errors) < 3:
                    self.errors.append(repr(e)[:200])
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()


def machine_busy_ticks():
    """Non-idle ticks of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal (guest: in user)
        return sum(v[:8]) - v[3] - v[4]
    except (OSError, ValueError, IndexError):
        return None


def profile_run(srv, workload, concurrency, connection, duration, out_dir):
    """A wrk run with `perf record` sampling every process of the server;
    writes a flat profile (by shared object, then by symbol) and returns
    its path."""
    perf = shutil.which("perf")
    if not perf:
        raise RuntimeError("perf not found: apt-get install linux-perf")
    key = cell_key(workload, concurrency, connection).replace("/", "-")
    data = os.path.join(tempfile.mkdtemp(prefix="mod_wsgi-perf-"), "perf.data")
    pids = ",".join(str(p) for p in srv.pids())
    rec = subprocess.Popen([perf, "record", "-q", "-e", "cpu-clock", "-F", "999",
                            "-p", pids, "-o", data, "--", "sleep",
                            str(duration + 1)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    try:
        time.sleep(0.5)
        r = wrk_run(srv, workload, concurrency, connection, duration, 1)
        rec.communicate(timeout=duration + 60)
        parts = []
        views = [("by shared object", ["--sort", "dso"]),
                 ("by symbol", ["--sort", "dso,sym"])]
        if srv.module:
            views.append(("symbols of %s (%% of its own samples)"
                          % os.path.basename(srv.module),
                          ["--sort", "sym", "--dsos", os.path.basename(srv.module),
                           "--percentage", "relative"]))
        for title, opts in views:
            out = subprocess.run([perf, "report", "-i", data, "--stdio",
                                  "--no-children", "-F", "overhead," + opts[1]]
                                 + opts + ["--percent-limit", "0.2"],
                                 capture_output=True, text=True, timeout=300)
            lines = [l.rstrip() for l in out.stdout.splitlines()
                     if l.strip() and not l.startswith("#")]
            lines.sort(key=lambda l: -float(l.split("%")[0] or 0))
            parts.append("## %s\n%s" % (title, "\n".join(lines[:60])))
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    path = os.path.join(out_dir, "profile-%s-%s.txt" % (srv.name, key))
    head = ("# perf record -e cpu-clock -F 999 on every process of %s during "
            "wrk %s: %s req/s, %s\n" % (srv.name, key, fmt_rps(r.get("rps")),
                                        r.get("failed", "ok")))
    write_atomic(path, head + "\n" + "\n\n".join(parts) + "\n")
    return path


def check_answers(srv, workloads):
    """One plain request per workload: status 200 and the full body."""
    problems = []
    for w in workloads:
        path = srv.paths.get(w)
        if path is None:
            continue
        method, req_bytes, resp_bytes, _ = WORKLOADS[w]
        body = b"b" * req_bytes if method == "POST" else None
        status, data = srv.get(path, method=method, body=body, timeout=30)
        if status != 200 or len(data) != resp_bytes:
            problems.append("%s %s: status %s, %d bytes (want 200, %d)" % (
                method, path, status, len(data), resp_bytes))
        elif method == "POST" and srv.name != "static" and data != body:
            problems.append("POST %s: echoed body differs" % path)
    if srv.name.endswith("-metrics"):
        # Recording for real: the requests above are on the metrics page.
        status, data = srv.get("/wsgi-metrics", timeout=30)
        if status != 200 or not re.search(
                rb'^mod_wsgi_requests_total\{group="[^"]*",status="2xx"\} '
                rb'[1-9]', data, re.M):
            problems.append("/wsgi-metrics: status %s, no 2xx requests "
                            "counted" % status)
    return problems


def machine_info():
    info = {"date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": subprocess.run([SYSTEM_PYTHON, "-V"], capture_output=True,
                                     text=True).stdout.strip()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            info["cpu"] = m.group(1) if m else "?"
    except OSError:
        info["cpu"] = "?"
    try:
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / (1 << 20), 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        out = subprocess.run([servers.httpd_binary(), "-v"], capture_output=True,
                             text=True, timeout=30).stdout
        info["apache"] = out.splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError, RuntimeError, subprocess.SubprocessError):
        info["apache"] = "?"
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    info["wrk"] = (out.stdout + out.stderr).split("[")[0].strip()
    info["debian_mod_wsgi"] = debian_version()
    try:
        info["git"] = subprocess.run(["git", "-C", TOP, "describe", "--always",
                                      "--dirty"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
    except OSError:
        info["git"] = "?"
    return info


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


# ----------------------------------------------------------- reporting

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    ok = [r for r in runs if "failed" not in r]
    s = {"rounds": len(runs), "failed_runs": len(runs) - len(ok)}
    if not ok:
        return s
    rps = [r["rps"] for r in ok]
    s.update(rps=med(rps), rps_min=min(rps), rps_max=max(rps),
             p50_us=med([r["lat_p50_us"] for r in ok]),
             p99_us=med([r["lat_p99_us"] for r in ok]),
             cpu_us=med([r["cpu_us_per_req"] for r in ok]),
             cpu_s=med([r["server_cpu_s"] for r in ok]),
             errors=sum(r["errors"] for r in ok),
             read_errors=sum(r["err_read"] for r in ok),
             non2xx=sum(r["non2xx"] for r in ok),
             short=any(r["short"] for r in ok),
             cs_per_req=med([r.get("cs_per_req") for r in ok]),
             wrk_cpu_pct=med([r.get("wrk_cpu_pct") for r in ok]),
             other_cpu_pct=med([r.get("other_cpu_pct") for r in ok]),
             requests=sum(r["requests"] for r in ok))
    if any("slow_done" in r for r in ok):
        s["slow_done"] = sum(r.get("slow_done", 0) for r in ok)
        s["slow_failed"] = sum(r.get("slow_failed", 0) for r in ok)
    return s


def cell_key(w, c, conn):
    return "%s/c%d/%s" % (w, c, conn)


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def fmt_ratio(x):
    return "–" if x is None else "%.2f" % x


def fmt_ms(us):
    return "–" if us is None else ("%.2f" % (us / 1000.0) if us < 10000
                                   else "%.0f" % (us / 1000.0))


def fmt_pct(x):
    return "–" if x is None else "%.0f" % x


def fmt_rps(x):
    return "–" if x is None else ("%.0f" % x if x >= 100 else "%.1f" % x)


def targets(result):
    """The issue's targets, evaluated on every measured cell."""
    cells = result["cells"]
    rows = []

    def get(w, c, conn, who):
        return cells.get(cell_key(w, c, conn), {}).get(who, {})

    specs = [
        ("embedded hello ≥ 1.10× Debian embedded", "hello", "ours-embedded",
         "debian-embedded", 1.10),
        ("embedded 1 MiB file ≥ 0.90× static", "file", "ours-embedded", "static", 0.90),
        ("embedded 1 MiB POST ≥ 1.00× Debian embedded", "post", "ours-embedded",
         "debian-embedded", 1.00),
        ("daemon hello ≥ 1.25× Debian daemon", "hello", "ours-daemon",
         "debian-daemon", 1.25),
        ("daemon 1 MiB file ≥ 3× Debian daemon", "file", "ours-daemon",
         "debian-daemon", 3.0),
        ("daemon 1 MiB file ≥ 0.6× static", "file", "ours-daemon", "static", 0.6),
        ("daemon 1 MiB POST ≥ 2× Debian daemon", "post", "ours-daemon",
         "debian-daemon", 2.0),
        # Issue 10 item 8: small blocks coalesce (bounded by
        # response-flush-delay) instead of one socket write and one chunk
        # each; before that, daemon mode took 3x Debian's time.
        ("embedded 10k×10 B blocks ≥ 1.00× Debian embedded", "blocks",
         "ours-embedded", "debian-embedded", 1.00),
        ("daemon 10k×10 B blocks ≥ 1.00× Debian daemon", "blocks",
         "ours-daemon", "debian-daemon", 1.00),
    ]
    # Issue 19: against Apache in front of an app server, and upstream 6.1.
    for w in ("hello", "64k", "file", "post"):
        for ref, want in (("proxy-gunicorn", 1.3), ("proxy-uwsgi", 1.15)):
            want = 1.0 if w == "post" else want
            specs.append(("daemon %s ≥ %.2f× %s" % (w, want, ref), w,
                          "ours-daemon", ref, want))
    for mode in ("embedded", "daemon"):
        for w in WORKLOADS:
            want = 1.15 if w == "hello" else 1.0
            specs.append(("%s %s ≥ %.2f× upstream %s" % (mode, w, want, mode), w,
                          "ours-" + mode, "upstream-" + mode, want))
    specs.append(("daemon 1 MiB file ≥ 3× upstream daemon", "file", "ours-daemon",
                  "upstream-daemon", 3.0))
    # Issue 13: every figure on costs at most 3 % of hello.
    for mode in ("embedded", "daemon"):
        specs.append(("%s hello, metrics on ≥ 0.97× off" % mode, "hello",
                      "ours-%s-metrics" % mode, "ours-" + mode, 0.97))
    for label, w, who, ref, want in specs:
        for c in result["settings"]["concurrency"]:
            for conn in result["settings"]["connections"]:
                a, b = get(w, c, conn, who), get(w, c, conn, ref)
                if not a or not b or a.get("rps") is None or b.get("rps") is None:
                    continue
                x = a["rps"] / b["rps"] if b["rps"] else None
                why = []
                if x is None or x < want:
                    why.append("too slow")
                note = ""
                errors = a.get("errors") or 0
                reads = a.get("read_errors", errors)
                static = get(w, c, conn, "static")
                if errors - reads:
                    why.append("%d errors" % (errors - reads))
                if reads:
                    # A read error is the server closing a keep-alive
                    # connection under wrk.  Apache's event MPM does that to
                    # all of them whenever all its workers are busy (c above
                    # processes x threads), static included; and a stray
                    # one now and then.  Those are noted, not failed.
                    if static.get("read_errors") or reads * 10000 <= (
                            a.get("requests") or 0):
                        note = " (%d read errors; static: %s)" % (
                            reads, static.get("read_errors", "–"))
                    else:
                        why.append("%d read errors, static none" % reads)
                if a.get("non2xx"):
                    why.append("%d non-2xx" % a["non2xx"])
                if a.get("short"):
                    why.append("short bodies")
                rows.append((label, "c=%d %s" % (c, conn), fmt_ratio(x),
                             "NO: " + ", ".join(why) if why else "yes" + note))
    # CPU per request below Debian's in every cell; daemon memory.
    for who, ref in (("ours-embedded", "debian-embedded"), ("ours-daemon", "debian-daemon"),
                     ("ours-daemon", "proxy-gunicorn"), ("ours-daemon", "proxy-uwsgi")):
        worse = []
        n = coarse = 0
        for key, cell in sorted(cells.items()):
            a, b = cell.get(who, {}), cell.get(ref, {})
            if a.get("cpu_us") is None or b.get("cpu_us") is None:
                continue
            # /proc counts CPU in clock ticks (10 ms): a run that used less
            # than 20 of them (the 50 ms sleep at c=1) says nothing.
            if min(a.get("cpu_s") or 0, b.get("cpu_s") or 0) < 0.2:
                coarse += 1
                continue
            n += 1
            if a["cpu_us"] >= b["cpu_us"]:
                worse.append("%s (%.0f vs %.0f)" % (key, a["cpu_us"], b["cpu_us"]))
        if n:
            rows.append(("%s CPU µs/req < %s in every cell" % (who, ref),
                         "%d cells%s" % (n, " (%d with < 0.2 s of CPU left out)"
                                         % coarse if coarse else ""),
                         "%d worse" % len(worse),
                         "yes" if not worse else "NO: " + ", ".join(worse)))
    mem = result.get("memory", {})
    a, b = mem.get("ours-daemon", {}), mem.get("debian-daemon", {})
    if a.get("pss_kib") and b.get("pss_kib"):
        rows.append(("daemon memory (PSS after warm-up) ≤ Debian daemon", "",
                     "%.1f vs %.1f MiB" % (a["pss_kib"] / 1024, b["pss_kib"] / 1024),
                     "yes" if a["pss_kib"] <= b["pss_kib"] else "NO"))
    return rows


def markdown(result):
    m = result["machine"]
    s = result["settings"]
    out = []
    out.append("# mod_wsgi benchmark (%s)" % m["date"])
    out.append("")
    out.append("Machine: %s CPUs (%s), %s GiB, Linux %s; %s; %s; %s; Debian "
               "mod_wsgi %s; tree %s.  **wrk and every server share these %s "
               "cores**, so a single round can be off by ±25%%: only the medians "
               "of interleaved rounds count.  Load average before/after: %s / %s."
               % (m["cpus"], m.get("cpu", "?"), m.get("mem_gib", "?"), m["kernel"],
                  m["apache"], m["python"], m["wrk"], m["debian_mod_wsgi"],
                  m.get("git", "?"), m["cpus"], result["load_before"],
                  result["load_after"]))
    out.append("")
    out.append("Settings: event MPM, %d processes × %d threads everywhere "
               "(Apache children; daemon groups `processes=%d threads=%d`; "
               "gunicorn gthread `-w %d --threads %d`, sync `-w %d`); "
               "%d rounds × %gs per cell, wrk -t%d; %s; order rotated each "
               "round.  Req/s is the median with min–max; ×static and "
               "×Debian are ratios of medians (×Debian: against Debian's module "
               "in the same mode); latency and CPU are medians over rounds; "
               "CPU is user+system of all the server's processes per request, ctx sw "
               "the context switches of all their threads per request; "
               "wrk CPU and other CPU (everything else on the machine during "
               "the run) are in %% of one CPU.  Errors are wrk's connect/read/write/"
               "timeout errors, (read) the part that is the server closing a "
               "keep-alive connection: Apache's event MPM closes all of its "
               "idle keep-alive connections whenever all its workers are busy, "
               "so at a concurrency above processes × threads every Apache, "
               "static included, shows them."
               % (s["processes"], s["threads"], s["processes"], s["threads"],
                  s["processes"], s["threads"], s["processes"] * s["threads"],
                  s["rounds"], s["duration"], s["wrk_threads"],
                  "keep-alive = HTTP/1.1 persistent connections, close = "
                  "`Connection: close` on every request"))
    if result.get("skipped"):
        out.append("")
        out.append("Skipped: " + "; ".join("%s (%s)" % kv for kv in
                                            sorted(result["skipped"].items())))
    for f in result.get("excluded", []):
        out.append("")
        out.append("Excluded (did not start or answered wrongly): %s"
                   % f.splitlines()[0][:300])
    for key in result["order"]:
        cell = result["cells"][key]
        w, c, conn = key.split("/")
        out.append("")
        out.append("### %s — %s, %s concurrent, %s" % (
            w, WORKLOADS[w][3], c[1:], "keep-alive" if conn == "keepalive"
            else "Connection: close"))
        out.append("")
        out.append("| contender | req/s (min–max) | ×static | ×Debian | p50 ms | "
                   "p99 ms | CPU µs/req | ctx sw/req | errors (read) | non-2xx | "
                   "wrk CPU % | other CPU % |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        static = cell.get("static", {}).get("rps")
        for name in result["contenders"]:
            x = cell.get(name)
            if x is None:
                continue
            if x.get("rps") is None:
                out.append("| %s | failed (%d runs) | | | | | | | |"
                           % (name, x["failed_runs"]))
                continue
            peer = DEBIAN_PEER.get(name)
            deb = cell.get(peer, {}).get("rps") if peer else None
            flags = " (short bodies!)" if x.get("short") else ""
            if x.get("failed_runs"):
                flags += " (%d runs failed)" % x["failed_runs"]
            out.append("| %s | %s (%s–%s)%s | %s | %s | %s | %s | %s | %s | %s "
                       "| %d | %s | %s |" % (
                name, fmt_rps(x["rps"]), fmt_rps(x["rps_min"]), fmt_rps(x["rps_max"]),
                flags, fmt_ratio(ratio(x["rps"], static)),
                fmt_ratio(ratio(x["rps"], deb)) if name != peer else "1.00"
                if deb else "–",
                fmt_ms(x["p50_us"]), fmt_ms(x["p99_us"]),
                "–" if x["cpu_us"] is None else "%.0f" % x["cpu_us"],
                "–" if x.get("cs_per_req") is None else "%.1f" % x["cs_per_req"],
                "%d (%d)" % (x["errors"], x.get("read_errors", 0)) if x["errors"]
                else "0", x["non2xx"], fmt_pct(x.get("wrk_cpu_pct")),
                fmt_pct(x.get("other_cpu_pct"))))
        if w == "slowclient":
            out.append("")
            out.append("Slow POSTs (64 KiB in 1 KiB pieces 10 ms apart, %d clients, "
                       "one request per connection) answered 200 / failed, all "
                       "rounds: %s.  Their CPU is in the server's CPU per hello "
                       "request; the clients' own (the runner's asyncio loop) in "
                       "other CPU." % (SLOW_CLIENTS, "; ".join(
                           "%s %d / %d" % (n, cell[n].get("slow_done", 0),
                                           cell[n].get("slow_failed", 0))
                           for n in result["contenders"] if n in cell)))
    out.append("")
    out.append("### Memory (all the server's processes)")
    out.append("")
    out.append("| contender | processes | RSS sum MiB after warm-up | PSS MiB after "
               "warm-up | PSS MiB at the end | PSS MiB per process after warm-up "
               "(worker: Apache child or gunicorn worker) |")
    out.append("|---|---:|---:|---:|---:|---|")
    for name in result["contenders"]:
        x = result["memory"].get(name)
        if not x:
            continue
        groups = {}
        for p in sorted(x.get("per_process", [])):
            groups.setdefault(p[3] if len(p) > 3 else "?", []).append(p[2] / 1024)
        per = []
        for role in ("parent", "worker", "supervisor", "daemon", "backend", "?"):
            v = groups.get(role)
            if not v:
                continue
            if len(v) <= 4:
                per.append("%s %s" % (role, ", ".join("%.1f" % y for y in v)))
            else:
                per.append("%d %ss %.1f–%.1f" % (len(v), role, min(v), max(v)))
        per = "; ".join(per)
        out.append("| %s | %d | %.1f | %.1f | %s | %s |" % (
            name, x["processes"], x["rss_kib"] / 1024, x["pss_kib"] / 1024,
            "%.1f" % (x["pss_end_kib"] / 1024) if x.get("pss_end_kib") else "–",
            per))
    rows = targets(result)
    if rows:
        out.append("")
        out.append("### Targets (issues 6 and 19)")
        out.append("")
        out.append("| target | cell | measured | met |")
        out.append("|---|---|---:|---|")
        for r in rows:
            out.append("| %s | %s | %s | %s |" % r)
    out.append("")
    return "\n".join(out)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help="comma list of: " + ", ".join(CONTENDERS))
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma list of: " + ", ".join(WORKLOADS))
    p.add_argument("--concurrency", default="1,16,64", help="comma list of integers")
    p.add_argument("--connection", default="keepalive,close",
                   help="comma list of: keepalive, close")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=1,
                   help="whole seconds per wrk run (default 1)")
    p.add_argument("--warmup", type=int, default=1,
                   help="whole seconds of wrk per workload after start, 0 for "
                   "none (default 1)")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--venv", help="venv holding our module (default "
                   "build/venv-X.Y of /usr/bin/python3)")
    p.add_argument("--quick", action="store_true",
                   help="hello, file, post; c=16; keep-alive (about 2 minutes)")
    p.add_argument("--smoke", action="store_true",
                   help="check every contender answers every workload, then 1 s "
                   "of wrk on hello; exit 1 if any fails")
    p.add_argument("--profile", action="store_true",
                   help="instead of measuring: one run per contender and cell "
                   "under perf record, flat profiles to the results directory")
    p.add_argument("--render", metavar="JSON",
                   help="measure nothing: recompute the medians and rewrite the "
                   "markdown of a results JSON (next to it, and latest.md when "
                   "it is latest.json's run)")
    p.add_argument("--no-fetch", action="store_true",
                   help="never download Debian's module, gunicorn, upstream "
                   "mod_wsgi or pyuwsgi (missing ones are skipped)")
    p.add_argument("--out", default=RESULTS, help="results directory")
    p.add_argument("--keep", action="store_true",
                   help="keep the servers' temp dir (logs, configs)")
    a = p.parse_args(argv)
    if a.quick:
        a.workloads, a.concurrency, a.connection = "hello,file,post", "16", "keepalive"
    a.contenders = csv(a.contenders, CONTENDERS, "contender")
    a.workloads = csv(a.workloads, list(WORKLOADS), "workload")
    a.connection = csv(a.connection, CONNECTIONS, "connection")
    try:
        a.concurrency = [int(x) for x in a.concurrency.split(",") if x.strip()]
    except ValueError:
        raise SystemExit("--concurrency takes integers")
    if not (1 <= a.rounds <= 50) or not (1 <= a.duration <= 120) \
            or not (0 <= a.warmup <= 60):
        raise SystemExit("--rounds 1..50, --duration 1..120 s, --warmup 0..60 s")
    if any(c < 1 or c > 1000 for c in a.concurrency):
        raise SystemExit("--concurrency 1..1000")
    if a.smoke:
        a.rounds, a.duration, a.concurrency, a.connection = 1, 1, [4], ["keepalive"]
    return a


class Stop(Exception):
    pass


def _on_signal(signum, frame):
    raise Stop("signal %d" % signum)


def render(path):
    with open(path) as f:
        result = json.load(f)
    result["cells"] = {key: {n: summarize(v) for n, v in per.items()}
                       for key, per in result["runs"].items()}
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    md = markdown(result)
    write_atomic(path, text)
    write_atomic(os.path.splitext(path)[0] + ".md", md)
    latest = os.path.join(os.path.dirname(path), "latest.json")
    if os.path.abspath(path) != os.path.abspath(latest) and os.path.exists(latest):
        with open(latest) as f:
            if json.load(f).get("machine") == result.get("machine"):
                write_atomic(latest, text)
                write_atomic(os.path.join(os.path.dirname(path), "latest.md"), md)
    print(md)
    return 0


def main(argv=None):
    a = parse_args(argv)
    if a.render:
        return render(a.render)
    if not shutil.which("wrk"):
        print("bench: wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    venv = our_venv(a.venv)
    mods, skipped = prepare(a.contenders, venv, not a.no_fetch, strict=False)
    ours = sorted(n for n in skipped if n.startswith("ours-"))
    if ours:
        # Our module is what is measured: never skip it quietly.
        print("bench: %s: %s" % (", ".join(ours), skipped[ours[0]]), file=sys.stderr)
        return 2
    for name, why in sorted(skipped.items()):
        log("skipping %s: %s" % (name, why))
    names = [n for n in a.contenders if n not in skipped]
    if not names:
        print("bench: no contender could be prepared", file=sys.stderr)
        return 2
    settings = {"processes": a.processes, "threads": a.threads,
                "rounds": a.rounds, "duration": a.duration,
                "concurrency": a.concurrency, "connections": a.connection,
                "workloads": a.workloads, "wrk_threads": a.wrk_threads,
                "warmup": a.warmup}
    cells = [(w, c, conn) for w in a.workloads for c in a.concurrency
             for conn in a.connection]
    nruns = 0 if a.smoke else sum(
        a.rounds * sum(1 for n in names if not (n == "static" and w == "sleep"))
        for w, c, conn in cells)
    if not a.smoke:
        est = nruns * (a.duration + RUN_OVERHEAD) + len(names) * (
            len(a.workloads) * a.warmup + 3)
        log("%d contenders, %d cells, %d rounds: %d wrk runs, about %.0f min"
            % (len(names), len(cells), a.rounds, nruns, est / 60))

    base = tempfile.mkdtemp(prefix="mod_wsgi-bench-")
    os.chmod(base, 0o755)
    started = []
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    failures = []
    result = None
    try:
        data = make_data(base)
        load_before = loadavg()
        srvs = {}
        memory = {}
        for name in names:
            srv = make_server(name, base, settings, data, mods)
            log("starting %s on port %d" % (name, srv.port))
            try:
                started.append(srv)
                srv.start(srv.paths["hello"])
            except RuntimeError as e:
                failures.append("%s did not start: %s" % (name, str(e)[:1500]))
                srv.stop()
                continue
            problems = check_answers(srv, a.workloads if not a.smoke else list(WORKLOADS))
            if problems:
                failures.append("%s: %s" % (name, "; ".join(problems)))
                srv.stop()
                continue
            srvs[name] = srv
        # Warm-up: every selected workload at the highest concurrency.
        if not a.smoke and a.warmup > 0:
            for name, srv in srvs.items():
                for w in a.workloads:
                    if srv.paths.get(w):
                        r = wrk_run(srv, w, max(a.concurrency), "keepalive",
                                    a.warmup, a.wrk_threads)
                        if "failed" in r:
                            log("warm-up of %s on %s: %s" % (name, w, r["failed"]))
        for name, srv in srvs.items():
            pids = srv.pids()
            each = []
            rss, pss = servers.memory_kib(pids, each)
            memory[name] = {"processes": len(pids), "rss_kib": rss, "pss_kib": pss,
                            "per_process": [(pid, r, p, srv.role(pid))
                                            for pid, r, p in each]}

        if a.smoke:
            for name, srv in srvs.items():
                r = wrk_run(srv, "hello", 4, "keepalive", 1, 1)
                if "failed" in r:
                    failures.append("%s: %s" % (name, r["failed"]))
                elif r["requests"] == 0 or r["errors"] or r["non2xx"] or r["short"]:
                    failures.append("%s: %d requests, %d errors, %d non-2xx%s" % (
                        name, r["requests"], r["errors"], r["non2xx"],
                        ", short bodies" if r["short"] else ""))
                else:
                    log("%s: %d requests in 1 s, all 200" % (name, r["requests"]))
                if "slowclient" not in WORKLOADS:
                    continue
                # The slow POSTs alongside hello: every one answered 200.
                r = wrk_run(srv, "slowclient", 4, "keepalive", 1, 1)
                if "failed" in r:
                    failures.append("%s slowclient: %s" % (name, r["failed"]))
                elif r["requests"] == 0 or r["errors"] - r["err_read"] \
                        or r["non2xx"] or not r["slow_done"] or r["slow_failed"]:
                    failures.append("%s slowclient: %d hello requests, %d errors, "
                                    "%d non-2xx; slow POSTs %d done, %d failed %s" % (
                                        name, r["requests"], r["errors"], r["non2xx"],
                                        r["slow_done"], r["slow_failed"],
                                        r["slow_errors"]))
                else:
                    log("%s slowclient: %d hello requests, %d slow POSTs, all 200"
                        % (name, r["requests"], r["slow_done"]))
            for name, why in sorted(skipped.items()):
                print("smoke: %s skipped (%s)" % (name, why))
            if failures:
                for f in failures:
                    print("smoke: FAIL %s" % f)
                return 1
            print("smoke: %d contenders answered 200 (%s)" % (len(srvs), ", ".join(srvs)))
            return 0

        for f in failures:
            log("excluded: " + f)
        if a.profile:
            os.makedirs(a.out, exist_ok=True)
            for w, c, conn in cells:
                for name, srv in srvs.items():
                    if srv.paths.get(w):
                        log("profiled %s" % profile_run(srv, w, c, conn,
                                                        a.duration, a.out))
            return 0
        runs = {}
        done = 0
        order = [n for n in names if n in srvs]
        for w, c, conn in cells:
            key = cell_key(w, c, conn)
            runs[key] = {n: [] for n in order if srvs[n].paths.get(w)}
            for rnd in range(a.rounds):
                k = rnd % len(order)
                for name in order[k:] + order[:k]:
                    srv = srvs[name]
                    if not srv.paths.get(w):
                        continue
                    r = wrk_run(srv, w, c, conn, a.duration, a.wrk_threads)
                    r["round"] = rnd
                    runs[key][name].append(r)
                    done += 1
                    if "failed" in r:
                        log("%s %s round %d: %s" % (key, name, rnd, r["failed"]))
            line = "  ".join("%s %s" % (n, fmt_rps(summarize(v).get("rps")))
                             for n, v in runs[key].items())
            log("%s [%d/%d]: %s" % (key, done, nruns, line))
        for name, srv in srvs.items():
            rss, pss = servers.memory_kib(srv.pids())
            memory[name]["pss_end_kib"] = pss
            memory[name]["rss_end_kib"] = rss
        result = {
            "machine": machine_info(),
            "settings": settings,
            "contenders": order,
            "skipped": skipped,
            "excluded": failures,
            "load_before": load_before,
            "load_after": loadavg(),
            "order": [cell_key(*x) for x in cells],
            "cells": {key: {n: summarize(v) for n, v in per.items()}
                      for key, per in runs.items()},
            "memory": memory,
            "runs": runs,
        }
    except Stop as e:
        log("stopped by %s" % e)
        return 130
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for srv in started:
            srv.stop()
        if a.keep:
            log("kept " + base)
        else:
            shutil.rmtree(base, ignore_errors=True)

    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    md = markdown(result)
    write_atomic(os.path.join(a.out, "bench-%s.json" % stamp),
                 json.dumps(result, indent=1, sort_keys=True) + "\n")
    write_atomic(os.path.join(a.out, "latest.json"),
                 json.dumps(result, indent=1, sort_keys=True) + "\n")
    write_atomic(os.path.join(a.out, "bench-%s.md" % stamp), md)
    write_atomic(os.path.join(a.out, "latest.md"), md)
    print(md)
    log("wrote %s and latest.md" % os.path.join(a.out, "bench-%s.json" % stamp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
