"""setup-server and start-server: the server root, and running Apache.

setup_server() turns parsed options into Settings (every default and
derived value resolved, every path absolute), then writes the server root:

    httpd.conf     the configuration (apache_conf.render)
    apachectl      start|stop|restart|graceful|graceful-stop|configtest
    envvars        sourced by apachectl: add environment variables there
    handler.wsgi   loads the application (handler.render)
    htdocs/        the default document root

start_server() then runs `apachectl start -DFOREGROUND`: Apache itself,
in the foreground, so that SIGTERM and SIGINT stop it, SIGHUP restarts it
and SIGUSR1 restarts it gracefully.
"""

import dataclasses
import os
import pwd
import grp
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from mod_wsgi import server as built
from mod_wsgi.express import (apache_conf, debug, features, handler,
                              platform, status)
from mod_wsgi.express.errors import SetupError
from mod_wsgi.express.forwarding import wait_forwarding
from mod_wsgi.express.options import REGISTRY, env_name

# A NAME VALUE (or STATUS URL) option as argparse gives it: a list of two.
Pair = Sequence[str]


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the generated files need, resolved. First one field per
    registered option, as settings_from resolved it (a path made absolute,
    a missing value filled in), then the values derived from them.

    The fields settings_from always fills have no default: a value it
    forgets, or a misspelt name, is a TypeError when the Settings is made
    rather than an AttributeError halfway through rendering. Frozen, so
    that a misspelt assignment fails too."""

    # -- the application
    entry_point: Optional[str]      # absolute script path, or module name
    application_type: str
    callable_object: str
    mount_point: str
    application_group: str
    process_group: str
    working_directory: str
    python_path: List[str]
    setenv: List[Pair]
    passenv: List[str]
    reload_on_changes: bool

    # -- network
    host: Optional[str]
    port: int
    server_name: str
    server_alias: List[str]
    allow_localhost: bool
    trust_proxy_header: List[str]
    trust_proxy: List[str]
    https_port: Optional[int]
    ssl_certificate_file: Optional[str]
    ssl_certificate_key_file: Optional[str]
    ssl_certificate: Optional[str]
    ssl_certificate_chain_file: Optional[str]
    https_only: bool
    hsts_policy: Optional[str]
    ssl_environment: bool
    server_backlog: int
    limit_request_body: int
    keep_alive_timeout: int
    http2: bool
    ssl_ca_certificate_file: Optional[str]
    ssl_verify_client: List[str]

    # -- capacity and mode
    processes: Optional[int]
    threads: int
    max_clients: int
    embedded_mode: bool
    server_mpm: Optional[str]
    daemon_backlog: int
    initial_workers: Optional[float]
    minimum_spare_workers: Optional[float]
    maximum_spare_workers: Optional[float]
    socket_prefix: str              # directory of the daemon sockets
    ignore_activity: List[str]

    # -- timeouts (seconds) and recycling
    request_timeout: int
    queue_timeout: int
    socket_timeout: int
    connect_timeout: int
    startup_timeout: int
    deadlock_timeout: int
    graceful_timeout: int
    shutdown_timeout: int
    inactivity_timeout: int
    restart_interval: int
    maximum_requests: int
    interrupt_timeout: int
    eviction_timeout: int
    response_socket_timeout: int
    cpu_time_limit: int
    response_flush_delay: Optional[int]
    header_buffer_size: int
    response_buffer_size: int
    receive_buffer_size: int
    send_buffer_size: int
    server_metrics: bool
    metrics_url: Optional[str]
    status_url: Optional[str]

    # -- reading requests (mod_reqtimeout)
    header_timeout: int
    header_max_timeout: int
    header_min_rate: int
    body_timeout: int
    body_max_timeout: int
    body_min_rate: int

    process_name: Optional[str]
    python_eggs: Optional[str]
    switch_interval: Optional[float]
    map_head_to_get: str
    error_override: bool
    enable_sendfile: bool

    # -- Python
    python_warnings: List[str]
    orphan_interpreter: bool
    disable_reloading: bool
    free_threading: bool

    # -- access and authentication
    auth_user_script: Optional[str]
    auth_type: str
    auth_group_script: Optional[str]
    auth_group: str
    host_access_script: Optional[str]

    # -- static files and Apache features
    document_root: str
    directory_index: Optional[str]
    url_alias: List[Tuple[str, str]]    # (URL path, absolute path)
    error_document: List[Pair]
    compress_responses: bool
    chunked_request: bool
    include_file: List[str]
    directory_listing: bool
    allow_override: List[str]
    rewrite_rules: str              # the file, default rewrite.conf
    add_handler: List[Tuple[str, str]]  # (extension, absolute script)
    with_cgi: bool
    server_status: bool
    enable_docs: bool

    # -- proxying
    proxy_mount_point: List[Pair]
    proxy_virtual_host: List[Pair]
    proxy_timeout: Optional[int]

    # -- services
    service_script: List[Tuple[str, str]]   # (name, absolute script)
    service_user: List[Pair]
    service_group: List[Pair]
    service_log_file: List[Pair]

    # -- debugging
    debug_mode: bool
    enable_debugger: bool
    debugger_startup: bool
    enable_coverage: bool
    coverage_directory: Optional[str]
    enable_profiler: bool
    profiler_directory: Optional[str]
    enable_recorder: bool
    recorder_directory: Optional[str]
    enable_gdb: bool
    gdb_executable: str

    # -- telemetry (accepted; the module does not do it yet)
    telemetry_service: Optional[str]
    telemetry_interval: float
    telemetry_options: List[str]
    slow_requests: Optional[float]
    enable_telemetry: bool
    telemetry_ui_port: int

    # -- processes, logging, files
    user: Optional[str]
    group: Optional[str]
    server_root: str
    log_directory: str
    log_level: str
    log_to_terminal: bool
    access_log: bool
    access_log_format: Optional[str]
    access_log_name: str
    error_log_format: Optional[str]
    error_log_name: str
    rotate_logs: bool
    max_log_size: int
    rotatelogs_executable: Optional[str]
    startup_log: bool
    startup_log_name: str
    pid_file: str
    locale: str
    httpd_executable: Optional[str]
    shell_executable: str
    envvars_script: str             # the file, default envvars
    modules_directory: str
    mime_types: Optional[str]

    # -- derived (no option of their own)
    error_log: str
    access_log_file: str
    startup_log_file: str
    handler_script: str
    python_home: str                # sys.prefix, for WSGIPythonHome
    httpd: str                      # the Apache binary apachectl runs
    mpm: str                        # event, worker or prefork
    module_path: str                # the built mod_wsgi .so
    rotatelogs: Optional[str]       # with --rotate-logs, the program
    listen_host: Optional[str]      # host, IPv6 in brackets
    docs_directory: Optional[str]   # with --enable-docs, the installed docs
    server_name_given: bool
    layout: platform.Layout

    # -- optional
    # start-server's alone (setup-server has no --setup-only).
    setup_only: bool = False
    # For the comment at the top of apachectl.
    command_line: Optional[str] = None
    # Set in os.environ before the application loads (runmodwsgi).
    environment: Dict[str, str] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- lookup

def module_path():
    path = built.module_location()
    if path is None:
        raise SetupError(
            "the Apache module for Python %d.%d is not built (no %s); "
            "reinstall the package with 'pip install' (it needs apxs, from "
            "apache2-dev or httpd-devel)."
            % (sys.version_info[:2]
               + (os.path.join(built.HERE, built.module_name()),)))
    return path


def find_httpd(args, layout, recorded):
    if args.httpd_executable:
        path = args.httpd_executable
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise SetupError("--httpd-executable %s is not an executable "
                             "file." % path)
        return os.path.abspath(path)
    sbindir, progname = recorded.get("SBINDIR"), recorded.get("PROGNAME")
    if sbindir and progname:
        path = os.path.join(sbindir, progname)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    path = layout.httpd_executable(sbindir)
    if path is None:
        raise SetupError("cannot find the Apache binary (looked for %s); "
                         "install Apache (apache2 or httpd) or pass "
                         "--httpd-executable FILE."
                         % ", ".join(layout.httpd_names or ["httpd"]))
    return path


def find_modules_directory(args, layout, recorded):
    found = (args.modules_directory or recorded.get("LIBEXECDIR")
             or layout.modules_directory())
    if not found or not os.path.isdir(found):
        raise SetupError("cannot find Apache's modules directory (tried %s);"
                         " pass --modules-directory DIR."
                         % (found or "apxs LIBEXECDIR"))
    return os.path.abspath(found)


def pick_mpm(args, modules_directory):
    available = [m for m in ("event", "worker", "prefork") if os.path.exists(
        os.path.join(modules_directory, "mod_mpm_%s.so" % m))]
    if args.server_mpm:
        if args.server_mpm not in available:
            raise SetupError("--server-mpm %s: there is no mod_mpm_%s.so in "
                             "%s; installed: %s." % (
                                 args.server_mpm, args.server_mpm,
                                 modules_directory,
                                 ", ".join(available) or "none"))
        return args.server_mpm
    if not available:
        raise SetupError("no MPM module (mod_mpm_event.so, mod_mpm_worker.so"
                         " or mod_mpm_prefork.so) in %s; pass "
                         "--modules-directory DIR." % modules_directory)
    return available[0]


def default_locale():
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = os.environ.get(name)
        if value:
            break
    else:
        value = ""
    norm = value.lower().replace("-", "")
    if norm.endswith(".utf8"):
        return value
    return "C.UTF-8"


def check_user(args, layout):
    root = os.geteuid() == 0
    if root and (not args.user or not args.group):
        example = layout.default_user() or "www-data"
        raise SetupError(
            "running as root, Apache's children and the daemon processes "
            "must run as an unprivileged user: pass --user and --group, "
            "e.g. --user %s --group %s." % (example, example))
    if args.user:
        try:
            pw = pwd.getpwnam(args.user)
        except KeyError:
            raise SetupError("--user %s: no such user on this system."
                             % args.user)
        if pw.pw_uid == 0:
            raise SetupError("--user %s is root; the application must run "
                             "as an unprivileged user." % args.user)
    if args.group:
        try:
            grp.getgrnam(args.group)
        except KeyError:
            raise SetupError("--group %s: no such group on this system."
                             % args.group)
    if not root and (args.user or args.group):
        me = pwd.getpwuid(os.geteuid()).pw_name
        if args.user and args.user != me:
            raise SetupError("--user %s needs root; as %s, leave --user and "
                             "--group out." % (args.user, me))
        # Not root: everything runs as us anyway.
        return None, None
    return args.user, args.group


def find_rotatelogs(args, httpd):
    if not args.rotate_logs:
        return None
    if args.log_to_terminal:
        raise SetupError("--rotate-logs and --log-to-terminal exclude each "
                         "other: rotated logs are files.")
    if args.rotatelogs_executable:
        candidates = [args.rotatelogs_executable]
    else:
        candidates = [os.path.join(os.path.dirname(httpd), "rotatelogs"),
                      "/usr/sbin/rotatelogs", "/usr/bin/rotatelogs",
                      shutil.which("rotatelogs") or ""]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise SetupError("--rotate-logs needs Apache's rotatelogs program, "
                     "which is not in %s; install it (it comes with Apache"
                     ": apache2-utils on Debian/Ubuntu, httpd-tools on "
                     "Fedora/RHEL) or pass --rotatelogs-executable FILE."
                     % ", ".join(p for p in candidates if p))


def https_files(args):
    """(certificate file, key file) for HTTPS, or (None, None)."""
    cert, key = args.ssl_certificate_file, args.ssl_certificate_key_file
    if args.ssl_certificate:
        if cert or key:
            raise SetupError("give --ssl-certificate BASE, or "
                             "--ssl-certificate-file with "
                             "--ssl-certificate-key-file, not both.")
        cert = args.ssl_certificate + ".crt"
        key = args.ssl_certificate + ".key"
        for path in (cert, key):
            if not os.path.isfile(path):
                raise SetupError("--ssl-certificate %s: %s does not exist."
                                 % (args.ssl_certificate, path))
    given = (cert or key or args.ssl_certificate_chain_file
             or args.ssl_ca_certificate_file)
    if args.https_port is None:
        if (given or args.https_only or args.ssl_environment
                or args.hsts_policy):
            raise SetupError("the certificate and HTTPS options need "
                             "--https-port NUMBER.")
        return None, None
    if not (cert and key):
        raise SetupError("--https-port needs a certificate and its key: "
                         "--ssl-certificate-file FILE and "
                         "--ssl-certificate-key-file FILE, or "
                         "--ssl-certificate BASE (BASE.crt, BASE.key).")
    if args.https_port == args.port:
        raise SetupError("--https-port and --port must differ (both are "
                         "%d)." % args.port)
    return os.path.abspath(cert), os.path.abspath(key)


def max_clients(args, processes, threads):
    if args.max_clients:
        return args.max_clients
    if args.embedded_mode:
        return processes * threads
    return 10 + max(10, int(1.5 * processes * threads))


def entry_point_of(args):
    """The application to serve, checked against --application-type: an
    absolute path for a script or a static directory, a dotted name for
    a module, or None (the welcome page) for a script."""
    entry = args.entry_point or args.script
    if args.entry_point and args.script and args.entry_point != args.script:
        raise SetupError("give the application once: either the script "
                         "argument or --entry-point, not both.")
    kind = args.application_type
    if entry is not None:
        if kind == "script":
            if not os.path.isfile(entry):
                raise SetupError("the WSGI script %s does not exist (for an "
                                 "importable module pass --application-type "
                                 "module)." % entry)
            entry = os.path.abspath(entry)
        elif kind == "static":
            if not os.path.isdir(entry):
                raise SetupError("--application-type static needs a "
                                 "directory to serve; %s is not one."
                                 % entry)
            entry = os.path.abspath(entry)
        else:
            from mod_wsgi.express.options import dotted_name
            problem = dotted_name(entry)
            if problem:
                raise SetupError("--application-type module: %s." % problem)
    elif kind != "script":
        raise SetupError("--application-type %s needs an entry point (the "
                         "script argument or --entry-point)." % kind)
    return entry


def check_arguments(args, layout):
    """The options checked against each other and the system. Returns the
    values whose check finds them (each made absolute where it is a
    path that must exist): entry_point, url_alias, the certificate and key
    files, user and group."""
    entry = entry_point_of(args)
    if args.reload_on_changes and args.embedded_mode:
        raise SetupError("--reload-on-changes restarts daemon processes; it "
                         "cannot be combined with --embedded-mode.")
    for name, _ in args.setenv:
        problem = env_name(name)
        if problem:
            raise SetupError("--setenv: %s." % problem)
    for status, _ in args.error_document:
        if not (status.isdigit() and len(status) == 3
                and status[0] in "45"):
            raise SetupError("--error-document: %r is not an HTTP error "
                             "status (400 to 599)." % status)
    url_alias = []
    for url, path in args.url_alias:
        if not url.startswith("/"):
            raise SetupError("--url-alias: the URL path %r must start with "
                             "'/'." % url)
        if not os.path.exists(path):
            raise SetupError("--url-alias %s: %s does not exist."
                             % (url, path))
        url_alias.append((url, os.path.abspath(path)))

    cert, key = https_files(args)
    if (args.server_alias or args.allow_localhost) and not args.server_name:
        raise SetupError("--server-alias and --allow-localhost need "
                         "--server-name HOSTNAME.")

    user, group = check_user(args, layout)
    return dict(entry_point=entry, url_alias=url_alias,
                ssl_certificate_file=cert, ssl_certificate_key_file=key,
                user=user, group=group)


def resolve_paths(args, layout, entry):
    """Every file and directory of the server root, and those given on the
    command line, as absolute paths (defaults filled in). Fails only for
    a server root too long for the daemon sockets."""
    uid = os.geteuid()
    server_root = os.path.abspath(args.server_root or os.path.join(
        tempfile.gettempdir(), "mod_wsgi-%s:%d:%d" % (
            args.host or "localhost", args.port, uid)))
    # The daemon sockets are <server root>/wsgi.PID.GENERATION.ID.sock,
    # and a UNIX socket path has at most 107 bytes.
    socket_prefix = os.path.abspath(args.socket_prefix or server_root)
    longest = os.path.join(socket_prefix, "wsgi.4194304.999.999.sock")
    if not args.embedded_mode and len(os.fsencode(longest)) > 107:
        raise SetupError("%s %s is too long a path for the daemon "
                         "processes' sockets (UNIX socket paths are limited "
                         "to 107 bytes); choose a shorter one." % (
                             "--socket-prefix" if args.socket_prefix
                             else "the server root --server-root",
                             socket_prefix))
    log_directory = os.path.abspath(args.log_directory or server_root)
    if args.application_type == "static":
        document_root = entry
    elif args.document_root:
        document_root = os.path.abspath(args.document_root)
    else:
        document_root = os.path.join(server_root, "htdocs")
    def in_root(given, name):
        return os.path.abspath(given) if given else os.path.join(
            server_root, name)

    return dict(
        server_root=server_root,
        socket_prefix=socket_prefix,
        log_directory=log_directory,
        error_log=os.path.join(log_directory, args.error_log_name),
        access_log_file=os.path.join(log_directory, args.access_log_name),
        startup_log_file=os.path.join(log_directory, args.startup_log_name),
        rewrite_rules=in_root(args.rewrite_rules, "rewrite.conf"),
        envvars_script=in_root(args.envvars_script, "envvars"),
        coverage_directory=in_root(args.coverage_directory, "htmlcov"),
        profiler_directory=in_root(args.profiler_directory, "pstats"),
        recorder_directory=in_root(args.recorder_directory, "archive"),
        shell_executable=os.path.abspath(args.shell_executable),
        pid_file=os.path.abspath(args.pid_file or os.path.join(
            server_root, "httpd.pid")),
        working_directory=os.path.abspath(args.working_directory
                                          or os.getcwd()),
        python_path=[os.path.abspath(p) for p in args.python_path],
        include_file=[os.path.abspath(p) for p in args.include_file],
        document_root=document_root,
        handler_script=os.path.join(server_root, "handler.wsgi"),
        mime_types=(os.path.abspath(args.mime_types) if args.mime_types
                    else layout.mime_types_file()),
        ssl_certificate_chain_file=(
            os.path.abspath(args.ssl_certificate_chain_file)
            if args.ssl_certificate_chain_file else None),
        python_home=os.path.normpath(sys.prefix),
        **{name: os.path.abspath(getattr(args, name))
           if getattr(args, name) else None
           for name in ("auth_user_script", "auth_group_script",
                        "host_access_script", "python_eggs",
                        "ssl_ca_certificate_file")}
    )


def find_apache(args, layout, recorded):
    """What of Apache (and of this package) the server runs: the modules
    directory, the binary, the MPM, the built module and rotatelogs. Each
    raises SetupError, in this order, when it is not there."""
    modules_directory = find_modules_directory(args, layout, recorded)
    httpd = find_httpd(args, layout, recorded)
    return dict(
        modules_directory=modules_directory,
        httpd=httpd,
        mpm=pick_mpm(args, modules_directory),
        module_path=module_path(),
        rotatelogs=find_rotatelogs(args, httpd),
    )


def derive(args):
    """The values derived from the options alone: sizing, names and the
    locale."""
    host, port = args.host, args.port
    if host and ":" in host and not host.startswith("["):
        listen_host = "[%s]" % host     # IPv6
    else:
        listen_host = host
    return dict(
        max_clients=max_clients(args, args.processes or 1, args.threads),
        listen_host=listen_host,
        server_name_given=bool(args.server_name),
        server_name=args.server_name or (
            listen_host if listen_host else "localhost"),
        process_group=args.process_group or "%s:%d" % (host or "localhost",
                                                       port),
        locale=args.locale or default_locale(),
        # The status page reads the metrics page: there is one with it.
        metrics_url=args.metrics_url or (
            "/wsgi-metrics" if args.status_url else None),
    )


def settings_from(args, command_line=None):
    """Validates the parsed options against each other and the system and
    resolves every default. The steps run in this order, so that of two
    problems the same one is always reported."""
    debug.prepare(args)
    layout = platform.detect()
    recorded = built.build_settings()
    checked = check_arguments(args, layout)
    paths = resolve_paths(args, layout, checked["entry_point"])
    apache = find_apache(args, layout, recorded)
    found = features.check(args, apache["mpm"])

    values = {o.name: getattr(args, o.name) for o in REGISTRY
              if hasattr(args, o.name)}
    values.update(checked)
    values.update(paths)
    values.update(apache)
    values.update(found)
    values.update(docs_directory=docs_directory(args))
    values.update(derive(args))
    values.update(
        layout=layout,
        command_line=command_line,
        environment=dict(getattr(args, "environment", None) or {}),
    )
    return Settings(**values)


# ---------------------------------------------------------------- files

def sanitized(text):
    """text made safe for a shell comment line."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def apachectl_text(s):
    q = shlex.quote
    conf = os.path.join(s.server_root, "httpd.conf")
    extra = ""
    if s.startup_log:
        extra = " -E %s" % q(s.startup_log_file)
    env = [("MOD_WSGI_SERVER_ROOT", s.server_root),
           ("MOD_WSGI_LISTENER_HOST", s.host or ""),
           ("MOD_WSGI_HTTP_PORT", str(s.port)),
           ("MOD_WSGI_HTTPS_PORT", str(s.https_port or "")),
           ("MOD_WSGI_MODULES_DIRECTORY", s.modules_directory),
           ("MOD_WSGI_WORKING_DIRECTORY", s.working_directory),
           ("LANG", s.locale), ("LC_ALL", s.locale)]
    lines = ["#!%s" % s.shell_executable,
             "# Controls the Apache of this mod_wsgi-express server root. "
             "Generated by:",
             "#   %s" % sanitized(s.command_line or "mod_wsgi-express"),
             "# Usage: apachectl start|stop|restart|graceful|graceful-stop|"
             "configtest [httpd arguments]",
             "",
             "HTTPD=%s" % q(s.httpd),
             "CONF=%s" % q(conf),
             ""]
    for name, value in env:
        lines.append("%s=%s; export %s" % (name, q(value), name))
    lines += ["",
              ". %s" % q(s.envvars_script),
              "",
              'ACMD="$1"',
              '[ $# -gt 0 ] && shift',
              'case "$ACMD" in']
    lines += debug.apachectl_lines(s, extra)
    lines += ["start|stop|restart|graceful|graceful-stop)",
              '    exec "$HTTPD" -f "$CONF"%s -k "$ACMD" "$@"' % extra,
              "    ;;",
              "configtest)",
              '    exec "$HTTPD" -f "$CONF" -t "$@"',
              "    ;;",
              "*)",
              '    echo "usage: $0 start|stop|restart|graceful|'
              'graceful-stop|configtest" >&2',
              "    exit 2",
              "    ;;",
              "esac",
              ""]
    return "\n".join(lines)


