"""Process-wide behaviour: atexit, pids, signals, restricted streams."""

import atexit
import os
import signal
import sys
# Many real applications (Flask among them) import threading; in the main
# interpreter that must not stop the process from exiting promptly.
import threading  # noqa: F401


def _state(environ, name):
    return os.path.join(environ["TEST_STATE_DIR"], name)


def application(environ, start_response):
    path = environ["PATH_INFO"]

    if path == "/atexit":
        marker = _state(environ, "atexit-%d" % os.getpid())

        def bye(marker=marker):
            with open(marker, "w") as f:
                f.write("ran")
        atexit.register(bye)
        body = str(os.getpid())
    elif path == "/segv":
        # A crash of the child while it serves: what the harness must
        # never mistake for Apache's own stop race.
        import ctypes
        ctypes.string_at(0)     # a NULL read: SIGSEGV in this thread
        body = "still here"
    elif path == "/pid":
        body = str(os.getpid())
    elif path == "/signal":
        before = signal.getsignal(signal.SIGUSR2)
        try:
            signal.signal(signal.SIGUSR2, lambda *a: None)
        except ValueError:
            # Python's own rule: only the main thread of the main
            # interpreter may set handlers.
            body = "error:ValueError"
        else:
            after = signal.getsignal(signal.SIGUSR2)
            body = "unchanged" if before == after else "changed"
    elif path == "/stdout-write":
        try:
            sys.stdout.write("stdout write from process.wsgi\n")
            body = "allowed"
        except OSError as e:
            body = "restricted: " + str(e)
    elif path == "/stdin-read":
        try:
            sys.stdin.read()
            body = "allowed"
        except OSError as e:
            body = "restricted: " + str(e)
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such process test"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
