"""Returns the environ as JSON, plus facts about the interpreter that ran
the request (keys starting with "interp.")."""

import json
import os
import sys

import mod_wsgi


def jsonable(environ):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = "<%s>" % type(v).__name__
    return out


def application(environ, start_response):
    env = jsonable(environ)
    env["interp.environ_type"] = type(environ).__name__
    env["interp.key_types"] = sorted({type(k).__name__ for k in environ})
    env["interp.non_str_cgi"] = sorted(
        k for k, v in environ.items()
        if k.isupper() and not isinstance(v, str))
    env["interp.application_group"] = mod_wsgi.application_group
    env["interp.mod_wsgi_version"] = list(mod_wsgi.version)
    env["interp.build_version"] = mod_wsgi.build_version
    env["interp.sys_prefix"] = sys.prefix
    env["interp.version"] = "%d.%d" % sys.version_info[:2]
    env["interp.optimize"] = sys.flags.optimize
    env["interp.dont_write_bytecode"] = sys.dont_write_bytecode
    env["interp.hash_abc"] = hash("abc")
    env["interp.warnoptions"] = list(sys.warnoptions)
    env["interp.sys_path"] = list(sys.path)
    env["interp.pid"] = os.getpid()
    env["interp.switch_interval"] = sys.getswitchinterval()
    env["interp.module"] = __name__
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(env).encode()]
