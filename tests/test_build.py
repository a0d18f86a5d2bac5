"""The module compiles cleanly for every shared-library CPython 3.9-3.13
on the machine, and the build says what is missing when it cannot."""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from harness import apxs_query

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SERVER = os.path.join(TOP, "mod_wsgi", "server")


def pythons():
    found = {}
    root = subprocess.run(["bash", "-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"],
                          capture_output=True, text=True).stdout.strip()
    candidates = ["/usr/bin/python3"] + sorted(
        glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    for exe in candidates:
        if not os.access(exe, os.X_OK):
            continue
        out = subprocess.run(
            [exe, "-c", "import sys, sysconfig; print('%d.%d' % sys.version_info[:2], "
             "sysconfig.get_paths()['include'], bool(sysconfig.get_config_var('Py_ENABLE_SHARED')))"],
            capture_output=True, text=True)
        if out.returncode != 0:
            continue
        version, include, shared = out.stdout.split()
        major, minor = map(int, version.split("."))
        if (major, minor) < (3, 9) or shared != "True":
            continue
        found["%s (%s)" % (version, exe)] = include
    return found


PYTHONS = pythons()


@pytest.mark.parametrize("name", sorted(PYTHONS))
def test_compiles_without_warnings(tmp_path, name):
    include = PYTHONS[name]
    apr_config = apxs_query("APR_CONFIG")
    flags = (apxs_query("CFLAGS").split() + apxs_query("CPPFLAGS").split()
             + apxs_query("EXTRA_CPPFLAGS").split()
             + ["-I" + apxs_query("INCLUDEDIR"), "-I" + include]
             + subprocess.run([apr_config, "--includes"], capture_output=True,
                              text=True, check=True).stdout.split())
    for src in sorted(glob.glob(os.path.join(SERVER, "*.c"))):
        out = subprocess.run(
            ["cc", "-c", "-fPIC", "-Wall", "-Wextra", "-Wundef", "-Werror",
             "-o", str(tmp_path / (os.path.basename(src) + ".o")), src] + flags,
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, "%s with Python %s:\n%s" % (src, name, out.stderr)


def _pythons_on_machine():
    """Minor versions of every CPython 3.9-3.13 executable here, shared
    build or not: Debian's /usr/bin/python3.X and pyenv's."""
    root = subprocess.run(["bash", "-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"],
                          capture_output=True, text=True).stdout.strip()
    found = set()
    for exe in glob.glob("/usr/bin/python3.*") + glob.glob(
            os.path.join(root, "versions", "3.*", "bin", "python3")):
        m = re.search(r"python3\.(\d+)$", exe) or re.search(
            r"versions/3\.(\d+)", exe)
        if m and 9 <= int(m.group(1)) <= 13 and os.access(exe, os.X_OK):
            found.add("3.%s" % m.group(1))
    return found


def test_python_version_coverage():
    """Every CPython 3.9-3.13 the machine has is found as a shared-library
    build, so the test above compiled the module for it; one that is not
    shared fails here by name. Versions the machine lacks (a fresh Debian
    root has 3.11 only) skip, saying which."""
    versions = {n.split()[0] for n in PYTHONS}
    assert versions, "no shared-library Python found"
    unusable = _pythons_on_machine() - versions
    assert not unusable, ("on this machine but not a shared-library build "
                          "(--enable-shared): %s" % sorted(unusable))
    missing = {"3.9", "3.10", "3.11", "3.12", "3.13"} - versions
    if missing:
        pytest.skip("not on this machine: Python %s" % ", ".join(sorted(
            missing, key=lambda v: int(v.split(".")[1]))))


def test_missing_apxs_is_explained(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(TOP, "setup.py"), "--version"],
                         cwd=TOP, env=dict(os.environ, APXS=str(tmp_path / "no-apxs")),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "apxs" in out.stderr + out.stdout
    assert "not an executable file" in out.stderr + out.stdout


# The files clang-format (the repository's .clang-format, httpd style) is
# held to. The others log with WSGI_LOGNO(n) "message" concatenations,
# which clang-format 14 (Debian 12's) cannot lay out: it splits the macro
# from its code and indents the message under it, less readable than the
# hand layout; they are formatted by hand in the same style.
FORMATTED = ["mod_wsgi/server/wsgi_proto.c", "mod_wsgi/server/wsgi_proto.h",
             "mod_wsgi/server/wsgi_validate.c", "mod_wsgi/server/wsgi_validate.h",
             "mod_wsgi/server/wsgi_hmac.c", "mod_wsgi/server/wsgi_hmac.h",
             "tests/c/check.h", "tests/c/fuzz_proto.c", "tests/c/fuzz_validate.c",
             "tests/c/test_hmac.c", "tests/c/test_proto.c", "tests/c/test_validate.c"]


@pytest.mark.parametrize("path", FORMATTED)
def test_pure_c_files_are_clang_formatted(path):
    tool = shutil.which("clang-format")
    if tool is None:
        pytest.skip("clang-format is missing: sh mk/deps.sh test (as root) installs it")
    run = subprocess.run([tool, "--dry-run", "-Werror", "--style=file", path],
                         cwd=TOP, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, "%s: run clang-format -i %s\n%s" % (path, path, run.stderr[-2000:])
