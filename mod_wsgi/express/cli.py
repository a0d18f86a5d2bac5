"""The mod_wsgi-express command line."""

import argparse
import os
import shutil
import sys

from mod_wsgi.express import options
from mod_wsgi.server import apxs_config, module_location

LATER = ("%s is not implemented yet in this version of mod_wsgi-express "
         "(see the issue 'mod_wsgi-express'); module-config, "
         "module-location and install-module work.")


def _module_or_exit():
    path = module_location()
    if path is None:
        sys.stderr.write(
            "mod_wsgi-express: the Apache module for Python %d.%d is not "
            "built in %s; reinstall with 'pip install mod_wsgi' (needs "
            "apxs from apache2-dev / httpd-devel).\n"
            % (sys.version_info[:2] + (os.path.dirname(
                os.path.abspath(__file__)),)))
        sys.exit(1)
    return path


def _config_lines(module_path):
    return ['LoadModule wsgi_module "%s"' % module_path,
            'WSGIPythonHome "%s"' % sys.prefix]


def cmd_module_location(args):
    print(_module_or_exit())
    return 0


def cmd_module_config(args):
    for line in _config_lines(_module_or_exit()):
        print(line)
    return 0


def cmd_install_module(args):
    source = _module_or_exit()
    target_dir = args.modules_directory or apxs_config().get("LIBEXECDIR")
    if not target_dir:
        sys.stderr.write("mod_wsgi-express: Apache's modules directory is "
                         "unknown; pass --modules-directory DIR.\n")
        return 1
    target = os.path.join(target_dir, os.path.basename(source))
    shutil.copyfile(source, target + ".tmp")
    os.chmod(target + ".tmp", 0o644)
    os.replace(target + ".tmp", target)
    for line in _config_lines(target):
        print(line)
    return 0


def cmd_later(args):
    sys.stderr.write("mod_wsgi-express: " + LATER % args.command + "\n")
    return 2


COMMANDS = [
    ("start-server", "Run Apache in the foreground for one WSGI application.",
     cmd_later),
    ("setup-server", "Write a server root for one WSGI application without "
     "starting it.", cmd_later),
    ("module-config", "Print the LoadModule and WSGIPythonHome lines for a "
     "system Apache.", cmd_module_config),
    ("module-location", "Print the path of the Apache module built for this "
     "Python.", cmd_module_location),
    ("install-module", "Copy the module into Apache's modules directory and "
     "print the configuration lines.", cmd_install_module),
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mod_wsgi-express",
        description="Tools for the mod_wsgi Apache module built for this "
                    "Python.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help, func in COMMANDS:
        p = sub.add_parser(name, help=help, description=help)
        for opt in options.options_for(name):
            opt.add_to(p)
        if name in ("start-server", "setup-server"):
            p.add_argument("script", nargs="?", help="WSGI script to serve")
        p.set_defaults(func=func)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
