"""Scale-out (issue 18, docs/scale-out.md): three hosts, each an Apache
with the module in daemon mode in a network namespace of its own, with
an address of its own on a bridge this test makes, and HAProxy (Debian's
package, run in the foreground with its own configuration) in front in
the root namespace, checking each host's `SetHandler wsgi-health` URL.

Under a bounded load (8 client threads for about 20 s, sent only to the
addresses this test made) one host's Apache parent is SIGKILLed (a), a
second gets `apachectl graceful` (b), the third `apachectl graceful-stop`
and is started again once HAProxy has taken it out (c). Half the
clients go through a backend with HAProxy's defaults and health checks
only ("plain"), half through one that also retries idempotent requests
elsewhere ("retrying": retries 3, option redispatch, retry-on). Printed
per event and backend: requests sent, failed, and when the failures were
sent. Held to: nothing fails through "retrying"; through "plain", only
requests sent before HAProxy marked the host DOWN fail, for (a) and (c).

Needs root, working `ip netns` and haproxy; skipped otherwise. Every
namespace, veth, bridge and process made here is removed by pid or name
on every way out.
"""

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from harness import free_port, write_file

# HAProxy's checks: every 500 ms, a host is down after 2 failures in a row
# and up after 2 successes. The detection window follows from these.
INTER, FALL, RISE = 0.5, 2, 2

APP = r'''
import os
import time

def application(environ, start_response):
    # ?sleep=S: a longer request, in flight when a host restarts or stops.
    qs = environ.get("QUERY_STRING", "")
    time.sleep(float(qs[6:]) if qs.startswith("sleep=") else 0.005)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %d\n" % (environ["HOST_NAME"], os.getpid())).encode()]
'''

# connect-timeout=3: a host whose daemons are gone (a: its parent was
# killed, so their socket is closed) answers 503 after 3 s instead of 15,
# and the balancer retries the request elsewhere sooner.
HOST = r'''
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess site processes=2 threads=4 connect-timeout=3
WSGIScriptAlias / "@ROOT@/site.wsgi" process-group=site application-group=%%{GLOBAL}
SetEnv HOST_NAME %s
<Directory "@ROOT@">
    Require all granted
</Directory>
<Location /healthz>
    SetHandler wsgi-health
</Location>
'''

HAPROXY = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s

# HAProxy's defaults (retries 3 on a refused connection, to the same
# server) and the health checks.
frontend plain
    bind {addr}:{plain}
    default_backend plain

backend plain
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter {inter}ms fall {fall} rise {rise}
{servers_plain}

# The same servers (their state tracked from "plain"), and idempotent
# requests retried elsewhere.
frontend retrying
    bind {addr}:{retrying}
    default_backend retrying

backend retrying
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 502 503
    http-request disable-l7-retry unless METH_GET
{servers_retrying}
"""


def _run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True,
                          timeout=30, check=check)


def _why_not():
    """The reason this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, a bridge)"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed"
    if shutil.which("haproxy") is None:
        return "haproxy is not installed (sh mk/deps.sh test installs it)"
    probe = "wsgi-probe-%d" % os.getpid()
    out = _run("ip", "netns", "add", probe, check=False)
    if out.returncode != 0:
        return "ip netns does not work here: %s" % out.stderr.strip()
    _run("ip", "netns", "del", probe, check=False)
    return None


