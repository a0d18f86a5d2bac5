"""Builds the Apache module as an "extension" of the Python running pip.

Everything static lives in setup.cfg; this file only computes what
setup.cfg cannot: the compiler flags apxs reports for the Apache the module
will be loaded into, and the link against libpython (Apache, unlike the
python executable, does not provide the interpreter's symbols).

The result is mod_wsgi/server/mod_wsgi-pyXY<EXT_SUFFIX>, e.g.
mod_wsgi-py311.cpython-311-x86_64-linux-gnu.so, next to a generated
apxs_config.py that records which apxs was used and the Apache layout it
reported (the mod_wsgi-express command reads it later).
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

SERVER = os.path.join("mod_wsgi", "server")

NO_APXS = (
    "mod_wsgi: apxs not found. Install the Apache development package "
    "(Debian/Ubuntu: apt-get install apache2-dev; Fedora/RHEL: dnf install "
    "httpd-devel) or set APXS=/path/to/apxs.")

# The apxs answers recorded in apxs_config.py for mod_wsgi-express.
RECORDED = ("LIBEXECDIR", "SBINDIR", "TARGET", "PROGNAME", "SYSCONFDIR",
            "INCLUDEDIR")


def fail(message):
    """Stops the build with one readable message (no traceback)."""
    raise SystemExit("\n" + message + "\n")


def find_apxs():
    env = os.environ.get("APXS")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return os.path.abspath(env)
        fail("mod_wsgi: APXS=%s is not an executable file.\n%s"
             % (env, NO_APXS))
    for name in ("apxs2", "apxs"):
        found = shutil.which(name)
        if found:
            return found
    for directory in ("/usr/sbin", "/usr/bin"):
        for name in ("apxs2", "apxs"):
            path = os.path.join(directory, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    fail(NO_APXS)


def apxs_query(apxs, var):
    """apxs -q VAR, or "" when apxs does not know VAR."""
    try:
        out = subprocess.run([apxs, "-q", var], capture_output=True,
                             text=True, timeout=60)
    except OSError as exc:
        fail("mod_wsgi: cannot run %s: %s\n%s" % (apxs, exc, NO_APXS))
    return out.stdout.strip() if out.returncode == 0 else ""


def config_includes(tool):
    """The flags `apr-1-config --includes` (or apu-1-config) prints; none
    when apxs names no such tool or it is not installed."""
    path = shutil.which(tool) if tool else None
    if not path:
        return []
    out = subprocess.run([path, "--includes"], capture_output=True,
                         text=True, timeout=60)
    return out.stdout.split() if out.returncode == 0 else []


def python_headers():
    include = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(include, "Python.h")):
        fail("mod_wsgi: the C headers of this Python (%s) are missing "
             "(no Python.h in %s). Debian/Ubuntu: apt-get install "
             "python3-dev; Fedora/RHEL: dnf install python3-devel."
             % (sys.executable, include))


def libpython():
    """(libdir, name) to link against: -L<libdir> -l<name>."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ldversion = (sysconfig.get_config_var("LDVERSION")
                 or "%d.%d" % sys.version_info[:2])
    name = "python" + ldversion
    has_so = os.path.exists(os.path.join(libdir, "lib%s.so" % name))
    if not sysconfig.get_config_var("Py_ENABLE_SHARED") and not has_so:
        fail("mod_wsgi: this Python (%s) has no shared libpython, which "
             "Apache needs to load it. Use a Python built with "
             "--enable-shared (Debian: apt-get install python3-dev; pyenv: "
             "PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install X.Y)."
             % sys.executable)
    if not has_so:
        # Shared build, but the unversioned link name (a -dev package
        # file) is missing, so -l<name> would fail with a cryptic error.
        fail("mod_wsgi: lib%s.so, needed to link the module, is not in %s. "
             "Debian/Ubuntu: apt-get install python3-dev; Fedora/RHEL: dnf "
             "install python3-devel." % (name, libdir))
    return libdir, name


def is_system_libdir(libdir):
    """True for directories the dynamic linker searches anyway."""
    system = {"/lib", "/lib64", "/usr/lib", "/usr/lib64"}
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        system.update({"/lib/" + multiarch, "/usr/lib/" + multiarch})
    return os.path.normpath(libdir) in system


