"""mod_wsgi-express start-server and setup-server against a real Apache.

Each test runs the installed command of the first venv
(<venv>/bin/mod_wsgi-express) on a free port on 127.0.0.1 with a server
root in a temp dir, talks HTTP to it, and stops it by the pid it started
(in a session of its own, so that every Apache and daemon process it
leaves can be found and is ours to kill).
"""

import os
import pty
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import NO_MODULE, VENVS
from harness import (BAD_LOG, CRASH_LINE, _allow_cores, free_port,
                     http_answers, is_apache_stop_race, make_dir, pids_where,
                     read_text, write_file)

START_TIMEOUT = 30
STOP_TIMEOUT = 15

# Run as root (as in CI), Apache's children and the daemons must be told
# whom to run as; the temp dirs are 0755 so that user can read them.
AS_USER = (["--user", "www-data", "--group", "www-data"]
           if os.geteuid() == 0 else [])

METRICS_APP = r'''
import json
import mod_wsgi

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(mod_wsgi.server_metrics()).encode()]
'''

APP = r'''
import json, os, sys

def application(environ, start_response):
    keys = ("SCRIPT_NAME", "PATH_INFO", "mod_wsgi.process_group",
            "mod_wsgi.application_group", "wsgi.multiprocess",
            "wsgi.multithread", "EXPRESS_TEST", "HTTP_AUTHORIZATION",
            "wsgi.url_scheme", "HTTPS", "SSL_PROTOCOL", "REMOTE_ADDR",
            "REMOTE_USER")
    data = {k: environ.get(k) for k in keys}
    data["pid"] = os.getpid()
    data["cwd"] = os.getcwd()
    data["name"] = __name__
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

MODULE_APP = r'''
import json, os

