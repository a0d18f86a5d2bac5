"""Per-Python variants: the module built with `pip install .` for each
shared-library CPython 3.9-3.13 on the machine serves a request in
embedded mode, from that Python, through WSGIPythonHome.

The suite as a whole runs against MOD_WSGI_TEST_VENVS (two Pythons); this
file covers the X.Y versions not among them, one request each."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import VENVS
from harness import ApacheServer, make_dir, python_version, write_file
from test_build import pythons

APP = r'''
import sys

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d.%d %s" % (sys.version_info[:2] + (sys.prefix,))).encode()]
'''


def _versions_tested_elsewhere():
    return {python_version(v) for v in VENVS}


def _variants():
    seen, out = _versions_tested_elsewhere(), []
    for name in sorted(pythons()):
        xy = name.split()[0]
        if xy not in seen:
            seen.add(xy)
            out.append((xy, name.split("(")[1].rstrip(")")))
    return out


VARIANTS = _variants()


@pytest.mark.skipif(not VARIANTS, reason="no shared-library Python 3.9-3.13 "
                    "beyond those of MOD_WSGI_TEST_VENVS on this machine")
@pytest.mark.parametrize("xy,exe", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_builds_and_serves(request, xy, exe):
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    venv = make_dir("mod_wsgi-variant-%s-" % xy)
    request.addfinalizer(lambda: shutil.rmtree(venv, ignore_errors=True))
    subprocess.run([exe, "-m", "venv", venv], check=True, timeout=300)
    # A copy of the tree: pip must not leave build output in the checkout
    # that another variant's build would pick up.
    src = os.path.join(venv, "src")
    shutil.copytree(top, src, ignore=shutil.ignore_patterns(
        "build", "dist", ".git", "*.so", "__pycache__", "*.egg-info",
        "apxs_config.py", ".cache", "results"))
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip",
                          "install", "-q", "--disable-pip-version-check",
                          src], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    srv = ApacheServer(venv, "event", apps=[("/v", APP)])
    try:
        srv.start()
        r = srv.get("/v")
        assert r.status_code == 200
        version, prefix = r.text.split()
        assert version == xy
        assert os.path.realpath(prefix) == os.path.realpath(venv)
        assert "Python/%s" % xy in r.headers["Server"]
        srv.stop()
        srv.check_log()
    finally:
        srv.cleanup()
