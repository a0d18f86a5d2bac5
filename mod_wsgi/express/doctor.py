"""mod_wsgi-express doctor: the set-ups that cannot work, found before
the users' first 500.

It reads the configuration the way Apache does: Apache itself is run
with `-t -D DUMP_INCLUDES`, `-t -D DUMP_MODULES`, `-S` and `-V` (after
sourcing the envvars file next to the configuration, as apache2ctl and
a mod_wsgi-express apachectl do), and the included files are walked in
Apache's order to find every LoadModule, User, Group, MPM and WSGI*
line with its file:line. Each path is then checked as the user who
needs it would see it: in a child process that switched to that user
when the doctor runs as root, by walking the modes and POSIX ACLs
otherwise.

Every check is one function in CHECKS, taking the gathered Setup and
yielding Findings; docs/doctor.md lists them with what each prints.
"""

import argparse
import ast
import dataclasses
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

from mod_wsgi.express import platform
from mod_wsgi.express.doctor_access import (User, denied_as, describe,
                                            lookup_group, lookup_user)
from mod_wsgi.server import build_settings

ERROR = "error"
WARNING = "warning"

# Bounds on everything run: Apache, the envvars shell, the access-check
# child, dpkg/rpm; importing a script gets longer.
TIMEOUT = 30
IMPORT_TIMEOUT = 60

# Extension modules that cannot work (or only with warnings and crashes)
# in a sub-interpreter: they need WSGIApplicationGroup %{GLOBAL}.
MAIN_INTERPRETER_ONLY = (
    "numpy", "scipy", "pandas", "sklearn", "matplotlib", "lxml", "shapely",
    "pyarrow", "torch", "tensorflow", "cv2", "xmlsec", "grpc",
    # PyO3 extensions refuse to load in a second interpreter.
    "cryptography", "pydantic_core", "orjson", "bcrypt", "rpds")

# Where distro packages put their mod_wsgi.
DISTRO_MODULES = ("/usr/lib/apache2/modules/mod_wsgi.so",
                  "/usr/lib64/httpd/modules/mod_wsgi_python3.so",
                  "/usr/lib64/httpd/modules/mod_wsgi.so")

BUILD_INFO = re.compile(rb"mod_wsgi-build-info: ([ -~]+)")
LIBPYTHON = re.compile(rb"libpython(\d+\.\d+)")


# ---------------------------------------------------------------- findings

@dataclasses.dataclass
class Finding:
    severity: str               # ERROR or WARNING
    check: str                  # the check's name in CHECKS
    message: str                # what is wrong
    fix: str                    # the command or configuration line
    file: Optional[str] = None  # where, in the configuration
    line: Optional[int] = None

    def where(self):
        if self.file is None:
            return None
        return "%s:%d" % (self.file, self.line) if self.line else self.file

    def text(self):
        where = self.where()
        return "%s: %s%s Fix: %s" % (self.severity, where + ": " if where
                                     else "", self.message, self.fix)

    def as_dict(self):
        return dataclasses.asdict(self)


def error(check, message, fix, at=None):
    return _finding(ERROR, check, message, fix, at)


def warning(check, message, fix, at=None):
    return _finding(WARNING, check, message, fix, at)


def _finding(severity, check, message, fix, at):
    file, line = (at.file, at.line) if at is not None else (None, None)
    return Finding(severity, check, message, fix, file, line)


# --------------------------------------------------- reading configuration

@dataclasses.dataclass
class Directive:
    name: str               # lower case
    args: List[str]
    file: str
    line: int
    # Enclosing sections, outermost first: (name, args, file, line).
    context: Tuple = ()

    def opt(self, key, default=None):
        """A key=value option of the arguments (WSGIDaemonProcess,
        WSGIScriptAlias...)."""
        for arg in self.args:
            if arg.lower().startswith(key + "="):
                return arg.split("=", 1)[1]
        return default

    def section(self, name):
        for entry in self.context:
            if entry[0] == name:
                return entry
        return None


def split_args(text, options=False):
    """The words of a directive line as Apache's ap_getword_conf splits
    them: blanks separate, "..." and '...' quote (a backslash escapes the
    quote inside). With options (the WSGI directives), a word key=VALUE
    has its VALUE read by the same rules, as mod_wsgi does: a quoted
    python-home="/srv/my venv" is one word, python-home=/srv/my venv."""
    words, i, n = [], 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return words
        key = re.match(r"[^=\s\"']+=(?=[\"'])", text[i:]) if options else None
        if key:
            i += key.end()
        word, i = _word(text, i)
        words.append((key.group(0) if key else "") + word)


def _word(text, i):
    """One ap_getword_conf word at text[i:], and where the next begins."""
    n = len(text)
    if text[i] in "\"'":
        quote, i, word = text[i], i + 1, []
        while i < n and text[i] != quote:
            if text[i] == "\\" and i + 1 < n and text[i + 1] == quote:
                i += 1
            word.append(text[i])
            i += 1
        return "".join(word), i + 1
    j = i
    while j < n and not text[j].isspace():
        j += 1
    return text[i:j], j


def logical_lines(path):
    """(first line number, text) of a configuration file, continuation
    lines (ending in a backslash) joined."""
    pending, start = "", None
    with open(path, errors="replace") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            start = number if start is None else start
            if line.endswith("\\"):
                pending += line[:-1]
                continue
            yield start, (pending + line).strip()
            pending, start = "", None
    if start is not None:
        yield start, pending.strip()


def module_name(spec):
    """IfModule's argument as a module identifier: mod_alias.c and
    alias_module both name alias_module."""
    m = re.match(r"^mod_(\w+)\.c$", spec)
    return m.group(1) + "_module" if m else spec


