"""mod_wsgi-express module-location / module-config, and that the lines
module-config prints load the module into a plain Apache."""

import os
import subprocess

import pytest

from conftest import NO_MODULE, VENVS
from harness import ApacheServer as Apache, python_version

HERE = os.path.dirname(os.path.abspath(__file__))

# As every test of a built module: skipped, with the reason, without one
# (VENVS[0] was an IndexError).
pytestmark = pytest.mark.skipif(not VENVS, reason=NO_MODULE)


def express(venv, *args):
    return subprocess.run([os.path.join(venv, "bin", "mod_wsgi-express")] + list(args),
                          capture_output=True, text=True, timeout=60, cwd="/")


@pytest.mark.parametrize("venv", VENVS, ids=os.path.basename)
def test_module_location(venv):
    out = express(venv, "module-location")
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip()
    assert os.path.isfile(path)
    xy = python_version(venv).replace(".", "")
    assert os.path.basename(path).startswith("mod_wsgi-py%s" % xy)
    needed = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    assert "libpython%s" % python_version(venv) in needed


@pytest.mark.parametrize("venv", VENVS, ids=os.path.basename)
def test_module_config_lines_load_in_apache(venv):
    out = express(venv, "module-config")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    location = express(venv, "module-location").stdout.strip()
    assert lines == ['LoadModule wsgi_module "%s"' % location,
                     'WSGIPythonHome "%s"' % venv]
    # Those two lines, and nothing of ours else, make a working server.
    srv = Apache(venv, "event", """
WSGIScriptAlias /hello "%s/examples/hello.wsgi"
<Directory "%s/examples">
    Require all granted
</Directory>
""" % (os.path.dirname(HERE), os.path.dirname(HERE)))
    text = open(srv.conf_path).read()
    text = "\n".join(l for l in text.splitlines()
                     if not l.startswith(("LoadModule wsgi_module", "WSGIPythonHome")))
    with open(srv.conf_path, "w") as f:
        f.write(text + "\n" + out.stdout)
    try:
        srv.start()
        assert srv.get("/hello").text == "Hello World!\n"
        srv.stop()
        srv.check_log()
        assert not srv.left_behind, srv.left_behind
    finally:
        srv.cleanup()


@pytest.mark.parametrize("command", ["start-server", "setup-server", "module-config",
                                     "module-location", "install-module"])
def test_help(command):
    out = express(VENVS[0], command, "--help")
    assert out.returncode == 0
    assert "usage: mod_wsgi-express %s" % command in out.stdout
