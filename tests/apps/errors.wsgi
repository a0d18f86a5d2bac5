"""Exceptions at every point of a request."""


class RaisesInNext:
    def __init__(self, good):
        self.good = good

    def __iter__(self):
        return self

    def __next__(self):
        if self.good:
            return self.good.pop(0)
        raise RuntimeError("raised in __next__ on purpose")


def application(environ, start_response):
    path = environ["PATH_INFO"]

    if path == "/before-start":
        raise ValueError("raised before start_response on purpose")

    if path == "/after-start":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Should-Not-Appear", "1")])
        raise ValueError("raised after start_response on purpose")

    if path == "/first-next":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return RaisesInNext([])

    if path == "/midway":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first part\n"
            raise RuntimeError("failed after the response started")
        return gen()

    if path == "/midway-cl":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", "100")])
        return RaisesInNext([b"x" * 10])

    if path == "/after-write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written\n")
        raise RuntimeError("raised after write() on purpose")

    if path == "/str-midway":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"bytes first\n", "then a str"]

    if path == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such error test"]
