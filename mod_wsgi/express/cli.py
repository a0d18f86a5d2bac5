"""The mod_wsgi-express command line.

Each subcommand is one entry in COMMANDS; its options come from the
registry in mod_wsgi.express.options.
"""

import argparse
import os
import shlex
import shutil
import sys

from mod_wsgi.express import apache_conf, doctor, features, options
from mod_wsgi.express import server as express_server
from mod_wsgi.express.errors import ExpressError
from mod_wsgi.server import build_settings


class CommandError(ExpressError):
    """A failure to report in one line and exit 1."""


def config_lines(module_path, what):
    """The two lines that load the module into a system Apache. They go
    into a configuration file as httpd.conf's lines do, so the same rule
    refuses what Apache would misread (apache_conf.quoted raises
    ConfigValueError naming `what` and the value)."""
    return ["LoadModule wsgi_module %s" % apache_conf.quoted(module_path,
                                                             what),
            "WSGIPythonHome %s" % apache_conf.quoted(
                os.path.normpath(sys.prefix),
                "the Python prefix (sys.prefix)")]


def cmd_module_location(args):
    print(express_server.module_path())
    return 0


def cmd_module_config(args):
    print("\n".join(config_lines(express_server.module_path(),
                                 "the mod_wsgi module path")))
    return 0


def cmd_install_module(args):
    source = express_server.module_path()
    target_dir = args.modules_directory or build_settings().get("LIBEXECDIR")
    if not target_dir:
        raise CommandError("Apache's modules directory is unknown; pass "
                           "--modules-directory DIR.")
    target = os.path.join(os.path.abspath(target_dir),
                          os.path.basename(source))
    # Checked before anything is copied: a path Apache would misread
    # leaves no module behind.
    lines = config_lines(target, "the installed module path "
                                 "(--modules-directory)")
    try:
        shutil.copyfile(source, target + ".tmp")
        os.chmod(target + ".tmp", 0o644)
        os.replace(target + ".tmp", target)
    except OSError as exc:
        raise CommandError("cannot install %s: %s" % (target, exc))
    print("\n".join(lines))
    return 0


def command_line(argv):
    return shlex.join(["mod_wsgi-express"] + list(
        sys.argv[1:] if argv is None else argv))


def _setup(args):
    s = express_server.setup_server(args, command_line(args.argv))
    for line in features.notes(s):
        sys.stderr.write("mod_wsgi-express: %s\n" % line)
    return s


def cmd_setup_server(args):
    s = _setup(args)
    print("Server root        : %s" % s.server_root)
    print("Start it with      : %s start"
          % os.path.join(s.server_root, "apachectl"))
    return 0


def cmd_start_server(args):
    if args.setup_only:
        return cmd_setup_server(args)
    features.check_ports(args)
    s = _setup(args)
    sys.stdout.write(express_server.summary(s))
    return express_server.start_server(s)


def cmd_doctor(args):
    return doctor.main(args)


# (name, help, handler, positional arguments; a function there adds the
# command's own arguments to its parser)
COMMANDS = [
    ("start-server", "Run Apache in the foreground for one WSGI "
     "application.", cmd_start_server, ["script"]),
    ("setup-server", "Write a server root for one WSGI application, "
     "without starting it.", cmd_setup_server, ["script"]),
    ("module-config", "Print the LoadModule and WSGIPythonHome lines that "
     "load this module into a system Apache.", cmd_module_config, []),
    ("module-location", "Print the path of the Apache module built for this "
     "Python.", cmd_module_location, []),
    ("install-module", "Copy the module into Apache's modules directory and "
     "print the lines that load it.", cmd_install_module, []),
    ("doctor", "Check an Apache configuration that loads mod_wsgi for "
     "set-ups that cannot work; exit 0 clean, 1 warnings, 2 errors.",
     cmd_doctor, [doctor.add_arguments]),
]


def add_options(parser, command, skip=()):
    """Adds the registered options of a subcommand to an argparse parser,
    one argument group per section."""
    groups = {}
    for opt in options.options_for(command):
        if opt.name in skip:
            continue
        if opt.section not in groups:
            groups[opt.section] = parser.add_argument_group(opt.section)
        opt.add_to(groups[opt.section])


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mod_wsgi-express",
        description="Run and configure Apache with the mod_wsgi module "
                    "built for this Python.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help, handler, positionals in COMMANDS:
        p = sub.add_parser(name, help=help, description=help)
        if "script" in positionals:
            p.add_argument("script", nargs="?",
                           help="the WSGI script file (or, with "
                                "--application-type, module or "
                                "directory) to serve")
        for add in positionals:
            if callable(add):
                add(p)
        add_options(p, name)
        p.set_defaults(handler=handler)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except ExpressError as exc:
        sys.stderr.write("mod_wsgi-express: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
