"""An Apache child against a daemon socket answered by a process that is not
one of our daemons (issue 21: the defences no daemon of ours can set off).

A daemon process validates everything it sends, so these lines only show
when something else answers on the group's socket: a damaged or foreign
build, or a process that took the socket's path. The test plays that
peer: it moves the real daemon's socket aside, listens on the path
itself, speaks the wire format (wsgi_proto.h) and breaks one rule per
request. Each time the child refuses what it was sent, says so with the
documented code and gives the client the documented status, and the
server goes on serving once the real socket is back.
"""

import glob
import os
import socket
import struct
import threading

import pytest

from common import WIRE_VERSION, recv_until_closed
from harness import write_file

HELLO, RESPONSE, DATA, END, FILE, BODY_END = 8, 4, 5, 6, 9, 3

APP = r'''
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"real daemon"]
'''


def frame(ftype, payload=b""):
    return (b"WG" + bytes([WIRE_VERSION, ftype]) +
            struct.pack(">I", len(payload)) + payload)


def pairs(items):
    out = [struct.pack(">I", len(items))]
    for k, v in items:
        out += [struct.pack(">I", len(k)), k, struct.pack(">I", len(v)), v]
    return b"".join(out)


def read_frame(conn):
    head = b""
    while len(head) < 8:
        got = conn.recv(8 - len(head))
        if not got:
            return None, b""
        head += got
    n = struct.unpack(">I", head[4:8])[0]
    body = b""
    while len(body) < n:
        got = conn.recv(min(65536, n - len(body)))
        if not got:
            return None, b""
        body += got
    return head[3], body


class ForeignDaemon:
    """Listens on a group's socket path and answers each connection with
    the next reply of `replies` (bytes sent after HELLO); records what it
    was sent."""

    def __init__(self, path):
        self.path = path
        self.replies = []
        self.seen = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)       # the Apache child runs as www-data
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.answer(conn)
                except OSError:
                    pass

    def answer(self, conn):
        ftype, _ = read_frame(conn)
        self.seen.append(ftype)
        conn.sendall(frame(HELLO, struct.pack(">I", os.getpid())))
        # The rest of the request: a GET's body is only BODY_END.
        while ftype not in (None, BODY_END):
            ftype, _ = read_frame(conn)
        reply = self.replies.pop(0) if self.replies else b""
        conn.sendall(reply)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        try:
            recv_until_closed(conn)
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)
        os.unlink(self.path)


@pytest.fixture
def foreign(make_server, scratch):
    """A server whose daemon group "g" (one process) is answered by a
    ForeignDaemon, and a way to put the real socket back."""
    write_file(os.path.join(scratch, "real.wsgi"), APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2 socket-timeout=5
WSGIScriptAlias /d "%s/real.wsgi" process-group=g
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch))
    assert srv.get("/d", timeout=30).text == "real daemon"
    path, = glob.glob(os.path.join(srv.root, "wsgi.*.sock"))
    os.rename(path, path + ".real")
    peer = ForeignDaemon(path)

    def restore():
        peer.close()
        os.rename(path + ".real", path)

    srv.peer, srv.restore = peer, restore
    yield srv
    if not peer.stopping:
        restore()


def _raw_get(srv, path):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
              % path.encode())
    out = recv_until_closed(s)
    s.close()
    return out


def _line(srv, code):
    found = [x for x in srv.error_log().splitlines() if code in x]
    assert len(found) == 1, (code, found)
    return found[0]


@pytest.mark.allow_log("WSGI0704")
def test_a_malformed_response_head_is_502(foreign):
    """WSGI0704: a RESPONSE frame whose pairs claim more than it holds."""
    foreign.peer.replies.append(
        frame(RESPONSE, struct.pack(">I", 3) + struct.pack(">I", 7) +
              b":status"))
    assert foreign.get("/d", timeout=30).status_code == 502
    assert foreign.peer.seen == [1]         # it was sent a REQUEST frame
    assert "daemon process group 'g' sent a malformed response head " \
        "for /d" in _line(foreign, "WSGI0704")
    foreign.restore()
    assert foreign.get("/d", timeout=30).text == "real daemon"


@pytest.mark.allow_log("WSGI0749")
def test_a_response_head_larger_than_a_frame_is_502_unread(foreign):
    """WSGI0749: a RESPONSE frame announcing 16 MiB + 1 bytes: refused on
    the length alone, nothing of it is read or allocated."""
    foreign.peer.replies.append(
        b"WG" + bytes([WIRE_VERSION, RESPONSE]) +
        struct.pack(">I", 16 * 1024 * 1024 + 1))
    assert foreign.get("/d", timeout=30).status_code == 502
    line = _line(foreign, "WSGI0749")
    assert "the response head from daemon process group 'g' is larger " \
        "than the 16777216 bytes a frame may carry" in line


