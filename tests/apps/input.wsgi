"""wsgi.input, read in the way the query string asks."""

import hashlib


def application(environ, start_response):
    path = environ["PATH_INFO"]
    mode = environ["QUERY_STRING"]
    inp = environ["wsgi.input"]

    if path == "/noread":
        # Never touches the body: Apache must not have read it for us
        # (no "100 Continue" is sent, nothing is buffered).
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not read"]

    if path == "/echo":
        data = inp.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [data]

    if path == "/sha256":
        # Reads in bounded blocks; also how a streamed body is consumed.
        size = int(mode or "65536")
        h = hashlib.sha256()
        n = reads = 0
        while True:
            b = inp.read(size)
            if not b:
                break
            assert len(b) <= size, (len(b), size)
            h.update(b)
            n += len(b)
            reads += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%d %s" % (n, h.hexdigest())).encode()]

    if path == "/sha256-iter":
        h = hashlib.sha256()
        n = 0
        for line in inp:
            h.update(line)
            n += len(line)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%d %s" % (n, h.hexdigest())).encode()]

    if path == "/read":
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
        elif mode == "readline-negative":
            out = repr([inp.readline(-1)]).encode()
        elif mode == "readlines":
            out = repr(inp.readlines()).encode()
        elif mode == "readlines-hint":
            out = repr(inp.readlines(2)).encode()
        elif mode == "iter":
            out = repr(list(inp)).encode()
        elif mode == "read-zero":
            out = repr([inp.read(0), inp.read(4), inp.read(0)]).encode()
        elif mode == "read-negative":
            out = repr([inp.read(-1)]).encode()
        elif mode == "after-end":
            first = inp.read()
            out = repr([first, inp.read(), inp.read(5), inp.readline(),
                        inp.readlines(), list(inp)]).encode()
        elif mode == "mixed":
            out = repr([inp.read(2), inp.readline(), inp.read(3),
                        inp.readlines()]).encode()
        else:
            out = b"unknown mode"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [out]

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such input test"]