class Walker:
    """Walks a configuration file and what it includes in Apache's order,
    evaluating IfModule (against the modules loaded so far), IfDefine and
    IfFile as Apache does at start-up, and records every directive with
    its file:line and enclosing sections."""

    CONDITIONS = ("ifmodule", "ifdefine", "iffile")

    def __init__(self, server_root, env, modules=()):
        self.server_root = server_root
        self.env = env
        self.defines = {}
        self.modules = set(modules)
        self.directives = []
        self.files = []

    def relative(self, path):
        return os.path.normpath(os.path.join(self.server_root, path))

    def expand(self, text):
        def value(m):
            name = m.group(1)
            if name in self.defines:
                return self.defines[name]
            return self.env.get(name, m.group(0))
        return re.sub(r"\$\{([^}]+)\}", value, text)

    def walk(self, path, context=(), depth=0):
        if depth > 32 or not os.path.isfile(path):
            return
        self.files.append(path)
        try:
            self._lines(path, context, depth)
        except OSError:
            pass        # a file the doctor may not read: Apache's -t says

    def _lines(self, path, context, depth):
        stack = []      # (name, args, file, line, active)
        for number, text in logical_lines(path):
            if not text or text.startswith("#"):
                continue
            active = all(s[4] for s in stack)
            if text.startswith("</"):
                if stack:
                    stack.pop()
            elif text.startswith("<"):
                stack.append(self._open(text, path, number, active))
            elif active:
                self._directive(text, path, number,
                                tuple(context) + tuple(s[:4] for s in stack),
                                depth)

    def _open(self, text, path, number, active):
        head = self.expand(text[1:].rstrip(">").strip())
        name, rest = (re.split(r"\s+", head, maxsplit=1) + [""])[:2]
        name, args = name.lower(), split_args(rest)
        if active and name in self.CONDITIONS:
            active = self._condition(name, args[0] if args else "")
        return (name, args, path, number, active)

    def _condition(self, name, arg):
        negate = arg.startswith("!")
        arg = arg[1:] if negate else arg
        if name == "ifmodule":
            true = module_name(arg) in self.modules
        elif name == "ifdefine":
            true = arg in self.defines
        else:
            true = os.path.exists(self.relative(arg))
        return true != negate

    def _directive(self, text, path, number, context, depth):
        words = split_args(self.expand(text),
                           options=text[:4].lower() == "wsgi")
        if not words:
            return
        d = Directive(words[0].lower(), words[1:], path, number, context)
        self.directives.append(d)
        if d.name in ("include", "includeoptional"):
            for target in self._included(d.args):
                self.walk(target, context, depth + 1)
        elif d.name == "define" and d.args:
            self.defines[d.args[0]] = d.args[1] if len(d.args) > 1 else ""
        elif d.name == "undefine" and d.args:
            self.defines.pop(d.args[0], None)
        elif d.name == "serverroot" and d.args:
            self.server_root = d.args[0]
        elif d.name == "loadmodule" and d.args:
            self.modules.add(d.args[0])

    def _included(self, patterns):
        found = []
        for pattern in patterns:
            path = self.relative(pattern)
            if glob.has_magic(path):
                found += sorted(p for p in glob.glob(path)
                                if os.path.isfile(p))
            elif os.path.isdir(path):
                found += sorted(os.path.join(root, f) for root, _, files
                                in os.walk(path) for f in files)
            else:
                found.append(path)
        return found


# ---------------------------------------------------------- running Apache

def clean_environment():
    # The doctor's own PYTHON* variables are not Apache's.
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PYTHON")}


def sourced_environment(envvars, base):
    """The environment after sourcing an envvars file, as apache2ctl and
    a mod_wsgi-express apachectl do before running Apache."""
    if not envvars or not os.path.isfile(envvars):
        return base
    try:
        out = subprocess.run(
            ["/bin/sh", "-c", '. "$1" >/dev/null 2>&1; env -0', "sh",
             envvars], env=base, capture_output=True, timeout=TIMEOUT,
            stdin=subprocess.DEVNULL, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return base
    env = dict(base)
    for item in out.stdout.decode(errors="replace").split("\0"):
        if "=" in item:
            key, value = item.split("=", 1)
            env[key] = value
    return env


class Apache:
    """The Apache binary, run on the configuration being checked."""

    def __init__(self, httpd, config, server_root, env):
        self.httpd = httpd
        self.config = config
        self.server_root = server_root
        self.env = env

    def run(self, *flags):
        """(exit status or None, combined output)."""
        if not self.httpd:
            return None, ""
        argv = [self.httpd] + (["-d", self.server_root] if self.server_root
                               else []) + ["-f", self.config] + list(flags)
        try:
            out = subprocess.run(argv, capture_output=True, text=True,
                                 errors="replace", timeout=TIMEOUT,
                                 env=self.env, stdin=subprocess.DEVNULL,
                                 cwd="/")
        except subprocess.TimeoutExpired:
            return None, "%s did not answer within %d s" % (
                shlex.join(argv), TIMEOUT)
        except OSError as exc:
            return None, "%s: %s" % (self.httpd, exc)
        return out.returncode, out.stdout + out.stderr


def parse_includes(text):
    if "Included configuration files:" not in text:
        return None
    return [m.group(1).strip() for m in re.finditer(
        r"^\s*\((?:\*|\d+)\)\s+(\S.*)$", text, re.M)]


def parse_modules(text):
    if "Loaded Modules:" not in text:
        return None
    return set(re.findall(r"^\s*(\w+_module) \((?:static|shared)\)", text,
                          re.M))


def parse_run_config(text):
    """User, Group, ServerRoot and Define lines of `-S`."""
    found = {"defines": re.findall(r"^Define: (\S+)", text, re.M)}
    for key in ("User", "Group"):
        m = re.search(r'^%s: name="([^"]*)" id=(-?\d+)' % key, text, re.M)
        if m:
            found[key.lower()] = (m.group(1), int(m.group(2)))
    m = re.search(r'^ServerRoot: "([^"]*)"', text, re.M)
    if m:
        found["server_root"] = m.group(1)
    return found


def parse_syntax_error(rc, text):
    """Apache's refusal of the configuration: (message, file, line), or
    None when it accepted it."""
    if rc == 0:
        return None
    m = re.search(r"Syntax error on line (\d+) of ([^:\n]+):[ \t]*(.*)(?:\n"
                  r"(.*))?", text)
    if m:
        message = (m.group(3) or m.group(4) or "").strip()
        return message, m.group(2), int(m.group(1))
    lines = [l for l in text.splitlines() if l.strip()]
    return (lines[-1] if lines else "exit status %s" % rc), None, None


# --------------------------------------------- the module and the Pythons

def module_build(path):
    """(Python X.Y, where it was read) of a mod_wsgi .so: our build-info
    string, else the libpythonX.Y it links; (None, None) if neither."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    m = BUILD_INFO.search(data)
    if m:
        fields = dict(w.split("=", 1) for w in m.group(1).decode().split()
                      if "=" in w)
        if "python" in fields:
            return fields["python"], "build-info"
    m = LIBPYTHON.search(data)
    if m:
        return m.group(1).decode(), "libpython"
    return None, None


def home_python(home):
    """The Python X.Y of a prefix or virtual environment: pyvenv.cfg's
    version_info or version, else its lib/pythonX.Y."""
    try:
        with open(os.path.join(home, "pyvenv.cfg"), errors="replace") as f:
            cfg = dict(line.split("=", 1) for line in f if "=" in line)
        cfg = {k.strip(): v.strip() for k, v in cfg.items()}
    except OSError:
        cfg = {}
    for key in ("version_info", "version"):
        m = re.match(r"(\d+\.\d+)", cfg.get(key, ""))
        if m:
            return m.group(1)
    found = sorted({m.group(1) for m in (
        re.search(r"python(\d+\.\d+)$", p) for p in
        glob.glob(os.path.join(home, "lib", "python3.*"))) if m})
    return found[0] if len(found) == 1 else None


def recorded_apxs(module):
    """What apxs reported when a pip build of the module was made (the
    apxs_config.py next to it), as a dict; empty for other builds."""
    path = os.path.join(os.path.dirname(module), "apxs_config.py")
    try:
        with open(path) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return {}
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)):
            found[node.targets[0].id] = node.value.value
    return found


def owning_package(path):
    """The distro package that owns path (dpkg -S, rpm -qf), or None."""
    for argv, pick in ((["dpkg", "-S", path], lambda o: o.split(":")[0]),
                       (["rpm", "-qf", path], lambda o: o.strip())):
        if not shutil.which(argv[0]):
            continue
        try:
            out = subprocess.run(argv, capture_output=True, text=True,
                                 timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return pick(out.stdout.splitlines()[0]).strip()
    return None


def defines_name(tree, name):
    """Whether a module's top-level code binds name: True, False, or
    None when it cannot tell (a star import)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return True
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AnnAssign,
                                                      ast.For)) else [])
        for t in targets:
            if any(isinstance(n, ast.Name) and n.id == name
                   for n in ast.walk(t)):
                return True
        # Blocks run at import time: if, try, with, for, while.
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                     ast.ClassDef)):
                pending += [n for n in getattr(node, field, [])
                            if isinstance(n, ast.AST)]
    return False


