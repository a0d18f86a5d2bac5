"""mod_wsgi.subscribe_signals (issue 11, upstream 6): SIGHUP and SIGUSR2
sent to a daemon process reach the callbacks its application subscribed,
on a thread of their own, and the process goes on; without a subscriber
SIGHUP stops the process (it is replaced) and SIGUSR2 is ignored; in
embedded mode the call is refused with WSGI0303. Apache stopping or
restarting still stops daemons that subscribed."""

import os
import re
import signal
import time

import pytest

from harness import write_file

APP = r'''
import os, threading
import mod_wsgi

LOG = os.path.join(os.path.dirname(__file__), "signals.log")

def record(name, **event):
    with open(LOG, "a") as f:
        f.write("%d %s %s %d %s %s\n" % (
            os.getpid(), mod_wsgi.application_group or "GLOBAL", name,
            event["signal"], event["signal_name"],
            threading.current_thread() is threading.main_thread()))

def broken(name, **event):
    raise RuntimeError("callback failed on purpose")

if mod_wsgi.process_group:
    assert mod_wsgi.subscribe_signals(broken) is broken
    mod_wsgi.subscribe_signals(record)
else:
    # Embedded: refused (logged), the callback comes back all the same.
    assert mod_wsgi.subscribe_signals(record) is record

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

PLAIN = r'''
import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


@pytest.fixture
def make_server(make_server_each_mpm):
    """Under each MPM (conftest)."""
    return make_server_each_mpm


@pytest.fixture
def app_dir(scratch):
    write_file(os.path.join(scratch, "t.wsgi"), APP)
    write_file(os.path.join(scratch, "plain.wsgi"), PLAIN)
    return scratch


def _server(make_server, d):
    return make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess t processes=1 threads=2
WSGIDaemonProcess plain processes=1 threads=2
WSGIScriptAlias /d "%(d)s/t.wsgi" process-group=t application-group=%%{GLOBAL}
WSGIScriptAlias /s "%(d)s/t.wsgi" process-group=t
WSGIScriptAlias /p "%(d)s/plain.wsgi" process-group=plain
WSGIScriptAlias /e "%(d)s/t.wsgi"
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d})


def _lines(path, want, timeout=15):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()
            if len(lines) >= want:
                return lines
        time.sleep(0.05)
    return lines


@pytest.mark.allow_log("WSGI0304")
def test_sighup_and_sigusr2_reach_the_subscribers_and_the_process_goes_on(
        make_server, app_dir):
    srv = _server(make_server, app_dir)
    pid = int(srv.get("/d", timeout=30).text)
    # The sub-interpreter's copy of the script subscribes too.
    assert int(srv.get("/s", timeout=30).text) == pid
    log = os.path.join(app_dir, "signals.log")
    os.kill(pid, signal.SIGUSR2)
    lines = _lines(log, 2)
    os.kill(pid, signal.SIGHUP)
    lines = _lines(log, 4)
    seen = sorted(tuple(line.split()[1:5]) for line in lines)
    usr2, hup = str(int(signal.SIGUSR2)), str(int(signal.SIGHUP))
    assert len(lines) == 4, lines
    groups = {s[0] for s in seen}
    assert len(groups) == 2 and "GLOBAL" in groups, seen
    assert [g for g in groups if g != "GLOBAL"][0].endswith("|/s"), seen
    assert sorted(s[1:] for s in seen) == sorted(
        [("process_signal", usr2, "SIGUSR2"), ("process_signal", hup, "SIGHUP")] * 2)
    # Not on the process's main thread (the monitor's): a thread of its
    # own; and always in the process signalled.
    assert all(line.split()[0] == str(pid) and line.endswith("False") for line in lines)
    # The raising callback is logged with its traceback; the others ran.
    text = srv.wait_log(r"WSGI0304: signal callback .*broken", mark=0)
    assert re.search(r"WSGI0304: signal callback .*broken", text)
    assert "callback failed on purpose" in text
    # Neither signal stopped the process.
    assert int(srv.get("/d", timeout=30).text) == pid
    assert "restarting this process" not in srv.log()


def test_without_a_subscriber_sigusr2_is_ignored_and_sighup_replaces_the_process(
        make_server, app_dir):
    srv = _server(make_server, app_dir)
    pid = int(srv.get("/p", timeout=30).text)
    os.kill(pid, signal.SIGUSR2)
    time.sleep(0.5)
    assert int(srv.get("/p", timeout=30).text) == pid, "SIGUSR2 must not kill it"
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    new = pid
    while new == pid and time.monotonic() < deadline:
        time.sleep(0.1)
        r = srv.get("/p", timeout=30)
        new = int(r.text) if r.status_code == 200 else pid
    assert new != pid, "SIGHUP without a subscriber stops the process"
    assert new in srv.children()


@pytest.mark.allow_log("WSGI0303")
def test_embedded_subscription_is_refused_with_a_warning(make_server, app_dir):
    srv = _server(make_server, app_dir)
    r = srv.get("/e", timeout=30)
    assert r.status_code == 200
    assert int(r.text) not in (int(srv.get("/d", timeout=30).text),)
    pattern = r"WSGI0303: mod_wsgi.subscribe_signals\(.*\) ignored: .*daemon mode only"
    assert re.search(pattern, srv.wait_log(pattern, mark=0))


def test_apache_restart_and_stop_still_stop_subscribed_daemons(make_server,
                                                               app_dir):
    """The supervisor passes a stop on as SIGTERM whatever it got: a
    daemon whose application takes SIGHUP still goes when Apache restarts
    (SIGHUP to the parent) and when it stops."""
    srv = _server(make_server, app_dir)
    pid = int(srv.get("/d", timeout=30).text)
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    new = pid
    while new == pid and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            r = srv.get("/d", timeout=10)
            new = int(r.text) if r.status_code == 200 else pid
        except Exception:
            pass
    assert new != pid, "a restart replaces the daemon process"
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists("/proc/%d" % pid), "the old daemon is gone"
    took, left = srv.stop()
    assert not left, srv.left_behind
