"""Message codes of docs/error-codes.md that no other test produced
(issue 21): each made to happen the way a user would meet it, its line
asserted, and what the client gets."""

import os
import socket
import struct
import time

import pytest
import requests

from common import WIRE_VERSION
from harness import write_file
from test_daemon import daemon_conf

SHUTDOWN_APP = r'''
import atexit
import mod_wsgi

def failing_callback(event, **kw):
    raise RuntimeError("shutdown callback failing on purpose")

def failing_atexit():
    raise RuntimeError("atexit handler failing on purpose")

mod_wsgi.subscribe_shutdown(failing_callback)
atexit.register(failing_atexit)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"armed"]
'''


@pytest.mark.allow_log("WSGI0302", "Exception ignored in atexit callback")
@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_failing_shutdown_callback_and_atexit_are_logged(make_server,
                                                         scratch, mode):
    """WSGI0302: at the process's exit, a subscribe_shutdown callback that
    raises is logged with its traceback; an atexit handler that raises is
    reported by Python itself (WSGI0110 is for the whole run failing);
    the stop itself goes on."""
    write_file(os.path.join(scratch, "shutdown.wsgi"), SHUTDOWN_APP)
    group = "process-group=sd" if mode == "daemon" else ""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess sd processes=1 threads=2
WSGIScriptAlias /s "%s/shutdown.wsgi" %s application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, group, scratch))
    assert srv.get("/s").text == "armed"
    took, left = srv.stop()
    log = srv.log()
    assert "WSGI0302: shutdown callback" in log
    assert "RuntimeError: shutdown callback failing on purpose" in log
    assert "Exception ignored in atexit callback" in log
    assert "RuntimeError: atexit handler failing on purpose" in log
    assert not left


SHADOWING_APP = r'''
import sys, types

# A stand-in for mod_wsgi, as test suites install to run code outside
# Apache, left in place inside it.
sys.modules["mod_wsgi"] = types.ModuleType("mod_wsgi")

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shadowed"]
'''

MARKING_APP = r'''
import mod_wsgi

def mark(event, **kw):
    open(%r, "w").write("stopped " + kw["shutdown_reason"])

mod_wsgi.subscribe_shutdown(mark)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"marking"]
'''


@pytest.mark.allow_log("WSGI0107")
def test_shutdown_callbacks_that_cannot_be_called_at_all_are_logged(
        make_server, scratch):
    """WSGI0107: at the daemon process's exit, one interpreter's shutdown
    callbacks cannot be called as a whole (its application replaced
    sys.modules["mod_wsgi"] with a module of its own): the line names the
    interpreter and the traceback follows; the other interpreter of the
    process still runs its callbacks, and the stop goes on."""
    marker = os.path.join(scratch, "marked")
    write_file(os.path.join(scratch, "shadow.wsgi"), SHADOWING_APP)
    write_file(os.path.join(scratch, "mark.wsgi"), MARKING_APP % marker)
    os.chmod(scratch, 0o777)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess sd processes=1 threads=2
WSGIScriptAlias /shadow "%(d)s/shadow.wsgi" process-group=sd application-group=shadowing
WSGIScriptAlias /mark "%(d)s/mark.wsgi" process-group=sd application-group=marking
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch})
    assert srv.get("/shadow").text == "shadowed"
    assert srv.get("/mark").text == "marking"
    took, left = srv.stop()
    assert not left
    log = srv.log()
    line = [x for x in log.splitlines() if "WSGI0107" in x]
    assert len(line) == 1, line
    assert "shutdown callbacks of interpreter 'shadowing' failed" in line[0]
    assert "AttributeError" in log and "_process_stopping" in log
    with open(marker) as f:
        assert f.read() == "stopped shutdown_signal"


