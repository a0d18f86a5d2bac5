"""mod_wsgi-express options that switch on Apache features around the
application, each shown doing what it says in a running server: read
timeouts (mod_reqtimeout), log formats and names, rewrite rules, CGI,
directory listings, .htaccess overrides, envvars scripts, spare workers,
mod_status, HTTP/2, proxying, client certificates, service processes,
handlers by extension and the Python switches.

The servers are the real `mod_wsgi-express start-server` of the first
venv, as in test_express.py (whose harness and fixtures these tests use).
"""

import glob
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from harness import free_port, make_dir, read_text, write_file
from test_express import (AS_USER, express, make_certificate, run_express,
                          tmp, wait_for)

__all__ = ["express", "tmp"]    # fixtures, used by name

ENV_APP = r'''
import json, os, sys, warnings

def application(environ, start_response):
    data = {"pid": os.getpid(), "path": environ["PATH_INFO"],
            "warnoptions": sys.warnoptions,
            "env": environ.get("EXPRESS_TEST"),
            "script": environ.get("SCRIPT_FILENAME")}
    if environ["PATH_INFO"] == "/version":
        data["version"] = VERSION
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

VERSION = 1
'''


def app(tmp, text=ENV_APP, name="app.wsgi"):
    return write_file(os.path.join(tmp, name), text)


def silent_for(sock, seconds):
    """Reads from sock until it closes; returns the seconds it took (at
    most `seconds`, then the socket is still open)."""
    sock.settimeout(0.5)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return time.monotonic() - start


def processes_titled(srv, prefix):
    """Pids of the server's processes whose command line starts with
    prefix (daemon processes show their display-name there)."""
    found = []
    for pid in srv.members():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith(prefix):
            found.append(pid)
    return found


# ------------------------------------------------------------ read timeouts

