"""mod_wsgi-express doctor: each check against a real broken set-up made
here (a private Apache configuration in a temp dir, read by the real
Apache binary with -t/-S, never started except where said), the finding
with its file:line and the exit status; a clean set-up exits 0."""

import glob
import grp
import json
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import NO_MODULE, VENVS
from harness import (compiled_in_modules, free_port, make_dir, module_for,
                     modules_dir, python_version, run_user, write_file)

pytestmark = pytest.mark.skipif(not VENVS, reason=NO_MODULE)

ROOT = os.geteuid() == 0

APP = """\
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


class Site:
    """A private Apache configuration: ServerRoot in a temp dir, the
    module of the first venv and that venv as WSGIPythonHome, app.wsgi
    mounted at /app. Extra lines go at the end; `replace` swaps text of
    the standard lines."""

    def __init__(self):
        self.root = make_dir("mod_wsgi-doctor-")
        self.conf = os.path.join(self.root, "httpd.conf")
        self.module = module_for(VENVS[0])
        self.script = write_file(os.path.join(self.root, "app.wsgi"), APP)

    def path(self, name):
        return os.path.join(self.root, name)

    def write(self, extra="", mpm="event", replace=()):
        mods, builtin = modules_dir(), compiled_in_modules()
        lines = ['ServerRoot "%s"' % self.root,
                 "Listen 127.0.0.1:%d" % free_port(),
                 "ServerName 127.0.0.1",
                 'PidFile "%s/httpd.pid"' % self.root,
                 'ErrorLog "%s/error.log"' % self.root,
                 'DefaultRuntimeDir "%s"' % self.root,
                 run_user(),
                 'LoadModule mpm_%s_module "%s/mod_mpm_%s.so"' % (
                     mpm, mods, mpm)]
        if "mod_authz_core.c" not in builtin:
            lines.append('LoadModule authz_core_module "%s/mod_authz_core.so"'
                         % mods)
        lines += ['LoadModule wsgi_module "%s"' % self.module,
                  'WSGIPythonHome "%s"' % VENVS[0],
                  'WSGIScriptAlias /app "%s"' % self.script,
                  '<Directory "%s">\n    Require all granted\n</Directory>'
                  % self.root, extra]
        text = "\n".join(lines) + "\n"
        for old, new in replace:
            assert old in text, old
            text = text.replace(old, new)
        write_file(self.conf, text)
        return self

    def line_of(self, needle, nth=1):
        """The line number of the nth line of httpd.conf holding needle."""
        with open(self.conf) as f:
            hits = [n for n, line in enumerate(f, 1) if needle in line]
        assert len(hits) >= nth, (needle, hits)
        return hits[nth - 1]

    def cleanup(self):
        # Directories the test made unreadable to their owner first.
        for d, _, _ in os.walk(self.root):
            os.chmod(d, 0o755)
        subprocess.run(["chmod", "-R", "u+rwx", self.root], timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def site():
    s = Site()
    yield s
    s.cleanup()


def express(*args, timeout=120):
    return subprocess.run(
        [os.path.join(VENVS[0], "bin", "mod_wsgi-express")] + list(args),
        capture_output=True, text=True, timeout=timeout, cwd="/",
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items()
             if not k.startswith("PYTHON")})


def doctor(*args):
    """(exit status, the JSON report) of `doctor --json ARGS`."""
    out = express("doctor", "--json", *args)
    assert out.returncode in (0, 1, 2), out
    return out.returncode, json.loads(out.stdout)


def only(report, check):
    """The one finding of check in the report (and say what else there
    was when not)."""
    found = [f for f in report["findings"] if f["check"] == check]
    assert len(found) == 1, json.dumps(report, indent=1)
    return found[0]


def unreachable(path):
    """Makes a directory the run user cannot traverse: 0700 (root-owned)
    when the tests run as root, whose Apache runs as www-data; without x
    for its owner otherwise, since then Apache runs as the test's user."""
    os.chmod(path, 0o700 if ROOT else 0o600)


