"""Fixtures: a shared Apache per (Python venv x MPM) serving every app in
tests/apps at once, and a factory for servers with a configuration of
their own.

MOD_WSGI_TEST_VENVS   space-separated venv dirs, each with our package
                      (and the built module) installed; `make test` sets it.
MOD_WSGI_TEST_MPMS    MPMs for the shared server, default "event prefork".

After every test that used a server, its error log (since the test began)
must hold no [crit]/[alert]/[emerg], segfault or sanitizer lines; a test
that expects some names them with @pytest.mark.allow_log(regex, ...).
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import APPS, DATA  # noqa: E402
from harness import ApacheServer, make_dir, module_for  # noqa: E402


def _venvs():
    listed = os.environ.get("MOD_WSGI_TEST_VENVS", "").split()
    if not listed:
        # Running pytest by hand from a venv that has the package.
        listed = [sys.prefix]
    found, missing = [], []
    for v in listed:
        (found if module_for(v) else missing).append(os.path.abspath(v))
    return found, missing


VENVS, MISSING_VENVS = _venvs()
MPMS = os.environ.get("MOD_WSGI_TEST_MPMS", "event prefork").split()
COMBOS = [(v, m) for v in VENVS for m in MPMS]
NO_MODULE = ("no built mod_wsgi module: set MOD_WSGI_TEST_VENVS to venvs with "
             "the package installed (`make test` does); looked in: %s"
             % " ".join(MISSING_VENVS or [sys.prefix]))


def combo_id(c):
    return "py%s-%s" % (os.path.basename(c[0]).replace("venv-", ""), c[1])


def pytest_report_header(config):
    return ["mod_wsgi venvs: %s" % (" ".join(VENVS) or "none"),
            "mod_wsgi MPMs: %s" % " ".join(MPMS)]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_log(*regex): error-log lines the test expects "
        "that would otherwise fail the crash/critical check")


# The configuration of the shared server.  @APPS@ is tests/apps, @STATE@ a
# world-writable directory for files apps and tests exchange.
MAIN_CONF = r"""
SetEnv TEST_STATE_DIR "@STATE@"
SetEnv TEST_GROUP fromenv
<Directory "@APPS@">
    Require all granted
</Directory>
<Directory "@STATE@">
    Require all granted
</Directory>

# environ
WSGIScriptAlias /sub "@APPS@/environ.wsgi"
WSGIScriptAlias /auth "@APPS@/environ.wsgi" pass-authorization=On
WSGIScriptAlias /dgroup "@APPS@/environ.wsgi"
<Location /dgroup>
    WSGIApplicationGroup dirgroup
    WSGIPassAuthorization On
    WSGIPassApacheRequest On
    WSGIErrorOverride On
</Location>

# input
WSGIScriptAlias /input "@APPS@/input.wsgi"
WSGIScriptAlias /chunked "@APPS@/input.wsgi"
<Location /chunked>
    WSGIChunkedRequest On
</Location>

# output, errors, file_wrapper, logging, process
WSGIScriptAlias /out "@APPS@/output.wsgi"
WSGIScriptAlias /deflated "@APPS@/output.wsgi"
<Location /deflated>
    SetOutputFilter DEFLATE
</Location>
WSGIScriptAlias /err "@APPS@/errors.wsgi"
WSGIScriptAlias /fw "@APPS@/filewrapper.wsgi"
WSGIScriptAlias /sendfile "@APPS@/filewrapper.wsgi"
WSGIScriptAlias /sendfile-env "@APPS@/environ.wsgi"
<LocationMatch "^/sendfile">
    WSGIEnableSendfile On
</LocationMatch>
# the same file_wrapper app in a daemon: real files cross as descriptors
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess shared processes=1 threads=4
WSGIScriptAlias /dfw "@APPS@/filewrapper.wsgi" process-group=shared
WSGIScriptAlias /dsendfile "@APPS@/filewrapper.wsgi" process-group=shared
<Location /dsendfile>
    WSGIEnableSendfile On
