"""Request bodies through daemon mode (issue 10, items 2, 7 and 11): the
body goes to the daemon while the response comes back, so nothing holds a
whole body in memory; a stalled client gets 408; slow small uploads are
read by the Apache child before a daemon thread is taken."""

import concurrent.futures
import hashlib
import http.client
import os
import socket
import threading
import time

import pytest
import requests

from common import recv_until_closed
from harness import write_file

APP = r'''
import hashlib, os

def application(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path == "/ignore":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ignored"]
    if path == "/echo":
        # Reads and answers piece by piece: the body and the response are
        # in flight at the same time.
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        def gen():
            while True:
                block = inp.read(65536)
                if not block:
                    return
                yield block
        return gen()
    if path == "/answer-first":
        # A large answer before any of the input is read, then the input.
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"x" * (4 << 20)
            h = hashlib.sha256()
            while True:
                block = inp.read(65536)
                if not block:
                    break
                h.update(block)
            yield h.hexdigest().encode()
        return gen()
    if path == "/first":
        # A block before any of the input is read, then the input's size.
        start_response("200 OK", [("Content-Type", "text/plain")])
        def first():
            yield b"first"
            yield b" read %d" % len(inp.read())
        return first()
    if path == "/read":
        data = inp.read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(data)).encode()]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    start_response("404 Not Found", [])
    return [b""]
'''


@pytest.fixture
def body_server(make_server):
    import shutil
    from conftest import state_dir
    d = state_dir()
    write_file(os.path.join(d, "body.wsgi"), APP)

    def make(options="processes=1 threads=4", extra="", mpm=None):
        return make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess b %s
WSGIScriptAlias /b "%s/body.wsgi" process-group=b application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
%s""" % (options, d, d, extra), mpm=mpm)
    yield make
    shutil.rmtree(d, ignore_errors=True)


def _daemon_pid(srv):
    return int(srv.get("/b/pid", timeout=30).text)


def _vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024      # MiB
    return 0


class _Zeros:
    """A file-like body of n zero bytes, made as it is read."""

    def __init__(self, n):
        self.left = n

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"\0" * size


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_unread_bodies_are_not_held_in_daemon_memory(body_server, mpm):
    """Four concurrent 256 MiB POSTs the application never reads: the
    daemon's peak memory grows by little (it took in every unread body
    whole: +800 MB)."""
    srv = body_server(mpm=mpm)
    pid = _daemon_pid(srv)
    before = _vm(pid, "VmHWM")
    size = 256 << 20

    def post(_):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120,
                                          blocksize=1 << 20)
        try:
            conn.request("POST", "/b/ignore", body=_Zeros(size),
                         headers={"Content-Length": str(size)})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(post, range(4)))
    assert results == [(200, b"ignored")] * 4
    after = _vm(pid, "VmHWM")
    assert _daemon_pid(srv) == pid
    print("daemon VmHWM %d MiB before, %d MiB after 4 x 256 MiB unread"
          % (before, after))
    assert after - before < 32, (before, after)


def test_a_body_streamed_back_while_it_is_read(body_server):
    srv = body_server()
    payload = os.urandom(3 << 20)
    r = requests.post(srv.url("/b/echo"), data=payload, timeout=60)
    assert r.status_code == 200
    assert r.content == payload


def test_a_large_answer_before_the_input_is_read(body_server):
    """The application writes 4 MiB before it reads a 4 MiB body, to a
    client that reads while it sends: neither side of the relay may block
    the other (and no copy of the body is held meanwhile)."""
    srv = body_server()
    payload = os.urandom(4 << 20)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
        s.sendall(b"POST /b/answer-first HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n"
                  % len(payload))
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        data = recv_until_closed(s)
        sender.join(60)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    text = _dechunk(body)
    assert text[:4 << 20] == b"x" * (4 << 20)
    assert text[4 << 20:] == hashlib.sha256(payload).hexdigest().encode()


def test_a_small_body_answered_first_to_a_client_that_sends_it_all_first(
        body_server):
    """Most clients send the whole body before reading: up to 256 KiB of
    it is read ahead by the daemon at the first response byte, so an
    application that answers first still works with them."""
    srv = body_server()
    payload = os.urandom(200 << 10)
    r = requests.post(srv.url("/b/answer-first"), data=payload, timeout=60)
    assert r.status_code == 200
    assert r.content[4 << 20:] == hashlib.sha256(payload).hexdigest().encode()


def _dechunk(body):
    out, rest = b"", body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        rest = rest[n + 2:]
    return out


def _stalled(srv, length, sent, timeout=30):
    """Sends a POST head announcing `length` bytes, then `sent` of them,
    and waits: returns the response bytes and how long they took."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(b"POST /b/read HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: %d\r\n\r\n" % length + b"x" * sent)
        started = time.monotonic()
        data = recv_until_closed(s)
        return data, time.monotonic() - started