# What --import runs, with the Python of the script's environment: the
# script as mod_wsgi loads it (its own module, not __main__), then what
# it imported and whether it defines the callable.
IMPORT_PROBE = r"""
import json, sys, types
path, name, extra = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = extra
before = set(sys.modules)
module = types.ModuleType("_mod_wsgi_doctor_script")
module.__file__ = path
sys.modules[module.__name__] = module
result = {"error": None}
try:
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, module.__dict__)
except BaseException as exc:
    result["error"] = "%s: %s" % (type(exc).__name__, exc)
result["callable"] = callable(getattr(module, name, None))
result["modules"] = sorted({m.split(".")[0]
                            for m in set(sys.modules) - before})
sys.stdout.write("\n@@mod_wsgi-doctor@@" + json.dumps(result) + "\n")
sys.stdout.flush()
"""


# -------------------------------------------------------- the set-up

@dataclasses.dataclass
class Daemon:
    name: str
    directive: Directive
    user: Optional[User]

    def number(self, key, default):
        try:
            return int(self.directive.opt(key, default))
        except ValueError:
            return default


@dataclasses.dataclass
class Script:
    path: str
    url: Optional[str]
    directive: Optional[Directive]    # None: named on the command line
    daemon: Optional[Daemon] = None   # None: embedded mode
    app_group: str = "%{RESOURCE}"
    callable: str = "application"
    imported: Optional[dict] = None   # what --import found
    blocked: bool = False             # missing or unreadable: said so

    @property
    def vhost(self):
        d = self.directive
        entry = d.section("virtualhost") if d else None
        return entry[2:] if entry else None


@dataclasses.dataclass
class Setup:
    config: str
    httpd: Optional[str]
    apache: Optional[Apache]
    directives: List[Directive]
    run_config: Dict
    loaded: Optional[set]               # DUMP_MODULES, None if it failed
    syntax: Optional[Tuple]             # Apache's refusal, if any
    user: Optional[User]                # Apache's children
    user_at: Optional[Directive]
    import_scripts: bool = False
    modules: List[Directive] = dataclasses.field(default_factory=list)
    module: Optional[str] = None        # the .so Apache loads
    module_python: Optional[str] = None
    python_source: Optional[str] = None
    daemons: Dict[str, Daemon] = dataclasses.field(default_factory=dict)
    scripts: List[Script] = dataclasses.field(default_factory=list)
    mpm: Optional[str] = None
    socket_prefix: Optional[str] = None
    socket_at: Optional[Directive] = None

    def named(self, *names):
        return [d for d in self.directives if d.name in names]

    def last(self, name):
        found = [d for d in self.named(name) if not d.section("virtualhost")]
        return found[-1] if found else None

    def relative(self, path):
        root = self.run_config.get("server_root") or os.path.dirname(
            self.config)
        return os.path.normpath(os.path.join(root, path))

    def starter(self):
        """Who starts Apache: root, when the doctor is root or the User
        line names someone else (only root can switch to them), else the
        doctor's own user."""
        me = User.current()
        if me.uid == 0 or (self.user_at and self.user and
                           self.user.uid != me.uid):
            return lookup_user("#0") or me
        return me

    def user_label(self, user, daemon=None):
        if daemon is not None and daemon.directive.opt("user"):
            return "daemon group %s's user %s" % (daemon.name, user.name)
        return "Apache's user %s" % user.name


def gather(args, located):
    """Everything the checks look at, from the configuration locate()
    found."""
    config, server_root, httpd = located
    env = sourced_environment(os.path.join(os.path.dirname(config),
                                           "envvars"), clean_environment())
    apache = Apache(httpd, config, server_root, env) if httpd else None
    answers = ask_apache(apache)
    root = (server_root or answers["run"].get("server_root")
            or answers["httpd_root"] or os.path.dirname(config))
    walker = Walker(root, env, answers["builtin"])
    walker.walk(config)
    directives = only_included(walker, answers["includes"])
    run = answers["run"]
    run.setdefault("server_root", walker.server_root)
    s = Setup(config, httpd, apache, directives, run, answers["modules"],
              answers["syntax"], None, None, args.import_scripts)
    s.user, s.user_at = apache_user(s)
    resolve_module(s)
    resolve_daemons(s)
    resolve_scripts(s, args.script)
    resolve_mpm_and_socket(s)
    return s


