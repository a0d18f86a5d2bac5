"""Drop-in compatibility with upstream mod_wsgi (issue 11): what real
applications and configurations do that upstream serves."""

import os
import re
import socket

import pytest
import requests

from common import recv_until_closed
from harness import write_file


FRAMEWORKS = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess fw processes=1 threads=4
WSGIScriptAlias /flask "@APPS@/flask_app/flask_app.wsgi"
WSGIScriptAlias /django "@APPS@/django_project/django_project.wsgi"
WSGIScriptAlias /dflask "@APPS@/flask_app/flask_app.wsgi" process-group=fw
WSGIScriptAlias /ddjango "@APPS@/django_project/django_project.wsgi" process-group=fw
<Directory "@APPS@/flask_app">
    Require all granted
</Directory>
<Directory "@APPS@/django_project">
    Require all granted
</Directory>
"""


def _raw_pair(port, path):
    """HEAD then GET of path on one keep-alive connection: a HEAD answer
    that carried a body (or was cut) would corrupt the GET after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n"
                   "GET %s HTTP/1.1\r\nHost: localhost\r\n"
                   "Connection: close\r\n\r\n" % (path, path)).encode())
        data = recv_until_closed(s)
    head_end = data.index(b"\r\n\r\n") + 4
    head = data[:head_end].decode("latin-1")
    rest = data[head_end:]
    return head, rest


def _header(head, name):
    m = re.search(r"(?im)^%s:\s*(.*?)\r$" % re.escape(name), head)
    return m.group(1) if m else None