ENVVARS = """\
# Sourced by apachectl before Apache starts: set and export environment
# variables for Apache and the application here, e.g.
#   DJANGO_SETTINGS_MODULE=mysite.settings; export DJANGO_SETTINGS_MODULE
"""


REWRITE_CONF = """\
# Included by httpd.conf in the server context, before the rules that
# serve the document root's files: mod_rewrite rules for every request
# (patterns match the URL path with its leading /), e.g.
#   RewriteRule "^/old/(.*)$" "/new/$1" [R=301,L]
"""


def service_log(s, name):
    """The --service-log-file of a service, in the log directory, or
    None (its output goes to the error log)."""
    for service, file_name in s.service_log_file:
        if service == name:
            return os.path.join(s.log_directory, file_name)
    return None


def make_service_log(s, name, path):
    """The service's log file, made now and (started as root) given to the
    user the service runs as: the service opens it after Apache has
    switched to that user, in a directory that user may not write."""
    with open(path, "a"):
        pass
    if os.geteuid() == 0:
        user = dict(s.service_user).get(name, s.user)
        group = dict(s.service_group).get(name, s.group)
        os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)


def docs_directory(args):
    """With --enable-docs: the documentation installed with the package."""
    if not args.enable_docs:
        return None
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        handler.__file__))), "docs")
    if not os.path.isfile(os.path.join(path, "index.md")):
        raise SetupError("--enable-docs: the documentation is not installed "
                         "with this package (no %s); reinstall it with pip "
                         "from the source tree." % os.path.join(path,
                                                                "index.md"))
    return path