def locate(args):
    """(configuration file, -d server root or None, Apache binary)."""
    layout = platform.detect()
    if args.server_root:
        root = os.path.abspath(args.server_root)
        return (os.path.join(root, "httpd.conf"), root,
                args.httpd_executable or apachectl_httpd(root)
                or default_httpd(layout))
    config = args.config or default_config(layout)
    return (os.path.abspath(config), None,
            args.httpd_executable or default_httpd(layout))


def apachectl_httpd(root):
    """The Apache binary a mod_wsgi-express apachectl runs."""
    try:
        with open(os.path.join(root, "apachectl")) as f:
            m = re.search(r"^HTTPD=(.+)$", f.read(), re.M)
    except OSError:
        return None
    return shlex.split(m.group(1))[0] if m else None


def default_httpd(layout):
    recorded = build_settings()
    if recorded.get("SBINDIR") and recorded.get("PROGNAME"):
        path = os.path.join(recorded["SBINDIR"], recorded["PROGNAME"])
        if os.access(path, os.X_OK):
            return path
    return layout.httpd_executable(recorded.get("SBINDIR"))


def default_config(layout):
    if layout.family == platform.DEBIAN:
        return "/etc/apache2/apache2.conf"
    if layout.family == platform.REDHAT:
        return "/etc/httpd/conf/httpd.conf"
    conf = build_settings().get("SYSCONFDIR") or "/etc/httpd"
    return os.path.join(conf, "httpd.conf")


def ask_apache(apache):
    """What Apache says of the configuration: its includes, modules,
    run-time settings, compiled-in root and modules, and any refusal."""
    answers = {"includes": None, "modules": None, "run": {}, "syntax": None,
               "httpd_root": None, "builtin": set()}
    if apache is None:
        return answers
    rc, text = apache.run("-t", "-D", "DUMP_INCLUDES")
    answers["includes"] = parse_includes(text)
    answers["syntax"] = parse_syntax_error(rc, text)
    answers["modules"] = parse_modules(apache.run("-t", "-D",
                                                  "DUMP_MODULES")[1])
    answers["run"] = parse_run_config(apache.run("-S")[1])
    m = re.search(r'HTTPD_ROOT="([^"]*)"', apache.run("-V")[1])
    answers["httpd_root"] = m.group(1) if m else None
    built_in = Apache(apache.httpd, apache.config, None, apache.env)
    answers["builtin"] = {module_name(c.strip()) for c in
                          built_in.run("-l")[1].splitlines()
                          if c.strip().endswith(".c")}
    return answers


def only_included(walker, includes):
    """The walker's directives, kept to the files Apache itself read
    when it could say (a file the walker reached through a condition
    Apache judged otherwise is dropped)."""
    if not includes:
        return walker.directives
    real = {os.path.realpath(p) for p in includes}
    return [d for d in walker.directives
            if os.path.realpath(d.file) in real]


def apache_user(s):
    """The user Apache's children run as, and the User line saying so.
    Apache started by another user than root cannot switch: its children
    are that user, whatever User says; without a User line the doctor's
    own user (or, as root, what `-S` reports) is assumed."""
    at = s.last("user")
    group_at = s.last("group")
    group = group_at.args[0] if group_at and group_at.args else None
    if at and at.args:
        return lookup_user(at.args[0], group), at
    if os.geteuid() != 0:
        return User.current(), None
    name = s.run_config.get("user", ("#-1", -1))[0]
    return lookup_user(name, group), None


def resolve_module(s):
    s.modules = [d for d in s.named("loadmodule")
                 if d.args[:1] == ["wsgi_module"] and len(d.args) > 1]
    if s.modules:
        s.module = s.relative(s.modules[0].args[1])
        s.module_python, s.python_source = module_build(s.module)


def resolve_daemons(s):
    for d in s.named("wsgidaemonprocess"):
        if not d.args:
            continue
        user = s.user
        if d.opt("user"):
            user = lookup_user(d.opt("user"), d.opt("group")) or user
        elif d.opt("group") and s.user:
            gid = lookup_group(d.opt("group"))
            if gid is not None:
                user = dataclasses.replace(s.user, gid=gid)
        s.daemons[d.args[0]] = Daemon(d.args[0], d, user)


def resolve_scripts(s, named):
    for d in s.named("wsgiscriptalias", "wsgiscriptaliasmatch"):
        if len(d.args) < 2 or "$" in d.args[1]:
            continue
        url = d.args[0] if d.name == "wsgiscriptalias" else None
        s.scripts.append(configure_script(s, Script(
            s.relative(d.args[1]), url, d)))
    if named:
        path = os.path.abspath(named)
        if not any(os.path.realpath(x.path) == os.path.realpath(path)
                   for x in s.scripts):
            s.scripts.append(configure_script(s, Script(path, None, None)))


def configure_script(s, script):
    """Its process group, application group and callable: the alias's
    own options, else the last directive whose scope holds the script."""
    d = script.directive
    group = d.opt("process-group") if d else None
    group = group or scoped(s, "wsgiprocessgroup", script)
    script.daemon = s.daemons.get(group) if group else None
    script.app_group = ((d.opt("application-group") if d else None)
                        or scoped(s, "wsgiapplicationgroup", script)
                        or "%{RESOURCE}")
    script.callable = ((d.opt("callable-object") if d else None)
                       or scoped(s, "wsgicallableobject", script)
                       or "application")
    return script


def scoped(s, name, script):
    value = None
    for d in s.named(name):
        if d.args and in_scope(d, script):
            value = d.args[0]
    return value


def in_scope(d, script):
    """Whether the sections around directive d hold the script (its
    virtual host, directory, URL and file name)."""
    for section, args, file, line in d.context:
        if section == "virtualhost" and script.vhost != (file, line):
            return False
        if not section_matches(section, args, script):
            return False
    return True


def section_matches(section, args, script):
    if not args:
        return True
    regex = section.endswith("match") or args[0] == "~"
    pattern = args[-1]
    if section.startswith("directory"):
        subject = script.path
    elif section.startswith("location"):
        subject = script.url
        if subject is None:
            return True
    elif section.startswith("files"):
        name = os.path.basename(script.path)
        return (searches(pattern, name) if regex
                else fnmatch.fnmatch(name, pattern))
    else:
        return True
    if regex:
        return searches(pattern, subject)
    pattern = pattern.rstrip("/")
    return (subject == pattern or subject.startswith(pattern + "/")
            or fnmatch.fnmatch(subject, pattern + "/*"))


