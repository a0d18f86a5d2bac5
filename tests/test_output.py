"""start_response validation, exc_info, write(), close(), Content-Length,
HEAD, bodiless statuses and streaming."""

import concurrent.futures
import http.client
import os
import socket
import time

import pytest
import requests

from common import (read_lines_when_present, refused_before_the_head,
                    stream_with_acks, unique)
from conftest import in_both_modes

TRACEBACK = "Traceback (most recent call last)"

# Every test here runs on the embedded routes and on their daemon twins.
server = in_both_modes()


@pytest.mark.parametrize("case", [
    "str-body", "bytes-status", "no-space", "letters-status", "status-crlf",
    "header-crlf", "header-lf-name", "header-colon-name", "header-space-name",
    "header-empty-name", "header-not-latin1", "header-name-not-latin1",
    "header-nul", "header-bytes", "header-int-value", "headers-tuple",
    "headers-dict", "header-triple", "header-single", "no-start-response",
    "bad-content-length", "negative-content-length",
    "not-iterable", "none-result", "write-str",
])
@pytest.mark.allow_log("WSGI0601", "WSGI0602", "WSGI0603")
def test_bad_response_gives_500_and_one_log_entry(server, case):
    mark = server.log_mark()
    r = server.get("/out/bad?" + case)
    assert r.status_code == 500
    # Nothing the application tried to smuggle reaches the client.
    assert "X-Evil" not in r.headers and "Set-Cookie" not in r.headers
    assert "X-A" not in r.headers
    assert server.count_log(r"WSGI0603", 1, mark=mark) == 1
    assert server.log_since(mark).count(TRACEBACK) <= 1
    assert server.get("/out/write").status_code == 200


CONTROL_BYTES = [b for b in range(0x20) if b != 0x09] + [0x7f]


@pytest.mark.parametrize("where", ["name", "value", "reason"])
@pytest.mark.allow_log("WSGI0601", "WSGI0602", "WSGI0603")
def test_control_bytes_in_headers_refused(server, where):
    mark = server.log_mark()
    for byte in CONTROL_BYTES:
        raw = server.raw(("GET /out/header-byte?where=%s&byte=%d HTTP/1.1\r\n"
                          "Host: x\r\nConnection: close\r\n\r\n" % (where, byte)).encode())
        assert raw.startswith(b"HTTP/1.1 500 "), (where, byte, raw[:200])
        head = raw.partition(b"\r\n\r\n")[0]
        assert b"X-Probe" not in head and b"X-A" not in head, (where, byte)
    n = len(CONTROL_BYTES)
    assert server.count_log(r"WSGI0603", n, mark=mark) == n


