"""Directives with configurations of their own (first venv and MPM), and
bad values refused by `apache2 -t` with a message naming the directive."""

import os
import re
import shutil
import subprocess
import time

import pytest

from common import APPS, bump_mtime, environ_of, write_script
from harness import make_dir

ENV_APP = r"""
SetEnv TEST_STATE_DIR "@STATE@"
WSGIScriptAlias /e "@APPS@/environ.wsgi"
WSGIScriptAlias /proc "@APPS@/process.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


@pytest.fixture
def tmp_dirs():
    """World-readable temp dirs (pytest's tmp_path is 0700), removed after."""
    made = []

    def make():
        made.append(make_dir())
        return made[-1]
    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def test_python_interpreter_directives(make_server, tmp_dirs):
    extra = tmp_dirs()
    second = tmp_dirs()
    pth_target = tmp_dirs()
    write_script(os.path.join(extra, "extra_mod_for_test.py"), "VALUE = 42\n")
    # WSGIPythonPath entries are site dirs: their .pth files are processed.
    write_script(os.path.join(second, "more.pth"), pth_target + "\n")
    srv = make_server("""
WSGIPythonPath "%s:%s"
WSGIPythonOptimize 2
WSGIDontWriteBytecode On
WSGIPythonHashSeed 123
WSGIPythonWarnings ignore::DeprecationWarning
WSGIPythonWarnings error::ResourceWarning
""" % (extra, second) + ENV_APP)
    env = environ_of(srv, "/e")
    assert extra in env["interp.sys_path"]
    assert second in env["interp.sys_path"]
    assert pth_target in env["interp.sys_path"]
    assert env["interp.optimize"] == 2
    assert env["interp.dont_write_bytecode"] is True
    assert "ignore::DeprecationWarning" in env["interp.warnoptions"]
    assert "error::ResourceWarning" in env["interp.warnoptions"]
    expected = subprocess.run(
        [os.path.join(srv.venv, "bin", "python"), "-c", "print(hash('abc'))"],
        env=dict(os.environ, PYTHONHASHSEED="123"), capture_output=True,
        text=True, check=True, timeout=60).stdout.strip()
    assert env["interp.hash_abc"] == int(expected)


def test_python_defaults(server):
    env = environ_of(server, "/sub")
    assert env["interp.optimize"] == 0
    assert env["interp.dont_write_bytecode"] is False


def test_hash_seed_random_by_default(make_server):
    seen = set()
    for _ in range(2):
        srv = make_server(ENV_APP)
        seen.add(environ_of(srv, "/e")["interp.hash_abc"])
        srv.stop()
    assert len(seen) == 2


def test_restrict_directives(make_server):
    srv = make_server("""
WSGIRestrictStdout On
WSGIRestrictStdin On
WSGIRestrictSignal Off
""" + ENV_APP)
    text = srv.get("/proc/stdout-write").text
    assert text.startswith("restricted: ")
    assert "WSGIRestrictStdout" in text
    assert srv.get("/proc/stdin-read").text.startswith("restricted: ")
    mark = srv.log_mark()
    # The call reaches Python's signal.signal, which itself only allows
    # the main thread of the main interpreter.
    assert srv.get("/proc/signal").text in ("changed", "error:ValueError")
    assert "WSGI0301" not in srv.log_since(mark)


@pytest.mark.allow_log("WSGI0301", "WSGI0603", "stdout write from process.wsgi")
def test_restrict_defaults(server):
    # stdout goes to the log, stdin is not restricted-with-error-message,
    # signal registration is swallowed with a warning.
    assert server.get("/proc/stdout-write").text == "allowed"
    assert server.get("/proc/stdin-read").text == "allowed"
    mark = server.log_mark()
    assert server.get("/proc/signal").text == "unchanged"
    assert server.count_log("WSGI0301", 1, mark=mark) >= 1


@pytest.mark.allow_log("WSGI0502")
def test_handler_needs_execcgi(make_server):
    srv = make_server("""
Alias /noexec "@STATE@/noexec"
Alias /exec "@STATE@/exec"
Alias /addh "@STATE@/addh"
<Directory "@STATE@/noexec">
    AddHandler wsgi-script .wsgi
    Require all granted
</Directory>
<Directory "@STATE@/exec">
    Options +ExecCGI
    SetHandler wsgi-script
    Require all granted
</Directory>
<Directory "@STATE@/addh">
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
    Require all granted
</Directory>
""", start=False)
    for d in ("noexec", "exec", "addh"):
        os.makedirs(os.path.join(srv.state, d))
        os.chmod(os.path.join(srv.state, d), 0o755)
        write_script(os.path.join(srv.state, d, "h.wsgi"),
                     "def application(e, sr):\n    sr('200 OK', [])\n"
                     "    return [e['SCRIPT_NAME'].encode()]\n")
    srv.start()
    mark = srv.log_mark()
    assert srv.get("/noexec/h.wsgi").status_code == 403
    assert srv.count_log("WSGI0502", 1, mark=mark) == 1
    for d in ("exec", "addh"):
        r = srv.get("/%s/h.wsgi" % d)
        assert r.status_code == 200
        assert r.text == "/%s/h.wsgi" % d


def test_callable_object_directive(make_server):
    srv = make_server("""
WSGIScriptAlias /other "@APPS@/other_callable.wsgi"
WSGIScriptAlias /override "@APPS@/other_callable.wsgi" callable-object=application
<Directory "@APPS@">
    Require all granted
    WSGICallableObject app2
</Directory>
""")
    assert srv.get("/other").text == "app2 called"
    # The option beats the directive.
    assert srv.get("/override").text == "default called"


def test_map_head_to_get(make_server):
    srv = make_server("""
SetEnv TEST_STATE_DIR "@STATE@"
WSGIScriptAlias /auto "@APPS@/output.wsgi"
WSGIScriptAlias /autofilter "@APPS@/output.wsgi"
WSGIScriptAlias /on "@APPS@/output.wsgi"
WSGIScriptAlias /off "@APPS@/output.wsgi"
<Location /autofilter>
    SetOutputFilter DEFLATE
</Location>
<Location /on>
    WSGIMapHEADToGET On
</Location>
<Location /off>
    WSGIMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    def method(path):
        raw = srv.raw(("HEAD %s/method HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                       "Connection: close\r\n\r\n" % path).encode())
        head, _, body = raw.partition(b"\r\n\r\n")
        assert body == b""
        for line in head.split(b"\r\n"):
            if line.startswith(b"X-Method: "):
                return line[10:].decode()
    # Auto (the default): GET only when an output filter needs the body.
    assert method("/auto") == "HEAD"
    assert method("/autofilter") == "GET"
    assert method("/on") == "GET"
    assert method("/off") == "HEAD"


def test_script_reloading_off(make_server):
    srv = make_server("""
WSGIScriptReloading Off
WSGIScriptAlias /reload "@STATE@/reload.wsgi"
WSGIScriptAlias /reload-on "@STATE@/reload-on.wsgi"
<Location /reload-on>
    WSGIScriptReloading On
</Location>
<Directory "@STATE@">
    Require all granted
</Directory>
MaxRequestWorkers 1
""", mpm="prefork", start=False)
    path = os.path.join(srv.state, "reload.wsgi")
    control = os.path.join(srv.state, "reload-on.wsgi")
    src = ("def application(environ, start_response):\n"
           "    start_response('200 OK', [])\n"
           "    return [b'%s']\n")
    for p in (path, control):
        write_script(p, src % "version one")
    srv.start()
    assert srv.get("/reload").text == "version one"
    assert srv.get("/reload-on").text == "version one"
    for p in (path, control):
        write_script(p, src % "version two")
        bump_mtime(p)
    assert srv.get("/reload").text == "version one"
    # The control in the same process: reloading works where it is On.
    assert srv.get("/reload-on").text == "version two"


def _process_start(pid):
    """When process pid started, in seconds since the epoch."""
    from harness import proc_stat_fields
    ticks = int(proc_stat_fields(pid)[19])     # starttime, field 22
    with open("/proc/stat") as f:
        btime = int(re.search(r"^btime (\d+)", f.read(), re.M).group(1))
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def _assert_preloaded(srv):
    """The script was loaded when its process started, not on the first
    request: asked of a process at least 1 s old (a child the MPM forked
    meanwhile is asked again later), it was loaded in its first second."""
    deadline = time.monotonic() + 15
    while True:
        asked = time.time()
        pid, loaded_at = srv.get("/pre").text.split()
        started = _process_start(int(pid))
        if asked - started >= 1.0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert asked - started >= 1.0, (asked, started)
    assert float(loaded_at) - started < 1.0, (loaded_at, started)


def test_import_script_preloads(make_server):
    srv = make_server("""
WSGIImportScript "@APPS@/preload.wsgi" process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /pre "@APPS@/preload.wsgi" application-group=%{GLOBAL}
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    _assert_preloaded(srv)


def test_script_alias_with_both_groups_preloads(make_server):
    srv = make_server("""
WSGIScriptAlias /pre "@APPS@/preload.wsgi" process-group=%{GLOBAL} application-group=%{GLOBAL}
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    _assert_preloaded(srv)


@pytest.mark.allow_log("WSGI0401", "WSGI0506")
def test_import_script_failure_is_logged_and_retried(make_server):
    srv = make_server("""
WSGIImportScript "@APPS@/syntax_error.wsgi" process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /s "@APPS@/syntax_error.wsgi" application-group=%{GLOBAL}
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    assert "WSGI0401" in srv.wait_log("WSGI0401", mark=0)
    assert srv.get("/s").status_code == 500


@pytest.mark.parametrize("line", [
    "WSGILazyInitialization On",
    "WSGIVerboseDebugging Off",
    "WSGIPythonEggs /tmp",
    "WSGIUserAuthoritative On",
    "WSGIAcceptMutex default",
])
def test_obsolete_directives_accepted_with_notice(make_server, line):
    srv = make_server(line + "\n" + ENV_APP)
    assert srv.get("/e").status_code == 200
    name = line.split()[0]
    notices = [l for l in (srv.error_log() + srv.stdout()).splitlines()
               if "WSGI0001" in l]
    assert notices, srv.error_log()
    assert any(name in l for l in notices), notices


def _module_name(path):
    import hashlib
    return "_mod_wsgi_" + hashlib.md5(path.encode()).hexdigest()


# Each with a value other than its default, and the effect it has where a
# request can see it (WSGIErrorOverride, WSGIEnableSendfile and
# WSGIRestrictSignal have tests of their own elsewhere).
@pytest.mark.parametrize("line,check", [
    ("WSGICaseSensitivity Off",
     lambda d: d["interp.module"] == _module_name(
         d["SCRIPT_FILENAME"].lower())),
    ("WSGICaseSensitivity On",
     lambda d: d["interp.module"] == _module_name(d["SCRIPT_FILENAME"])),
    ("WSGISwitchInterval 0.01",
     lambda d: abs(d["interp.switch_interval"] - 0.01) < 1e-9),
    ("WSGIDestroyInterpreter Off", None),
    ("WSGIEnableSendfile On", None),
    ("WSGIErrorOverride On", None),
    ("WSGIPassApacheRequest On",
     lambda d: d.get("apache.request_rec") == "<PyCapsule>"),
    ("WSGIApplicationGroup %{GLOBAL}",
     lambda d: d["interp.application_group"] == ""),
    ("WSGIRestrictSignal Off", None),
], ids=lambda v: v if isinstance(v, str) else "")
def test_other_directives_accepted(make_server, tmp_dirs, line, check):
    # A script whose path has capitals: WSGICaseSensitivity is seen only
    # there (its module name comes from the path, lowercased with Off).
    d = os.path.join(tmp_dirs(), "CaseTest")
    os.makedirs(d)
    os.chmod(d, 0o755)
    shutil.copy(os.path.join(APPS, "environ.wsgi"), os.path.join(d, "Env.wsgi"))
    os.chmod(os.path.join(d, "Env.wsgi"), 0o644)
    srv = make_server(line + "\n" + ENV_APP + """
WSGIScriptAlias /case "%s/Env.wsgi"
<Directory "%s">
    Require all granted
</Directory>
""" % (d, d), start=False)
    rc, out = srv.configtest()
    assert rc == 0, out
    srv.start()
    r = srv.get("/case")
    assert r.status_code == 200
    env = r.json()
    assert any(c.isupper() for c in env["SCRIPT_FILENAME"])
    if check is not None:
        assert check(env), (line, {k: v for k, v in env.items()
                                   if k.startswith(("interp.", "apache."))})


# Each refusal names the directive and says why: the value it refused
# and what it accepts (Apache itself names a directive also when it does
# not exist or has too many arguments, so the name alone proves nothing).
@pytest.mark.parametrize("line,directive,says", [
    ("WSGIPythonOptimize 3", "WSGIPythonOptimize", "must be 0, 1 or 2 (as python -O / -OO), not '3'"),
    ("WSGIPythonOptimize x", "WSGIPythonOptimize", "not 'x'"),
    ("WSGIPythonHashSeed abc", "WSGIPythonHashSeed", "must be 'random' or a number from 0 to 4294967295, not 'abc'"),
    ("WSGIPythonHashSeed 4294967296", "WSGIPythonHashSeed", "not '4294967296'"),
    ("WSGIMapHEADToGET Sometimes", "WSGIMapHEADToGET", "must be On, Off or Auto, not 'Sometimes'"),
    ("WSGIChunkedRequest Maybe", "WSGIChunkedRequest", "must be On or Off"),
    ("WSGIPassAuthorization Perhaps", "WSGIPassAuthorization", "must be On or Off"),
    ("WSGIRestrictStdout Sure", "WSGIRestrictStdout", "must be On or Off"),
    ("WSGIApplicationGroup %{BOGUS}", "WSGIApplicationGroup", "unknown variable '%{BOGUS}'; use %{GLOBAL}"),
    ('WSGIScriptAlias /x "@APPS@/environ.wsgi" bogus=1', "WSGIScriptAlias", "unknown option 'bogus'; valid options are process-group="),
    ('WSGIScriptAlias /x "@APPS@/environ.wsgi" pass-authorization=maybe', "WSGIScriptAlias", "pass-authorization= must be On or Off, not 'maybe'"),
    ("WSGIScriptAlias /only-one-arg", "WSGIScriptAlias", "needs a URL path and a script file or directory"),
    ("WSGIScriptAliasMatch ^/(unclosed /x.wsgi", "WSGIScriptAliasMatch", "'^/(unclosed' is not a valid regular expression"),
    ("WSGIScriptReloading Maybe", "WSGIScriptReloading", "must be On or Off"),
    ("WSGIPythonHome /nonexistent/dir", "WSGIPythonHome", "'/nonexistent/dir' is not a directory; set it to the virtual environment"),
    ("WSGICallableObject 1abc", "WSGICallableObject", "must be a Python identifier, not '1abc'"),
    ('WSGIImportScript "@APPS@/preload.wsgi"', "WSGIImportScript", "needs both process-group= and application-group="),
    ("WSGISwitchInterval -1", "WSGISwitchInterval", "greater than 0, e.g. 0.005, not '-1'"),
    ("<VirtualHost *:80>\nWSGIPythonOptimize 1\n</VirtualHost>", "WSGIPythonOptimize", "cannot occur within <VirtualHost> section"),
    ("<Location /x>\nWSGIScriptAlias /y /z.wsgi\n</Location>", "WSGIScriptAlias", "not allowed in <Location> context"),
])
def test_bad_directive_fails_configtest(make_server, line, directive, says):
    srv = make_server(line + "\n", start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert directive in out, out
    assert says in out, out