def searches(pattern, text):
    """re.search for a section's regex; a pattern Python cannot read
    (PCRE has more) counts as matching."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True


def resolve_mpm_and_socket(s):
    if s.loaded:
        mpms = [m for m in s.loaded if m.startswith("mpm_")]
        s.mpm = mpms[0][4:-7] if mpms else None
    if s.mpm is None:
        mpms = [d.args[0] for d in s.named("loadmodule")
                if d.args and re.match(r"mpm_\w+_module$", d.args[0])]
        s.mpm = mpms[0][4:-7] if mpms else None
    s.socket_at = s.last("wsgisocketprefix")
    runtime = s.last("defaultruntimedir")
    runtime_dir = s.relative(runtime.args[0] if runtime and runtime.args
                             else "logs")
    prefix = (s.socket_at.args[0] if s.socket_at and s.socket_at.args
              else "wsgi")
    s.socket_prefix = os.path.normpath(os.path.join(runtime_dir, prefix))


# ------------------------------------------------------------ the checks

def check_module_loaded(s):
    if s.modules:
        return
    uses = [d for d in s.directives if d.name.startswith("wsgi")]
    yield error(
        "module-loaded", "mod_wsgi is not loaded: no 'LoadModule wsgi_module' "
        "line in %s or the files it includes%s." % (
            s.config, " (its WSGI directives fail as 'Invalid command')"
            if uses else ""),
        "a2enmod wsgi (Debian's package), or add the lines that "
        "'mod_wsgi-express module-config' prints (run it with the venv's "
        "mod_wsgi-express) to the configuration.", uses[0] if uses else None)


def check_module_file(s):
    if s.module is None:
        return
    at = s.modules[0]
    if missing(s.module):
        yield error("module-file", "the module %s does not exist (Apache "
                    "fails: cannot open shared object file)." % s.module,
                    module_fix(s.module), at)
    elif s.starter().uid != 0 and denied_as(s.starter(), [(s.module,
                                                           os.R_OK)])[0]:
        yield error("module-file", "the module %s is not readable by %s, "
                    "who starts Apache here (%s)." % (
                        s.module, s.starter().name, describe(s.module)),
                    "chmod a+r %s" % shlex.quote(s.module), at)


def module_fix(path):
    if path.startswith(("/usr/lib/apache2/", "/usr/lib64/httpd/",
                        "/usr/lib/httpd/")):
        return ("reinstall the package that provides it (apt install "
                "--reinstall libapache2-mod-wsgi-py3, or dnf reinstall "
                "python3-mod_wsgi), or point the line at a module that "
                "exists.")
    return ("point the line at the module that exists: "
            "'VENV/bin/mod_wsgi-express module-config' prints the "
            "LoadModule line of the venv that built it.")


def check_module_build(s):
    if s.module is None or not os.path.exists(s.module):
        return
    if s.module_python is None:
        yield warning(
            "module-build", "cannot tell which Python the module %s was "
            "built for (it has no mod_wsgi-build-info string and names no "
            "libpythonX.Y), so WSGIPythonHome cannot be checked against it."
            % s.module, "rebuild it with this mod_wsgi: VENV/bin/pip install "
            "--force-reinstall mod_wsgi.", s.modules[0])


def check_duplicate_load(s):
    first = s.modules[0] if s.modules else None
    for d in s.modules[1:]:
        again = s.relative(d.args[1])
        same = os.path.realpath(again) == os.path.realpath(s.module)
        yield _finding(
            WARNING if same else ERROR, "module-duplicate",
            "wsgi_module is loaded a second time (first at %s:%d%s); "
            "Apache skips this line%s." % (
                first.file, first.line, "" if same else ", from " + s.module,
                "" if same else " and runs the other build, not " + again),
            "keep one LoadModule wsgi_module line: delete this one, or "
            "disable the other (a2dismod wsgi on Debian disables "
            "mods-enabled/wsgi.load).", d)


def check_two_builds(s):
    if s.module is None or not os.path.exists(s.module):
        return
    loaded = os.path.realpath(s.module)
    for path in DISTRO_MODULES:
        if not os.path.exists(path) or os.path.realpath(path) == loaded:
            continue
        if any(os.path.realpath(s.relative(d.args[1])) ==
               os.path.realpath(path) for d in s.modules):
            continue    # loaded too: check_duplicate_load said so
        package = owning_package(path) or "the distro's mod_wsgi package"
        yield warning(
            "module-two-builds", "two mod_wsgi builds are installed: %s "
            "(from %s) and the one loaded, %s; enabling the package's "
            "wsgi.load or upgrading it brings the other back." % (
                path, package, s.module),
            "remove the one not used: apt remove %s (or dnf remove %s)."
            % (package, package), s.modules[0])


def check_apxs(s):
    if s.module is None or not s.httpd:
        return
    rec = recorded_apxs(s.module)
    if not rec.get("SBINDIR") or not rec.get("PROGNAME"):
        return
    built = os.path.join(rec["SBINDIR"], rec["PROGNAME"])
    if os.path.realpath(built) != os.path.realpath(s.httpd):
        yield warning(
            "module-apxs", "the module %s was built with the apxs of another "
            "Apache (%s, whose binary is %s) than the one that reads this "
            "configuration (%s)." % (s.module, rec.get("APXS", "apxs"),
                                     built, s.httpd),
            "rebuild it for this Apache: APXS=/path/to/its/apxs "
            "VENV/bin/pip install --force-reinstall mod_wsgi.",
            s.modules[0])


def python_homes(s):
    """(home, directive, user) of WSGIPythonHome and each python-home=."""
    homes = [(s.relative(d.args[0]), d, s.user, None)
             for d in s.named("wsgipythonhome") if d.args]
    for daemon in s.daemons.values():
        home = daemon.directive.opt("python-home")
        if home:
            homes.append((s.relative(home), daemon.directive, daemon.user,
                          daemon))
    return homes


def check_python_versions(s):
    for home, d, _, _ in python_homes(s):
        what = "python-home=" if d.name == "wsgidaemonprocess" else \
            "WSGIPythonHome"
        if missing(home) or os.path.isfile(home):
            yield error("python-home", "%s %s does not exist or is not a "
                        "directory." % (what, home), "create it (python%s -m "
                        "venv %s) or correct the line." % (
                            s.module_python or "3", shlex.quote(home)), d)
            continue
        version = home_python(home)
        if version and s.module_python and version != s.module_python:
            yield error(
                "python-version", "%s %s is a Python %s environment, but "
                "the module %s was built for Python %s (Apache fails with "
                "WSGI0002, other builds with \"No module named "
                "'encodings'\")." % (what, home, version, s.module,
                                     s.module_python),
                "make the environment with Python %s (python%s -m venv %s), "
                "or load a module built for %s: %s/bin/pip install mod_wsgi "
                "&& %s/bin/mod_wsgi-express module-config." % (
                    s.module_python, s.module_python, shlex.quote(home),
                    version, home, home), d)


@dataclasses.dataclass
class Need:
    """A path a process must reach, and what for."""
    user: Optional[User]
    daemon: Optional[Daemon]
    path: str
    want: int                       # os.R_OK | os.X_OK ...
    what: str                       # for the message
    at: Optional[Directive]
    script: Optional[Script] = None


def access_needs(s):
    """Every path a process of the configuration must reach."""
    out = []
    for home, d, user, daemon in python_homes(s):
        if not missing(home):
            out.append(Need(user, daemon, home, os.R_OK | os.X_OK,
                            "the Python home " + home, d))
    for d in s.named("wsgipythonpath"):
        for p in (d.args[0].split(":") if d.args else []):
            out.append(Need(s.user, None, s.relative(p), os.R_OK | os.X_OK,
                            "WSGIPythonPath " + p, d))
    for daemon in s.daemons.values():
        for p in (daemon.directive.opt("python-path") or "").split(":"):
            if p:
                out.append(Need(daemon.user, daemon, s.relative(p),
                                os.R_OK | os.X_OK, "python-path " + p,
                                daemon.directive))
    for d in s.named("wsgiimportscript"):
        daemon = s.daemons.get(d.opt("process-group"))
        if d.args:
            out.append(Need(daemon.user if daemon else s.user, daemon,
                            s.relative(d.args[0]), os.R_OK,
                            "WSGIImportScript " + d.args[0], d))
    for script in s.scripts:
        out += script_needs(s, script)
    return out


def script_needs(s, script):
    what = "the script " + script.path
    daemon = script.daemon
    user = daemon.user if daemon else s.user
    want = os.R_OK | (os.X_OK if os.path.isdir(script.path) else 0)
    out = [Need(user, daemon, script.path, want, what, script.directive,
                script)]
    if daemon is not None and daemon.user != s.user:
        # Apache's child maps the URL to the file before passing it on.
        out.append(Need(s.user, None, os.path.dirname(script.path),
                        os.X_OK, what, script.directive, script))
    return out


def check_access(s):
    by_user = {}
    for need in access_needs(s):
        if need.user is None:
            continue
        if missing(need.path):
            yield missing_path(need)
            continue
        by_user.setdefault(need.user, []).append(need)
    for user, needs in by_user.items():
        # One finding per component that stops the user, naming all it
        # keeps from them.
        stopped = {}
        answers = denied_as(user, [(n.path, n.want) for n in needs])
        for need, denied in zip(needs, answers):
            if denied:
                if need.script is not None:
                    need.script.blocked = True
                stopped.setdefault(tuple(denied), []).append(need)
        for denied, blocked in stopped.items():
            yield access_finding(s, blocked, denied)


def missing(path):
    """Whether path does not exist (a path the doctor itself cannot look
    into is not called missing)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def missing_path(need):
    if need.script is not None:
        need.script.blocked = True
        return error("access", "%s does not exist." % need.what,
                     "create it, or correct the path on this line.", need.at)
    return warning("access", "%s: %s does not exist." % (need.what,
                                                         need.path),
                   "create it, or remove it from this line.", need.at)


