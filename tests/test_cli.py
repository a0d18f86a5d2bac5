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


# The lines module-config and install-module print go into an Apache
# configuration file, where a quote ends the argument, a backslash escapes
# the closing quote and ${NAME} is expanded: a module path holding one is
# refused, as setup-server refuses such values (apache_conf.quoted).
UNWRITABLE = [("a${HOME}b", "'${'"), ('a"b', "quote"), ("a'b", "quote"),
              ("a\\b", "backslash")]


def refusal(out):
    """The one line of a refusal, checked to be the whole output."""
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr          # no traceback
    assert lines[0].startswith("mod_wsgi-express: ")
    assert "rename the file or directory" in lines[0]
    return lines[0]


@pytest.mark.parametrize("name, problem", UNWRITABLE,
                         ids=["variable", "double-quote", "single-quote",
                              "backslash"])
def test_module_config_refuses_a_path_apache_would_misread(name, problem):
    # The built module's path is the venv's; the command runs with
    # module_path() answering one that holds the character.
    path = "/opt/%s/mod_wsgi-py.so" % name
    code = ("import sys\n"
            "from mod_wsgi.express import cli, server\n"
            "server.module_path = lambda: %r\n"
            "sys.exit(cli.main(['module-config']))\n" % path)
    out = subprocess.run([os.path.join(VENVS[0], "bin", "python"), "-c",
                          code], capture_output=True, text=True, timeout=60,
                         cwd="/")
    line = refusal(out)
    assert "the mod_wsgi module path %r" % path in line
    assert problem in line


@pytest.mark.parametrize("name, problem", UNWRITABLE,
                         ids=["variable", "double-quote", "single-quote",
                              "backslash"])
def test_install_module_refuses_a_directory_apache_would_misread(
        tmp_path, name, problem):
    target = tmp_path / name
    target.mkdir()
    location = express(VENVS[0], "module-location").stdout.strip()
    out = express(VENVS[0], "install-module", "--modules-directory",
                  str(target))
    line = refusal(out)
    installed = os.path.join(str(target), os.path.basename(location))
    assert "%r" % installed in line
    assert "--modules-directory" in line and problem in line
    # Refused before anything was copied.
    assert os.listdir(str(target)) == []
