"""Which interpreter runs me, and what state it holds."""

import sys
import threading

import mod_wsgi

COUNTER = {"n": 0}
LOCK = threading.Lock()
MARKER_MODULE = "_mod_wsgi_test_marker"


def application(environ, start_response):
    path = environ["PATH_INFO"]
    qs = environ["QUERY_STRING"]
    if path == "/counter":
        with LOCK:
            COUNTER["n"] += 1
            n = COUNTER["n"]
        body = "%d|%s|%d" % (n, mod_wsgi.application_group, id(COUNTER))
    elif path == "/set-marker":
        # A module put in sys.modules is visible to every script that runs
        # in the same interpreter, and to no other.
        import types
        m = types.ModuleType(MARKER_MODULE)
        m.value = qs
        sys.modules[MARKER_MODULE] = m
        body = "set"
    elif path == "/get-marker":
        m = sys.modules.get(MARKER_MODULE)
        body = "none" if m is None else m.value
    elif path == "/group":
        body = "%s\n%s" % (environ["mod_wsgi.application_group"], mod_wsgi.application_group)
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such group test"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
