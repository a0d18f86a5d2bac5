"""start_response, write() and the response iterable: PATH_INFO picks the
case, the query string its parameter."""

import gc
import os
import sys
import threading
import time
from urllib.parse import unquote

LEAKED = {}


def _state(environ, name):
    return os.path.join(environ["TEST_STATE_DIR"], name)


class Slow:
    """Sleeps when it is destroyed: stands for a request whose teardown
    takes time."""

    def __init__(self, delay, done=None):
        self.delay = delay
        self.done = done

    def __del__(self):
        time.sleep(self.delay)
        if self.done:
            with open(self.done, "w") as f:
                f.write("torn down\n")


class Closing:
    """A response iterable that appends a line to a state file each time
    its close() is called."""

    def __init__(self, environ, tag, chunks, fail_at=None, delay=0.0,
                 close_raises=False):
        self.path = _state(environ, "close-" + tag)
        self.chunks = chunks
        self.fail_at = fail_at
        self.delay = delay
        self.close_raises = close_raises

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
        if self.close_raises:
            raise RuntimeError("close failing on purpose")


BAD = {
    "str-body": lambda sr: (sr("200 OK", [("Content-Type", "text/plain")]), ["not bytes"])[1],
    "bytes-status": lambda sr: (sr(b"200 OK", []), [b"x"])[1],
    "no-space": lambda sr: (sr("200OK", []), [b"x"])[1],
    "letters-status": lambda sr: (sr("2OO OK", []), [b"x"])[1],
    "status-crlf": lambda sr: (sr("200 OK\r\nX-Evil: 1", []), [b"x"])[1],
    "header-crlf": lambda sr: (sr("200 OK", [("X-Evil", "a\r\nSet-Cookie: b=c")]), [b"x"])[1],
    "header-lf-name": lambda sr: (sr("200 OK", [("X-Evil\n", "a")]), [b"x"])[1],
    "header-colon-name": lambda sr: (sr("200 OK", [("X-Evil: b", "a")]), [b"x"])[1],
    "header-space-name": lambda sr: (sr("200 OK", [("X Evil", "a")]), [b"x"])[1],
    "header-empty-name": lambda sr: (sr("200 OK", [("", "a")]), [b"x"])[1],
    "header-not-latin1": lambda sr: (sr("200 OK", [("X-Snow", "\u2603")]), [b"x"])[1],
    "header-name-not-latin1": lambda sr: (sr("200 OK", [("X-\u2603", "a")]), [b"x"])[1],
    "header-nul": lambda sr: (sr("200 OK", [("X-Evil", "a\x00Set-Cookie: b=c")]), [b"x"])[1],
    "header-bytes": lambda sr: (sr("200 OK", [(b"X-A", b"b")]), [b"x"])[1],
    "header-int-value": lambda sr: (sr("200 OK", [("X-A", 1)]), [b"x"])[1],
    "headers-tuple": lambda sr: (sr("200 OK", (("X-A", "b"),)), [b"x"])[1],
    "headers-dict": lambda sr: (sr("200 OK", {"X-A": "b"}), [b"x"])[1],
    "header-triple": lambda sr: (sr("200 OK", [("X-A", "b", "c")]), [b"x"])[1],
    "header-single": lambda sr: (sr("200 OK", [("X-A",)]), [b"x"])[1],
    "no-start-response": lambda sr: [b"x"],
    "bad-content-length": lambda sr: (sr("200 OK", [("Content-Length", "12x")]), [b"x"])[1],
    "negative-content-length": lambda sr: (sr("200 OK", [("Content-Length", "-1")]), [b"x"])[1],
    "not-iterable": lambda sr: (sr("200 OK", []), 42)[1],
    "none-result": lambda sr: (sr("200 OK", []), None)[1],
    "write-str": lambda sr: (sr("200 OK", [])(u"text"), [b"x"])[1],
}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    qs = environ["QUERY_STRING"]

    def ok(ctype="text/plain"):
        return start_response("200 OK", [("Content-Type", ctype)])

    if path == "/status":
        start_response(unquote(qs), [("Content-Type", "text/plain")])
        return [b"body"]

    if path == "/bad":
        return BAD[qs](start_response)

    if path == "/header-byte":
        # where=name|value|reason, byte=<decimal>: one control byte put in
        # the named place.
        params = dict(p.split("=", 1) for p in qs.split("&"))
        ch = chr(int(params["byte"]))
        where = params["where"]
        if where == "name":
            start_response("200 OK", [("X-A%sB" % ch, "v")])
        elif where == "value":
            start_response("200 OK", [("X-Probe", "a%sb" % ch)])
        else:
            start_response("200 O%sK" % ch, [])
        return [b"sent"]

    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-First", "yes")])
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

    if path == "/exc_info-after-yield":
        # Headers are sent with the first non-empty block; exc_info after
        # that must re-raise, inside the generator.
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first\n"
            try:
                raise KeyError("late")
            except KeyError:
                try:
                    start_response("500 Error", [], sys.exc_info())
                except KeyError:
                    yield b"re-raised\n"
                    return
            yield b"not re-raised\n"
        return gen()

    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one,")
        write(b"two,")
        return [b"three"]

    if path == "/write-only":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(3):
            write(b"w%d;" % i)
        return []

    if path == "/too-long":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "5")])
        return [b"123", b"45", b"6789", b"more"]

    if path == "/too-short":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "50")])
        return [b"only ten b"]

    if path == "/method":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Method", environ["REQUEST_METHOD"])])
        return [b"method body " * 100]

    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        # With a directory in the query string, block i+1 is made only
        # once the client says (a file i there) that block i reached it:
        # a server holding blocks back stalls this, never passes it.
        acks = unquote(environ.get("QUERY_STRING", ""))

        def gen():
            for i in range(4):
                yield ("%d %.3f\n" % (i, time.time())).encode()
                if not acks:
                    time.sleep(0.5)
                    continue
                deadline = time.time() + 10
                while not os.path.exists(os.path.join(acks, str(i))):
                    if time.time() > deadline:
                        yield b"no ack: block %d never reached the client\n" % i
                        return
                    time.sleep(0.01)
        return gen()

    if path == "/empty-first":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"", b"", b"after empties", b""])

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

    if path == "/close":
        # qs: <kind>-<unique tag>
        kind = qs.split("-", 1)[0]
        ok()
        if kind == "fail":
            return Closing(environ, qs, [b"a", b"b"], fail_at=0)
        if kind == "midway":
            return Closing(environ, qs, [b"a" * 100, b"b"], fail_at=1)
        if kind == "slow":
            return Closing(environ, qs, [b"x" * 65536] * 200, delay=0.05)
        if kind == "raises":
            return Closing(environ, qs, [b"a", b"b"], close_raises=True)
        return Closing(environ, qs, [b"a", b"b"])

    if path == "/close-before-start":
        # close() also when start_response was never called.
        return Closing(environ, qs, [b"a"], fail_at=0)

    if path == "/dynamic-ctype":
        # CVE-2014-0242: the Content-Type string is built at run time and
        # dropped before the body is produced, while another thread churns
        # memory.  The header sent must still be exactly the one given.
        n = int(qs)
        ctype = "text/x-" + "".join(chr(ord("a") + (n + i) % 26) for i in range(40))
        start_response("200 OK", [("Content-Type", ctype), ("X-Expect", ctype)])
        del ctype

        def churn():
            junk = []
            for i in range(2000):
                junk.append("y" * (40 + i % 7))
            del junk
        t = threading.Thread(target=churn)
        t.start()
        gc.collect()
        t.join()
        return [b"body %d" % n]

    if path == "/slow-teardown":
        # Torn down with the environ, after the response: which must not
        # wait for it.
        # qs: <seconds>[-<tag>]; the tag names a file written at the end.
        delay, _, tag = qs.partition("-")
        environ["test.slow"] = Slow(float(delay or "1"),
                                    _state(environ, "slow-" + tag)
                                    if tag else None)
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "4")])
        return [b"fast"]

    if path == "/leak":
        # References that outlive the request.
        LEAKED["input"] = environ["wsgi.input"]
        LEAKED["errors"] = environ["wsgi.errors"]
        LEAKED["start_response"] = start_response
        LEAKED["write"] = ok()
        return [b"kept"]

    if path == "/use-leaked":
        results = []
        for name, call in (("input", lambda: LEAKED["input"].read()),
                           ("start_response", lambda: LEAKED["start_response"]("200 OK", [])),
                           ("write", lambda: LEAKED["write"](b"late")),
                           ("errors", lambda: LEAKED["errors"].write("late write\n"))):
            try:
                call()
                results.append("%s:ok" % name)
            except Exception as e:
                results.append("%s:%s" % (name, type(e).__name__))
        ok()
        return [" ".join(results).encode()]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such output test"]
