"""Says which daemon group and Apache server serve it, and writes a tagged
line to each output channel (print, sys.stderr, wsgi.errors)."""

import json
import os
import sys

import mod_wsgi


def application(environ, start_response):
    tag = environ.get("QUERY_STRING", "")
    if tag:
        print("print line %s" % tag)
        sys.stdout.flush()
        sys.stderr.write("stderr line %s\n" % tag)
        sys.stderr.flush()
        environ["wsgi.errors"].write("errors line %s\n" % tag)
    body = json.dumps({
        "process_group": mod_wsgi.process_group,
        "application_group": mod_wsgi.application_group,
        "server_name": environ["SERVER_NAME"],
        "pid": os.getpid(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
