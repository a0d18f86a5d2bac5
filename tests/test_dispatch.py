"""WSGIDispatchScript (issue 12): process_group(), application_group() and
callable_object() choose per request, in both modes; None keeps the
configured choice; the choice is still held to WSGIRestrictProcess; a
failing script fails closed."""

import os

import pytest

from harness import write_file

DISPATCH = r'''
def process_group(environ):
    q = environ.get("QUERY_STRING", "")
    if q.startswith("g1"):
        return "g1"
    if q.startswith("g2"):
        return "g2"
    if q == "boom":
        raise RuntimeError("process_group failed on purpose")
    if q == "int":
        return 5
    return None

def application_group(environ):
    if environ.get("QUERY_STRING", "").endswith("second"):
        return "second"
    return None

def callable_object(environ):
    # What the configuration resolved so far is in the environ.
    if environ["PATH_INFO"] == "/alt":
        return "alternative"
    return None
'''

APP = r'''
import json, os
import mod_wsgi

def application(environ, start_response):
    body = json.dumps({"process_group": mod_wsgi.process_group,
                       "application_group": mod_wsgi.application_group,
                       "env_group": environ["mod_wsgi.process_group"],
                       "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

def alternative(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the alternative callable"]
'''


@pytest.fixture
def make_server(make_server_each_mpm):
    """Under each MPM (conftest)."""
    return make_server_each_mpm


@pytest.fixture
def site(make_server, scratch):
    d = scratch
    write_file(os.path.join(d, "dispatch.py"), DISPATCH)
    write_file(os.path.join(d, "app.wsgi"), APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g1 processes=1 threads=2
WSGIDaemonProcess g2 processes=1 threads=2
WSGIDispatchScript "%(d)s/dispatch.py"
WSGIScriptAlias /app "%(d)s/app.wsgi"
WSGIScriptAlias /fenced "%(d)s/app.wsgi"
<Location /fenced>
    WSGIRestrictProcess g1
</Location>
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d})
    return srv


def test_the_script_chooses_group_and_interpreter_per_request(site):
    e = site.get("/app", timeout=30).json()
    # None everywhere: the configuration's choice, embedded, %{RESOURCE}.
    assert e["process_group"] == "" and e["env_group"] == ""
    assert e["application_group"].endswith("|/app")
    g1 = site.get("/app?g1", timeout=30).json()
    assert g1["process_group"] == "g1" == g1["env_group"]
    assert g1["pid"] in site.children() and g1["pid"] != e["pid"]
    g2 = site.get("/app?g2second", timeout=30).json()
    assert g2["process_group"] == "g2" and g2["application_group"] == "second"
    assert g2["pid"] != g1["pid"]
    r = site.get("/app/alt?g1", timeout=30)
    assert r.status_code == 200 and r.text == "the alternative callable"


@pytest.mark.allow_log("WSGI0510")
def test_the_choice_is_held_to_restrict_process(site):
    assert site.get("/fenced?g1", timeout=30).json()["process_group"] == "g1"
    assert site.get("/fenced?g2", timeout=30).status_code == 403
    assert "WSGI0510" in site.log()


@pytest.mark.allow_log("WSGI0524", "WSGI0525")
def test_a_failing_script_fails_closed(site):
    assert site.get("/app?boom", timeout=30).status_code == 500
    assert "process_group failed on purpose" in site.log()
    assert site.get("/app?int", timeout=30).status_code == 500
    assert "WSGI0525: process_group() of" in site.log()
    assert site.get("/app?g1", timeout=30).status_code == 200
