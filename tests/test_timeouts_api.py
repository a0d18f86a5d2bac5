"""Upstream options and module API that were accepted but did nothing
(issue 11): interrupt-timeout with mod_wsgi.RequestTimeout,
response-socket-timeout, mod_wsgi.active_requests and request_data()."""

import json
import os
import shutil
import socket
import time

import pytest

from harness import write_file

APP = r'''
import json, os, threading, time
import mod_wsgi

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/spin":
        # Python code the whole time: RequestTimeout can get in.
        try:
            while True:
                time.sleep(0.01)
        except mod_wsgi.RequestTimeout as e:
            marker = environ["QUERY_STRING"]
            with open(marker + ".tmp", "w") as f:
                f.write("interrupted in %s: %r" % (
                    threading.current_thread().name, e))
            os.rename(marker + ".tmp", marker)
            raise
    elif path == "/stubborn":
        # Swallows the interrupt and goes on: the process must go.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except BaseException:
                pass
        body = b"never"
    elif path == "/api":
        data = mod_wsgi.request_data()
        data["mine"] = environ["mod_wsgi.request_id"]
        active = mod_wsgi.active_requests
        body = json.dumps({
            "is_base": issubclass(mod_wsgi.RequestTimeout, BaseException)
                       and not issubclass(mod_wsgi.RequestTimeout, Exception),
            "module": mod_wsgi.RequestTimeout.__module__,
            "id": environ["mod_wsgi.request_id"],
            "ids": list(active),
            "same": active.get(environ["mod_wsgi.request_id"]) is data,
        }).encode()
    elif path == "/after":
        body = json.dumps({
            "own": environ["mod_wsgi.request_id"] in mod_wsgi.active_requests,
            "ids": list(mod_wsgi.active_requests),
        }).encode()
    elif path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"x" * 65536 for _ in range(2000))     # 128 MiB
    else:
        body = b"?"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''


@pytest.fixture
def app_dir():
    from conftest import state_dir
    d = state_dir()
    write_file(os.path.join(d, "t.wsgi"), APP)
    # Files the app writes, as Apache's user.
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _server(make_server, d, options, mpm=None):
    return make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess t %s
WSGIScriptAlias /d "%s/t.wsgi" process-group=t application-group=%%{GLOBAL}
WSGIScriptAlias /s "%s/t.wsgi" process-group=t
WSGIScriptAlias /e "%s/t.wsgi"
<Directory "%s">
    Require all granted
</Directory>
""" % (options, d, d, d, d), mpm=mpm)


@pytest.mark.allow_log("WSGI0747", "WSGI0603", "WSGI0307")
@pytest.mark.parametrize("mount", ["/d", "/s"], ids=["global", "subinterp"])
def test_interrupt_timeout_raises_request_timeout_and_keeps_the_process(
        make_server, app_dir, mount):
    """request-timeout=1 interrupt-timeout=3: the stuck request's client
    gets its 504 at request-timeout, mod_wsgi.RequestTimeout is raised in
    its thread (the application sees it), and the process goes on, in the
    main interpreter and in a sub-interpreter."""
    srv = _server(make_server, app_dir,
                  "processes=1 threads=2 request-timeout=1 interrupt-timeout=3")
    pid = srv.get(mount + "/pid", timeout=30).text
    marker = os.path.join(app_dir, "interrupted")
    started = time.monotonic()
    r = srv.get(mount + "/spin?" + marker, timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 504
    assert took < 5, took
    deadline = time.monotonic() + 10
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(marker) as f:
        assert f.read().startswith("interrupted in ")
    srv.wait_log(r"WSGI0748: .*goes on")
    log = srv.log()
    assert "WSGI0747" in log and "mod_wsgi.RequestTimeout" in log
    assert "mod_wsgi.RequestTimeout" in log.split("WSGI0603", 1)[1], \
        "the application's traceback names the exception"
    assert "WSGI0730" not in log and "restarting this process" not in log
    # The same process serves on.
    assert srv.get(mount + "/pid", timeout=30).text == pid


@pytest.mark.allow_log("WSGI0747", "WSGI0730", "WSGI0732", "WSGI0307")
def test_interrupt_that_is_swallowed_replaces_the_process(make_server,
                                                           app_dir):
    """An application that catches BaseException and carries on: after
    interrupt-timeout the process is replaced, as without the option."""
    srv = _server(make_server, app_dir,
                  "processes=1 threads=2 request-timeout=1 interrupt-timeout=1 "
                  "shutdown-timeout=1")
    pid = srv.get("/d/pid", timeout=30).text
    assert srv.get("/d/stubborn", timeout=30).status_code == 504
    srv.wait_log(r"WSGI0730: .*interrupt-timeout=1s", timeout=15)
    deadline, new = time.monotonic() + 15, pid
    while new == pid and time.monotonic() < deadline:
        try:
            new = srv.get("/d/pid", timeout=10).text
        except Exception:
            pass
        time.sleep(0.1)
    assert new != pid


@pytest.mark.parametrize("mount", ["/d", "/e"], ids=["daemon", "embedded"])
def test_active_requests_and_request_data(make_server, app_dir, mount):
    """mod_wsgi.active_requests holds the request running (by its
    mod_wsgi.request_id, Apache's %L) with its request_data() dict, and
    forgets it once it ended; RequestTimeout is a BaseException of module
    mod_wsgi, in both modes."""
    srv = _server(make_server, app_dir, "processes=1 threads=2")
    d = json.loads(srv.get(mount + "/api", timeout=30).text)
    assert d["is_base"] is True
    assert d["module"] == "mod_wsgi"
    assert d["id"] and d["id"] in d["ids"]
    assert d["same"] is True
    # The first request is forgotten once it ended (its thread may still
    # be finishing it when the client already has the answer: asked
    # again for a bounded while).
    deadline = time.monotonic() + 10
    while True:
        after = json.loads(srv.get(mount + "/after", timeout=30).text)
        if d["id"] not in after["ids"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert after["own"] is True
    assert d["id"] not in after["ids"], after


def test_response_socket_timeout_frees_the_thread_of_a_client_that_stopped_reading(
        make_server, app_dir):
    """A client that asks for 128 MiB and reads nothing: with
    response-socket-timeout=2 the Apache child gives up on it after 2 s
    (not the server's Timeout of 20 s), and the only daemon thread
    serves the next request."""
    srv = _server(make_server, app_dir,
                  "processes=1 threads=1 response-socket-timeout=2")
    srv.get("/d/pid", timeout=30)
    s = socket.create_connection(("127.0.0.1", srv.port), 30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(b"GET /d/big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.5)             # the buffers fill; the app waits
        started = time.monotonic()
        r = srv.get("/d/pid", timeout=30)
        took = time.monotonic() - started
    finally:
        s.close()
    assert r.status_code == 200
    print("the next request waited %.2f s" % took)
    assert took < 10, took


def test_response_socket_timeout_and_interrupt_timeout_are_no_longer_notices(
        make_server, app_dir):
    srv = _server(make_server, app_dir,
                  "processes=1 threads=1 response-socket-timeout=5 "
                  "interrupt-timeout=5 response-buffer-size=1048576")
    assert srv.get("/d/pid", timeout=30).status_code == 200
    assert "WSGI0720" not in srv.log()
