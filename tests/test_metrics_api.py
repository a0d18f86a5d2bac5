"""mod_wsgi.server_metrics() (issue 11, upstream's API): Apache's
scoreboard as a dict, in embedded mode with WSGIServerMetrics On and in a
daemon group with server-metrics=On; None where not enabled. The daemon
processes of a first start are forked after the scoreboard exists, so
they see it too, and still do after a graceful restart."""

import os
import signal
import time

import pytest

from harness import write_file

APP = r'''
import json
import mod_wsgi

def application(environ, start_response):
    m = mod_wsgi.server_metrics()
    body = json.dumps(m).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


@pytest.fixture
def make_server(make_server_each_mpm):
    """Under each MPM (conftest)."""
    return make_server_each_mpm


@pytest.fixture
def app_dir(scratch):
    write_file(os.path.join(scratch, "m.wsgi"), APP)
    return scratch


def _server(make_server, d, embedded_on):
    # ExtendedStatus On: Apache fills a worker's client, request line and
    # vhost only then (mod_status turns it on; the test server has none).
    return make_server("""
ExtendedStatus On
WSGISocketPrefix "@ROOT@/wsgi"
%(directive)s
WSGIDaemonProcess on processes=1 threads=2 server-metrics=On
WSGIDaemonProcess off processes=1 threads=2
WSGIScriptAlias /on "%(d)s/m.wsgi" process-group=on
WSGIScriptAlias /off "%(d)s/m.wsgi" process-group=off
WSGIScriptAlias /e "%(d)s/m.wsgi"
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d, "directive": "WSGIServerMetrics On" if embedded_on else ""})


def _check(m, path):
    """The snapshot names this very request: an Apache child's worker is
    writing its response (status W) and shows its request line."""
    assert m is not None
    assert m["server_limit"] >= 1 and m["thread_limit"] >= 1
    assert len(m["processes"]) == m["server_limit"]
    assert all(len(p["workers"]) == m["thread_limit"] for p in m["processes"])
    assert 0 <= m["running_time"] < 600
    assert abs(m["current_time"] - time.time()) < 60
    mine = [w for p in m["processes"] for w in p["workers"]
            if w["status"] == "W" and w["request"].startswith("GET " + path)]
    assert mine, [w for p in m["processes"] for w in p["workers"] if w["status"] != "."]
    assert mine[0]["client"] == "127.0.0.1"
    assert any(p["pid"] > 0 for p in m["processes"])
    statuses = {w["status"] for p in m["processes"] for w in p["workers"]}
    assert statuses <= set("._SRWKLDCGI"), statuses


def test_server_metrics_in_both_modes_when_enabled(make_server, app_dir):
    srv = _server(make_server, app_dir, True)
    _check(srv.get("/e/x", timeout=30).json(), "/e/x")
    # A daemon of the first start: forked after the scoreboard was made.
    _check(srv.get("/on/x", timeout=30).json(), "/on/x")
    assert srv.get("/off/x", timeout=30).json() is None
    # After a graceful restart (SIGUSR1) and a hard one (SIGHUP) the new
    # daemons see it as well: Apache keeps the scoreboard across restarts
    # and they are forked in post_config then.
    for sig, path, generation in ((signal.SIGUSR1, "/on/y", 1),
                                  (signal.SIGHUP, "/on/z", 2)):
        before = srv.log_mark()
        srv.signal(sig)
        assert "resuming normal operations" in srv.wait_log(
            "resuming normal operations", timeout=30, mark=before)
        deadline = time.monotonic() + 30
        m = None
        while time.monotonic() < deadline:
            try:
                r = srv.get(path, timeout=30)
            except Exception:
                r = None
            if r is not None and r.status_code == 200 and r.json() is not None:
                m = r.json()
                break
            time.sleep(0.2)
        _check(m, path)
        assert m["running_generation"] >= generation


def test_server_metrics_is_none_unless_enabled(make_server, app_dir):
    srv = _server(make_server, app_dir, False)
    assert srv.get("/e/x", timeout=30).json() is None
    assert srv.get("/off/x", timeout=30).json() is None
    # No notice any more: the option is acted on.
    assert "WSGI0720" not in srv.log()