def test_header_and_body_read_timeouts(express, tmp):
    """--header-timeout/--body-timeout (mod_reqtimeout): a client that
    stops halfway through its headers or its body is cut off after the
    time given, not after Apache's 60 s Timeout."""
    srv = express().start(app(tmp), "--header-timeout", "2",
                          "--header-min-rate", "0", "--body-timeout", "2",
                          "--body-min-rate", "0")
    conf = read_text(os.path.join(srv.root, "httpd.conf"))
    assert "RequestReadTimeout header=2 body=2" in conf
    with socket.create_connection(("127.0.0.1", srv.port), 10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        took = silent_for(sock, 20)
    assert 1.5 <= took < 10, took
    with socket.create_connection(("127.0.0.1", srv.port), 10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     b"\r\n0123456789")
        took = silent_for(sock, 20)
    assert 1.5 <= took < 10, took
    # A whole request is still served.
    assert srv.get("/").status_code == 200


def test_read_timeout_options_are_checked(tmp):
    out = run_express("setup-server", "--server-root", tmp,
                      "--header-timeout", "40", *AS_USER)
    assert out.returncode == 1
    assert "--header-max-timeout 30 must be above --header-timeout 40" \
        in out.stderr


# ------------------------------------------------------------ logs

def test_log_names_and_formats(express, tmp):
    logs = make_dir(prefix=os.path.join(tmp, "logs-"))
    srv = express()
    srv.log_path = os.path.join(logs, "app-error.log")
    srv.start(app(tmp), "--log-directory", logs, "--access-log",
              "--access-log-name", "app-access.log",
              "--access-log-format", 'ACCESS %>s "%r" %{X-Probe}i',
              "--error-log-name", "app-error.log",
              "--error-log-format", "ERRFMT [%l] %M",
              "--startup-log", "--startup-log-name", "app-startup.log")
    srv.get("/logged", headers={"X-Probe": "probe-42"})
    access = os.path.join(logs, "app-access.log")
    # The harness asked for / first, to see the server up.
    lines = wait_for(lambda: "/logged" in read_text(access) and read_text(
        access).splitlines())
    assert lines[-1] == 'ACCESS 200 "GET /logged HTTP/1.1" probe-42'
    error_lines = [l for l in srv.error_log().splitlines() if l]
    assert error_lines and all(l.startswith("ERRFMT [") for l in error_lines)
    assert os.path.exists(os.path.join(logs, "app-startup.log"))
    assert not os.path.exists(os.path.join(logs, "error_log"))
    srv.stop()
    # A nickname of Apache's: combined has the User-Agent.
    srv2 = express().start(app(tmp), "--access-log",
                           "--access-log-format", "combined")
    srv2.get("/", headers={"User-Agent": "agent-007"})
    path = os.path.join(srv2.root, "access_log")
    assert wait_for(lambda: '"agent-007"' in read_text(path))


# ------------------------------------------------------------ document root

def test_rewrite_rules_cgi_handlers_and_overrides(express, tmp):
    docs = make_dir(prefix=os.path.join(tmp, "docs-"))
    rules = write_file(os.path.join(tmp, "rules.conf"),
                       'RewriteRule "^/old/(.*)$" "/new/$1" [R=301,L]\n')
    cgi = write_file(os.path.join(docs, "hello.cgi"),
                     '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n'
                     'cgi %s\\n" "$REQUEST_METHOD"\n')
    os.chmod(cgi, 0o755)
    write_file(os.path.join(docs, "page.md"), "# a page\n")
    write_file(os.path.join(docs, "plain.txt"), "plain\n")
    write_file(os.path.join(docs, ".htaccess"),
               "Header set X-From-Htaccess yes\n")
    handler = write_file(os.path.join(tmp, "md.py"), r'''
def handle_request(environ, start_response):
    with open(environ["SCRIPT_FILENAME"], "rb") as f:
        body = b"rendered: " + f.read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
''')
    srv = express().start(app(tmp), "--document-root", docs,
                          "--rewrite-rules", rules, "--with-cgi",
                          "--add-handler", ".md", handler,
                          "--allow-override", "FileInfo")
    r = srv.get("/old/x?q=1", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/new/x?q=1")
    r = srv.get("/hello.cgi")
    assert (r.status_code, r.text) == (200, "cgi GET\n")
    assert srv.get("/page.md").text == "rendered: # a page\n"
    r = srv.get("/plain.txt")
    assert r.text == "plain\n" and r.headers["X-From-Htaccess"] == "yes"
    # Everything else is still the application's.
    assert srv.get("/other").json()["path"] == "/other"
    # An empty rewrite.conf is in the server root for rules of one's own.
    srv.stop()
    srv2 = express().start(app(tmp), "--document-root", docs)
    assert os.path.isfile(os.path.join(srv2.root, "rewrite.conf"))
    # Without the options: the .cgi file is served as it is, .htaccess is
    # not read.
    r = srv2.get("/hello.cgi")
    assert r.text.startswith("#!/bin/sh")
    assert "X-From-Htaccess" not in srv2.get("/plain.txt").headers


def test_directory_listing_of_static_files(express, tmp):
    docs = make_dir(prefix=os.path.join(tmp, "static-"))
    sub = make_dir(prefix=os.path.join(docs, "sub-"))
    write_file(os.path.join(sub, "listed.txt"), "x\n")
    name = os.path.basename(sub)
    srv = express().start("--application-type", "static", docs,
                          "--directory-listing")
    r = srv.get("/%s/" % name)
    assert r.status_code == 200 and "listed.txt" in r.text
    srv.stop()
    srv2 = express().start("--application-type", "static", docs)
    assert srv2.get("/%s/" % name).status_code in (403, 404)


@pytest.mark.parametrize("args, problem", [
    (["--allow-override", "Everything"], "is not an AllowOverride type"),
    (["--add-handler", ".md", "/nonexistent/h.py"], "does not exist"),
    (["--service-user", "ghost", "nobody"], "there is no --service-script"),
    (["--proxy-mount-point", "api", "http://127.0.0.1:1/"],
     "must start with '/'"),
    (["--proxy-mount-point", "/api", "ftp://x/"], "is not an http://"),
    (["--ssl-verify-client", "/x"], "needs --ssl-ca-certificate-file"),
    (["--reload-on-changes", "--disable-reloading"], "exclude each other"),
])
def test_feature_options_are_checked_before_anything_is_written(
        tmp, args, problem):
    root = os.path.join(tmp, "root")
    out = run_express("setup-server", "--server-root", root, *args,
                      *AS_USER)
    assert out.returncode == 1, out.stderr
    assert problem in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not os.path.exists(root)


def test_port_in_use_is_one_line(tmp):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out = run_express("start-server", "--host", "127.0.0.1", "--port",
                          str(port), "--server-root",
                          os.path.join(tmp, "root"), *AS_USER)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "mod_wsgi-express: --port %d: the port is in use (another server "
        "listens on it); stop that server or choose another port with "
        "--port." % port)


# ------------------------------------------------------------ environment

def test_envvars_script_and_shell(express, tmp):
    envvars = write_file(os.path.join(tmp, "my-envvars"),
                         "EXPRESS_TEST=from-envvars; export EXPRESS_TEST\n")
    bash = shutil.which("bash")
    srv = express().start(app(tmp), "--envvars-script", envvars,
                          "--passenv", "EXPRESS_TEST",
                          "--shell-executable", bash)
    assert srv.get("/").json()["env"] == "from-envvars"
    with open(os.path.join(srv.root, "apachectl")) as f:
        assert f.readline() == "#!%s\n" % bash


# ------------------------------------------------------------ capacity

def apache_children(srv):
    """The server's Apache children (not its daemon processes or their
    supervisor, both titled (wsgi...)."""
    daemons = set(processes_titled(srv, "(wsgi"))
    parent = srv.proc.pid
    return [p for p in srv.members() if p != parent and p not in daemons]


def test_initial_and_spare_workers(express, tmp):
    """--initial-workers 0.75 of --max-clients 100 (25 threads a child)
    starts three children at once; by default one."""
    srv = express().start(app(tmp), "--max-clients", "100",
                          "--initial-workers", "0.75",
                          "--minimum-spare-workers", "0.1",
                          "--maximum-spare-workers", "0.9")
    assert wait_for(lambda: len(apache_children(srv)) == 3)
    conf = read_text(os.path.join(srv.root, "httpd.conf"))
    assert "MinSpareThreads 10" in conf and "MaxSpareThreads 90" in conf
    time.sleep(1.5)     # Apache's idle maintenance keeps them
    assert len(apache_children(srv)) == 3
    srv.stop()
    srv2 = express().start(app(tmp), "--max-clients", "100")
    time.sleep(1.5)
    assert len(apache_children(srv2)) == 1


def test_ignore_activity_and_socket_prefix(express, tmp):
    """Requests to an --ignore-activity URL do not keep a daemon process
    alive past --inactivity-timeout; other requests do. The daemon socket
    is in --socket-prefix."""
    sockets = make_dir(prefix=os.path.join(tmp, "s-"), mode=0o755)
    srv = express().start(app(tmp), "--inactivity-timeout", "2",
                          "--ignore-activity", "/health",
                          "--socket-prefix", sockets)
    assert glob.glob(os.path.join(sockets, "wsgi.*.sock"))
    assert not glob.glob(os.path.join(srv.root, "wsgi.*.sock"))

    def pids_while_polling(path, seconds):
        seen = set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = srv.get(path)
            if r.status_code == 200:
                seen.add(r.json()["pid"])
            time.sleep(0.4)
        return seen

    assert len(pids_while_polling("/busy", 5)) == 1
    assert len(pids_while_polling("/health", 6)) >= 2


# ------------------------------------------------------------ status, HTTP/2

def test_server_status_and_metrics_url(express, tmp):
    srv = express().start(app(tmp), "--server-status", "--metrics-url",
                          "/wsgi-metrics")
    assert srv.get("/hello").status_code == 200
    page = srv.get("/wsgi-metrics")
    assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert any(line.startswith('mod_wsgi_requests_total{group="127.0.0.1:'
                               '%d",status="2xx"} ' % srv.port)
               and int(line.split()[-1]) >= 1
               for line in page.text.splitlines())
    r = srv.get("/server-status?auto")
    assert r.status_code == 200
    assert "Total Accesses:" in r.text and "BusyWorkers:" in r.text
    conf = read_text(os.path.join(srv.root, "httpd.conf"))
    status = conf[conf.index('<Location "/server-status">'):]
    assert "Require local" in status[:status.index("</Location>")]
    srv.stop()
    srv2 = express().start(app(tmp))
    assert srv2.get("/server-status").json()["path"] == "/server-status"


def curl(*args):
    path = shutil.which("curl")
    if path is None:
        pytest.skip("curl is needed to speak HTTP/2 (mk/deps.sh installs "
                    "it)")
    return subprocess.run([path, "-s", "--max-time", "20"] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_http2_cleartext_and_tls(express, tmp):
    base = make_certificate(tmp)
    https_port = free_port()
    srv = express().start(app(tmp), "--http2", "--https-port",
                          str(https_port), "--ssl-certificate", base)
    out = curl("--http2-prior-knowledge", "-w", "\n%{http_version}",
               srv.url("/h2c"))
    body, version = out.stdout.rsplit("\n", 1)
    assert version == "2" and json.loads(body)["path"] == "/h2c"
    out = curl("--http2", "-k", "-w", "\n%{http_version}",
               "https://127.0.0.1:%d/h2" % https_port)
    body, version = out.stdout.rsplit("\n", 1)
    assert version == "2" and json.loads(body)["path"] == "/h2"
    srv.stop()
    srv2 = express().start(app(tmp))
    out = curl("--http2-prior-knowledge", srv2.url("/"))
    assert out.returncode != 0 or '"path"' not in out.stdout


def test_http2_needs_a_threaded_mpm(tmp):
    out = run_express("setup-server", "--server-root", tmp, "--http2",
                      "--server-mpm", "prefork", *AS_USER)
    assert out.returncode == 1
    assert "--http2 needs the event or worker MPM" in out.stderr


# ------------------------------------------------------------ proxying

class Backend:
    """A plain HTTP server in this process: answers with the path and
    headers it got, after `delay` seconds."""

    def __init__(self, delay=0):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(outer.delay)
                body = json.dumps({"backend": self.path, "headers": dict(
                    self.headers)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass        # the proxy gave up waiting (test_proxy_timeout)

            def log_message(self, *args):
                pass

        self.delay = delay
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def test_proxy_mount_point_and_virtual_host(express, tmp, backend):
    srv = express().start(app(tmp), "--proxy-mount-point", "/api",
                          backend.url, "--proxy-virtual-host",
                          "backend.test", backend.url)
    r = srv.get("/api/items?x=1")
    assert r.status_code == 200
    got = r.json()
    assert got["backend"] == "/items?x=1"
    assert got["headers"]["X-Forwarded-For"] == "127.0.0.1"
    r = srv.get("/api", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith("/api/")
    # Not a prefix of other paths; the rest is the application's.
    assert srv.get("/apiary").json()["path"] == "/apiary"
    assert srv.get("/own").json()["path"] == "/own"
    # The virtual host passes everything for its name.
    r = srv.get("/anything", headers={"Host": "backend.test"})
    assert r.json()["backend"] == "/anything"
    assert srv.get("/x", headers={"Host": "other.test"}).json()["path"] \
        == "/x"


@pytest.mark.allow_log("AH01102", "AH00898")
def test_proxy_timeout(express, tmp):
    slow = Backend(delay=4)
    try:
        srv = express().start(app(tmp), "--proxy-mount-point", "/slow",
                              slow.url, "--proxy-timeout", "1")
        start = time.monotonic()
        r = srv.get("/slow/x")
        took = time.monotonic() - start
        # mod_proxy_http answers a backend's silence with 502 (AH01102).
        assert r.status_code == 502 and 0.8 < took < 3.5, (r.status_code,
                                                           took)
    finally:
        slow.close()


# ------------------------------------------------------------ client certs

def make_client_certificate(directory):
    """A CA and a client certificate it signed: (ca.crt, (crt, key))."""
    openssl = shutil.which("openssl")
    ca = os.path.join(directory, "ca")
    client = os.path.join(directory, "client")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         ca + ".key", "-out", ca + ".crt", "-days", "2", "-subj",
         "/CN=test client CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", client + ".key",
         "-out", client + ".csr", "-subj", "/CN=test client"],
        ["x509", "-req", "-in", client + ".csr", "-CA", ca + ".crt",
         "-CAkey", ca + ".key", "-CAcreateserial", "-out", client + ".crt",
         "-days", "2"],
    ]
    for step in steps:
        out = subprocess.run([openssl] + step, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    os.chmod(ca + ".crt", 0o644)
    return ca + ".crt", (client + ".crt", client + ".key")


@pytest.mark.allow_log("AH02039", "AH02261", "AH02263", "AH02008",
                       "AH02010")
def test_client_certificates(express, tmp):
    base = make_certificate(tmp)
    ca, cert = make_client_certificate(tmp)
    https_port = free_port()
    srv = express().start(app(tmp), "--https-port", str(https_port),
                          "--ssl-certificate", base,
                          "--ssl-ca-certificate-file", ca)
    url = "https://127.0.0.1:%d/" % https_port
    assert requests.get(url + "in", cert=cert, verify=base + ".crt",
                        timeout=30).json()["path"] == "/in"
    with pytest.raises(requests.exceptions.RequestException):
        r = requests.get(url + "out", verify=base + ".crt", timeout=30)
        assert r.status_code == 200     # not reached: the handshake fails
    srv.stop()
    # Only under --ssl-verify-client's URL.
    srv2 = express().start(app(tmp), "--https-port", str(https_port),
                           "--ssl-certificate", base,
                           "--ssl-ca-certificate-file", ca,
                           "--ssl-verify-client", "/secure")
    assert requests.get(url + "open", verify=base + ".crt",
                        timeout=30).status_code == 200
    assert requests.get(url + "secure/x", cert=cert, verify=base + ".crt",
                        timeout=30).status_code == 200
    try:
        r = requests.get(url + "secure/x", verify=base + ".crt", timeout=30)
        refused = r.status_code == 403
    except requests.exceptions.RequestException:
        refused = True
    assert refused


# ------------------------------------------------------------ services

SERVICE = r'''
import os, sys, time
beat = %r
print("service starting", os.getpid(), flush=True)
while True:
    with open(beat + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(beat + ".tmp", beat)
    time.sleep(0.2)
'''


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@pytest.mark.allow_log("exit signal Killed", "WSGI07")
def test_service_script_runs_restarts_and_stops(express, tmp):
    state = make_dir(prefix=os.path.join(tmp, "state-"), mode=0o777)
    beat = os.path.join(state, "beat")
    script = write_file(os.path.join(tmp, "service.py"), SERVICE % beat)
    srv = express().start(app(tmp), "--service-script", "ticker", script,
                          "--service-log-file", "ticker", "ticker.log")
    pid = wait_for(lambda: read_pid(beat))
    assert pid in processes_titled(srv, "(wsgi:service:ticker)")
    assert pid != srv.get("/").json()["pid"]
    log = os.path.join(srv.root, "ticker.log")
    assert wait_for(lambda: "service starting %d" % pid in read_text(log))
    # Killed, it is started again.
    os.kill(pid, 9)
    new = wait_for(lambda: (read_pid(beat) not in (None, pid)
                            and read_pid(beat)), timeout=20)
    assert new and new in processes_titled(srv, "(wsgi:service:ticker)")
    status, left = srv.stop()
    assert not left and status == 0


# ------------------------------------------------------------ Python

ATEXIT_APP = r'''
import atexit, os, sys, warnings
MARK = %r

def _bye():
    with open(MARK, "w") as f:
        f.write("finalised")

atexit.register(_bye)

def application(environ, start_response):
    try:
        warnings.warn("careful", UserWarning)
        outcome = "warned"
    except UserWarning:
        outcome = "raised"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%%s %%s" %% (outcome, sys.warnoptions)).encode()]
'''


@pytest.mark.allow_log("UserWarning: careful", r"warnings\.warn\(")
def test_python_warnings_and_orphan_interpreter(express, tmp):
    state = make_dir(prefix=os.path.join(tmp, "state-"), mode=0o777)
    mark = os.path.join(state, "atexit")
    script = app(tmp, ATEXIT_APP % mark)
    srv = express().start(script, "--python-warnings", "error::UserWarning",
                          "--orphan-interpreter")
    assert srv.get("/").text == "raised ['error::UserWarning']"
    status, left = srv.stop()
    assert not left
    assert not os.path.exists(mark)     # atexit did not run
    srv2 = express().start(script)
    assert srv2.get("/").text == "warned []"
    srv2.stop()
    assert wait_for(lambda: os.path.exists(mark))


def test_disable_reloading(express, tmp):
    script = app(tmp)
    srv = express().start(script, "--disable-reloading")
    assert srv.get("/version").json()["version"] == 1
    time.sleep(1.1)     # a new modification time
    write_file(script, ENV_APP.replace("VERSION = 1", "VERSION = 2"))
    time.sleep(0.5)
    assert srv.get("/version").json()["version"] == 1


@pytest.mark.allow_log("WSGI0003")
def test_pending_options_say_so_and_start(express, tmp):
    """Options whose module feature is not there yet are accepted, say so
    in one line each, and the server runs."""
    srv = express().start(app(tmp), "--telemetry-service",
                          "unix:" + os.path.join(tmp, "t.sock"),
                          "--telemetry-interval", "2")
    assert srv.get("/").status_code == 200
    out = srv.output()
    for flag in ("--telemetry-service", "--telemetry-interval"):
        assert ("mod_wsgi-express: %s: accepted;" % flag) in out
    assert out.count("which this module does not do yet") == 2


SLOW_APP = r'''
import time

def dawdle():
    time.sleep(1.5)

def application(environ, start_response):
    dawdle()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late"]
'''


# The stack under WSGI0306: the express fixture checks line by line.
@pytest.mark.allow_log("WSGI0306", r"\] Thread \d+ ", r"\]   File ",
                       r"\]     ")
def test_slow_requests_are_logged_with_their_stack(express, tmp):
    srv = express().start(app(tmp, SLOW_APP), "--slow-requests", "0.5")
    assert srv.get("/slowly").text == "late"
    log = wait_for(lambda: "in dawdle" in srv.error_log() and
                   srv.error_log())
    assert "WSGI0306" in log and "GET /slowly has run for" in log


def test_free_threading_needs_a_free_threaded_python(tmp):
    out = run_express("setup-server", "--server-root", tmp,
                      "--free-threading", *AS_USER)
    import sysconfig
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        pytest.skip("this Python is free-threaded")
    assert out.returncode == 1
    assert "--free-threading needs a free-threaded Python" in out.stderr


def test_enable_docs(express, tmp):
    srv = express().start(app(tmp), "--enable-docs")
    index = srv.get("/__wsgi__/docs/")
    assert index.status_code == 200 and "(express.md)" in index.text
    page = srv.get("/__wsgi__/docs/express.md")
    assert page.status_code == 200 and "mod_wsgi-express" in page.text


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("a headless Chromium is needed (mk/deps.sh installs "
                "Debian's chromium)")


STATUS_APP = r'''
import time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/slowly":
        time.sleep(0.6)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


@pytest.mark.allow_log("WSGI0306", r"\] Thread \d+ ", r"\]   File ",
                       r"\]     ")
def test_status_page_in_headless_chromium(express, tmp):
    """--status-url: the live page, run by a real browser. After it has
    polled the metrics page a few times (virtual time), its DOM has a row
    per daemon group with the rate of the requests made meanwhile, the
    request that ran past --slow-requests, and a plot with points; a
    screenshot is kept in the test's temp dir."""
    browser = chromium()
    srv = express().start(app(tmp, STATUS_APP), "--status-url", "/status",
                          "--processes", "2", "--threads", "3",
                          "--slow-requests", "0.2")
    group = "127.0.0.1:%d" % srv.port
    assert srv.get("/slowly").text == "ok"
    assert wait_for(lambda: "WSGI0306" in srv.error_log())
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                srv.get("/work", timeout=5)
            except requests.RequestException:
                pass
            time.sleep(0.02)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        shot = os.path.join(tmp, "status.png")
        common = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                  "--user-data-dir=" + os.path.join(tmp, "chromium"),
                  "--virtual-time-budget=9000", "--window-size=900,900"]
        dom = subprocess.run(common + ["--dump-dom", srv.url("/status")],
                             capture_output=True, text=True, timeout=120)
        subprocess.run(common + ["--screenshot=" + shot, srv.url("/status")],
                       capture_output=True, timeout=120)
    finally:
        stop.set()
        worker.join(10)
    html = dom.stdout
    assert "Updated " in html, html[-2000:]
    row = re.search(r'<tr data-group="%s" data-requests="(\d+)">(.*?)</tr>'
                    % re.escape(group), html)
    assert row, html[-3000:]
    # The requests made under load are counted (the rate of the last
    # interval may be 0: Chromium's virtual time runs ahead of the load).
    assert int(row.group(1)) > 0
    cells = re.findall(r"<td>([^<]*)</td>", row.group(2))
    assert (int(cells[3]) + int(cells[4])) == 6  # 2 processes x 3 threads
    assert cells[6] == "1"      # /slowly, past --slow-requests 0.2
    assert re.search(r'<canvas id="plot-[^"]*" width="600" height="160" '
                     r'data-group="%s" data-points="([2-9]|\d\d+)"'
                     % re.escape(group), html), html[-3000:]
    assert os.path.getsize(shot) > 1000
    keep = os.environ.get("MOD_WSGI_TEST_ARTIFACTS")
    if keep:                # the temp dir goes with the test: a copy
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, os.path.join(keep, "status-page.png"))
    # The page is for this host only, as the metrics it reads.
    conf = read_text(os.path.join(srv.root, "httpd.conf"))
    assert '<Location "/status">\n    Require local' in conf
