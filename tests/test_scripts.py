"""Scripts: reloaded when their mtime changes, syntax and import errors
give 500 every time, a missing callable gives 404, targets can be
directories or regex substitutions."""

import concurrent.futures
import os

import pytest
import requests

from common import bump_mtime, environ_of, write_script

SRC = ("def application(environ, start_response):\n"
       "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
       "    return [b'%s']\n")


def test_script_reloaded_when_modified(server):
    path = os.path.join(server.state, "reload.wsgi")
    write_script(path, SRC % "version one")
    assert server.get("/reload").text == "version one"
    write_script(path, SRC % "version two")
    bump_mtime(path)
    # Every process sees the change on its next request.
    for _ in range(8):
        assert server.get("/reload").text == "version two"


def test_reload_resets_module_state(server):
    path = os.path.join(server.state, "reload.wsgi")
    counting = ("import os\nN = [0]\n"
                "def application(environ, start_response):\n"
                "    N[0] += 1\n"
                "    start_response('200 OK', [])\n"
                "    return [b'%s %%d %%d' %% (os.getpid(), N[0])]\n")
    write_script(path, counting % "a")
    bump_mtime(path, 10)
    with requests.Session() as s:
        first = [s.get(server.url("/reload"), timeout=10).text.split() for _ in range(3)]
        assert [t[0] for t in first] == ["a"] * 3
        assert len({t[1] for t in first}) == 1       # one process
        assert [t[2] for t in first] == ["1", "2", "3"]
        write_script(path, counting % "b")
        bump_mtime(path, 20)
        again = s.get(server.url("/reload"), timeout=10).text.split()
    assert again[0] == "b"
    assert again[1] == first[0][1]
    assert again[2] == "1"


@pytest.mark.allow_log("WSGI0506", "WSGI0507")
def test_broken_script_fixed_by_reload(server):
    path = os.path.join(server.state, "reload_broken.wsgi")
    write_script(path, "def application(environ, start_response)\n")
    mark = server.log_mark()
    assert server.get("/reload-broken").status_code == 500
    assert server.count_log("WSGI0506", 1, mark=mark) == 1
    write_script(path, SRC % "fixed")
    bump_mtime(path)
    for _ in range(4):
        assert server.get("/reload-broken").text == "fixed"


@pytest.mark.allow_log("WSGI0506")
def test_syntax_error_gives_500_every_time(server):
    for _ in range(3):
        mark = server.log_mark()
        assert server.get("/syntax").status_code == 500
        assert server.count_log("WSGI0506", 1, mark=mark) == 1
        text = server.log_since(mark)
        assert "SyntaxError" in text
        assert text.count("Traceback (most recent call last)") <= 1


@pytest.mark.allow_log("WSGI0506")
def test_import_error_gives_500_every_time(server):
    for _ in range(2):
        mark = server.log_mark()
        assert server.get("/importerror").status_code == 500
        assert server.count_log("WSGI0506", 1, mark=mark) == 1
        assert "no_such_module_anywhere_xyz" in server.log_since(mark)


@pytest.mark.allow_log("WSGI0507")
def test_missing_callable_gives_404_and_a_log_line(server):
    mark = server.log_mark()
    assert server.get("/nocallable").status_code == 404
    assert server.count_log("WSGI0507", 1, mark=mark) == 1
    line = [l for l in server.log_since(mark).splitlines() if "WSGI0507" in l][0]
    assert "application" in line
    assert "no_callable.wsgi" in line


def test_callable_object_option(server):
    assert server.get("/other").text == "app2 called"
    assert server.get("/dir/other_callable.wsgi").text == "default called"


@pytest.mark.allow_log("WSGI0503")
def test_directory_target(server):
    env = environ_of(server, "/dir/environ.wsgi/more")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/dir/environ.wsgi", "/more")
    assert server.get("/dir/missing.wsgi").status_code == 404


@pytest.mark.allow_log("WSGI0503")
def test_script_alias_match(server):
    assert server.get("/match/other_callable.py").text == "default called"
    env = environ_of(server, "/match/environ.py/extra")
    assert env["SCRIPT_NAME"] == "/match/environ.py"
    assert env["PATH_INFO"] == "/extra"
    assert env["SCRIPT_FILENAME"].endswith("/environ.wsgi")
    assert server.get("/match/nonexistent.py").status_code == 404


SLOW_IMPORT = """
import time
time.sleep(0.5)           # a slow import: other threads arrive meanwhile
VERSION = %r
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [VERSION.encode()]
"""

SLOW_CONF = r"""
WSGIScriptAlias /slow "@STATE@/slow.wsgi"
<Directory "@STATE@">
    Require all granted
</Directory>
"""


def _concurrent_gets(srv, path, n):
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(
            lambda i: (lambda r: (r.status_code, r.text[:40]))(
                requests.get(srv.url(path), timeout=30)), range(n)))


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_concurrent_first_requests_wait_for_the_import(make_server, mpm):
    # Threads arriving while the script is still being imported must wait
    # for it, not find a half-initialised module without its callable.
    srv = make_server(SLOW_CONF, mpm=mpm, start=False)
    write_script(os.path.join(srv.state, "slow.wsgi"), SLOW_IMPORT % "v1")
    srv.start()
    results = _concurrent_gets(srv, "/slow", 6)
    assert results == [(200, "v1")] * 6
    assert "WSGI0507" not in srv.error_log()


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_concurrent_requests_during_reload(make_server, mpm):
    srv = make_server(SLOW_CONF, mpm=mpm, start=False)
    path = os.path.join(srv.state, "slow.wsgi")
    write_script(path, SLOW_IMPORT % "v1")
    srv.start()
    assert srv.get("/slow").text == "v1"
    write_script(path, SLOW_IMPORT % "v2")
    bump_mtime(path)
    results = _concurrent_gets(srv, "/slow", 6)
    assert results == [(200, "v2")] * 6
    assert "WSGI0507" not in srv.error_log()