class Lab:
    """A bridge in the root namespace with an address, and per host a
    namespace joined to it by a veth pair. Names carry our pid."""

    def __init__(self, nhosts):
        tag = os.getpid() % 100000
        self.bridge = "w18b%d" % tag
        self.subnet = self._free_subnet(tag)
        self.gateway = self.subnet + ".1"
        self.hosts = [("wsgi18-%d-h%d" % (tag, i), "w18v%dh%d" % (tag, i),
                       "%s.%d" % (self.subnet, 10 + i))
                      for i in range(1, nhosts + 1)]
        self.made = []      # ("netns"|"link", name), for removal

    @staticmethod
    def _free_subnet(tag):
        used = _run("ip", "-4", "-o", "addr", "show").stdout
        routes = _run("ip", "-4", "route", "show").stdout
        for k in range(250):
            net = "10.213.%d" % ((tag + k) % 250 + 1)
            if net + "." not in used and net + ".0/" not in routes:
                return net
        raise RuntimeError("no free 10.213.x.0/24 subnet")

    def make(self):
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        _run("ip", "addr", "add", self.gateway + "/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for ns, veth, addr in self.hosts:
            _run("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            _run("ip", "link", "add", veth, "type", "veth", "peer", "name",
                 "eth0", "netns", ns)
            self.made.append(("link", veth))
            _run("ip", "link", "set", veth, "master", self.bridge)
            _run("ip", "link", "set", veth, "up")
            _run("ip", "netns", "exec", ns, "ip", "addr", "add",
                 addr + "/24", "dev", "eth0")
            _run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def remove(self):
        """Everything made, newest first; each step on its own (one that
        fails does not keep the others from running)."""
        for kind, name in reversed(self.made):
            if kind == "netns":
                _run("ip", "netns", "del", name, check=False)
            else:
                _run("ip", "link", "del", name, check=False)
        self.made = []


@pytest.fixture
def lab():
    why = _why_not()
    if why:
        pytest.skip(why)
    net = Lab(3)
    try:
        net.make()
        yield net
    finally:
        net.remove()


@pytest.fixture
def hosts(lab, make_server):
    """Three Apaches, each in its namespace on its address. A host whose
    parent the test killed leaves orphans (its children go on): they are
    ended here, by pid."""
    made = []
    for i, (ns, _, addr) in enumerate(lab.hosts, 1):
        srv = make_server(HOST % ("h%d" % i), start=False, listen=addr,
                          netns=ns)
        write_file(os.path.join(srv.root, "site.wsgi"), APP)
        made.append(srv)
    for srv in made:
        srv.start()
    yield made
    for srv in made:
        if srv.proc is not None and srv.proc.poll() is not None:
            for pid in srv.group_members():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class HAProxy:
    def __init__(self, lab, hosts):
        self.dir = tempfile.mkdtemp(prefix="mod_wsgi-haproxy-")
        self.addr = lab.gateway
        self.ports = {"plain": _free_port_on(self.addr),
                      "retrying": _free_port_on(self.addr)}
        plain = "\n".join("    server h%d %s:%d" % (i, srv.listen, srv.port)
                          for i, srv in enumerate(hosts, 1))
        retrying = "\n".join("    server h%d %s:%d track plain/h%d" % (
            i, srv.listen, srv.port, i) for i, srv in enumerate(hosts, 1))
        self.conf = write_file(os.path.join(self.dir, "haproxy.cfg"),
                               HAPROXY.format(
                                   dir=self.dir, addr=self.addr,
                                   inter=int(INTER * 1000), fall=FALL,
                                   rise=RISE, servers_plain=plain,
                                   servers_retrying=retrying,
                                   **self.ports))
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self.proc = None

    def start(self):
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["haproxy", "-db", "-f", self.conf], stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def states(self):
        """{server: "UP"|"DOWN"|...} of backend plain, from the admin
        socket ({} when it does not answer yet)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(os.path.join(self.dir, "admin.sock"))
                s.sendall(b"show stat\n")
                data = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
        except OSError:
            return {}
        text = data.decode().lstrip("# ")
        return {row["svname"]: row["status"].split()[0]
                for row in csv.DictReader(io.StringIO(text))
                if row.get("pxname") == "plain"
                and row.get("svname", "").startswith("h")}

    def url(self, backend, path="/"):
        return "http://%s:%d%s" % (self.addr, self.ports[backend], path)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port_on(addr):
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


@pytest.fixture
def haproxy(lab, hosts):
    hp = HAProxy(lab, hosts)
    try:
        hp.start()
        yield hp
    finally:
        hp.stop()


class Watcher(threading.Thread):
    """Polls HAProxy's view of each host every 100 ms: (time, host,
    status) at each change."""

    def __init__(self, hp):
        super().__init__(daemon=True)
        self.hp = hp
        self.changes = []
        self.now = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            for host, status in self.hp.states().items():
                if self.now.get(host) != status:
                    self.now[host] = status
                    self.changes.append((t, host, status))
            time.sleep(0.1)

    def wait(self, host, status, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.now.get(host) == status:
                return self.when(host, status)
            time.sleep(0.05)
        return None

    def when(self, host, status, after=0.0):
        """When host last went to status (after `after`), or None."""
        found = [t for t, h, s in self.changes
                 if h == host and s == status and t >= after]
        return found[-1] if found else None


class Load:
    """Client threads, each sending GETs one after another through one
    backend (a keep-alive session, made anew after a failure)."""

    def __init__(self, hp, per_backend=4, think=0.02, slow_every=10):
        self.hp = hp
        self.halt = threading.Event()
        self.results = []       # (backend, sent, done, ok, what)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(b,),
                                         daemon=True)
                        for b in ("plain", "retrying")
                        for _ in range(per_backend)]
        self.think = think
        self.slow_every = slow_every

    def _client(self, backend):
        import requests
        session = requests.Session()
        url = self.hp.url(backend, "/hello")
        n = 0
        while not self.halt.is_set():
            n += 1
            sent = time.monotonic()
            try:
                r = session.get(url + ("?sleep=0.3" if n % self.slow_every == 0
                                       else ""), timeout=30)
                ok, what = r.status_code == 200, r.status_code
            except requests.RequestException as e:
                ok, what = False, type(e).__name__
            done = time.monotonic()
            if not ok:
                session.close()
                session = requests.Session()
            with self.lock:
                self.results.append((backend, sent, done, ok, what))
            time.sleep(self.think)

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(40)


def _healthy(srv, timeout):
    """Until srv's own check answers 200 (bounded)."""
    import requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(srv.url("/healthz"), timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


def _report(name, t0, t1, results, backend):
    """(sent, failed, failures' [first, last] send time from t0) of the
    requests of backend sent in [t0, t1)."""
    mine = [r for r in results if r[0] == backend and t0 <= r[1] < t1]
    failed = [r for r in mine if not r[3]]
    window = ((min(r[1] for r in failed) - t0, max(r[1] for r in failed) - t0)
              if failed else None)
    kinds = sorted({str(r[4]) for r in failed})
    print("  %-28s %-9s sent %5d  failed %4d%s" % (
        name, backend, len(mine), len(failed),
        "  sent at +%.2f..+%.2f s (%s)" % (window + (", ".join(kinds),))
        if window else ""))
    return len(mine), len(failed), window


# h1's orphans answer 503 (WSGI0750, or WSGI0701 for a request that was
# already waiting) while their daemon groups are gone; a request in flight
# on a stopping daemon may be cut (WSGI0703, 0707).
@pytest.mark.allow_log("WSGI0701", "WSGI0703", "WSGI0707", "WSGI0715",
                       "WSGI0750")
def test_three_hosts_behind_haproxy(lab, hosts, haproxy):
    h1, h2, h3 = hosts
    watch = Watcher(haproxy)
    watch.start()
    load = Load(haproxy)
    try:
        for name in ("h1", "h2", "h3"):
            assert watch.wait(name, "UP", 20) is not None, (
                name, watch.now, haproxy.log())
        t_start = time.monotonic()
        load.start()
        time.sleep(3)

        # (a) host loss: SIGKILL to h1's Apache parent. Its children go
        # on (orphans) but its daemon groups die with their supervisors;
        # its checks answer 503 ("orphaned") and HAProxy takes it out.
        t_a = time.monotonic()
        h1.signal(signal.SIGKILL)
        down_a = watch.wait("h1", "DOWN", 15)
        assert down_a is not None, (watch.changes, haproxy.log())
        time.sleep(max(0.0, t_a + 6 - time.monotonic()))

        # (b) apachectl graceful on h2.
        t_b = time.monotonic()
        h2.signal(signal.SIGUSR1)
        time.sleep(6)

        # (c) apachectl graceful-stop on h3, and back.
        t_c = time.monotonic()
        h3.signal(signal.SIGWINCH)
        h3.proc.wait(20)
        t_c_stopped = time.monotonic()
        # Down long enough for HAProxy to take it out, as for a deploy.
        assert watch.wait("h3", "DOWN", 15) is not None, (watch.changes,
                                                          haproxy.log())
        h3.start()
        # Back: its own check passes, and HAProxy has had the time to see
        # a failure or two (fall) and the successes after (rise).
        assert _healthy(h3, 20), h3.log()
        time.sleep((FALL + RISE + 1) * INTER)
        assert watch.wait("h3", "UP", 20) is not None, (watch.changes,
                                                        haproxy.log())
        time.sleep(2)
        t_end = time.monotonic()
    finally:
        load.stop()
        watch.halt.set()
        watch.join(5)

    res = load.results
    down_c = watch.when("h3", "DOWN", after=t_c)
    up_c = watch.when("h3", "UP", after=down_c) if down_c else None
    print("\nscale-out: %d requests in %.1f s through HAProxy %s "
          "(checks every %d ms, fall %d, rise %d)" % (
              len(res), t_end - t_start, haproxy.addr, INTER * 1000, FALL,
              RISE))
    print("  (a) h1 marked DOWN %.2f s after its SIGKILL" % (down_a - t_a))
    print("  (c) h3 stopped %.2f s after graceful-stop, marked DOWN %.2f s "
          "and UP again %.2f s after it" % (t_c_stopped - t_c, down_c - t_c,
                                            up_c - t_c))
    for t, host, status in watch.changes:
        print("      %+7.2f s  %s %s" % (t - t_a, host, status))
    abnormal = [l for l in haproxy.log().splitlines()
                if " plain/" in l or " retrying/" in l]
    print("  HAProxy's log of abnormal requests (%d):" % len(abnormal))
    for line in abnormal[:12]:
        print("      " + line[:160])
    for i, srv in enumerate(hosts, 1):
        codes = re.findall(r"\[(\w+:\w+)\] .*?((?:WSGI|AH)\d{4,5}):",
                           srv.log())
        counts = {}
        for level, code in codes:
            if not level.endswith(("info", "debug", "notice")):
                counts[code + " " + level] = counts.get(code + " " + level, 0) + 1
        print("  h%d's error log: %s" % (i, ", ".join(
            "%s x%d" % kv for kv in sorted(counts.items())) or "nothing"))
    for backend in ("plain", "retrying"):
        base = _report("before the events", t_start, t_a, res, backend)
        a = _report("(a) SIGKILL h1's parent", t_a, t_b, res, backend)
        b = _report("(b) graceful h2", t_b, t_c, res, backend)
        c = _report("(c) graceful-stop h3, back", t_c, t_end + 1, res,
                    backend)
        assert base[1] == 0, "failures before any event (%s)" % backend
        assert a[0] > 0 and b[0] > 0 and c[0] > 0, (a, b, c)
        if backend == "retrying":
            assert (a[1], b[1], c[1]) == (0, 0, 0), (
                "idempotent GETs failed with retries and redispatch: "
                "(a) %d, (b) %d, (c) %d" % (a[1], b[1], c[1]))
        else:
            # Without retries elsewhere: failures only for requests sent
            # before HAProxy took the host out (a: the orphaned host
            # answers 503 after connect-timeout; c: refused connections,
            # retried on the same server only). (b) is printed, not
            # held to 0: an old child closing a kept-alive connection
            # just as HAProxy reuses it costs a request now and then
            # (HAProxy closes the client's connection so it can retry,
            # as browsers do); retry-on empty-response covers it.
            if a[2] is not None:
                assert t_a + a[2][1] <= down_a + 0.2, (
                    "failures after h1 was marked DOWN", a, down_a - t_a)
            if c[2] is not None:
                assert t_c + c[2][1] <= down_c + 0.2, (
                    "failures after h3 was marked DOWN", c, down_c - t_c)
    # HAProxy saw what happened: h1 down for good, h3 down and up again.
    assert watch.now.get("h1") == "DOWN"
    assert watch.now.get("h3") == "UP"
