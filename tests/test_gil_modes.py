"""WSGIPerInterpreterGIL (issue 17): on Python 3.12+ application groups
other than %{GLOBAL} get a GIL of their own and run Python in parallel;
an extension module that refuses such an interpreter gives 500 and a line
naming it and the fix (WSGI0513); on 3.11 the directive loads and says
it has no effect (WSGI0111).

Each test picks the venv of the Python it needs (see _venv_of) and skips,
saying so, when that one was not built."""

import os
import subprocess
import threading
import time

import pytest

from harness import write_file

# Group "a" spins in pure Python, the GIL held, its switch interval made
# so long that a shared GIL would not be handed over while it spins;
# group "b" only has to run Python once to set the flag "a" waits for.
# So "a" sees the flag only if "b" ran Python while "a" held its GIL:
# parallel, not interleaved. No timing is measured; a shared GIL makes
# "a" give up at its deadline and say "alone".
SPIN_APP = r'''
import mmap, os, sys, time

FLAG = os.path.join(os.path.dirname(__file__), "flag")

def application(environ, start_response):
    with open(FLAG, "r+b") as f:
        m = mmap.mmap(f.fileno(), 2)
    who = environ["mod_wsgi.application_group"]
    if who == "a":
        before = sys.getswitchinterval()
        sys.setswitchinterval(100.0)
        try:
            m[1] = 1                  # spinning: the test may send "b"
            deadline = time.monotonic() + float(
                environ["QUERY_STRING"] or "4")
            n = 0
            while m[0] == 0 and time.monotonic() < deadline:
                n += 1                # CPU-bound, no call that frees the GIL
            body = b"parallel" if m[0] else b"alone"
        finally:
            sys.setswitchinterval(before)
    else:
        m[0] = 1
        body = b"ran"
    m.close()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''

IMPORT_APP = r'''
import %s

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"loaded"]
'''

HELLO_APP = r'''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["mod_wsgi.application_group"].encode() or b"GLOBAL"]
'''


def _venv_of(xy):
    """The test venv of Python X.Y, or skip saying how to build it. Those
    of MOD_WSGI_TEST_VENVS first; else build/venv-X.Y when it has the
    module (`make test` builds venv-3.12 for these tests alone, without
    running the whole suite on it)."""
    from conftest import VENVS
    from harness import module_for
    for v in VENVS:
        if os.path.basename(v) in ("venv-%s" % xy, "asan-%s" % xy):
            return v
    v = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build", "venv-%s" % xy)
    if os.path.isdir(v) and module_for(v):
        return v
    pytest.skip("no build/venv-%s in MOD_WSGI_TEST_VENVS: make build "
                "PYTHONS=<python%s>, then make check PYTHONS=\"... "
                "<python%s>\"" % (xy, xy, xy))


def _groups_conf(scratch, gil, script="app.wsgi"):
    return """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIPerInterpreterGIL %s
WSGIDaemonProcess gil processes=1 threads=4
WSGIScriptAlias /a "%s/%s" process-group=gil application-group=a
WSGIScriptAlias /b "%s/%s" process-group=gil application-group=b
WSGIScriptAlias /g "%s/%s" process-group=gil application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
""" % (gil, scratch, script, scratch, script, scratch, script, scratch)


def _spin_pair(srv, scratch, deadline):
    """"a" spinning, then "b": what "a" says."""
    flag = os.path.join(scratch, "flag")
    write_file(flag, "\0\0", mode=0o666)     # the daemon's user writes it
    got = {}

    def spin():
        got["a"] = srv.get("/a?%s" % deadline, timeout=60)

    t = threading.Thread(target=spin)
    t.start()
    until = time.monotonic() + 30
    while time.monotonic() < until:
        with open(flag, "rb") as f:
            if f.read(2)[1:] == b"\1":
                break
        time.sleep(0.02)
    b = srv.get("/b", timeout=60)
    t.join(60)
    assert b.status_code == 200 and b.text == "ran"
    return got["a"]


@pytest.mark.parametrize("xy", ["3.12", "3.13"])
def test_own_gil_groups_run_python_in_parallel(make_server, scratch, xy):
    venv = _venv_of(xy)
    write_file(os.path.join(scratch, "app.wsgi"), SPIN_APP)
    srv = make_server(_groups_conf(scratch, "On"), venv=venv)
    a = _spin_pair(srv, scratch, 30)
    assert a.status_code == 200 and a.text == "parallel", a.text
    # Both groups still serve, and %{GLOBAL} keeps the shared GIL.
    assert "created interpreter 'a' with its own GIL" in srv.error_log()
    assert "created interpreter 'b' with its own GIL" in srv.error_log()
    assert srv.get("/g").status_code == 200


def test_shared_gil_groups_take_turns(make_server, scratch):
    """The control: Off, the same pair on 3.12 runs one at a time, which
    shows the test above sees parallelism and not interleaving."""
    venv = _venv_of("3.12")
    write_file(os.path.join(scratch, "app.wsgi"), SPIN_APP)
    srv = make_server(_groups_conf(scratch, "Off"), venv=venv)
    a = _spin_pair(srv, scratch, 2)
    assert a.status_code == 200 and a.text == "alone", a.text
    assert "with its own GIL" not in srv.error_log()


def _refusing_module(venv):
    """A stdlib extension that refuses own-GIL interpreters, or skip."""
    py = os.path.join(venv, "bin", "python")
    # Not _testsinglephase: on 3.12.1, after it failed in a sub-interpreter
    # the main interpreter's import of it ends the process with "double
    # free or corruption" (readline does not): left for issue 17.
    for name in ("readline", "_curses"):
        if subprocess.run([py, "-c", "import " + name],
                          capture_output=True).returncode == 0:
            return name
    pytest.skip("this Python has neither readline nor _curses "
                "(single-phase extension modules)")


@pytest.mark.allow_log("WSGI0513", "WSGI0506", "WSGI0401")
@pytest.mark.parametrize("xy", ["3.12", "3.13"])
def test_single_interpreter_extension_is_500_naming_it(make_server,
                                                       scratch, xy):
    venv = _venv_of(xy)
    name = _refusing_module(venv)
    write_file(os.path.join(scratch, "app.wsgi"), IMPORT_APP % name)
    srv = make_server(_groups_conf(scratch, "On"), venv=venv)
    # Both groups named: the script is preloaded when the daemon starts,
    # and the preload's failure already names the module and the fix.
    log = srv.wait_log("WSGI0401")
    preload = [x for x in log.splitlines() if "WSGI0513" in x]
    assert preload and "application group 'a'" in preload[0], log
    assert srv.get("/a").status_code == 500
    log = srv.error_log()
    assert log.count("WSGI0513") > len(preload)   # and the request's
    line = [x for x in log.splitlines() if "WSGI0513" in x][0]
    assert "module %s does not support loading in subinterpreters" % name \
        in line
    assert "WSGIApplicationGroup %{GLOBAL}" in line
    # The main interpreter always shares the GIL: there it loads.
    assert srv.get("/g").text == "loaded"


def test_on_a_python_before_3_12_it_says_it_has_no_effect(make_server,
                                                          scratch):
    venv = _venv_of("3.11")
    write_file(os.path.join(scratch, "app.wsgi"), HELLO_APP)
    srv = make_server(_groups_conf(scratch, "On"), venv=venv)
    assert srv.get("/a").text == "a"
    assert srv.get("/b").text == "b"
    log = srv.error_log()
    assert "WSGI0111: WSGIPerInterpreterGIL On" in log
    assert "needs Python 3.12" in log
    assert "with its own GIL" not in log
    rc, out = srv.configtest()
    assert rc == 0 and "WSGI0111" in out, out


SLEEP_APP = r'''
import time

