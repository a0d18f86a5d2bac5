"""PEP 3333 environ: CGI variables, the SCRIPT_NAME/PATH_INFO split, wsgi.*
and mod_wsgi.* keys, and which request headers an application may see."""

import http.client
import json
import os
import re
import time

from common import APPS, environ_of
from harness import python_version


def test_cgi_variables(server):
    env = environ_of(server, "/sub/x/y?a=1&b=2", headers={"X-Custom": "yes"})
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/sub"
    assert env["PATH_INFO"] == "/x/y"
    assert env["QUERY_STRING"] == "a=1&b=2"
    assert env["REQUEST_URI"] == "/sub/x/y?a=1&b=2"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert int(env["REMOTE_PORT"]) > 0
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_HOST"] == "127.0.0.1:%d" % server.port
    assert env["SCRIPT_FILENAME"] == os.path.join(APPS, "environ.wsgi")
    # SetEnv values flow through.
    assert env["TEST_GROUP"] == "fromenv"
    assert "HTTPS" not in env


def test_environ_is_a_dict_of_native_strings(server):
    env = environ_of(server, "/sub/t?q=1", headers={"X-Any": "v"})
    assert env["interp.environ_type"] == "dict"
    assert env["interp.key_types"] == ["str"]
    # Every CGI-style (upper-case) value is a native str.
    assert env["interp.non_str_cgi"] == []


def test_query_string_present_when_empty(server):
    env = environ_of(server, "/sub/noquery")
    assert env["QUERY_STRING"] == ""
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")


def test_wsgi_keys(server):
    env = environ_of(server, "/sub")
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.input"] == "<Input>"
    assert env["wsgi.errors"] == "<Log>"
    assert env["wsgi.file_wrapper"] == "<type>"


def test_multithread_multiprocess_for_the_mpm(server):
    env = environ_of(server, "/sub")
    # A threaded MPM runs requests in threads; prefork does not.
    assert env["wsgi.multithread"] is (server.mpm != "prefork")
    assert env["wsgi.multiprocess"] is True


def test_multithread_under_worker(make_server):
    srv = make_server(r"""
SetEnv TEST_STATE_DIR "@STATE@"
WSGIScriptAlias /e "@APPS@/environ.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
""", mpm="worker")
    env = environ_of(srv, "/e")
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is True


def test_mod_wsgi_keys(server):
    before = time.time()
    env = environ_of(server, "/sub/info")
    # The upstream API level matched (Debian 12's 4.9.4), as upstream's
    # own module reports its release here.
    assert env["mod_wsgi.version"] == [4, 9, 4]
    assert env["interp.mod_wsgi_version"] == [4, 9, 4]
    # Our own release, as the Server header gives it.
    assert re.fullmatch(r"\d+\.\d+\.\d+", env["interp.build_version"])
    assert all(isinstance(x, int) for x in env["mod_wsgi.version"])
    assert env["mod_wsgi.process_group"] == ""
    assert env["mod_wsgi.application_group"] == "127.0.0.1:%d|/sub" % server.port
    assert env["mod_wsgi.callable_object"] == "application"
    assert env["mod_wsgi.request_handler"] == "wsgi-script"
    assert env["mod_wsgi.script_name"] == "/sub"
    assert env["mod_wsgi.path_info"] == "/info"
    assert env["mod_wsgi.request_id"]
    assert env["mod_wsgi.connection_id"]
    assert (before - 5 < env["mod_wsgi.request_start"]
            <= env["mod_wsgi.application_start"] < time.time() + 1)
    assert env["apache.version"][:2] == [2, 4]
    assert env["interp.version"] == python_version(server.venv)
    assert os.path.realpath(env["interp.sys_prefix"]) == os.path.realpath(server.venv)
    # Internal carrier keys never reach the application.
    assert not [k for k in env if k.startswith("mod_wsgi.x-")]


def test_request_ids_differ_between_requests(server):
    a = environ_of(server, "/sub/a")["mod_wsgi.request_id"]
    b = environ_of(server, "/sub/b")["mod_wsgi.request_id"]
    assert a != b


