"""SetHandler wsgi-metrics (issue 13): the whole server's figures in the
Prometheus text format, read here with prometheus_client's own parser:
requests by status class, the latency histogram of each phase, busy and
idle threads, restarts by reason and the memory and CPU of each process,
for every daemon group and for Apache's own processes (embedded mode),
whichever child answers the scrape."""

import os
import signal
import time

import pytest
import requests

from harness import write_file

prometheus = pytest.importorskip(
    "prometheus_client.parser",
    reason="prometheus_client is in tests/requirements.txt")

APP = r'''
import time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(0.3)
    status = "404 Not Found" if path == "/missing" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def _server(make_server, d, mpm=None):
    return make_server("""
WSGISlowRequests 0.1
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess "one" processes=2 threads=3
WSGIDaemonProcess two processes=1 threads=2 maximum-requests=2
WSGIScriptAlias /one "%(d)s/p.wsgi" process-group=one
WSGIScriptAlias /two "%(d)s/p.wsgi" process-group=two
WSGIScriptAlias /emb "%(d)s/p.wsgi"
<Directory "%(d)s">
    Require all granted
</Directory>
<Location "/metrics">
    SetHandler wsgi-metrics
    Require ip 127.0.0.1
</Location>
""" % {"d": d}, mpm=mpm)


def _scrape(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in
                prometheus.text_string_to_metric_families(r.text)}
    return families


def _sample(families, name, **labels):
    family = name
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if name.endswith(suffix) and name[:-len(suffix)] in families:
            family = name[:-len(suffix)]
    values = [s.value for s in families[family].samples if s.name == name
              and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(values) == 1, (name, labels, values)
    return values[0]


@pytest.mark.parametrize("mpm", ["event", "prefork"])
@pytest.mark.allow_log("WSGI0306")
def test_wsgi_metrics_page(make_server, scratch, mpm):
    write_file(os.path.join(scratch, "p.wsgi"), APP)
    srv = _server(make_server, scratch, mpm)
    for _ in range(3):
        assert srv.get("/one/x").status_code == 200
    assert srv.get("/one/missing").status_code == 404
    assert srv.get("/one/slow").status_code == 200
    assert srv.get("/emb/x").status_code == 200
    assert srv.get("/emb/slow").status_code == 200
    # maximum-requests=2: the third request to "two" recycles its process.
    for _ in range(3):
        assert srv.get("/two/x").status_code == 200
    time.sleep(0.5)
    m = _scrape(srv)

    assert _sample(m, "mod_wsgi_requests_total", group="one",
                   status="2xx") == 4
    assert _sample(m, "mod_wsgi_requests_total", group="one",
                   status="4xx") == 1
    assert _sample(m, "mod_wsgi_requests_total", group="(embedded)",
                   status="2xx") >= 1
    assert _sample(m, "mod_wsgi_request_duration_seconds_count",
                   group="one", phase="application") == 5
    # The slow request is above 0.25 s, the others below.
    assert _sample(m, "mod_wsgi_request_duration_seconds_bucket",
                   group="one", phase="application", le="0.25") == 4
    assert _sample(m, "mod_wsgi_request_duration_seconds_bucket",
                   group="one", phase="application", le="0.5") == 5
    assert _sample(m, "mod_wsgi_request_duration_seconds_sum", group="one",
                   phase="application") >= 0.3
    assert _sample(m, "mod_wsgi_request_duration_seconds_count",
                   group="one", phase="queue") == 5
    assert not [s for s in m["mod_wsgi_request_duration_seconds"].samples
                if s.labels["group"] == "(embedded)"
                and s.labels["phase"] == "queue"]
    # Past WSGISlowRequests 0.1: one in "one", one in embedded mode,
    # each logged once.
    assert _sample(m, "mod_wsgi_slow_requests_total", group="one") == 1
    assert _sample(m, "mod_wsgi_slow_requests_total",
                   group="(embedded)") == 1
    assert _sample(m, "mod_wsgi_slow_requests_total", group="two") == 0
    assert srv.error_log().count("WSGI0306") == 2
    # Capacity: 2 processes x 3 threads, none busy now.
    assert _sample(m, "mod_wsgi_threads", group="one", state="idle") == 6
    assert _sample(m, "mod_wsgi_threads", group="one", state="busy") == 0
    assert _sample(m, "mod_wsgi_process_restarts_total", group="two",
                   reason="maximum_requests") >= 1
    # Memory and CPU of every process: both of "one", the embedded ones.
    one = [s for s in m["mod_wsgi_process_resident_memory_bytes"].samples
           if s.labels["group"] == "one"]
    assert len({s.labels["pid"] for s in one}) == 2
    assert all(s.value > 1e6 for s in one)
    assert [s for s in m["mod_wsgi_process_cpu_seconds"].samples
            if s.labels["group"] == "(embedded)"]


@pytest.mark.allow_log("WSGI0715", "exit signal Killed")
def test_a_killed_daemon_counts_as_crashed(make_server, scratch):
    write_file(os.path.join(scratch, "p.wsgi"), APP)
    srv = _server(make_server, scratch)
    assert srv.get("/one/x").status_code == 200
    pids = [s.labels["pid"] for s in
            _scrape(srv)["mod_wsgi_process_resident_memory_bytes"].samples
            if s.labels["group"] == "one"]
    os.kill(int(pids[0]), signal.SIGKILL)
    deadline = time.monotonic() + 15
    crashed = 0
    while time.monotonic() < deadline and not crashed:
        time.sleep(0.2)
        crashed = _sample(_scrape(srv), "mod_wsgi_process_restarts_total",
                          group="one", reason="crashed")
    assert crashed == 1
    # The counters go on: the group's row outlives its processes.
    assert _sample(_scrape(srv), "mod_wsgi_requests_total", group="one",
                   status="2xx") == 1