def test_clean_setup_has_no_finding(site):
    site.write()
    rc, report = doctor("--config", site.conf)
    assert rc == 0 and report["findings"] == [], report
    assert report["module"] == site.module
    assert report["module_python"] == python_version(VENVS[0])
    assert report["mpm"] == "event"
    if ROOT:
        assert report["user"] == "www-data" or report["user"] in run_user()
    out = express("doctor", "--config", site.conf)
    assert out.returncode == 0
    assert out.stdout.startswith("mod_wsgi-express doctor: no problems found "
                                 "in %s" % site.conf), out.stdout


def test_module_carries_its_build_python(site):
    """The one C addition: a string in the .so naming its Python X.Y,
    which the doctor reads without loading the module."""
    with open(site.module, "rb") as f:
        data = f.read()
    xy = python_version(VENVS[0])
    assert b"mod_wsgi-build-info: version=" in data
    assert ("python=%s " % xy).encode() in data
    site.write()
    assert doctor("--config", site.conf)[1]["module_python_from"] == \
        "build-info"


def test_missing_module_file(site):
    gone = site.path("gone.so")
    site.write(replace=[(site.module, gone)])
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "module-file")
    assert f["severity"] == "error"
    assert f["message"].startswith("the module %s does not exist" % gone)
    assert (f["file"], f["line"]) == (site.conf, site.line_of(gone))
    assert "module-config" in f["fix"]
    # Apache's own refusal names the same line: not said twice.
    assert not [x for x in report["findings"] if x["check"] == "apache"]
    # The text form: one line per finding, then the summary.
    out = express("doctor", "--config", site.conf)
    lines = out.stdout.splitlines()
    assert out.returncode == 2 and len(lines) == 2, out.stdout
    assert lines[0].startswith("error: %s:%d: the module %s does not exist"
                               % (site.conf, site.line_of(gone), gone))
    assert " Fix: " in lines[0]
    assert lines[1].startswith("mod_wsgi-express doctor: 1 error, "
                               "0 warnings in %s" % site.conf)


def test_two_loadmodule_lines(site):
    copy = site.path("copy.so")
    shutil.copyfile(site.module, copy)
    site.write('LoadModule wsgi_module "%s"' % copy)
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "module-duplicate")
    assert f["severity"] == "error"
    assert (f["file"], f["line"]) == (site.conf, site.line_of(copy))
    assert f["message"].startswith(
        "wsgi_module is loaded a second time (first at %s:%d, from %s)"
        % (site.conf, site.line_of(site.module), site.module))
    # The same file twice: Apache skips it, nothing else changes.
    site.write('LoadModule wsgi_module "%s"' % site.module)
    rc, report = doctor("--config", site.conf)
    assert rc == 1 and only(report, "module-duplicate")["severity"] == \
        "warning"


def other_python(mine):
    root = subprocess.run(
        ["bash", "-c", "pyenv root 2>/dev/null || echo $HOME/.pyenv"],
        capture_output=True, text=True, timeout=30).stdout.strip()
    for exe in sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin",
                                             "python3")), reverse=True):
        out = subprocess.run([exe, "-c", "import sys; print('%d.%d' % "
                              "sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip() != mine:
            return exe, out.stdout.strip()
    return None, None


def test_python_home_of_another_version(site):
    mine = python_version(VENVS[0])
    exe, other = other_python(mine)
    if exe is None:
        pytest.skip("no pyenv Python of another X.Y than %s" % mine)
    venv = site.path("venv-other")
    subprocess.run([exe, "-m", "venv", "--without-pip", venv], check=True,
                   timeout=120)
    site.write(replace=[('WSGIPythonHome "%s"' % VENVS[0],
                         'WSGIPythonHome "%s"' % venv)])
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "python-version")
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("WSGIPythonHome"))
    assert f["message"].startswith(
        "WSGIPythonHome %s is a Python %s environment, but the module %s was "
        "built for Python %s" % (venv, other, site.module, mine))
    assert "python%s -m venv" % mine in f["fix"]
    # Apache refuses it too (WSGI0002): one finding, not two.
    assert len(report["findings"]) == 1, report


