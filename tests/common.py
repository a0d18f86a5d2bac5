"""Constants and small helpers shared by the test files."""

import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
DATA = bytes(range(256)) * 400       # 102400 bytes served by file_wrapper


def _wire_version():
    """The daemon wire protocol's version, from the codec's header (the
    one place it is written), for tests that speak the protocol."""
    import re
    path = os.path.join(os.path.dirname(HERE), "mod_wsgi", "server", "wsgi_proto.h")
    with open(path) as f:
        return int(re.search(r"^#define WSGI_PROTO_VERSION (\d+)$", f.read(), re.M).group(1))


WIRE_VERSION = _wire_version()


def environ_of(srv, path, **kw):
    """GET path from environ.wsgi and return the environ it saw."""
    r = srv.get(path, **kw)
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    return r.json()


def refused_before_the_head(server, head):
    """For a response the application got wrong after start_response
    (an error, a short body): False when its head went out (200), and the
    caller then checks the body is cut. True when Apache answered 502
    with the connection closed instead: only in daemon mode, where the
    head waits a few milliseconds with the first blocks
    (response-flush-delay), so the error can come before anything left.
    Either way the client cannot take it for a whole answer."""
    if head.startswith(b"HTTP/1.1 200"):
        return False
    assert server.path("/out/") != "/out/", (
        "embedded mode sends the head as the first block goes: %r" % head)
    assert head.startswith(b"HTTP/1.1 502"), head
    assert b"Connection: close" in head, head
    return True


def unique(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), time.monotonic_ns())


def read_lines_when_present(path, timeout=15, settle=0.3):
    """Waits (bounded) for a state file the app writes, then a little
    longer so that a second write would be seen too; [] if it never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not os.path.exists(path):
        time.sleep(0.05)
    time.sleep(settle)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def bump_mtime(path, seconds=5):
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + seconds))


def recv_until_closed(sock):
    """Every byte the peer sends until it closes (the socket's own timeout
    bounds each wait)."""
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def stream_with_acks(port, path, blocks=4):
    """GETs path (the apps' /stream) with a directory in the query string:
    the application makes block i+1 only once a file i in it says block i
    reached us. Returns the lines read. A server that holds a block back
    stalls the application, which then ends the body with a "no ack" line
    after 10 s: it cannot pass by luck, and a slow machine only waits."""
    import http.client
    import shutil
    from urllib.parse import quote
    from harness import make_dir
    acks = make_dir(prefix="mod_wsgi-acks-")
    lines = []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "%s?%s" % (path, quote(acks)))
        resp = conn.getresponse()
        for i in range(blocks):
            line = resp.readline()
            lines.append(line)
            if not line.startswith(b"%d " % i):
                break
            with open(os.path.join(acks, str(i)), "w"):
                pass
        # The end of the body: the application saw the last ack and ended
        # (anything after the blocks is returned as a line too).
        rest = resp.read()
        if rest:
            lines.append(rest)
        conn.close()
    finally:
        shutil.rmtree(acks, ignore_errors=True)
    return lines
