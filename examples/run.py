"""Serve one WSGI script through a private Apache with our module.

Used by `make run`: writes a minimal httpd.conf under build/run/, runs
Apache in the foreground, and stops it on Ctrl-C or SIGTERM.
"""

import argparse
import os
import pwd
import signal
import subprocess
import sys
import tempfile


def apxs_query(var):
    from mod_wsgi.server import apxs_config
    value = apxs_config().get(var)
    if value:
        return value
    for apxs in ("apxs2", "apxs"):
        try:
            return subprocess.run([apxs, "-q", var], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
    sys.exit("run.py: cannot ask apxs for %s; install apache2-dev" % var)


def main():
    from mod_wsgi.server import module_location

    parser = argparse.ArgumentParser()
    parser.add_argument("script")
    parser.add_argument("--venv", default=sys.prefix)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    module = module_location()
    if module is None:
        sys.exit("run.py: the module is not built; run 'make build'")
    script = os.path.abspath(args.script)
    modules = apxs_query("LIBEXECDIR")
    httpd = os.path.join(apxs_query("SBINDIR"), apxs_query("PROGNAME") or "apache2")
    root = os.path.abspath(os.path.join("build", "run"))
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)

    user = ""
    if os.geteuid() == 0:
        # Apache will not serve as root; its children need to read the
        # script and the venv as this user.
        for name in ("www-data", "apache", "nobody"):
            try:
                pwd.getpwnam(name)
                user = "User %s\nGroup #%d\n" % (name, pwd.getpwnam(name).pw_gid)
                break
            except KeyError:
                continue

    conf = os.path.join(root, "httpd.conf")
    with open(conf, "w") as f:
        f.write("""ServerRoot "{root}"
Listen {host}:{port}
ServerName {host}
PidFile "{root}/httpd.pid"
ErrorLog /dev/stderr
LogLevel info
DefaultRuntimeDir "{root}"
TypesConfig /etc/mime.types
LoadModule mpm_event_module "{modules}/mod_mpm_event.so"
LoadModule authz_core_module "{modules}/mod_authz_core.so"
LoadModule mime_module "{modules}/mod_mime.so"
<IfModule !log_config_module>
    LoadModule log_config_module "{modules}/mod_log_config.so"
</IfModule>
LoadModule alias_module "{modules}/mod_alias.so"
LoadModule wsgi_module "{module}"
{user}LogFormat "%h \\"%r\\" %>s %b %Dus" short
CustomLog /dev/stdout short
WSGIPythonHome "{venv}"
WSGIScriptAlias / "{script}"
<Directory "{scriptdir}">
    Require all granted
</Directory>
""".format(root=root, host=args.host, port=args.port, modules=modules,
           module=module, user=user, venv=os.path.abspath(args.venv),
           script=script, scriptdir=os.path.dirname(script)))

    print("Serving %s at http://%s:%d/ (Ctrl-C stops)" % (script, args.host,
                                                          args.port))
    sys.stdout.flush()
    proc = subprocess.Popen([httpd, "-f", conf, "-DFOREGROUND"])

    def stop(signum, frame):
        proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
