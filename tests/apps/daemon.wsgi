"""Daemon-mode test application: PATH_INFO picks the behaviour."""

import hashlib
import json
import os
import sys
import time
from urllib.parse import unquote

import mod_wsgi


class Slow:
    """Sleeps when it is destroyed: a request whose teardown takes time."""

    def __init__(self, delay):
        self.delay = delay

    def __del__(self):
        time.sleep(self.delay)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    qs = environ["QUERY_STRING"]
    if path == "/environ":
        env = {}
        for k, v in environ.items():
            if isinstance(v, (str, int, float, bool)) or v is None:
                env[k] = v
            elif isinstance(v, tuple):
                env[k] = list(v)
            else:
                env[k] = "<%s>" % type(v).__name__
        env["interp.pid"] = os.getpid()
        env["interp.uid"] = os.getuid()
        env["interp.gid"] = os.getgid()
        env["interp.groups"] = sorted(os.getgroups())
        env["interp.sys_prefix"] = sys.prefix
        env["interp.process_group"] = mod_wsgi.process_group
        env["interp.application_group"] = mod_wsgi.application_group
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(env).encode()]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
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
    if path == "/sha256":
        h = hashlib.sha256()
        n = 0
        while True:
            block = environ["wsgi.input"].read(65536)
            if not block:
                break
            h.update(block)
            n += len(block)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%d %s" % (n, h.hexdigest())).encode()]
    if path == "/blocks":
        # A list of n blocks of size bytes each, block i filled with
        # byte i; "slow" adds a teardown of 1.5 s after the response.
        n, size = (int(x) for x in qs.split(",")[:2])
        if qs.endswith(",slow"):
            environ["test.slow"] = Slow(1.5)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [bytes([i % 256]) * size for i in range(n)]
    if path == "/first-piece":
        # When the first line of the body reached the application, and
        # how much followed it.
        first = environ["wsgi.input"].readline()
        seen = time.time()
        rest = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%.3f %d %d" % (seen, len(first), len(rest))).encode()]
    if path == "/answer-first":
        # Responds before reading its input, then reads it all.
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"x" * 300000)
        data = environ["wsgi.input"].read()
        return [("\n%d" % len(data)).encode()]
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
    if path == "/raise":
        raise ValueError("raised on purpose in a daemon")
    if path == "/big-headers":
        start_response("200 OK", [("X-Big", "x" * int(qs))])
        return [b"big"]
    if path == "/limits":
        import resource
        lim = {name: resource.getrlimit(getattr(resource, name))[0]
               for name in ("RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_AS")}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(lim).encode()]
    if path == "/stack":
        # The stack size of the thread serving this request, from its
        # pthread attributes.
        import ctypes
        libc = ctypes.CDLL(None)
        libc.pthread_self.restype = ctypes.c_ulong
        attr = ctypes.create_string_buffer(256)
        size = ctypes.c_size_t(0)
        if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()),
                                   attr) == 0:
            libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
            libc.pthread_attr_destroy(attr)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % size.value]
    if path == "/wrapfile":
        f = open(qs, "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/hold-gil":
        # A C call that blocks without releasing the GIL (PyDLL keeps it).
        import ctypes
        ctypes.PyDLL(None).sleep(int(qs))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"woke up"]
    if path == "/die":
        # The process dies in the middle of a request, before any answer.
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
    if path == "/die-midway":
        # The process dies after the first block of the body went out.
        def gen():
            yield b"first block\n"
            time.sleep(0.5)
            os._exit(3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/marked-sleep":
        # qs: <seconds>:<file>; the file is written once the request is
        # in the application, before the sleep.
        secs, _, marker = qs.partition(":")
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(float(secs))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if path == "/sleep":
        time.sleep(float(qs))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path"]
