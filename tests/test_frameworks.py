"""Real frameworks from PyPI, installed in the venv used as WSGIPythonHome."""

import hashlib
import os

import pytest


@pytest.mark.parametrize("name", ["flask", "django"])
@pytest.mark.allow_log("ERROR in app: Exception on /boom", "Internal Server Error: /django/boom", "Not Found: /django/missing")
def test_framework(server, name):
    base = "/" + name
    r = server.get(base + "/")
    assert r.status_code == 200
    assert r.text == "%s index" % name
    assert server.post(base + "/form", data={"name": "zoë"}).text == "name=zoë"
    payload = os.urandom(300000)
    r = server.post(base + "/upload", files={"file": ("x.bin", payload)})
    assert r.text == "x.bin %d %s" % (len(payload), hashlib.sha256(payload).hexdigest())
    r = server.get(base + "/stream")
    assert r.text == "chunk 0\nchunk 1\nchunk 2\n"
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert server.get(base + "/missing").status_code == 404
    mark = server.log_mark()
    r = server.get(base + "/boom")
    assert r.status_code == 500
    message = "%s view failed on purpose" % name
    assert message not in r.text
    assert message in server.wait_log(message, mark=mark)
