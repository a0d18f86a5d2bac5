"""SetHandler wsgi-health: the URL a load balancer checks (issue 18,
docs/scale-out.md). 200 only while Apache is not stopping and every
daemon group checked has a process that said it is ready and is alive;
503 otherwise, with a JSON body per group; never app activity."""

import json
import os
import re
import signal
import socket
import time

import pytest

from common import APPS
from harness import write_file

HEALTH = """
WSGISocketPrefix "@ROOT@/wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
<Location /healthz>
    SetHandler wsgi-health
</Location>
"""

SLOW_START = """\
# Preloaded into a daemon process: it is ready only after this sleep, so
# a replacement's start is long enough for a check to see it.
import time
time.sleep(2)
"""


def health(srv, path="/healthz", method="GET"):
    import requests
    r = requests.request(method, srv.url(path), timeout=30)
    body = json.loads(r.text) if r.text else None
    return r.status_code, body


def wait_health(srv, want, timeout=20, path="/healthz"):
    """Polls the health URL (every 50 ms) until it answers `want`;
    returns (status, body) of the last answer."""
    deadline = time.monotonic() + timeout
    status, body = health(srv, path)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.05)
        status, body = health(srv, path)
    return status, body


def test_200_when_every_group_is_ready(make_server):
    """Two groups, both ready: 200 and each group's ready processes. The
    application mounted at / does not take the URL (the Location's
    SetHandler wins), HEAD and OPTIONS (HAProxy's default check) get the
    status too, a POST is refused."""
    srv = make_server(HEALTH + """
WSGIDaemonProcess one processes=2 threads=2
WSGIDaemonProcess two processes=1 threads=2
WSGIScriptAlias /two "@APPS@/daemon.wsgi" process-group=two application-group=%{GLOBAL}
WSGIScriptAlias / "@APPS@/daemon.wsgi" process-group=one application-group=%{GLOBAL}
""")
    status, body = wait_health(srv, 200)
    assert status == 200, body
    # 200 needs one ready process a group; the second of "one" may still
    # be starting (slowly, under ASan): wait for it, bounded.
    deadline = time.monotonic() + 20
    while body["groups"]["one"]["ready"] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, body = health(srv)
    assert body["status"] == "ok" and body["apache"] == "running"
    assert body["groups"]["one"]["ready"] == 2
    assert body["groups"]["one"]["processes"] == 2
    assert body["groups"]["two"]["ready"] == 1
    # The pids are the daemon processes the applications run in.
    assert int(srv.get("/two/pid").text) in body["groups"]["two"]["pids"]
    assert int(srv.get("/pid").text) in body["groups"]["one"]["pids"]
    r = srv.get("/healthz")
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    assert health(srv, method="HEAD") == (200, None)
    assert health(srv, method="OPTIONS")[0] == 200
    assert srv.post("/healthz", data=b"x").status_code == 405


def test_embedded_only_server_is_healthy(make_server):
    srv = make_server(HEALTH + 'WSGIScriptAlias /e "@APPS@/daemon.wsgi"\n')
    assert health(srv) == (200, {"status": "ok", "apache": "running",
                                 "groups": {}})


@pytest.mark.allow_log("WSGI0715")
def test_503_from_a_kill_until_the_replacement_is_ready(make_server,
                                                        scratch):
    """The group's only process is SIGKILLed: 503 at once (the check sees
    the pid gone before its supervisor has reaped it), for as long as
    the replacement takes to become ready (its preload sleeps 2 s), then
    200 with the new pid."""
    slow = write_file(os.path.join(scratch, "slow_start.py"), SLOW_START)
    srv = make_server(HEALTH + """
WSGIDaemonProcess demo processes=1 threads=2
WSGIScriptAlias /d "@APPS@/daemon.wsgi" process-group=demo application-group=%%{GLOBAL}
WSGIImportScript "%s" process-group=demo application-group=%%{GLOBAL}
""" % slow, start=False)
    srv.start(timeout=30)
    status, body = wait_health(srv, 200)
    assert status == 200, body
    old = body["groups"]["demo"]["pids"][0]
    srv.mark()
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    # kill(2) returns before the process is dead: within a second.
    status, body = wait_health(srv, 503, timeout=1)
    assert status == 503, body
    assert body["groups"]["demo"] == {"status": "down", "ready": 0,
                                      "processes": 1, "pids": []}
    assert body["status"] == "unavailable" and body["apache"] == "running"
    status, body = wait_health(srv, 200, timeout=30)
    took = time.monotonic() - t0
    assert status == 200, body
    new = body["groups"]["demo"]["pids"][0]
    assert new != old
    # Not before the new process was ready: its preload alone takes 2 s.
    assert took > 1.8, took
    assert int(srv.get("/d/pid").text) == new
    log = srv.wait_log("WSGI0802", mark=srv._mark)
    assert re.search(r"WSGI0801: wsgi-health: answering 503: a daemon "
                     r"group checked has no ready process", log), log
    assert "WSGI0802" in log