@pytest.mark.parametrize("length,sent", [(100, 10), (1 << 20, 200 << 10)],
                         ids=["read-before-connecting", "streamed"])
@pytest.mark.allow_log("WSGI0603")
def test_a_stalled_body_is_408(body_server, length, sent):
    """RFC 9110 15.5.9: a client that stops sending its body gets 408
    Request Timeout after Apache's Timeout, as Apache and Debian's module
    answer (it was 400)."""
    srv = body_server(extra="Timeout 2\n")
    data, took = _stalled(srv, length, sent)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert took < 10, took
    # The group is not left with a stuck thread.
    assert srv.get("/b/pid", timeout=30).status_code == 200


def test_slow_small_uploads_do_not_pin_daemon_threads(body_server):
    """Six clients sending small bodies at 1 byte per 50 ms to a group
    with threads=2: the Apache children read those bodies before taking a
    daemon thread, so a fast request is answered at once."""
    srv = body_server("processes=1 threads=2")
    srv.get("/b/pid", timeout=30)
    stop = threading.Event()
    errors = []

    def slow():
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
                s.sendall(b"POST /b/read HTTP/1.1\r\nHost: localhost\r\n"
                          b"Connection: close\r\nContent-Length: 60\r\n\r\n")
                for _ in range(60):
                    if stop.is_set():
                        return
                    s.sendall(b"x")
                    time.sleep(0.05)
                data = recv_until_closed(s)
                if not data.endswith(b"60"):
                    errors.append(data[-100:])
        except OSError as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=slow) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)         # all six are dribbling now
        started = time.monotonic()
        r = srv.get("/b/pid", timeout=30)
        took = time.monotonic() - started
    finally:
        for t in threads:
            t.join(30)
    assert r.status_code == 200
    assert not errors, errors
    print("a fast request took %.3f s while 6 slow uploads ran" % took)
    assert took < 1.0, took


def test_a_body_read_ahead_does_not_stop_the_other_threads(body_server):
    """At its first response byte the daemon reads ahead what is left of
    the body, waiting up to 100 ms for each next piece: it did so holding
    the GIL, so while a client trickled its body to an application that
    answers before reading, no other thread of the process ran any Python
    (issue 19). A fast request to the same process answers at once."""
    srv = body_server("processes=1 threads=4 request-buffer-size=0")
    pid = _daemon_pid(srv)
    length, sent = 400, []
    stop = threading.Event()

    def trickle(s):
        try:
            for _ in range(length):
                if stop.is_set():
                    return
                s.sendall(b"x")
                sent.append(1)
                time.sleep(0.01)
        except OSError:
            pass

    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(b"POST /b/first HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n"
                  % length)
        sender = threading.Thread(target=trickle, args=(s,))
        sender.start()
        try:
            time.sleep(0.5)     # the read-ahead waits for the pieces now
            started = time.monotonic()
            r = srv.get("/b/pid", timeout=30)
            took = time.monotonic() - started
            during = len(sent) < length
            sender.join(30)
            data = recv_until_closed(s)
        finally:
            stop.set()
            sender.join(30)
    assert r.status_code == 200 and int(r.text) == pid
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = _dechunk(body)
    assert body == b"first read %d" % length, data
    print("a fast request took %.3f s beside a trickled read-ahead" % took)
    assert took < 1.0, took
    assert during, "the trickle ended before the fast request did"


READER_APP = r'''
import os, threading, time

def application(environ, start_response):
    inp = environ["wsgi.input"]
    result = environ["QUERY_STRING"]

    def reader():
        try:
            data = inp.read(100000)
            text = "read %d" % len(data)
        except BaseException as e:
            text = "%s: %s" % (type(e).__name__, e)
        with open(result + ".tmp", "w") as f:
            f.write(text)
        os.rename(result + ".tmp", result)

    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"alive"]
    started = threading.Event()

    def reading():
        started.set()
        reader()

    threading.Thread(target=reading).start()
    started.wait(10)
    time.sleep(0.3)     # the thread now waits in read() for the client
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"returned"]
'''


@pytest.mark.parametrize("mpm", ["event", "prefork"])
@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_a_thread_reading_input_when_the_request_ends(make_server, mode, mpm):
    """The application returns while a thread of its own waits in
    wsgi.input.read() for body bytes the client never sends: that read
    must end with an error in that thread, never touch the finished
    request (it crashed the child in ap_get_client_block, 4 runs in 5)."""
    import shutil
    from conftest import state_dir
    d = state_dir()
    try:
        write_file(os.path.join(d, "reader.wsgi"), READER_APP)
        group = "process-group=r" if mode == "daemon" else ""
        srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess r processes=1 threads=4 request-buffer-size=0
