"""System-call failures a healthy machine never shows, made on purpose
(issue 21: every documented message code is produced by a test): an
LD_PRELOAD shim (tests/c/faultshim.c, built here with the C compiler)
makes one chosen call fail with a chosen errno in Apache's processes, and
each test asserts the code's line and what the server does next."""

import errno
import os
import shutil
import subprocess
import time

import pytest

from harness import write_file

HERE = os.path.dirname(os.path.abspath(__file__))

APP = r'''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"served"]
'''


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    if os.environ.get("MOD_WSGI_TEST_PRELOAD"):
        pytest.skip("under make asan the sanitizer runtime is LD_PRELOADed "
                    "already; the shim would come before it")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build tests/c/faultshim.c")
    out = str(tmp_path_factory.mktemp("shim") / "faultshim.so")
    subprocess.run([cc, "-shared", "-fPIC", "-o", out,
                    os.path.join(HERE, "c", "faultshim.c"), "-ldl"],
                   check=True, timeout=60)
    os.chmod(os.path.dirname(out), 0o755)
    os.chmod(out, 0o755)         # Apache's user loads it too
    return out


def _conf(scratch, options=""):
    write_file(os.path.join(scratch, "f.wsgi"), APP)
    return """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess faulty processes=1 threads=2 %s
WSGIScriptAlias /d "%s/f.wsgi" process-group=faulty
WSGIScriptAlias /e "%s/f.wsgi"
<Directory "%s">
    Require all granted
</Directory>
""" % (options, scratch, scratch, scratch)


def _env(shim, fault, proc=""):
    return {"LD_PRELOAD": shim, "WSGI_FAULT": fault,
            "WSGI_FAULT_PROC": proc}


@pytest.mark.allow_log("WSGI0717")
def test_a_socket_that_cannot_listen_stops_apache_starting(make_server,
                                                           scratch, shim):
    srv = make_server(_conf(scratch), start=False,
                      env=_env(shim, "bind:%d:/wsgi." % errno.EADDRINUSE))
    with pytest.raises(RuntimeError) as failed:
        srv.start()
    text = str(failed.value)
    assert "WSGI0717: daemon group 'faulty': cannot listen on" in text, text
    assert "Address already in use" in text


@pytest.mark.allow_log("WSGI0718", "WSGI0701")
def test_a_socket_that_cannot_be_given_away_says_so(make_server, scratch,
                                                    shim):
    """The socket stays root's, mode 0600: Apache starts and serves
    embedded mode, and the group's requests are refused at connect
    (WSGI0701, permission denied) with 503, as WSGI0718 warned."""
    srv = make_server(_conf(scratch, "connect-timeout=2"),
                      env=_env(shim, "chown:%d:/wsgi." % errno.EPERM))
    assert srv.get("/e").text == "served"
    assert srv.get("/d", timeout=30).status_code == 503
    log = srv.error_log()
    line = [x for x in log.splitlines() if "WSGI0718" in x]
    assert line and "daemon group 'faulty': cannot give socket" in line[0]
    assert "requests to this group get 503" in line[0]
    assert "Permission denied" in [x for x in log.splitlines()
                                   if "WSGI0701" in x][0]


@pytest.mark.allow_log("WSGI0745")
def test_a_cpu_priority_that_cannot_be_set_is_a_warning(make_server,
                                                        scratch, shim):
    srv = make_server(_conf(scratch, "cpu-priority=5"),
                      env=_env(shim, "setpriority:%d" % errno.EACCES))
    assert srv.get("/d").text == "served"
    line = srv.wait_log("WSGI0745")
    assert "daemon group 'faulty': cannot set cpu-priority=5" in line


