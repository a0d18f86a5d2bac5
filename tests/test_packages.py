"""The distro packages built from this tree (debian/, rpm/, conf.d/;
docs/packaging.md).

The .debs are built once per module with `make deb` (dpkg-buildpackage in
a copy of the tree, output in a temp dir). Their contents and lintian are
checked, then the lifecycle test installs them on this machine with apt,
checks the module is enabled and serves a request from a private Apache on
a free loopback port, and takes the admin/remove/purge steps. It purges the
packages at the end whatever happens, and blocks service starts with a
temporary policy-rc.d so the system apache2 is never started.

The .rpm is built once with `make rpm` (rpmbuild --nodeps on Debian):
fields, file list, rpmlint, then install/verify/serve/erase in a scratch
root; the flavours for the other Pythons of MOD_WSGI_TEST_VENVS
(`make variants`) install beside it with exactly one module loaded.

Skips (with the apt packages to install): no dpkg-buildpackage, unmet
Build-Depends, no lintian, no rpmbuild, no rpmlint. The tests that install
or serve also need root and apache2; the lifecycle test refuses to run
where a mod_wsgi package or a hand-made wsgi.load is already installed
(it would replace it).
"""

import filecmp
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CONF_D = os.path.join(TOP, "conf.d")

# Debian's fixed locations (the apache2 packaging policy's, not this
# machine's): the modules, the mods-available/enabled pair, the a2enmod
# state markers, the python3 runtime hooks.
MODDIR = "/usr/lib/apache2/modules"
APACHE_CONFDIR = os.environ.get("APACHE_CONFDIR", "/etc/apache2")
A2STATE = "/var/lib/apache2/module"
RTUPDATE = "/usr/share/python3/runtime.d/libapache2-mod-wsgi-py3.rtupdate"
POLICY_RC_D = "/usr/sbin/policy-rc.d"
MODPKG = "libapache2-mod-wsgi-py3"
PYPKG = "python3-mod-wsgi"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

BUILD_TOOLS = "apt-get install dpkg-dev debhelper"


def run(cmd, timeout=600, check=True, **kw):
    env = dict(os.environ, PATH=SYSTEM_PATH + ":" + os.environ.get("PATH", ""),
               DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    env.update(kw.pop("env", {}))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         env=env, **kw)
    if check:
        assert out.returncode == 0, "%s -> %d\n%s\n%s" % (
            " ".join(cmd), out.returncode, out.stdout[-4000:], out.stderr[-4000:])
    return out