def access_finding(s, needs, denied):
    where, lacks = denied
    need = needs[0]
    name, q = need.user.name, shlex.quote(where)
    if lacks == os.X_OK and where != need.path:
        verb, fix = "traverse", "chmod o+x %s (or: setfacl -m u:%s:x %s)" % (
            q, name, q)
    elif os.path.isdir(where):
        verb, fix = "read", ("chmod -R o+rX %s (or: setfacl -R -m u:%s:rX "
                             "%s)" % (q, name, q))
    else:
        verb, fix = "read", "chmod o+r %s (or: setfacl -m u:%s:r %s)" % (
            q, name, q)
    whats = []
    for n in needs:
        if n.path != where and n.what not in whats:
            whats.append(n.what)
    reach = ", so it cannot reach %s" % " and ".join(whats) if whats else ""
    return error("access", "%s cannot %s %s (%s)%s." % (
        s.user_label(need.user, need.daemon), verb, where, describe(where),
        reach), fix, need.at)


def check_socket_prefix(s):
    if not s.daemons or s.user is None:
        return
    directory = os.path.dirname(s.socket_prefix)
    at = s.socket_at or next(iter(s.daemons.values())).directive
    problem, fix = socket_dir_problem(s, directory)
    if problem:
        yield error("socket-prefix", "WSGISocketPrefix %s: %s." % (
            s.socket_prefix, problem), fix, at)


def socket_dir_problem(s, directory):
    """What stops the daemons' sockets in directory, and the fix. The
    parent creates them (as root normally, else as the user starting
    Apache), Apache's children connect to them."""
    if not os.path.isdir(directory):
        return ("directory %s does not exist" % directory,
                "mkdir -p %s, or point WSGISocketPrefix at a directory that "
                "exists, e.g. WSGISocketPrefix /var/run/wsgi" % directory)
    mode = os.stat(directory).st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        return ("directory %s is writable by anyone (%s), so anyone could "
                "replace the sockets" % (directory, describe(directory)),
                "chmod o-w %s" % shlex.quote(directory))
    starter = s.starter()
    if starter.uid != 0 and denied_as(starter, [(directory, os.W_OK |
                                                    os.X_OK)])[0]:
        return ("%s, who starts Apache here, cannot create the sockets in "
                "%s (%s)" % (starter.name, directory, describe(directory)),
                "chmod u+wx %s, or point WSGISocketPrefix at a directory of "
                "yours" % shlex.quote(directory))
    denied = denied_as(s.user, [(directory, os.X_OK)])[0]
    if denied:
        return ("%s cannot traverse %s (%s) to connect to the daemons" % (
            s.user_label(s.user), denied[0], describe(denied[0])),
            "chmod o+x %s, or point WSGISocketPrefix at a directory Apache's "
            "user can reach, e.g. WSGISocketPrefix /var/run/wsgi"
            % shlex.quote(denied[0]))
    return None, None


