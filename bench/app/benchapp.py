"""The one WSGI application every contender runs.

The last segment of the URL path picks the workload, so the same file works
under WSGIScriptAlias /app (PATH_INFO=/hello) and under gunicorn
(PATH_INFO=/app/hello).  Only the standard library is used: Debian's
mod_wsgi runs it with the system Python, ours and gunicorn from a venv.
"""

import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_FILE = os.path.join(HERE, "data", "1m.bin")

HELLO = b"Hello world!"             # 12 bytes
BODY_64K = b"x" * 65536


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "12")])
    return [HELLO]


def _body64k(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", "65536")])
    return [BODY_64K]


def _file(environ, start_response):
    f = open(DATA_FILE, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:
        return iter(lambda: f.read(65536), b"")
    return wrapper(f, 65536)


def _echo(environ, start_response):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    chunks = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    body = b"".join(chunks)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _sleep(environ, start_response):
    time.sleep(0.05)
    return _hello(environ, start_response)


def _blocks(environ, start_response):
    # No Content-Length: what a streaming or templating app sends, each
    # block handed to the server as it is made.
    start_response("200 OK", [("Content-Type", "text/plain")])
    block = b"0123456789"
    return (block for _ in range(10000))


ROUTES = {
    "hello": _hello,
    "64k": _body64k,
    "file": _file,
    "echo": _echo,
    "sleep": _sleep,
    "blocks": _blocks,
}


def application(environ, start_response):
    name = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    handler = ROUTES.get(name)
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", "9")])
        return [b"not found"]
    return handler(environ, start_response)
