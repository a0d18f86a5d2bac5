"""Request events and the per-process metrics of upstream's API (issue
13): mod_wsgi.subscribe_events() gets request_started (whose subscriber
may wrap the application), response_started, request_exception and
request_finished with upstream's fields; start_recording_metrics(),
request_metrics() (a window, drained by each call) and process_metrics()
add the requests up. Both modes; in embedded mode one keep-alive
connection keeps every request in one Apache child."""

import os
import time

import pytest
import requests

from harness import write_file

APP = r'''
import json, os, threading, time
import mod_wsgi

EVENTS = []
LOCK = threading.Lock()
mod_wsgi.start_recording_metrics()
mod_wsgi.start_recording_metrics()      # idempotent

def wrapper(app):
    def wrapped(environ, start_response):
        environ["test.wrapped"] = True
        return app(environ, start_response)
    return wrapped

@mod_wsgi.subscribe_events
def record(name, **event):
    if name == "request_started":
        event["request_data"]["seen"] = "started"
        keep = {"name": name, "request_id": event.get("request_id"),
                "keys": sorted(event)}
        with LOCK:
            EVENTS.append(keep)
        return {"application_object": wrapper(event["application_object"])}
    keep = {k: v for k, v in event.items()
            if isinstance(v, (int, float, str, type(None)))}
    keep["name"] = name
    if name == "request_exception":
        keep["exc"] = repr(event["exception_info"][1])
    if name == "response_started":
        keep["headers"] = [list(h) for h in event["response_headers"]]
    with LOCK:
        EVENTS.append(keep)

@mod_wsgi.subscribe_events
def flaky(name, **event):
    if name == "response_started" and event["request_data"].get("bad"):
        raise RuntimeError("subscriber fails on purpose")

def application(environ, start_response):
    path = environ["PATH_INFO"]
    data = mod_wsgi.request_data()
    out = {"pid": os.getpid(), "wrapped": environ.get("test.wrapped"),
           "seen": data.get("seen"), "id": environ.get("mod_wsgi.request_id")}
    if path == "/events":
        with LOCK:
            out["events"] = list(EVENTS)
    elif path == "/metrics":
        out["request"] = mod_wsgi.request_metrics()
        out["process"] = mod_wsgi.process_metrics()
    elif path == "/raise":
        raise ValueError("boom")
    elif path == "/post":
        out["length"] = len(environ["wsgi.input"].read())
    elif path == "/work":
        time.sleep(0.05)
        end = time.process_time() + 0.03
        while time.process_time() < end:
            pass
    elif path == "/badsub":
        data["bad"] = True
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Test", "yes")])
    return [body]
'''


SETTLE = 0.3


@pytest.fixture
def make_server(make_server_each_mpm):
    return make_server_each_mpm


