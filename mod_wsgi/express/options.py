"""Declarative registry of mod_wsgi-express options.

Each option is declared once: name, command-line flags, type, default,
help and an optional validator, plus the subcommands that take it. The
argument parsers (and later the generated Apache configuration and the
docs) are derived from this registry, so names, defaults and help text
cannot drift apart.
"""

import argparse
import os


class Option:
    def __init__(self, name, flags, help, type=str, default=None,
                 validator=None, action=None, metavar=None, commands=()):
        self.name = name            # attribute name on the parsed args
        self.flags = flags          # e.g. ["--port"]
        self.help = help
        self.type = type            # converts the command-line text
        self.default = default
        self.validator = validator  # value -> None, or a problem message
        self.action = action        # argparse action, e.g. "store_true"
        self.metavar = metavar
        self.commands = commands    # subcommands that accept the option

    def add_to(self, parser):
        kwargs = {"dest": self.name, "help": self.help,
                  "default": self.default}
        if self.action:
            kwargs["action"] = self.action
        else:
            kwargs["type"] = self.convert
            if self.metavar:
                kwargs["metavar"] = self.metavar
        parser.add_argument(*self.flags, **kwargs)

    def convert(self, text):
        try:
            value = self.type(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc))
        if self.validator is not None:
            problem = self.validator(value)
            if problem:
                raise argparse.ArgumentTypeError(problem)
        return value


def directory_exists(value):
    if not os.path.isdir(value):
        return "%r is not a directory" % value
    return None


REGISTRY = [
    Option("modules_directory", ["--modules-directory"],
           "Apache's modules directory to install the module into "
           "(default: the LIBEXECDIR apxs reported at build time).",
           validator=directory_exists, metavar="DIR",
           commands=("install-module",)),
]


def options_for(command):
    """The registered options of one subcommand, in registry order."""
    return [o for o in REGISTRY if command in o.commands]
