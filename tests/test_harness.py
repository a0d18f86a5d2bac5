"""The harness itself, against a plain Apache without our module: it
starts, serves a static file, logs, stops by pid and leaves nothing behind.
These run without any built module, so a broken harness is told apart from
a broken module."""

import os
import signal
import socket
import time

import pytest
import requests

from harness import ApacheServer, configtest, alive


@pytest.fixture
def plain(request):
    made = []

    def make(mpm="event", conf="", **kw):
        srv = ApacheServer(None, mpm, conf, wsgi=False, **kw)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_plain_apache_serves_static_file(plain, mpm):
    srv = plain(mpm)
    body = os.urandom(3000)
    with open(os.path.join(srv.root, "htdocs", "blob.bin"), "wb") as f:
        f.write(body)
    srv.start()
    assert srv.running()
    r = requests.get(srv.url("/blob.bin"), timeout=10)
    assert r.status_code == 200
    assert r.content == body
    assert requests.get(srv.url("/nothing-here"), timeout=10).status_code == 404
    kids = srv.children()
    assert kids, "an MPM always runs at least one child"
    took, left = srv.stop()
    assert took < 8, took
    assert left == []
    assert not [p for p in kids if alive(p)]
    assert not srv.running()
    srv.check_log()


def test_listens_on_loopback_only(plain):
    srv = plain()
    with open(srv.conf_path) as f:
        conf = f.read()
    assert "Listen 127.0.0.1:%d\n" % srv.port in conf
    srv.start()
    with socket.create_connection(("127.0.0.1", srv.port), 5):
        pass


def test_server_root_is_private_but_readable(plain):
    srv = plain()
    mode = os.stat(srv.root).st_mode & 0o777
    assert mode == 0o755
    # Readable by the user Apache's children run as.
    assert os.stat(srv.conf_path).st_mode & 0o004


def test_start_failure_raises_with_the_log(plain):
    srv = plain(conf="ThisIsNotADirective on\n")
    with pytest.raises(RuntimeError) as e:
        srv.start(timeout=10)
    assert "ThisIsNotADirective" in str(e.value)


def test_configtest_reports_errors(plain):
    srv = plain()
    rc, out = srv.configtest()
    assert rc == 0, out
    assert "Syntax OK" in out
    rc, out = configtest("NoSuchDirectiveAnywhere 1\n", wsgi=False)
    assert rc != 0
    assert "NoSuchDirectiveAnywhere" in out


def test_log_marks_and_bad_line_detection(plain):
    srv = plain(conf='Alias /gone "@ROOT@/does-not-exist"\n'
                     '<Directory "@ROOT@">\n    Require all granted\n</Directory>\n')
    srv.start()
    mark = srv.log_mark()
    assert requests.get(srv.url("/gone"), timeout=10).status_code == 404
    text = srv.wait_log("does-not-exist", mark=mark)
    assert "does-not-exist" in text
    assert "does-not-exist" not in srv.error_log()[:mark]
    assert srv.bad_lines(mark) == []
    # The detector itself: a crash line is found, an allowed one is not.
    with open(srv.log_path, "a") as f:
        f.write("[Mon Jan 01 00:00:00.000000 2024] [core:notice] [pid 1] "
                "AH00052: child pid 2 exit signal Segmentation fault (11)\n")
        f.write("[Mon Jan 01 00:00:00.000000 2024] [wsgi:crit] [pid 1] "
                "WSGI0002: allowed here\n")
    bad = srv.bad_lines(mark, allow=[r"WSGI0002"])
    assert len(bad) == 1 and "exit signal" in bad[0]
    with pytest.raises(AssertionError):
        srv.check_log(mark)


def test_log_gate_takes_errors_and_warnings_and_whole_allowed_messages(plain):
    """[error] and [warn] lines fail a test unless allowed; the other
    lines of an allowed message (a traceback, logged line by line, maybe
    between another thread's lines) go with it, up to that thread's next
    message with a code of its own."""
    srv = plain()
    srv.start()
    mark = srv.log_mark()
    head = "[Mon Jan 01 00:00:00.000000 2024] [wsgi:error] [pid 7:tid %d] "
    lines = [
        (1, "WSGI0603: exception while serving 'a'"),
        (2, "WSGI0603: exception while serving 'b'"),
        (1, "Traceback (most recent call last):"),
        (2, "Traceback (most recent call last):"),
        (1, "ValueError: a"),
        (2, "ValueError: b"),
        (1, "WSGI0601: not allowed, a code of its own"),
        (1, "a line that follows it"),
        (3, "printed by an application"),
    ]
    with open(srv.log_path, "a") as f:
        for tid, text in lines:
            f.write(head % tid + text + "\n")
        f.write("[Mon Jan 01 00:00:00.000000 2024] [ssl:warn] [pid 7] "
                "AH01906: a warning\n")
    bad = srv.bad_lines(mark, allow=[r"WSGI0603"])
    assert [b.split("] ", 3)[-1] for b in bad] == [
        "WSGI0601: not allowed, a code of its own",
        "a line that follows it", "printed by an application",
        "AH01906: a warning"], bad
    assert srv.bad_lines(mark, allow=[r"WSGI0603", "WSGI0601", "printed",
                                      "AH01906"]) == []


def test_stop_kills_children_left_behind(plain):
    srv = plain("prefork")
    srv.start()
    kids = srv.children()
    assert kids
    # Make the parent vanish without telling its children: they are still
    # in our session, so stop() must find and end them.
    srv.signal(signal.SIGKILL)
    srv.proc.wait(5)
    orphans = [p for p in kids if alive(p)]
    took, left = srv.stop()
    assert set(orphans) <= set(left)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and [p for p in kids if alive(p)]:
        time.sleep(0.05)
    assert not [p for p in kids if alive(p)]
