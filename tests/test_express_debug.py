"""mod_wsgi-express --debug-mode and the debugging options that need it,
each shown working in a real server: one Apache process in the
foreground, pdb on a terminal (a pseudo-terminal the test types into),
the profiler's and the recorder's files, the coverage report, Apache
under gdb, and the options refused without --debug-mode.

The servers are the real `mod_wsgi-express start-server` of the first
venv, as in test_express.py (whose harness and fixtures these tests use).
"""

import json
import os
import pstats
import pty
import select
import signal
import socket
import threading
import time

import pytest
import requests

from harness import (free_port, proc_stat_fields, wait_connections_closed,
                     write_file)
from test_express import (AS_USER, START_TIMEOUT, STOP_TIMEOUT, clean_env,
                          express, express_command, run_express, tmp,
                          wait_for)

__all__ = ["express", "tmp"]    # fixtures, used by name

APP = r'''
import json, os, sys

def application(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read()
    print("debug-app saw", path)
    if path == "/fail":
        secret = "xyzzy-%d" % (6 * 7)
        raise ValueError("the test's failure")
    if path == "/second":
        only_second = True                          # LINE_SECOND
    data = {"pid": os.getpid(), "path": path,
            "body": body.decode("utf-8", "replace"),
            "multiprocess": environ["wsgi.multiprocess"],
            "multithread": environ["wsgi.multithread"],
            "process_group": environ["mod_wsgi.process_group"]}
    out = json.dumps(data).encode()                 # LINE_BREAK
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Debug-Test", "yes")])
    return [out]
'''

# The terminal-output marks the tests wait for.
PDB_PROMPT = b"(Pdb) "


def app_file(tmp):
    return write_file(os.path.join(tmp, "app.py"), APP)


def line_of(mark):
    return next(n for n, line in enumerate(APP.splitlines(), 1)
                if mark in line)


