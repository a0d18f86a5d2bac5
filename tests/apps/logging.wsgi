"""Everything an application can write that should reach the error log."""

import logging
import sys

print("import-time stdout line from logging.wsgi")
print("import-time stderr line from logging.wsgi", file=sys.stderr)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    tag = environ["QUERY_STRING"]
    errors = environ["wsgi.errors"]

    if path == "/all":
        errors.write("wsgi.errors line %s\n" % tag)
        print("stdout line %s" % tag)
        print("stderr line %s" % tag, file=sys.stderr)
        logging.getLogger("testapp").warning("logging line %s", tag)
    elif path == "/writelines":
        errors.writelines(["writelines one %s\n" % tag, "writelines two %s\n" % tag])
        errors.flush()
    elif path == "/no-newline":
        errors.write("unterminated %s" % tag)
        errors.flush()
    elif path == "/multiline":
        errors.write("multi first %s\nmulti second %s\n" % (tag, tag))
    elif path == "/bytes":
        # wsgi.errors is a text stream: bytes are a TypeError.
        try:
            errors.write(b"bytes")
            result = "accepted"
        except TypeError:
            result = "TypeError"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [result.encode()]
    elif path == "/attrs":
        names = [n for n in ("write", "writelines", "flush") if callable(getattr(errors, n, None))]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [",".join(names).encode()]
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such logging test"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged"]
