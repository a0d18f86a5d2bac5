"""wsgi.file_wrapper: real files (from the current offset, honouring
Content-Length, with and without sendfile) and other file-likes."""

import os

import pytest

from common import DATA, environ_of, read_lines_when_present, unique


@pytest.fixture(params=["/fw", "/sendfile", "/dfw", "/dsendfile"],
                ids=["plain", "sendfile", "daemon", "daemon-sendfile"])
def prefix(request):
    return request.param


def test_whole_file(server, prefix):
    r = server.get(prefix + "/file")
    assert r.status_code == 200
    assert r.content == DATA
    assert int(r.headers["Content-Length"]) == len(DATA)


def test_from_current_offset(server, prefix):
    for offset in (1, 777, 4096, len(DATA) - 1):
        r = server.get(prefix + "/file?offset=%d" % offset)
        assert r.content == DATA[offset:], offset


def test_honours_content_length(server, prefix):
    r = server.get(prefix + "/file?cl=300")
    assert r.headers["Content-Length"] == "300"
    assert r.content == DATA[:300]
    r = server.get(prefix + "/file-offset-cl")
    assert r.content == DATA[1000:1500]


def test_head_sends_no_body(server, prefix):
    raw = server.raw(("HEAD %s/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % prefix).encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b""


def test_sendfile_flag_in_environ(server):
    assert environ_of(server, "/sendfile-env")["mod_wsgi.enable_sendfile"] == "1"


def test_bytesio(server):
    r = server.get("/fw/filelike")
    assert r.content == bytes(range(256)) * 100


def test_object_with_only_read(server):
    r = server.get("/fw/readonly")
    assert r.status_code == 200
    assert r.content == b"abcdefghij" * 500


def test_wrapper_is_iterable_with_close(server):
    r = server.get("/fw/wrapper-type")
    assert r.text.split()[1] == "__iter__,close"


def test_real_file_closed_after_response(server, prefix):
    tag = unique("real")
    r = server.get(prefix + "/file-closed?tag=" + tag)
    assert r.content == DATA
    assert read_lines_when_present(os.path.join(server.state, "fwclose-" + tag)) == ["closed"]


def test_filelike_closed_after_response(server):
    tag = unique("bytesio")
    r = server.get("/fw/filelike-closed?tag=" + tag)
    assert r.content == b"0123456789" * 1000
    assert read_lines_when_present(os.path.join(server.state, "fwclose-" + tag)) == ["closed"]


def test_unset_sendfile_follows_apaches_enable_sendfile(make_server):
    """WSGIEnableSendfile left unset follows Apache's EnableSendfile for
    the location (Apache's default Off keeps it off, as upstream);
    WSGIEnableSendfile Off still wins over EnableSendfile On. Both modes,
    as the environ says and the file still arrives whole."""
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
SetEnv TEST_STATE_DIR "@STATE@"
WSGIDaemonProcess sf processes=1 threads=2
WSGIScriptAlias /on "@APPS@/environ.wsgi"
WSGIScriptAlias /don "@APPS@/environ.wsgi" process-group=sf
WSGIScriptAlias /off "@APPS@/environ.wsgi"
WSGIScriptAlias /forced "@APPS@/environ.wsgi"
WSGIScriptAlias /fw "@APPS@/filewrapper.wsgi"
<Location /on>
    EnableSendfile On
</Location>
<Location /don>
    EnableSendfile On
</Location>
<Location /fw>
    EnableSendfile On
</Location>
<Location /forced>
    EnableSendfile On
    WSGIEnableSendfile Off
</Location>
<Directory "@APPS@">
    Require all granted
</Directory>
""")
    flags = {p: environ_of(srv, p)["mod_wsgi.enable_sendfile"]
             for p in ("/on", "/don", "/off", "/forced")}
    assert flags == {"/on": "1", "/don": "1", "/off": "0", "/forced": "0"}
    r = srv.get("/fw/file")
    assert r.status_code == 200 and r.content == DATA