@pytest.mark.allow_log("WSGI0744", "WSGI0715", "WSGI0737", "WSGI0706")
def test_a_chroot_that_cannot_be_entered_ends_the_process(make_server,
                                                          scratch, shim):
    """Running outside its jail would defeat chroot=: the process exits
    without serving (WSGI0744); Apache and embedded mode go on."""
    srv = make_server(_conf(scratch, "chroot=/ socket-timeout=3"),
                      env=_env(shim, "chroot:%d" % errno.EPERM))
    log = srv.wait_log("WSGI0744")
    line = [x for x in log.splitlines() if "WSGI0744" in x][0]
    assert "cannot enter chroot=/; this process exits" in line
    assert "[wsgi:alert]" in line
    assert srv.get("/e").text == "served"
    # Queued on the group's socket with no process to take it: refused
    # when socket-timeout passes, never served outside the jail.
    assert srv.get("/d", timeout=30).status_code == 504
    assert "exited with status" in [x for x in srv.error_log().splitlines()
                                    if "WSGI0715" in x][0]


@pytest.mark.allow_log("WSGI0742")
def test_no_random_secret_stops_apache_starting(make_server, scratch, shim):
    """The daemon sockets' secret (wsgi_peer.c) comes from the kernel's
    random source; without it daemons could not tell Apache's children
    from anyone else, so Apache does not start (WSGI0742, crit). Only the
    module's 32-byte draw fails."""
    srv = make_server(_conf(scratch), start=False,
                      env=_env(shim, "getrandom:%d:32" % errno.EIO))
    with pytest.raises(RuntimeError) as failed:
        srv.start()
    text = str(failed.value)
    line = [x for x in text.splitlines() if "WSGI0742" in x]
    assert line and "cannot draw a random secret" in line[0], text
    assert "[wsgi:crit]" in line[0] and "Apache does not start" in line[0]


@pytest.mark.allow_log("WSGI0309", "WSGI0804", "WSGI0802")
def test_unmapped_shared_pages_answer_503_saying_why(make_server, scratch,
                                                     shim):
    """The metrics page and the health check read memory the parent maps
    before it forks; when that mapping fails (here: every shared mapping
    mod_wsgi asks for), both answer 503 and say why (WSGI0309, WSGI0804),
    and the application still serves."""
    srv = make_server(_conf(scratch) + """
<Location "/metrics">
    SetHandler wsgi-metrics
</Location>
<Location "/healthz">
    SetHandler wsgi-health
</Location>
""", env=_env(shim, "mmap:%d:mod_wsgi" % errno.ENOMEM))
    assert srv.get("/d").text == "served"
    assert srv.get("/metrics").status_code == 503
    r = srv.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    log = srv.error_log()
    assert "WSGI0309: wsgi-metrics: the shared page of the server's " \
        "figures could not be mapped" in log
    assert "WSGI0804: wsgi-health: the memory in which daemon " \
        "supervisors say what their processes do could not be mapped" in log


@pytest.mark.allow_log("WSGI0712", "WSGI0715", "WSGI0737", "WSGI0706")
def test_a_user_that_cannot_be_taken_ends_the_process(make_server, scratch,
                                                      shim):
    """A daemon that cannot leave root for its user= exits without
    serving (WSGI0712): it never runs the application as root."""
    srv = make_server(_conf(scratch, "socket-timeout=3"),
                      env=_env(shim, "setuid:%d:mod_wsgi" % errno.EPERM))
    log = srv.wait_log("WSGI0712")
    line = [x for x in log.splitlines() if "WSGI0712" in x][0]
    assert "could not switch to uid" in line and "[wsgi:alert]" in line
    assert srv.get("/e").text == "served"
    assert srv.get("/d", timeout=30).status_code == 504


@pytest.mark.allow_log("WSGI0714", "WSGI0715", "WSGI0737", "WSGI0706")
def test_a_failed_fork_is_said_and_apache_goes_on(make_server, scratch,
                                                  shim):
    """A supervisor that cannot fork its daemon process says so
    (WSGI0714, crit) and tries again later; Apache serves the rest."""
    srv = make_server(_conf(scratch, "socket-timeout=3"),
                      env=_env(shim, "fork:%d:mod_wsgi" % errno.EAGAIN,
                               "(wsgi-supervisor"))
    log = srv.wait_log("WSGI0714")
    line = [x for x in log.splitlines() if "WSGI0714" in x][0]
    assert "could not fork a process for daemon group 'faulty'" in line
    assert "Resource temporarily unavailable" in line
    assert srv.get("/e").text == "served"
    assert srv.get("/d", timeout=30).status_code == 504