def app(environ, start_response):
    body = json.dumps({"module": __name__, "pid": os.getpid(),
                       "SCRIPT_NAME": environ["SCRIPT_NAME"],
                       "PATH_INFO": environ["PATH_INFO"],
                       "process_group": environ["mod_wsgi.process_group"],
                       "EXPRESS_TEST": environ.get("EXPRESS_TEST")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''

pytestmark = pytest.mark.skipif(not VENVS, reason=NO_MODULE)


def express_command():
    return os.path.join(VENVS[0], "bin", "mod_wsgi-express")


def clean_env():
    # The test runner's PYTHON* variables are not for Apache's Python.
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def run_express(*args, cwd=None, timeout=60):
    return subprocess.run([express_command()] + list(args), cwd=cwd or "/",
                          capture_output=True, text=True, timeout=timeout,
                          env=clean_env(), stdin=subprocess.DEVNULL)


answers = http_answers


def session_members(sid):
    """Live processes in the process group `sid` (the one we created)."""
    return pids_where(lambda ppid, pgrp: pgrp == sid)


def wait_gone(sid, timeout=STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    left = session_members(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = session_members(sid)
    return left


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Express:
    """One `mod_wsgi-express start-server` of a test."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root = os.path.join(tmp, "server-root")
        self.port = free_port()
        self.proc = None
        self.out_path = os.path.join(tmp, "express.out")
        self.log_path = os.path.join(self.root, "error_log")

    def base_args(self):
        # A crash leaves a core in self.cores, so that bad_lines() can
        # tell Apache's own stop race (harness.py) from a crash of ours.
        self.cores = make_dir(prefix=os.path.join(self.tmp, "cores-"),
                              mode=0o777)
        os.chmod(self.cores, 0o777)
        cores_conf = write_file(os.path.join(self.tmp, "cores.conf"),
                                'CoreDumpDirectory "%s"\n' % self.cores)
        return (["--host", "127.0.0.1", "--port", str(self.port),
                 "--server-root", self.root, "--log-level", "info",
                 "--include-file", cores_conf] + AS_USER)

    def start(self, *args, cwd=None):
        with open(self.out_path, "w") as out:
            self.proc = subprocess.Popen(
                [express_command(), "start-server"] + list(args)
                + self.base_args(),
                cwd=cwd or self.tmp, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=clean_env(),
                start_new_session=True, preexec_fn=_allow_cores)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("start-server exited with %s:\n%s\n%s"
                                     % (self.proc.returncode, self.output(),
                                        self.error_log()))
            if answers(self.port):
                return self
            time.sleep(0.1)
        raise AssertionError("no answer within %ss:\n%s\n%s" % (
            START_TIMEOUT, self.output(), self.error_log()))

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def error_log(self):
        return read_text(self.log_path)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.get(self.url(path), **kw)

    def members(self):
        return session_members(self.proc.pid)

    def bad_lines(self, allow=()):
        """Error-log lines that mean a crash, a failure or a warning (as
        harness.BAD_LOG tells them) and match no `allow` pattern, less
        crashes whose core shows Apache's own stop race (harness.py)."""
        bad = []
        lines = [l for l in self.error_log().splitlines()
                 if BAD_LOG.search(l) and
                 not any(re.search(a, l) for a in allow)]
        crashes = [CRASH_LINE.search(l) for l in lines]
        for line, crash in zip(lines, crashes):
            if crash:
                core = os.path.join(self.cores, "core.%s" % crash.group(1))
                if not os.path.exists(core) and sum(map(bool, crashes)) == 1:
                    core = os.path.join(self.cores, "core")
                if os.path.exists(core) and is_apache_stop_race(core):
                    continue
            bad.append(line)
        return bad

    def stop(self, sig=signal.SIGTERM):
        """Signals the pid we started; returns (exit status, pids that
        were still running after STOP_TIMEOUT and had to be killed)."""
        if self.proc.poll() is None:
            # Apache's event MPM can crash a child that is closing a
            # connection just as the stop arrives (see APACHE_RACE_FRAMES
            # in harness.py): let the test's last connection close first.
            time.sleep(0.5)
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
        left = wait_gone(self.proc.pid, 3)
        kill_all(left)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        return status, left


@pytest.fixture
def tmp():
    d = make_dir("mod_wsgi-express-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def express(request, tmp):
    """express() makes a server; after the test each one started is
    stopped and its error log checked as make_server's are (the test's
    allow_log markers apply)."""
    from conftest import _allowed
    servers = []

    def make():
        srv = Express(tmp)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        if srv.proc is not None:
            srv.stop()
    allow = _allowed(request)
    bad = [line for srv in servers if srv.proc is not None
           for line in srv.bad_lines(allow)]
    assert not bad, "unexpected lines in the error log:\n" + "\n".join(bad)


def wait_for(predicate, timeout=15):
    """predicate()'s first true value within timeout, else its last value.
    A request failing meanwhile (a server restarting) counts as false."""
    def attempt():
        try:
            return predicate()
        except (OSError, requests.RequestException, ValueError):
            return None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = attempt()
        if value:
            return value
        time.sleep(0.1)
    return attempt()


# ------------------------------------------------------------ options

def test_help_lists_the_options():
    out = run_express("start-server", "--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--application-type", "--entry-point", "--callable-object",
                 "--mount-point", "--host", "--port", "--server-root",
                 "--processes", "--threads", "--embedded-mode", "--user",
                 "--group", "--working-directory", "--python-path",
                 "--log-directory", "--log-level", "--log-to-terminal",
                 "--access-log", "--document-root", "--url-alias",
                 "--setenv", "--maximum-requests", "--request-timeout",
                 "--queue-timeout", "--socket-timeout", "--include-file",
                 "--server-name", "--pid-file", "--httpd-executable",
                 "--modules-directory", "--setup-only"):
        assert flag in out.stdout, flag
    # Defaults come from the registry into the help text.
    assert "(default: 8000)" in out.stdout
    assert "(default: 60)" in out.stdout
    setup = run_express("setup-server", "--help")
    assert setup.returncode == 0
    assert "--port" in setup.stdout and "--setup-only" not in setup.stdout


def test_help_lists_every_upstream_option():
    """A command line written for upstream's express (a Dockerfile CMD, a
    systemd unit) parses: each of its start-server options is in ours."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                        "upstream-express-options.txt")
    with open(path) as f:
        upstream = [l.strip() for l in f if l.startswith("--")]
    assert len(upstream) == 147
    out = run_express("start-server", "--help")
    assert out.returncode == 0, out.stderr
    shown = set(re.findall(r"(--[a-z0-9-]+)", out.stdout))
    assert [flag for flag in upstream if flag not in shown] == []


def test_docs_list_the_options_of_the_registry():
    """docs/express.md shows the registry's options table; regenerate it
    with `python -m mod_wsgi.express.options` when an option changes."""
    from mod_wsgi.express import options
    docs = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "docs", "express.md")
    with open(docs) as f:
        text = f.read()
    start = ("<!-- options: generated by "
             "`python -m mod_wsgi.express.options` -->\n")
    body = text[text.index(start) + len(start):text.index(
        "<!-- end of options -->")]
    assert body == options.markdown()


def test_invalid_values_are_refused_by_the_parser(tmp):
    out = run_express("setup-server", "--server-root", tmp, "--port", "0")
    assert out.returncode == 2
    assert "--port" in out.stderr and "1 to 65535" in out.stderr
    out = run_express("setup-server", "--server-root", tmp, "--threads", "x")
    assert out.returncode == 2
    assert "is not a valid whole number" in out.stderr
    out = run_express("setup-server", "--server-root", tmp, "--mount-point",
                      "app")
    assert out.returncode == 2
    assert "must be a URL path starting with '/'" in out.stderr


@pytest.mark.parametrize("option, value, problem", [
    ("--setenv", "a\nLoadModule evil_module evil.so", "line break"),
    ("--server-name", 'evil"name', "quote"),
    ("--setenv", "a\x01b", "control character"),
    ("--setenv", "${HOME}", "'${'"),
])
def test_renderer_refuses_unsafe_values(tmp, option, value, problem):
    root = os.path.join(tmp, "root")
    args = ["setup-server", "--server-root", root] + AS_USER
    if option == "--setenv":
        args += ["--setenv", "EXPRESS_TEST", value]
    else:
        args += [option, value]
    out = run_express(*args)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "cannot be written into httpd.conf" in out.stderr
    assert option in out.stderr and problem in out.stderr
    # Nothing is written: no half-made server root.
    assert not os.path.exists(os.path.join(root, "httpd.conf"))


@pytest.mark.parametrize("value, problem", [
    ("/srv/my app", None),              # spaces are fine inside quotes
    ("%{GLOBAL}", None),
    ("caf\u00e9", None),
    ("a\nb", "line break"),
    ("a\rb", "line break"),
    ("a\tb", "control character"),
    ("a\x7fb", "control character"),
    ('a"b', "quote"),
    ("a'b", "quote"),
    ("a\\", "backslash"),
    ("${APACHE_LOG_DIR}", "'${'"),
])
def test_renderer_check(value, problem):
    from mod_wsgi.express import apache_conf
    found = apache_conf.problem_of(value)
    if problem is None:
        assert found is None
        assert apache_conf.quoted(value, "--x") == '"%s"' % value
    else:
        assert problem in found
        with pytest.raises(apache_conf.ConfigValueError) as e:
            apache_conf.quoted(value, "--some-option")
        assert "--some-option" in str(e.value)


def test_renderer_words_have_no_spaces():
    from mod_wsgi.express import apache_conf
    assert apache_conf.word("www-data", "--user") == "www-data"
    with pytest.raises(apache_conf.ConfigValueError):
        apache_conf.word("www data", "--user")
    with pytest.raises(apache_conf.ConfigValueError):
        apache_conf.word("", "--user")


def settings_reads():
    """Every attribute of the Settings the renderer (apache_conf) and
    server.py read: s.NAME in their functions, whose settings argument is
    named s throughout."""
    import ast
    import inspect
    from mod_wsgi.express import apache_conf, server
    names = set()
    for module in (apache_conf, server):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "s"):
                names.add(node.attr)
    return names


def test_settings_has_a_field_for_everything_read():
    """Settings lists its fields: every registered option (the renderer
    reads those of daemon_option= and directive= by name) and every other
    value the generated files are made from."""
    import dataclasses
    from mod_wsgi.express import options, server
    fields = {f.name for f in dataclasses.fields(server.Settings)}
    assert {o.name for o in options.REGISTRY} - fields == set()
    read = settings_reads()
    assert len(read) > 50           # the walk found the reads
    assert read - fields == set()


def test_settings_refuses_an_unknown_or_missing_name():
    import dataclasses
    from mod_wsgi.express import server
    with pytest.raises(TypeError):
        server.Settings(sever_root="/tmp")
    required = [f.name for f in dataclasses.fields(server.Settings)
                if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    with pytest.raises(TypeError):
        server.Settings(**{name: None for name in required[1:]})
    s = server.Settings(**{name: None for name in required})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sever_root = "/tmp"


def test_timeouts_become_daemon_options(tmp):
    root = os.path.join(tmp, "root")
    out = run_express("setup-server", "--server-root", root, "--port",
                      "8123", "--request-timeout", "30",
                      "--maximum-requests", "100", "--queue-timeout", "0",
                      "--processes", "3", "--threads", "4", *AS_USER)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(root, "httpd.conf")) as f:
        daemon = [l for l in f.read().splitlines()
                  if l.startswith("WSGIDaemonProcess ")]
    assert len(daemon) == 1
    words = daemon[0].split()
    assert words[1] == '"localhost:8123"'
    for expected in ("processes=3", "threads=4", "request-timeout=30",
                     "maximum-requests=100", "socket-timeout=60",
                     "connect-timeout=15", "graceful-timeout=15",
                     "shutdown-timeout=5", "deadlock-timeout=60",
                     "startup-timeout=15", "listen-backlog=100"):
        assert '"%s"' % expected in words, expected
    # 0 means "not set": such options are left out.
    assert not any(w.startswith(('"queue-timeout=', '"inactivity-timeout=',
                                 '"restart-interval='))
                   for w in words)


def test_upstream_daemon_options_render_and_serve(express, tmp):
    """Upstream 6.1's --interrupt-timeout, --eviction-timeout,
    --response-socket-timeout, --cpu-time-limit, --response-flush-delay,
    the buffer sizes and --server-metrics (issue 14) become the
    WSGIDaemonProcess options the module acts on; Apache accepts the
    result and the application sees --server-metrics take effect."""
    script = write_file(os.path.join(tmp, "metrics.wsgi"), METRICS_APP)
    srv = express().start(
        script, "--request-timeout", "30", "--interrupt-timeout", "5",
        "--eviction-timeout", "7", "--response-socket-timeout", "9",
        "--cpu-time-limit", "3600", "--response-flush-delay", "0",
        "--header-buffer-size", "16384", "--response-buffer-size", "131072",
        "--receive-buffer-size", "65536", "--send-buffer-size", "65536",
        "--server-metrics")
    with open(os.path.join(srv.root, "httpd.conf")) as f:
        daemon = [l for l in f.read().splitlines()
                  if l.startswith("WSGIDaemonProcess ")][0].split()
    for expected in ("interrupt-timeout=5", "eviction-timeout=7",
                     "response-socket-timeout=9", "cpu-time-limit=3600",
                     "response-flush-delay=0", "header-buffer-size=16384",
                     "response-buffer-size=131072",
                     "receive-buffer-size=65536", "send-buffer-size=65536",
                     "server-metrics=On"):
        assert '"%s"' % expected in daemon, expected
    metrics = srv.get("/").json()
    assert metrics is not None and metrics["server_limit"] >= 1


AUTH_SCRIPT = r'''
import hashlib
USERS = {"alice": "wonder", "bob": "builder"}

def check_password(environ, user, password):
    return USERS[user] == password if user in USERS else None

def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, USERS[user])).encode()).hexdigest()

def groups_for_user(environ, user):
    return ["staff"] if user == "alice" else []

def allow_access(environ, host):
    return environ.get("QUERY_STRING") != "deny"
'''


@pytest.mark.allow_log("AH01617", "AH01631", "AH01630")
def test_auth_scripts_protect_the_site(express, tmp):
    """--auth-user-script, --auth-group-script with --auth-group and
    --host-access-script (upstream's options) put the whole site behind
    the module's auth providers; the application, in its daemon, sees the
    user."""
    from requests.auth import HTTPBasicAuth
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    auth = write_file(os.path.join(tmp, "auth.py"), AUTH_SCRIPT)
    srv = express().start(script, "--auth-user-script", auth,
                          "--auth-group-script", auth, "--auth-group", "staff",
                          "--host-access-script", auth)
    assert srv.get("/").status_code == 401
    r = srv.get("/", auth=HTTPBasicAuth("alice", "wonder"))
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
    assert srv.get("/", auth=HTTPBasicAuth("alice", "nope")).status_code == 401
    # bob is a user, not in staff.
    assert srv.get("/", auth=HTTPBasicAuth("bob", "builder")).status_code == 401
    assert srv.get("/?deny", auth=HTTPBasicAuth("alice", "wonder")).status_code == 403
    with open(os.path.join(srv.root, "httpd.conf")) as f:
        conf = f.read()
    assert "Require wsgi-group staff" in conf
    assert "WSGIRestrictEmbedded On" not in conf


def test_auth_type_digest(express, tmp):
    from requests.auth import HTTPDigestAuth
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    auth = write_file(os.path.join(tmp, "auth.py"), AUTH_SCRIPT)
    srv = express().start(script, "--auth-user-script", auth,
                          "--auth-type", "Digest")
    assert srv.get("/").status_code == 401
    r = srv.get("/", auth=HTTPDigestAuth("bob", "builder"))
    assert r.status_code == 200 and r.json()["REMOTE_USER"] == "bob"


PROBE_APP = r'''
import json, os, sys

def application(environ, start_response):
    if environ["PATH_INFO"] == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"the application's own 404 page"]
    with open("/proc/self/cmdline", "rb") as f:
        title = f.read().split(b"\0")[0].decode()
    body = json.dumps({"eggs": os.environ.get("PYTHON_EGG_CACHE"),
                       "switch": sys.getswitchinterval(), "title": title,
                       "sendfile": environ.get("mod_wsgi.enable_sendfile"),
                       "method": environ["REQUEST_METHOD"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Method", environ["REQUEST_METHOD"])])
    return [body]
'''


def test_process_and_feature_options(express, tmp):
    """--process-name, --python-eggs, --switch-interval, --map-head-to-get,
    --error-override, --enable-sendfile (upstream's options) do what they
    say in the running server."""
    script = write_file(os.path.join(tmp, "probe.wsgi"), PROBE_APP)
    eggs = make_dir(prefix=os.path.join(tmp, "eggs-"))
    srv = express().start(script, "--process-name", "probe-daemon",
                          "--python-eggs", eggs, "--switch-interval", "0.02",
                          "--map-head-to-get", "On", "--error-override",
                          "--enable-sendfile")
    env = srv.get("/").json()
    assert env["eggs"] == eggs
    assert abs(env["switch"] - 0.02) < 1e-9
    assert env["title"] == "probe-daemon"
    assert env["sendfile"] == "1"
    assert requests.head(srv.url("/"), timeout=30).headers["X-Method"] == "GET"
    r = srv.get("/missing")
    assert r.status_code == 404
    assert "the application's own 404 page" not in r.text
    # And without them: the defaults.
    srv.stop()
    srv2 = express().start(script)
    env = srv2.get("/").json()
    assert env["title"].startswith("(wsgi:") and env["sendfile"] == "0"
    assert requests.head(srv2.url("/"), timeout=30).headers["X-Method"] == "HEAD"
    assert "the application's own 404 page" in srv2.get("/missing").text


def test_upstream_daemon_options_are_checked_before_anything_is_written(tmp):
    root = os.path.join(tmp, "root")
    for option, value, problem in (
            ("--header-buffer-size", "100", "at least 8192"),
            ("--response-buffer-size", "1000", "at least 65536"),
            ("--send-buffer-size", "10", "at least 512"),
            ("--interrupt-timeout", "-1", "0 or more")):
        out = run_express("setup-server", "--server-root", root, option,
                          value, *AS_USER)
        assert out.returncode == 2, (option, out.stderr)
        assert option in out.stderr and problem in out.stderr, out.stderr
        assert not os.path.exists(os.path.join(root, "httpd.conf"))
    # Without them, the module's defaults: nothing rendered.
    out = run_express("setup-server", "--server-root", root, *AS_USER)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(root, "httpd.conf")) as f:
        daemon = [l for l in f.read().splitlines()
                  if l.startswith("WSGIDaemonProcess ")][0]
    for name in ("interrupt-timeout", "response-flush-delay", "server-metrics",
                 "header-buffer-size", "send-buffer-size"):
        assert '"%s=' % name not in daemon, name


def test_as_root_user_and_group_are_required(tmp):
    if os.geteuid() != 0:
        pytest.skip("only root must name --user/--group")
    out = run_express("setup-server", "--server-root", tmp)
    assert out.returncode == 1
    assert "--user" in out.stderr and "--group" in out.stderr
    out = run_express("setup-server", "--server-root", tmp, "--user", "root",
                      "--group", "root")
    assert out.returncode == 1
    assert "unprivileged" in out.stderr


def test_missing_script_is_reported(tmp):
    out = run_express("setup-server", os.path.join(tmp, "nope.wsgi"),
                      "--server-root", tmp, *AS_USER)
    assert out.returncode == 1
    assert "nope.wsgi does not exist" in out.stderr


# ------------------------------------------------------------ serving

def test_script_app_in_daemon_mode_with_static_files(express, tmp):
    app_dir = make_dir(prefix=os.path.join(tmp, "app-"))
    script = write_file(os.path.join(app_dir, "app.wsgi"), APP)
    static = make_dir(prefix=os.path.join(tmp, "static-"))
    write_file(os.path.join(static, "style.css"), "body { color: red }\n")
    os.makedirs(os.path.join(static, "sub"))
    os.chmod(os.path.join(static, "sub"), 0o755)
    write_file(os.path.join(static, "sub", "page.html"), "<p>static</p>\n")
    srv = express().start(script, "--document-root", static,
                          "--url-alias", "/assets", static,
                          "--setenv", "EXPRESS_TEST", "from setenv",
                          "--processes", "2", "--threads", "3",
                          "--working-directory", app_dir)

    r = srv.get("/some/path")
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/some/path"
    # Daemon mode is the default; the group is named HOST:PORT.
    assert env["mod_wsgi.process_group"] == "127.0.0.1:%d" % srv.port
    assert env["mod_wsgi.application_group"] == ""
    assert env["wsgi.multiprocess"] is True
    assert env["EXPRESS_TEST"] == "from setenv"
    assert env["cwd"] == app_dir
    assert env["pid"] != srv.proc.pid
    # Authorization reaches the application (WSGIPassAuthorization On).
    assert srv.get("/", headers={"Authorization": "Basic eDp5"}).json()[
        "HTTP_AUTHORIZATION"] == "Basic eDp5"

    # A file of the document root wins over the application...
    css = srv.get("/style.css")
    assert css.status_code == 200
    assert css.text == "body { color: red }\n"
    assert css.headers["Content-Type"].startswith("text/css")
    assert srv.get("/sub/page.html").text == "<p>static</p>\n"
    # ...anything else goes to it.
    assert srv.get("/sub/missing.html").json()["PATH_INFO"] == \
        "/sub/missing.html"
    assert srv.get("/assets/style.css").text == "body { color: red }\n"
    # The server root's own files are not reachable.
    assert srv.get("/httpd.conf").json()["PATH_INFO"] == "/httpd.conf"
    status, left = srv.stop(signal.SIGTERM)
    assert not left, "processes left after SIGTERM: %s" % left
    assert status == 0, srv.output()
    assert not srv.bad_lines(), srv.error_log()


def test_trust_proxy_options(express, tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    srv = express().start(script, "--trust-proxy-header", "X-Forwarded-Proto",
                          "--trust-proxy-header", "X-Forwarded-For",
                          "--trust-proxy", "127.0.0.0/8")
    env = srv.get("/", headers={"X-Forwarded-Proto": "https",
                                "X-Forwarded-For": "198.51.100.4"}).json()
    assert env["wsgi.url_scheme"] == "https"
    assert env["REMOTE_ADDR"] == "198.51.100.4"
    status, left = srv.stop(signal.SIGTERM)
    assert not left and not srv.bad_lines(), srv.error_log()
    # A proxy address that is not ours: the headers are not believed.
    srv = express().start(script, "--trust-proxy-header", "X-Forwarded-Proto",
                          "--trust-proxy", "10.1.2.3")
    env = srv.get("/", headers={"X-Forwarded-Proto": "https"}).json()
    assert env["wsgi.url_scheme"] == "http"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    status, left = srv.stop(signal.SIGTERM)
    assert not left and not srv.bad_lines(), srv.error_log()


def test_module_app_embedded_with_mount_point(express, tmp):
    pkg = make_dir(prefix=os.path.join(tmp, "pkg-"))
    write_file(os.path.join(pkg, "express_module_app.py"), MODULE_APP)
    srv = express().start("--application-type", "module",
                          "--entry-point", "express_module_app",
                          "--callable-object", "app",
                          "--python-path", pkg,
                          "--mount-point", "/sub",
                          "--embedded-mode", "--server-mpm", "prefork",
                          "--setenv", "EXPRESS_TEST", "embedded")
    r = srv.get("/sub/x")
    assert r.status_code == 200, (r.text, srv.error_log())
    env = r.json()
    assert env == {"module": "express_module_app", "pid": env["pid"],
                   "SCRIPT_NAME": "/sub", "PATH_INFO": "/x",
                   "process_group": "", "EXPRESS_TEST": "embedded"}
    # Embedded: the application runs in one of Apache's children.
    assert env["pid"] in srv.members()
    with open(os.path.join(srv.root, "httpd.conf")) as f:
        conf = f.read()
    assert "LoadModule mpm_prefork_module" in conf
    assert "WSGIDaemonProcess" not in conf
    assert srv.get("/elsewhere").status_code == 404

    status, left = srv.stop(signal.SIGINT)      # Ctrl-C
    assert not left, "processes left after SIGINT: %s" % left
    assert status == 0
    assert not srv.bad_lines(), srv.error_log()


def test_static_application_type(express, tmp):
    site = make_dir(prefix=os.path.join(tmp, "site-"))
    write_file(os.path.join(site, "index.html"), "<h1>home</h1>\n")
    write_file(os.path.join(site, "data.json"), '{"a": 1}\n')
    write_file(os.path.join(site, "big.txt"), "compress me\n" * 500)
    srv = express().start("--application-type", "static", site,
                          "--directory-index", "index.html",
                          "--compress-responses")
    assert srv.get("/index.html").text == "<h1>home</h1>\n"
    big = srv.get("/big.txt", headers={"Accept-Encoding": "gzip"})
    assert big.headers.get("Content-Encoding") == "gzip"
    assert big.text == "compress me\n" * 500
    assert "Content-Encoding" not in srv.get(
        "/big.txt", headers={"Accept-Encoding": "identity"}).headers
    assert srv.get("/").text == "<h1>home</h1>\n"
    r = srv.get("/data.json")
    assert r.json() == {"a": 1}
    assert r.headers["Content-Type"] == "application/json"
    assert srv.get("/missing").status_code == 404
    status, left = srv.stop()
    assert not left and status == 0


# The host that is not the server's name gets its 403 from Apache.
@pytest.mark.allow_log("AH01630")
def test_server_name_and_aliases(express, tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    static = make_dir(prefix=os.path.join(tmp, "static-"))
    write_file(os.path.join(static, "file.txt"), "named\n")
    srv = express().start(script, "--server-name", "site.test",
                          "--server-alias", "*.site.test",
                          "--server-alias", "other.test",
                          "--document-root", static)

    def get(host, path="/"):
        return srv.get(path, headers={"Host": host})

    assert get("site.test").json()["PATH_INFO"] == "/"
    assert get("www.site.test").status_code == 200
    assert get("other.test:%d" % srv.port).status_code == 200
    assert get("site.test", "/file.txt").text == "named\n"
    # Any other host name is refused, the application never sees it.
    assert get("unknown.test").status_code == 403
    assert get("127.0.0.1:%d" % srv.port).status_code == 403
    status, left = srv.stop()
    assert not left and status == 0
    out = run_express("setup-server", "--server-root", tmp,
                      "--server-alias", "x.test", *AS_USER)
    assert out.returncode == 1 and "need --server-name" in out.stderr


def test_welcome_page_without_an_application(express, tmp):
    srv = express().start()
    r = srv.get("/")
    assert r.status_code == 200
    assert "mod_wsgi-express is running" in r.text
    status, left = srv.stop()
    assert not left and status == 0


def test_signals_restart_and_graceful_restart(express, tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    logs = make_dir(prefix=os.path.join(tmp, "logs-"))
    pid_file = os.path.join(tmp, "apache.pid")
    srv = express().start(script, "--log-directory", logs,
                          "--pid-file", pid_file)
    srv.log_path = os.path.join(logs, "error_log")
    env = srv.get("/").json()
    first = env["pid"]
    # --processes not given: one process, and wsgi.multiprocess False.
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.multithread"] is True
    with open(pid_file) as f:
        assert int(f.read()) == srv.proc.pid
    assert not os.path.exists(os.path.join(srv.root, "error_log"))
    log = srv.log_path

    def log_has(text):
        with open(log, errors="replace") as f:
            return text in f.read()

    time.sleep(0.5)             # as in stop(): let the last request close
    os.kill(srv.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: log_has("SIGHUP received")), srv.error_log()
    assert wait_for(lambda: srv.get("/").status_code == 200)
    # A restart replaces the daemon processes.
    second = wait_for(lambda: (lambda p: p != first and p)(
        srv.get("/").json()["pid"]))
    assert second and second != first
    assert srv.proc.poll() is None

    time.sleep(0.5)
    os.kill(srv.proc.pid, signal.SIGUSR1)
    assert wait_for(lambda: log_has("SIGUSR1 received")), \
        srv.error_log()
    third = wait_for(lambda: (lambda p: p != second and p)(
        srv.get("/").json()["pid"]))
    assert third and third != second
    assert srv.proc.poll() is None

    status, left = srv.stop()
    assert not left and status == 0
    assert not srv.bad_lines(), srv.error_log()


def test_an_edited_script_is_loaded_again(express, tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"),
                        "def application(environ, start_response):\n"
                        "    start_response('200 OK', [])\n"
                        "    return [b'first']\n")
    srv = express().start(script)
    assert srv.get("/").text == "first"
    write_file(script, "import os\n"
                       "def application(environ, start_response):\n"
                       "    start_response('200 OK', [])\n"
                       "    return [b'second']\n")
    st = os.stat(script)
    os.utime(script, (st.st_atime, st.st_mtime + 5))
    # The very next request sees the new code: no restart needed.
    assert srv.get("/").text == "second"
    status, left = srv.stop()
    assert not left and status == 0
    assert not srv.bad_lines(), srv.error_log()


# The reloader says what changed on the application's stderr.
@pytest.mark.allow_log(r"mod_wsgi-express: .* changed; restarting the daemon")
def test_reload_on_changes(express, tmp):
    app_dir = make_dir(prefix=os.path.join(tmp, "app-"))
    helper = write_file(os.path.join(app_dir, "express_helper.py"),
                        "VALUE = 'one'\n")
    script = write_file(os.path.join(app_dir, "app.wsgi"),
                        "import express_helper\n"
                        "def application(environ, start_response):\n"
                        "    start_response('200 OK', [])\n"
                        "    return [express_helper.VALUE.encode()]\n")
    srv = express().start(script, "--reload-on-changes",
                          "--working-directory", app_dir)
    assert srv.get("/").text == "one"
    write_file(helper, "VALUE = 'two'\n")
    st = os.stat(helper)
    os.utime(helper, (st.st_atime, st.st_mtime + 5))
    assert wait_for(lambda: srv.get("/").text == "two", 20), srv.error_log()
    assert "express_helper.py changed" in srv.error_log()
    status, left = srv.stop()
    assert not left and status == 0


def test_passenv_error_document_and_rotated_logs(express, tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"), r"""
def application(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        start_response("503 Service Unavailable", [])
        return [b"from the app"]
    body = repr(environ.get("EXPRESS_PASSED")).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
""")
    docs = make_dir(prefix=os.path.join(tmp, "docs-"))
    write_file(os.path.join(docs, "sorry.html"), "try later\n")
    os.environ["EXPRESS_PASSED"] = "from the environment"
    try:
        srv = express().start(script, "--passenv", "EXPRESS_PASSED",
                              "--url-alias", "/docs", docs,
                              "--error-document", "404", "/docs/sorry.html",
                              "--rotate-logs", "--access-log")
    finally:
        del os.environ["EXPRESS_PASSED"]
    # clean_env() passes the variable to start-server, PassEnv on to the
    # application's environ.
    assert srv.get("/").text == "'from the environment'"
    with open(os.path.join(srv.root, "httpd.conf")) as f:
        conf = f.read()
    assert "|" in conf and "rotatelogs -n 10" in conf
    # A rotatelogs process writes each log.
    loggers = [p for p in srv.members()
               if "rotatelogs" in open("/proc/%d/cmdline" % p).read()]
    assert len(loggers) == 2
    assert wait_for(lambda: "GET / HTTP/1.1" in open(
        os.path.join(srv.root, "access_log")).read())
    missing = srv.get("/docs/nothing-here")
    assert missing.status_code == 404 and missing.text == "try later\n"
    status, left = srv.stop()
    assert not left and status == 0


def test_start_server_setup_only_writes_but_does_not_start(tmp):
    root = os.path.join(tmp, "root")
    port = free_port()
    out = run_express("start-server", "--setup-only", "--host", "127.0.0.1",
                      "--port", str(port), "--server-root", root, *AS_USER)
    assert out.returncode == 0, out.stderr
    assert os.path.isfile(os.path.join(root, "httpd.conf"))
    assert not answers(port)


# ------------------------------------------------------------ setup-server

def test_setup_server_then_apachectl(tmp):
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    srv = Express(tmp)              # for its arguments and log checks
    root, port = srv.root, srv.port
    out = run_express("setup-server", script, "--access-log",
                      "--startup-log", *srv.base_args(), cwd=tmp)
    assert out.returncode == 0, out.stderr
    for name in ("httpd.conf", "apachectl", "envvars", "handler.wsgi"):
        assert os.path.isfile(os.path.join(root, name)), name
    apachectl = os.path.join(root, "apachectl")
    assert os.access(apachectl, os.X_OK)
    assert not answers(port), "setup-server must not start Apache"

    def ctl(action):
        return subprocess.run([apachectl, action], capture_output=True,
                              text=True, timeout=60, env=clean_env(),
                              stdin=subprocess.DEVNULL)

    assert ctl("configtest").returncode == 0
    pid_file = os.path.join(root, "httpd.pid")
    pid = None
    try:
        r = ctl("start")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: answers(port)), open(
            os.path.join(root, "error_log")).read()
        pid = int(wait_for(lambda: os.path.exists(pid_file) and open(
            pid_file).read().strip()))
        assert os.path.isfile(os.path.join(root, "startup_log"))
        first = requests.get("http://127.0.0.1:%d/" % port, timeout=30)
        assert first.json()["mod_wsgi.process_group"] == "127.0.0.1:%d" % port

        # Each signal only once the last request's connection closed (see
        # Express.stop).
        time.sleep(0.5)
        assert ctl("graceful").returncode == 0
        assert wait_for(lambda: requests.get(
            "http://127.0.0.1:%d/" % port, timeout=30).json()["pid"]
            != first.json()["pid"])
        time.sleep(0.5)
        assert ctl("restart").returncode == 0
        assert wait_for(lambda: answers(port))

        time.sleep(0.5)
        assert ctl("stop").returncode == 0
        assert not wait_gone(pid), "processes left after apachectl stop"
        assert not answers(port)
        with open(os.path.join(root, "access_log")) as f:
            assert "GET / HTTP/1.1" in f.read()
    finally:
        if pid is not None:
            kill_all(session_members(pid))
    assert not srv.bad_lines(), srv.error_log()
    assert ctl("bogus").returncode == 2


# ------------------------------------------------------------ HTTPS

def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1: directory/server.{crt,key}."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    base = os.path.join(directory, "server")
    out = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", base + ".key", "-out", base + ".crt", "-days", "2",
         "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         # A server's certificate, not a CA's (mod_ssl warns AH01906).
         "-addext", "basicConstraints=critical,CA:FALSE"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    os.chmod(base + ".key", 0o600)    # Apache's parent (root) reads it
    os.chmod(base + ".crt", 0o644)
    return base


def test_https_with_a_certificate_and_https_only(express, tmp):
    base = make_certificate(tmp)
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    static = make_dir(prefix=os.path.join(tmp, "static-"))
    write_file(os.path.join(static, "plain.txt"), "over tls\n")
    https_port = free_port()
    srv = express().start(script, "--https-port", str(https_port),
                          "--ssl-certificate", base, "--https-only",
                          "--ssl-environment", "--document-root", static,
                          "--hsts-policy", "max-age=600")
    secure = "https://127.0.0.1:%d" % https_port
    r = requests.get(secure + "/x?y=1", verify=base + ".crt", timeout=30)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["wsgi.url_scheme"] == "https"
    assert env["PATH_INFO"] == "/x"
    assert env["SSL_PROTOCOL"].startswith("TLS")
    assert r.headers["Strict-Transport-Security"] == "max-age=600"
    # Static files are served over HTTPS too.
    assert requests.get(secure + "/plain.txt", verify=base + ".crt",
                        timeout=30).text == "over tls\n"
    # Plain HTTP is redirected to the same URL over HTTPS.
    plain = srv.get("/x?y=1", allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == secure + "/x?y=1"
    status, left = srv.stop()
    assert not left and status == 0
    assert not srv.bad_lines(), srv.error_log()


def test_https_options_are_checked(tmp):
    base = make_certificate(tmp)
    out = run_express("setup-server", "--server-root", tmp,
                      "--ssl-certificate", base, *AS_USER)
    assert out.returncode == 1
    assert "need --https-port" in out.stderr
    out = run_express("setup-server", "--server-root", tmp,
                      "--https-port", "8443", *AS_USER)
    assert out.returncode == 1
    assert "--ssl-certificate-file FILE" in out.stderr
    out = run_express("setup-server", "--server-root", tmp, "--https-port",
                      "8443", "--ssl-certificate", os.path.join(tmp, "none"),
                      *AS_USER)
    assert out.returncode == 1
    assert "none.crt does not exist" in out.stderr


# ------------------------------------------------------------ terminal

def test_ctrl_c_on_a_terminal_stops_everything(tmp):
    """On a terminal, start-server keeps Apache in a process group of its
    own (a terminal resize, SIGWINCH, must not stop it) and turns Ctrl-C
    into a stop."""
    script = write_file(os.path.join(tmp, "app.wsgi"), APP)
    port = free_port()
    argv = [express_command(), "start-server", script, "--host",
            "127.0.0.1", "--port", str(port), "--server-root",
            os.path.join(tmp, "root")] + AS_USER
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(tmp)
            os.execve(argv[0], argv, clean_env())
        finally:
            os._exit(127)
    apache = []
    try:
        assert wait_for(lambda: answers(port), START_TIMEOUT)
        apache = pids_where(lambda ppid, pgrp: ppid == pid)
        assert len(apache) == 1
        assert os.getpgid(apache[0]) != os.getpgid(pid)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)
        assert answers(port), "SIGWINCH must not stop the server"
        time.sleep(0.5)
        os.write(fd, b"\x03")                # Ctrl-C typed at the terminal
        deadline = time.monotonic() + STOP_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        assert status is not None and os.WIFEXITED(status), status
        assert os.WEXITSTATUS(status) == 0
        assert not wait_gone(apache[0], 5), "Apache outlived Ctrl-C"
        assert not answers(port)
    finally:
        os.close(fd)
        for p in apache:
            kill_all(session_members(p))
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


# ------------------------------------------------------------ install-module

def test_install_module_into_a_directory(tmp):
    target = make_dir(prefix=os.path.join(tmp, "modules-"))
    out = run_express("install-module", "--modules-directory", target)
    assert out.returncode == 0, out.stderr
    location = run_express("module-location").stdout.strip()
    installed = os.path.join(target, os.path.basename(location))
    with open(installed, "rb") as a, open(location, "rb") as b:
        assert a.read() == b.read()
    assert out.stdout.splitlines() == [
        'LoadModule wsgi_module "%s"' % installed,
        'WSGIPythonHome "%s"' % VENVS[0]]
    out = run_express("install-module", "--modules-directory",
                      os.path.join(tmp, "missing"))
    assert out.returncode == 2 and "is not a directory" in out.stderr


# ------------------------------------------------------------ Django

DJANGO_SETTINGS = '''
import os
BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.staticfiles", "mod_wsgi.express"]
MIDDLEWARE = []
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
DATABASES = {}
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(BASE_DIR, "collected")
'''

DJANGO_URLS = '''
import os
from django.http import JsonResponse
from django.urls import path

def index(request):
    return JsonResponse({"view": "index", "pid": os.getpid(),
                         "settings": os.environ.get("DJANGO_SETTINGS_MODULE"),
                         "cwd": os.getcwd(),
                         "script_name": request.META["SCRIPT_NAME"]})

urlpatterns = [path("", index)]
'''

DJANGO_WSGI = '''
import os
from django.core.wsgi import get_wsgi_application
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
'''

DJANGO_MANAGE = '''
import os, sys
if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
'''


def installed_has_runmodwsgi(venv):
    out = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import mod_wsgi.express.management.commands.runmodwsgi"],
        capture_output=True, text=True, timeout=60, cwd="/", env=clean_env())
    return out.returncode == 0, out.stderr


def test_runmodwsgi_serves_a_django_project(tmp):
    venv = VENVS[0]
    if subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                       "import django"], cwd="/", env=clean_env(),
                      capture_output=True, timeout=60).returncode != 0:
        pytest.skip("Django is not installed in %s" % venv)
    ok, why = installed_has_runmodwsgi(venv)
    assert ok, ("the installed package lacks the runmodwsgi command "
                "(setup.cfg must list mod_wsgi.express.management and "
                "mod_wsgi.express.management.commands):\n" + why)
    project = make_dir(prefix=os.path.join(tmp, "project-"))
    site = os.path.join(project, "mysite")
    os.makedirs(site)
    os.chmod(site, 0o755)
    write_file(os.path.join(site, "__init__.py"), "")
    write_file(os.path.join(site, "settings.py"), DJANGO_SETTINGS)
    write_file(os.path.join(site, "urls.py"), DJANGO_URLS)
    write_file(os.path.join(site, "wsgi.py"), DJANGO_WSGI)
    manage = write_file(os.path.join(project, "manage.py"), DJANGO_MANAGE)
    collected = os.path.join(project, "collected")
    os.makedirs(collected)
    os.chmod(collected, 0o755)
    write_file(os.path.join(collected, "site.css"), "h1 { color: blue }\n")

    port = free_port()
    root = os.path.join(tmp, "root")
    out_path = os.path.join(tmp, "django.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [os.path.join(venv, "bin", "python"), manage, "runmodwsgi",
             "--host", "127.0.0.1", "--port", str(port), "--server-root",
             root] + AS_USER, cwd=project, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=clean_env(), start_new_session=True)
    try:
        def log():
            with open(out_path) as f:
                text = f.read()
            try:
                with open(os.path.join(root, "error_log")) as f:
                    text += f.read()
            except OSError:
                pass
            return text

        assert wait_for(lambda: answers(port) or proc.poll() is not None,
                        START_TIMEOUT)
        assert proc.poll() is None, log()
        r = requests.get("http://127.0.0.1:%d/" % port, timeout=30)
        assert r.status_code == 200, (r.text, log())
        data = r.json()
        assert data["view"] == "index"
        assert data["settings"] == "mysite.settings"
        assert data["cwd"] == project
        assert data["pid"] != proc.pid          # a daemon process
        css = requests.get("http://127.0.0.1:%d/static/site.css" % port,
                           timeout=30)
        assert css.status_code == 200
        assert css.text == "h1 { color: blue }\n"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0
        assert not wait_gone(proc.pid, 5)
    finally:
        kill_all(session_members(proc.pid))
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