@pytest.mark.allow_log("WSGI0504")
def test_alias_to_a_directory_without_slash_is_403_naming_it(make_server,
                                                              scratch):
    """WSGI0504: an alias whose target is a directory (not ending in /,
    so not a directory of scripts) gets 403 and a line saying so."""
    srv = make_server("""
WSGIScriptAlias /dir "%s"
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch))
    srv.mark()
    assert srv.get("/dir").status_code == 403
    assert srv.count_log("WSGI0504", 1) == 1


@pytest.mark.allow_log("WSGI0706")
def test_no_head_within_socket_timeout_is_504(make_server):
    """WSGI0706: a daemon application that answers nothing within
    socket-timeout gets its client a 504, at that timeout."""
    srv = make_server(daemon_conf("processes=1 threads=2 socket-timeout=1"))
    srv.get("/d/pid", timeout=30)
    srv.mark()
    started = time.monotonic()
    r = srv.get("/d/sleep?4", timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 504
    assert took < 3.5, took
    assert srv.count_log("WSGI0706", 1) == 1


@pytest.mark.allow_log("WSGI0707", "WSGI0715")
def test_daemon_dying_mid_body_cuts_the_response_and_says_so(make_server):
    """WSGI0707: the daemon dies after the head and a block went out; the
    client's body is cut (no last chunk) and the line names the group."""
    srv = make_server(daemon_conf("processes=1 threads=2"))
    srv.get("/d/pid", timeout=30)
    srv.mark()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(srv.url("/d/die-midway"), timeout=30).content
    srv.wait_log("WSGI0707")
    assert "group 'demo'" in srv.log_since_mark().split("WSGI0707", 1)[1]


@pytest.mark.allow_log("WSGI0721", "WSGI0722")
def test_connections_that_send_no_or_half_a_request_frame(make_server):
    """WSGI0721 and WSGI0722: a connection to the daemon socket that
    closes without a request frame, and one that sends a frame head
    announcing more than it sends, are each dropped with a line; the
    group serves on."""
    srv = make_server(daemon_conf("processes=1 threads=2 socket-timeout=2"))
    srv.get("/d/pid", timeout=30)
    sock = [os.path.join(srv.root, f) for f in os.listdir(srv.root)
            if f.endswith(".sock")][0]
    srv.mark()
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.settimeout(10)
        s.shutdown(socket.SHUT_WR)          # nothing, then end of stream
        s.recv(100)                         # the daemon's HELLO
    srv.wait_log("WSGI0721")
    # A head that promises 1000 bytes of a REQUEST frame (type 1, this
    # wire version; see wsgi_proto.h), then 10 of them.
    head = b"WG" + bytes([WIRE_VERSION, 1]) + struct.pack(">I", 1000)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.settimeout(10)
        s.sendall(head + b"x" * 10)
        s.shutdown(socket.SHUT_WR)
        s.recv(100)
    srv.wait_log("WSGI0722")
    assert srv.get("/d/pid", timeout=30).status_code == 200


def _supervisors(srv):
    from harness import read_text
    return [p for p in srv.children()
            if "wsgi-supervisor" in read_text("/proc/%d/cmdline" % p)]


@pytest.mark.allow_log("WSGI0746")
def test_a_supervisor_killed_by_hand_is_replaced(make_server):
    """WSGI0746: a slot's supervisor that dies without being told to is
    logged and replaced; the group keeps serving."""
    import signal
    srv = make_server(daemon_conf("processes=1 threads=2"))
    srv.get("/d/pid", timeout=30)
    sups = _supervisors(srv)
    assert len(sups) == 1, sups
    srv.mark()
    os.kill(sups[0], signal.SIGKILL)
    srv.wait_log("WSGI0746")
    deadline, ok = time.monotonic() + 15, False
    while time.monotonic() < deadline and not ok:
        try:
            ok = srv.get("/d/pid", timeout=10).status_code == 200
        except requests.RequestException:
            time.sleep(0.1)
    assert ok
    new = _supervisors(srv)
    assert new and new != sups


@pytest.mark.allow_log("WSGI0716")
def test_socket_path_too_long_fails_start_naming_it(make_server):
    """WSGI0716: a WSGISocketPrefix that makes the UNIX socket path too
    long stops Apache from starting, with the fix in the message."""
    long_dir = "@ROOT@/" + "d" * 120
    srv = make_server("""
WSGISocketPrefix "%s/wsgi"
WSGIDaemonProcess g processes=1 threads=1
WSGIScriptAlias /d "@APPS@/daemon.wsgi" process-group=g
<Directory "@APPS@">
    Require all granted
</Directory>
""" % long_dir, start=False)
    os.makedirs(os.path.join(srv.root, "d" * 120), mode=0o755)
    with pytest.raises(Exception):
        srv.start(timeout=10)
    assert "WSGI0716" in srv.log() + srv.stdout()


@pytest.mark.allow_log("WSGI0108")
def test_stop_with_an_embedded_request_running_says_so(make_server):
    """WSGI0108: Apache stops while an embedded request still runs; the
    prefork child says it exits without it (and without atexit handlers).
    (A threaded MPM's child waits for its busy workers instead, as for
    any module's long request.)"""
    import threading
    srv = make_server(daemon_conf("processes=1 threads=2"), mpm="prefork")
    srv.get("/e/pid", timeout=30)
    outcome = []

    def client():
        try:
            outcome.append(requests.get(srv.url("/e/sleep?8"),
                                        timeout=30).status_code)
        except requests.RequestException as e:
            outcome.append(type(e).__name__)
    t = threading.Thread(target=client)
    t.start()
    time.sleep(1.0)             # the request is in the application
    srv.stop()
    t.join(30)
    assert "WSGI0108" in srv.log()
    assert "1 requests still running" in srv.log()
    # Its client sees the connection end without an answer.
    assert outcome == ["ConnectionError"], outcome


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a directory "
                    "Apache's user cannot enter")