WSGIScriptAlias /reader "%s/reader.wsgi" %s
<Directory "%s">
    Require all granted
</Directory>
""" % (d, group, d), mpm=mpm)
        for i in range(5):
            result = os.path.join(d, "result-%d" % i)
            with socket.create_connection(("127.0.0.1", srv.port), 30) as s:
                s.sendall(b"POST /reader?%s HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Length: 100000\r\n\r\n" % result.encode()
                          + b"x" * 10)
                started = time.monotonic()
                data = b""
                while b"returned" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                took = time.monotonic() - started
            assert b"HTTP/1.1 200" in data and b"returned" in data, data
            assert took < 10, took
            deadline, text = time.monotonic() + 15, ""
            while not text and time.monotonic() < deadline:
                time.sleep(0.05)
                if os.path.exists(result):
                    with open(result) as f:
                        text = f.read()
            # Ends with an error in that thread (or, in daemon mode, may
            # get the bytes sent before the end).
            assert ("RuntimeError: wsgi.input used after its request "
                    "finished" in text or text.startswith("OSError")
                    or text == "read 10"), text
        assert srv.running()
        assert srv.get("/reader", timeout=30).text == "alive"
    finally:
        shutil.rmtree(d, ignore_errors=True)


BLOCKS_APP = r'''
import time

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if environ["PATH_INFO"] == "/pause":
        def gen():
            yield b"first"
            time.sleep(2)
            yield b"second"
        return gen()
    if environ["PATH_INFO"] == "/burst":
        def burst():
            for i in range(1000):
                yield b"%09d\n" % i
            time.sleep(2)
            yield b"after the pause"
        return burst()
    n = int(environ["QUERY_STRING"])
    return (b"%09d\n" % i for i in range(n))
'''


@pytest.fixture
def blocks_server(make_server):
    import shutil
    from conftest import state_dir
    d = state_dir()
    write_file(os.path.join(d, "blocks.wsgi"), BLOCKS_APP)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess k processes=1 threads=2
WSGIScriptAlias /k "%s/blocks.wsgi" process-group=k application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
""" % (d, d))
    yield srv
    shutil.rmtree(d, ignore_errors=True)


def test_small_blocks_coalesce_on_the_wire(blocks_server):
    """100,000 generator blocks of 10 bytes: the blocks that come in a
    burst go out together (1.50 MB on the wire, a chunk per block, where
    Debian's module sends 1.02 MB)."""
    n = 100000
    with socket.create_connection(("127.0.0.1", blocks_server.port), 60) as s:
        s.sendall(b"GET /k/blocks?%d HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n" % n)
        started = time.monotonic()
        data = recv_until_closed(s)
        took = time.monotonic() - started
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert _dechunk(body) == b"".join(b"%09d\n" % i for i in range(n))
    print("100,000 x 10-byte blocks: %d bytes on the wire in %.2f s"
          % (len(data), took))
    assert len(data) < 1.1 * n * 10, len(data)


def _get_until(srv, path, marker, not_before=None):
    """GET path on a connection of its own: the whole answer, and how long
    marker took to arrive (not_before must not have come with it)."""
    with socket.create_connection(("127.0.0.1", srv.port), 30) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: close\r\n\r\n" % path.encode())
        started = time.monotonic()
        data = b""
        while marker not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        took = time.monotonic() - started
        if not_before is not None:
            assert not_before not in data
        return data + recv_until_closed(s), took


def test_a_block_followed_by_a_pause_is_not_held(blocks_server):
    """Coalescing waits at most response-flush-delay (5 ms): the first
    block reaches the client long before the second, two seconds later."""
    data, first = _get_until(blocks_server, "/k/pause", b"first")
    assert first < 1.0, first
    assert b"second" in data


def test_the_end_of_a_burst_is_not_held_over_a_pause(blocks_server):
    """Blocks of a burst are held together in the daemon, and a thread of
    its own sends them once response-flush-delay old, while the
    application goes on (PEP 3333: "continue transmission even while the
    application is producing its next block"): the burst's last block
    arrives long before the block after the 2 s pause."""
    data, last = _get_until(blocks_server, "/k/burst", b"000000999",
                            b"after the pause")
    assert last < 1.0, last
    head, _, body = data.partition(b"\r\n\r\n")
    assert _dechunk(body) == b"".join(
        b"%09d\n" % i for i in range(1000)) + b"after the pause"
