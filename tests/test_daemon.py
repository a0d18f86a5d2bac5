"""Daemon mode: WSGIDaemonProcess groups that Apache forks, supervises and
restarts, reached over UNIX sockets."""

import concurrent.futures
import hashlib
import http.client
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest
import requests

from common import APPS, environ_of
from conftest import VENVS
from harness import httpd_binary, make_dir, pids_where, proc_stat_fields

DAEMON = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess demo %s
WSGIScriptAlias /d "@APPS@/daemon.wsgi" process-group=demo application-group=%%{GLOBAL}
WSGIScriptAlias /e "@APPS@/daemon.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


@pytest.fixture
def make_server(make_server_each_mpm):
    """Every daemon test under each MPM (conftest)."""
    return make_server_each_mpm


def daemon_conf(options="processes=2 threads=4", extra=""):
    return DAEMON % options + extra


def get_status(srv, path):
    try:
        return srv.get(path, timeout=30).status_code
    except requests.RequestException:
        return 0


def _cpu_seconds(pid):
    fields = proc_stat_fields(pid)
    # After the command name: state is field 3 of proc(5), utime 14 and
    # stime 15, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_daemon_processes_of_several_groups_use_no_cpu(make_server):
    """With more than one group, each daemon process used to close the
    other groups' listening sockets a second time (its supervisor had
    already, and had made a pipe that reused one of the numbers): that
    closed its pipe to the supervisor, the "ready" byte then went to the
    process's own wake pipe, and its idle workers spun at a full core
    each, for as long as the process lived."""
    srv = make_server(daemon_conf("processes=1 threads=2", """
WSGIDaemonProcess second processes=1 threads=2
WSGIScriptAlias /s "@APPS@/daemon.wsgi" process-group=second application-group=%{GLOBAL}
WSGIDaemonProcess third processes=1 threads=2
WSGIScriptAlias /t "@APPS@/daemon.wsgi" process-group=third application-group=%{GLOBAL}
"""))
    pids = []
    for path in ("/d/pid", "/s/pid", "/t/pid"):
        r = srv.get(path, timeout=30)
        assert r.status_code == 200
        pids.append(int(r.text))
    assert len(set(pids)) == 3 and all(p in srv.children() for p in pids)
    before = {p: _cpu_seconds(p) for p in pids}
    time.sleep(3)
    used = {p: round(_cpu_seconds(p) - before[p], 2) for p in pids}
    # Idle, a process wakes four times a second (its monitor) and once a
    # second (deadlock-timeout's GIL check): milliseconds over 3 s. A
    # spinning one shows about 3 s.
    assert all(u < 0.3 for u in used.values()), used


def test_request_runs_in_daemon(make_server):
    srv = make_server(daemon_conf())
    d = environ_of(srv, "/d/environ")
    e = environ_of(srv, "/e/environ")
    assert d["mod_wsgi.process_group"] == "demo"
    assert d["interp.process_group"] == "demo"
    assert e["mod_wsgi.process_group"] == ""
    assert d["interp.pid"] != e["interp.pid"]
    assert d["interp.pid"] in srv.children()
    assert d["wsgi.multithread"] is True
    assert d["wsgi.multiprocess"] is True
    if os.geteuid() == 0:
        assert d["interp.uid"] == e["interp.uid"] != 0


def test_environ_parity_with_embedded(make_server):
    srv = make_server(daemon_conf())
    headers = {"X-Custom": "yes", "Cookie": "a=b"}
    d = environ_of(srv, "/d/environ?q=1", headers=headers)
    e = environ_of(srv, "/e/environ?q=1", headers=headers)
    differ = {"mod_wsgi.process_group", "wsgi.multithread", "wsgi.multiprocess",
              "SCRIPT_NAME", "REQUEST_URI", "mod_wsgi.script_name",
              "mod_wsgi.application_group", "REMOTE_PORT", "mod_wsgi.request_id",
              "mod_wsgi.connection_id", "mod_wsgi.request_start",
              "mod_wsgi.queue_start", "mod_wsgi.daemon_start",
              "mod_wsgi.application_start", "mod_wsgi.thread_id",
              "mod_wsgi.server_pid"}
    dk = {k for k in d if not k.startswith("interp.")}
    ek = {k for k in e if not k.startswith("interp.")}
    assert dk == ek, (dk ^ ek)
    for k in sorted(dk - differ):
        assert d[k] == e[k], k
    assert d["SCRIPT_NAME"] == "/d" and e["SCRIPT_NAME"] == "/e"
    assert d["mod_wsgi.daemon_start"] > 0 and e["mod_wsgi.daemon_start"] == 0