def _server(make_server, d, mode):
    group = "process-group=ev" if mode == "daemon" else ""
    # Prefork closes the connection after the 500 of /raise: one child
    # only, so that the next connection reaches the same one.
    return make_server("""
<IfModule mpm_prefork_module>
    StartServers 1
    MinSpareServers 1
    MaxSpareServers 1
    MaxRequestWorkers 1
</IfModule>
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess ev processes=1 threads=2
WSGIScriptAlias / "%(d)s/ev.wsgi" %(g)s application-group=%%{GLOBAL}
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d, "g": group})


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.allow_log("ValueError: boom", "WSGI0603", "WSGI0305", "AH00161",
                       "subscriber fails on purpose", "Traceback",
                       r"^\s+File ", r"^\s+raise ", r"^\s+\^+$",
                       r"^\s+more = callback", r"^\s+return app\(")
def test_events_and_metrics(make_server, scratch, mode):
    write_file(os.path.join(scratch, "ev.wsgi"), APP)
    srv = _server(make_server, scratch, mode)
    url = "http://127.0.0.1:%d" % srv.port
    # A request is added up (and its request_finished fires) just after
    # its response went out: the client may be quicker. SETTLE is longer
    # than that, so that each drain below sees whole requests only.
    with requests.Session() as s:
        # Drains what came before (the harness's own first request), then
        # a window holding only that first /metrics.
        s.get(url + "/metrics", timeout=30)
        time.sleep(SETTLE)
        s.get(url + "/metrics", timeout=30)
        first = s.get(url + "/work", timeout=30).json()
        # request_started's subscriber wrapped the application and wrote
        # into the request's scratchpad.
        assert first["wrapped"] is True and first["seen"] == "started"
        posted = s.post(url + "/post", data=b"x" * 100000, timeout=30).json()
        assert posted["length"] == 100000
        assert s.get(url + "/raise", timeout=30).status_code == 500
        # A failing subscriber is logged; the request goes on.
        bad = s.get(url + "/badsub", timeout=30)
        assert bad.status_code == 200
        time.sleep(SETTLE)
        got = s.get(url + "/events", timeout=30).json()
        time.sleep(SETTLE)
        metrics = s.get(url + "/metrics", timeout=30).json()
        time.sleep(SETTLE)
        again = s.get(url + "/metrics", timeout=30).json()
    pids = {first["pid"], posted["pid"], got["pid"], metrics["pid"]}
    assert len(pids) == 1, "one keep-alive connection, one process"
    # This test's requests only (the harness asked for / first).
    ids = {first["id"], posted["id"], bad.json()["id"]}
    events = [e for e in got["events"] if e.get("request_id") in ids
              or e["name"] == "request_exception"
              or (e["name"] == "request_finished" and e["status"] == 500)]
    names = [e["name"] for e in events]

    started = [e for e in events if e["name"] == "request_started"]
    assert {"request_id", "thread_id", "request_data", "request_environ",
            "application_object", "server_pid", "request_start",
            "queue_start", "daemon_start", "application_start",
            "daemon_connects", "daemon_restarts"} <= set(started[0]["keys"])
    assert started[0]["request_id"] == first["id"]

    finished = [e for e in events if e["name"] == "request_finished"]
    assert len(finished) == 4           # /work /post /raise /badsub
    work, post, failed, _ = finished
    assert work["request_id"] == first["id"] and work["status"] == 200
    assert work["application_time"] >= 0.05
    assert work["cpu_time"] >= 0.02
    assert work["thread_id"] >= 1
    assert work["output_length"] > 0 and work["output_writes"] >= 1
    assert post["input_length"] == 100000 and post["input_reads"] >= 1
    assert failed["status"] == 500
    if mode == "daemon":
        assert work["queue_start"] > 0 and work["server_pid"] != first["pid"]
    else:
        assert work["queue_start"] == 0 and work["server_pid"] == first["pid"]
    for e in finished:
        assert e["request_start"] <= e["application_start"] <= e[
            "application_finish"]

    exceptions = [e for e in events if e["name"] == "request_exception"]
    assert [e["exc"] for e in exceptions] == ["ValueError('boom')"]
    responses = [e for e in events if e["name"] == "response_started"]
    assert responses[0]["response_status"] == "200 OK"
    assert ["X-Test", "yes"] in responses[0]["headers"]
    assert names.index("request_exception") < names.index(
        "request_finished", names.index("request_exception"))

    rm = metrics["request"]
    # Since the second /metrics drained the window: itself (it ended
    # after the drain), /work, /post, /raise, /badsub and /events.
    assert rm["request_count"] == 6
    assert rm["status_2xx"] == 5 and rm["status_5xx"] == 1
    assert sum(rm["status_%dxx" % i] for i in range(1, 6)) == 6
    assert rm["input_bytes"] == 100000
    assert rm["output_bytes"] > 0 and rm["output_writes"] >= 5
    assert len(rm["application_time_buckets"]) == 65
    assert sum(rm["application_time_buckets"]) == 6
    assert rm["application_time_max_us"] >= 50000
    assert rm["pid"] == metrics["pid"]
    threads = 2 if mode == "daemon" else rm["request_threads_maximum"]
    assert rm["request_threads_maximum"] == threads
    assert len(rm["request_threads_completed"]) == threads
    assert sum(rm["request_threads_completed"]) == 6
    assert 0 < rm["capacity_utilization"] <= 1
    if mode == "daemon":
        assert rm["queue_time"] is not None and rm["daemon_time"] > 0
    else:
        assert rm["queue_time"] is None and rm["queue_time_min_us"] is None
    # The call drained the window: the next one saw only the first call.
    assert again["request"]["request_count"] == 1
    pm = again["process"]
    assert pm["pid"] == metrics["pid"] and pm["request_count"] >= 6
    assert pm["active_requests"] == 1           # the /metrics request
    assert pm["memory_rss"] > 0 and pm["cpu_time"] > 0
    assert len(pm["threads"]) == threads


def test_metrics_are_none_until_recording(make_server, scratch):
    write_file(os.path.join(scratch, "m.wsgi"), r'''
import json, mod_wsgi
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps([mod_wsgi.request_metrics(),
                        mod_wsgi.process_metrics()]).encode()]
''')
    srv = make_server("""
WSGIScriptAlias / "%s/m.wsgi"
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch))
    assert srv.get("/").json() == [None, None]