def test_directory_the_run_user_cannot_traverse(site):
    private = site.path("private")
    os.mkdir(private)
    script = write_file(os.path.join(private, "p.wsgi"), APP)
    venv = os.path.join(private, "venv")
    subprocess.run([os.path.join(VENVS[0], "bin", "python"), "-m", "venv",
                    "--without-pip", venv], check=True, timeout=120)
    unreachable(private)
    site.write('WSGIDaemonProcess priv threads=2 python-home="%s"\n'
               'WSGIScriptAlias /p "%s" process-group=priv' % (venv, script))
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "access")
    user = report["user"]
    assert f["message"].startswith(
        "Apache's user %s cannot traverse %s (mode %04o" % (
            user, private, 0o700 if ROOT else 0o600)), f
    # One finding for the directory, naming both things behind it.
    assert f["message"].endswith(
        "so it cannot reach the Python home %s and the script %s." % (
            venv, script)), f
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("WSGIDaemonProcess"))
    assert f["fix"].startswith("chmod o+x %s" % private)
    if ROOT:
        assert "setfacl -m u:%s:x %s" % (user, private) in f["fix"]
        # The fix it prints works.
        subprocess.run(["setfacl", "-m", "u:%s:x" % user, private],
                       check=True, timeout=30)
        rc, report = doctor("--config", site.conf)
        assert rc == 0, report


def test_socket_prefix_in_unwritable_directory(site):
    sockets = site.path("sockets")
    os.mkdir(sockets)
    os.chmod(sockets, 0o700 if ROOT else 0o500)
    site.write('WSGISocketPrefix "%s/wsgi"\n'
               'WSGIDaemonProcess g threads=2\n'
               'WSGIScriptAlias /g "%s" process-group=g' % (sockets,
                                                           site.script))
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "socket-prefix")
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("WSGISocketPrefix"))
    assert f["message"].startswith("WSGISocketPrefix %s/wsgi: " % sockets)
    if ROOT:
        assert "Apache's user www-data cannot traverse %s" % sockets in \
            f["message"] or "cannot traverse %s" % sockets in f["message"]
    else:
        assert "cannot create the sockets in %s" % sockets in f["message"]
    # A prefix in a directory that is not there.
    site.write('WSGISocketPrefix "%s/nowhere/wsgi"\n'
               'WSGIDaemonProcess g threads=2' % site.root)
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    assert "directory %s/nowhere does not exist" % site.root in only(
        report, "socket-prefix")["message"]


def test_script_without_application(site):
    write_file(site.script, APP.replace("def application", "def app"))
    site.write()
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "script-callable")
    assert f["message"].startswith(
        "the script %s does not define 'application'" % site.script)
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("WSGIScriptAlias /app"))
    # Named as the callable, on the line or by WSGICallableObject: clean.
    site.write(replace=[('/app.wsgi"', '/app.wsgi" callable-object=app')])
    assert doctor("--config", site.conf)[0] == 0
    site.write("WSGICallableObject app")
    assert doctor("--config", site.conf)[0] == 0


def test_script_named_on_the_command_line(site):
    site.write()
    other = write_file(site.path("other.wsgi"), "def app(e, s):\n    pass\n")
    rc, report = doctor("--config", site.conf, other)
    assert rc == 2
    f = only(report, "script-callable")
    assert f["file"] is None and other in f["message"]
    broken = write_file(site.path("broken.wsgi"), "def application(:\n")
    rc, report = doctor("--config", site.conf, broken)
    assert rc == 2
    assert "does not compile" in only(report, "script-syntax")["message"]