def test_streaming_through_daemon(make_server):
    from common import stream_with_acks
    srv = make_server(daemon_conf())
    lines = stream_with_acks(srv.port, "/d/stream")
    assert [l.split()[0] for l in lines] == [b"0", b"1", b"2", b"3"], lines


def test_large_bodies_both_ways(make_server):
    srv = make_server(daemon_conf())
    body = os.urandom(10 * 1024 * 1024)
    r = srv.post("/d/sha256", data=body)
    assert r.text == "%d %s" % (len(body), hashlib.sha256(body).hexdigest())
    size = 10 * 1024 * 1024 + 5
    r = srv.get("/d/download?%d" % size)
    block = bytes(range(256)) * 256
    expected = (block * (size // len(block) + 1))[:size]
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(expected).digest()


def _send_in_two_pieces(srv, head, first, second, pause=1.0):
    """Sends head+first, waits, sends second; returns (time the second
    piece went, response bytes)."""
    with socket.create_connection(("127.0.0.1", srv.port), 20) as s:
        s.sendall(head + first)
        time.sleep(pause)
        sent = time.time()
        s.sendall(second)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return sent, out


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_piece_reaches_the_daemon_without_waiting_for_more(
        make_server, framing):
    # The Apache child gathers body bytes already on the socket into one
    # frame; what a client sent must still go on at once, not wait for
    # the frame to fill. request-buffer-size=0: by default the child reads
    # the first 64 KiB before it takes a daemon thread (an application
    # that must see each piece of a streamed upload as it comes turns
    # that off, as here).
    srv = make_server(daemon_conf("processes=2 threads=4 request-buffer-size=0",
                                  extra="WSGIChunkedRequest On\n"))
    first, rest = b"ping\n", b"z" * 70000
    if framing == "chunked":
        head = (b"POST /d/first-piece HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        one = b"%x\r\n%s\r\n" % (len(first), first)
        two = b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest)
    else:
        head = (b"POST /d/first-piece HTTP/1.1\r\nHost: t\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                % (len(first) + len(rest)))
        one, two = first, rest
    sent, out = _send_in_two_pieces(srv, head, one, two)
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    seen, n_first, n_rest = out.split(b"\r\n\r\n", 1)[1].split()
    assert (int(n_first), int(n_rest)) == (len(first), len(rest))
    assert float(seen) < sent, (float(seen), sent)


def test_request_body_limit_through_daemon_is_413(make_server):
    srv = make_server(daemon_conf(extra="LimitRequestBody 100000\n"))
    assert srv.post("/d/sha256", data=b"x" * 100000).text.startswith("100000 ")
    r = srv.post("/d/sha256", data=b"x" * 100001)
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert get_status(srv, "/d/pid") == 200


@pytest.mark.parametrize("n,size", [(1, 12), (1, 8170), (1, 8200), (3, 4000),
                                    (200, 100), (2, 70000), (1, 0), (0, 0)])
def test_list_responses_of_every_size_arrive_whole(make_server, n, size):
    # The daemon holds back the head and the blocks of a list until they
    # fill its buffer or the response ends: every size around that buffer
    # must come out whole and in order.
    srv = make_server(daemon_conf())
    r = srv.get("/d/blocks?%d,%d" % (n, size))
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(n * size)
    assert r.content == b"".join(bytes([i % 256]) * size for i in range(n))


def test_held_back_response_is_sent_before_the_request_is_torn_down(
        make_server):
    srv = make_server(daemon_conf())
    start = time.monotonic()
    r = srv.get("/d/blocks?2,10,slow")
    took = time.monotonic() - start
    assert r.content == b"\0" * 10 + b"\1" * 10
    assert took < 1.0, took


def test_response_before_reading_input_does_not_deadlock(make_server):
    srv = make_server(daemon_conf())
    body = os.urandom(3 * 1024 * 1024)
    r = srv.post("/d/answer-first", data=body, timeout=30)
    assert r.status_code == 200
    assert r.content.endswith(b"\n%d" % len(body))


@pytest.mark.allow_log("WSGI0603")
def test_application_error_is_500_with_one_traceback(make_server):
    srv = make_server(daemon_conf())
    srv.mark()
    assert srv.get("/d/raise").status_code == 500
    assert srv.count_log("WSGI0603", 1) == 1
    assert "raised on purpose in a daemon" in srv.log_since_mark()
    assert srv.get("/d/environ").status_code == 200


@pytest.mark.allow_log("WSGI0705")
def test_oversized_response_headers_are_named(make_server):
    srv = make_server(daemon_conf("header-buffer-size=8192"))
    srv.mark()
    assert srv.get("/d/big-headers?20000").status_code == 502
    assert srv.count_log("WSGI0705", 1) == 1
    assert "header-buffer-size" in srv.log_since_mark()
    assert srv.get("/d/big-headers?100").status_code == 200


# Only the daemon's death: an Apache child's "exit signal" line (a
# segfault during the recovery) must still fail the test.
@pytest.mark.allow_log(r"WSGI0715: .*killed by signal SIGKILL")
def test_sigkill_recovery(make_server):
    srv = make_server(daemon_conf("processes=1 threads=2"))
    old = int(srv.get("/d/pid").text)
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    new = None
    while time.monotonic() - t0 < 10:
        r = srv.get("/d/pid", timeout=10)
        if r.status_code == 200:
            new = int(r.text)
            break
        time.sleep(0.05)
    took = time.monotonic() - t0
    assert new is not None and new != old
    assert took < 3, took
    text = srv.wait_log(r"WSGI0715: .*%d.*SIGKILL" % old, mark=0)
    assert re.search(r"WSGI0715: .*%d.*killed by signal SIGKILL" % old,
                     text), text


def load(srv, path, n, workers=8, during=None):
    def one(i):
        if during is not None and i == n // 3:
            during()
        return get_status(srv, path)
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(one, range(n)))


def test_maximum_requests_recycles_without_failures(make_server):
    srv = make_server(daemon_conf("processes=2 threads=4 maximum-requests=20"))
    pids = set()

    def one(i):
        r = srv.get("/d/pid", timeout=30)
        return r.status_code, r.text
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(200)))
    codes = [c for c, _ in results]
    pids = {t for c, t in results if c == 200}
    assert codes.count(200) == 200, {c: codes.count(c) for c in set(codes)}
    assert len(pids) >= 4       # recycled several times