def request_capacity(s):
    """(most requests Apache handles at once, the directive setting it,
    in words)."""
    def number(name, default):
        d = s.last(name)
        try:
            return (int(d.args[0]), d) if d and d.args else (default, None)
        except ValueError:
            return default, None
    workers, at = number("maxrequestworkers", None)
    if workers is None:
        workers, at = number("maxclients", None)
    if s.mpm == "prefork":
        limit = number("serverlimit", 256)[0]
    else:
        limit = number("serverlimit", 16)[0] * number("threadsperchild",
                                                       25)[0]
    workers = limit if workers is None else min(workers, limit)
    return workers, at


def check_mpm_threads(s):
    groups = [g for g in s.daemons.values() if g.number("threads", 15) > 0]
    if not groups or s.mpm is None:
        return
    needed = sum(g.number("processes", 1) * g.number("threads", 15)
                 for g in groups)
    capacity, at = request_capacity(s)
    if needed > capacity:
        yield warning(
            "mpm-threads", "the daemon process groups have %d threads (%s), "
            "but Apache's %s MPM passes at most %d requests at once "
            "(MaxRequestWorkers %d%s): %d threads never get work." % (
                needed, ", ".join("%s: %d x %d" % (
                    g.name, g.number("processes", 1), g.number("threads", 15))
                    for g in groups), s.mpm, capacity, capacity,
                "" if at else ", the default", needed - capacity),
            "MaxRequestWorkers %d in the <IfModule mpm_%s_module> section "
            "(ServerLimit x ThreadsPerChild must reach it), or fewer "
            "processes=/threads= on WSGIDaemonProcess." % (needed, s.mpm),
            at or groups[0].directive)


def check_prefork_embedded(s):
    if s.mpm != "prefork" or restricted_embedded(s):
        return
    for script in s.scripts:
        if script.daemon is None and script.directive is not None:
            capacity, _ = request_capacity(s)
            yield warning(
                "mpm-embedded", "%s runs in embedded mode under the prefork "
                "MPM: each of up to %d Apache processes loads its own "
                "interpreter and application, one request at a time." % (
                    script.path, capacity),
                "run it in daemon mode: WSGIDaemonProcess NAME processes=2 "
                "threads=15 and process-group=NAME on this line (or a2dismod "
                "mpm_prefork && a2enmod mpm_event).", script.directive)
            return


def restricted_embedded(s):
    d = s.last("wsgirestrictembedded")
    return bool(d and d.args and d.args[0].lower() == "on")


def check_callables(s):
    for script in s.scripts:
        if script.blocked or not os.path.isfile(script.path):
            continue
        if script.imported is not None and not script.imported["error"]:
            defined = script.imported["callable"]
        else:
            defined = parsed_defines(script)
        if isinstance(defined, Finding):
            yield defined
        elif defined is False:
            yield error(
                "script-callable", "the script %s does not define %r, the "
                "callable mod_wsgi calls (%s)." % (
                    script.path, script.callable, "the default name" if
                    script.callable == "application" else "named by "
                    "WSGICallableObject or callable-object="),
                "define %s(environ, start_response) in the script, or name "
                "its callable: callable-object=NAME on the WSGIScriptAlias "
                "line (WSGICallableObject NAME)." % script.callable,
                script.directive)


def parsed_defines(script):
    try:
        with open(script.path, "rb") as f:
            tree = ast.parse(f.read(), script.path)
    except OSError:
        return None     # check_access says why
    except (SyntaxError, ValueError) as exc:
        return error("script-syntax", "the script %s does not compile: %s "
                     "(line %s)." % (script.path, getattr(exc, "msg", exc),
                                     getattr(exc, "lineno", "?")),
                     "correct the script.", script.directive)
    return defines_name(tree, script.callable)


def check_global_group(s):
    if not s.import_scripts:
        return
    for script in s.scripts:
        if script.blocked or not os.path.isfile(script.path):
            continue
        result = import_script(s, script)
        if isinstance(result, Finding):
            yield result
            continue
        script.imported = result
        needs = sorted(set(result["modules"]) & set(MAIN_INTERPRETER_ONLY))
        if needs and script.app_group != "%{GLOBAL}":
            yield warning(
                "app-group", "the script %s imports %s, which need%s the "
                "main interpreter, but runs in application group %s (a "
                "sub-interpreter)." % (script.path, ", ".join(needs),
                                       "" if len(needs) > 1 else "s",
                                       script.app_group),
                "add application-group=%{GLOBAL} to this line, or "
                "WSGIApplicationGroup %{GLOBAL} where it applies.",
                script.directive)


def import_script(s, script):
    """What importing the script with its environment's Python finds, as
    the user that runs it, bounded by IMPORT_TIMEOUT; a Finding when it
    could not be done."""
    python = script_python(s, script)
    if python is None:
        return warning("import", "no Python %s to import %s with." % (
            s.module_python or "", script.path), "install it, or set "
            "WSGIPythonHome/python-home= to its environment.",
            script.directive)
    argv = [python, "-c", IMPORT_PROBE, script.path, script.callable,
            json.dumps(script_path_entries(s, script))]
    kwargs = {}
    user = script.daemon.user if script.daemon else s.user
    if os.geteuid() == 0 and user is not None and user.uid != 0:
        kwargs = {"user": user.uid, "group": user.gid,
                  "extra_groups": list(user.gids)}
    try:
        out = subprocess.run(argv, capture_output=True, text=True,
                             errors="replace", timeout=IMPORT_TIMEOUT,
                             env=clean_environment(), cwd=script_cwd(script),
                             stdin=subprocess.DEVNULL, **kwargs)
    except subprocess.TimeoutExpired:
        return warning("import", "importing %s did not finish within %d s." %
                       (script.path, IMPORT_TIMEOUT), "make the script's "
                       "import side-effect free, or check it without "
                       "--import.", script.directive)
    except OSError as exc:
        return warning("import", "cannot run %s: %s." % (python, exc),
                       "check the Python of the environment.",
                       script.directive)
    return import_result(script, python, out)


