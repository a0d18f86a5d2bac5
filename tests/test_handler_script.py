"""WSGIHandlerScript (issue 12): a named Apache handler whose WSGI
application is the script's handle_request(), for the files Apache maps
to it with AddHandler or SetHandler; in embedded mode and in a daemon
group (process-group=), SCRIPT_FILENAME naming the file served and
mod_wsgi.handler_script the script."""

import os

import pytest

from harness import write_file

HANDLER = r'''
import json, os
import mod_wsgi

def handle_request(environ, start_response):
    with open(environ["SCRIPT_FILENAME"]) as f:
        source = f.read()
    body = json.dumps({
        "source": source,
        "script_filename": environ["SCRIPT_FILENAME"],
        "handler_script": environ["mod_wsgi.handler_script"],
        "request_handler": environ["mod_wsgi.request_handler"],
        "process_group": mod_wsgi.process_group,
        "authorization": environ.get("HTTP_AUTHORIZATION"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


@pytest.fixture
def make_server(make_server_each_mpm):
    """Under each MPM (conftest)."""
    return make_server_each_mpm


@pytest.fixture
def site(make_server, scratch):
    d = scratch
    write_file(os.path.join(d, "handler.wsgi"), HANDLER)
    for sub in ("pages", "dpages"):
        os.mkdir(os.path.join(d, sub))
        write_file(os.path.join(d, sub, "hello.py"), "print('hello from %s')\n" % sub)
        write_file(os.path.join(d, sub, "plain.txt"), "just text\n")
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess pages processes=1 threads=2
WSGIHandlerScript python-source "%(d)s/handler.wsgi" pass-authorization=On
WSGIHandlerScript python-source-daemon "%(d)s/handler.wsgi" process-group=pages
Alias /pages "%(d)s/pages"
Alias /dpages "%(d)s/dpages"
<Directory "%(d)s/pages">
    AddHandler python-source .py
    Require all granted
</Directory>
<Directory "%(d)s/dpages">
    AddHandler python-source-daemon .py
    Require all granted
</Directory>
""" % {"d": d})
    srv.dir = d
    return srv


def test_embedded_handler_script_serves_the_mapped_file(site):
    r = site.get("/pages/hello.py", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200
    env = r.json()
    assert env["source"] == "print('hello from pages')\n"
    assert env["script_filename"] == os.path.join(site.dir, "pages", "hello.py")
    assert env["handler_script"] == os.path.join(site.dir, "handler.wsgi")
    assert env["request_handler"] == "python-source"
    assert env["process_group"] == ""
    # pass-authorization=On on the handler script.
    assert env["authorization"] == "Bearer t"
    # Files the handler is not mapped to are Apache's as before.
    assert site.get("/pages/plain.txt").text == "just text\n"


def test_daemon_handler_script_runs_in_its_group(site):
    r = site.get("/dpages/hello.py", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200
    env = r.json()
    assert env["source"] == "print('hello from dpages')\n"
    assert env["process_group"] == "pages"
    assert env["handler_script"] == os.path.join(site.dir, "handler.wsgi")
    assert env["authorization"] is None


@pytest.mark.allow_log("WSGI0503")
def test_a_missing_file_is_404(site):
    assert site.get("/pages/nothing.py").status_code == 404


@pytest.mark.parametrize("line,named", [
    ("WSGIHandlerScript only-a-name", "needs a handler name and a script path"),
    ("WSGIHandlerScript x /h.wsgi callable-object=y", "valid options are process-group=, application-group=, pass-authorization="),
    ("WSGIHandlerScript wsgi-script /h.wsgi", "mod_wsgi's own handler"),
])
def test_bad_handler_script_lines_fail_configtest(make_server, line, named):
    srv = make_server(line, start=False)
    rc, out = srv.configtest()
    assert rc != 0 and named in out, out
