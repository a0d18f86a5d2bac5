"""WSGI configuration inside <VirtualHost> blocks, as Debian's
sites-available layout puts it (issue 21, M7): two name-based vhosts,
each with its own daemon group and its own ErrorLog."""

import os

import pytest
import requests

from common import unique

VHOSTS = r"""
WSGISocketPrefix "@ROOT@/wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
<VirtualHost *>
    ServerName a.test
    ErrorLog "@ROOT@/a_error.log"
    LogLevel info
    WSGIDaemonProcess va processes=1 threads=2
    WSGIScriptAlias /app "@APPS@/vhost.wsgi" process-group=va application-group=%{GLOBAL}
    WSGIScriptAlias /e "@APPS@/vhost.wsgi"
</VirtualHost>
<VirtualHost *>
    ServerName b.test
    ErrorLog "@ROOT@/b_error.log"
    LogLevel info
    WSGIDaemonProcess vb processes=1 threads=2
    WSGIScriptAlias /app "@APPS@/vhost.wsgi" process-group=vb application-group=%{GLOBAL}
</VirtualHost>
"""


def _get(srv, host, path):
    r = requests.get(srv.url(path), headers={"Host": host}, timeout=30)
    assert r.status_code == 200, (host, path, r.status_code, r.text[:500])
    return r.json()


def _log(srv, name):
    path = os.path.join(srv.root, name)
    with open(path, errors="replace") as f:
        return f.read()


def _wait_line(srv, name, text, timeout=10):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in _log(srv, name):
            return
        time.sleep(0.05)
    raise AssertionError("%r not in %s:\n%s" % (text, name, _log(srv, name)))


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_each_vhost_has_its_daemon_group_and_its_log(make_server, mpm):
    srv = make_server(VHOSTS, mpm=mpm)
    a = _get(srv, "a.test", "/app")
    b = _get(srv, "b.test", "/app")
    assert (a["process_group"], b["process_group"]) == ("va", "vb")
    assert a["pid"] != b["pid"]
    assert (a["server_name"], b["server_name"]) == ("a.test", "b.test")
    # An alias of one vhost is not the other's.
    assert requests.get(srv.url("/e"), headers={"Host": "b.test"},
                        timeout=30).status_code == 404
    assert _get(srv, "a.test", "/e")["process_group"] == ""

    # What each application writes goes to its own vhost's ErrorLog (as
    # Debian's 4.9.4 does), in daemon and in embedded mode, with the
    # client's address; never to the other vhost's or the main log.
    tags = {"a": unique("vh-a"), "b": unique("vh-b"), "e": unique("vh-e")}
    _get(srv, "a.test", "/app?" + tags["a"])
    _get(srv, "b.test", "/app?" + tags["b"])
    _get(srv, "a.test", "/e?" + tags["e"])
    for who, log in (("a", "a_error.log"), ("b", "b_error.log"),
                     ("e", "a_error.log")):
        for channel in ("print", "stderr", "errors"):
            _wait_line(srv, log, "%s line %s" % (channel, tags[who]))
        lines = [l for l in _log(srv, log).splitlines() if tags[who] in l]
        assert len(lines) == 3, lines
        assert all("[client 127.0.0.1:" in l for l in lines), lines
    main = srv.log()
    a_log, b_log = _log(srv, "a_error.log"), _log(srv, "b_error.log")
    for tag in tags.values():
        assert tag not in main
    assert tags["b"] not in a_log and tags["a"] not in b_log
