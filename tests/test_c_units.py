"""Builds and runs the C unit tests of the pure parts of the module."""

import os
import subprocess
import sys
import sysconfig

import pytest

from mod_wsgi.express import platform

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "mod_wsgi", "server")


def _apxs():
    # $APXS first, as the build (setup.py, make) takes it; then the names
    # mod_wsgi-express looks for on this platform, with its finder.
    found = platform.find_apxs([os.environ.get("APXS")]
                               + platform.detect().apxs_names)
    if not found:
        pytest.skip("apxs not found (install apache2-dev)")
    return found[0]


def _query(apxs, var):
    return subprocess.run([apxs, "-q", var], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("name,sources", [
    ("test_validate", ["wsgi_validate.c"]),
    ("test_proto", ["wsgi_proto.c"]),
    ("test_hmac", ["wsgi_hmac.c"]),
])
def test_c_unit(tmp_path, name, sources):
    apxs = _apxs()
    apr_config = _query(apxs, "APR_CONFIG")
    cflags = (_query(apxs, "CFLAGS").split() + _query(apxs, "EXTRA_CPPFLAGS").split()
              + ["-I" + _query(apxs, "INCLUDEDIR"), "-I" + SERVER,
                 "-I" + sysconfig.get_paths()["include"]]
              + subprocess.run([apr_config, "--includes"], check=True,
                               capture_output=True, text=True).stdout.split())
    libs = subprocess.run([apr_config, "--link-ld"], check=True,
                          capture_output=True, text=True).stdout.split()
    exe = str(tmp_path / name)
    cmd = (["cc", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
            "-DWSGI_MODULE_MAIN", "-o", exe, os.path.join(HERE, "c", name + ".c")]
           + [os.path.join(SERVER, s) for s in sources] + cflags + libs)
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    sys.stdout.write(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed, 0 failed" in run.stdout
