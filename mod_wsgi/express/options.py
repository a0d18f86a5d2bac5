"""Declarative registry of mod_wsgi-express options.

Each option is declared once (name, flags, type, default, help, validator);
the argument parser and, later, the config renderer are generated from
this registry, so names, defaults and help text never drift apart.
"""

import argparse


class Option:
    def __init__(self, name, flags, help, type=str, default=None,
                 validator=None, action=None, metavar=None, commands=()):
        self.name = name
        self.flags = flags
        self.help = help
        self.type = type
        self.default = default
        self.validator = validator
        self.action = action
        self.metavar = metavar
        self.commands = commands

    def add_to(self, parser):
        kwargs = {"dest": self.name, "help": self.help,
                  "default": self.default}
        if self.action:
            kwargs["action"] = self.action
        else:
            kwargs["type"] = self._convert
            if self.metavar:
                kwargs["metavar"] = self.metavar
        parser.add_argument(*self.flags, **kwargs)

    def _convert(self, text):
        value = self.type(text)
        if self.validator is not None:
            problem = self.validator(value)
            if problem:
                raise argparse.ArgumentTypeError(problem)
        return value


def directory_exists(value):
    import os
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
    return [o for o in REGISTRY if command in o.commands]
