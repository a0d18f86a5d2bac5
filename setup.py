"""Builds the Apache module as an extension of the Python running pip.

The compiler and linker flags come from apxs, so the module matches the
Apache it will be loaded into; libpython is linked explicitly, because
Apache (unlike python) does not provide its symbols.
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join("mod_wsgi", "server")


class BuildError(SystemExit):
    pass


def find_apxs():
    env = os.environ.get("APXS")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise BuildError("mod_wsgi: APXS=%s is not an executable file. Set "
                         "APXS to the apxs of your Apache, or unset it." % env)
    for name in ("apxs2", "apxs"):
        found = shutil.which(name)
        if found:
            return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/apache2/bin"):
        for name in ("apxs2", "apxs"):
            path = os.path.join(d, name)
            if os.access(path, os.X_OK):
                return path
    raise BuildError(
        "mod_wsgi: apxs not found. Install the Apache development package "
        "(Debian/Ubuntu: apt-get install apache2-dev; Fedora/RHEL: dnf "
        "install httpd-devel) or set APXS=/path/to/apxs.")


def apxs_query(apxs, var):
    out = subprocess.run([apxs, "-q", var], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def config_includes(tool):
    if not tool or not shutil.which(tool):
        return []
    out = subprocess.run([tool, "--includes"], capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else []


def libpython():
    """Returns (libdir, library name) of the shared libpython."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ldversion = (sysconfig.get_config_var("LDVERSION")
                 or "%d.%d" % sys.version_info[:2])
    name = "python" + ldversion
    shared = sysconfig.get_config_var("Py_ENABLE_SHARED")
    candidates = [os.path.join(libdir, "lib%s.so" % name)]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates.append(os.path.join("/usr/lib", multiarch, "lib%s.so" % name))
    if not shared and not any(os.path.exists(c) for c in candidates):
        raise BuildError(
            "mod_wsgi: this Python (%s) has no shared libpython, which "
            "Apache needs to load it. Use a Python built with "
            "--enable-shared (Debian: apt-get install python3-dev; pyenv: "
            "PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install X.Y)."
            % sys.executable)
    return libdir, name


def write_apxs_config(apxs, values):
    path = os.path.join(HERE, SERVER, "apxs_config.py")
    with open(path, "w") as f:
        f.write('"""Generated at build time: the Apache this module was built '
                'for."""\n\n')
        f.write("APXS = %r\n" % apxs)
        for key, value in sorted(values.items()):
            f.write("%s = %r\n" % (key, value))


def module_extension():
    apxs = find_apxs()
    q = {v: apxs_query(apxs, v) for v in (
        "CFLAGS", "CPPFLAGS", "EXTRA_CPPFLAGS", "EXTRA_CFLAGS", "INCLUDEDIR",
        "APR_CONFIG", "APU_CONFIG", "LIBEXECDIR", "SBINDIR", "TARGET",
        "SYSCONFDIR", "PROGNAME")}
    if not q["INCLUDEDIR"] or not os.path.exists(
            os.path.join(q["INCLUDEDIR"], "httpd.h")):
        raise BuildError("mod_wsgi: %s reports no Apache headers (httpd.h "
                         "not in %r). Install the Apache development "
                         "package." % (apxs, q["INCLUDEDIR"]))
    write_apxs_config(apxs, {k: q[k] for k in (
        "LIBEXECDIR", "SBINDIR", "TARGET", "SYSCONFDIR", "INCLUDEDIR",
        "PROGNAME")})
    libdir, pylib = libpython()
    compile_args = (q["CFLAGS"].split() + q["CPPFLAGS"].split()
                    + q["EXTRA_CPPFLAGS"].split() + q["EXTRA_CFLAGS"].split()
                    + ["-Wall", "-Wextra", "-Wundef",
                       "-Werror=implicit-function-declaration"])
    include_dirs = [q["INCLUDEDIR"]]
    for flag in config_includes(q["APR_CONFIG"]) + config_includes(q["APU_CONFIG"]):
        if flag.startswith("-I"):
            include_dirs.append(flag[2:])
    link_args = ["-L" + libdir, "-l" + pylib]
    system_dirs = {"/usr/lib", "/usr/lib64", "/lib", "/lib64"}
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        system_dirs.update({"/usr/lib/" + multiarch, "/lib/" + multiarch})
    if libdir and os.path.normpath(libdir) not in system_dirs:
        link_args.append("-Wl,-rpath," + libdir)
    sources = sorted(glob.glob(os.path.join(SERVER, "*.c")))
    return Extension(
        "mod_wsgi.server.mod_wsgi-py%d%d" % sys.version_info[:2],
        sources=sources,
        depends=sorted(glob.glob(os.path.join(SERVER, "*.h"))),
        include_dirs=include_dirs,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


class build_module(build_ext):
    """The module is no Python extension: it exports no PyInit_ symbol."""

    def get_export_symbols(self, ext):
        return []


setup(ext_modules=[module_extension()], cmdclass={"build_ext": build_module})