def application(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or "0"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
'''


@pytest.mark.allow_log("WSGI0730", "WSGI0307", "WSGI0731", "WSGI0732",
                       "WSGI0306", r"\] in application group ",
                       r"\] Thread \d+ ", r"\]   File ", r"\]     ")
@pytest.mark.parametrize("xy", ["3.12", "3.13"])
def test_stacks_of_own_gil_groups_are_read_interpreter_by_interpreter(
        make_server, scratch, xy):
    """sys._current_frames() would read every interpreter's frames from
    one of them while the others run; with own-GIL groups each
    interpreter is entered in turn and only its own request threads are
    read. request-timeout (WSGI0307) shows the stuck request's stack, in
    its group's block; WSGISlowRequests (WSGI0306) the slow one's."""
    venv = _venv_of(xy)
    write_file(os.path.join(scratch, "s.wsgi"), SLEEP_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIPerInterpreterGIL On
WSGISlowRequests 0.5
WSGIDaemonProcess stuck processes=1 threads=2 request-timeout=2 \\
    shutdown-timeout=2
WSGIScriptAlias /a "%s/s.wsgi" process-group=stuck application-group=a
WSGIScriptAlias /g "%s/s.wsgi" process-group=stuck \\
    application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch, scratch), venv=venv)
    assert srv.get("/g?0").text == "done"
    assert srv.get("/a?8", timeout=30).status_code == 504
    log = srv.wait_log("WSGI0307", mark=0)
    deadline = time.monotonic() + 10
    while "time.sleep(" not in log[log.index("WSGI0307"):] and \
            time.monotonic() < deadline:
        time.sleep(0.2)
        log = srv.error_log()
    dump = log[log.index("WSGI0307"):]
    assert "in application group 'a' (its own GIL):" in dump, dump
    block = dump[dump.index("in application group 'a'"):]
    assert "serving GET /a?8 for" in block, block
    assert "time.sleep(float(" in block, block
    slow = log[log.index("WSGI0306"):]
    assert "GET /a?8 has run for" in slow
    assert "time.sleep(float(" in slow
    assert "the stacks are not read" not in log
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if srv.get("/a?0", timeout=5).text == "done":
                break
        except Exception:
            pass
        time.sleep(0.2)
    assert srv.get("/a?0", timeout=10).text == "done"


# ------------------------------------------- <WSGIInterpreterOptions>

OPTIONS_APP = r'''
import json, signal, sys

def application(environ, start_response):
    def refuses(call):
        try:
            call()
        except Exception as e:
            return type(e).__name__
        return None
    data = {
        "group": environ["mod_wsgi.application_group"],
        "stdin": refuses(lambda: sys.stdin.read(0)),
        "stdout": refuses(lambda: print("", end="")),
        "signal": signal.signal.__name__ != "signal",
        "path": [p for p in sys.path if "/pp-" in p],
        "interval": sys.getswitchinterval(),
        "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]
'''


def test_interpreter_options_sections_scope_settings(make_server, scratch):
    """Which section wins: the one naming more selectors, the later on a
    tie; each setting on its own; a section's path after the mode's."""
    d = scratch
    write_file(os.path.join(d, "o.wsgi"), OPTIONS_APP)
    for sub in ("pp-base", "pp-group", "pp-x1", "pp-x2", "pp-emb"):
        os.makedirs(os.path.join(d, sub))
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIPythonPath "%(d)s/pp-emb"
WSGIDaemonProcess opts processes=1 threads=2 python-path="%(d)s/pp-base"
<WSGIInterpreterOptions>
    WSGIRestrictStdin On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=opts>
    WSGIPythonPath "%(d)s/pp-group"
    WSGIRestrictStdout On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions application-group=x>
    WSGIRestrictStdout Off
    WSGIPythonPath "%(d)s/pp-x1"
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=opts application-group=x>
    WSGIPythonPath "%(d)s/pp-x2"
    WSGIRestrictSignal Off
</WSGIInterpreterOptions>
WSGIScriptAlias /x "%(d)s/o.wsgi" process-group=opts application-group=x
WSGIScriptAlias /y "%(d)s/o.wsgi" process-group=opts application-group=y
WSGIScriptAlias /e "%(d)s/o.wsgi" process-group=%%{GLOBAL} application-group=x
WSGIScriptAlias /g "%(d)s/o.wsgi" process-group=%%{GLOBAL} application-group=%%{GLOBAL}
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": d})
    x, y, e, g = (srv.get(p).json() for p in ("/x", "/y", "/e", "/g"))
    base, group, x1, x2, emb = ("%s/pp-%s" % (d, n) for n in
                                ("base", "group", "x1", "x2", "emb"))
    # The empty section matches everything: stdin refused everywhere.
    assert all(i["stdin"] for i in (x, y, e, g)), (x, y, e, g)
    # Rank 1 tie for (opts, x): application-group=x comes later, wins.
    assert x["stdout"] is None and y["stdout"] and e["stdout"] is None
    assert g["stdout"] is None      # no section of rank >= 1 matches it
    # Rank 2 beats rank 1 for the path; each is added after the mode's.
    assert x["path"] == [base, x2]
    assert y["path"] == [base, group]
    assert e["path"] == [emb, x1]
    assert g["path"] == [emb]
    # WSGIRestrictSignal Off only where the rank-2 section says so.
    assert (x["signal"], y["signal"], e["signal"], g["signal"]) == \
        (False, True, True, True)


def test_section_switch_interval_needs_an_own_gil(make_server, scratch):
    """A section's switch interval for one application group applies
    where that group has its own GIL; where it shares the process's, it
    is not applied, and WSGI0113 says why; a process-group= section sets
    the process's interval."""
    venv = _venv_of("3.12")
    write_file(os.path.join(scratch, "o.wsgi"), OPTIONS_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess gil processes=1 threads=2
<WSGIInterpreterOptions process-group=gil>
    WSGISwitchInterval 0.02
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=gil application-group=own>
    WSGIPerInterpreterGIL On
    WSGISwitchInterval 0.002
</WSGIInterpreterOptions>
<WSGIInterpreterOptions application-group=shared>
    WSGISwitchInterval 0.5
</WSGIInterpreterOptions>
<WSGIInterpreterOptions application-group=%%{GLOBAL}>
    WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
WSGIScriptAlias /own "%(d)s/o.wsgi" process-group=gil application-group=own
WSGIScriptAlias /shared "%(d)s/o.wsgi" process-group=gil application-group=shared
WSGIScriptAlias /g "%(d)s/o.wsgi" process-group=gil application-group=%%{GLOBAL}
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch}, venv=venv)
    own, shared, g = (srv.get(p).json() for p in ("/own", "/shared", "/g"))
    assert own["interval"] == pytest.approx(0.002)
    assert shared["interval"] == pytest.approx(0.02)
    assert g["interval"] == pytest.approx(0.02)
    log = srv.error_log()
    assert "created interpreter 'own' with its own GIL" in log
    assert "created interpreter 'shared' with its own GIL" not in log
    notes = [line for line in log.splitlines() if "WSGI0113" in line]
    assert len(notes) == 1 and "application group 'shared'" in notes[0], log


@pytest.mark.parametrize("xy", ["3.12", "3.13"])
def test_section_gives_chosen_groups_their_own_gil(make_server, scratch, xy):
    """WSGIPerInterpreterGIL Off server-wide, On in a section for a and
    b: they run Python in parallel; %{GLOBAL} named in a section keeps
    the shared GIL (silently, as upstream)."""
    venv = _venv_of(xy)
    write_file(os.path.join(scratch, "app.wsgi"), SPIN_APP)
    conf = _groups_conf(scratch, "Off") + """
<WSGIInterpreterOptions process-group=gil application-group=a>
    WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions application-group=b>
    WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=gil application-group=%{GLOBAL}>
    WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
"""
    srv = make_server(conf, venv=venv)
    a = _spin_pair(srv, scratch, 30)
    assert a.status_code == 200 and a.text == "parallel", a.text
    assert srv.get("/g").status_code == 200
    log = srv.error_log()
    assert "created interpreter 'a' with its own GIL" in log
    assert "created interpreter 'b' with its own GIL" in log
    assert "created interpreter '' with its own GIL" not in log


@pytest.mark.parametrize("xy", ["3.11", "3.12", "3.13"])
def test_free_threading_on_a_gil_build_says_it_has_no_effect(make_server,
                                                             scratch, xy):
    venv = _venv_of(xy)
    py = os.path.join(venv, "bin", "python")
    if subprocess.run([py, "-c", "import sysconfig, sys; sys.exit("
                       "bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"]
                      ).returncode:
        pytest.skip("this Python is free-threaded: see the test below")
    write_file(os.path.join(scratch, "o.wsgi"), OPTIONS_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIFreeThreading On
WSGIDaemonProcess ft processes=1 threads=2
<WSGIInterpreterOptions process-group=ft>
    WSGIFreeThreading On
</WSGIInterpreterOptions>
WSGIScriptAlias / "%(d)s/o.wsgi" process-group=ft
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch}, venv=venv)
    assert srv.get("/").json()["gil"] is True
    log = srv.error_log()
    lines = [x for x in log.splitlines() if "WSGI0112" in x]
    assert len(lines) == 2, log           # one per directive, when read
    assert "WSGIFreeThreading On" in lines[0]
    assert "always has a GIL" in lines[0]
    rc, out = srv.configtest()
    assert rc == 0 and "WSGI0112" in out, out


def test_free_threading_turns_the_gil_off_only_when_asked(make_server,
                                                          scratch):
    """On a free-threaded build (3.13t): On, the daemon runs without the
    GIL; in a group without it, the GIL is forced on."""
    import glob
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    if not glob.glob(os.path.join(root, "versions", "3.1[3-9]*t")):
        pytest.skip("no free-threaded Python (3.13t) on this machine: "
                    "`pyenv install 3.13.1t` builds one from python.org's "
                    "sources, then make build PYTHONS=<its python3.13t>")
    venv = _venv_of("3.13t")
    write_file(os.path.join(scratch, "o.wsgi"), OPTIONS_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess free processes=1 threads=2
WSGIDaemonProcess held processes=1 threads=2
<WSGIInterpreterOptions process-group=free>
    WSGIFreeThreading On
</WSGIInterpreterOptions>
WSGIScriptAlias /free "%(d)s/o.wsgi" process-group=free
WSGIScriptAlias /held "%(d)s/o.wsgi" process-group=held
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch}, venv=venv)
    assert srv.get("/free").json()["gil"] is False
    assert srv.get("/held").json()["gil"] is True


@pytest.mark.allow_log("WSGI0102", "SystemExit", r"\]   File ", r"\]     ",
                       "Traceback")
@pytest.mark.parametrize("xy,gil", [("3.11", "Off"), ("3.12", "On"),
                                    ("3.13", "On")])
def test_interpreter_setup_failure_is_500_and_the_process_lives(
        make_server, scratch, xy, gil):
    """An interpreter whose set-up fails (here: a .pth file of its
    section's WSGIPythonPath raises SystemExit, which site does not
    catch) is ended, WSGI0102 says so with the traceback, the request
    gets 500 and the process serves its other groups; with its own GIL
    too (ending it hands back a GIL of its own, not the main one)."""
    venv = _venv_of(xy)
    write_file(os.path.join(scratch, "o.wsgi"), HELLO_APP)
    bad = os.path.join(scratch, "bad-path")
    os.makedirs(bad)
    write_file(os.path.join(bad, "boom.pth"), "import sys; sys.exit(3)\n")
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess one processes=1 threads=2
<WSGIInterpreterOptions application-group=bad>
    WSGIPerInterpreterGIL %(gil)s
    WSGIPythonPath "%(bad)s"
</WSGIInterpreterOptions>
WSGIScriptAlias /bad "%(d)s/o.wsgi" process-group=one application-group=bad
WSGIScriptAlias /ok "%(d)s/o.wsgi" process-group=one application-group=ok
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch, "bad": bad, "gil": gil}, venv=venv)
    pid = srv.get("/ok").text
    assert srv.get("/bad").status_code == 500
    assert srv.get("/bad").status_code == 500       # tried again, no crash
    log = srv.error_log()
    assert "WSGI0102: failed to set up Python interpreter 'bad'" in log
    assert "SystemExit: 3" in log
    assert srv.get("/ok").text == pid == "ok"
    assert "exit signal" not in log and "WSGI0715" not in log