def test_import_sees_a_module_that_needs_the_main_interpreter(site):
    lib = site.path("lib")
    os.makedirs(os.path.join(lib, "lxml"))
    write_file(os.path.join(lib, "lxml", "__init__.py"), "LOADED = True\n")
    write_file(site.script, "import lxml\n" + APP)
    site.write('WSGIPythonPath "%s"' % lib)
    # Not imported unless asked.
    assert doctor("--config", site.conf)[0] == 0
    rc, report = doctor("--config", site.conf, "--import")
    assert rc == 1
    f = only(report, "app-group")
    assert f["message"].startswith(
        "the script %s imports lxml, which needs the main interpreter, but "
        "runs in application group %%{RESOURCE}" % site.script)
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("WSGIScriptAlias /app"))
    site.write('WSGIPythonPath "%s"\nWSGIApplicationGroup %%{GLOBAL}' % lib)
    rc, report = doctor("--config", site.conf, "--import")
    assert rc == 0, report


def test_daemon_threads_beyond_max_request_workers(site):
    site.write("<IfModule mpm_event_module>\n"
               "    ServerLimit 1\n    ThreadsPerChild 4\n"
               "    ThreadLimit 4\n    MaxRequestWorkers 4\n</IfModule>\n"
               "WSGIDaemonProcess g processes=2 threads=5\n"
               'WSGIScriptAlias /g "%s" process-group=g' % site.script)
    rc, report = doctor("--config", site.conf)
    assert rc == 1
    f = only(report, "mpm-threads")
    assert f["message"].startswith(
        "the daemon process groups have 10 threads (g: 2 x 5), but Apache's "
        "event MPM passes at most 4 requests at once")
    assert (f["file"], f["line"]) == (site.conf,
                                      site.line_of("MaxRequestWorkers"))
    assert f["fix"].startswith("MaxRequestWorkers 10")


def test_embedded_mode_under_prefork(site):
    if not os.path.exists(os.path.join(modules_dir(), "mod_mpm_prefork.so")):
        pytest.skip("no mod_mpm_prefork.so in %s" % modules_dir())
    site.write(mpm="prefork")
    rc, report = doctor("--config", site.conf)
    assert rc == 1
    f = only(report, "mpm-embedded")
    assert f["message"].startswith("%s runs in embedded mode under the "
                                   "prefork MPM" % site.script)
    site.write("WSGIDaemonProcess g threads=2\nWSGIProcessGroup g",
               mpm="prefork")
    assert doctor("--config", site.conf)[0] == 0


RUNNING = """
WSGIDaemonProcess doctor processes=1 threads=2
WSGIScriptAlias /e "@APPS@/environ.wsgi" process-group=doctor \\
    application-group=%{GLOBAL}
WSGIScriptAlias /o "@APPS@/output.wsgi"
<Directory "@APPS@">
    Require all granted
</Directory>
"""


def test_config_of_a_running_server(make_server):
    """What a real server runs (it answers) the doctor finds nothing in."""
    srv = make_server(RUNNING, mpm="event")
    assert srv.get("/e").status_code == 200
    rc, report = doctor("--config", srv.conf_path, "--import")
    assert rc == 0 and report["findings"] == [], report


def test_server_root_written_by_setup_server(site):
    args = []
    if ROOT:
        # Apache's user of the harness: "User NAME\nGroup #GID".
        user = run_user().split()[1]
        args = ["--user", user, "--group",
                grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name]
    out = express("setup-server", site.script, "--server-root",
                  site.path("express"), "--port", str(free_port()), *args)
    assert out.returncode == 0, out.stderr
    rc, report = doctor("--server-root", site.path("express"), "--import")
    assert rc == 0 and report["findings"] == [], report
    assert report["config"] == site.path("express/httpd.conf")