@pytest.mark.allow_log("WSGI0715", "WSGI0737", "WSGI0803")
def test_503_while_a_group_cannot_start(make_server):
    """A group whose processes die before they are ready (its preload
    exits) fails the check; WSGI_HEALTH_GROUPS narrows the check to the
    groups it names, and a name of no group fails it (WSGI0803)."""
    srv = make_server(HEALTH + """
WSGIDaemonProcess good processes=1 threads=2
WSGIDaemonProcess broken processes=2 threads=2
WSGIScriptAlias /good "@APPS@/daemon.wsgi" process-group=good application-group=%{GLOBAL}
WSGIScriptAlias /broken "@APPS@/daemon.wsgi" process-group=broken application-group=%{GLOBAL}
WSGIImportScript "@APPS@/exit_at_import.py" process-group=broken application-group=%{GLOBAL}
<Location /healthz-good>
    SetHandler wsgi-health
    SetEnv WSGI_HEALTH_GROUPS "good"
</Location>
<Location /healthz-typo>
    SetHandler wsgi-health
    SetEnv WSGI_HEALTH_GROUPS "good, nosuch"
</Location>
""")
    status, body = wait_health(srv, 200, path="/healthz-good")
    assert status == 200, body
    assert list(body["groups"]) == ["good"]
    # Over several seconds of restarts, never once ready.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status, body = health(srv)
        assert status == 503, body
        assert body["groups"]["broken"]["status"] == "down"
        assert body["groups"]["broken"]["ready"] == 0
        assert body["groups"]["good"]["status"] == "ok"
        time.sleep(0.2)
    status, body = health(srv, "/healthz-typo")
    assert status == 503
    assert body["groups"] == {"good": body["groups"]["good"],
                              "nosuch": {"status": "unknown"}}
    assert srv.count_log(r"WSGI0803: .*'nosuch'", 1, mark=0) == 1


@pytest.mark.allow_log("WSGI0750")
def test_503_from_a_child_whose_parent_was_killed(make_server):
    """SIGKILL to the Apache parent: its children go on serving on the
    listeners they inherited, but the host is lost (nothing replaces
    them, the daemon groups go with their supervisors). The check says
    so: 503, "orphaned"."""
    srv = make_server(HEALTH + """
WSGIDaemonProcess demo processes=1 threads=2
WSGIScriptAlias /d "@APPS@/daemon.wsgi" process-group=demo application-group=%{GLOBAL}
""")
    assert wait_health(srv, 200)[0] == 200
    srv.signal(signal.SIGKILL)
    srv.proc.wait(10)
    try:
        status, body = wait_health(srv, 503, timeout=10)
        assert status == 503, body
        assert body["apache"] == "orphaned"
        assert "WSGI0801: wsgi-health: answering 503: the Apache parent " \
            "of this process is gone" in srv.wait_log("WSGI0801", mark=0)
        # The application's requests are refused at once, not after
        # connect-timeout (15 s): no daemon process will come.
        start = time.monotonic()
        r = srv.get("/d/pid", timeout=30)
        assert r.status_code == 503 and time.monotonic() - start < 5
        assert "WSGI0750" in srv.wait_log("WSGI0750", mark=0)
    finally:
        # The orphans are this test's to end (by pid), not leftovers.
        for pid in srv.group_members():
            os.kill(pid, signal.SIGKILL)


def test_503_during_graceful_stop(make_server):
    """apachectl graceful-stop while a long request keeps the old child
    alive: a check that reaches that child (its request was being read
    when the stop came) answers 503 and closes the connection; the long
    request still completes."""
    srv = make_server(HEALTH + """
WSGIDaemonProcess demo processes=1 threads=4
WSGIScriptAlias / "@APPS@/daemon.wsgi" process-group=demo application-group=%{GLOBAL}
""")
    assert wait_health(srv, 200)[0] == 200
    slow = socket.create_connection(("127.0.0.1", srv.port), 30)
    check = socket.create_connection(("127.0.0.1", srv.port), 30)
    try:
        slow.sendall(b"GET /sleep?4 HTTP/1.1\r\nHost: t\r\n\r\n")
        check.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = check.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        # The next check is half sent: a worker is reading it when the
        # stop comes, and finishes it after.
        check.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.5)
        srv.mark()
        srv.signal(signal.SIGWINCH)
        # The parent's line (its AH code is the MPM's own).
        assert "caught SIGWINCH" in srv.wait_log("caught SIGWINCH")
        time.sleep(0.5)
        check.sendall(b"Host: t\r\n\r\n")
        answer = _read_to_close(check)
        head, _, text = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer
        assert b"Connection: close" in head, head
        body = json.loads(text)
        assert body["status"] == "unavailable"
        assert body["apache"] == "stopping"
        done = _read_to_close(slow)
        assert done.startswith(b"HTTP/1.1 200"), done
    finally:
        slow.close()
        check.close()
    srv.proc.wait(20)
    assert "WSGI0801: wsgi-health: answering 503: Apache is stopping" \
        in srv.log()


def _read_to_close(sock, limit=15):
    sock.settimeout(limit)
    chunks = []
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        # A keep-alive answer does not close: stop at a whole one.
        data = b"".join(chunks)
        head, sep, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: (\d+)", head)
        if sep and m and len(body) >= int(m.group(1)):
            return data


def test_checks_are_not_activity(make_server):
    """inactivity-timeout=2: requests to the application every 0.3 s keep
    the process (the control), checks every 0.3 s do not: it is replaced
    for inactivity while only the health URL is asked (the check never
    connects to a daemon)."""
    srv = make_server(HEALTH + """
WSGIDaemonProcess demo processes=1 threads=2 inactivity-timeout=2
WSGIScriptAlias /d "@APPS@/daemon.wsgi" process-group=demo application-group=%{GLOBAL}
""")
    pid = int(srv.get("/d/pid").text)
    end = time.monotonic() + 4
    while time.monotonic() < end:
        assert int(srv.get("/d/pid").text) == pid
        time.sleep(0.3)
    srv.mark()
    seen = set()
    end = time.monotonic() + 10
    while time.monotonic() < end and not (seen - {pid}):
        status, body = health(srv)
        seen.update(body["groups"]["demo"]["pids"])
        time.sleep(0.3)
    assert seen - {pid}, "the process was never replaced: %s" % seen
    assert re.search(r"WSGI0731.*inactivity-timeout",
                     srv.wait_log("WSGI0731")), srv.log_since_mark()