def in_session(sid):
    """Live processes of the session sid (the one a test started)."""
    found = []
    for entry in os.listdir("/proc"):
        fields = entry.isdigit() and proc_stat_fields(entry)
        # fields[0] state, [1] ppid, [2] pgrp, [3] session
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry))
    return found


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        fields = entry.isdigit() and proc_stat_fields(entry)
        if fields and fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_gone(pids, timeout=STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    left = [p for p in pids if proc_stat_fields(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if proc_stat_fields(p)]
    return left


def settle(port):
    """Waits for the test's connections to be closed on both ends before
    a stop: Apache's event MPM can crash on a stop that arrives while it
    is closing one (APACHE_RACE_FRAMES in harness.py; seen here as an
    exit status of -11)."""
    wait_connections_closed(port, 5)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


# ------------------------------------------------------------ refused

@pytest.mark.parametrize("flags, message", [
    (["--enable-debugger"], "--enable-debugger needs --debug-mode"),
    (["--enable-profiler"], "--enable-profiler needs --debug-mode"),
    (["--enable-recorder"], "--enable-recorder needs --debug-mode"),
    (["--enable-coverage"], "--enable-coverage needs --debug-mode"),
    (["--enable-gdb"], "--enable-gdb needs --debug-mode"),
    (["--profiler-directory", "/tmp"], "--profiler-directory needs "
     "--debug-mode"),
    (["--debug-mode", "--debugger-startup"], "--debugger-startup needs "
     "--enable-debugger"),
    (["--debug-mode", "--recorder-directory", "/tmp"],
     "--recorder-directory needs --enable-recorder"),
    (["--debug-mode", "--enable-gdb", "--gdb-executable",
      "/nonexistent/gdb"], "--enable-gdb: cannot find the gdb program "
     "'/nonexistent/gdb'"),
    (["--debug-mode", "--service-script", "svc", "SCRIPT"],
     "--service-script runs a daemon process, and --debug-mode runs only "
     "one Apache process"),
])
def test_debug_options_are_checked_before_anything_is_written(tmp, flags,
                                                               message):
    script = app_file(tmp)
    flags = [script if f == "SCRIPT" else f for f in flags]
    root = os.path.join(tmp, "root")
    out = run_express("setup-server", script, "--server-root", root,
                      *(flags + AS_USER))
    assert out.returncode == 1, out
    assert out.stderr.startswith("mod_wsgi-express: " + message), out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert not os.path.exists(root)


def test_start_server_refuses_a_debug_option_without_debug_mode(tmp):
    out = run_express("start-server", app_file(tmp), "--port",
                      str(free_port()), "--server-root",
                      os.path.join(tmp, "root"), "--enable-recorder",
                      *AS_USER)
    assert out.returncode == 1
    assert out.stderr == ("mod_wsgi-express: --enable-recorder needs "
                          "--debug-mode: the debugging options work with the "
                          "application in one Apache process in the "
                          "foreground; add --debug-mode.\n")


def test_setup_server_apachectl_starts_one_process(tmp):
    """The server root's apachectl start is debug mode's too."""
    root = os.path.join(tmp, "root")
    out = run_express("setup-server", app_file(tmp), "--server-root", root,
                      "--debug-mode", "--threads", "8", *AS_USER)
    assert out.returncode == 0, out
    assert "--threads ignored" in out.stderr
    with open(os.path.join(root, "apachectl")) as f:
        assert "-k start -DONE_PROCESS -DFOREGROUND" in f.read()
    with open(os.path.join(root, "httpd.conf")) as f:
        conf = f.read()
    assert "WSGIDaemonProcess" not in conf
    assert "ThreadsPerChild 1\n" in conf
    assert "WSGIRestrictStdin Off" in conf


# ------------------------------------------------------------ one process

def test_debug_mode_runs_one_process_and_sigint_stops_it(express, tmp):
    srv = express().start(app_file(tmp), "--debug-mode", "--processes", "3")
    # Not on a terminal, start-server became Apache: the one process.
    assert srv.members() == [srv.proc.pid]
    assert b"-DONE_PROCESS" in cmdline(srv.proc.pid)
    data = srv.get("/hello").json()
    assert data["pid"] == srv.proc.pid
    assert data["process_group"] == ""          # embedded: no daemon
    assert data["multiprocess"] is False and data["multithread"] is False
    assert "--processes ignored" in srv.output()
    # print() goes to start-server's stdout, not to the error log.
    assert wait_for(lambda: "debug-app saw /hello" in srv.output(), 5)
    assert "debug-app saw" not in srv.error_log()
    settle(srv.port)
    status, left = srv.stop(signal.SIGINT)
    assert status == 0, srv.output()
    assert left == []
    assert not listening(srv.port)


# ------------------------------------------------------------ a terminal

class Terminal:
    """start-server on a pseudo-terminal: what it writes is read as it
    comes, what a test types goes to its stdin."""

    def __init__(self, tmp, *args):
        self.port = free_port()
        argv = [express_command(), "start-server"] + list(args) + [
            "--host", "127.0.0.1", "--port", str(self.port),
            "--server-root", os.path.join(tmp, "root")] + AS_USER
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.chdir(tmp)
                os.execve(argv[0], argv, clean_env())
            finally:
                os._exit(127)
        self.output = b""
        self.seen = 0

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError:         # EIO: the terminal's last process left
                time.sleep(timeout)

    def expect(self, text, timeout=START_TIMEOUT):
        """Waits for text written after what the last expect() found."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.output.find(text, self.seen)
            if at >= 0:
                self.seen = at + len(text)
                return self.output[:self.seen]
            self.read(0.1)
        raise AssertionError("no %r on the terminal within %ss:\n%s" % (
            text, timeout, self.output.decode(errors="replace")))

    def type(self, text):
        os.write(self.fd, text)

    def apache(self):
        return children_of(self.pid)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return status
            self.read(0.1)
        return None

    def close(self, apache):
        """Ends what is left, by pid: the command and Apache's session."""
        for pid in apache:
            kill_all(in_session(pid))
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def get_in_thread(url):
    """GETs url in a thread (the request waits while pdb has it); the
    result holds the response or the exception."""
    result = {}

    def run():
        try:
            result["response"] = requests.get(url, timeout=60)
        except Exception as exc:
            result["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def finished(thread, result, timeout=30):
    thread.join(timeout)
    assert not thread.is_alive(), "the request did not finish"
    assert "error" not in result, result
    return result["response"]


def stop_with_ctrl_c(term, apache):
    settle(term.port)
    term.type(b"\x03")
    status = term.wait_exit()
    assert status is not None and os.WIFEXITED(status), status
    assert os.WEXITSTATUS(status) == 0
    assert wait_gone(apache, 5) == [], "Apache outlived Ctrl-C"
    assert not listening(term.port)


def test_enable_debugger_opens_pdb_on_the_terminal(tmp):
    term = Terminal(tmp, app_file(tmp), "--debug-mode", "--enable-debugger")
    apache = []
    try:
        assert wait_for(lambda: listening(term.port), START_TIMEOUT)
        apache = term.apache()
        assert len(apache) == 1 and children_of(apache[0]) == []
        base = "http://127.0.0.1:%d" % term.port
        assert requests.get(base + "/ok", timeout=30).status_code == 200
        thread, result = get_in_thread(base + "/fail")
        screen = term.expect(PDB_PROMPT)
        assert b"GET /fail raised ValueError: the test's failure" in screen
        assert thread.is_alive(), "the request must wait for pdb"
        # A real pdb, in the frame that raised.
        term.type(b"p secret\n")
        term.expect(b"'xyzzy-42'")
        term.expect(PDB_PROMPT)
        term.type(b"c\n")
        assert finished(thread, result).status_code == 500
        # The server goes on serving.
        assert requests.get(base + "/ok", timeout=30).status_code == 200
        stop_with_ctrl_c(term, apache)
    finally:
        term.close(apache)


def test_debugger_startup_sets_breakpoints_for_the_requests(tmp):
    script = app_file(tmp)
    term = Terminal(tmp, script, "--debug-mode", "--enable-debugger",
                    "--debugger-startup")
    apache = []
    try:
        assert wait_for(lambda: listening(term.port), START_TIMEOUT)
        apache = term.apache()
        base = "http://127.0.0.1:%d" % term.port
        # Embedded, the application loads with the first request.
        thread, result = get_in_thread(base + "/first")
        term.expect(b"the application is loaded")
        term.expect(PDB_PROMPT)
        term.type(b"b %s:%d\n" % (script.encode(), line_of("LINE_BREAK")))
        term.expect(b"Breakpoint 1 at")
        term.expect(PDB_PROMPT)
        term.type(b"c\n")
        for path in (b"/first", b"/again"):
            if path == b"/again":
                thread, result = get_in_thread(base + "/again")
            term.expect(b"LINE_BREAK")
            term.expect(PDB_PROMPT)
            term.type(b"p path\n")
            term.expect(b"'%s'" % path)
            term.expect(PDB_PROMPT)
            term.type(b"c\n")
            assert finished(thread, result).json()["path"] == path.decode()
        stop_with_ctrl_c(term, apache)
    finally:
        term.close(apache)


def test_ctrl_c_twice_ends_a_server_held_by_pdb(tmp):
    """A request in pdb holds Apache's stop (its one thread is there):
    the first Ctrl-C says so, the second kills Apache."""
    term = Terminal(tmp, app_file(tmp), "--debug-mode", "--enable-debugger")
    apache = []
    try:
        assert wait_for(lambda: listening(term.port), START_TIMEOUT)
        apache = term.apache()
        thread, result = get_in_thread("http://127.0.0.1:%d/fail"
                                       % term.port)
        term.expect(PDB_PROMPT)
        term.type(b"\x03")
        term.expect(b"Ctrl-C again kills Apache")
        assert term.wait_exit(1) is None and wait_gone(apache, 0) == apache
        term.type(b"\x03")
        term.expect(b"Apache killed.")
        assert term.wait_exit() is not None
        assert wait_gone(apache, 5) == []
        thread.join(30)
        assert not thread.is_alive() and "error" in result
    finally:
        term.close(apache)


# ------------------------------------------------------------ files

def test_enable_profiler_writes_a_pstats_file_per_request(express, tmp):
    srv = express().start(app_file(tmp), "--debug-mode", "--enable-profiler")
    directory = os.path.join(srv.root, "pstats")
    assert srv.get("/profiled").status_code == 200
    # One file per request: the start-up probe's (GET /) and this one's.
    mine = wait_for(lambda: [name for name in os.listdir(directory)
                             if name.endswith("-GET-profiled.pstats")], 10)
    assert len(mine) == 1, os.listdir(directory)
    stats = pstats.Stats(os.path.join(directory, mine[0]))
    functions = {name for (_, _, name) in stats.stats}
    assert "application" in functions


def test_enable_recorder_writes_the_request_and_response(express, tmp):
    directory = os.path.join(tmp, "records")
    srv = express().start(app_file(tmp), "--debug-mode", "--enable-recorder",
                          "--recorder-directory", directory)
    sent = b"the body \x00\xff sent"
    answer = requests.post(srv.url("/recorded?x=1"), data=sent, timeout=30)
    assert answer.status_code == 200

    def read(suffix):
        with open(os.path.join(directory, number + suffix), "rb") as f:
            return f.read()

    def recorded():
        # The request's number (the start-up probes, GET /, have theirs),
        # once its response.json, written last, is there.
        for name in os.listdir(directory):
            if name.endswith("-environ.json"):
                with open(os.path.join(directory, name)) as f:
                    if json.load(f)["PATH_INFO"] == "/recorded":
                        number = name[:6]
                        return os.path.exists(os.path.join(
                            directory, number + "-response.json")) and number
        return None
    number = wait_for(recorded, 10)
    assert number, os.listdir(directory)
    assert sorted(n for n in os.listdir(directory) if n.startswith(
        number)) == [number + suffix for suffix in (
            "-environ.json", "-request.bin", "-response.bin",
            "-response.json")]
    environ = json.loads(read("-environ.json"))
    assert environ["PATH_INFO"] == "/recorded"
    assert environ["QUERY_STRING"] == "x=1"
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["CONTENT_LENGTH"] == str(len(sent))
    assert "wsgi.input" not in environ          # objects are left out
    assert read("-request.bin") == sent
    response = json.loads(read("-response.json"))
    assert response["status"] == "200 OK"
    assert ["X-Debug-Test", "yes"] in response["headers"]
    assert read("-response.bin") == answer.content


def test_enable_coverage_writes_a_report_when_stopped(express, tmp):
    import coverage     # tests/requirements.txt
    script = app_file(tmp)
    srv = express().start(script, "--debug-mode", "--enable-coverage")
    for path in ("/first", "/second"):
        assert srv.get(path).status_code == 200
    directory = os.path.join(srv.root, "htmlcov")
    assert not os.path.exists(os.path.join(directory, "index.html"))
    settle(srv.port)
    status, left = srv.stop(signal.SIGINT)
    assert status == 0 and left == []
    assert os.path.isfile(os.path.join(directory, "index.html"))
    data = coverage.CoverageData(os.path.join(directory, ".coverage"))
    data.read()
    lines = data.lines(script) or []
    # A line only the second request ran: measured after the first.
    assert line_of("LINE_SECOND") in lines
    assert line_of("secret = ") not in lines


# ------------------------------------------------------------ gdb

def test_enable_gdb_runs_apache_under_gdb(express, tmp):
    srv = express().start(app_file(tmp), "--debug-mode", "--enable-gdb")
    gdb = children_of(srv.proc.pid)
    assert len(gdb) == 1 and os.path.basename(cmdline(gdb[0])[0]) == b"gdb"
    apache = children_of(gdb[0])
    assert len(apache) == 1 and b"-DONE_PROCESS" in cmdline(apache[0])
    assert srv.get("/under-gdb").json()["pid"] == apache[0]
    settle(srv.port)
    status, left = srv.stop(signal.SIGINT)
    assert status == 0, srv.output()
    assert left == []
    assert wait_gone(gdb + apache, 5) == []
    assert in_session(srv.proc.pid) == []


CRASH_APP = r"""
import ctypes

def application(environ, start_response):
    if environ["PATH_INFO"] == "/crash":
        ctypes.string_at(0)                 # reads address 0: SIGSEGV
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"alive"]
"""


def test_enable_gdb_on_a_terminal_shows_where_apache_crashed(tmp):
    script = write_file(os.path.join(tmp, "crash.py"), CRASH_APP)
    term = Terminal(tmp, script, "--debug-mode", "--enable-gdb")
    gdb, apache = [], []
    try:
        assert wait_for(lambda: listening(term.port), START_TIMEOUT)
        gdb = term.apache()
        base = "http://127.0.0.1:%d" % term.port
        assert requests.get(base + "/", timeout=30).text == "alive"
        apache = children_of(gdb[0])
        thread, result = get_in_thread(base + "/crash")
        screen = term.expect(b"(gdb) ")
        assert b"received signal SIGSEGV" in screen
        assert b"Apache stopped on a signal, above is where" in screen
        assert wait_gone(apache, 0) == apache, "gdb must hold it"
        term.type(b"quit\n")
        assert term.wait_exit() is not None
        assert wait_gone(gdb + apache, 5) == []
        thread.join(30)
        assert not thread.is_alive() and "error" in result
    finally:
        term.close(gdb + apache)
