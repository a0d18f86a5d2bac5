"""A second script: reads the marker groups.wsgi sets in its interpreter."""

import sys

import mod_wsgi


def application(environ, start_response):
    m = sys.modules.get("_mod_wsgi_test_marker")
    body = "%s|%s" % ("none" if m is None else m.value, mod_wsgi.application_group)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
