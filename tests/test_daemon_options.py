"""WSGIDaemonProcess options and daemon directives that the suite only
loaded before (issue 21, the audit's list): each shown acting in a
running daemon process."""

import glob
import json
import os
import re
import resource
import signal
import socket
import time

import pytest

from harness import make_dir, write_file

APP = r'''
import json, locale, os, sys

def application(environ, start_response):
    path = os.path.join(environ["QUERY_STRING"], "made-%d" % os.getpid())
    with open(path, "w"):
        pass
    mode = os.stat(path).st_mode & 0o777
    os.unlink(path)
    body = json.dumps({
        "mode": mode, "LANG": os.environ.get("LANG"),
        "LC_ALL": os.environ.get("LC_ALL"),
        "ctype": locale.setlocale(locale.LC_CTYPE),
        "fsencoding": sys.getfilesystemencoding(),
        "path": sys.path, "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


def test_umask_lang_locale_and_python_path(make_server, scratch):
    """umask= decides the mode of the files the application makes;
    lang= and locale= become LANG and LC_ALL (and Python's locale);
    python-path= comes first on sys.path, in the daemon only."""
    write_file(os.path.join(scratch, "o.wsgi"), APP)
    drop = make_dir(prefix=os.path.join(scratch, "drop-"), mode=0o777)
    extra = make_dir(prefix=os.path.join(scratch, "extra-"))
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess opts processes=1 threads=2 umask=0077 lang=C.UTF-8 \
    locale=C.UTF-8 python-path="%(extra)s"
WSGIDaemonProcess plain processes=1 threads=2 umask=0022
WSGIScriptAlias /o "%(d)s/o.wsgi" process-group=opts
WSGIScriptAlias /p "%(d)s/o.wsgi" process-group=plain
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch, "extra": extra})
    got = srv.get("/o?" + drop).json()
    assert got["mode"] == 0o600, oct(got["mode"])
    assert (got["LANG"], got["LC_ALL"]) == ("C.UTF-8", "C.UTF-8")
    assert got["ctype"] == "C.UTF-8" and got["fsencoding"] == "utf-8"
    assert extra in got["path"]
    other = srv.get("/p?" + drop).json()
    assert other["mode"] == 0o644, oct(other["mode"])
    assert extra not in other["path"]


def _sockets(srv):
    return sorted(os.path.basename(p)
                  for p in glob.glob(os.path.join(srv.root, "wsgi.*.sock")))


def _restart_gracefully(srv, path):
    old = int(srv.get(path).json()["pid"])
    srv.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            r = srv.get(path, timeout=5)
            if r.status_code == 200 and r.json()["pid"] != old:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("no new daemon process after the graceful restart")


# WSGI0751: a request the event MPM gives an old child during the
# restart (the test's own requests race it) is answered 503 at once.
@pytest.mark.allow_log("WSGI0751")
def test_socket_rotation(make_server, scratch):
    """WSGISocketRotation Off (the default): a group keeps its socket path
    across graceful restarts (wsgi.PARENT.ID.sock), so old children still
    serving keep-alive connections reach the new daemons; On: each
    generation gets a path of its own (wsgi.PARENT.GENERATION.ID.sock)."""
    write_file(os.path.join(scratch, "o.wsgi"), APP)
    drop = make_dir(prefix=os.path.join(scratch, "drop-"), mode=0o777)
    conf = """
WSGISocketPrefix "@ROOT@/wsgi"
%s
WSGIDaemonProcess rot processes=1 threads=2
WSGIScriptAlias /o "%s/o.wsgi" process-group=rot
<Directory "%s">
    Require all granted
</Directory>
"""
    off = make_server(conf % ("", scratch, scratch))
    before = _sockets(off)
    assert len(before) == 1 and re.match(r"^wsgi\.\d+\.\d+\.sock$",
                                         before[0]), before
    _restart_gracefully(off, "/o?" + drop)
    assert _sockets(off) == before
    on = make_server(conf % ("WSGISocketRotation On", scratch, scratch))
    first = _sockets(on)
    assert len(first) == 1 and re.match(r"^wsgi\.\d+\.\d+\.\d+\.sock$",
                                        first[0]), first
    _restart_gracefully(on, "/o?" + drop)
    second = _sockets(on)
    assert len(second) == 1 and second != first, (first, second)
    gen = [int(name.split(".")[2]) for name in (first[0], second[0])]
    assert gen[1] == gen[0] + 1


STACK = r'''
import ctypes

def application(environ, start_response):
    # This request thread's own stack size, from its pthread attributes.
    libc = ctypes.CDLL("libc.so.6")
    attr = ctypes.create_string_buffer(128)      # >= sizeof(pthread_attr_t)
    size = ctypes.c_size_t()
    libc.pthread_self.restype = ctypes.c_ulong
    libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr)
    libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
    libc.pthread_attr_destroy(attr)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(size.value).encode()]
