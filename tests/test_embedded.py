"""Embedded mode against a real Apache: PEP 3333 behaviour, directives,
error handling and process lifecycle.

The shared server (one per Python venv and MPM) serves every app in
tests/apps_embedded at once; tests that need a configuration of their own
start their own server, for the first venv and MPM only.
"""

import glob
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from apache_server import Apache, make_dir, python_version

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps_embedded")
VENVS = os.environ.get("MOD_WSGI_TEST_VENVS", "").split()
MPMS = os.environ.get("MOD_WSGI_TEST_MPMS", "event prefork").split()

if not VENVS:
    VENVS = [sys.prefix]

COMBOS = [(v, m) for v in VENVS for m in MPMS]
PRIMARY = COMBOS[:1]


def combo_id(c):
    return "py%s-%s" % (os.path.basename(c[0]).replace("venv-", ""), c[1])


MAIN_CONF = r"""
SetEnv TEST_STATE_DIR "@STATE@"
SetEnv TEST_GROUP fromenv
WSGIScriptAlias /app "@APPS@/app.wsgi"
WSGIScriptAlias /chunked "@APPS@/app.wsgi"
<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /auth "@APPS@/app.wsgi" pass-authorization=On
WSGIScriptAlias /global "@APPS@/app.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /global2 "@APPS@/app.wsgi" application-group=%{GLOBAL}
WSGIScriptAlias /named "@APPS@/app.wsgi" application-group=named
WSGIScriptAlias /server "@APPS@/app.wsgi" application-group=%{SERVER}
WSGIScriptAlias /host "@APPS@/app.wsgi" application-group=%{HOST}
WSGIScriptAlias /envgroup "@APPS@/app.wsgi" application-group=%{ENV:TEST_GROUP}
WSGIScriptAlias /syntax "@APPS@/syntax_error.wsgi"
WSGIScriptAlias /nocallable "@APPS@/no_callable.wsgi"
WSGIScriptAlias /importerror "@APPS@/import_error.wsgi"
WSGIScriptAlias /other "@APPS@/other_callable.wsgi" callable-object=app2
WSGIScriptAlias /flask "@APPS@/flask_app.wsgi"
WSGIScriptAlias /django "@APPS@/django_app.wsgi"
WSGIScriptAlias /reload "@STATE@/reload.wsgi"
WSGIScriptAliasMatch ^/match/([a-z_]+)\.py "@APPS@/$1.wsgi"
WSGIScriptAlias /deflated "@APPS@/app.wsgi"
<Location /deflated>
    SetOutputFilter DEFLATE
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
<Directory "@STATE@">
    Require all granted
</Directory>
WSGIScriptAlias /dir/ "@APPS@/"
WSGIScriptAlias /dgroup "@APPS@/app.wsgi"
<Location /dgroup>
    WSGIApplicationGroup dirgroup
    WSGIPassAuthorization On
    WSGIPassApacheRequest On
    WSGIErrorOverride On
</Location>
WSGIScriptAlias /sendfile "@APPS@/app.wsgi"
<Location /sendfile>
    WSGIEnableSendfile On
</Location>
WSGIScriptAlias / "@APPS@/app.wsgi"
"""

DATA = bytes(range(256)) * 400       # 102400 bytes for file_wrapper


def state_dir():
    d = make_dir("mod_wsgi-state-")
    os.chmod(d, 0o777)
    with open(os.path.join(d, "data.bin"), "wb") as f:
        f.write(DATA)
    return d


def conf(text, state):
    return text.replace("@APPS@", APPS).replace("@STATE@", state)


@pytest.fixture(scope="module", params=COMBOS, ids=combo_id)
def server(request):
    venv, mpm = request.param
    state = state_dir()
    srv = Apache(venv, mpm, conf(MAIN_CONF, state))
    srv.state = state
    srv.start()
    yield srv
    srv.stop()
    bad = srv.bad_lines()
    srv.cleanup()
    assert not bad, "unexpected lines in the error log:\n" + "\n".join(bad)


@pytest.fixture
def make_server(request):
    """Starts a server with its own configuration (first venv and MPM)."""
    made = []

    def make(text, start=True, venv=None, mpm=None, **kw):
        state = state_dir()
        srv = Apache(venv or VENVS[0], mpm or MPMS[0], conf(text, state), **kw)
        srv.state = state
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    for srv in made:
        srv.stop()
        srv.cleanup()


