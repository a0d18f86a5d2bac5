"""Serve one WSGI script through a private Apache with our module.

Used by `make run`. Run it with the venv's python (the one whose
mod_wsgi package holds the built module):

    build/venv-3.11/bin/python examples/run.py examples/hello.wsgi

It writes a minimal httpd.conf under build/run/, runs Apache in the
foreground with the error log on stderr and the access log on stdout, and
stops it on Ctrl-C or SIGTERM (a second Ctrl-C kills it).
"""

import argparse
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig

CONF = """\
ServerRoot "{root}"
ServerName {host}:{port}
Listen {host}:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
ErrorLog /dev/stderr
LogLevel info

LoadModule mpm_{mpm}_module "{modules}/mod_mpm_{mpm}.so"
<IfModule !unixd_module>
    LoadModule unixd_module "{modules}/mod_unixd.so"
</IfModule>
LoadModule authz_core_module "{modules}/mod_authz_core.so"
LoadModule mime_module "{modules}/mod_mime.so"
<IfModule !log_config_module>
    LoadModule log_config_module "{modules}/mod_log_config.so"
</IfModule>
{user}{types}
LogFormat "%h \\"%r\\" %>s %b %Dus" short
CustomLog /dev/stdout short

LoadModule wsgi_module "{module}"
WSGIPythonHome "{venv}"
WSGIScriptAlias / "{script}"
<Directory "{scriptdir}">
    Require all granted
</Directory>
"""


def fail(message):
    sys.exit("run.py: " + message)


def apache_layout():
    """(modules directory, httpd binary), from what apxs said at build time,
    else from apxs now."""
    from mod_wsgi.server import build_settings

    answers = build_settings()

    def query(var):
        if answers.get(var):
            return answers[var]
        apxs = (os.environ.get("APXS") or shutil.which("apxs2")
                or shutil.which("apxs"))
        if not apxs:
            return ""
        out = subprocess.run([apxs, "-q", var], capture_output=True,
                             text=True)
        return out.stdout.strip()

    modules = query("LIBEXECDIR")
    if not modules or not os.path.isdir(modules):
        fail("Apache's modules directory is unknown (apxs -q LIBEXECDIR); "
             "install apache2-dev")
    httpd = os.path.join(query("SBINDIR"), query("PROGNAME") or "apache2")
    if not os.access(httpd, os.X_OK):
        httpd = shutil.which("apache2") or shutil.which("httpd") or ""
    if not httpd:
        fail("no Apache binary found (apxs -q SBINDIR); install apache2")
    return modules, httpd


def service_user():
    """The account Apache's children run as when we are root."""
    for name in ("www-data", "apache", "daemon", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    fail("running as root, but there is no www-data/apache/nobody account "
         "for Apache's children")


def unreachable(account, checks):
    """The paths of `checks`, (path, os.access mode) pairs, that `account`
    cannot access with that mode."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            bad = [p for p, mode in checks if not os.access(p, mode)]
            os.write(w, "\0".join(bad).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read().decode()
    os.waitpid(pid, 0)
    return [p for p in data.split("\0") if p]


def readable(path):
    """The access Apache's children need: read a file, list and enter a
    directory."""
    return (path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0))


def grant_access(account, paths):
    """Make `paths` readable by Apache's children: give `account` the
    traverse right (x, nothing else) on each parent directory that lacks
    it, e.g. /root. Fails with advice if that is not enough."""
    for path in paths:
        parents = []
        d = os.path.dirname(os.path.abspath(path))
        while d not in parents:
            parents.append(d)
            d = os.path.dirname(d)
        for d in reversed(parents):
            if not unreachable(account, [(d, os.X_OK)]):
                continue
            print("run.py: letting %s traverse %s (setfacl -m u:%s:x)"
                  % (account.pw_name, d, account.pw_name))
            done = subprocess.run(["setfacl", "-m", "u:%s:x" % account.pw_name,
                                   d], capture_output=True)
            if done.returncode != 0:
                os.chmod(d, os.stat(d).st_mode | 0o001)
    still = unreachable(account, [readable(p) for p in paths])
    if still:
        fail("Apache's children run as %s and cannot read: %s. Make them "
             "readable, or run `make run` as a normal user."
             % (account.pw_name, ", ".join(still)))


def main():
    from mod_wsgi.server import module_location

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("script", help="the WSGI script to serve at /")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--mpm", default="event",
                        choices=("event", "worker", "prefork"))
    parser.add_argument("--server-root", default=os.path.join("build", "run"),
                        help="where httpd.conf and the pid file go "
                             "(default: build/run)")
    args = parser.parse_args()

    module = module_location()
    if module is None:
        fail("the module is not built for %s; run 'make build'"
             % sys.executable)
    script = os.path.abspath(args.script)
    if not os.path.isfile(script):
        fail("no such script: %s" % script)
    venv = os.path.normpath(sys.prefix)
    modules, httpd = apache_layout()
    root = os.path.abspath(args.server_root)
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)

    user = ""
    if os.geteuid() == 0:
        # Apache will not run its children as root.
        account = service_user()
        user = "User %s\nGroup %s\n" % (
            account.pw_name, grp.getgrgid(account.pw_gid).gr_name)
        grant_access(account, [script, venv,
                               sysconfig.get_paths()["stdlib"]])
    types = ""
    if os.path.isfile("/etc/mime.types"):
        types = "TypesConfig /etc/mime.types\n"

    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(root=root, host=args.host, port=args.port,
                            mpm=args.mpm, modules=modules, user=user,
                            types=types, module=module, venv=venv,
                            script=script,
                            scriptdir=os.path.dirname(script)))

    print("Serving %s at http://%s:%d/ with %s (Ctrl-C stops)"
          % (script, args.host, args.port, os.path.basename(module)),
          flush=True)
    # Apache gets its own session: the terminal's Ctrl-C reaches only us,
    # and we stop Apache the way apachectl does (SIGTERM to the parent,
    # which stops its children), once.
    proc = subprocess.Popen([httpd, "-f", conf, "-DFOREGROUND"],
                            stdin=subprocess.DEVNULL, start_new_session=True)
    signals = []

    def forward(signum, frame):
        signals.append(signum)
        try:
            if len(signals) == 1:
                proc.send_signal(signal.SIGTERM)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        code = proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if signals:
        print("run.py: Apache stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