'''


def test_stack_size_of_request_threads(make_server, scratch):
    """stack-size= is the stack of the daemon's request threads."""
    write_file(os.path.join(scratch, "st.wsgi"), STACK)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess small processes=1 threads=1 stack-size=1048576
WSGIDaemonProcess large processes=1 threads=1 stack-size=4194304
WSGIScriptAlias /s "%(d)s/st.wsgi" process-group=small
WSGIScriptAlias /l "%(d)s/st.wsgi" process-group=large
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch})
    assert int(srv.get("/s").text) == 1048576
    assert int(srv.get("/l").text) == 4194304


def test_socket_user_owns_the_socket(make_server, scratch):
    """socket-user= owns the group's socket (mode 0600): only that user's
    processes may connect. By default it is Apache's own user."""
    import pwd
    import stat
    import pytest
    if os.geteuid() != 0:
        pytest.skip("only root can give the socket to another user")
    write_file(os.path.join(scratch, "o.wsgi"), APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess mine processes=1 threads=1
WSGIDaemonProcess theirs processes=1 threads=1 socket-user=nobody
WSGIScriptAlias /o "%s/o.wsgi" process-group=mine
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch))
    owners = {}
    for path in glob.glob(os.path.join(srv.root, "wsgi.*.sock")):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        owners[int(os.path.basename(path).split(".")[-2])] = st.st_uid
    assert sorted(owners.values()) == sorted(
        [pwd.getpwnam("www-data").pw_uid, pwd.getpwnam("nobody").pw_uid])


def _limits(pid):
    """{name: (soft, hard)} of /proc/PID/limits (unlimited: None)."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f.readlines()[1:]:
            name = line[:26].strip()
            soft, hard = line[26:47].strip(), line[47:68].strip()
            out[name] = tuple(None if v == "unlimited" else int(v)
                              for v in (soft, hard))
    return out


@pytest.mark.allow_log("WSGI0734", "WSGI0715", "exit signal Killed")
def test_cpu_time_limit_under_a_finite_hard_limit(make_server, scratch):
    """cpu-time-limit= sets the soft limit and keeps the hard one Apache
    had; a value above that hard limit cannot be set and says so
    (WSGI0734, with the fix) instead of failing silently."""
    import pytest
    from harness import pids_where
    if os.geteuid() != 0:
        pytest.skip("prlimit() on Apache's processes needs root")
    write_file(os.path.join(scratch, "o.wsgi"), APP)
    drop = make_dir(prefix=os.path.join(scratch, "drop-"), mode=0o777)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess below processes=1 threads=1 cpu-time-limit=50
WSGIDaemonProcess above processes=1 threads=1 cpu-time-limit=1000
WSGIScriptAlias /b "%(d)s/o.wsgi" process-group=below
WSGIScriptAlias /a "%(d)s/o.wsgi" process-group=above
<Directory "%(d)s">
    Require all granted
</Directory>
""" % {"d": scratch})
    old = {g: srv.get("/%s?%s" % (g, drop)).json()["pid"] for g in "ba"}
    # The supervisors (the parent's children that have children) get a
    # hard CPU limit of 100 s; the daemons they start next inherit it.
    kids = pids_where(lambda ppid, pgrp: ppid == srv.proc.pid)
    for k in kids:
        if pids_where(lambda ppid, pgrp, k=k: ppid == k):
            resource.prlimit(k, resource.RLIMIT_CPU, (100, 100))
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)
    new = {}
    deadline = time.monotonic() + 20
    while len(new) < 2 and time.monotonic() < deadline:
        for g in "ba":
            try:
                r = srv.get("/%s?%s" % (g, drop), timeout=5)
                if r.status_code == 200 and r.json()["pid"] != old[g]:
                    new[g] = r.json()["pid"]
            except Exception:
                pass
        time.sleep(0.2)
    assert _limits(new["b"])["Max cpu time"] == (50, 100)
    assert _limits(new["a"])["Max cpu time"] == (100, 100)
    log = srv.wait_log("WSGI0734", mark=0)
    assert "daemon group 'above': cannot set cpu-time-limit=1000" in log
    assert "daemon group 'below'" not in "".join(
        l for l in log.splitlines() if "WSGI0734" in l)


@pytest.mark.allow_log("WSGI0751")
def test_rotated_out_child_answers_503_at_once(make_server, scratch):
    """WSGISocketRotation On: a request an old child is still reading when
    a graceful restart removes its generation's socket gets 503 at once
    (WSGI0751 says why), not connect-timeout's wait for a path that never
    comes back. The body is held back until the new socket exists: the
    Apache child reads it before it connects."""
    write_file(os.path.join(scratch, "o.wsgi"), APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGISocketRotation On
WSGIDaemonProcess rot processes=1 threads=2 connect-timeout=30
WSGIScriptAlias /o "%s/o.wsgi" process-group=rot
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch))
    first = _sockets(srv)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(b"POST /o?/tmp HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\nContent-Length: 10\r\n\r\n12345")
        time.sleep(0.3)         # the child is in the body now
        srv.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _sockets(srv) in ([], first):
            time.sleep(0.1)
        assert _sockets(srv) not in ([], first)
        started = time.monotonic()
        s.sendall(b"67890")
        answer = b""
        while not answer.endswith(b"</html>\n") and len(answer) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 503"), answer[:300]
    assert took < 5, took
    line = [x for x in srv.error_log().splitlines() if "WSGI0751" in x]
    assert line and "graceful restart with WSGISocketRotation On" in line[0]