def module_extension(apxs, q):
    if not q["INCLUDEDIR"] or not os.path.isfile(
            os.path.join(q["INCLUDEDIR"], "httpd.h")):
        fail("mod_wsgi: %s reports no Apache headers (no httpd.h in %r). "
             "Install the Apache development package (Debian/Ubuntu: "
             "apt-get install apache2-dev; Fedora/RHEL: dnf install "
             "httpd-devel)." % (apxs, q["INCLUDEDIR"]))
    python_headers()
    libdir, pylib = libpython()

    # apxs's own flags first and in the order apxs gives them, then ours.
    compile_args = (q["CFLAGS"].split() + q["CPPFLAGS"].split()
                    + q["EXTRA_CPPFLAGS"].split() + q["EXTRA_CFLAGS"].split())
    include_dirs = [q["INCLUDEDIR"]]
    for flag in (config_includes(q["APR_CONFIG"])
                 + config_includes(q["APU_CONFIG"])):
        if flag.startswith("-I"):
            if flag[2:] not in include_dirs:
                include_dirs.append(flag[2:])
        else:
            compile_args.append(flag)
    compile_args += ["-Wall", "-Wextra", "-Wundef",
                     "-Werror=implicit-function-declaration"]

    link_args = ["-L" + libdir, "-l" + pylib]
    if not is_system_libdir(libdir):
        link_args.append("-Wl,-rpath," + libdir)

    return Extension(
        "mod_wsgi.server.mod_wsgi-py%d%d" % sys.version_info[:2],
        sources=sorted(glob.glob(os.path.join(SERVER, "*.c"))),
        depends=sorted(glob.glob(os.path.join(SERVER, "*.h"))),
        include_dirs=include_dirs,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


def write_apxs_config(path, apxs, q):
    with open(path, "w") as f:
        f.write('"""Generated by setup.py at build time: the apxs the module '
                'was built with\nand the Apache layout it reported."""\n\n')
        f.write("APXS = %r\n" % apxs)
        for key in RECORDED:
            f.write("%s = %r\n" % (key, q[key]))


class build_module(build_ext):
    """Compiles the module. It is an Apache module, not a Python extension
    (it exports no PyInit_ function).

    Always from scratch: build/lib.<platform>-cpython-XY is shared by every
    Python X.Y that builds in this tree (Debian's and pyenv's 3.11, say),
    so a module that looks up to date may be linked to another libpython.
    The sources compile in parallel to keep that cheap."""

    def finalize_options(self):
        super().finalize_options()
        self.force = True
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def get_export_symbols(self, ext):
        return []

    def run(self):
        super().run()
        if self.inplace:
            write_apxs_config(os.path.join(SERVER, "apxs_config.py"),
                              APXS, QUERY)


class build_package(build_py):
    """Copies the Python package and writes apxs_config.py into it."""

    def run(self):
        super().run()
        if not self.dry_run:
            target = os.path.join(self.build_lib, SERVER)
            os.makedirs(target, exist_ok=True)
            write_apxs_config(os.path.join(target, "apxs_config.py"),
                              APXS, QUERY)
            copy_docs(os.path.join(self.build_lib, "mod_wsgi", "docs"))


def copy_docs(target):
    """docs/*.md into the package, for mod_wsgi-express --enable-docs,
    with an index.md that links them (README.md first)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sources = [os.path.join(here, "README.md")] + sorted(glob.glob(
        os.path.join(here, "docs", "*.md")))
    os.makedirs(target, exist_ok=True)
    index = ["# mod_wsgi documentation", ""]
    for source in sources:
        name = os.path.basename(source)
        shutil.copyfile(source, os.path.join(target, name))
        with open(source, encoding="utf-8") as f:
            title = f.readline().lstrip("# ").strip() or name
        index.append("- [%s](%s)" % (title, name))
    with open(os.path.join(target, "index.md"), "w") as f:
        f.write("\n".join(index) + "\n")


APXS = find_apxs()
QUERY = {var: apxs_query(APXS, var) for var in (
    "CFLAGS", "CPPFLAGS", "EXTRA_CPPFLAGS", "EXTRA_CFLAGS", "APR_CONFIG",
    "APU_CONFIG") + RECORDED}

setup(
    ext_modules=[module_extension(APXS, QUERY)],
    cmdclass={"build_ext": build_module, "build_py": build_package},
)
