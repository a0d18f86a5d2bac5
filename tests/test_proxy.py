"""WSGITrustedProxyHeaders / WSGITrustedProxies: a proxy's headers rewrite
the environ only when trusted, and a client can never forge them."""

import pytest

from common import environ_of
from conftest import NO_MODULE, VENVS
from harness import configtest

pytestmark = pytest.mark.skipif(not VENVS, reason=NO_MODULE)

CONF = r"""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess px processes=1 threads=2
WSGIScriptAlias /trusted "@APPS@/environ.wsgi"
WSGIScriptAlias /dtrusted "@APPS@/environ.wsgi" process-group=px
<LocationMatch "^/d?trusted">
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host
    WSGITrustedProxyHeaders X-Forwarded-Port X-Script-Name X-Forwarded-Server
    WSGITrustedProxies 127.0.0.1 192.0.2.0/24
</LocationMatch>
WSGIScriptAlias /untrusted "@APPS@/environ.wsgi"
<Location /untrusted>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
    WSGITrustedProxies 10.0.0.0/8
</Location>
WSGIScriptAlias /anypeer "@APPS@/environ.wsgi"
<Location /anypeer>
    WSGITrustedProxyHeaders X-Real-IP X-Forwarded-SSL
</Location>
WSGIScriptAlias /plain "@APPS@/environ.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""

PROXY_HEADERS = {
    "X-Forwarded-For": "203.0.113.7, 192.0.2.10",
    "X-Real-IP": "1.2.3.4",
    "X-Forwarded-Proto": "https",
    "X-Scheme": "http",
    "X-Forwarded-Host": "www.example.org",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Server": "front.example.org",
    "X-Script-Name": "/shop/",
}


@pytest.fixture(scope="module")
def srv(request):
    from conftest import _new_server, _discard
    s = _new_server(VENVS[0], "event", CONF)
    s.start()
    yield s
    s.stop()
    try:
        s.check_log()
    finally:
        _discard(s)


@pytest.mark.parametrize("mount", ["/trusted", "/dtrusted"],
                         ids=["embedded", "daemon"])
def test_trusted_proxy_rewrites_the_environ(srv, mount):
    env = environ_of(srv, mount + "/x", headers=PROXY_HEADERS)
    # Right to left: 192.0.2.10 is one of our proxies, so the client is
    # the address before it.
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "www.example.org"
    assert env["SERVER_PORT"] == "443"
    assert env["SERVER_NAME"] == "front.example.org"
    assert env["SCRIPT_NAME"] == "/shop"
    assert env["PATH_INFO"] == "/x"
    # Where it is mounted on this server, as upstream reports it.
    assert env["mod_wsgi.mount_point"] == mount
    assert env["mod_wsgi.script_name"] == mount
    # The trusted header stays; others of the same purpose are dropped.
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 192.0.2.10"
    assert "HTTP_X_REAL_IP" not in env
    assert "HTTP_X_SCHEME" not in env


def test_forged_leftmost_address_is_not_believed(srv):
    env = environ_of(srv, "/trusted", headers={
        "X-Forwarded-For": "6.6.6.6, 198.51.100.9, 192.0.2.10"})
    assert env["REMOTE_ADDR"] == "198.51.100.9"
    env = environ_of(srv, "/trusted", headers={
        "X-Forwarded-For": "not-an-ip, 198.51.100.9"})
    assert env["REMOTE_ADDR"] == "198.51.100.9"


def test_untrusted_peer_cannot_use_the_headers(srv):
    env = environ_of(srv, "/untrusted", headers=PROXY_HEADERS)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in env
    assert "HTTP_X_FORWARDED_PROTO" not in env
    assert "HTTP_X_SCHEME" not in env
    # Headers of purposes nobody trusts here are left alone.
    assert env["HTTP_X_FORWARDED_HOST"] == "www.example.org"
    assert env["HTTP_HOST"].startswith("127.0.0.1")


def test_without_trusted_proxies_every_peer_is_the_proxy(srv):
    env = environ_of(srv, "/anypeer", headers={"X-Real-IP": "198.51.100.20",
                                               "X-Forwarded-For": "1.1.1.1",
                                               "X-Forwarded-SSL": "on"})
    assert env["REMOTE_ADDR"] == "198.51.100.20"
    assert env["wsgi.url_scheme"] == "https"
    assert "HTTP_X_FORWARDED_FOR" not in env


def test_without_the_directives_nothing_changes(srv):
    env = environ_of(srv, "/plain", headers=PROXY_HEADERS)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_FOR"] == PROXY_HEADERS["X-Forwarded-For"]


@pytest.mark.parametrize("conf,named", [
    ("WSGITrustedProxyHeaders X-Evil", "X-Evil"),
    ("WSGITrustedProxyHeaders X-Forwarded-For X-Real-IP", "say the same thing"),
    ("WSGITrustedProxies 10.0.0.0/99", "10.0.0.0/99"),
    ("WSGITrustedProxies example.org", "not an IP address"),
])
def test_bad_values_fail_configtest(conf, named):
    rc, out = configtest(conf + "\n", VENVS[0])
    assert rc != 0
    assert named in out and conf.split()[0] in out, out