@pytest.mark.allow_log("WSGI0713")
def test_home_the_group_cannot_enter_is_logged_and_it_serves_on(
        make_server, scratch):
    """WSGI0713: home= names a directory the group's user cannot enter;
    the daemon says so and serves from where it is."""
    locked = os.path.join(scratch, "locked")
    os.makedirs(locked)
    os.chmod(locked, 0o700)             # root's only
    srv = make_server(daemon_conf("processes=1 threads=2 home=%s" % locked))
    assert srv.get("/d/pid", timeout=30).status_code == 200
    srv.wait_log("WSGI0713")
    assert "home=%s" % locked in srv.log()


@pytest.mark.allow_log("WSGI0101", "WSGI0104")
def test_python_that_cannot_start_is_500_with_the_reason(make_server,
                                                         scratch):
    """WSGI0101 and WSGI0104: a WSGIPythonHome that looks like a Python
    prefix (lib/pythonX.Y is there, so configtest passes) but has no
    standard library: Python fails to start in Apache's child, which says
    so once (crit), and each request for an application gets 500 naming
    the cause."""
    import sys
    home = os.path.join(scratch, "hollow")
    os.makedirs(os.path.join(home, "lib", "python%d.%d" % sys.version_info[:2]))
    for d in (home, os.path.join(home, "lib")):
        os.chmod(d, 0o755)
    srv = make_server("""
WSGIScriptAlias /app "@APPS@/environ.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
""", python_home=home)
    r = srv.get("/app")
    assert r.status_code == 500
    log = srv.wait_log("WSGI0104")
    assert "WSGI0101: Python" in log and "failed to initialise" in log
    assert "WSGI0104: Python is not available" in log


@pytest.mark.allow_log("WSGI0501")
def test_script_alias_match_substitution_too_long(make_server):
    """WSGI0501: a WSGIScriptAliasMatch target whose $N substitution grows
    past Apache's limit for one (AP_PREGSUB_MAXLEN, 64 KiB) fails that
    request with 500 and the line naming the target, instead of a cut
    path."""
    srv = make_server("""
WSGIScriptAliasMatch "^/m/(.*)$" "@APPS@/$1$1$1$1$1$1$1$1$1$1.wsgi"
WSGIScriptAliasMatch "^/n/([a-z]+)$" "@APPS@/$1.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    r = srv.get("/m/" + "a" * 8000)     # ten times: 80 KB
    assert r.status_code == 500
    log = srv.wait_log("WSGI0501")
    assert "WSGI0501: WSGIScriptAliasMatch substitution of" in log
    # An ordinary substitution still maps.
    assert srv.get("/n/environ").status_code == 200


UNFORMATTABLE_APP = r'''
import sys

def application(environ, start_response):
    # The traceback module the error log uses is gone (an application
    # that replaced it): only the exception's type can be logged.
    sys.modules["traceback"] = None
    raise LookupError("raised where no traceback can be made")
'''


@pytest.mark.allow_log("WSGI0201", "WSGI0603")
@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_an_unformattable_exception_logs_its_type(make_server, scratch,
                                                  mode):
    write_file(os.path.join(scratch, "u.wsgi"), UNFORMATTABLE_APP)
    group = "process-group=u" if mode == "daemon" else ""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess u processes=1 threads=2
WSGIScriptAlias /u "%s/u.wsgi" %s
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, group, scratch))
    assert srv.get("/u").status_code == 500
    log = srv.wait_log("WSGI0201")
    line = [x for x in log.splitlines() if "WSGI0201" in x][0]
    assert "(traceback unavailable) LookupError" in line, log