@pytest.mark.allow_log("WSGI0711")
def test_a_failing_accept_is_said_and_retried(make_server, scratch, shim):
    """accept() failing in a daemon process (here its first three calls,
    out of descriptors) is logged with the reason, and the connection,
    still queued, is taken a moment later: the request is served."""
    env = _env(shim, "accept:%d:mod_wsgi" % errno.EMFILE)
    env["WSGI_FAULT_COUNT"] = "3"
    srv = make_server(_conf(scratch), env=env)
    assert srv.get("/d", timeout=30).text == "served"
    lines = [x for x in srv.error_log().splitlines() if "WSGI0711" in x]
    assert len(lines) == 3, lines
    assert "daemon group 'faulty'" in lines[0]
    assert "accept() failed" in lines[0]
    assert "Too many open files" in lines[0]


@pytest.mark.allow_log("WSGI0702", "WSGI0721")
def test_a_request_that_cannot_be_sent_is_503(make_server, scratch, shim):
    """The daemon takes the connection but the request cannot be written
    to it (here the first send of each Apache child fails, as when the
    daemon closed at once): 503, WSGI0702 naming the group and why."""
    from harness import httpd_binary
    env = _env(shim, "sendmsg:%d:mod_wsgi" % errno.EPIPE, httpd_binary())
    env["WSGI_FAULT_COUNT"] = "1"
    srv = make_server(_conf(scratch), env=env)
    assert srv.get("/d", timeout=30).status_code == 503
    line = [x for x in srv.error_log().splitlines() if "WSGI0702" in x]
    assert line and "could not send the request to daemon process group " \
        "'faulty'" in line[0] and "Broken pipe" in line[0]
    # The daemon, which got nothing, says so (WSGI0721) and goes on.
    assert srv.wait_log("WSGI0721")


# Python's C API failing as it does when memory runs out: only the
# module's calls fail, and only in the daemon processes (titled "(wsgi:"
# by display-name=%{GROUP}): the Apache children run the same code.
TITLED = "display-name=%{GROUP}"

@pytest.mark.allow_log("WSGI0103")
def test_a_sub_interpreter_python_cannot_create_is_500_then_retried(
        make_server, scratch, shim):
    """WSGI0103: Python cannot make the application group's
    sub-interpreter (the first attempt of the daemon process): that
    request gets 500 naming the group in the log, the process lives on,
    and the next request makes the interpreter and is served."""
    env = _env(shim, "Py_NewInterpreter:%d:mod_wsgi" % errno.ENOMEM,
               "(wsgi:")
    env["WSGI_FAULT_COUNT"] = "1"
    srv = make_server(_conf(scratch, TITLED), env=env)
    assert srv.get("/d", timeout=30).status_code == 500
    line = [x for x in srv.error_log().splitlines() if "WSGI0103" in x]
    assert len(line) == 1, line
    assert "Python could not create the sub-interpreter for application " \
        "group '" in line[0] and "|/d'" in line[0]
    assert srv.get("/d", timeout=30).text == "served"
    assert srv.get("/e").text == "served"
    assert "WSGI0715" not in srv.error_log()    # no daemon process ended


@pytest.mark.allow_log("WSGI0105", "WSGI0715", "WSGI0737", "WSGI0706")
def test_types_python_cannot_prepare_keep_the_daemon_from_serving(
        make_server, scratch, shim):
    """WSGI0105: mod_wsgi's Python types cannot be made ready (MemoryError
    at the daemon's start): the process says so with the traceback and
    exits without serving; its supervisor starts another; requests wait
    socket-timeout and get 504; embedded mode serves."""
    srv = make_server(_conf(scratch, TITLED + " socket-timeout=3"),
                      env=_env(shim, "PyType_Ready:%d:mod_wsgi" % errno.ENOMEM,
                               "(wsgi:"))
    log = srv.wait_log("WSGI0105")
    line = [x for x in log.splitlines() if "WSGI0105" in x][0]
    assert "could not prepare mod_wsgi's Python types" in line
    assert "MemoryError" in srv.wait_log("MemoryError")
    assert srv.get("/e").text == "served"
    assert srv.get("/d", timeout=30).status_code == 504
    srv.wait_log("WSGI0715")


