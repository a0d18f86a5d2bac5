"""Exceptions: before the response started → 500 and one traceback; after
→ the connection is cut so the client can tell the body is incomplete.
Apache keeps serving either way."""

import concurrent.futures
import re

import pytest
import requests

from common import refused_before_the_head
from conftest import in_both_modes

# Every test here runs on the embedded routes and on their daemon twins.
server = in_both_modes()

TRACEBACK = "Traceback (most recent call last)"


def assert_one_traceback(server, mark, message):
    assert server.count_log("WSGI0603", 1, mark=mark) == 1
    text = server.wait_log(re.escape(message), mark=mark)
    assert text.count(TRACEBACK) == 1, text
    assert message in text


@pytest.mark.parametrize("path,message", [
    ("/before-start", "raised before start_response on purpose"),
    ("/after-start", "raised after start_response on purpose"),
    ("/first-next", "raised in __next__ on purpose"),
])
@pytest.mark.allow_log("WSGI0603")
def test_exception_before_body_gives_500(server, path, message):
    mark = server.log_mark()
    r = server.get("/err" + path)
    assert r.status_code == 500
    assert "X-Should-Not-Appear" not in r.headers
    # The traceback goes to the log, not to the client.
    assert message not in r.text
    assert_one_traceback(server, mark, message)
    assert server.get("/err/ok").text == "fine"


@pytest.mark.allow_log("WSGI0603")
def test_error_after_start_cuts_chunked_response(server):
    mark = server.log_mark()
    raw = server.raw_until_closed(b"GET /err/midway HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding: chunked" in head
    assert b"first part" in body
    # No last chunk: the client can tell the body is incomplete.
    assert not body.endswith(b"0\r\n\r\n")
    assert_one_traceback(server, mark, "failed after the response started")
    assert server.get("/err/ok").text == "fine"


@pytest.mark.allow_log("WSGI0603")
def test_error_after_start_cuts_fixed_length_response(server):
    mark = server.log_mark()
    raw = server.raw_until_closed(b"GET /err/midway-cl HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    if not refused_before_the_head(server, head):
        assert b"Content-Length: 100" in head
        assert body == b"x" * 10
    assert_one_traceback(server, mark, "raised in __next__ on purpose")


@pytest.mark.allow_log("WSGI0603")
def test_error_after_write_cuts_response(server):
    mark = server.log_mark()
    raw = server.raw_until_closed(b"GET /err/after-write HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    if not refused_before_the_head(server, head):
        assert b"written" in body
        assert not body.endswith(b"0\r\n\r\n")
    assert_one_traceback(server, mark, "raised after write() on purpose")


@pytest.mark.allow_log("WSGI0603")
def test_str_after_bytes_cuts_response(server):
    mark = server.log_mark()
    raw = server.raw_until_closed(b"GET /err/str-midway HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"then a str" not in body
    if not refused_before_the_head(server, head):
        assert b"bytes first" in body
        assert not body.endswith(b"0\r\n\r\n")
    assert server.count_log("WSGI0603", 1, mark=mark) == 1


@pytest.mark.allow_log("WSGI0603")
def test_requests_sees_incomplete_body(server):
    # That error, not any: a 30 s ReadTimeout (a hang) is one too.
    try:
        r = server.get("/err/midway")
        r.content
    except requests.exceptions.ChunkedEncodingError:
        return
    # No exception: then it must be the daemon mode's 502.
    assert refused_before_the_head(
        server, b"HTTP/1.1 %d\r\nConnection: %s" % (
            r.status_code, r.headers.get("Connection", "").encode()))


@pytest.mark.allow_log("WSGI0503", "WSGI0506", "WSGI0507", "WSGI0601", "WSGI0602", "WSGI0603")
def test_concurrent_mix_of_failures_keeps_serving(server):
    paths = ["/err/before-start", "/err/midway", "/err/ok", "/out/stream",
             "/err/str-midway", "/syntax", "/input/echo", "/err/after-start"] * 4

    def one(path):
        try:
            if path == "/input/echo":
                r = requests.post(server.url(path), data=b"z" * 100000, timeout=30)
                return path, r.status_code, r.content == b"z" * 100000
            r = requests.get(server.url(path), timeout=30)
            return path, r.status_code, None
        except requests.exceptions.RequestException as e:
            return path, type(e).__name__, None

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, paths))
    for path, status, ok in results:
        if path in ("/err/before-start", "/err/after-start", "/syntax"):
            assert status == 500, (path, status)
        elif path in ("/err/ok", "/out/stream"):
            assert status == 200, (path, status)
        elif path == "/input/echo":
            assert (status, ok) == (200, True)
        else:
            # Cut after the head went out: the client sees the body end
            # early, never a complete answer (or, in daemon mode, a 502
            # when the error came before the head left).
            assert status == "ChunkedEncodingError" or (
                status == 502 and server.path("/err/") != "/err/"), (
                path, status)
    assert server.get("/err/ok").text == "fine"
