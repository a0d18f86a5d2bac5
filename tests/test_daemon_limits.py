"""Daemon mode within Apache's own limits (issue 10, items 5 and 6): what
Apache accepts and embedded mode serves, daemon mode serves too."""

import pytest

from test_daemon import daemon_conf


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_request_headers_as_large_as_apache_allows(make_server, mpm):
    """1.1 MiB of request headers with LimitRequestFieldSize raised: the
    environ crossing to the daemon follows Apache's limits (a fixed 1 MiB
    cap answered 503)."""
    srv = make_server("LimitRequestFieldSize 1200000\n" +
                      daemon_conf("processes=1 threads=2"), mpm=mpm)
    big = "x" * (1100 * 1024)
    for path in ("/e/environ", "/d/environ"):
        r = srv.get(path, headers={"X-Big": big}, timeout=60)
        assert r.status_code == 200, (path, r.status_code)
        assert r.json()["HTTP_X_BIG"] == big, path


HEADERS_APP = r'''
def application(environ, start_response):
    count, size = (int(x) for x in environ["QUERY_STRING"].split(","))
    headers = [("X-H%05d" % i, "v" * size) for i in range(count)]
    start_response("200 OK", [("Content-Type", "text/plain")] + headers)
    return [b"ok"]
'''


def _line(text, code):
    lines = [l for l in text.splitlines() if code in l]
    assert len(lines) == 1, text[-3000:]
    return lines[0]


@pytest.fixture
def headers_server(make_server):
    import os
    import shutil
    from conftest import state_dir
    from harness import write_file
    d = state_dir()
    write_file(os.path.join(d, "headers.wsgi"), HEADERS_APP)

    def make(options="processes=1 threads=2"):
        return make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess h %s
WSGIScriptAlias /h "%s/headers.wsgi" process-group=h
WSGIScriptAlias /e "%s/headers.wsgi"
<Directory "%s">
    Require all granted
</Directory>
""" % (options, d, d, d))
    yield make
    shutil.rmtree(d, ignore_errors=True)


def test_many_small_response_headers_as_debian_serves(headers_server):
    """10,000 small headers: 200 in both modes (the whole head was capped
    at header-buffer-size, 32 KiB, and answered 502)."""
    import socket
    from common import recv_until_closed
    srv = headers_server()
    for path in ("/e", "/h"):
        # Raw: Python's http.client refuses more than 100 headers.
        with socket.create_connection(("127.0.0.1", srv.port), 60) as s:
            s.sendall(b"GET " + path.encode() + b"?10000,8 HTTP/1.1\r\n"
                      b"Host: localhost\r\nConnection: close\r\n\r\n")
            data = recv_until_closed(s)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 200"), (path, lines[0])
        ours = [l for l in lines if l.startswith("X-H")]
        assert len(ours) == 10000, path
        assert "X-H09999: vvvvvvvv" in ours
        assert body == b"ok"


@pytest.mark.allow_log("WSGI0705")
def test_one_header_over_header_buffer_size_is_a_502_naming_it(headers_server):
    srv = headers_server()
    srv.mark()
    r = srv.get("/h?1,40000", timeout=60)
    assert r.status_code == 502
    line = _line(srv.wait_log("WSGI0705"), "WSGI0705")
    assert "X-H00000" in line and "header-buffer-size=32768" in line, line
    assert "40010 bytes" in line, line
    # Raised, the same header is served.
    srv2 = headers_server("processes=1 threads=2 header-buffer-size=65536")
    r = srv2.get("/h?1,40000", timeout=60)
    assert r.status_code == 200 and len(r.headers["X-H00000"]) == 40000


@pytest.mark.allow_log("WSGI0743")
def test_a_head_larger_than_a_frame_is_a_500_that_says_so(headers_server):
    srv = headers_server()
    srv.mark()
    r = srv.get("/h?1100,16000", timeout=120)
    assert r.status_code == 500
    line = _line(srv.wait_log("WSGI0743"), "WSGI0743")
    assert "1101 headers" in line and "fewer or smaller" in line, line
    # The group still serves.
    assert srv.get("/h?1,1", timeout=30).status_code == 200