@pytest.mark.parametrize("mpm", ["event", "prefork"])
@pytest.mark.parametrize("base", ["/flask", "/django", "/dflask", "/ddjango"])
def test_head_of_framework_views(make_server, base, mpm):
    """RFC 9110 9.3.2: HEAD may answer with the GET's Content-Length and no
    content. Flask and Django do; it is not a short body (it was a 502)."""
    srv = make_server(FRAMEWORKS, mpm=mpm)
    get = srv.get(base + "/", timeout=30)
    assert get.status_code == 200
    head = requests.head(srv.url(base + "/"), timeout=30)
    assert head.status_code == 200
    assert head.content == b""
    # Flask sets the GET's Content-Length on its HEAD answer (the case
    # that was a 502); Django leaves it out unless a middleware adds it.
    if "flask" in base:
        assert head.headers["Content-Length"] == str(len(get.content))
    elif "Content-Length" in head.headers:
        assert head.headers["Content-Length"] == str(len(get.content))
    # A redirect's HEAD too.
    redirect = requests.head(srv.url(base + "/redirect"), timeout=30,
                             allow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.content == b""
    assert redirect.headers["Location"].endswith("/")
    # Raw: the HEAD answer ends at its head, the GET after it is whole.
    raw_head, rest = _raw_pair(srv.port, base + "/")
    assert raw_head.startswith("HTTP/1.1 200"), raw_head
    assert _header(raw_head, "Content-Length") == \
        head.headers.get("Content-Length")
    assert rest.startswith(b"HTTP/1.1 200"), rest[:100]
    assert rest.count(b"HTTP/1.1 ") == 1, rest
    assert get.content in rest, rest[-200:]
    log = srv.error_log()
    # (The status codes above are the 502 check: a bare "502" in the log
    # also matches timestamps and ports.)
    assert "WSGI0601" not in log, log[-2000:]


SR_TWICE = r'''
def application(environ, start_response):
    start_response("500 Oops", [("X-First", "1")])
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Second", "2")])
    return [b"second wins"]
'''

SR_AFTER_HEAD = r'''
def application(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first ")
    try:
        start_response("500 Late", [])
    except RuntimeError as e:
        return [b"refused: " + str(e).split(" (")[0].encode()]
    return [b"accepted"]
'''


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_start_response_twice_before_output_second_wins(make_server, mode,
                                                        scratch):
    apps = scratch
    write_file(os.path.join(apps, "twice.wsgi"), SR_TWICE)
    write_file(os.path.join(apps, "late.wsgi"), SR_AFTER_HEAD)
    group = "process-group=g" if mode == "daemon" else ""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIScriptAlias /twice "%(apps)s/twice.wsgi" %(group)s
WSGIScriptAlias /late "%(apps)s/late.wsgi" %(group)s
<Directory "%(apps)s">
    Require all granted
</Directory>
""" % {"apps": apps, "group": group})
    r = srv.get("/twice", timeout=30)
    assert r.status_code == 200
    assert r.text == "second wins"
    assert r.headers.get("X-Second") == "2"
    assert "X-First" not in r.headers
    # Once the head went out, a second call without exc_info still raises.
    r = srv.get("/late", timeout=30)
    assert r.status_code == 200
    assert r.text == ("first refused: start_response() called again after "
                      "the response head was sent")
    assert "WSGI0603" not in srv.error_log()


QUOTED = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess "quoted" processes=1 threads="2" python-home="%(venv)s" display-name="wsgi quoted app" lang='en_US.UTF-8' "maximum-requests=1000"
WSGIScriptAlias /q "@APPS@/daemon.wsgi" process-group="quoted" application-group="%%{GLOBAL}"
WSGIScriptAlias /q2 "@APPS@/daemon.wsgi" "process-group=quoted" application-group='named app'
WSGIImportScript "@APPS@/daemon.wsgi" process-group="quoted" application-group="%%{GLOBAL}"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


def test_quoted_option_values_as_upstream_reads_them(make_server):
    """name="value" (double or single quotes, spaces inside) is the value
    without its quotes, in every option of WSGIDaemonProcess,
    WSGIScriptAlias and WSGIImportScript."""
    from conftest import VENVS
    from common import environ_of
    from harness import pids_where
    srv = make_server(QUOTED % {"venv": VENVS[0]})
    d = environ_of(srv, "/q/environ")
    assert d["mod_wsgi.process_group"] == "quoted"
    assert d["mod_wsgi.application_group"] == ""
    assert os.path.realpath(d["interp.sys_prefix"]) == os.path.realpath(VENVS[0])
    n = environ_of(srv, "/q2/environ")
    assert n["mod_wsgi.application_group"] == "named app"
    assert n["interp.pid"] == d["interp.pid"]
    with open("/proc/%d/cmdline" % d["interp.pid"], "rb") as f:
        assert f.read().rstrip(b"\0") == b"wsgi quoted app"
    with open("/proc/%d/comm" % d["interp.pid"]) as f:
        assert f.read().strip() == "wsgi quoted app"


@pytest.mark.parametrize("line,words", [
    ('WSGIDaemonProcess g threads="many"', ["WSGIDaemonProcess", "threads=many"]),
    ("WSGIDaemonProcess g python-home='/no/such dir'",
     ["WSGIDaemonProcess", "/no/such dir"]),
    ('WSGIScriptAlias /x "@APPS@/daemon.wsgi" colour="blue"',
     ["WSGIScriptAlias", "colour"]),
    ('WSGIScriptAlias /x "@APPS@/daemon.wsgi" "process-group"',
     ["WSGIScriptAlias", "process-group", "name=value"]),
])
def test_wrong_quoted_value_fails_configtest_naming_it(line, words):
    from conftest import VENVS, conf
    from harness import configtest
    rc, out = configtest(conf(line + "\n", "/tmp"), venv=VENVS[0])
    assert rc != 0, out
    for w in words:
        assert w in out, (w, out)


PATHS_APP = r'''
import json, sys
import requests

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"requests": getattr(requests, "SHADOW", "venv"),
                        "path": sys.path}).encode()]
'''


def _shadow_dir(root, name):
    """A directory holding a package 'requests' that says which it is:
    it shadows the one installed in the venv when it comes first."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "requests"))
    write_file(os.path.join(d, "requests", "__init__.py"), "SHADOW = %r\n" % name)
    for sub in (d, os.path.join(d, "requests")):
        os.chmod(sub, 0o755)
    return d


def test_python_path_order_and_scope_as_upstream(make_server, scratch):
    """WSGIPythonPath comes before the venv's site-packages in embedded
    mode (an entry shadows an installed package); daemon groups take only
    their python-path=, placed first the same way, and never inherit
    WSGIPythonPath."""
    embedded = _shadow_dir(scratch, "embedded-path")
    daemon = _shadow_dir(scratch, "daemon-path")
    write_file(os.path.join(scratch, "paths.wsgi"), PATHS_APP)
    srv = make_server("""
WSGIPythonPath "%(embedded)s"
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess own processes=1 threads=2 python-path="%(daemon)s"
WSGIDaemonProcess plain processes=1 threads=2
WSGIScriptAlias /e "%(s)s/paths.wsgi"
WSGIScriptAlias /own "%(s)s/paths.wsgi" process-group=own
WSGIScriptAlias /plain "%(s)s/paths.wsgi" process-group=plain
<Directory "%(s)s">
    Require all granted
</Directory>
""" % {"embedded": embedded, "daemon": daemon, "s": scratch})
    e = srv.get("/e", timeout=30).json()
    assert e["requests"] == "embedded-path"
    assert e["path"][0] == embedded
    own = srv.get("/own", timeout=30).json()
    assert own["requests"] == "daemon-path"
    assert own["path"][0] == daemon
    assert embedded not in own["path"]
    plain = srv.get("/plain", timeout=30).json()
    assert plain["requests"] == "venv"
    assert embedded not in plain["path"]


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_cgi_pass_auth_hands_both_credentials_headers(make_server, mode):
    """CGIPassAuth On: Authorization and Proxy-Authorization reach the
    application (Apache's rule for handlers); without it neither does
    (WSGIPassAuthorization still passes Authorization alone)."""
    from common import environ_of
    group = "process-group=g" if mode == "daemon" else ""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIScriptAlias /pass "@APPS@/environ.wsgi" %(g)s
WSGIScriptAlias /plain "@APPS@/environ.wsgi" %(g)s
WSGIScriptAlias /wsgipass "@APPS@/environ.wsgi" %(g)s pass-authorization=On
<Location /pass>
    CGIPassAuth On
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
""" % {"g": group})
    creds = {"Authorization": "Basic dXNlcjpwdw==",
             "Proxy-Authorization": "Basic cHJveHk6cHc="}
    e = environ_of(srv, "/pass", headers=creds)
    assert e["HTTP_AUTHORIZATION"] == creds["Authorization"]
    assert e["HTTP_PROXY_AUTHORIZATION"] == creds["Proxy-Authorization"]
    e = environ_of(srv, "/plain", headers=creds)
    assert "HTTP_AUTHORIZATION" not in e
    assert "HTTP_PROXY_AUTHORIZATION" not in e
    e = environ_of(srv, "/wsgipass", headers=creds)
    assert e["HTTP_AUTHORIZATION"] == creds["Authorization"]
    assert "HTTP_PROXY_AUTHORIZATION" not in e
    # httpoxy: a Proxy header never becomes HTTP_PROXY.
    e = environ_of(srv, "/pass", headers={"Proxy": "http://evil:1"})
    assert "HTTP_PROXY" not in e


PROBE = r'''
import json, os, sys

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({
        "eggs": os.environ.get("PYTHON_EGG_CACHE"),
        "switch": sys.getswitchinterval(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "path0": sys.path[0],
        "cwd": os.getcwd(),
    }).encode()]
'''


def test_daemon_options_upstream_configs_carry(make_server, scratch):
    """python-eggs=, switch-interval=, cpu-priority= and home= act in the
    group as upstream documents; the embedded equivalents stay embedded
    mode's."""
    home = os.path.join(scratch, "home")
    os.mkdir(home)
    os.chmod(home, 0o755)
    write_file(os.path.join(scratch, "probe.wsgi"), PROBE)
    srv = make_server("""
WSGIPythonEggs "%(s)s/embedded-eggs"
WSGISwitchInterval 0.002
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess opts processes=1 threads=2 python-eggs="%(s)s/eggs" switch-interval=0.01 cpu-priority=5 home="%(home)s"
WSGIDaemonProcess bare processes=1 threads=2
WSGIScriptAlias /opts "%(s)s/probe.wsgi" process-group=opts
WSGIScriptAlias /bare "%(s)s/probe.wsgi" process-group=bare
WSGIScriptAlias /e "%(s)s/probe.wsgi"
<Directory "%(s)s">
    Require all granted
</Directory>
""" % {"s": scratch, "home": home})
    o = srv.get("/opts", timeout=30).json()
    assert o["eggs"] == os.path.join(scratch, "eggs")
    assert o["switch"] == pytest.approx(0.01)
    if os.geteuid() == 0:
        assert o["nice"] == 5
    assert o["path0"] == home and o["cwd"] == home
    b = srv.get("/bare", timeout=30).json()
    assert b["eggs"] is None
    assert b["switch"] == pytest.approx(0.005)
    assert b["nice"] == os.getpriority(os.PRIO_PROCESS, 0)
    e = srv.get("/e", timeout=30).json()
    assert e["eggs"] == os.path.join(scratch, "embedded-eggs")
    assert e["switch"] == pytest.approx(0.002)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files of two owners")
@pytest.mark.allow_log("WSGI0512")
def test_script_user_refuses_scripts_of_other_owners(make_server, scratch):
    write_file(os.path.join(scratch, "root.wsgi"), PROBE)
    write_file(os.path.join(scratch, "nobody.wsgi"), PROBE)
    nobody = __import__("pwd").getpwnam("nobody")
    os.chown(os.path.join(scratch, "nobody.wsgi"), nobody.pw_uid, -1)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess strict processes=1 threads=2 script-user=root
WSGIScriptAlias /root "%(s)s/root.wsgi" process-group=strict
WSGIScriptAlias /nobody "%(s)s/nobody.wsgi" process-group=strict
<Directory "%(s)s">
    Require all granted
</Directory>
""" % {"s": scratch})
    assert srv.get("/root", timeout=30).status_code == 200
    srv.mark()
    assert srv.get("/nobody", timeout=30).status_code == 403
    text = srv.wait_log("WSGI0512")
    assert "nobody.wsgi" in text and "script-user=" in text


def test_ignore_activity_lets_inactivity_timeout_fire(make_server):
    """WSGIIgnoreActivity On: health checks do not keep an idle daemon
    process alive past inactivity-timeout; ordinary requests do."""
    import time
    from test_daemon import daemon_conf
    srv = make_server(daemon_conf("processes=1 threads=2 inactivity-timeout=2",
                                  extra="""
WSGIScriptAlias /health "@APPS@/daemon.wsgi" process-group=demo application-group=%{GLOBAL}
<Location /health>
    WSGIIgnoreActivity On
</Location>
"""), loglevel="info")
    first = srv.get("/d/pid", timeout=30).text
    # Ordinary requests every 0.3 s for 4 s: the same process throughout.
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        assert srv.get("/d/pid", timeout=30).text == first
        time.sleep(0.3)
    # Health checks as often: the process still goes idle and is replaced.
    deadline = time.monotonic() + 10
    seen = first
    while seen == first and time.monotonic() < deadline:
        time.sleep(0.3)
        r = srv.get("/health/pid", timeout=30)
        if r.status_code == 200:
            seen = r.text
    assert seen != first, "health checks kept the idle process alive"
    assert "inactivity-timeout" in srv.error_log()


ERRORS_APP = r'''
def application(environ, start_response):
    code = environ["QUERY_STRING"] or "404"
    start_response("%s App" % code, [("Content-Type", "text/plain"),
                                      ("X-From-App", "yes")])
    return [b"the application's own error page"]
'''


def test_error_override_lets_apache_answer_daemon_errors(make_server, scratch):
    """WSGIErrorOverride On (daemon mode, as upstream): the application's
    4xx/5xx answer is replaced by Apache's ErrorDocument; success answers
    and locations without it are left alone."""
    write_file(os.path.join(scratch, "errors.wsgi"), ERRORS_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIScriptAlias /over "%(s)s/errors.wsgi" process-group=g
WSGIScriptAlias /plain "%(s)s/errors.wsgi" process-group=g
ErrorDocument 404 "Apache's own not found"
ErrorDocument 503 "Apache's own unavailable"
<Location /over>
    WSGIErrorOverride On
</Location>
<Directory "%(s)s">
    Require all granted
</Directory>
""" % {"s": scratch})
    r = srv.get("/over?404", timeout=30)
    assert r.status_code == 404
    assert r.text == "Apache's own not found"
    assert "X-From-App" not in r.headers
    r = srv.get("/over?503", timeout=30)
    assert r.status_code == 503 and r.text == "Apache's own unavailable"
    r = srv.get("/over?200", timeout=30)
    assert r.status_code == 200 and r.text == "the application's own error page"
    r = srv.get("/plain?404", timeout=30)
    assert r.status_code == 404
    assert r.text == "the application's own error page"
    assert r.headers["X-From-App"] == "yes"


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_sethandler_of_a_location_wins_over_the_script_alias(make_server,
                                                             mode):
    """"WSGIScriptAlias /" maps every URL; a <Location> of the admin's with
    its own SetHandler (mod_status here) still gets its URL, as with
    upstream. An AddHandler for the URL's extension (mod_mime) does not:
    the alias's URLs stay the application's."""
    from common import environ_of
    group = "process-group=g" if mode == "daemon" else ""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIScriptAlias / "@APPS@/environ.wsgi" %s
AddHandler cgi-script .cgi
<Location "/status">
    SetHandler server-status
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
""" % group, modules=["status"])
    r = srv.get("/status?auto")
    assert r.status_code == 200 and "ServerUptimeSeconds:" in r.text
    assert environ_of(srv, "/page.cgi")["PATH_INFO"] == "/page.cgi"
    assert environ_of(srv, "/other")["PATH_INFO"] == "/other"