def test_graceful_restart_under_load(make_server):
    """Every request of a load answered while a graceful restart happens
    (it did: new daemon processes, Apache's line for it)."""
    srv = make_server(daemon_conf("processes=2 threads=4"))
    before = {int(srv.get("/d/pid").text) for _ in range(8)}
    codes = load(srv, "/d/sleep?0.02", 300,
                 during=lambda: srv.signal(signal.SIGUSR1))
    assert codes.count(200) == 300, {c: codes.count(c) for c in set(codes)}
    assert re.search(r"(?i)graceful restart", srv.log())
    deadline, after = time.monotonic() + 10, set()
    while not after and time.monotonic() < deadline:
        after = {int(srv.get("/d/pid").text) for _ in range(8)} - before
    assert after, "the daemons of the new generation serve"


def test_stop_leaves_no_process_or_socket(make_server):
    srv = make_server(daemon_conf("processes=3 threads=2"))
    assert srv.get("/d/pid").status_code == 200
    socks = [f for f in os.listdir(srv.root) if f.endswith(".sock")]
    assert len(socks) == 1
    kids = srv.children()
    srv.stop()
    assert not [p for p in kids if os.path.exists("/proc/%d" % p)]
    assert not [f for f in os.listdir(srv.root) if f.endswith(".sock")]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_socket_mode_and_owner(make_server):
    srv = make_server(daemon_conf())
    sock = [os.path.join(srv.root, f) for f in os.listdir(srv.root)
            if f.endswith(".sock")][0]
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == pwd.getpwnam("www-data").pw_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_user_group_and_supplementary_groups(make_server):
    user = pwd.getpwnam("nobody")
    group = grp.getgrnam("nogroup")
    extra = grp.getgrnam("www-data")
    srv = make_server(daemon_conf("processes=1 threads=2 user=nobody group=nogroup "
                                  "supplementary-groups=www-data"))
    d = environ_of(srv, "/d/environ")
    assert d["interp.uid"] == user.pw_uid
    assert d["interp.gid"] == group.gr_gid
    assert d["interp.groups"] == [extra.gr_gid]


