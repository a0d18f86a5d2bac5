"""wsgi.input: every read method, b'' at the end, chunked bodies, Expect:
100-continue, and large bodies streamed through."""

import hashlib
import os
import socket

import pytest

from conftest import in_both_modes

# Every test here runs on the embedded routes and on their daemon twins.
server = in_both_modes()

BODY = b"line one\nline two\n\nlast line without newline"
LINES = BODY.splitlines(True)


@pytest.mark.parametrize("mode,expected", [
    ("readline", LINES),
    ("readlines", LINES),
    ("iter", LINES),
    ("readline-limit", [b"lin", b"e one\n"]),
    ("readline-negative", LINES[:1]),
    ("readlines-hint", [b"line one\n"]),
    ("read-zero", [b"", b"line", b""]),
    ("read-negative", [BODY]),
    ("after-end", [BODY, b"", b"", b"", [], []]),
    ("mixed", [b"li", b"ne one\n", b"lin", [b"e two\n", b"\n", b"last line without newline"]]),
])
def test_read_methods(server, mode, expected):
    r = server.post("/input/read?" + mode, data=BODY)
    assert r.status_code == 200, r.text
    assert r.text == repr(expected)


def test_read_sized_blocks(server):
    body = os.urandom(4500)
    r = server.post("/input/read?sized", data=body)
    head, _, rest = r.content.partition(b"\n")
    assert head == b"[1000, 1000, 1000, 1000, 500, 0]"
    assert rest == body


def test_read_without_body_gives_empty(server):
    for mode, expected in [("read-negative", [b""]), ("readline", []),
                           ("readlines", []), ("iter", [])]:
        r = server.get("/input/read?" + mode)
        assert r.text == repr(expected), mode


@pytest.mark.parametrize("size", [0, 1, 65536, 65537])
def test_body_sizes_checksum(server, size):
    body = os.urandom(size)
    r = server.post("/input/sha256?4096", data=body)
    assert r.text == "%d %s" % (size, hashlib.sha256(body).hexdigest())


def test_large_upload_streamed(server):
    body = os.urandom(10 * 1024 * 1024)
    r = server.post("/input/sha256?65536", data=body)
    assert r.status_code == 200
    assert r.text == "%d %s" % (len(body), hashlib.sha256(body).hexdigest())


def test_large_upload_by_iteration(server):
    # Binary data read line by line: the lines join back to the body.
    body = os.urandom(3 * 1024 * 1024)
    r = server.post("/input/sha256-iter", data=body)
    assert r.text == "%d %s" % (len(body), hashlib.sha256(body).hexdigest())


def gen_body(parts):
    for p in parts:
        yield p


def test_chunked_request_refused_by_default(server):
    r = server.post("/input/echo", data=gen_body([b"abc", b"def"]))
    assert r.status_code == 411


def test_chunked_request_allowed(server):
    r = server.post("/chunked/echo", data=gen_body([b"abc", b"def", b"g" * 70000]))
    assert r.status_code == 200
    assert r.content == b"abcdef" + b"g" * 70000


def test_chunked_request_read_methods(server):
    # Lines split across chunk boundaries still come out whole.
    parts = [BODY[i:i + 5] for i in range(0, len(BODY), 5)]
    for mode in ("readline", "readlines", "iter"):
        r = server.post("/chunked/read?" + mode, data=gen_body(parts))
        assert r.text == repr(LINES), mode


def test_large_chunked_upload(server):
    body = os.urandom(4 * 1024 * 1024 + 3)
    parts = [body[i:i + 100000] for i in range(0, len(body), 100000)]
    r = server.post("/chunked/sha256?10000", data=gen_body(parts))
    assert r.text == "%d %s" % (len(body), hashlib.sha256(body).hexdigest())


def _raw_exchange(server, head, body=None, first_timeout=5):
    """Sends head; returns (what came before the body was sent, the rest)."""
    if hasattr(server, "_raw"):         # sent to the daemon twin
        head = server._raw(head)
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        s.sendall(head)
        s.settimeout(first_timeout)
        try:
            first = s.recv(65536)
        except socket.timeout:
            first = b""
        s.settimeout(10)
        if body is not None:
            try:
                s.sendall(body)
            except OSError:
                pass
        rest = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                rest += b
        except (socket.timeout, ConnectionResetError):
            pass
    return first, rest


def test_expect_100_continue(server):
    first, rest = _raw_exchange(
        server, b"POST /input/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n", b"hello")
    assert first.startswith(b"HTTP/1.1 100 Continue")
    assert b"200 OK" in first + rest
    assert (first + rest).endswith(b"hello")


def test_no_100_continue_when_body_is_not_read(server):
    # The body is read only when the application asks: an application that
    # never reads it gets its answer out without a 100 Continue first.
    # In daemon mode the Apache child reads up to request-buffer-size of
    # the body before it takes a daemon thread (so slow uploads cost no
    # Python thread), which asks the client for it: 100 Continue, then
    # the answer, as upstream's daemon mode does too.
    daemon = server.path("/input/") != "/input/"
    first, rest = _raw_exchange(
        server, b"POST /input/noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body=b"hello" if daemon else None)
    if daemon:
        assert first.startswith(b"HTTP/1.1 100 Continue"), first
        assert b"HTTP/1.1 200" in first + rest
    else:
        assert first.startswith(b"HTTP/1.1 200"), first
        assert b"100 Continue" not in first + rest
    assert (first + rest).endswith(b"not read")


LIMIT_CONF = r"""
WSGIScriptAlias /input "@APPS@/input.wsgi"
<Location /input>
    WSGIChunkedRequest On
</Location>
LimitRequestBody 1000
<Directory "@APPS@">
    Require all granted
</Directory>
"""


# The application reading a body over the limit gets an OSError.
@pytest.mark.allow_log("WSGI0603")
def test_limit_request_body(make_server):
    srv = make_server(LIMIT_CONF)
    assert srv.post("/input/echo", data=b"x" * 1000).status_code == 200
    assert srv.post("/input/echo", data=b"x" * 1001).status_code == 413
    # A chunked body over the limit is refused too, not passed on cut short.
    r = srv.post("/input/sha256", data=gen_body([b"x" * 600, b"y" * 600]))
    assert r.status_code == 413, (r.status_code, r.text)
