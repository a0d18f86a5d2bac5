"""Where and at which level the application's output is logged (issue
13): mod_wsgi.LogHandler keeps a Python logging record's level;
`LogLevel wsgi:LEVEL` filters the module's lines and the application's
alike; every line of a traceback (and of any output of several lines)
(each line the application writes, in fact) carries the request's log id,
so that grep finds the whole story among other threads' lines. Both
modes."""

import os
import re

import pytest
import requests

from common import unique
from harness import write_file

APP = r'''
import logging, sys
import mod_wsgi

log = logging.getLogger("probe")
log.setLevel(logging.DEBUG)
log.propagate = False
handler = mod_wsgi.LogHandler()
handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
log.addHandler(handler)

def application(environ, start_response):
    tag = environ["QUERY_STRING"]
    path = environ["PATH_INFO"]
    if path == "/log":
        log.debug("debug-record %s", tag)
        log.info("info-record %s", tag)
        log.warning("warning-record %s", tag)
        log.error("error-record %s", tag)
        log.critical("critical-record %s", tag)
    elif path == "/raise":
        def deeper():
            raise RuntimeError("boom %s" % tag)
        deeper()
    elif path == "/multi":
        print("first %s\nsecond %s\nthird %s" % (tag, tag, tag))
        sys.stdout.flush()
    body = environ["mod_wsgi.request_id"].encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''


def _server(make_server, d, mode, level):
    group = "process-group=lv" if mode == "daemon" else ""
    return make_server("""
LogLevel %(level)s
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess lv processes=1 threads=2
WSGIScriptAlias / "%(d)s/lv.wsgi" %(g)s application-group=%%{GLOBAL}
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d, "g": group, "level": level})


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.allow_log("warning-record", "error-record", "critical-record")
def test_log_handler_keeps_the_record_level(make_server, scratch, mode):
    write_file(os.path.join(scratch, "lv.wsgi"), APP)
    srv = _server(make_server, scratch, mode, "info wsgi:debug")
    tag = unique("lv")
    assert srv.get("/log?" + tag).status_code == 200
    log = srv.wait_log("critical-record " + tag)
    for name, level in (("debug", "debug"), ("info", "info"),
                        ("warning", "warn"), ("error", "error"),
                        ("critical", "crit")):
        lines = [l for l in log.splitlines()
                 if "probe %s-record %s" % (name, tag) in l]
        assert len(lines) == 1, (name, lines)
        assert "[wsgi:%s]" % level in lines[0], lines[0]
        # With the client of the request that logged it.
        assert "[client 127.0.0.1:" in lines[0]


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.allow_log("error-record", "critical-record")
def test_loglevel_wsgi_filters(make_server, scratch, mode):
    write_file(os.path.join(scratch, "lv.wsgi"), APP)
    srv = _server(make_server, scratch, mode, "info wsgi:error")
    tag = unique("lf")
    assert srv.get("/log?" + tag).status_code == 200
    log = srv.wait_log("critical-record " + tag)
    assert "error-record " + tag in log
    for name in ("debug", "info", "warning"):
        assert "%s-record %s" % (name, tag) not in log
    # The module's own info lines are filtered too (at info, a daemon
    # says it is ready and each interpreter it creates).
    assert "[wsgi:info]" not in log


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
@pytest.mark.allow_log("WSGI0603", "boom", "Traceback", "first ", "second ",
                       "third ", r"\] \[id [^]]+\] ")
def test_every_line_of_a_traceback_carries_the_request_id(make_server,
                                                         scratch, mode):
    write_file(os.path.join(scratch, "lv.wsgi"), APP)
    srv = _server(make_server, scratch, mode, "info")
    tag = unique("tb")
    assert srv.get("/raise?" + tag).status_code == 500
    log = srv.wait_log("boom " + tag)
    start = [i for i, l in enumerate(log.splitlines()) if "WSGI0603" in l]
    lines = log.splitlines()[start[-1]:]
    story = lines[:[i for i, l in enumerate(lines)
                    if "RuntimeError: boom " + tag in l][0] + 1]
    ids = {m.group(1) for m in (re.search(r"\[id ([^]]+)\] ", l)
                                for l in story) if m}
    assert len(ids) == 1, story
    assert all("[id " in l for l in story), story
    assert any("in deeper" in l for l in story)
    # A print of several lines too; its id is the request's.
    r = requests.get(srv.url("/multi?" + tag), timeout=30)
    request_id = r.text
    log = srv.wait_log("third " + tag)
    multi = [l for l in log.splitlines() if " %s" % tag in l and
             re.search(r"(first|second|third) ", l)]
    assert len(multi) == 3
    assert all("[id %s] " % request_id in l for l in multi), multi