def test_two_groups_two_venvs(make_server):
    other = make_dir("mod_wsgi-venv2-")
    subprocess.run([os.path.join(VENVS[0], "bin", "python"), "-m", "venv",
                    "--without-pip", other], check=True, timeout=120)
    srv = make_server(daemon_conf("processes=1 threads=2") + """
WSGIDaemonProcess other processes=1 threads=2 python-home=%s
WSGIScriptAlias /o "@APPS@/daemon.wsgi" process-group=other application-group=%%{GLOBAL}
""" % other)
    d = environ_of(srv, "/d/environ")
    o = environ_of(srv, "/o/environ")
    assert os.path.realpath(d["interp.sys_prefix"]) == os.path.realpath(VENVS[0])
    assert os.path.realpath(o["interp.sys_prefix"]) == os.path.realpath(other)
    assert o["mod_wsgi.process_group"] == "other"


@pytest.mark.allow_log("WSGI0509")
def test_restrict_embedded(make_server):
    srv = make_server("WSGIRestrictEmbedded On\n" + daemon_conf())
    assert srv.get("/d/pid").status_code == 200
    srv.mark()
    assert srv.get("/e/pid").status_code == 500
    assert srv.count_log("WSGI0509", 1) == 1


@pytest.mark.allow_log("WSGI0505", "WSGI0710")
def test_unknown_group_is_500_with_message(make_server):
    srv = make_server(daemon_conf() + """
WSGIScriptAlias /x "@APPS@/daemon.wsgi" process-group=nosuchgroup
""")
    srv.mark()
    assert srv.get("/x/pid").status_code == 500
    assert srv.count_log("WSGI0505", 1) == 1


