"""The test application: PATH_INFO picks the behaviour under test."""

import io
import json
import logging
import os
import sys
import threading
import time

import mod_wsgi

COUNTER = {"n": 0}
LOCK = threading.Lock()


def _state(environ, name):
    return os.path.join(environ["TEST_STATE_DIR"], name)


def _jsonable(environ):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = "<%s>" % type(v).__name__
    return out


class Closing:
    """A response iterable that records how often close() is called."""

    def __init__(self, environ, chunks, fail_at=None, delay=0.0):
        self.path = _state(environ, "close-" + environ["QUERY_STRING"])
        self.chunks = chunks
        self.fail_at = fail_at
        self.delay = delay

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("failing on purpose at chunk %d" % i)
            if self.delay:
                time.sleep(self.delay)
            yield chunk

    def close(self):
        with open(self.path, "a") as f:
            f.write("closed\n")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    qs = environ["QUERY_STRING"]
    ok = lambda ctype="text/plain": start_response(
        "200 OK", [("Content-Type", ctype)])

    if path in ("", "/", "/environ") or path.startswith("/environ/"):
        ok("application/json")
        env = _jsonable(environ)
        env["interp.application_group"] = mod_wsgi.application_group
        env["interp.sys_prefix"] = sys.prefix
        env["interp.version"] = "%d.%d" % sys.version_info[:2]
        env["interp.optimize"] = sys.flags.optimize
        env["interp.dont_write_bytecode"] = sys.dont_write_bytecode
        env["interp.hash_abc"] = hash("abc")
        env["interp.warnoptions"] = list(sys.warnoptions)
        env["interp.sys_path"] = list(sys.path)
        env["interp.pid"] = os.getpid()
        return [json.dumps(env).encode()]

    if path == "/method":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Method", environ["REQUEST_METHOD"])])
        return [b"method body " * 100]

    if path == "/counter":
        with LOCK:
            COUNTER["n"] += 1
            n = COUNTER["n"]
        ok()
        return [("%d|%s|%d" % (n, mod_wsgi.application_group, id(COUNTER))).encode()]

    if path == "/echo":
        data = environ["wsgi.input"].read()
        ok("application/octet-stream")
        return [data]

    if path == "/read":
        inp = environ["wsgi.input"]
        mode = qs
        if mode == "sized":
            parts = []
            while True:
                b = inp.read(1000)
                if not b:
                    break
                parts.append(b)
            parts.append(inp.read(10))      # b'' again at the end
            out = repr([len(p) for p in parts]).encode() + b"\n" + b"".join(parts)
        elif mode == "readline":
            lines = []
            while True:
                line = inp.readline()
                if not line:
                    break
                lines.append(line)
            out = repr(lines).encode()
        elif mode == "readline-limit":
            out = repr([inp.readline(3), inp.readline(100)]).encode()
        elif mode == "readlines":
            out = repr(inp.readlines()).encode()
        elif mode == "readlines-hint":
            out = repr(inp.readlines(2)).encode()
        elif mode == "iter":
            out = repr(list(inp)).encode()
        elif mode == "after-end":
            first = inp.read()
            out = repr([first, inp.read(), inp.read(5), inp.readline()]).encode()
        else:
            out = b"?"
        ok()
        return [out]

    if path == "/sha256":
        import hashlib
        h = hashlib.sha256()
        n = 0
        inp = environ["wsgi.input"]
        while True:
            b = inp.read(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        ok()
        return [("%d %s" % (n, h.hexdigest())).encode()]

    if path == "/download":
        size = int(qs)
        block = bytes(range(256)) * 256
        def gen():
            left = size
            while left > 0:
                b = block[:min(left, len(block))]
                left -= len(b)
                yield b
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        return gen()

    if path == "/status":
        start_response(qs.replace("%20", " "), [("Content-Type", "text/plain")])
        return [b"body"]

    if path == "/bad":
        if qs == "str-body":
            ok()
            return ["not bytes"]
        if qs == "bytes-status":
            start_response(b"200 OK", [])
            return [b"x"]
        if qs == "no-space":
            start_response("200OK", [])
            return [b"x"]
        if qs == "status-crlf":
            start_response("200 OK\r\nX-Evil: 1", [])
            return [b"x"]
        if qs == "header-crlf":
            start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: b=c")])
            return [b"x"]
        if qs == "header-lf-name":
            start_response("200 OK", [("X-Evil\n", "a")])
            return [b"x"]
        if qs == "header-empty-name":
            start_response("200 OK", [("", "a")])
            return [b"x"]
        if qs == "header-not-latin1":
            start_response("200 OK", [("X-Snow", "\u2603")])
            return [b"x"]
        if qs == "header-bytes":
            start_response("200 OK", [(b"X-A", b"b")])
            return [b"x"]
        if qs == "headers-tuple":
            start_response("200 OK", (("X-A", "b"),))
            return [b"x"]
        if qs == "header-triple":
            start_response("200 OK", [("X-A", "b", "c")])
            return [b"x"]
        if qs == "raise":
            raise ValueError("raised on purpose")
        if qs == "no-start-response":
            return [b"x"]
        if qs == "second-start-response":
            ok()
            ok()
            return [b"x"]
        if qs == "bad-content-length":
            start_response("200 OK", [("Content-Length", "12x")])
            return [b"x"]
        return [b"?"]

    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("oops")
        except KeyError:
            start_response("503 Busy", [("Content-Type", "text/plain"),
                                        ("X-Replaced", "yes")], sys.exc_info())
        return [b"replaced"]

    if path == "/exc_info-after-send":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"sent already\n")
        try:
            raise KeyError("late")
        except KeyError:
            try:
                start_response("500 Error", [], sys.exc_info())
            except KeyError:
                return [b"re-raised\n"]
        return [b"not re-raised\n"]

    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one,")
        write(b"two,")
        return [b"three"]

    if path == "/close":
        ok()
        if qs.startswith("fail"):
            return Closing(environ, [b"a", b"b"], fail_at=0)
        if qs.startswith("midway"):
            return Closing(environ, [b"a" * 100, b"b"], fail_at=1)
        if qs.startswith("slow"):
            return Closing(environ, [b"x" * 65536] * 200, delay=0.05)
        return Closing(environ, [b"a", b"b"])

    if path == "/midway":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            yield b"first part\n"
            raise RuntimeError("failed after the response started")
        return gen()

    if path == "/midway-cl":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "100")])
        def gen():
            yield b"x" * 10
            raise RuntimeError("failed after the response started")
        return gen()

    if path == "/too-long":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "5")])
        return [b"12345", b"6789"]

    if path == "/too-short":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "50")])
        return [b"only ten b"]

    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def gen():
            for i in range(4):
                yield ("%d %.3f\n" % (i, time.time())).encode()
                time.sleep(0.5)
        return gen()

    if path == "/empty-first":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"", b"", b"after empties"])

    if path == "/file":
        f = open(_state(environ, "data.bin"), "rb")
        if qs.startswith("offset"):
            f.seek(int(qs[len("offset="):] or 0))
        headers = [("Content-Type", "application/octet-stream")]
        if "cl=" in qs:
            headers.append(("Content-Length", qs.split("cl=")[1]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 4096)

    if path == "/file-offset-cl":
        f = open(_state(environ, "data.bin"), "rb")
        f.seek(1000)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", "500")])
        return environ["wsgi.file_wrapper"](f)

    if path == "/filelike":
        data = bytes(range(256)) * 100
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 1000)

    if path == "/log":
        tag = qs
        environ["wsgi.errors"].write("wsgi.errors line %s\n" % tag)
        print("stdout line %s" % tag)
        print("stderr line %s" % tag, file=sys.stderr)
        logging.getLogger("testapp").warning("logging line %s", tag)
        ok()
        return [b"logged"]

    if path == "/leak":
        # Keep references that outlive the request.
        LEAKED["input"] = environ["wsgi.input"]
        LEAKED["errors"] = environ["wsgi.errors"]
        LEAKED["start_response"] = start_response
        ok()
        return [b"kept"]

    if path == "/use-leaked":
        results = []
        for name, call in (("input", lambda: LEAKED["input"].read()),
                           ("start_response", lambda: LEAKED["start_response"]("200 OK", [])),
                           ("errors", lambda: LEAKED["errors"].write("late write\n"))):
            try:
                call()
                results.append("%s:ok" % name)
            except Exception as e:
                results.append("%s:%s" % (name, type(e).__name__))
        ok()
        return [" ".join(results).encode()]

    if path == "/signal":
        import signal
        before = signal.getsignal(signal.SIGUSR2)
        try:
            signal.signal(signal.SIGUSR2, lambda *a: None)
        except ValueError as e:
            # Python's own rule: only the main thread of the main
            # interpreter may set handlers.
            ok()
            return [b"error:ValueError"]
        after = signal.getsignal(signal.SIGUSR2)
        ok()
        return [("unchanged" if before == after else "changed").encode()]

    if path == "/stdout-write":
        try:
            sys.stdout.write("x\n")
            res = b"allowed"
        except OSError as e:
            res = b"restricted: " + str(e).encode()
        ok()
        return [res]

    if path == "/stdin-read":
        try:
            sys.stdin.read()
            res = b"allowed"
        except OSError as e:
            res = b"restricted: " + str(e).encode()
        ok()
        return [res]

    if path == "/atexit":
        import atexit
        marker = _state(environ, "atexit-%d" % os.getpid())
        def _bye(marker=marker):
            with open(marker, "w") as f:
                f.write("ran")
        atexit.register(_bye)
        ok()
        return [str(os.getpid()).encode()]

    if path == "/pid":
        ok()
        return [str(os.getpid()).encode()]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such test path"]


LEAKED = {}
