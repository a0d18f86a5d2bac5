"""Declarative registry of mod_wsgi-express options.

Each option is declared once: name, command-line flags, type, default,
help, an optional validator, the subcommands that take it, and (for the
options that map one to one onto Apache configuration) the directive or
WSGIDaemonProcess option it becomes. The argument parsers, the --help
text and the generated httpd.conf are all derived from this registry, so
names, defaults and help text cannot drift apart.
"""

import argparse
import os
import re

SERVER = ("start-server", "setup-server")


class Option:
    def __init__(self, name, flags, help, type=str, default=None,
                 validator=None, action=None, metavar=None, commands=SERVER,
                 nargs=None, choices=None, section="General",
                 daemon_option=None, directive=None, pending=None):
        self.name = name            # attribute name on the parsed args
        self.flags = flags          # e.g. ["--port"]
        self.help = help
        self.type = type            # converts the command-line text
        self.default = default
        self.validator = validator  # value -> None, or a problem message
        self.action = action        # argparse action: store_true, append
        self.metavar = metavar
        self.commands = commands    # subcommands that accept the option
        self.nargs = nargs          # e.g. 2 for --setenv NAME VALUE
        self.choices = choices
        self.section = section      # heading in --help
        # The option's value goes into httpd.conf as this
        # WSGIDaemonProcess option (daemon_option=) or server-level
        # directive (directive=) when it is set and not 0.
        self.daemon_option = daemon_option
        self.directive = directive
        # What the option will do once the module does it (another issue):
        # accepted, rendered, and this said in one line when it is given.
        self.pending = pending

    def add_to(self, parser):
        kwargs = {"dest": self.name, "help": self.help_text(),
                  "default": self.default}
        if self.action in ("store_true", "store_false"):
            kwargs["action"] = self.action
        else:
            if self.action:
                kwargs["action"] = self.action
            kwargs["type"] = self.convert
            if self.metavar:
                kwargs["metavar"] = self.metavar
            if self.nargs:
                kwargs["nargs"] = self.nargs
            if self.choices:
                kwargs["choices"] = self.choices
        parser.add_argument(*self.flags, **kwargs)

    def help_text(self):
        text = self.help
        if self.choices:
            text += " One of: %s." % ", ".join(self.choices)
        if self.default not in (None, False, [], ()):
            text += " (default: %s)" % (self.default,)
        # argparse formats help with %-interpolation.
        return text.replace("%", "%%")

    def convert(self, text):
        try:
            value = self.type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                "%r is not a valid %s" % (text, TYPE_NAMES.get(
                    self.type, "value")))
        if self.validator is not None:
            problem = self.validator(value)
            if problem:
                raise argparse.ArgumentTypeError(problem)
        return value


TYPE_NAMES = {int: "whole number", float: "number"}


# ---------------------------------------------------------- validators

def directory_exists(value):
    if not os.path.isdir(value):
        return "%r is not a directory" % value
    return None


def file_exists(value):
    if not os.path.isfile(value):
        return "%r is not a file" % value
    return None


def port_number(value):
    if not 1 <= value <= 65535:
        return "%d is not a TCP port (1 to 65535)" % value
    return None


def positive(value):
    if value < 1:
        return "%d must be 1 or more" % value
    return None


def not_negative(value):
    if value < 0:
        return "%d must be 0 or more" % value
    return None


def at_least(least):
    """A validator: the WSGIDaemonProcess option's own minimum, checked
    before any file is written (Apache would refuse the config later)."""
    def check(value):
        if value != 0 and value < least:
            return "%d must be 0 (the default) or at least %d" % (value, least)
        return None
    return check


def positive_seconds(value):
    if not value > 0:
        return "%s must be a number of seconds above 0" % value
    return None


def fraction(value):
    if not 0 <= value <= 1:
        return "%s must be a fraction of --max-clients, from 0 to 1" % value
    return None


def file_name(value):
    if not value or value.startswith("/") or ".." in value.split("/"):
        return ("%r must be a file name in the log directory (no leading "
                "'/', no '..')" % value)
    return None


def url_path(value):
    if not value.startswith("/"):
        return "%r must be a URL path starting with '/'" % value
    return None


def env_name(value):
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        return ("%r is not an environment variable name (letters, digits "
                "and '_', not starting with a digit)" % value)
    return None


def dotted_name(value):
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
                    value):
        return "%r is not a Python name" % value
    return None


def group_name(value):
    if not value or value.startswith("%{") or "=" in value:
        return ("%r cannot name a daemon process group (it must not be "
                "empty, start with '%%{' or hold '=')" % value)
    return None


def python_identifier(value):
    if not value.isidentifier():
        return "%r is not a Python identifier" % value
    return None


LOG_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info",
              "debug") + tuple("trace%d" % i for i in range(1, 9))
APPLICATION_TYPES = ("script", "module", "static")
MPMS = ("event", "worker", "prefork")