def make(target, dist, *args):
    """make TARGET in the tree, output in dist; not the parent make's flags
    (under `make test`, its command-line variables would reach the build)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    start = time.monotonic()
    out = subprocess.run(["make", "--no-print-directory", target, "PKG_DIST=" + dist]
                         + list(args), cwd=TOP, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, "make %s -> %d\n%s\n%s" % (
        target, out.returncode, out.stdout[-4000:], out.stderr[-4000:])
    print("make %s took %.0fs" % (target, time.monotonic() - start))


def which(name):
    return shutil.which(name, path=SYSTEM_PATH + ":" + os.environ.get("PATH", ""))


def version():
    with open(os.path.join(TOP, "mod_wsgi", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def py3versions(flag):
    return run(["py3versions", flag]).stdout.split()


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field]).stdout.strip()


# ---- the build -------------------------------------------------------------

@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if not which("dpkg-buildpackage"):
        pytest.skip("dpkg-buildpackage is missing: %s" % BUILD_TOOLS)
    # dh_testdeps would stop the build with the same list, less readably.
    deps = run(["dpkg-checkbuilddeps"], cwd=TOP, check=False)
    if deps.returncode != 0:
        pytest.skip("Build-Depends of debian/control not installed: %s"
                    % (deps.stderr.strip() or deps.stdout.strip()))
    dist = str(tmp_path_factory.mktemp("debs"))
    make("deb", dist)
    v = version()
    found = {}
    for name in os.listdir(dist):
        m = re.match(r"^(%s|%s)_%s_[a-z0-9]+\.deb$"
                     % (re.escape(MODPKG), re.escape(PYPKG), re.escape(v)), name)
        if m:
            found[m.group(1)] = os.path.join(dist, name)
        elif name.endswith(".changes"):
            found["changes"] = os.path.join(dist, name)
    assert set(found) == {MODPKG, PYPKG, "changes"}, sorted(os.listdir(dist))
    return found


@pytest.fixture(scope="module")
def unpacked(debs, tmp_path_factory):
    """Each .deb extracted (files, control) under a temp dir."""
    root = tmp_path_factory.mktemp("unpacked")
    out = {}
    for pkg in (MODPKG, PYPKG):
        files, control = str(root / pkg), str(root / (pkg + ".control"))
        run(["dpkg-deb", "-x", debs[pkg], files])
        run(["dpkg-deb", "-e", debs[pkg], control])
        out[pkg] = (files, control)
    return out


def test_module_package_has_a_build_per_supported_python(debs, unpacked):
    files, control = unpacked[MODPKG]
    moddir = files + MODDIR
    supported = py3versions("-vs")
    default = py3versions("-dv")[0]
    assert sorted(os.listdir(moddir)) == sorted(
        ["mod_wsgi.so"] + ["mod_wsgi.so-" + v for v in supported])
    assert os.readlink(os.path.join(moddir, "mod_wsgi.so")) == "mod_wsgi.so-" + default
    for v in supported:
        so = os.path.join(moddir, "mod_wsgi.so-" + v)
        assert os.stat(so).st_mode & 0o777 == 0o644
        dynamic = run(["readelf", "-d", so]).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", dynamic)
        assert any(n.startswith("libpython%s" % v) for n in needed), (v, needed)
        assert not [n for n in needed if n.startswith("libpython")
                    and not n.startswith("libpython%s" % v)], (v, needed)
    rtupdate = files + RTUPDATE
    assert os.access(rtupdate, os.X_OK)


def test_module_package_control_fields(debs):
    deb = debs[MODPKG]
    assert deb_field(deb, "Version") == "1:" + version()
    assert deb_field(deb, "Architecture") != "all"
    assert deb_field(deb, "Provides") == "httpd-wsgi3"
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    mmn = run(["a2query", "-a"]).stdout.strip() if which("a2query") else None
    if mmn:
        assert "apache2-api-" + mmn in depends, depends
    supported = sorted(py3versions("-vs"), key=lambda v: tuple(map(int, v.split("."))))
    major, minor = supported[-1].split(".")
    assert "python3 (>= %s)" % supported[0] in depends, depends
    assert "python3 (<< %s.%d)" % (major, int(minor) + 1) in depends, depends
    assert any(d.startswith("libpython" + supported[0]) for d in depends), depends
    assert not [d for d in depends if re.match(r"apache2(\s|$)", d)], depends


def test_module_package_ships_conf_d_snippets_as_conffiles(unpacked):
    files, control = unpacked[MODPKG]
    available = files + APACHE_CONFDIR + "/mods-available"
    assert sorted(os.listdir(available)) == ["wsgi.conf", "wsgi.load"]
    for name in ("wsgi.conf", "wsgi.load"):
        assert filecmp.cmp(os.path.join(available, name),
                           os.path.join(CONF_D, name), shallow=False), name
    with open(os.path.join(control, "conffiles")) as f:
        conffiles = f.read().split()
    assert sorted(conffiles) == [APACHE_CONFDIR + "/mods-available/wsgi.conf",
                                 APACHE_CONFDIR + "/mods-available/wsgi.load"]
    with open(os.path.join(available, "wsgi.load")) as f:
        loads = [l for l in f.read().splitlines() if l.startswith("LoadModule")]
    assert loads == ["LoadModule wsgi_module %s/mod_wsgi.so" % MODDIR]
    # dh_apache2's enable/disable calls, through the maintscript helper.
    for script, action in (("postinst", "enmod"), ("prerm", "dismod"),
                           ("postrm", "dismod")):
        with open(os.path.join(control, script)) as f:
            text = f.read()
        assert re.search(r"for conf in wsgi\s*; do\s+apache2_invoke %s \$conf"
                         % action, text), (script, text)


def test_python_package_is_arch_all_without_the_module(debs, unpacked):
    deb = debs[PYPKG]
    assert deb_field(deb, "Architecture") == "all"
    assert deb_field(deb, "Version") == "1:" + version()
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    assert "python3-distro" in depends, depends
    files, _ = unpacked[PYPKG]
    site = files + "/usr/lib/python3/dist-packages"
    assert os.path.isfile(os.path.join(site, "mod_wsgi", "express", "cli.py"))
    assert os.path.isfile(os.path.join(site, "mod_wsgi-%s.dist-info" % version(),
                                       "METADATA"))
    assert os.access(files + "/usr/bin/mod_wsgi-express", os.X_OK)
    binaries = [os.path.join(d, n) for d, _, names in os.walk(files)
                for n in names if n.endswith(".so")]
    assert binaries == []


def test_lintian_is_clean(debs):
    if not which("lintian"):
        pytest.skip("lintian is missing: apt-get install lintian")
    out = run(["lintian", "--fail-on", "error,warning", "--display-info",
               debs["changes"]], check=False, timeout=300)
    tags = [l for l in out.stdout.splitlines() if re.match(r"^[EW]: ", l)]
    assert out.returncode == 0 and tags == [], out.stdout + out.stderr


# ---- install, serve, a2dismod, remove, purge on this machine ------------------

def package_state(pkg):
    out = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", pkg], check=False)
    return out.stdout.strip() if out.returncode == 0 else "not-installed"


def a2query(module):
    out = run(["a2query", "-m", module], check=False)
    return out.returncode, out.stdout.strip()


def apt(*args):
    return run(["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"] + list(args),
               timeout=900)


def system_apache_pid():
    """The pid of a running system apache2 service, or None."""
    for pidfile in ("/run/apache2/apache2.pid", "/var/run/apache2/apache2.pid"):
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            continue
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


APP = '''\
import sys

def application(environ, start_response):
    try:
        import pkgtest_marker
        marker = pkgtest_marker.VALUE
    except ImportError:
        marker = "none"
    body = "%d.%d %s %s" % (sys.version_info[:2] + (sys.prefix, marker))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
'''


DEB_LOADS = ("IncludeOptional %(c)s/mods-enabled/*.load\n"
             "IncludeOptional %(c)s/mods-enabled/wsgi.conf\n" % {"c": APACHE_CONFDIR})


def serve_once(workdir, extra="", loads=DEB_LOADS):
    """Starts the system Apache binary with a config of its own on a free
    loopback port, with `loads` (by default, the modules mods-enabled
    loads: ours among them), GETs /hello and stops it; returns the body.
    ServerRoot is workdir."""
    apache = which("apache2")
    port = free_port()
    conf = os.path.join(workdir, "httpd.conf")
    with open(conf, "w") as f:
        f.write('ServerRoot "%(d)s"\n'
                'ServerName 127.0.0.1\n'
                'Listen 127.0.0.1:%(port)d\n'
                'PidFile "%(d)s/httpd.pid"\n'
                'ErrorLog "%(d)s/error.log"\n'
                'DefaultRuntimeDir "%(d)s"\n'
                'Mutex file:%(d)s default\n'
                'User www-data\nGroup www-data\n'
                '%(loads)s\n'
                '<IfModule mime_module>\n    TypesConfig /dev/null\n</IfModule>\n'
                '%(extra)s\n'
                'WSGIScriptAlias /hello "%(d)s/hello.wsgi"\n'
                '<Directory "%(d)s">\n    Require all granted\n</Directory>\n'
                % {"d": workdir, "port": port, "loads": loads, "extra": extra})
    with open(os.path.join(workdir, "hello.wsgi"), "w") as f:
        f.write(APP)
    log = open(os.path.join(workdir, "stdout.log"), "w")
    # The environment of the system service: a pyenv or venv on this
    # process's PATH must not be what the embedded Python finds.
    env = {"PATH": SYSTEM_PATH, "LANG": "C"}
    proc = subprocess.Popen([apache, "-f", conf, "-DFOREGROUND"], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def error_log():
        try:
            with open(os.path.join(workdir, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "apache2 exited %s:\n%s" % (
                proc.returncode, error_log())
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "apache2 never listened:\n" + error_log()
                time.sleep(0.1)
        with urllib.request.urlopen("http://127.0.0.1:%d/hello" % port, timeout=15) as r:
            assert r.status == 200
            return r.read().decode()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


@pytest.fixture
def machine(debs):
    """Checks this machine may take the packages, blocks service starts for
    the duration, and purges the packages afterwards."""
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root")
    for tool in ("apt-get", "a2query", "a2enmod", "apache2ctl", "apache2"):
        if not which(tool):
            pytest.skip("%s is missing: apt-get install apache2" % tool)
    for pkg in (MODPKG, PYPKG):
        if package_state(pkg) != "not-installed":
            pytest.skip("%s is already on this machine (%s); the test would "
                        "replace and purge it" % (pkg, package_state(pkg)))
    for name in ("wsgi.load", "wsgi.conf"):
        path = os.path.join(APACHE_CONFDIR, "mods-available", name)
        if os.path.exists(path):
            pytest.skip("%s exists (not from a package); the test would "
                        "replace it" % path)
    apache_before = system_apache_pid()
    made_policy = False
    if not os.path.exists(POLICY_RC_D):
        # The maintainer scripts restart apache2 through invoke-rc.d, which
        # would start the service on a machine with an init system.
        with open(POLICY_RC_D, "w") as f:
            f.write("#!/bin/sh\n# temporary, from mod_wsgi's tests/test_packages.py\nexit 101\n")
        os.chmod(POLICY_RC_D, 0o755)
        made_policy = True
    try:
        yield
    finally:
        try:
            installed = [p for p in (MODPKG, PYPKG)
                         if package_state(p) != "not-installed"]
            if installed:
                apt("purge", *installed)
        finally:
            if made_policy:
                os.unlink(POLICY_RC_D)
        if apache_before is None:
            assert system_apache_pid() is None, "the system apache2 was started"


@pytest.fixture
def www_dir():
    """A temp dir www-data can read (pytest's tmp_path is under a 0700
    dir): the app, the venv and the private Apache's files."""
    path = tempfile.mkdtemp(prefix="mod_wsgi-pkgtest-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_install_serve_disable_remove_purge(debs, machine, www_dir):
    default = py3versions("-dv")[0]
    enabled = os.path.join(APACHE_CONFDIR, "mods-enabled", "wsgi.load")

    # Install: enabled by the maintainer script, configtest passes.
    apt("install", debs[MODPKG], debs[PYPKG])
    assert package_state(MODPKG) == "installed"
    rc, text = a2query("wsgi")
    assert rc == 0 and "enabled by maintainer script" in text, (rc, text)
    assert os.path.islink(enabled)
    assert os.path.exists(os.path.join(A2STATE, "enabled_by_maint", "wsgi"))
    assert os.readlink(os.path.join(MODDIR, "mod_wsgi.so")) == "mod_wsgi.so-" + default
    out = run(["apache2ctl", "configtest"], check=False)
    assert out.returncode == 0 and "Syntax OK" in out.stderr + out.stdout, out
    out = run(["/usr/bin/python3", "-I", "-c",
               "import mod_wsgi; print(mod_wsgi.__version__)"])
    assert out.stdout.strip() == version()
    out = run(["mod_wsgi-express", "--help"])
    assert "module-config" in out.stdout
    # The Python package finds the module the other package installed.
    out = run(["/usr/bin/mod_wsgi-express", "module-location"])
    assert out.stdout.strip() == os.path.join(MODDIR, "mod_wsgi.so-" + default)

    # The rtupdate hook re-points the link to an existing build only.
    out = run([RTUPDATE, "rtupdate", "python3.0", "python3.99"])
    assert "no module for Python 3.99" in out.stderr
    assert os.readlink(os.path.join(MODDIR, "mod_wsgi.so")) == "mod_wsgi.so-" + default
    os.unlink(os.path.join(MODDIR, "mod_wsgi.so"))
    os.symlink("mod_wsgi.so-0.0", os.path.join(MODDIR, "mod_wsgi.so"))
    run([RTUPDATE, "rtupdate", "python3.0", "python" + default])
    assert os.readlink(os.path.join(MODDIR, "mod_wsgi.so")) == "mod_wsgi.so-" + default
    run(["dpkg", "--verify", MODPKG])

    # mod_wsgi-express doctor reads the configuration the package enabled
    # (through apache2 -t -D DUMP_..., as Apache's user) and finds no error.
    out = run(["/usr/bin/mod_wsgi-express", "doctor", "--json", "--config",
               os.path.join(APACHE_CONFDIR, "apache2.conf")], check=False)
    report = json.loads(out.stdout)
    assert out.returncode in (0, 1), out
    assert report["module"] == os.path.join(MODDIR, "mod_wsgi.so"), report
    assert report["module_python"] == default, report
    assert not [f for f in report["findings"] if f["severity"] == "error"], \
        report

    # The system Apache binary, loading what mods-enabled loads, serves an
    # app in embedded mode: first with the system Python, then from a venv
    # named by WSGIPythonHome.
    work = www_dir
    body = serve_once(work).split()
    # The system Python (Debian's prefix is /usr), no venv.
    assert body[0] == default and body[1] == "/usr" and body[2] == "none", body
    venv = os.path.join(work, "venv")
    run(["/usr/bin/python" + default, "-m", "venv", "--without-pip", venv])
    site = run([venv + "/bin/python", "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    marker = "venv-%d" % os.getpid()
    with open(os.path.join(site, "pkgtest_marker.py"), "w") as f:
        f.write("VALUE = %r\n" % marker)
    body = serve_once(work, 'WSGIPythonHome "%s"' % venv).split()
    assert body[0] == default, body
    assert os.path.realpath(body[1]) == os.path.realpath(venv), body
    assert body[2] == marker, body

    # The admin disables it; a reinstall keeps it disabled.
    run(["a2dismod", "-q", "wsgi"])
    assert a2query("wsgi")[0] == 32
    apt("install", "--reinstall", debs[MODPKG])
    rc, text = a2query("wsgi")
    assert rc == 32, (rc, text)
    assert not os.path.lexists(enabled)

    # Enabled again by the admin, then removed: disabled by the
    # maintainer script, conffiles kept.
    run(["a2enmod", "-q", "wsgi"])
    assert a2query("wsgi")[0] == 0 and os.path.islink(enabled)
    apt("remove", MODPKG, PYPKG)
    assert package_state(MODPKG) == "config-files"
    assert package_state(PYPKG) == "not-installed"    # it has no conffiles
    rc, text = a2query("wsgi")
    assert rc == 33, (rc, text)
    assert not os.path.lexists(enabled)
    assert os.path.isfile(os.path.join(APACHE_CONFDIR, "mods-available", "wsgi.load"))
    assert not os.path.lexists(os.path.join(MODDIR, "mod_wsgi.so"))

    # Purge: nothing left.
    apt("purge", MODPKG)
    assert package_state(MODPKG) == "not-installed"
    assert package_state(PYPKG) == "not-installed"
    assert a2query("wsgi")[0] == 1
    left = [p for p in (
        [os.path.join(APACHE_CONFDIR, d, "wsgi." + e)
         for d in ("mods-available", "mods-enabled") for e in ("load", "conf")]
        + [os.path.join(A2STATE, s, "wsgi") for s in
           ("enabled_by_maint", "enabled_by_admin", "disabled_by_maint",
            "disabled_by_admin")]
        + [os.path.join(MODDIR, "mod_wsgi.so"), RTUPDATE,
           "/usr/bin/mod_wsgi-express", "/usr/lib/python3/dist-packages/mod_wsgi"])
        if os.path.lexists(p)]
    assert left == []
    assert not [n for n in os.listdir(MODDIR) if n.startswith("mod_wsgi.so")]


def archive_candidate(pkg):
    """The version apt would install of pkg from the configured archive,
    ignoring what is installed; None if it has none."""
    out = run(["apt-cache", "policy", pkg], check=False).stdout
    m = re.search(r"^\s*Candidate:\s*(\S+)", out, re.M)
    return m.group(1) if m and m.group(1) != "(none)" else None


def test_replaces_debians_package_keeping_the_admin_choice(debs, machine):
    debian = archive_candidate(MODPKG)
    if debian is None or debian.startswith("1:"):
        pytest.skip("no Debian %s in the apt archive to replace" % MODPKG)
    # Debian's own package, disabled by the admin...
    apt("install", "%s=%s" % (MODPKG, debian))
    assert a2query("wsgi")[0] == 0
    run(["a2dismod", "-q", "wsgi"])
    # ...is upgraded in place by ours (the epoch puts it above), which
    # keeps it disabled; apt sees nothing newer in the archive.
    out = apt("install", debs[MODPKG])
    assert re.search(r"Unpacking %s \(1:%s\) over \(%s\)"
                     % (MODPKG, re.escape(version()), re.escape(debian)), out.stdout), out.stdout
    assert run(["dpkg-query", "-W", "-f", "${Version}", MODPKG]).stdout == "1:" + version()
    assert a2query("wsgi")[0] == 32
    assert os.readlink(os.path.join(MODDIR, "mod_wsgi.so")) == \
        "mod_wsgi.so-" + py3versions("-dv")[0]
    out = run(["apt-get", "-s", "install", MODPKG])
    assert "is already the newest version (1:%s)" % version() in out.stdout, out.stdout
    run(["dpkg", "--verify", MODPKG])


# ---- the .rpm ----------------------------------------------------------------

SPEC = os.path.join(TOP, "rpm", "python3-mod_wsgi.spec")


def rpm_query(rpm, fmt):
    return run(["rpm", "-qp", "--qf", fmt, rpm]).stdout


@pytest.fixture(scope="module")
def rpm_pkg(tmp_path_factory):
    if not which("rpmbuild"):
        pytest.skip("rpmbuild is missing: apt-get install rpm")
    dist = str(tmp_path_factory.mktemp("rpms"))
    make("rpm", dist)
    rpms = [n for n in os.listdir(dist) if n.endswith(".rpm")]
    assert len(rpms) == 1 and re.match(
        r"^python3-mod_wsgi-%s-1[^-]*\.[a-z0-9_]+\.rpm$" % re.escape(version()),
        rpms[0]), rpms
    return os.path.join(dist, rpms[0])


def rpm_isa():
    return run(["rpm", "--eval", "%{__isa_name}%{__isa_bits}"]).stdout.strip()


def test_rpm_fields_and_dependencies(rpm_pkg):
    assert rpm_query(rpm_pkg, "%{NAME} %{EPOCH}:%{VERSION} %{SOURCERPM}").split() == [
        "python3-mod_wsgi", "1:" + version(),
        "mod_wsgi-%s-%s.src.rpm" % (version(), rpm_query(rpm_pkg, "%{RELEASE}"))]
    requires = run(["rpm", "-qp", "--requires", rpm_pkg]).stdout.splitlines()
    if which("a2query"):
        mmn = run(["a2query", "-a"]).stdout.strip()
        assert "httpd-mmn = %s%s" % (mmn, rpm_isa()) in requires, requires
    else:
        assert [r for r in requires if r.startswith("httpd-mmn = ")], requires
    provides = run(["rpm", "-qp", "--provides", rpm_pkg]).stdout.splitlines()
    evr = "1:%s-%s" % (version(), rpm_query(rpm_pkg, "%{RELEASE}"))
    assert "mod_wsgi = " + evr in provides, provides
    # The module is not offered as a shared library.
    assert not [p for p in provides if ".so" in p], provides


def test_rpm_file_list(rpm_pkg):
    rows = rpm_query(rpm_pkg, "[%{FILENAMES}\t%{FILEFLAGS:fflags}\t%{FILEMODES:perms}"
                              "\t%{FILELINKTOS}\n]").splitlines()
    files = {}
    for row in rows:
        name, flags, perms, link = row.split("\t")
        files[name] = (flags, perms, link)
    moddir = run(["rpm", "--eval", "%{_libdir}/httpd/modules"]).stdout.strip()
    conf = "/etc/httpd/conf.modules.d/10-wsgi-python3.conf"
    assert files[conf][0] == "cn"                       # %config(noreplace)
    assert files[moddir + "/mod_wsgi_python3.so"][1].startswith("-rwx")
    assert files["/usr/bin/mod_wsgi-express-3"][1].startswith("-rwx")
    assert "/usr/bin/mod_wsgi-express" not in files
    assert [f for f in files if f.startswith("/usr/share/man/man1/mod_wsgi-express-3.1")]
    links = [(f, l) for f, (_, perms, l) in files.items()
             if perms.startswith("l") and "/.build-id/" not in f]
    assert len(links) == 1 and re.search(
        r"/python3\.\d+/site-packages/mod_wsgi/server/mod_wsgi-py3\d+\..*\.so$",
        links[0][0]), links
    assert not links[0][1].startswith("/")
    assert os.path.normpath(os.path.join(os.path.dirname(links[0][0]), links[0][1])) \
        == moddir + "/mod_wsgi_python3.so"
    assert [f for f in files if re.search(r"/mod_wsgi-%s\.dist-info/METADATA$"
                                          % re.escape(version()), f)]
    assert rpm_query(rpm_pkg, "[%{FILENAMES}\n]").count("conf.modules.d/") == 1


def test_rpmlint_is_clean(rpm_pkg):
    if not which("rpmlint"):
        pytest.skip("rpmlint is missing: apt-get install rpmlint")
    out = run(["rpmlint", "-c", os.path.join(TOP, "rpm", "rpmlint.toml"), SPEC, rpm_pkg],
              check=False, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"\b0 errors, 0 warnings\b", out.stdout), out.stdout


def test_rpm_scratch_root_install_verify_serve_erase(rpm_pkg, www_dir):
    root = os.path.join(www_dir, "root")
    os.mkdir(root)
    rpm = ["rpm", "--root", root, "--dbpath", "/var/lib/rpm"]
    nodeps = ["--nodeps"]      # the scratch root has no httpd, python3, libc
    run(rpm + nodeps + ["-i", rpm_pkg])
    assert run(rpm + ["-qa"]).stdout.split() == [
        os.path.basename(rpm_pkg)[:-len(".rpm")]]
    out = run(rpm + nodeps + ["-V", "python3-mod_wsgi"], check=False)
    assert out.returncode == 0 and out.stdout == "", out
    conf = root + "/etc/httpd/conf.modules.d/10-wsgi-python3.conf"
    assert filecmp.cmp(conf, os.path.join(CONF_D, "10-wsgi-python3.conf"), shallow=False)
    moddir = root + run(["rpm", "--eval", "%{_libdir}/httpd/modules"]).stdout.strip()

    # The installed module, loaded by the installed conf (relative to a
    # ServerRoot whose "modules" is the module dir, as in Fedora's
    # /etc/httpd), serves an app from the system Apache binary.
    if os.geteuid() == 0 and which("apache2") and which("a2query"):
        os.symlink(moddir, os.path.join(www_dir, "modules"))
        loads = ("Include %(c)s/mods-enabled/mpm_*.load\n"
                 "Include %(c)s/mods-enabled/authz_core.load\n"
                 'Include "%(conf)s"\n' % {"c": APACHE_CONFDIR, "conf": conf})
        body = serve_once(www_dir, loads=loads).split()
        assert body == [py3versions("-dv")[0], "/usr", "none"], body

    # An edited conffile shows in -V and is kept as .rpmsave on erase.
    mtime = os.stat(conf).st_mtime
    with open(conf, "a") as f:
        f.write("# edited\n")
    # rpm compares whole seconds: an edit within the second the file was
    # written would not show as T.
    os.utime(conf, (mtime - 3600, mtime - 3600))
    out = run(rpm + nodeps + ["-V", "python3-mod_wsgi"], check=False)
    assert re.search(r"^S\.5\.\.\.\.T\.\s+c\s+/etc/httpd/conf\.modules\.d/10-wsgi-python3\.conf$",
                     out.stdout, re.M), out.stdout
    run(rpm + nodeps + ["-e", "python3-mod_wsgi"])
    assert run(rpm + ["-qa"]).stdout.strip() == ""
    left = [os.path.relpath(os.path.join(d, n), root)
            for d, _, names in os.walk(root) for n in names
            if not os.path.join(d, n).startswith(root + "/var/lib/rpm/")]
    assert left == ["etc/httpd/conf.modules.d/10-wsgi-python3.conf.rpmsave"], left


def other_python_venvs():
    """Venvs from MOD_WSGI_TEST_VENVS (made by `make build`, with
    setuptools) of a Python X.Y other than the system python3's."""
    default = py3versions("-dv")[0]
    found = {}
    for v in os.environ.get("MOD_WSGI_TEST_VENVS", "").split():
        py = os.path.join(v, "bin", "python")
        if not os.access(py, os.X_OK):
            continue
        xy = run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()
        if xy != default:
            found[xy] = os.path.abspath(v)
    return found


def test_rpm_flavours_install_side_by_side_one_loaded(rpm_pkg, www_dir):
    if os.geteuid() != 0 or not which("apache2") or not which("a2query"):
        pytest.skip("serving from the system Apache needs root and apache2")
    venvs = other_python_venvs()
    if not venvs:
        pytest.skip("no venv of a Python other than the system python3 in "
                    "MOD_WSGI_TEST_VENVS (make test makes one for pyenv's 3.13)")
    dist = os.path.join(www_dir, "flavours")
    os.mkdir(dist)
    make("variants", dist, "PKG_VENVS=" + " ".join(venvs.values()))
    flavours = sorted(os.path.join(dist, n) for n in os.listdir(dist) if n.endswith(".rpm"))
    assert [re.match(r"python(3\.\d+)-mod_wsgi-", os.path.basename(f)).group(1)
            for f in flavours] == sorted(venvs), flavours

    # All flavours and the default in one root: no file is shared.
    root = os.path.join(www_dir, "root")
    os.mkdir(root)
    rpm = ["rpm", "--root", root, "--dbpath", "/var/lib/rpm"]
    run(rpm + ["--nodeps", "-i", rpm_pkg] + flavours)
    assert len(run(rpm + ["-qa"]).stdout.split()) == 1 + len(flavours)
    out = run(rpm + ["--nodeps", "-Va"], check=False)
    assert out.returncode == 0 and out.stdout == "", out
    confdir = root + "/etc/httpd/conf.modules.d"
    moddir = root + run(["rpm", "--eval", "%{_libdir}/httpd/modules"]).stdout.strip()
    assert sorted(os.listdir(confdir)) == sorted(
        ["10-wsgi-python3.conf"] + ["10-wsgi-python%s.conf" % xy for xy in venvs])
    assert sorted(os.listdir(moddir)) == sorted(
        ["mod_wsgi_python3.so"] + ["mod_wsgi_python%s.so" % xy for xy in venvs])

    # Apache includes conf.modules.d/*.conf in byte order: the first
    # flavour loads the module, the guard makes the others no-ops.
    def serve(name):
        work = os.path.join(www_dir, name)
        os.mkdir(work)
        os.chmod(work, 0o755)
        os.symlink(moddir, os.path.join(work, "modules"))
        loads = ("Include %(c)s/mods-enabled/mpm_*.load\n"
                 "Include %(c)s/mods-enabled/authz_core.load\n"
                 'Include "%(d)s/*.conf"\n' % {"c": APACHE_CONFDIR, "d": confdir})
        body = serve_once(work, loads=loads).split()
        with open(os.path.join(work, "error.log")) as f:
            log = f.read()
        assert "already loaded" not in log, log
        return body[0]

    first = sorted(os.listdir(confdir))[0]
    assert first == "10-wsgi-python%s.conf" % sorted(venvs)[0]
    assert serve("all") == sorted(venvs)[0]

    # The admin picks the default by commenting out the flavours' lines.
    for xy in venvs:
        path = os.path.join(confdir, "10-wsgi-python%s.conf" % xy)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("    LoadModule", "    #LoadModule"))
    assert serve("default") == py3versions("-dv")[0]