@pytest.mark.allow_log("WSGI0709")
def test_a_file_frame_without_a_descriptor_before_any_body_is_502(foreign):
    """WSGI0709: after a good head, a FILE frame that carries no
    descriptor, before any of the body went out: 502."""
    foreign.peer.replies.append(
        frame(RESPONSE, pairs([(b":status", b"200 OK"),
                               (b"Content-Type", b"text/plain")])) +
        frame(FILE, struct.pack(">QQ", 0, 10)) + frame(END))
    assert foreign.get("/d", timeout=30).status_code == 502
    assert "daemon sent a file frame without a descriptor or with a bad " \
        "range for /d" in _line(foreign, "WSGI0709")


@pytest.mark.allow_log("WSGI0709")
def test_a_file_frame_without_a_descriptor_cuts_a_started_body(foreign):
    """WSGI0709 once 256 KiB of the body went out: the 200 cannot become
    an error any more, so the response is cut (no last chunk)."""
    data = b"".join(frame(DATA, b"x" * 65536) for _ in range(4))
    foreign.peer.replies.append(
        frame(RESPONSE, pairs([(b":status", b"200 OK"),
                               (b"Content-Type", b"text/plain")])) +
        data + frame(FILE, struct.pack(">QQ", 0, 10)) + frame(END))
    out = _raw_get(foreign, "/d")
    assert out.startswith(b"HTTP/1.1 200 "), out[:200]
    assert b"transfer-encoding: chunked" in out.lower()
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body.count(b"x") == 4 * 65536     # what came before, all of it
    assert not out.endswith(b"0\r\n\r\n"), out[-200:]
    assert "daemon sent a file frame without a descriptor or with a bad " \
        "range for /d" in _line(foreign, "WSGI0709")


@pytest.mark.allow_log("WSGI0708")
def test_a_daemon_that_always_asks_for_a_restart_gets_503(foreign):
    """WSGI0708: a daemon answering ":restart" (its script changed) is
    asked again, at most once more than the group has processes; one that
    never stops asking gets the request 503, not a loop."""
    restart = frame(RESPONSE, pairs([(b":restart", b"")]))
    foreign.peer.replies.extend([restart] * 10)
    assert foreign.get("/d", timeout=30).status_code == 503
    assert "daemon process group 'g' kept restarting for a changed " \
        "script; giving up on /d" in _line(foreign, "WSGI0708")
    # processes=1: the first try and two more, then no further connection.
    assert len(foreign.peer.seen) == 3, foreign.peer.seen
    assert len(foreign.peer.replies) == 7


IMPOSTOR = r'''
import os, socket, sys, time
# The socket was bound by the test; this process, Apache's user, is the
# one that listens on it, as one that replaced the path would. It takes
# every connection for 6 s and says how many came and how many bytes.
s = socket.socket(fileno=int(sys.argv[1]))
s.listen(4)
print("listening", flush=True)
conns = got = 0
deadline = time.monotonic() + 6
while time.monotonic() < deadline:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        conn, _ = s.accept()
    except socket.timeout:
        break
    conns += 1
    conn.settimeout(1)
    try:
        while True:
            more = conn.recv(65536)
            if not more:
                break
            got += len(more)
    except socket.timeout:
        pass
    conn.close()
print(conns, got)
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the impostor "
                    "runs as www-data")
@pytest.mark.allow_log("WSGI0753")
def test_a_socket_taken_over_by_apaches_user_is_sent_nothing(foreign):
    """WSGI0753: a process of Apache's user listening on the group's path
    (here handed the bound socket by the test, as if the directory had let
    it replace the socket) is connected to but sent nothing, not even the
    request, whose environ carries the client's cookies and credentials:
    the child sees the listener is not the user who made the group's
    socket. The request gets 503 and the line names the impostor."""
    import pwd
    import subprocess
    import sys
    foreign.peer.close()                # the root peer goes
    path = foreign.peer.path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o777)
    pw = pwd.getpwnam("www-data")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)

    imp = subprocess.Popen([sys.executable, "-c", IMPOSTOR,
                            str(sock.fileno())], pass_fds=[sock.fileno()],
                           preexec_fn=drop, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    sock.close()
    try:
        assert imp.stdout.readline().strip() == "listening"
        r = foreign.get("/d", headers={"Cookie": "session=secret"},
                        timeout=30)
        out, err = imp.communicate(timeout=30)
    finally:
        if imp.poll() is None:
            imp.kill()
            imp.wait(timeout=10)
    assert r.status_code == 503
    line = _line(foreign, "WSGI0753")
    assert "the socket of daemon process group 'g'" in line
    assert "running as uid %d, not by the group's listener (uid 0)" \
        % pw.pw_uid in line
    assert "pid %d" % imp.pid in line
    # The child did connect (once: no retry) and sent not a byte.
    assert out.split() == ["1", "0"], (out, err)
    os.unlink(path)
    os.rename(path + ".real", path)
    assert foreign.get("/d", timeout=30).text == "real daemon"