def environ_of(server, path, **kw):
    r = server.get(path, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def count_since_mark(server, pattern, expected, timeout=5):
    """Waits until pattern occurs `expected` times after the mark (and
    checks it does not occur more often)."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = len(re.findall(pattern, server.log_since_mark()))
        if n >= expected:
            break
        time.sleep(0.1)
    time.sleep(0.2)
    return len(re.findall(pattern, server.log_since_mark()))


# ------------------------------------------------------------------ environ

def test_environ_cgi_and_wsgi_keys(server):
    env = environ_of(server, "/app/environ/x?a=1&b=2",
                     headers={"X-Custom": "yes"})
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/app"
    assert env["PATH_INFO"] == "/environ/x"
    assert env["QUERY_STRING"] == "a=1&b=2"
    assert env["REQUEST_URI"] == "/app/environ/x?a=1&b=2"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert int(env["REMOTE_PORT"]) > 0
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % server.port
    assert env["SCRIPT_FILENAME"] == os.path.join(APPS, "app.wsgi")
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.input"] == "<Input>"
    assert env["wsgi.errors"] == "<Log>"
    assert env["wsgi.file_wrapper"] == "<type>"
    assert "HTTPS" not in env
    # A threaded MPM runs requests in threads; prefork does not.
    assert env["wsgi.multithread"] is (server.mpm != "prefork")
    assert env["wsgi.multiprocess"] is True


def test_environ_mod_wsgi_keys(server):
    before = time.time()
    env = environ_of(server, "/app/environ")
    assert env["mod_wsgi.version"][:2] == [0, 1]
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == "127.0.0.1:%d|/app" % server.port
    assert env["mod_wsgi.callable_object"] == "application"
    assert env["mod_wsgi.request_handler"] == "wsgi-script"
    assert env["mod_wsgi.script_name"] == "/app"
    assert env["mod_wsgi.path_info"] == "/environ"
    assert env["mod_wsgi.request_id"]
    assert env["mod_wsgi.connection_id"]
    assert before - 5 < env["mod_wsgi.request_start"] <= env["mod_wsgi.application_start"] < time.time() + 1
    assert env["apache.version"][:2] == [2, 4]
    assert env["interp.version"] == python_version(server.venv)
    assert os.path.realpath(env["interp.sys_prefix"]) == os.path.realpath(server.venv)


def test_script_name_path_info_split(server):
    env = environ_of(server, "/app")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "")
    env = environ_of(server, "/app/")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/app", "/")
    # Mounted at the root: SCRIPT_NAME is empty, PATH_INFO keeps the slash.
    env = environ_of(server, "/environ/deep/er")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/environ/deep/er")
    env = environ_of(server, "/")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("", "/")


def test_path_info_is_decoded_latin1(server):
    env = environ_of(server, "/app/environ/a%20b/caf%C3%A9/%E9")
    # PEP 3333: bytes decoded as latin-1, one char per byte.
    assert env["PATH_INFO"] == "/environ/a b/caf\u00c3\u00a9/\u00e9"
    assert env["REQUEST_URI"] == "/app/environ/a%20b/caf%C3%A9/%E9"


def test_header_spoofing_and_credentials(server):
    headers = {"X_Spoof": "evil", "X-Real-Header": "good",
               "Authorization": "Basic dXNlcjpwdw==",
               "Proxy-Authorization": "Basic cHJveHk6cHc=",
               "Proxy": "http://evil.example:3128"}
    env = environ_of(server, "/app/environ", headers=headers)
    assert env["HTTP_X_REAL_HEADER"] == "good"
    assert "HTTP_X_SPOOF" not in env
    assert "HTTP_AUTHORIZATION" not in env
    assert "HTTP_PROXY_AUTHORIZATION" not in env
    assert "HTTP_PROXY" not in env
    env = environ_of(server, "/auth/environ", headers=headers)
    assert env["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwdw=="
    assert "HTTP_PROXY_AUTHORIZATION" not in env
    assert "HTTP_PROXY" not in env


def test_content_type_and_length(server):
    r = server.post("/app/environ", data=b"abc",
                    headers={"Content-Type": "application/x-test"})
    env = r.json()
    assert env["CONTENT_TYPE"] == "application/x-test"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


# -------------------------------------------------------------------- input

BODY = b"line one\nline two\n\nlast line without newline"


@pytest.mark.parametrize("mode,expected", [
    ("readline", repr(BODY.splitlines(True)).encode()),
    ("readlines", repr(BODY.splitlines(True)).encode()),
    ("iter", repr(BODY.splitlines(True)).encode()),
    ("readline-limit", repr([b"lin", b"e one\n"]).encode()),
    ("readlines-hint", repr([b"line one\n"]).encode()),
    ("after-end", repr([BODY, b"", b"", b""]).encode()),
])
def test_input_reading(server, mode, expected):
    r = server.post("/app/read?" + mode, data=BODY)
    assert r.status_code == 200
    assert r.content == expected


def test_input_read_sized(server):
    body = os.urandom(4500)
    r = server.post("/app/read?sized", data=body)
    head, _, rest = r.content.partition(b"\n")
    assert head == b"[1000, 1000, 1000, 1000, 500, 0]"
    assert rest == body


def test_input_large_upload_streamed(server):
    body = os.urandom(10 * 1024 * 1024)
    r = server.post("/app/sha256", data=body)
    assert r.status_code == 200
    assert r.text == "%d %s" % (len(body), hashlib.sha256(body).hexdigest())


def test_large_download(server):
    size = 10 * 1024 * 1024 + 17
    r = server.get("/app/download?%d" % size)
    block = bytes(range(256)) * 256
    expected = (block * (size // len(block) + 1))[:size]
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == size
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(expected).hexdigest()


def gen_body(parts):
    for p in parts:
        yield p


def test_chunked_request_refused_by_default(server):
    r = server.post("/app/echo", data=gen_body([b"abc", b"def"]))
    assert r.status_code == 411


def test_chunked_request_allowed(server):
    r = server.post("/chunked/echo", data=gen_body([b"abc", b"def", b"g" * 70000]))
    assert r.status_code == 200
    assert r.content == b"abcdef" + b"g" * 70000


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        s.sendall(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        first = s.recv(1024)
        assert first.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hello")
        rest = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            rest += b
    assert b"200 OK" in rest
    assert rest.endswith(b"hello")


# ----------------------------------------------------------------- response

@pytest.mark.parametrize("case", [
    "str-body", "bytes-status", "no-space", "status-crlf", "header-crlf",
    "header-lf-name", "header-empty-name", "header-not-latin1",
    "header-bytes", "headers-tuple", "header-triple", "raise",
    "no-start-response", "second-start-response", "bad-content-length",
])
def test_bad_responses_give_500_and_one_log_entry(server, case):
    server.mark()
    r = server.get("/app/bad?" + case)
    assert r.status_code == 500
    assert "X-Evil" not in r.headers and "Set-Cookie" not in r.headers
    assert count_since_mark(server, r"WSGI0603", 1) == 1
    log = server.log_since_mark()
    assert log.count("Traceback (most recent call last)") <= 1
    # The server is still fine.
    assert server.get("/app/environ").status_code == 200


@pytest.mark.parametrize("status", ["99 Low", "100 Continue", "600 High", "20 OK", "200  OK"])
def test_bad_status_codes(server, status):
    r = server.get("/app/status?" + status.replace(" ", "%20"))
    assert r.status_code == 500


def test_custom_status_line(server):
    raw = server.raw(b"GET /app/status?299%20Custom%20Thing HTTP/1.1\r\n"
                     b"Host: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 299 Custom Thing\r\n")


def test_exc_info_replaces_status_before_headers_sent(server):
    r = server.get("/app/exc_info")
    assert r.status_code == 503
    assert r.headers["X-Replaced"] == "yes"
    assert r.text == "replaced"


def test_exc_info_reraised_after_headers_sent(server):
    r = server.get("/app/exc_info-after-send")
    assert r.status_code == 200
    assert r.text == "sent already\nre-raised\n"


def test_write_callable(server):
    r = server.get("/app/write")
    assert r.status_code == 200
    assert r.text == "one,two,three"


def test_content_length_truncates_longer_body(server):
    with requests.Session() as s:
        r = s.get(server.url("/app/too-long"), timeout=10)
        assert r.content == b"12345"
        # The connection stays usable: nothing extra was sent on it.
        r2 = s.get(server.url("/app/write"), timeout=10)
        assert r2.text == "one,two,three"


def test_shorter_body_than_content_length_closes(server):
    server.mark()
    raw = server.raw(b"GET /app/too-short HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 50" in head
    assert body == b"only ten b"
    assert count_since_mark(server, "WSGI0601", 1) == 1


def test_head_has_no_body(server):
    r = server.raw(b"HEAD /app/environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = r.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Type: application/json" in head
    assert body == b""


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses(server, status):
    r = server.raw(("GET /app/status?%s HTTP/1.1\r\nHost: x\r\n"
                    "Connection: close\r\n\r\n" % status.replace(" ", "%20")).encode())
    head, _, body = r.partition(b"\r\n\r\n")
    assert head.startswith(("HTTP/1.1 " + status).encode())
    assert body == b""


def test_streaming_blocks_arrive_at_once(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    conn.request("GET", "/app/stream")
    resp = conn.getresponse()
    lags = []
    for _ in range(4):
        line = resp.readline()
        arrived = time.time()
        produced = float(line.split()[1])
        lags.append(arrived - produced)
    conn.close()
    # Buffering until the end would delay the first block by 1.5 s.
    assert max(lags) < 0.4, lags


def test_empty_blocks_do_not_start_the_response_early(server):
    r = server.get("/app/empty-first")
    assert r.status_code == 200
    assert r.text == "after empties"


def read_close_marks(server, tag, timeout=15):
    path = os.path.join(server.state, "close-" + tag)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not os.path.exists(path):
        time.sleep(0.1)
    time.sleep(0.3)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def test_close_called_once_on_success(server):
    tag = "ok-%s" % server.mpm
    r = server.get("/app/close?" + tag)
    assert r.text == "ab"
    assert read_close_marks(server, tag) == ["closed"]


def test_close_called_once_on_error(server):
    tag = "fail-%s" % server.mpm
    r = server.get("/app/close?" + tag)
    assert r.status_code == 500
    assert read_close_marks(server, tag) == ["closed"]


def test_close_called_once_on_midway_error(server):
    tag = "midway-%s" % server.mpm
    with pytest.raises(requests.exceptions.RequestException):
        server.get("/app/close?" + tag).content
    assert read_close_marks(server, tag) == ["closed"]


def test_close_called_once_on_client_abort(server):
    tag = "slow-%s" % server.mpm
    with socket.create_connection(("127.0.0.1", server.port), 10) as s:
        s.sendall(("GET /app/close?%s HTTP/1.1\r\nHost: x\r\n\r\n" % tag).encode())
        assert s.recv(1024).startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert read_close_marks(server, tag, timeout=20) == ["closed"]
    assert server.get("/app/environ").status_code == 200


def test_error_after_start_cuts_chunked_response(server):
    server.mark()
    raw = server.raw(b"GET /app/midway HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"first part" in body
    # No last chunk: the client can tell the body is incomplete.
    assert not body.endswith(b"0\r\n\r\n")
    assert count_since_mark(server, "WSGI0603", 1) == 1
    assert server.get("/app/environ").status_code == 200


def test_error_after_start_cuts_fixed_length_response(server):
    raw = server.raw(b"GET /app/midway-cl HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 100" in head
    assert len(body) < 100


def test_objects_outliving_the_request_are_safe(server):
    with requests.Session() as s:
        assert s.get(server.url("/app/leak"), timeout=10).text == "kept"
        r = s.get(server.url("/app/use-leaked"), timeout=10)
    assert r.text == "input:RuntimeError start_response:RuntimeError errors:ok"


# ------------------------------------------------------------ file_wrapper

def test_file_wrapper_whole_file(server):
    r = server.get("/app/file")
    assert r.status_code == 200
    assert r.content == DATA
    assert int(r.headers["Content-Length"]) == len(DATA)


def test_file_wrapper_from_current_offset(server):
    r = server.get("/app/file?offset=1000")
    assert r.content == DATA[1000:]


def test_file_wrapper_honours_content_length(server):
    r = server.get("/app/file?cl=300")
    assert r.content == DATA[:300]
    r = server.get("/app/file-offset-cl")
    assert r.content == DATA[1000:1500]


def test_file_wrapper_with_sendfile(server):
    assert server.get("/sendfile/file").content == DATA
    assert server.get("/sendfile/file?offset=777").content == DATA[777:]
    assert server.get("/sendfile/file-offset-cl").content == DATA[1000:1500]
    env = environ_of(server, "/sendfile/environ")
    assert env["mod_wsgi.enable_sendfile"] == "1"


def test_file_wrapper_non_file(server):
    r = server.get("/app/filelike")
    assert r.content == bytes(range(256)) * 100


# ------------------------------------------------------------------ logging

def test_output_reaches_error_log_with_request_context(server):
    tag = "tag%d" % int(time.time() * 1000)
    server.mark()
    assert server.get("/app/log?" + tag).text == "logged"
    for what in ("wsgi.errors line", "stdout line", "stderr line", "logging line"):
        text = server.wait_log(re.escape("%s %s" % (what, tag)))
        lines = [l for l in text.splitlines() if "%s %s" % (what, tag) in l]
        assert len(lines) == 1, (what, text)
        assert "[client 127.0.0.1:" in lines[0], lines[0]


# ------------------------------------------------------- application groups

def test_application_group_names(server):
    p = server.port
    assert environ_of(server, "/global/environ")["mod_wsgi.application_group"] == ""
    assert environ_of(server, "/global/environ")["interp.application_group"] == ""
    assert environ_of(server, "/named/environ")["interp.application_group"] == "named"
    assert environ_of(server, "/server/environ")["mod_wsgi.application_group"] == "127.0.0.1:%d" % p
    assert environ_of(server, "/host/environ")["mod_wsgi.application_group"] == "127.0.0.1:%d" % p
    assert environ_of(server, "/envgroup/environ")["mod_wsgi.application_group"] == "fromenv"
    env = environ_of(server, "/app/environ")
    assert env["interp.application_group"] == "127.0.0.1:%d|/app" % p


def test_same_group_shares_state_other_groups_isolated(server):
    # One keep-alive connection is served by one process.
    with requests.Session() as s:
        get = lambda path: s.get(server.url(path), timeout=10).text.split("|")
        a = get("/global/counter")
        b = get("/global2/counter")
        c = get("/named/counter")
        d = get("/global/counter")
    assert a[2] == b[2] == d[2]            # same module object
    assert int(b[0]) == int(a[0]) + 1 and int(d[0]) == int(b[0]) + 1
    assert c[2] != a[2] or c[1] != a[1]
    assert c[1] == "named"


def test_global_interpreter_in_threads_that_ran_subinterpreters(server):
    # Alternate groups on every thread; %{GLOBAL} must stay the main one.
    for _ in range(20):
        assert environ_of(server, "/named/environ")["interp.application_group"] == "named"
        assert environ_of(server, "/global/environ")["interp.application_group"] == ""


# ------------------------------------------------------------------ scripts

def test_script_reloaded_when_modified(server):
    path = os.path.join(server.state, "reload.wsgi")
    src = ("def application(environ, start_response):\n"
           "    start_response('200 OK', [])\n"
           "    return [b'%s']\n")
    with open(path, "w") as f:
        f.write(src % "version one")
    os.chmod(path, 0o644)
    assert server.get("/reload").text == "version one"
    with open(path, "w") as f:
        f.write(src % "version two")
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    # Every process sees the change on its next request.
    for _ in range(6):
        assert server.get("/reload").text == "version two"


def test_syntax_error_gives_500_every_time(server):
    for _ in range(2):
        server.mark()
        assert server.get("/syntax").status_code == 500
        assert count_since_mark(server, "WSGI0506", 1) == 1
        assert "SyntaxError" in server.log_since_mark()


def test_import_error_gives_500(server):
    server.mark()
    assert server.get("/importerror").status_code == 500
    assert count_since_mark(server, "WSGI0506", 1) == 1
    assert "no_such_module_anywhere_xyz" in server.log_since_mark()


def test_missing_callable_gives_404(server):
    server.mark()
    assert server.get("/nocallable").status_code == 404
    assert count_since_mark(server, "WSGI0507", 1) == 1


def test_directory_target(server):
    assert server.get("/dir/other_callable.wsgi").text == "default called"
    env = environ_of(server, "/dir/app.wsgi/environ")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/dir/app.wsgi", "/environ")
    assert server.get("/dir/missing.wsgi").status_code == 404


def test_per_directory_directives(server):
    env = environ_of(server, "/dgroup/environ",
                     headers={"Authorization": "Bearer t0ken"})
    assert env["mod_wsgi.application_group"] == "dirgroup"
    assert env["interp.application_group"] == "dirgroup"
    assert env["HTTP_AUTHORIZATION"] == "Bearer t0ken"
    assert env["apache.request_rec"] == "<PyCapsule>"
    env = environ_of(server, "/app/environ")
    assert "apache.request_rec" not in env


def test_callable_object_option(server):
    assert server.get("/other").text == "app2 called"


def test_script_alias_match(server):
    assert server.get("/match/other_callable.py").text == "default called"
    env = environ_of(server, "/match/app.py/environ")
    assert env["SCRIPT_NAME"] == "/match/app.py"
    assert env["PATH_INFO"] == "/environ"


def test_head_mapped_to_get_only_with_body_filters(server):
    r = server.raw(b"HEAD /app/method HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"X-Method: HEAD" in r
    r = server.raw(b"HEAD /deflated/method HTTP/1.1\r\nHost: x\r\n"
                   b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n")
    assert b"X-Method: GET" in r


def test_signal_registration_is_ignored(server):
    server.mark()
    assert server.get("/app/signal").text == "unchanged"
    assert count_since_mark(server, "WSGI0301", 1) >= 1


def test_stdout_allowed_by_default(server):
    assert server.get("/app/stdout-write").text == "allowed"


# --------------------------------------------------------------- frameworks

@pytest.mark.parametrize("framework", ["flask", "django"])
def test_framework(server, framework):
    base = "/" + framework
    assert server.get(base + "/").text == framework + " index"
    assert server.post(base + "/form", data={"name": "zoë"}).text == "name=zoë"
    payload = os.urandom(300000)
    r = server.post(base + "/upload", files={"file": ("x.bin", payload)})
    assert r.text == "x.bin %d %s" % (len(payload), hashlib.sha256(payload).hexdigest())
    assert server.get(base + "/stream").text == "chunk 0\nchunk 1\nchunk 2\n"
    assert server.get(base + "/missing").status_code == 404
    server.mark()
    assert server.get(base + "/boom").status_code == 500
    failure = "%s view failed on purpose" % framework
    assert failure in server.wait_log(failure)
    assert count_since_mark(server, "WSGI0603", 0) == 0   # the framework's 500


# ------------------------------------------------------ directives (own conf)

APP_ALIAS = """
SetEnv TEST_STATE_DIR "@STATE@"
WSGIScriptAlias /app "@APPS@/app.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


def test_python_interpreter_directives(make_server):
    extra = make_dir()
    with open(os.path.join(extra, "extra_mod_for_test.py"), "w") as f:
        f.write("VALUE = 42\n")
    srv = make_server("""
WSGIPythonPath "%s"
WSGIPythonOptimize 2
WSGIDontWriteBytecode On
WSGIPythonHashSeed 123
WSGIPythonWarnings ignore::DeprecationWarning
""" % extra + APP_ALIAS)
    env = environ_of(srv, "/app/environ")
    assert extra in env["interp.sys_path"]
    assert env["interp.optimize"] == 2
    assert env["interp.dont_write_bytecode"] is True
    assert "ignore::DeprecationWarning" in env["interp.warnoptions"]
    expected = subprocess.run(
        [os.path.join(srv.venv, "bin", "python"), "-c", "print(hash('abc'))"],
        env=dict(os.environ, PYTHONHASHSEED="123"), capture_output=True,
        text=True, check=True).stdout.strip()
    assert env["interp.hash_abc"] == int(expected)


def test_restrict_directives(make_server):
    srv = make_server("""
WSGIRestrictStdout On
WSGIRestrictStdin On
WSGIRestrictSignal Off
""" + APP_ALIAS)
    assert srv.get("/app/stdout-write").text.startswith("restricted: ")
    assert "WSGIRestrictStdout" in srv.get("/app/stdout-write").text
    assert srv.get("/app/stdin-read").text.startswith("restricted: ")
    srv.mark()
    # The application's call reaches Python's signal.signal, which itself
    # only allows the main thread of the main interpreter.
    assert srv.get("/app/signal").text in ("changed", "error:ValueError")
    assert "WSGI0301" not in srv.log_since_mark()


def test_handler_needs_execcgi(make_server):
    srv = make_server("""
Alias /noexec "@STATE@/noexec"
Alias /exec "@STATE@/exec"
<Directory "@STATE@/noexec">
    AddHandler wsgi-script .wsgi
    Require all granted
</Directory>
<Directory "@STATE@/exec">
    Options +ExecCGI
    SetHandler wsgi-script
    Require all granted
</Directory>
""", start=False)
    for d in ("noexec", "exec"):
        os.makedirs(os.path.join(srv.state, d))
        os.chmod(os.path.join(srv.state, d), 0o755)
        with open(os.path.join(srv.state, d, "h.wsgi"), "w") as f:
            f.write("def application(e, sr):\n    sr('200 OK', [])\n"
                    "    return [e['SCRIPT_NAME'].encode()]\n")
    srv.start()
    srv.mark()
    assert srv.get("/noexec/h.wsgi").status_code == 403
    assert count_since_mark(srv, "WSGI0502", 1) == 1
    r = srv.get("/exec/h.wsgi")
    assert r.status_code == 200
    assert r.text == "/exec/h.wsgi"


def test_callable_object_directive(make_server):
    srv = make_server("""
WSGIScriptAlias /other "@APPS@/other_callable.wsgi"
<Directory "@APPS@">
    Require all granted
    WSGICallableObject app2
</Directory>
""")
    assert srv.get("/other").text == "app2 called"


def test_map_head_to_get_on_and_off(make_server):
    srv = make_server("""
WSGIScriptAlias /on "@APPS@/app.wsgi"
WSGIScriptAlias /off "@APPS@/app.wsgi"
<Location /on>
    WSGIMapHEADToGET On
</Location>
<Location /off>
    WSGIMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    r = srv.raw(b"HEAD /on/method HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"X-Method: GET" in r
    r = srv.raw(b"HEAD /off/method HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"X-Method: HEAD" in r


def test_script_reloading_off(make_server):
    srv = make_server("""
WSGIScriptReloading Off
WSGIScriptAlias /reload "@STATE@/reload.wsgi"
<Directory "@STATE@">
    Require all granted
</Directory>
MaxRequestWorkers 1
""", mpm="prefork", start=False)
    path = os.path.join(srv.state, "reload.wsgi")
    src = ("def application(environ, start_response):\n"
           "    start_response('200 OK', [])\n"
           "    return [b'%s']\n")
    with open(path, "w") as f:
        f.write(src % "version one")
    srv.start()
    assert srv.get("/reload").text == "version one"
    with open(path, "w") as f:
        f.write(src % "version two")
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert srv.get("/reload").text == "version one"


def test_import_script_preloads(make_server):
    srv = make_server("""
WSGIImportScript "@APPS@/preload.wsgi" process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /pre "@APPS@/preload.wsgi" application-group=%{GLOBAL}
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    time.sleep(1.5)
    asked = time.time()
    pid, loaded_at = srv.get("/pre").text.split()
    assert float(loaded_at) < asked - 1.0


def test_obsolete_directives_accepted_with_notice(make_server):
    srv = make_server("WSGILazyInitialization On\nWSGIVerboseDebugging Off\n" + APP_ALIAS)
    assert srv.get("/app/environ").status_code == 200
    assert "WSGI0001" in srv.log() or "WSGI0001" in srv.stdout()


@pytest.mark.parametrize("line,directive", [
    ("WSGIPythonOptimize 3", "WSGIPythonOptimize"),
    ("WSGIPythonHashSeed abc", "WSGIPythonHashSeed"),
    ("WSGIMapHEADToGET Sometimes", "WSGIMapHEADToGET"),
    ("WSGIApplicationGroup %{BOGUS}", "WSGIApplicationGroup"),
    ('WSGIScriptAlias /x "@APPS@/app.wsgi" bogus=1', "WSGIScriptAlias"),
    ('WSGIScriptAlias /x "@APPS@/app.wsgi" pass-authorization=maybe', "WSGIScriptAlias"),
    ("WSGIScriptAlias /only-one-arg", "WSGIScriptAlias"),
    ("WSGIScriptAliasMatch ^/(unclosed /x.wsgi", "WSGIScriptAliasMatch"),
    ("WSGIScriptReloading Maybe", "WSGIScriptReloading"),
    ("WSGIPythonHome /nonexistent/dir", "WSGIPythonHome"),
    ("WSGICallableObject 1abc", "WSGICallableObject"),
    ('WSGIImportScript "@APPS@/preload.wsgi"', "WSGIImportScript"),
    ("WSGISwitchInterval -1", "WSGISwitchInterval"),
    ("<VirtualHost *:80>\nWSGIPythonOptimize 1\n</VirtualHost>", "WSGIPythonOptimize"),
])
def test_bad_directive_fails_configtest(make_server, line, directive):
    srv = make_server(line + "\n", start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert directive in out, out


def test_python_home_of_other_version_refused(make_server, tmp_path):
    mine = python_version(VENVS[0])
    root = subprocess.run(["bash", "-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"],
                          capture_output=True, text=True).stdout.strip()
    others = []
    for p in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3"))):
        m = re.search(r"/versions/(3\.\d+)\.", p)
        if m and m.group(1) != mine:
            others.append(p)
    if not others:
        pytest.skip("no Python of another X.Y found for the mismatch test")
    venv = make_dir("mod_wsgi-othervenv-")
    subprocess.run([others[-1], "-m", "venv", "--without-pip", venv], check=True)
    other = python_version(venv)
    assert other != mine
    srv = make_server(APP_ALIAS, start=False, python_home=venv)
    rc, out = srv.configtest()
    assert rc != 0
    assert "Python %s" % other in out and "Python %s" % mine in out, out
    assert srv.start(expect_fail=True) != 0
    lines = [l for l in srv.log().splitlines() if "WSGI0002" in l]
    assert len(lines) == 1, srv.log()
    assert "Python %s" % other in lines[0] and "Python %s" % mine in lines[0]


# ---------------------------------------------------------------- lifecycle

ALL_MPMS = ["event", "worker", "prefork"]


@pytest.mark.parametrize("mpm", ALL_MPMS)
def test_stop_is_prompt_and_runs_atexit(make_server, mpm):
    srv = make_server(APP_ALIAS, mpm=mpm)
    pids = {int(srv.get("/app/atexit").text) for _ in range(6)}
    children = srv.children()
    assert pids <= set(children)
    t0 = time.monotonic()
    srv.stop()
    took = time.monotonic() - t0
    assert took < 5, took
    for pid in pids:
        assert os.path.exists(os.path.join(srv.state, "atexit-%d" % pid)), pid
    assert not [p for p in children if os.path.exists("/proc/%d" % p)]
    assert not srv.bad_lines()


def test_destroy_interpreter_off_skips_atexit(make_server):
    srv = make_server("WSGIDestroyInterpreter Off\n" + APP_ALIAS)
    pids = {int(srv.get("/app/atexit").text) for _ in range(4)}
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 5
    for pid in pids:
        assert not os.path.exists(os.path.join(srv.state, "atexit-%d" % pid))
    assert not srv.bad_lines()


@pytest.mark.parametrize("mpm", ALL_MPMS)
def test_graceful_restart_replaces_children(make_server, mpm):
    srv = make_server(APP_ALIAS, mpm=mpm)
    old = {int(srv.get("/app/atexit").text) for _ in range(4)}
    srv.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in old):
        time.sleep(0.2)
    assert not [p for p in old if os.path.exists("/proc/%d" % p)]
    for pid in old:
        assert os.path.exists(os.path.join(srv.state, "atexit-%d" % pid))
    new = int(srv.get("/app/pid").text)
    assert new not in old
    assert not srv.bad_lines()