@pytest.mark.parametrize("options,named", [
    ("processes=2 bogus=1", "bogus"),
    ("processes=two", "processes"),
    ("threads=0x", "threads"),
    ("user=no_such_user_xyz", "user"),
    ("user=root", "root"),
    ("group=no_such_group_xyz", "group"),
    ("umask=999", "umask"),
    ("home=/no/such/dir", "home"),
    ("header-buffer-size=10", "header-buffer-size"),
    ("request-timeout=soon", "request-timeout"),
    ("listen-backlog=0", "listen-backlog"),
    ("memory-limit=lots", "memory-limit"),
    ("processes", "name=value"),
])
def test_bad_options_fail_configtest(make_server, options, named):
    srv = make_server(daemon_conf(options), start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert "WSGIDaemonProcess" in out and named in out, out


def test_duplicate_group_name_fails_configtest(make_server):
    srv = make_server(daemon_conf() + "WSGIDaemonProcess demo\n", start=False)
    rc, out = srv.configtest()
    assert rc != 0 and "already used" in out, out


@pytest.mark.allow_log("WSGI0719")
def test_world_writable_socket_dir_refused(make_server):
    srv = make_server(daemon_conf().replace('"@ROOT@/wsgi"', '"@STATE@/wsgi"'),
                      start=False)
    assert srv.start(expect_fail=True) != 0
    assert "WSGI0719" in srv.error_log()
    assert "world-writable" in srv.error_log()


@pytest.mark.skipif(os.geteuid() != 0, reason="Apache's user differs from "
                    "the directory's owner only when started as root")
@pytest.mark.allow_log("WSGI0719")
def test_untraversable_socket_dir_refused(make_server, scratch):
    """A socket prefix in a directory Apache's user cannot traverse (0700,
    root's): start-up fails with WSGI0719 naming the mode and the fix,
    rather than every request failing to connect."""
    closed = os.path.join(scratch, "closed")
    os.mkdir(closed, 0o700)
    srv = make_server(daemon_conf().replace('"@ROOT@/wsgi"',
                                            '"%s/wsgi"' % closed),
                      start=False)
    assert srv.start(expect_fail=True) != 0
    log = srv.error_log()
    assert "WSGI0719" in log and "cannot traverse" in log
    assert "(mode 0700)" in log and "chmod 0755" in log


# ------------------------------------------------- timeouts and limits

def wait_new_pid(srv, old, timeout=15):
    """The pid serving /d/pid once it is not `old` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = srv.get("/d/pid", timeout=10)
            if r.status_code == 200 and int(r.text) != old:
                return int(r.text)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return None


@pytest.mark.allow_log("WSGI0730", "WSGI0732", "WSGI0307")
def test_request_timeout_is_504_and_the_process_is_replaced(make_server):
    srv = make_server(daemon_conf("processes=1 threads=4 request-timeout=2"))
    old = int(srv.get("/d/pid").text)
    t0 = time.monotonic()
    r = srv.get("/d/sleep?30", timeout=25)
    took = time.monotonic() - t0
    assert r.status_code == 504
    assert took < 10, took
    assert "WSGI0730" in srv.wait_log("WSGI0730", mark=0)
    new = wait_new_pid(srv, old)
    assert new is not None and new != old
    # The stuck thread did not keep the old process alive.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists("/proc/%d" % old):
        time.sleep(0.1)
    assert not os.path.exists("/proc/%d/status" % old) or \
        "zombie" in open("/proc/%d/status" % old).read()


def test_request_timeout_spares_requests_that_finish(make_server):
    srv = make_server(daemon_conf("processes=1 threads=4 request-timeout=5"))
    pid = int(srv.get("/d/pid").text)
    codes = load(srv, "/d/sleep?0.5", 12, workers=4)
    assert codes == [200] * 12
    assert int(srv.get("/d/pid").text) == pid
    assert "WSGI0730" not in srv.log()


@pytest.mark.allow_log("WSGI0735")
def test_queue_timeout_is_504(make_server):
    srv = make_server(daemon_conf("processes=1 threads=1 queue-timeout=1"))
    assert srv.get("/d/pid").status_code == 200
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        slow = ex.submit(get_status, srv, "/d/sleep?3")
        time.sleep(0.3)
        queued = ex.submit(get_status, srv, "/d/pid")
        # One holds the only thread for 3 s; the other waits behind it
        # more than queue-timeout and gets upstream's 504. (Which one is
        # first to the daemon is the machine's business, not the test's.)
        assert sorted([slow.result(), queued.result()]) == [200, 504]
    assert "WSGI0735" in srv.wait_log("WSGI0735", mark=0)
    assert srv.get("/d/pid").status_code == 200


def test_inactivity_timeout_replaces_an_idle_process(make_server):
    srv = make_server(daemon_conf("processes=1 threads=2 inactivity-timeout=1"),
                      loglevel="info")
    old = int(srv.get("/d/pid").text)
    time.sleep(2.5)
    new = wait_new_pid(srv, old)
    assert new is not None and new != old
    assert re.search(r"WSGI0731.*inactivity-timeout", srv.log())


def test_restart_interval_recycles_under_load_without_failures(make_server):
    srv = make_server(daemon_conf("processes=1 threads=4 restart-interval=1 "
                                  "graceful-timeout=5"))

    def one(i):
        time.sleep(i * 0.01)
        try:
            r = srv.get("/d/sleep?0.1", timeout=30)
            return r.status_code, r.text
        except requests.RequestException as e:
            return 0, str(e)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, range(60)))
    codes = [c for c, _ in results]
    assert codes.count(200) == 60, {c: codes.count(c) for c in set(codes)}
    assert len({t for _, t in results}) >= 2
    assert re.search(r"WSGI0731.*restart-interval", srv.log())


@pytest.mark.allow_log("WSGI0703", "WSGI0715")
def test_daemon_dying_mid_request_is_502_naming_the_pid(make_server):
    srv = make_server(daemon_conf("processes=1 threads=2"))
    pid = int(srv.get("/d/pid").text)
    assert srv.get("/d/die").status_code == 502
    log = srv.wait_log(r"WSGI0715.*signal SIGKILL \(9\)", mark=0)
    assert re.search(r"WSGI0703.*daemon process %d of group 'demo'" % pid, log)
    assert re.search(r"WSGI0715.*%d.*was killed by signal SIGKILL \(9\)" % pid, log)
    assert wait_new_pid(srv, pid) is not None


@pytest.mark.skipif(bool(os.environ.get("MOD_WSGI_TEST_PRELOAD")),
                    reason="AddressSanitizer's shadow memory cannot live "
                           "under an address-space limit")
def test_resource_limits_are_applied(make_server):
    srv = make_server(daemon_conf(
        "processes=1 threads=2 cpu-time-limit=300 memory-limit=3000000000 "
        "virtual-memory-limit=6000000000 stack-size=524288"))
    lim = srv.get("/d/limits").json()
    assert lim == {"RLIMIT_CPU": 300, "RLIMIT_DATA": 3000000000,
                   "RLIMIT_AS": 6000000000}
    # stack-size= is the worker threads' stack (the default is 8 MiB).
    assert srv.get("/d/stack").text == "524288"
    # Embedded mode is left alone.
    assert srv.get("/e/limits").json()["RLIMIT_CPU"] != 300
    assert srv.get("/e/stack").text != "524288"


@pytest.fixture
def readonly_appdir():
    """A directory for a test's own scripts, not writable by the daemons.
    Set up before make_server (name it first), so it goes after the
    server stopped: a daemon restarting meanwhile would not find its
    script (WSGI0401)."""
    d = make_dir("mod_wsgi-reload-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_touching_the_script_restarts_the_group(readonly_appdir, make_server):
    # Upstream's daemon-mode reloading: the change restarts the processes,
    # so the first request afterwards runs the new script *and* fresh
    # copies of the modules it imports.
    # Not writable by the daemons: no __pycache__, whose mtime-and-size
    # check cannot tell two same-sized helper_mod.py of one second apart.
    appdir = readonly_appdir
    script = os.path.join(appdir, "app.wsgi")
    helper = os.path.join(appdir, "helper_mod.py")

    def write(version):
        with open(helper, "w") as f:
            f.write("VALUE = %r\n" % version)
        with open(script, "w") as f:
            f.write("import os, sys\nsys.path.insert(0, %r)\nimport helper_mod\n"
                    "def application(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [('%%s %%s %%d' %% (%r, helper_mod.VALUE, os.getpid()))"
                    ".encode()]\n" % (appdir, version))
        t = time.time() + (10 if version == "two" else 0)
        os.utime(script, (t, t))
    write("one")
    srv = make_server(DAEMON % "processes=2 threads=2"
                      + 'WSGIScriptAlias /r "%s" process-group=demo '
                        'application-group=%%{GLOBAL}\n<Directory "%s">\n'
                        '    Require all granted\n</Directory>\n' % (script, appdir))
    # Both processes load the first version (bounded tries), so whichever
    # takes the next request has the old code to get rid of. Concurrent
    # requests: one idle thread per process waits on the socket, and a
    # sequential client may keep finding the same process's.
    first = set()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for _ in range(25):
            first.update(ex.map(lambda i: srv.get("/r").text, range(16)))
            if len({t.split()[2] for t in first}) == 2:
                break
    assert {t.split()[:2] == ["one", "one"] for t in first} == {True}
    old_pids = {int(t.split()[2]) for t in first}
    assert len(old_pids) == 2
    write("two")
    r = srv.get("/r", timeout=30)
    assert r.status_code == 200
    version, value, pid = r.text.split()
    assert (version, value) == ("two", "two")
    assert int(pid) not in old_pids
    assert re.search(r"WSGI0731.*app\.wsgi' changed", srv.wait_log("changed", mark=0))
    # A POST (its body cannot be sent twice) also sees the new script.
    after = {srv.post("/r", data=b"x" * 10).text.split()[0] for _ in range(6)}
    assert after == {"two"}


@pytest.mark.allow_log("WSGI0737", "WSGI0715")
def test_a_group_that_cannot_start_backs_off(make_server):
    # A preload that kills the process: every start fails at once. The
    # parent must pause longer and longer instead of forking in a loop,
    # and Apache itself stays up and serves embedded requests.
    srv = make_server(DAEMON % "processes=1 threads=2"
                      + 'WSGIImportScript "@APPS@/exit_at_import.py" '
                        'process-group=demo application-group=%{GLOBAL}\n')
    log = srv.wait_log(r"(WSGI0737.*\n(.*\n)*){4}", timeout=20, mark=0)
    pauses = [int(m) for m in re.findall(r"WSGI0737.*starts in (\d+) ms", log)]
    assert len(pauses) >= 4, log[-3000:]
    assert pauses == sorted(pauses) and pauses[3] > pauses[0], pauses
    assert srv.running()
    assert srv.get("/e/pid").status_code == 200


@pytest.mark.parametrize("value,shown", [("%{GROUP}", "(wsgi:demo)"),
                                         ("myapp-daemon", "myapp-daemon")])
def test_display_name(make_server, value, shown):
    srv = make_server(daemon_conf("processes=1 threads=2 display-name=%s" % value))
    pid = int(srv.get("/d/pid").text)
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmdline = f.read()
    # The name alone: no arguments of Apache's left after it in ps.
    assert cmdline.rstrip(b"\0").decode() == shown, cmdline
    with open("/proc/%d/comm" % pid) as f:
        assert f.read().strip() == shown[:15]
    # Apache's own children keep their name.
    child = int(srv.get("/e/pid").text)
    with open("/proc/%d/cmdline" % child, "rb") as f:
        assert os.path.basename(httpd_binary()).encode() in f.read()


@pytest.mark.allow_log("WSGI0510")
def test_process_group_from_env_and_restrict_process(make_server):
    # WSGIProcessGroup %{ENV:...} picks the group per request (here from a
    # header, through SetEnvIf); WSGIRestrictProcess bounds the choice.
    srv = make_server(r"""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess one processes=1 threads=2
WSGIDaemonProcess two processes=1 threads=2
WSGIScriptAlias /pick "@APPS@/daemon.wsgi"
SetEnvIf X-Group "^(one|two|three)$" PICKED=$1
<Location /pick>
    WSGIProcessGroup %{ENV:PICKED}
    WSGIApplicationGroup %{GLOBAL}
    WSGIRestrictProcess one two
</Location>
WSGIDaemonProcess three processes=1 threads=2
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    one = environ_of(srv, "/pick/environ", headers={"X-Group": "one"})
    two = environ_of(srv, "/pick/environ", headers={"X-Group": "two"})
    assert one["interp.process_group"] == "one"
    assert two["interp.process_group"] == "two"
    assert one["interp.pid"] != two["interp.pid"]
    r = srv.get("/pick/pid", headers={"X-Group": "three"})
    assert r.status_code == 403
    assert re.search(r"WSGI0510.*'three'", srv.wait_log("WSGI0510", mark=0))
    # No group picked: embedded, which the list does not allow either.
    assert srv.get("/pick/pid").status_code == 403


def test_restrict_process_needs_names(make_server):
    from harness import configtest
    rc, out = configtest('<Location /x>\nWSGIRestrictProcess %{ENV:X}\n</Location>\n',
                         VENVS[0])
    assert rc != 0
    assert "WSGIRestrictProcess" in out and "not a process group name" in out


@pytest.mark.allow_log("WSGI0738", "WSGI0739", "WSGI0732", "WSGI0703")
def test_deadlock_timeout_replaces_a_process_stuck_holding_the_gil(make_server):
    srv = make_server(daemon_conf("processes=1 threads=4 deadlock-timeout=2 "
                                  "shutdown-timeout=1"))
    old = int(srv.get("/d/pid").text)
    t0 = time.monotonic()
    code = get_status(srv, "/d/hold-gil?60")
    took = time.monotonic() - t0
    assert code == 502
    assert took < 15, took
    log = srv.wait_log("WSGI0739", mark=0)
    assert "WSGI0738" in log
    # The request in flight is named, with how long it had run.
    inflight = [x for x in log.splitlines() if "WSGI0739" in x]
    assert len(inflight) == 1, log
    assert re.search(r"was serving GET /d/hold-gil\?60 for \d+\.\d s",
                     inflight[0]), inflight[0]
    new = wait_new_pid(srv, old)
    assert new is not None and new != old


@pytest.mark.allow_log("WSGI0511")
def test_threads_0_is_a_service_group(scratch, make_server):
    # threads=0: the group's processes run their WSGIImportScript (here a
    # background thread writing a heartbeat file) and take no requests.
    state = scratch
    service = os.path.join(state, "service.py")
    beat = os.path.join(state, "heartbeat")
    with open(service, "w") as f:
        f.write("import os, threading, time\n"
                "def run():\n"
                "    while True:\n"
                "        with open(%r + '.tmp', 'w') as f:\n"
                "            f.write(str(os.getpid()))\n"
                "        os.rename(%r + '.tmp', %r)\n"
                "        time.sleep(0.2)\n"
                "threading.Thread(target=run, daemon=True).start()\n"
                % (beat, beat, beat))     # whole beats only (rename)
    os.chmod(service, 0o644)
    srv = make_server(DAEMON % "processes=1 threads=2"
                       + "WSGIDaemonProcess service threads=0\n"
                       + 'WSGIImportScript "%s" process-group=service '
                         'application-group=%%{GLOBAL}\n' % service
                       + 'WSGIScriptAlias /svc "@APPS@/daemon.wsgi" '
                         'process-group=service\n')
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not os.path.exists(beat):
        time.sleep(0.1)
    with open(beat) as f:
        pid = int(f.read())
    assert pid in srv.children()
    assert pid != int(srv.get("/d/pid").text)
    assert srv.get("/svc/pid").status_code == 503
    assert "WSGI0511" in srv.wait_log("WSGI0511", mark=0)


def test_large_bodies_pass_with_small_socket_buffers(make_server):
    # send-buffer-size/receive-buffer-size set the daemon socket's kernel
    # buffers; a large download still arrives whole through small ones.
    srv = make_server(daemon_conf("processes=1 threads=2 send-buffer-size=4096 "
                                  "receive-buffer-size=4096"))
    r = srv.get("/d/download?3000000")
    assert r.status_code == 200 and len(r.content) == 3000000
    data = os.urandom(2_000_000)
    r = srv.post("/d/sha256", data=data)
    assert r.text == "%d %s" % (len(data), hashlib.sha256(data).hexdigest())


def _wchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar in /proc/%d/io" % pid)


@pytest.mark.skipif(os.geteuid() != 0, reason="reads another user's /proc/PID/io")
@pytest.mark.parametrize("sendfile", ["Off", "On"])
def test_file_wrapper_passes_the_descriptor_not_the_bytes(scratch, make_server,
                                                          sendfile):
    # A real file from wsgi.file_wrapper crosses to the Apache child as a
    # descriptor (SCM_RIGHTS): the daemon writes a few frames, not 4 MiB.
    state = scratch
    path = os.path.join(state, "big.bin")
    data = os.urandom(4 * 1024 * 1024)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    srv = make_server(daemon_conf("processes=1 threads=2",
                                  "WSGIEnableSendfile %s\n" % sendfile))
    pid = int(srv.get("/d/pid").text)
    before = _wchar(pid)
    r = srv.get("/d/wrapfile?" + path)
    after = _wchar(pid)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
    assert after - before < 64 * 1024, after - before
    # Many in a row: no descriptor leaks in the Apache child or the daemon.
    for _ in range(30):
        assert len(srv.get("/d/wrapfile?" + path).content) == len(data)
    def open_fds():
        return sum(len(os.listdir("/proc/%d/fd" % c)) for c in srv.children())
    fds = open_fds()
    for _ in range(30):
        srv.get("/d/wrapfile?" + path)
    assert open_fds() <= fds + 4


@pytest.mark.allow_log("WSGI0506")
def test_startup_timeout_replaces_a_process_whose_script_keeps_failing(
        scratch, make_server):
    state = scratch
    script = os.path.join(state, "failing.wsgi")
    pidfile = os.path.join(state, "pid")
    with open(script, "w") as f:
        f.write("import os\nopen(%r, 'w').write(str(os.getpid()))\n"
                "raise RuntimeError('database not up yet')\n" % pidfile)
    os.chmod(script, 0o644)
    srv = make_server(DAEMON % "processes=1 threads=2 startup-timeout=1"
                      + 'WSGIScriptAlias /f "%s" process-group=demo\n'
                        '<Directory "%s">\n    Require all granted\n'
                        '</Directory>\n' % (script, state))
    assert srv.get("/f").status_code == 500
    first = int(open(pidfile).read())
    log = srv.wait_log(r"WSGI0731.*startup-timeout", timeout=15, mark=0)
    assert re.search(r"WSGI0731.*pid %d.*startup-timeout" % first, log)
    deadline = time.monotonic() + 15
    second = first
    while second == first and time.monotonic() < deadline:
        assert srv.get("/f").status_code == 500
        second = int(open(pidfile).read())
        time.sleep(0.2)
    assert second != first


def test_sigusr1_evicts_one_process_letting_its_request_finish(make_server,
                                                              scratch):
    srv = make_server(daemon_conf("processes=1 threads=2 eviction-timeout=10"))
    old = int(srv.get("/d/pid").text)
    marker = os.path.join(scratch, "in-the-app")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        slow = ex.submit(srv.get, "/d/marked-sleep?1.5:" + marker, timeout=30)
        # The signal once the request is in the application.
        deadline = time.monotonic() + 15
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(old, signal.SIGUSR1)
        r = slow.result()
    assert r.status_code == 200 and int(r.text) == old
    new = wait_new_pid(srv, old)
    assert new is not None and new != old
    assert re.search(r"WSGI0731.*pid %d.*evicted" % old, srv.log())


@pytest.mark.allow_log("WSGI0737", "WSGI0715", "WSGI0701", "WSGI0710")
def test_stop_is_prompt_while_a_request_waits_for_a_daemon(make_server):
    # A request waiting (connect-timeout=60) for a group that cannot start
    # must not hold its Apache child past the stop: no SIGKILL by Apache.
    srv = make_server(DAEMON % "processes=1 threads=2 connect-timeout=60"
                      + 'WSGIImportScript "@APPS@/exit_at_import.py" '
                        'process-group=demo application-group=%{GLOBAL}\n')
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        waiting = ex.submit(get_status, srv, "/d/pid")
        time.sleep(1.5)
        assert not waiting.done()
        took, left = srv.stop()
        assert took < 8, took
        assert left == []
        assert waiting.result() in (0, 503)
    assert not re.search(r"AH00046|SIGKILL", srv.log())