TIMEOUTS = "Timeouts and recycling (WSGIDaemonProcess options)"
AUTH = "Access and authentication"
READ = "Reading requests (mod_reqtimeout RequestReadTimeout)"
PROXY = "Proxying to other servers (mod_proxy)"
SERVICES = "Service processes"
DEBUG = "Debugging (single process, in the foreground)"
PYTHON = "Python"
TELEMETRY = "Telemetry (the module does not do this yet)"


def _timeout(name, default, help, daemon_option=None):
    flag = "--" + name.replace("_", "-")
    return Option(name, [flag], help, type=int, default=default,
                  validator=not_negative, metavar="SECONDS", section=TIMEOUTS,
                  daemon_option=daemon_option or flag[2:])


def _bytes(name, least, help):
    """A size that is a WSGIDaemonProcess option of the same name: 0 (the
    module's default) or at least the option's own minimum."""
    flag = "--" + name.replace("_", "-")
    return Option(name, [flag], help, type=int, default=0,
                  validator=at_least(least), metavar="BYTES",
                  section="Capacity", daemon_option=flag[2:])


REGISTRY = [
    # -- the application
    Option("entry_point", ["--entry-point"],
           "The WSGI script file, Python module or (for --application-type "
           "static) directory to serve; the same as the script argument.",
           metavar="FILE-OR-MODULE", section="Application"),
    Option("application_type", ["--application-type"],
           "What the entry point is: a WSGI script file, an importable "
           "module, or a directory of static files.",
           default="script", choices=APPLICATION_TYPES, metavar="TYPE",
           section="Application"),
    Option("callable_object", ["--callable-object"],
           "Name of the WSGI callable in the script or module.",
           default="application", validator=python_identifier,
           metavar="NAME", section="Application"),
    Option("mount_point", ["--mount-point"],
           "URL path the application is mounted at.", default="/",
           validator=url_path, metavar="URL-PATH", section="Application"),
    Option("application_group", ["--application-group"],
           "Python interpreter the application runs in.",
           default="%{GLOBAL}", metavar="NAME", section="Application"),
    Option("process_group", ["--process-group"],
           "Name of the daemon process group (default: HOST:PORT).",
           validator=group_name, metavar="NAME", section="Application"),
    Option("working_directory", ["--working-directory"],
           "Directory the application runs in, added to sys.path "
           "(default: the current directory).",
           validator=directory_exists, metavar="DIR", section="Application"),
    Option("python_path", ["--python-path"],
           "Directory to add to sys.path; may be repeated.",
           action="append", default=[], validator=directory_exists,
           metavar="DIR", section="Application"),
    Option("setenv", ["--setenv"],
           "Set an environ value for every request; may be repeated.",
           action="append", default=[], nargs=2, metavar=("NAME", "VALUE"),
           section="Application"),
    Option("passenv", ["--passenv"],
           "Pass this variable of Apache's environment into every "
           "request's environ; may be repeated.",
           action="append", default=[], validator=env_name, metavar="NAME",
           section="Application"),
    Option("reload_on_changes", ["--reload-on-changes"],
           "Restart the daemon processes when a Python file the "
           "application imported changes (polled once a second).",
           action="store_true", default=False, section="Application"),

    # -- network
    Option("host", ["--host"],
           "IP address to listen on (default: all interfaces).",
           metavar="IP", section="Network"),
    Option("port", ["--port"], "HTTP port to listen on.", type=int,
           default=8000, validator=port_number, metavar="NUMBER",
           section="Network"),
    Option("server_name", ["--server-name"],
           "Host name of the server (ServerName). Given, only requests for "
           "it (or a --server-alias) are served; others get 403.",
           metavar="HOSTNAME", section="Network"),
    Option("server_alias", ["--server-alias"],
           "Another host name requests may be for (ServerAlias; wildcards "
           "* and ? allowed); may be repeated.", action="append",
           default=[], metavar="HOSTNAME", section="Network"),
    Option("allow_localhost", ["--allow-localhost"],
           "With --server-name, also serve requests for localhost, "
           "127.0.0.1 and [::1].", action="store_true", default=False,
           section="Network"),
    Option("trust_proxy_header", ["--trust-proxy-header"],
           "A header set by the proxy in front that may rewrite the "
           "environ (WSGITrustedProxyHeaders: X-Forwarded-For, "
           "X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port, "
           "X-Script-Name, ...); may be repeated, one per purpose.",
           action="append", default=[], metavar="HEADER", section="Network"),
    Option("trust_proxy", ["--trust-proxy"],
           "Address (IP or IP/bits) of a proxy whose --trust-proxy-header "
           "headers are believed (WSGITrustedProxies); without it, every "
           "peer is. May be repeated.", action="append", default=[],
           metavar="ADDRESS", section="Network"),
    Option("https_port", ["--https-port"],
           "HTTPS port to listen on as well (needs a certificate).",
           type=int, validator=port_number, metavar="NUMBER",
           section="Network"),
    Option("ssl_certificate_file", ["--ssl-certificate-file"],
           "PEM certificate of the HTTPS server.", validator=file_exists,
           metavar="FILE", section="Network"),
    Option("ssl_certificate_key_file", ["--ssl-certificate-key-file"],
           "PEM private key of the HTTPS certificate.",
           validator=file_exists, metavar="FILE", section="Network"),
    Option("ssl_certificate", ["--ssl-certificate"],
           "Base name of the certificate and key files: BASE.crt and "
           "BASE.key.", metavar="BASE", section="Network"),
    Option("ssl_certificate_chain_file", ["--ssl-certificate-chain-file"],
           "PEM file of intermediate certificates sent with the server "
           "certificate.", validator=file_exists, metavar="FILE",
           section="Network"),
    Option("https_only", ["--https-only"],
           "Redirect every plain HTTP request to HTTPS.",
           action="store_true", default=False, section="Network"),
    Option("hsts_policy", ["--hsts-policy"],
           "Strict-Transport-Security header sent with HTTPS responses, "
           "e.g. 'max-age=63072000; includeSubDomains'.", metavar="POLICY",
           section="Network"),
    Option("ssl_environment", ["--ssl-environment"],
           "Pass the SSL_* variables of mod_ssl into the environ.",
           action="store_true", default=False, section="Network"),
    Option("server_backlog", ["--server-backlog"],
           "Listen queue length of the HTTP socket.", type=int, default=500,
           validator=positive, metavar="NUMBER", section="Network",
           directive="ListenBacklog"),
    Option("limit_request_body", ["--limit-request-body"],
           "Largest request body accepted, in bytes (0: no limit).",
           type=int, default=10485760, validator=not_negative,
           metavar="BYTES", section="Network", directive="LimitRequestBody"),
    Option("keep_alive_timeout", ["--keep-alive-timeout"],
           "Seconds an idle keep-alive connection is kept (0 disables "
           "keep-alive).", type=int, default=2, validator=not_negative,
           metavar="SECONDS", section="Network"),
    Option("http2", ["--http2"],
           "Serve HTTP/2 as well (mod_http2): h2c on --port, h2 on "
           "--https-port. Needs the event or worker MPM.",
           action="store_true", default=False, section="Network"),
    Option("ssl_ca_certificate_file", ["--ssl-ca-certificate-file"],
           "PEM file of the CA certificates client certificates must be "
           "signed by. Given alone, every HTTPS request needs one; with "
           "--ssl-verify-client, only those URLs do.", validator=file_exists,
           metavar="FILE", section="Network"),
    Option("ssl_verify_client", ["--ssl-verify-client"],
           "URL path under which a client certificate is required (with "
           "--ssl-ca-certificate-file); may be repeated.", action="append",
           default=[], validator=url_path, metavar="URL-PATH",
           section="Network"),

    # -- capacity and mode
    Option("processes", ["--processes"],
           "Number of daemon processes (default 1; giving it at all makes "
           "wsgi.multiprocess True).", type=int, validator=positive,
           metavar="NUMBER", section="Capacity"),
    Option("threads", ["--threads"], "Request threads per process.",
           type=int, default=5, validator=positive, metavar="NUMBER",
           section="Capacity"),
    Option("max_clients", ["--max-clients"],
           "Most concurrent connections Apache accepts (default: "
           "10 + max(10, 1.5 x processes x threads) in daemon mode).",
           type=int, validator=positive, metavar="NUMBER",
           section="Capacity"),
    Option("embedded_mode", ["--embedded-mode"],
           "Run the application inside Apache's own processes instead of "
           "daemon processes.", action="store_true", default=False,
           section="Capacity"),
    Option("server_mpm", ["--server-mpm"],
           "Apache MPM to use (default: event, else worker, else prefork, "
           "whichever is installed).", choices=MPMS, metavar="NAME",
           section="Capacity"),
    Option("daemon_backlog", ["--daemon-backlog"],
           "Listen queue length of the daemon processes' socket.",
           type=int, default=100, validator=positive, metavar="NUMBER",
           section="Capacity", daemon_option="listen-backlog"),
    Option("initial_workers", ["--initial-workers"],
           "Apache workers started at once, as a fraction of --max-clients "
           "(0 to 1; default: one child's worth).", type=float,
           validator=fraction, metavar="FRACTION", section="Capacity"),
    Option("minimum_spare_workers", ["--minimum-spare-workers"],
           "Idle Apache workers kept ready, at least, as a fraction of "
           "--max-clients (0 to 1).", type=float, validator=fraction,
           metavar="FRACTION", section="Capacity"),
    Option("maximum_spare_workers", ["--maximum-spare-workers"],
           "Idle Apache workers kept, at most, as a fraction of "
           "--max-clients (0 to 1).", type=float, validator=fraction,
           metavar="FRACTION", section="Capacity"),
    Option("socket_prefix", ["--socket-prefix"],
           "Directory of the daemon processes' UNIX sockets (default: the "
           "server root).", validator=directory_exists, metavar="DIR",
           section="Capacity"),
    Option("ignore_activity", ["--ignore-activity"],
           "URL path whose requests do not count as activity for "
           "--inactivity-timeout (health checks); may be repeated.",
           action="append", default=[], validator=url_path,
           metavar="URL-PATH", section=TIMEOUTS),

    # -- timeouts (each one WSGIDaemonProcess option)
    _timeout("request_timeout", 60, "Seconds a request may run before the "
             "daemon process is restarted."),
    _timeout("queue_timeout", 45, "Seconds a request may wait for a free "
             "daemon thread before it fails with 504."),
    _timeout("socket_timeout", 60, "Seconds of silence on the daemon "
             "socket (and Apache's Timeout) before a request fails."),
    _timeout("connect_timeout", 15, "Seconds an Apache child keeps trying "
             "to connect to the daemon processes."),
    _timeout("startup_timeout", 15, "Seconds the application may take to "
             "load before the daemon process is restarted."),
    _timeout("deadlock_timeout", 60, "Seconds the GIL may appear stuck "
             "before the daemon process is restarted."),
    _timeout("graceful_timeout", 15, "Seconds a recycled process waits for "
             "its requests to finish."),
    _timeout("shutdown_timeout", 5, "Seconds a stopping daemon process "
             "waits for its requests before it is killed."),
    _timeout("inactivity_timeout", 0, "Restart a daemon process idle this "
             "long (0: never)."),
    _timeout("restart_interval", 0, "Restart daemon processes after they "
             "ran this long (0: never)."),
    Option("maximum_requests", ["--maximum-requests"],
           "Restart a daemon process after this many requests (0: never).",
           type=int, default=0, validator=not_negative, metavar="NUMBER",
           section=TIMEOUTS, daemon_option="maximum-requests"),
    _timeout("interrupt_timeout", 0, "With --request-timeout: raise "
             "mod_wsgi.RequestTimeout in a request that ran past it, and "
             "restart the process only if it has not ended this much later "
             "(0: restart at once)."),
    _timeout("eviction_timeout", 0, "Seconds an evicted (SIGUSR1) daemon "
             "process waits for its requests (0: --graceful-timeout)."),
    _timeout("response_socket_timeout", 0, "Seconds a write of the "
             "response to a client that stopped reading may wait (0: "
             "--socket-timeout)."),
    _timeout("cpu_time_limit", 0, "CPU seconds a daemon process may use "
             "before it is replaced (0: no limit)."),
    Option("slow_requests", ["--slow-requests"],
           "Log a request still running after this many seconds, once, with "
           "its URL and its thread's Python stack (WSGISlowRequests).",
           type=float, validator=positive_seconds, metavar="SECONDS",
           section=TIMEOUTS),
    Option("response_flush_delay", ["--response-flush-delay"],
           "Milliseconds small response blocks may be held to go out "
           "together (default 5; 0: each block at once).", type=int,
           default=None, validator=not_negative, metavar="MS",
           section=TIMEOUTS,
           daemon_option="response-flush-delay"),
    _bytes("header_buffer_size", 8192, "Largest response header line "
           "from the application, in bytes (0: 32768)."),
    _bytes("response_buffer_size", 65536, "Response bytes an Apache child "
           "may hold (0: 65536)."),
    _bytes("receive_buffer_size", 512, "Kernel receive buffer of the "
           "daemon sockets, in bytes (0: the system's)."),
    _bytes("send_buffer_size", 512, "Kernel send buffer of the daemon "
           "sockets, in bytes (0: the system's)."),
    Option("metrics_url", ["--metrics-url"],
           "Serve the server's figures (every daemon group's requests, "
           "latencies, threads, restarts, memory and CPU) in the Prometheus "
           "text format at this URL path, to requests from this host only "
           "(SetHandler wsgi-metrics).", validator=url_path,
           metavar="URL-PATH", section="Capacity"),
    Option("status_url", ["--status-url"],
           "Serve a live HTML status page at this URL path, to this host "
           "only: per daemon group, throughput and latency over the last "
           "minutes as a plot, busy and idle threads, restarts, memory "
           "(it reads --metrics-url, /wsgi-metrics when not given).",
           validator=url_path, metavar="URL-PATH", section="Capacity"),
    Option("server_metrics", ["--server-metrics"],
           "Let the application read Apache's scoreboard with "
           "mod_wsgi.server_metrics().", action="store_true", default=False,
           section="Capacity", daemon_option="server-metrics"),

    # -- mod_reqtimeout: RequestReadTimeout header=T-MAX,MinRate=R body=...
    Option("header_timeout", ["--header-timeout"],
           "Seconds a client has to send the request line and headers "
           "(0: no limit).", type=int, default=15, validator=not_negative,
           metavar="SECONDS", section=READ),
    Option("header_max_timeout", ["--header-max-timeout"],
           "Most seconds the header time may grow to with --header-min-rate "
           "(0: no growth).", type=int, default=30, validator=not_negative,
           metavar="SECONDS", section=READ),
    Option("header_min_rate", ["--header-min-rate"],
           "Each this many bytes of headers received add a second to the "
           "header time (0: none).", type=int, default=500,
           validator=not_negative, metavar="BYTES", section=READ),
    Option("body_timeout", ["--body-timeout"],
           "Seconds a client has to send the request body (0: no limit).",
           type=int, default=15, validator=not_negative, metavar="SECONDS",
           section=READ),
    Option("body_max_timeout", ["--body-max-timeout"],
           "Most seconds the body time may grow to with --body-min-rate "
           "(0: no maximum).", type=int, default=0, validator=not_negative,
           metavar="SECONDS", section=READ),
    Option("body_min_rate", ["--body-min-rate"],
           "Each this many bytes of body received add a second to the body "
           "time (0: none).", type=int, default=500, validator=not_negative,
           metavar="BYTES", section=READ),

    Option("process_name", ["--process-name"],
           "What ps shows for the daemon processes (default: "
           "(wsgi:GROUP)).", metavar="NAME", section="Capacity"),
    Option("python_eggs", ["--python-eggs"],
           "Directory for PYTHON_EGG_CACHE in the daemon processes.",
           metavar="DIR", section="Capacity", daemon_option="python-eggs"),
    Option("switch_interval", ["--switch-interval"],
           "Python's thread switch interval in the daemon processes, in "
           "seconds (sys.setswitchinterval; default Python's 0.005).",
           type=float, validator=positive_seconds, metavar="SECONDS",
           section="Capacity", daemon_option="switch-interval"),
    Option("map_head_to_get", ["--map-head-to-get"],
           "Run HEAD requests as GET: On, Off, or Auto (when an output "
           "filter may need the body).", default="Auto",
           choices=("On", "Off", "Auto"), metavar="MODE",
           section="Static files and Apache features"),
    Option("error_override", ["--error-override"],
           "Replace the application's error responses (4xx, 5xx) by "
           "Apache's error documents (WSGIErrorOverride).",
           action="store_true", default=False,
           section="Static files and Apache features"),
    Option("enable_sendfile", ["--enable-sendfile"],
           "Send wsgi.file_wrapper responses with sendfile() "
           "(WSGIEnableSendfile and EnableSendfile).", action="store_true",
           default=False, section="Static files and Apache features"),

    # -- Python
    Option("python_warnings", ["--python-warnings"],
           "A warnings filter, as python -W takes it (WSGIPythonWarnings), "
           "e.g. ignore::DeprecationWarning; may be repeated.",
           action="append", default=[], metavar="FILTER", section=PYTHON),
    Option("orphan_interpreter", ["--orphan-interpreter"],
           "Do not finalise Python when a process exits: atexit functions "
           "do not run (WSGIDestroyInterpreter Off).", action="store_true",
           default=False, section=PYTHON),
    Option("disable_reloading", ["--disable-reloading"],
           "Never load the application again when its script changes "
           "(WSGIScriptReloading Off).", action="store_true",
           default=False, section=PYTHON),
    Option("free_threading", ["--free-threading"],
           "Run a free-threaded Python (3.13t) with the GIL off "
           "(WSGIFreeThreading On).", action="store_true", default=False,
           section=PYTHON),

    # -- access and authentication, by Python scripts (docs/auth.md)
    Option("auth_user_script", ["--auth-user-script"],
           "Script whose check_password() (or get_realm_hash(), with "
           "--auth-type Digest) authenticates every request of the site.",
           validator=file_exists, metavar="PATH", section=AUTH),
    Option("auth_type", ["--auth-type"],
           "Authentication scheme of --auth-user-script.", default="Basic",
           choices=("Basic", "Digest"), metavar="TYPE", section=AUTH),
    Option("auth_group_script", ["--auth-group-script"],
           "Script whose groups_for_user() decides, with --auth-group, who "
           "of the authenticated users may in.", validator=file_exists,
           metavar="PATH", section=AUTH),
    Option("auth_group", ["--auth-group"],
           "Group a user must be in when --auth-group-script is given.",
           default="wsgi", metavar="NAME", section=AUTH),
    Option("host_access_script", ["--host-access-script"],
           "Script whose allow_access() decides which clients may reach the "
           "site.", validator=file_exists, metavar="PATH", section=AUTH),

    # -- static files and Apache features
    Option("document_root", ["--document-root"],
           "Directory of static files served in front of the application "
           "(a file there wins over the application; default: htdocs in "
           "the server root).", validator=directory_exists, metavar="DIR",
           section="Static files and Apache features"),
    Option("directory_index", ["--directory-index"],
           "File name served for a directory of the document root, e.g. "
           "index.html.", metavar="NAME",
           section="Static files and Apache features"),
    Option("url_alias", ["--url-alias"],
           "Serve a static file or directory at a URL path; may be "
           "repeated.", action="append", default=[], nargs=2,
           metavar=("URL-PATH", "FILE-OR-DIR"),
           section="Static files and Apache features"),
    Option("error_document", ["--error-document"],
           "Apache ErrorDocument for a status; may be repeated.",
           action="append", default=[], nargs=2, metavar=("STATUS", "URL"),
           section="Static files and Apache features"),
    Option("compress_responses", ["--compress-responses"],
           "Compress text responses with mod_deflate.",
           action="store_true", default=False,
           section="Static files and Apache features"),
    Option("chunked_request", ["--chunked-request"],
           "Accept chunked request bodies (WSGIChunkedRequest On).",
           action="store_true", default=False,
           section="Static files and Apache features"),
    Option("include_file", ["--include-file"],
           "Apache configuration file to include at the end of httpd.conf; "
           "may be repeated.", action="append", default=[],
           validator=file_exists, metavar="FILE",
           section="Static files and Apache features"),
    Option("directory_listing", ["--directory-listing"],
           "List the files of a directory that has no --directory-index "
           "(with --application-type static).", action="store_true",
           default=False, section="Static files and Apache features"),
    Option("allow_override", ["--allow-override"],
           "Directive types .htaccess files in the document root may set "
           "(AllowOverride: All, AuthConfig, FileInfo, Indexes, Limit, "
           "Options); may be repeated.", action="append", default=[],
           metavar="TYPE", section="Static files and Apache features"),
    Option("rewrite_rules", ["--rewrite-rules"],
           "File of mod_rewrite rules included in the server context, "
           "before the rules that serve static files (patterns match the "
           "URL path with its leading /; default: rewrite.conf in the "
           "server root).", validator=file_exists, metavar="FILE",
           section="Static files and Apache features"),
    Option("add_handler", ["--add-handler"],
           "Files of the document root with this extension are handled by "
           "the handle_request(environ, start_response) of a script "
           "(WSGIHandlerScript); may be repeated.", action="append",
           default=[], nargs=2, metavar=("EXTENSION", "SCRIPT"),
           section="Static files and Apache features"),
    Option("with_cgi", ["--with-cgi"],
           "Run executable .cgi files of the document root as CGI "
           "programs.", action="store_true", default=False,
           section="Static files and Apache features"),
    Option("server_status", ["--server-status"],
           "Serve mod_status at /server-status, to requests from this host "
           "only.", action="store_true", default=False,
           section="Static files and Apache features"),
    Option("enable_docs", ["--enable-docs"],
           "Serve this package's documentation at /__wsgi__/docs.",
           action="store_true", default=False,
           section="Static files and Apache features"),

    # -- proxying
    Option("proxy_mount_point", ["--proxy-mount-point"],
           "Pass requests under a URL path to another server (with "
           "WebSocket upgrades and X-Forwarded-* headers); may be "
           "repeated.", action="append", default=[], nargs=2,
           metavar=("URL-PATH", "URL"), section=PROXY),
    Option("proxy_virtual_host", ["--proxy-virtual-host"],
           "Pass every request for a host name to another server; may be "
           "repeated.", action="append", default=[], nargs=2,
           metavar=("HOSTNAME", "URL"), section=PROXY),
    Option("proxy_timeout", ["--proxy-timeout"],
           "Seconds of silence from a proxied server before the request "
           "fails (ProxyTimeout; default: --socket-timeout).", type=int,
           validator=positive, metavar="SECONDS", section=PROXY),

    # -- services: daemon processes that run a script and take no requests
    Option("service_script", ["--service-script"],
           "Run a Python script in a process of its own (a daemon group "
           "service:NAME with no request threads), started with the "
           "server, started again if it dies, stopped with it; may be "
           "repeated.", action="append", default=[], nargs=2,
           metavar=("NAME", "SCRIPT"), section=SERVICES),
    Option("service_user", ["--service-user"],
           "User the service NAME runs as (when started as root; default: "
           "--user).", action="append", default=[], nargs=2,
           metavar=("NAME", "USER"), section=SERVICES),
    Option("service_group", ["--service-group"],
           "Group the service NAME runs as (when started as root; default: "
           "--group).", action="append", default=[], nargs=2,
           metavar=("NAME", "GROUP"), section=SERVICES),
    Option("service_log_file", ["--service-log-file"],
           "File, in the log directory, that the service NAME's output "
           "goes to (default: the error log).", action="append", default=[],
           nargs=2, metavar=("NAME", "FILE-NAME"), section=SERVICES),

    # -- debugging
    Option("debug_mode", ["--debug-mode"],
           "Run Apache as one process with one request thread in the "
           "foreground (httpd -X), the application inside it, with the "
           "terminal attached: for pdb and print(). Reloading is off.",
           action="store_true", default=False, section=DEBUG),
    Option("enable_debugger", ["--enable-debugger"],
           "With --debug-mode: an exception leaving the application starts "
           "pdb's post-mortem debugger on the terminal.",
           action="store_true", default=False, section=DEBUG),
    Option("debugger_startup", ["--debugger-startup"],
           "With --enable-debugger: start pdb once when the application has "
           "loaded, to set breakpoints.", action="store_true",
           default=False, section=DEBUG),
    Option("enable_coverage", ["--enable-coverage"],
           "With --debug-mode: measure code coverage (the coverage package) "
           "and write an HTML report when the server stops.",
           action="store_true", default=False, section=DEBUG),
    Option("coverage_directory", ["--coverage-directory"],
           "Where --enable-coverage writes its report (default: htmlcov in "
           "the server root).", metavar="DIR", section=DEBUG),
    Option("enable_profiler", ["--enable-profiler"],
           "With --debug-mode: profile every request (cProfile) and write "
           "one .pstats file per request.", action="store_true",
           default=False, section=DEBUG),
    Option("profiler_directory", ["--profiler-directory"],
           "Where --enable-profiler writes its files (default: pstats in "
           "the server root).", metavar="DIR", section=DEBUG),
    Option("enable_recorder", ["--enable-recorder"],
           "With --debug-mode: write each request's environ, body and "
           "response to files.", action="store_true", default=False,
           section=DEBUG),
    Option("recorder_directory", ["--recorder-directory"],
           "Where --enable-recorder writes its files (default: archive in "
           "the server root).", metavar="DIR", section=DEBUG),
    Option("enable_gdb", ["--enable-gdb"],
           "With --debug-mode: run Apache under gdb, to see where a crash "
           "happens.", action="store_true", default=False, section=DEBUG),
    Option("gdb_executable", ["--gdb-executable"],
           "The gdb program for --enable-gdb.", default="gdb",
           metavar="FILE", section=DEBUG),

    # -- telemetry (upstream 6.x; the module accepts and ignores it today)
    Option("telemetry_service", ["--telemetry-service"],
           "Where the module pushes its metrics (unix:PATH; "
           "WSGITelemetryService).", metavar="TARGET", section=TELEMETRY,
           pending="pushes metrics to the telemetry service "
           "(WSGITelemetryService, issue 13)"),
    Option("telemetry_interval", ["--telemetry-interval"],
           "Seconds between two metrics reports of --telemetry-service.",
           type=float, default=1.0, validator=positive_seconds,
           metavar="SECONDS", section=TELEMETRY,
           pending="sets how often metrics are pushed (issue 13)"),
    Option("telemetry_options", ["--telemetry-options"],
           "What telemetry captures, as WSGITelemetryOptions takes it "
           "(e.g. +CaptureUserAgent); may be repeated.", action="append",
           default=[], metavar="ARGS", section=TELEMETRY,
           pending="selects what telemetry captures (WSGITelemetryOptions, "
           "issue 13)"),
    Option("enable_telemetry", ["--enable-telemetry"],
           "Run a telemetry service process that collects the metrics and "
           "shows them in a web page on 127.0.0.1.", action="store_true",
           default=False, section=TELEMETRY,
           pending="runs the telemetry collector and its web page "
           "(issue 13)"),
    Option("telemetry_ui_port", ["--telemetry-ui-port"],
           "Port of the --enable-telemetry web page on 127.0.0.1.",
           type=int, default=8888, validator=port_number, metavar="NUMBER",
           section=TELEMETRY, pending="sets the port of the telemetry web "
           "page (issue 13)"),

    # -- processes, logging, files
    Option("user", ["--user"],
           "User Apache's children and the daemon processes run as "
           "(required when started as root).", metavar="NAME",
           section="Processes and logging"),
    Option("group", ["--group"],
           "Group Apache's children and the daemon processes run as "
           "(required when started as root).", metavar="NAME",
           section="Processes and logging"),
    Option("server_root", ["--server-root"],
           "Directory the generated configuration goes into (default: "
           "mod_wsgi-HOST:PORT:UID in the temp directory).", metavar="DIR",
           section="Processes and logging"),
    Option("log_directory", ["--log-directory"],
           "Directory for error_log and access_log (default: the server "
           "root).", validator=directory_exists, metavar="DIR",
           section="Processes and logging"),
    Option("log_level", ["--log-level"], "Apache LogLevel.", default="warn",
           choices=LOG_LEVELS, metavar="LEVEL",
           section="Processes and logging"),
    Option("log_to_terminal", ["--log-to-terminal"],
           "Write the error log (and access log) to the terminal instead "
           "of files.", action="store_true", default=False,
           section="Processes and logging"),
    Option("access_log", ["--access-log"], "Write an access log.",
           action="store_true", default=False,
           section="Processes and logging"),
    Option("access_log_format", ["--access-log-format"],
           "Format of access log lines: common, combined, referer, agent, "
           "or a LogFormat string (default: common).", metavar="FORMAT",
           section="Processes and logging"),
    Option("access_log_name", ["--access-log-name"],
           "Name of the access log in the log directory.",
           default="access_log", validator=file_name, metavar="FILE-NAME",
           section="Processes and logging"),
    Option("error_log_format", ["--error-log-format"],
           "Format of error log lines (ErrorLogFormat).", metavar="FORMAT",
           section="Processes and logging"),
    Option("error_log_name", ["--error-log-name"],
           "Name of the error log in the log directory.",
           default="error_log", validator=file_name, metavar="FILE-NAME",
           section="Processes and logging"),
    Option("rotate_logs", ["--rotate-logs"],
           "Rotate error_log and access_log with Apache's rotatelogs when "
           "they reach --max-log-size, through 10 files used in turn: "
           "NAME, NAME.1 ... NAME.9.", action="store_true",
           default=False, section="Processes and logging"),
    Option("max_log_size", ["--max-log-size"],
           "Size in megabytes at which --rotate-logs rotates a log.",
           type=int, default=5, validator=positive, metavar="MB",
           section="Processes and logging"),
    Option("rotatelogs_executable", ["--rotatelogs-executable"],
           "The rotatelogs program of Apache (default: found beside the "
           "Apache binary or on PATH).", metavar="FILE",
           section="Processes and logging"),
    Option("startup_log", ["--startup-log"],
           "Write Apache's start-up messages to startup_log in the log "
           "directory.", action="store_true", default=False,
           section="Processes and logging"),
    Option("startup_log_name", ["--startup-log-name"],
           "Name of the start-up log in the log directory.",
           default="startup_log", validator=file_name, metavar="FILE-NAME",
           section="Processes and logging"),
    Option("pid_file", ["--pid-file"],
           "Where Apache writes its pid (default: httpd.pid in the server "
           "root).", metavar="FILE", section="Processes and logging"),
    Option("locale", ["--locale"],
           "LANG and LC_ALL of the daemon processes (default: the current "
           "locale if it is UTF-8, else C.UTF-8).", metavar="NAME",
           section="Processes and logging"),
    Option("httpd_executable", ["--httpd-executable"],
           "Apache binary to run (default: the one the module was built "
           "for).", metavar="FILE", section="Processes and logging"),
    Option("shell_executable", ["--shell-executable"],
           "The shell that runs the generated apachectl script.",
           default="/bin/sh", validator=file_exists, metavar="FILE",
           section="Processes and logging"),
    Option("envvars_script", ["--envvars-script"],
           "Shell script apachectl sources before Apache starts, instead "
           "of envvars in the server root (set and export variables "
           "there).", validator=file_exists, metavar="FILE",
           section="Processes and logging"),
    Option("modules_directory", ["--modules-directory"],
           "Directory of Apache's modules (default: the LIBEXECDIR apxs "
           "reported at build time).", validator=directory_exists,
           metavar="DIR", section="Processes and logging",
           commands=SERVER + ("install-module",)),
    Option("mime_types", ["--mime-types"],
           "mime.types file for Content-Type of static files (default: "
           "the platform's).", validator=file_exists, metavar="FILE",
           section="Processes and logging"),
    Option("setup_only", ["--setup-only"],
           "Only write the server root, as setup-server does.",
           action="store_true", default=False, commands=("start-server",),
           section="Processes and logging"),
]

