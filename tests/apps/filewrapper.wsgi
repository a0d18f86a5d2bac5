"""wsgi.file_wrapper with real files and with other file-likes."""

import io
import os


def _state(environ, name):
    return os.path.join(environ["TEST_STATE_DIR"], name)


class RecordingBytesIO(io.BytesIO):
    """A file-like whose close() is recorded in a state file."""

    def __init__(self, data, marker):
        super().__init__(data)
        self.marker = marker

    def close(self):
        if not self.closed:
            with open(self.marker, "a") as f:
                f.write("closed\n")
        super().close()


class RecordingFile(io.BufferedReader):
    """A real file whose close() is recorded in a state file."""

    def __init__(self, raw, marker):
        super().__init__(raw)
        self.marker = marker

    def close(self):
        if not self.closed:
            with open(self.marker, "a") as f:
                f.write("closed\n")
        super().close()


class ReadOnly:
    """Only read(): no fileno, no close, no seek."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.sizes = []

    def read(self, n=-1):
        self.sizes.append(n)
        if n is None or n < 0:
            n = len(self.data) - self.pos
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def application(environ, start_response):
    path = environ["PATH_INFO"]
    qs = environ["QUERY_STRING"]
    params = dict(p.split("=", 1) for p in qs.split("&") if "=" in p)
    wrapper = environ["wsgi.file_wrapper"]

    if path == "/file":
        f = open(_state(environ, "data.bin"), "rb")
        if "offset" in params:
            f.seek(int(params["offset"]))
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in params:
            headers.append(("Content-Length", params["cl"]))
        start_response("200 OK", headers)
        return wrapper(f, 4096)

    if path == "/file-offset-cl":
        f = open(_state(environ, "data.bin"), "rb")
        f.seek(1000)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", "500")])
        return wrapper(f)

    if path == "/file-closed":
        # A real file (it has a fileno) whose close() is recorded: the
        # wrapper's close() must close the file it wraps.
        f = RecordingFile(io.FileIO(_state(environ, "data.bin")),
                          _state(environ, "fwclose-" + params["tag"]))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(f, 8192)

    if path == "/filelike":
        data = bytes(range(256)) * 100
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(io.BytesIO(data), 1000)

    if path == "/filelike-closed":
        data = b"0123456789" * 1000
        f = RecordingBytesIO(data, _state(environ, "fwclose-" + params["tag"]))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(f, 777)

    if path == "/readonly":
        obj = ReadOnly(b"abcdefghij" * 500)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(obj, 1234)

    if path == "/wrapper-type":
        w = wrapper(io.BytesIO(b"xyz"), 10)
        names = sorted(n for n in ("close", "__iter__") if hasattr(w, n))
        body = ("%s %s" % (type(w).__name__, ",".join(names))).encode()
        w.close()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such file_wrapper test"]