def test_script_name_path_info_split_under_alias(server):
    for url, split in [("/sub", ("/sub", "")),
                       ("/sub/", ("/sub", "/")),
                       ("/sub/a/b/", ("/sub", "/a/b/")),
                       ("/sub/a?x=/y", ("/sub", "/a"))]:
        env = environ_of(server, url)
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == split, url


def test_script_name_path_info_split_at_root(server):
    # Mounted at /: SCRIPT_NAME is empty and PATH_INFO keeps the slash.
    for url, split in [("/", ("", "/")),
                       ("/deep/er", ("", "/deep/er")),
                       ("/subway", ("", "/subway"))]:
        env = environ_of(server, url)
        assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == split, url


def test_path_info_is_decoded_latin1(server):
    env = environ_of(server, "/sub/a%20b/caf%C3%A9/%E9/%3F%25")
    # PEP 3333: bytes decoded as latin-1, one character per byte.
    assert env["PATH_INFO"] == "/a b/caf\u00c3\u00a9/\u00e9/?%"
    assert env["REQUEST_URI"] == "/sub/a%20b/caf%C3%A9/%E9/%3F%25"
    assert env["PATH_INFO"].encode("latin-1") == b"/a b/caf\xc3\xa9/\xe9/?%"


def test_request_header_values_are_latin1(server):
    env = environ_of(server, "/sub", headers={"X-Bytes": b"caf\xc3\xa9\xff"})
    assert env["HTTP_X_BYTES"] == "caf\u00c3\u00a9\u00ff"


def test_repeated_headers_are_joined(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", "/sub")
    conn.putheader("X-Multi", "a")
    conn.putheader("X-Multi", "b")
    conn.endheaders()
    env = json.loads(conn.getresponse().read())
    conn.close()
    assert env["HTTP_X_MULTI"] in ("a, b", "a,b")


def test_header_with_underscore_is_dropped(server):
    env = environ_of(server, "/sub", headers={"X_Spoof": "evil", "X-Spoof2": "ok",
                                              "X-Real-Header": "good"})
    assert env["HTTP_X_REAL_HEADER"] == "good"
    assert env["HTTP_X_SPOOF2"] == "ok"
    assert "HTTP_X_SPOOF" not in env


def test_underscore_header_cannot_override_real_one(server):
    raw = server.raw(b"GET /sub HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\n"
                     b"X-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n")
    assert b"6.6.6.6" not in raw
    assert b"1.2.3.4" in raw


CREDENTIALS = {"Authorization": "Basic dXNlcjpwdw==",
               "Proxy-Authorization": "Basic cHJveHk6cHc=",
               "Proxy": "http://evil.example:3128"}


def test_credentials_hidden_by_default(server):
    env = environ_of(server, "/sub", headers=CREDENTIALS)
    assert "HTTP_AUTHORIZATION" not in env
    assert "HTTP_PROXY_AUTHORIZATION" not in env
    assert "HTTP_PROXY" not in env


def test_pass_authorization_option(server):
    env = environ_of(server, "/auth", headers=CREDENTIALS)
    assert env["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwdw=="
    # Never, whatever the configuration.
    assert "HTTP_PROXY_AUTHORIZATION" not in env
    assert "HTTP_PROXY" not in env


def test_pass_authorization_directive_in_location(server):
    env = environ_of(server, "/dgroup", headers=CREDENTIALS)
    assert env["HTTP_AUTHORIZATION"] == "Basic dXNlcjpwdw=="
    assert "HTTP_PROXY_AUTHORIZATION" not in env
    assert "HTTP_PROXY" not in env


def test_content_type_and_length(server):
    r = server.post("/sub", data=b"abc", headers={"Content-Type": "application/x-test"})
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/x-test"
    assert env["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_pass_apache_request(server):
    env = environ_of(server, "/dgroup")
    assert env["apache.request_rec"] == "<PyCapsule>"
    assert "apache.request_rec" not in environ_of(server, "/sub")
