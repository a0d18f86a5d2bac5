"""A module built for Python X.Y with WSGIPythonHome pointing at a venv of
another X.Y: Apache refuses to start, with one log line naming both."""

import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import VENVS
from harness import make_dir, python_version

APP = """
WSGIScriptAlias /e "@APPS@/environ.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


def other_python(mine):
    root = subprocess.run(["bash", "-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"],
                          capture_output=True, text=True, timeout=30).stdout.strip()
    candidates = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    candidates += ["/usr/bin/python3"]
    for p in candidates:
        if not os.access(p, os.X_OK):
            continue
        out = subprocess.run([p, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip() != mine:
            return p
    return None


@pytest.fixture
def other_venv():
    if not VENVS:
        pytest.skip("no built module")
    mine = python_version(VENVS[0])
    exe = other_python(mine)
    if not exe:
        pytest.skip("no Python of another X.Y than %s found" % mine)
    venv = make_dir("mod_wsgi-othervenv-")
    subprocess.run([exe, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


@pytest.mark.allow_log(r"WSGI0002")
def test_python_home_of_other_version_refused(make_server, other_venv):
    mine = python_version(VENVS[0])
    other = python_version(other_venv)
    assert other != mine
    srv = make_server(APP, start=False, python_home=other_venv)
    rc, out = srv.configtest()
    assert rc != 0
    assert "Python %s" % other in out and "Python %s" % mine in out, out
    assert srv.start(expect_fail=True) != 0
    lines = [l for l in srv.error_log().splitlines() if "WSGI0002" in l]
    assert len(lines) == 1, srv.error_log()
    assert "Python %s" % other in lines[0] and "Python %s" % mine in lines[0]
    # Not upstream's cryptic failure.
    assert "No module named 'encodings'" not in srv.error_log()
