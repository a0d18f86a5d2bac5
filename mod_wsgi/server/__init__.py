"""The Apache module built for this Python, and where to find it.

setup.py builds it as mod_wsgi-py<X><Y><EXT_SUFFIX> in this directory,
e.g. mod_wsgi-py311.cpython-311-x86_64-linux-gnu.so, so several Pythons
can share one source tree without overwriting each other's module.
"""

import glob
import importlib
import os
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))


def module_name():
    """File name of the module built for the running Python."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return "mod_wsgi-py%d%d%s" % (sys.version_info[:2] + (suffix,))


# Where distro packages put the module for Python X.Y when the Python
# package comes without it: Debian's libapache2-mod-wsgi-py3 (one
# mod_wsgi.so-X.Y per supported Python), Fedora's python3-mod_wsgi.
DISTRO_MODULES = ("/usr/lib/apache2/modules/mod_wsgi.so-%d.%d",
                  "/usr/lib64/httpd/modules/mod_wsgi_python%d.%d.so",
                  "/usr/lib/httpd/modules/mod_wsgi_python%d.%d.so")


def module_location():
    """Absolute path of the module built for the running Python, or None
    if it was not built (or not installed with this package)."""
    path = os.path.join(HERE, module_name())
    if os.path.isfile(path):
        return path
    # Same X.Y, another ABI tag (e.g. a debug build of the interpreter).
    found = sorted(glob.glob(os.path.join(
        HERE, "mod_wsgi-py%d%d.*.so" % sys.version_info[:2])))
    if found:
        return found[0]
    # The Python package installed by a distro package, the module by
    # another: only for the system's own Python, never a venv's.
    if sys.prefix == sys.base_prefix:
        for pattern in DISTRO_MODULES:
            candidate = pattern % sys.version_info[:2]
            if os.path.isfile(candidate):
                return candidate
    return None


def build_settings():
    """What apxs reported when the module was built, as a dict (APXS,
    LIBEXECDIR, SBINDIR, TARGET, PROGNAME, SYSCONFDIR, INCLUDEDIR); empty
    if unknown. setup.py writes them to the generated apxs_config.py."""
    try:
        generated = importlib.import_module("mod_wsgi.server.apxs_config")
    except ImportError:
        return {}
    return {k: v for k, v in vars(generated).items() if k.isupper()}