</Location>
WSGIScriptAlias /log "@APPS@/logging.wsgi"
WSGIScriptAlias /proc "@APPS@/process.wsgi"
# The same output, input, errors and logging apps in a daemon (see
# in_both_modes below).
WSGIDaemonProcess matrix processes=1 threads=8
WSGIScriptAlias /dout "@APPS@/output.wsgi" process-group=matrix
WSGIScriptAlias /dinput "@APPS@/input.wsgi" process-group=matrix
WSGIScriptAlias /dchunked "@APPS@/input.wsgi" process-group=matrix
<Location /dchunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /derr "@APPS@/errors.wsgi" process-group=matrix
WSGIScriptAlias /dlog "@APPS@/logging.wsgi" process-group=matrix

# application groups
WSGIScriptAlias /grp "@APPS@/groups.wsgi"
WSGIScriptAlias /global "@APPS@/groups.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /global2 "@APPS@/groups.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /global-other "@APPS@/groups2.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /named "@APPS@/groups.wsgi" application-group=named
WSGIScriptAlias /named-other "@APPS@/groups2.wsgi" application-group=named
WSGIScriptAlias /third-other "@APPS@/groups2.wsgi" application-group=third
WSGIScriptAlias /server "@APPS@/groups.wsgi" application-group=%{SERVER}
WSGIScriptAlias /host "@APPS@/groups.wsgi" application-group=%{HOST}
WSGIScriptAlias /resource "@APPS@/groups.wsgi" application-group=%{RESOURCE}
WSGIScriptAlias /envgroup "@APPS@/groups.wsgi" application-group=%{ENV:TEST_GROUP}
WSGIScriptAlias /global-env "@APPS@/environ.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /named-env "@APPS@/environ.wsgi" application-group=named

# scripts
WSGIScriptAlias /syntax "@APPS@/syntax_error.wsgi"
WSGIScriptAlias /nocallable "@APPS@/no_callable.wsgi"
WSGIScriptAlias /importerror "@APPS@/import_error.wsgi"
WSGIScriptAlias /other "@APPS@/other_callable.wsgi" callable-object=app2
WSGIScriptAlias /reload "@STATE@/reload.wsgi"
WSGIScriptAlias /reload-broken "@STATE@/reload_broken.wsgi"
WSGIScriptAliasMatch ^/match/([a-z_]+)\.py "@APPS@/$1.wsgi"
WSGIScriptAlias /dir/ "@APPS@/"

# frameworks
WSGIScriptAlias /flask "@APPS@/flask_app/flask_app.wsgi"
WSGIScriptAlias /django "@APPS@/django_project/django_project.wsgi"
<Directory "@APPS@/flask_app">
    Require all granted
</Directory>
<Directory "@APPS@/django_project">
    Require all granted
</Directory>

WSGIScriptAlias / "@APPS@/environ.wsgi"
"""


def state_dir():
    d = make_dir("mod_wsgi-state-", 0o777)
    os.chmod(d, 0o777)     # mkdtemp honours the umask; the children write here
    path = os.path.join(d, "data.bin")
    with open(path, "wb") as f:
        f.write(DATA)
    os.chmod(path, 0o644)
    return d


def conf(text, state):
    return text.replace("@APPS@", APPS).replace("@STATE@", state)


def _new_server(venv, mpm, text, **kw):
    state = state_dir()
    srv = ApacheServer(venv, mpm, conf(text, state), **kw)
    srv.state = state
    return srv


def _discard(srv):
    import shutil
    srv.cleanup()
    shutil.rmtree(srv.state, ignore_errors=True)


@pytest.fixture(scope="session", params=COMBOS or [None],
                ids=combo_id if COMBOS else None)
def server(request):
    """The shared server of one (venv, MPM) with every standard app."""
    if request.param is None:
        pytest.skip(NO_MODULE)
    venv, mpm = request.param
    srv = _new_server(venv, mpm, MAIN_CONF)
    try:
        srv.start()
    except Exception:
        _discard(srv)
        raise
    yield srv
    took, left = srv.stop()
    what = "shared server %s (stopped in %.1fs)" % (combo_id(request.param), took)
    try:
        try:
            # What each test judged (with what it allows) is not judged
            # again: only what came after the last test, the stop's.
            srv.check_log(since=getattr(srv, "judged", 0))
        except AssertionError as e:
            raise AssertionError("%s: %s" % (what, e)) from None
        assert not left, "%s: children left after stop: %s" % (
            what, "; ".join(srv.left_behind))
    finally:
        _discard(srv)


@pytest.fixture
def make_server(request):
    """make_server(conf_text, start=True, venv=None, mpm=None, **kw): a
    server of its own (first venv and MPM unless told), stopped and its
    log checked after the test."""
    if not VENVS:
        pytest.skip(NO_MODULE)
    made = []

    def make(text="", start=True, venv=None, mpm=None, **kw):
        srv = _new_server(venv or VENVS[0], mpm or MPMS[0], text, **kw)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    allow = _allowed(request)
    try:
        for srv in made:
            srv.stop()
        for srv in made:
            srv.check_log(allow=allow)
        # Every stop() of the test's servers, its own ones included.
        left = [p for srv in made for p in srv.left_behind]
        assert not left, ("processes left after Apache stopped (killed by "
                          "the harness): %s" % "; ".join(left))
    finally:
        for srv in made:
            _discard(srv)


@pytest.fixture
def scratch():
    """A directory of the test's own (state_dir: writable by Apache's and
    every daemon's user), removed after the test."""
    import shutil
    d = state_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["event", "worker", "prefork"])