def import_result(script, python, out):
    marker = "@@mod_wsgi-doctor@@"
    if marker not in out.stdout:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return warning("import", "importing %s with %s failed: %s." % (
            script.path, python, last), "run it by hand: %s %s" % (
                python, shlex.quote(script.path)), script.directive)
    result = json.loads(out.stdout.split(marker, 1)[1])
    if result["error"]:
        return warning("import", "importing %s with %s raised %s." % (
            script.path, python, result["error"]), "correct the script or "
            "its environment (python-path=, WSGIPythonPath).",
            script.directive)
    return result


def script_python(s, script):
    home = script.daemon.directive.opt("python-home") if script.daemon \
        else None
    if home is None:
        d = s.last("wsgipythonhome")
        home = d.args[0] if d and d.args else None
    names = ([os.path.join(s.relative(home), "bin", n) for n in
              ("python3", "python")] if home else [])
    if not home and s.module_python:
        names.append(shutil.which("python" + s.module_python))
    return next((n for n in names if n and os.access(n, os.X_OK)), None)


def script_path_entries(s, script):
    entries = []
    if script.daemon is not None:
        entries += [s.relative(p) for p in (script.daemon.directive.opt(
            "python-path") or "").split(":") if p]
        home = script.daemon.directive.opt("home")
        entries += [s.relative(home)] if home else []
    d = s.last("wsgipythonpath")
    if d and d.args and script.daemon is None:
        entries += [s.relative(p) for p in d.args[0].split(":") if p]
    return entries


def script_cwd(script):
    home = script.daemon.directive.opt("home") if script.daemon else None
    return home if home and os.path.isdir(home) else "/"


def check_apache_accepts(s, found):
    """Apache's own refusal of the configuration, unless a finding above
    already names its cause."""
    if s.apache is None:
        yield error("apache", "cannot find the Apache binary to read %s "
                    "with." % s.config, "install Apache (apache2 or httpd), "
                    "or pass --httpd-executable FILE.")
        return
    if s.syntax is None:
        return
    message, file, line = s.syntax
    if explained(message, file, line, found):
        return
    at = Directive("", [], file, line) if file else None
    yield error("apache", "Apache refuses the configuration: %s" %
                message.rstrip("."), "correct the line Apache names "
                "(%s -t -f %s shows it)." % (s.httpd, s.config), at)


def explained(message, file, line, found):
    errors = [f for f in found if f.severity == ERROR]
    if any(file and f.file and os.path.realpath(f.file) ==
           os.path.realpath(file) and f.line == line for f in errors):
        return True
    causes = {"WSGI0002": "python-version", "WSGI0719": "socket-prefix",
              "Invalid command 'WSGI": "module-loaded"}
    return any(text in message and any(f.check == check for f in errors)
               for text, check in causes.items())


# The checks, in the order their findings are printed. Each takes the
# Setup (check_apache_accepts also the findings so far).
CHECKS = [
    ("module-loaded", check_module_loaded),
    ("module-file", check_module_file),
    ("module-build", check_module_build),
    ("module-duplicate", check_duplicate_load),
    ("module-two-builds", check_two_builds),
    ("module-apxs", check_apxs),
    ("python-version", check_python_versions),
    ("access", check_access),
    ("socket-prefix", check_socket_prefix),
    ("mpm-threads", check_mpm_threads),
    ("mpm-embedded", check_prefork_embedded),
    ("app-group", check_global_group),
    ("script-callable", check_callables),
]


def diagnose(s):
    found = []
    for _, check in CHECKS:
        found += list(check(s))
    found += list(check_apache_accepts(s, found))
    return found


# ---------------------------------------------------------- command line

def add_arguments(parser):
    """The doctor's arguments (cli.py's COMMANDS entry calls this)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", metavar="FILE",
                       help="Apache's main configuration file (default: "
                            "the system's, e.g. /etc/apache2/apache2.conf).")
    where.add_argument("--server-root", metavar="DIR",
                       help="a server root written by setup-server or "
                            "start-server (its httpd.conf and apachectl).")
    parser.add_argument("--httpd-executable", metavar="FILE",
                        help="the Apache binary to read the configuration "
                             "with (default: the one the module was built "
                             "for, else the system's).")
    parser.add_argument("--json", action="store_true",
                        help="print the findings as JSON.")
    parser.add_argument("--import", dest="import_scripts",
                        action="store_true",
                        help="import each WSGI script (in a child process, "
                             "with its environment's Python, as the user "
                             "that runs it) to see what it loads.")
    parser.add_argument("script", nargs="?", metavar="APP.wsgi",
                        help="a WSGI script to check as well (also when "
                             "the configuration does not mount it).")


def status_of(found):
    if any(f.severity == ERROR for f in found):
        return 2
    return 1 if found else 0


def summary(s, found):
    errors = sum(f.severity == ERROR for f in found)
    warnings = len(found) - errors
    head = ("no problems found" if not found else "%d error%s, %d warning%s"
            % (errors, "" if errors == 1 else "s", warnings,
               "" if warnings == 1 else "s"))
    return ("mod_wsgi-express doctor: %s in %s (Apache %s, user %s, module "
            "%s for Python %s, %d checks)." % (
                head, s.config, s.httpd or "not found",
                s.user.name if s.user else "unknown", s.module or "none",
                s.module_python or "unknown", len(CHECKS) + 1))


def report(s, found, as_json):
    if as_json:
        json.dump({"config": s.config, "httpd": s.httpd,
                   "user": s.user.name if s.user else None,
                   "module": s.module, "module_python": s.module_python,
                   "module_python_from": s.python_source,
                   "mpm": s.mpm, "status": status_of(found),
                   "errors": sum(f.severity == ERROR for f in found),
                   "warnings": sum(f.severity == WARNING for f in found),
                   "findings": [f.as_dict() for f in found]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for f in found:
        print(f.text())
    print(summary(s, found))


def main(args):
    located = locate(args)
    if not os.path.isfile(located[0]):
        sys.stderr.write("mod_wsgi-express doctor: no Apache configuration "
                         "at %s; pass --config FILE or --server-root DIR.\n"
                         % located[0])
        return 2
    s = gather(args, located)
    found = diagnose(s)
    report(s, found, args.json)
    return status_of(found)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="mod_wsgi-express doctor")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