def test_tab_allowed_in_header_value(server):
    raw = server.raw(b"GET /out/header-byte?where=value&byte=9 HTTP/1.1\r\n"
                     b"Host: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"X-Probe: a\tb\r\n" in raw


@pytest.mark.parametrize("status", ["99 Low", "100 Continue", "600 High",
                                    "20 OK", "2000 OK", "200  OK", " 200 OK"])
@pytest.mark.allow_log("WSGI0601", "WSGI0602", "WSGI0603", "late write")
def test_bad_status_codes(server, status):
    r = server.get("/out/status?" + status.replace(" ", "%20"))
    assert r.status_code == 500


def test_custom_status_line_passed_through(server):
    raw = server.raw(b"GET /out/status?299%20Custom%20Thing HTTP/1.1\r\n"
                     b"Host: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 299 Custom Thing\r\n")


def test_status_reason_from_application(server):
    raw = server.raw(b"GET /out/status?404%20Gone%20Fishing HTTP/1.1\r\n"
                     b"Host: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 404 Gone Fishing\r\n")


def test_exc_info_replaces_headers_not_yet_sent(server):
    r = server.get("/out/exc_info")
    assert r.status_code == 503
    assert r.headers["X-Replaced"] == "yes"
    assert "X-First" not in r.headers
    assert r.text == "replaced"


def test_exc_info_reraised_after_headers_sent_by_write(server):
    r = server.get("/out/exc_info-after-send")
    assert r.status_code == 200
    assert r.text == "sent already\nre-raised\n"


def test_exc_info_reraised_after_first_yield(server):
    r = server.get("/out/exc_info-after-yield")
    assert r.status_code == 200
    assert r.text == "first\nre-raised\n"


def test_write_callable(server):
    r = server.get("/out/write")
    assert r.status_code == 200
    assert r.text == "one,two,three"
    r = server.get("/out/write-only")
    assert r.text == "w0;w1;w2;"


def test_content_length_truncates_longer_body(server):
    with requests.Session() as s:
        r = s.get(server.url("/out/too-long"), timeout=10)
        assert r.headers["Content-Length"] == "5"
        assert r.content == b"12345"
        # The connection stays usable: nothing extra was sent on it.
        r2 = s.get(server.url("/out/write"), timeout=10)
        assert r2.text == "one,two,three"


@pytest.mark.allow_log("WSGI0601")
def test_shorter_body_than_content_length_closes(server):
    mark = server.log_mark()
    raw = server.raw_until_closed(b"GET /out/too-short HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    _assert_cut_or_refused(server, head, body, b"Content-Length: 50",
                           b"only ten b")
    assert server.count_log("WSGI0601", 1, mark=mark) == 1


def _assert_cut_or_refused(server, head, body, header, sent):
    if not refused_before_the_head(server, head):
        assert header in head, head
        assert body == sent, body


def test_head_has_no_body(server):
    raw = server.raw(b"HEAD /out/method HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"X-Method: HEAD" in head
    assert body == b""


def test_head_on_keepalive_connection_leaves_it_usable(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("HEAD", server.path("/out/method"))
    r = conn.getresponse()
    assert r.read() == b""
    conn.request("GET", server.path("/out/write"))
    assert conn.getresponse().read() == b"one,two,three"
    conn.close()


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses(server, status):
    raw = server.raw(("GET /out/status?%s HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n" % status.replace(" ", "%20")).encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(("HTTP/1.1 " + status).encode())
    assert body == b""
    assert b"Transfer-Encoding" not in head


def test_streaming_blocks_arrive_at_once(server):
    # Each block is made only after the one before reached the client:
    # a block held back until the next would stall the response.
    lines = stream_with_acks(server.port, server.path("/out/stream"))
    assert [l.split()[0] for l in lines] == [b"0", b"1", b"2", b"3"], lines


def test_empty_blocks_do_not_break_the_response(server):
    r = server.get("/out/empty-first")
    assert r.status_code == 200
    assert r.text == "after empties"


def test_large_download(server):
    import hashlib
    size = 10 * 1024 * 1024 + 17
    r = server.get("/out/download?%d" % size)
    block = bytes(range(256)) * 256
    expected = (block * (size // len(block) + 1))[:size]
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == size
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(expected).digest()


def test_dynamic_content_type_is_copied(server):
    # CVE-2014-0242 class: headers must be copied, not borrowed.
    def one(n):
        r = requests.get(server.url("/out/dynamic-ctype?%d" % n), timeout=30)
        return n, r.status_code, r.headers.get("Content-Type"), r.headers.get("X-Expect"), r.text

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(60)))
    for n, status, ctype, expect, text in results:
        assert status == 200
        assert ctype == expect
        assert text == "body %d" % n


# ------------------------------------------------------------------ close()

def close_marks(server, tag, timeout=15):
    import os
    return read_lines_when_present(os.path.join(server.state, "close-" + tag), timeout)


def test_close_called_once_on_success(server):
    tag = unique("ok")
    r = server.get("/out/close?" + tag)
    assert r.text == "ab"
    assert close_marks(server, tag) == ["closed"]


@pytest.mark.allow_log("WSGI0603")
def test_close_called_once_when_iteration_fails_first(server):
    tag = unique("fail")
    r = server.get("/out/close?" + tag)
    assert r.status_code == 500
    assert close_marks(server, tag) == ["closed"]


@pytest.mark.allow_log("WSGI0603")
def test_close_called_once_when_iteration_fails_midway(server):
    tag = unique("midway")
    raw = server.raw_until_closed(("GET %s?%s HTTP/1.1\r\nHost: x\r\n\r\n" % (
        server.path("/out/close"), tag)).encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    # The first block's chunk, and no last chunk.
    _assert_cut_or_refused(server, head, body, b"Transfer-Encoding: chunked",
                           b"64\r\n" + b"a" * 100 + b"\r\n")
    assert close_marks(server, tag) == ["closed"]


def test_close_called_once_on_client_abort(server):
    tag = unique("slow")
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        s.sendall(("GET %s?%s HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (server.path("/out/close"), tag)).encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        # Reset rather than close, so the server's next write fails.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert close_marks(server, tag, timeout=25) == ["closed"]
    assert server.get("/out/write").status_code == 200


@pytest.mark.allow_log("WSGI0602")
def test_close_raising_is_logged_and_response_complete(server):
    tag = unique("raises")
    mark = server.log_mark()
    r = server.get("/out/close?" + tag)
    assert r.status_code == 200
    assert r.text == "ab"
    assert close_marks(server, tag) == ["closed"]
    assert server.count_log("WSGI0602", 1, mark=mark) == 1
    assert "close failing on purpose" in server.log_since(mark)


def test_head_still_calls_close(server):
    tag = unique("ok")
    raw = server.raw(("HEAD /out/close?%s HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n" % tag).encode())
    assert raw.startswith(b"HTTP/1.1 200")
    assert close_marks(server, tag) == ["closed"]


# ------------------------------------------------- objects outliving requests

@pytest.mark.allow_log("WSGI0603", "late write")
def test_objects_outliving_the_request_are_safe(server):
    with requests.Session() as s:
        assert s.get(server.url("/out/leak"), timeout=10).text == "kept"
        r = s.get(server.url("/out/use-leaked"), timeout=10)
    assert r.text == ("input:RuntimeError start_response:RuntimeError "
                      "write:RuntimeError errors:ok")


def _time_to_body(port, path, body):
    """Seconds until the whole response to GET path (keep-alive) arrived;
    its body must be body."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
        got = b""
        while not got.endswith(b"\r\n\r\n" + body):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        return time.monotonic() - start, got


def test_response_is_sent_before_the_request_is_torn_down(server):
    # The environ holds an object that takes 1.5 s to destroy: the client
    # has the whole response long before that.
    tag = unique("teardown")
    took, got = _time_to_body(server.port, server.path("/out/slow-teardown")
                              + "?1.5-" + tag, b"fast")
    # The teardown ends before the next test (a stop meanwhile would find
    # a request still running).
    assert read_lines_when_present(
        os.path.join(server.state, "slow-" + tag), 15) == ["torn down"]
    assert got.startswith(b"HTTP/1.1 200"), got
    assert took < 1.0, took