def handler_settings(s):
    return {"entry_point": s.entry_point,
            "application_type": s.application_type,
            "callable_object": s.callable_object,
            "working_directory": s.working_directory,
            "python_path": list(s.python_path),
            "reload_on_changes": bool(s.reload_on_changes),
            "disable_reloading": bool(s.disable_reloading),
            "environment": dict(s.environment),
            "debug": debug.handler_settings(s)}


def write_file(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def make_directory(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SetupError("cannot create %s: %s." % (path, exc.strerror))
    # Apache's children (another user when started as root) read here.
    try:
        os.chmod(path, 0o755)
    except OSError:
        pass


def write_server_root(s):
    # Render first: a refused value leaves no half-written server root.
    conf = apache_conf.render(s)
    make_directory(s.server_root)
    if s.log_directory != s.server_root:
        make_directory(s.log_directory)
    if s.document_root == os.path.join(s.server_root, "htdocs"):
        make_directory(s.document_root)
    try:
        write_file(os.path.join(s.server_root, "httpd.conf"), conf)
        write_file(os.path.join(s.server_root, "apachectl"),
                   apachectl_text(s), 0o755)
        for path, text in ((os.path.join(s.server_root, "envvars"),
                            ENVVARS),
                           (os.path.join(s.server_root, "rewrite.conf"),
                            REWRITE_CONF)):
            if not os.path.exists(path):
                write_file(path, text)
        for name, script in s.service_script:
            log = service_log(s, name)
            write_file(apache_conf.service_wrapper(s, name),
                       handler.render_service(name, script, log))
            if log:
                make_service_log(s, name, log)
        write_file(s.handler_script, handler.render(handler_settings(s)))
        if s.status_url:
            write_file(os.path.join(s.server_root, "status.html"),
                       status.render(s.server_name + ":%d" % s.port,
                                     s.metrics_url))
        debug.write_files(s)
    except OSError as exc:
        raise SetupError("cannot write the server root %s: %s."
                         % (s.server_root, exc))


def setup_server(args, command_line=None):
    s = settings_from(args, command_line)
    write_server_root(s)
    return s


def summary(s):
    mode = ("embedded (in Apache's processes)" if s.embedded_mode
            else "daemon (%d process%s x %d threads)" % (
                s.processes or 1, "" if (s.processes or 1) == 1 else "es",
                s.threads))
    if s.application_type == "static":
        mode = "static files only"
    url_host = s.host if s.host and s.host not in ("0.0.0.0", "::") else (
        s.server_name)
    if ":" in url_host:
        url_host = "[%s]" % url_host.strip("[]")
    return "\n".join([
        "Server URL         : http://%s:%d%s" % (url_host, s.port,
                                                  s.mount_point),
        ] + ([
        "Server URL (HTTPS) : https://%s:%d%s" % (url_host, s.https_port,
                                                  s.mount_point)]
             if s.https_port else []) + [
        "Server root        : %s" % s.server_root,
        "Server conf        : %s" % os.path.join(s.server_root,
                                                 "httpd.conf"),
        "Error log          : %s" % ("(terminal)" if s.log_to_terminal
                                     else s.error_log),
        "Operating mode     : %s" % mode,
        "Request timeout    : %d (seconds)" % s.request_timeout,
        "Queue timeout      : %d (seconds)" % s.queue_timeout,
        "Locale             : %s" % s.locale,
        ""])


# ---------------------------------------------------------------- running

def apache_environment():
    """The environment Apache starts with: ours, less what would
    redirect the Python inside Apache (WSGIPythonHome decides that)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP")}


def start_server(s):
    """Runs Apache in the foreground; returns its exit status.

    Not on a terminal, this process becomes Apache (exec), so its pid is
    Apache's and signals reach it directly. On a terminal, Apache runs as
    a child in a process group of its own, with INT/TERM/HUP/USR1
    forwarded: so that resizing the terminal (SIGWINCH, which Apache
    takes as graceful-stop) cannot stop it. With --enable-gdb, gdb runs
    Apache and this process forwards the signals to it (debug.py)."""
    apachectl = os.path.join(s.server_root, "apachectl")
    # (apachectl start has debug mode's own -D options.)
    argv = [apachectl, "start"] + ([] if s.debug_mode else ["-DFOREGROUND"])
    env = apache_environment()
    sys.stdout.write(debug.summary(s))
    sys.stdout.flush()
    sys.stderr.flush()
    if s.enable_gdb:
        return debug.run_under_gdb(argv, env, s.pid_file)
    if not sys.stdin.isatty():
        os.execve(apachectl, argv, env)
    return supervise(argv, env, s.debug_mode)


def supervise(argv, env, debug_mode=False):
    child = subprocess.Popen(argv, env=env, start_new_session=True)
    interrupts = []

    def forward(signum, frame):
        if signum == signal.SIGINT:
            signum = signal.SIGTERM
            interrupts.append(signum)
            # In debug mode a request held in pdb holds Apache's stop
            # too: a second Ctrl-C kills the one process.
            if debug_mode and len(interrupts) > 1:
                signum = signal.SIGKILL
            if debug_mode:
                sys.stderr.write("\nmod_wsgi-express: %s\n" % (
                    "Apache killed." if signum == signal.SIGKILL else
                    "stopping (a request in pdb holds the stop until pdb "
                    "ends; Ctrl-C again kills Apache)."))
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    return wait_forwarding(child, forward)
