"""Requests that run long, explained (issue 13): WSGISlowRequests logs a
request still running past the threshold once, with its URL and its
thread's Python stack (both modes); when request-timeout fires in a daemon
process, the Python stack of every thread of that process is logged, each
with the request it serves and for how long, before the process is
replaced."""

import os
import threading
import time

import pytest

from harness import write_file

APP = r'''
import time

def sleepy_function(seconds):
    time.sleep(seconds)

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/sleep/"):
        sleepy_function(float(path.split("/")[-1]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
'''


@pytest.fixture
def app_dir(scratch):
    write_file(os.path.join(scratch, "s.wsgi"), APP)
    return scratch


def _lines_after(log, code):
    """The message with code and the lines that follow it from the same
    thread ([pid:tid])."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if code in line:
            who = line[line.index("[pid "):].split("]")[0]
            return [line] + [l for l in lines[i + 1:] if who in l]
    return []


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.allow_log("WSGI0306")
def test_slow_request_logged_once_with_its_stack(make_server, app_dir, mode):
    group = "process-group=slow" if mode == "daemon" else ""
    srv = make_server("""
WSGISlowRequests 0.5
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess slow processes=1 threads=2
WSGIScriptAlias / "%s/s.wsgi" %s
<Directory "%s">
    Require all granted
</Directory>
""" % (app_dir, group, app_dir))
    assert srv.get("/sleep/0.05").text == "done"     # fast: not logged
    assert srv.get("/sleep/2?x=1", timeout=30).text == "done"
    log = srv.wait_log("WSGI0306")
    assert log.count("WSGI0306") == 1, log
    message = _lines_after(log, "WSGI0306")
    assert "GET /sleep/2?x=1 has run for" in message[0]
    assert "WSGISlowRequests 0.5" in message[0]
    text = "\n".join(message)
    assert "in sleepy_function" in text and "time.sleep(seconds)" in text
    assert "/sleep/0.05" not in log


@pytest.mark.allow_log("WSGI0730", "WSGI0307", "WSGI0731", "WSGI0732")
def test_request_timeout_logs_every_threads_stack(make_server, app_dir):
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess stuck processes=1 threads=3 request-timeout=1 \
    shutdown-timeout=2
WSGIScriptAlias / "%s/s.wsgi" process-group=stuck
<Directory "%s">
    Require all granted
</Directory>
""" % (app_dir, app_dir))
    answers = {}

    def ask(path):
        answers[path] = srv.get(path, timeout=30).status_code

    other = threading.Thread(target=ask, args=("/sleep/1.5",))
    other.start()
    time.sleep(0.2)
    ask("/sleep/8")
    other.join(30)
    assert answers["/sleep/8"] == 504
    log = srv.wait_log("Thread ", mark=0)
    deadline = time.monotonic() + 10
    while "sleepy_function" not in log and time.monotonic() < deadline:
        time.sleep(0.2)
        log = srv.error_log()
    message = _lines_after(log, "WSGI0307")
    assert message, log
    assert "request-timeout=1s fired" in message[0]
    text = "\n".join(message)
    assert "serving GET /sleep/8 for" in text
    assert "(past request-timeout)" in text
    assert "in sleepy_function" in text