def _has(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


@pytest.mark.skipif(not ROOT, reason="needs root to chown and to become "
                                     "www-data")
@pytest.mark.skipif(not shutil.which("setfacl"), reason="no setfacl: apt-get "
                                                        "install acl")
@pytest.mark.skipif(not _has("www-data"), reason="no www-data user")
def test_modes_and_acls_read_as_the_kernel_answers(site):
    """The walk of modes and ACLs (the doctor not root) answers what
    access(2) answers as the user (the doctor root, in a child)."""
    from mod_wsgi.express import doctor_access as a
    user = a.lookup_user("www-data")
    cases = {"plain": "", "acl-user": "u:www-data:x",
             "acl-none": "u:www-data:-", "acl-mask": "m::-"}
    paths = []
    for name, acl in cases.items():
        top = site.path(name)
        os.makedirs(os.path.join(top, "in"))
        os.chmod(top, 0o750)
        os.chown(top, 0, user.gid if name == "acl-mask" else 0)
        if acl:
            subprocess.run(["setfacl", "-m", acl, top], check=True,
                           timeout=30)
        paths.append((os.path.join(top, "in"), os.R_OK))
    kernel = a._denied_in_child(user, paths)
    walked = [a.first_denied(p, w, lambda q, m: a.mode_allows(q, m, user))
              for p, w in paths]
    assert kernel == walked
    assert [k is None for k in kernel] == [False, True, False, False]


def test_module_built_with_the_apxs_of_another_apache(site):
    """A pip build records the apxs it was built with next to the .so."""
    copy = site.path("mod_wsgi-copy.so")
    shutil.copyfile(site.module, copy)
    write_file(site.path("apxs_config.py"),
               "APXS = '/opt/httpd/bin/apxs'\nSBINDIR = '/opt/httpd/bin'\n"
               "PROGNAME = 'httpd'\n")
    site.write(replace=[(site.module, copy)])
    rc, report = doctor("--config", site.conf)
    assert rc == 1
    f = only(report, "module-apxs")
    assert f["message"].startswith(
        "the module %s was built with the apxs of another Apache "
        "(/opt/httpd/bin/apxs, whose binary is /opt/httpd/bin/httpd)" % copy)
    assert (f["file"], f["line"]) == (site.conf, site.line_of(copy))


def test_module_without_build_information(site):
    """Another Apache module where mod_wsgi should be: no build string,
    no libpython; Apache refuses it too."""
    other = os.path.join(modules_dir(), "mod_mpm_event.so")
    site.write(replace=[(site.module, other)])
    rc, report = doctor("--config", site.conf)
    assert rc == 2
    f = only(report, "module-build")
    assert f["message"].startswith("cannot tell which Python the module %s "
                                   "was built for" % other)
    assert only(report, "apache")["message"].startswith(
        "Apache refuses the configuration: ")


def test_distro_package_and_a_pip_build(site, monkeypatch):
    """The distro's module installed while a pip build is loaded (the
    distro path is a copy here: the machine's own is left alone)."""
    import argparse
    from mod_wsgi.express import doctor as d
    packaged = site.path("mod_wsgi.so")
    shutil.copyfile(site.module, packaged)
    monkeypatch.setattr(d, "DISTRO_MODULES", (packaged,))
    site.write()
    args = argparse.Namespace(config=site.conf, server_root=None,
                              httpd_executable=None, import_scripts=False,
                              script=None, json=True)
    s = d.gather(args, d.locate(args))
    found = list(d.check_two_builds(s))
    assert len(found) == 1 and found[0].severity == d.WARNING
    assert found[0].message.startswith(
        "two mod_wsgi builds are installed: %s (from the distro's mod_wsgi "
        "package) and the one loaded, %s" % (packaged, site.module))
    # Both loaded: the duplicate check says it, not this one.
    site.write('LoadModule wsgi_module "%s"' % packaged)
    s = d.gather(args, d.locate(args))
    assert list(d.check_two_builds(s)) == []
    assert [f.check for f in d.diagnose(s)] == ["module-duplicate"]