BY_NAME = {o.name: o for o in REGISTRY}


def options_for(command):
    """The registered options of one subcommand, in registry order."""
    return [o for o in REGISTRY if command in o.commands]


def markdown(command="start-server"):
    """The options of a subcommand as Markdown tables, one per section:
    what docs/express.md shows between its "options" markers."""
    out = []
    section = None
    for opt in options_for(command):
        if opt.section != section:
            section = opt.section
            out += ["", "### %s" % section, "",
                    "| Option | Default | Meaning |", "|---|---|---|"]
        metavar = opt.metavar
        if isinstance(metavar, tuple):
            metavar = " ".join(metavar)
        flag = opt.flags[0] + (" " + metavar if metavar and opt.action not in
                               ("store_true", "store_false") else "")
        default = ("" if opt.default in (None, False, [], ())
                   else "`%s`" % (opt.default,))
        text = opt.help
        if opt.choices:
            text += " One of: %s." % ", ".join(opt.choices)
        out.append("| `%s` | %s | %s |" % (flag, default,
                                           text.replace("|", "\\|")))
    return "\n".join(out[1:]) + "\n"


def flag_of(name):
    """The command-line spelling of a registered option, for messages."""
    option = BY_NAME.get(name)
    return option.flags[0] if option else name


if __name__ == "__main__":
    import sys
    sys.stdout.write(markdown(*sys.argv[1:]))