@pytest.mark.allow_log("WSGI0106", "WSGI0715", "WSGI0737", "WSGI0706")
def test_a_python_configuration_that_cannot_be_built_is_crit(
        make_server, scratch, shim):
    """WSGI0106: a WSGIPythonWarnings filter cannot be turned into
    Python's form (no memory) in the daemon process: crit, the process
    exits without starting Python, requests to the group get 504 and
    embedded mode, whose child built it, serves."""
    srv = make_server("WSGIPythonWarnings ignore::DeprecationWarning\n" +
                      _conf(scratch, TITLED + " socket-timeout=3"),
                      env=_env(shim, "Py_DecodeLocale:%d:mod_wsgi"
                               % errno.ENOMEM, "(wsgi:"))
    log = srv.wait_log("WSGI0106")
    line = [x for x in log.splitlines() if "WSGI0106" in x][0]
    assert "[wsgi:crit]" in line
    assert "could not build the Python configuration" in line
    assert srv.get("/e").text == "served"
    assert srv.get("/d", timeout=30).status_code == 504


@pytest.mark.allow_log("WSGI0508")
def test_an_environ_that_cannot_be_built_is_500_with_the_traceback(
        make_server, scratch, shim):
    """WSGI0508: the request's environ cannot be made (MemoryError copying
    the interpreter's template): 500, the line names the script and the
    MemoryError follows; the application was not called and the next
    request is served."""
    env = _env(shim, "PyDict_Copy:%d:mod_wsgi" % errno.ENOMEM, "(wsgi:")
    env["WSGI_FAULT_COUNT"] = "1"
    srv = make_server(_conf(scratch, TITLED), env=env)
    assert srv.get("/d", timeout=30).status_code == 500
    log = srv.error_log()
    line = [x for x in log.splitlines() if "WSGI0508" in x]
    assert len(line) == 1, line
    assert "could not build the WSGI environ for '%s/f.wsgi'" % scratch \
        in line[0]
    assert "MemoryError" in log
    assert srv.get("/d", timeout=30).text == "served"


APP_MEET = r'''
import os, time
def application(environ, start_response):
    # ?wait=F waits (at most 10 s) for F, ?make=F makes it: both answer
    # "met" only if both ran at once.
    kind, _, name = environ.get("QUERY_STRING", "").partition("=")
    path = os.path.join(%r, name)
    met = True
    if kind == "make":
        open(path, "w").close()
    elif kind == "wait":
        open(path + ".waiting", "w").close()
        deadline = time.monotonic() + 10
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        met = os.path.exists(path)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"met" if met else b"alone"]
'''


@pytest.mark.allow_log("WSGI0752")
def test_workers_without_wait_sets_take_turns_on_a_lock(make_server, scratch,
                                                        shim):
    """Daemon workers wait for connections on epoll sets of their own
    (EPOLLEXCLUSIVE, wsgi_worker.c); where none can be made (here
    epoll_create1 fails with EMFILE) the process says so once (WSGI0752)
    and its threads wait as before, one at a time under a lock: requests
    are served, two at once, and the group stops cleanly."""
    import concurrent.futures
    meet = os.path.join(scratch, "meet")
    os.mkdir(meet)
    os.chmod(meet, 0o777)
    write_file(os.path.join(scratch, "meet.wsgi"), APP_MEET % meet)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess faulty processes=1 threads=2
WSGIScriptAlias /meet "%s/meet.wsgi" process-group=faulty
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch), env=_env(shim, "epoll_create1:%d:mod_wsgi"
                                   % errno.EMFILE))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(srv.get, "/meet?wait=one", timeout=30)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(meet, "one.waiting")):
            assert time.monotonic() < deadline, "the waiting request never ran"
            time.sleep(0.01)
        assert srv.get("/meet?make=one", timeout=30).text == "met"
        assert waiting.result().text == "met"
    line = srv.wait_log("WSGI0752")
    line = [x for x in line.splitlines() if "WSGI0752" in x]
    assert len(line) == 1, line
    assert "daemon group 'faulty'" in line[0] and "one at a time" in line[0]
    assert "Too many open files" in line[0]
    took, left = srv.stop()
    assert not left
