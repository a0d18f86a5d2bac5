"""The options that switch on Apache features around the application
(proxying, service processes, handlers by extension, CGI, logs, read
timeouts): their values checked against each other before any file is
written, and the lines said about options that do nothing yet.

check(args, mpm) returns the values it normalised (absolute script
paths, extensions with their dot); notes(s) the lines start-server prints.
"""

import errno
import grp
import os
import pwd
import socket
import sysconfig

from mod_wsgi.express.errors import SetupError
from mod_wsgi.express.options import REGISTRY, flag_of, group_name

# AllowOverride's directive types (Options=... is given as Options).
OVERRIDES = ("All", "None", "AuthConfig", "FileInfo", "Indexes", "Limit",
             "Options")
# LogFormat nicknames Apache's own configuration defines; express defines
# them too (apache_conf.LOG_FORMATS).
LOG_NICKNAMES = ("common", "combined", "referer", "agent")
PROXY_SCHEMES = ("http://", "https://", "ws://", "wss://")


def _services(args):
    """(name, absolute script) of each --service-script; the per-service
    options must name one of them."""
    services, seen = [], set()
    for name, script in args.service_script:
        problem = group_name(name)
        if problem or any(ch.isspace() for ch in name):
            raise SetupError("--service-script: %s." % (
                problem or "%r cannot name a service (no spaces)" % name))
        if name in seen:
            raise SetupError("--service-script %s is given twice." % name)
        if not os.path.isfile(script):
            raise SetupError("--service-script %s: %s does not exist."
                             % (name, script))
        seen.add(name)
        services.append((name, os.path.abspath(script)))
    for option in ("service_user", "service_group", "service_log_file"):
        for name, _ in getattr(args, option):
            if name not in seen:
                raise SetupError("%s %s: there is no --service-script %s."
                                 % (flag_of(option), name, name))
    for name, user in args.service_user:
        _known("--service-user %s" % name, user, pwd.getpwnam, "user")
    for name, group in args.service_group:
        _known("--service-group %s" % name, group, grp.getgrnam, "group")
    for name, file_name in args.service_log_file:
        if "/" in file_name or file_name in ("", ".", ".."):
            raise SetupError("--service-log-file %s: %r must be a file name "
                             "in the log directory." % (name, file_name))
    return services


def _known(what, name, lookup, kind):
    try:
        lookup(name)
    except KeyError:
        raise SetupError("%s: no %s %s on this system." % (what, kind, name))
    if os.geteuid() != 0:
        raise SetupError("%s needs root (a service runs as another %s only "
                         "when the server is started as root); leave it out."
                         % (what, kind))


def _handlers(args):
    handlers = []
    for extension, script in args.add_handler:
        ext = extension if extension.startswith(".") else "." + extension
        if len(ext) < 2 or not ext[1:].replace("_", "").replace(
                "-", "").isalnum():
            raise SetupError("--add-handler: %r is not a file extension "
                             "(e.g. .md)." % extension)
        if not os.path.isfile(script):
            raise SetupError("--add-handler %s: %s does not exist."
                             % (extension, script))
        handlers.append((ext, os.path.abspath(script)))
    return handlers


def _proxies(args):
    for url_path, target in args.proxy_mount_point:
        if not url_path.startswith("/"):
            raise SetupError("--proxy-mount-point: the URL path %r must "
                             "start with '/'." % url_path)
        if not target.startswith(PROXY_SCHEMES):
            raise SetupError("--proxy-mount-point %s: %r is not an http://, "
                             "https://, ws:// or wss:// URL."
                             % (url_path, target))
    for host, target in args.proxy_virtual_host:
        if not host or "/" in host or ":" in host:
            raise SetupError("--proxy-virtual-host: %r is not a host name."
                             % host)
        if not target.startswith(PROXY_SCHEMES[:2]):
            raise SetupError("--proxy-virtual-host %s: %r is not an http:// "
                             "or https:// URL." % (host, target))


def _read_timeouts(args):
    for what in ("header", "body"):
        timeout = getattr(args, what + "_timeout")
        most = getattr(args, what + "_max_timeout")
        if timeout and most and most <= timeout:
            raise SetupError("--%s-max-timeout %d must be above --%s-timeout"
                             " %d (or 0: no maximum)."
                             % (what, most, what, timeout))


def check(args, mpm):
    """The feature options checked; returns the values normalised."""
    if args.http2 and mpm == "prefork":
        raise SetupError("--http2 needs the event or worker MPM (mod_http2 "
                         "does not run under prefork); leave out "
                         "--server-mpm prefork.")
    for kind in args.allow_override:
        if kind.split("=")[0] not in OVERRIDES:
            raise SetupError("--allow-override: %r is not an AllowOverride "
                             "type (%s)." % (kind, ", ".join(OVERRIDES)))
    if args.ssl_verify_client and not args.ssl_ca_certificate_file:
        raise SetupError("--ssl-verify-client needs --ssl-ca-certificate-file"
                         " FILE: the CAs that sign the client certificates.")
    if args.reload_on_changes and args.disable_reloading:
        raise SetupError("--reload-on-changes and --disable-reloading "
                         "exclude each other.")
    if args.free_threading and not sysconfig.get_config_var(
            "Py_GIL_DISABLED"):
        raise SetupError("--free-threading needs a free-threaded Python "
                         "(3.13t or later, built with --disable-gil); run "
                         "mod_wsgi-express with one.")
    _proxies(args)
    _read_timeouts(args)
    return dict(add_handler=_handlers(args), service_script=_services(args))


def notes(s):
    """One line for each option given that has no effect (yet): said, never
    silently dropped."""
    lines = []
    for opt in REGISTRY:
        value = getattr(s, opt.name, None)
        if opt.pending and value not in (None, False, [], opt.default):
            lines.append("%s: accepted; it %s, which this module does not do "
                         "yet, so it has no effect." % (opt.flags[0],
                                                        opt.pending))
    if s.directory_listing and s.application_type != "static":
        lines.append("--directory-listing: directories are listed only with "
                     "--application-type static; here the application "
                     "answers directory URLs.")
    return lines


def check_ports(args):
    """start-server: --port and --https-port free to listen on, so that a
    port in use is one line naming the option, not Apache's AH00072."""
    host = (args.host or "").strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for option in ("port", "https_port"):
        port = getattr(args, option)
        if port is None:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SetupError("%s %d: the port is in use (another server "
                                 "listens on it); stop that server or "
                                 "choose another port with %s."
                                 % (flag_of(option), port, flag_of(option)))
            if exc.errno == errno.EADDRNOTAVAIL:
                raise SetupError("--host %s: this machine has no such "
                                 "address; give one of its own, or leave "
                                 "--host out." % host)
            # EACCES (a port below 1024 for a user): Apache, started as
            # root by apachectl, may still bind it.
        finally:
            sock.close()
