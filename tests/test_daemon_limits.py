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
