"""The Apache module built for this Python, and where to find it."""

import glob
import importlib.machinery
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def module_name():
    """File name of the module built for the running Python."""
    return "mod_wsgi-py%d%d%s" % (sys.version_info[:2]
                                   + (importlib.machinery.EXTENSION_SUFFIXES[0],))


def module_location():
    """Absolute path of the built module, or None if it was not built."""
    path = os.path.join(HERE, module_name())
    if os.path.exists(path):
        return path
    # A build for this X.Y with another ABI tag (e.g. a debug build).
    found = sorted(glob.glob(os.path.join(
        HERE, "mod_wsgi-py%d%d*.so" % sys.version_info[:2])))
    return found[0] if found else None


def apxs_config():
    """What apxs said at build time (a dict), empty if unknown."""
    try:
        from mod_wsgi.server import apxs_config as cfg
    except ImportError:
        return {}
    return {k: v for k, v in vars(cfg).items() if k.isupper()}