def make_server_each_mpm(request, make_server):
    """make_server under each MPM in turn, unless the test names one: for
    files whose tests all depend on the MPM (the Apache child's side of a
    daemon request, the scoreboard, signals). A file opts in with
    `def make_server(make_server_each_mpm): return make_server_each_mpm`."""
    def make(text="", start=True, venv=None, mpm=None, **kw):
        return make_server(text, start=start, venv=venv,
                           mpm=mpm or request.param, **kw)
    return make


def _allowed(request):
    allow = []
    for m in request.node.iter_markers("allow_log"):
        allow.extend(m.args)
    return allow


class DaemonRoutes:
    """The shared server seen by a test written for embedded routes, with
    each of /out, /input, /chunked, /err and /log sent to its daemon twin
    (/dout, ...): every request method rewrites the path, and path() does
    for a test's own client. Everything else is the server itself."""

    PREFIXES = ("/out/", "/input/", "/chunked/", "/err/", "/log/")

    def __init__(self, srv):
        object.__setattr__(self, "_srv", srv)

    def path(self, p):
        for pre in self.PREFIXES:
            if p.startswith(pre) or p == pre[:-1]:
                return "/d" + p[1:]
        return p

    def _raw(self, data):
        for pre in self.PREFIXES:
            data = data.replace(b" " + pre.encode(), b" /d" + pre[1:].encode())
        return data

    def url(self, p):
        return self._srv.url(self.path(p))

    def get(self, p, **kw):
        return self._srv.get(self.path(p), **kw)

    def post(self, p, **kw):
        return self._srv.post(self.path(p), **kw)

    def raw(self, data, **kw):
        return self._srv.raw(self._raw(data), **kw)

    def raw_until_closed(self, data, **kw):
        return self._srv.raw_until_closed(self._raw(data), **kw)

    def __getattr__(self, name):
        return getattr(self._srv, name)

    def __setattr__(self, name, value):
        setattr(self._srv, name, value)


@pytest.fixture(scope="session", params=["embedded", "daemon"])
def route_mode(request):
    return request.param


def in_both_modes():
    """A module-level `server` fixture for a test module written against
    the embedded routes: each of its tests runs embedded and then
    through the daemon group `matrix`, same app, same assertions. (The
    mode is a fixture of its own: the shared server's parameters must
    stay its own.)"""
    @pytest.fixture(scope="session")
    def server(server, route_mode):
        return server if route_mode == "embedded" else DaemonRoutes(server)
    return server


@pytest.fixture(autouse=True)
def _shared_server_log_check(request):
    """The shared server: no crash or critical line may appear while a
    test runs, and the server must still be up afterwards."""
    if "server" not in request.fixturenames:
        yield
        return
    srv = request.getfixturevalue("server")
    mark = srv.log_mark()
    yield
    assert srv.running(), "Apache exited during the test:\n" + srv.log_since(mark)
    # Lines a request logs after its client had the answer (a daemon's
    # traceback, say) belong to this test, not the next one.
    srv.wait_log_quiet()
    srv.judged = srv.log_mark()
    srv.check_log(since=mark, allow=_allowed(request))
