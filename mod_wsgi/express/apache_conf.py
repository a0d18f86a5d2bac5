"""Renders the httpd.conf of a mod_wsgi-express server root.

Every value that comes from the command line passes through quoted() or
word() on its way into the file. Apache's configuration syntax has no
escape that survives everything: a newline ends the directive (and could
start a new one, e.g. "x\\nLoadModule evil ..."), a quote ends the
argument, a backslash escapes the closing quote, and ${NAME} is replaced
by a variable when the file is read. So instead of escaping, a value
holding any of those is refused with a message naming the option.
"""

import math
import os
import re

from mod_wsgi.express.errors import ConfigValueError
from mod_wsgi.express.options import REGISTRY


def problem_of(value):
    """Why value cannot go into httpd.conf, or None if it can."""
    for ch in value:
        if ch == "\n" or ch == "\r":
            return "it contains a line break"
        if ord(ch) < 32 or ord(ch) == 127:
            return "it contains the control character %r" % ch
        if ch in "\"'":
            return "it contains a quote (%s)" % ch
        if ch == "\\":
            return "it contains a backslash"
    if "${" in value:
        return "it contains '${', which Apache would expand as a variable"
    return None


def check(value, what):
    value = str(value)
    problem = problem_of(value)
    if problem:
        raise ConfigValueError(
            "%s %r cannot be written into httpd.conf: %s. Use a value (or "
            "rename the file or directory) without quotes, backslashes, "
            "line breaks, control characters or '${'." % (what, value,
                                                          problem))
    return value


def quoted(value, what):
    """value as one double-quoted Apache argument."""
    return '"%s"' % check(value, what)


def word(value, what):
    """value as one bare Apache argument (names, numbers, keywords)."""
    value = check(value, what)
    if not value or any(ch.isspace() for ch in value):
        raise ConfigValueError("%s %r cannot be written into httpd.conf: it "
                               "must be one word without spaces."
                               % (what, value))
    return value


def format_string(value, what):
    """A log format as one double-quoted Apache argument. Quotes are part
    of most formats (\"%r\"), so they are escaped with the one escape
    Apache's argument parser has; all else check() refuses is refused
    (a backslash too: it could escape the closing quote)."""
    check(value.replace('"', "").replace("'", ""), what)
    return '"%s"' % value.replace('"', '\\"')


def option_word(key, value, what):
    """A key=value option of WSGIDaemonProcess or WSGIScriptAlias, quoted
    as a whole so that the value may hold spaces."""
    return '"%s=%s"' % (key, check(value, what))


# ---------------------------------------------------------------- modules

# (module name, file stem) in load order: NAME_module is loaded from
# mod_STEM.so in the modules directory. A module whose file is not there
# is left out (module_lines); one that a build compiled in is skipped by
# the <IfModule !NAME_module> guard around its line.
BASE_MODULES = [
    ("unixd", "unixd"), ("authz_core", "authz_core"),
    ("authz_host", "authz_host"), ("mime", "mime"), ("rewrite", "rewrite"),
    ("alias", "alias"), ("dir", "dir"), ("env", "env"),
    ("headers", "headers"), ("log_config", "log_config"),
]


# The modules an option cannot work without: a missing one fails setup
# with the option's name (the others are skipped when absent).
NEEDED_BY = {
    "ssl": lambda s: s.https_port and "--https-port",
    "http2": lambda s: s.http2 and "--http2",
    "status": lambda s: s.server_status and "--server-status",
    "proxy": lambda s: (s.proxy_mount_point or s.proxy_virtual_host) and (
        "--proxy-mount-point" if s.proxy_mount_point
        else "--proxy-virtual-host"),
    "proxy_http": lambda s: (s.proxy_mount_point or s.proxy_virtual_host)
    and "--proxy-mount-point",
    "cgi": lambda s: s.with_cgi and "--with-cgi",
    "cgid": lambda s: s.with_cgi and "--with-cgi",
}


def module_lines(s):
    lines = []
    mods = s.modules_directory
    mpm_file = os.path.join(mods, "mod_mpm_%s.so" % s.mpm)
    lines += ["<IfModule !mpm_event_module>",
              "<IfModule !mpm_worker_module>",
              "<IfModule !mpm_prefork_module>",
              "LoadModule mpm_%s_module %s" % (s.mpm, quoted(
                  mpm_file, "the MPM module path")),
              "</IfModule>", "</IfModule>", "</IfModule>"]
    wanted = list(BASE_MODULES)
    if s.compress_responses:
        wanted += [("filter", "filter"), ("deflate", "deflate")]
    if s.https_port:
        wanted += [("socache_shmcb", "socache_shmcb"), ("ssl", "ssl")]
    wanted.append(("reqtimeout", "reqtimeout"))
    if s.http2:
        wanted.append(("http2", "http2"))
    if s.server_status:
        wanted.append(("status", "status"))
    if s.directory_listing or s.enable_docs:
        wanted.append(("autoindex", "autoindex"))
    if s.proxy_mount_point or s.proxy_virtual_host:
        wanted += [("proxy", "proxy"), ("proxy_http", "proxy_http")]
    if s.with_cgi:
        # mod_cgid for the threaded MPMs (forking from a threaded child is
        # unsafe), mod_cgi under prefork, as Debian's a2enmod cgi does.
        wanted.append(("cgi", "cgi") if s.mpm == "prefork"
                      else ("cgid", "cgid"))
    if s.auth_user_script:
        wanted += [("authn_core", "authn_core"), ("authz_user", "authz_user"),
                   ("auth_digest", "auth_digest")
                   if s.auth_type == "Digest" else
                   ("auth_basic", "auth_basic")]
    for name, stem in wanted:
        path = os.path.join(mods, "mod_%s.so" % stem)
        needed = NEEDED_BY.get(name)
        if needed and needed(s) and not os.path.exists(path):
            raise ConfigValueError("%s needs mod_%s, and there is no %s; "
                                   "install it or pass --modules-directory "
                                   "DIR." % (needed(s), stem, path))
        if not os.path.exists(path):
            # Compiled in (unixd, log_config on Debian), or not installed:
            # Apache says which directive is missing if it was needed.
            continue
        lines += ["<IfModule !%s_module>" % name,
                  "LoadModule %s_module %s" % (name, quoted(
                      path, "the module path")),
                  "</IfModule>"]
    lines.append("LoadModule wsgi_module %s"
                 % quoted(s.module_path, "the mod_wsgi module path"))
    return lines


# ---------------------------------------------------------------- sizing

def spare(s, option, clients, default):
    """--initial-workers and the spare-worker options: a fraction of
    --max-clients, as a count of at least 1."""
    fraction = getattr(s, option)
    if fraction is None:
        return default
    return max(1, int(round(fraction * clients)))


def mpm_lines(s):
    """MPM sizing: enough Apache workers for the daemon (or embedded)
    capacity, in as few processes as sensible."""
    clients = s.max_clients
    if s.mpm == "prefork":
        least = spare(s, "minimum_spare_workers", clients, 1)
        return ["<IfModule mpm_prefork_module>",
                "    StartServers %d" % min(clients, spare(
                    s, "initial_workers", clients, 1)),
                "    MinSpareServers %d" % least,
                "    MaxSpareServers %d" % max(least + 1, spare(
                    s, "maximum_spare_workers", clients,
                    max(1, min(clients, 10)))),
                "    ServerLimit %d" % clients,
                "    MaxRequestWorkers %d" % clients,
                "    MaxConnectionsPerChild 0",
                "</IfModule>"]
    if s.embedded_mode:
        per_child = s.threads
    else:
        per_child = min(clients, 25)
    servers = int(math.ceil(clients / float(per_child)))
    workers = servers * per_child
    section = "mpm_%s_module" % s.mpm
    start = int(math.ceil(spare(s, "initial_workers", clients, 1)
                          / float(per_child)))
    # Well below MaxRequestWorkers by default, or Apache logs AH10159 (an
    # error) all the time.
    least = spare(s, "minimum_spare_workers", clients,
                  max(1, min(per_child, workers // 4)))
    return ["<IfModule %s>" % section,
            "    StartServers %d" % min(servers, start),
            # Room for a second generation: after a graceful restart the
            # old children finish their requests in their slots while the
            # new ones start; without it Apache logs AH03490 ("scoreboard
            # is full") and serves with fewer workers until they leave.
            "    ServerLimit %d" % (2 * servers),
            "    ThreadLimit %d" % per_child,
            "    ThreadsPerChild %d" % per_child,
            "    MaxRequestWorkers %d" % workers,
            "    MinSpareThreads %d" % least,
            # Apache raises a maximum below minimum + one child's threads
            # to that, with a warning: give it that at least.
            "    MaxSpareThreads %d" % max(least + per_child, spare(
                s, "maximum_spare_workers", clients, workers)),
            "    MaxConnectionsPerChild 0",
            "</IfModule>"]


# ---------------------------------------------------------------- wsgi

def daemon_words(s):
    """The options of the WSGIDaemonProcess line. Those that map one to
    one onto an option of the registry come from there (daemon_option=);
    the rest are derived."""
    words = []
    if s.processes is not None:
        words.append(option_word("processes", s.processes, "--processes"))
    words.append(option_word("threads", s.threads, "--threads"))
    if s.user:
        words.append(option_word("user", s.user, "--user"))
    if s.group:
        words.append(option_word("group", s.group, "--group"))
    words.append(option_word("home", s.working_directory,
                             "--working-directory"))
    words.append(option_word("python-home", s.python_home,
                             "the Python prefix (sys.prefix)"))
    if s.python_path:
        words.append(option_word("python-path", ":".join(s.python_path),
                                 "--python-path"))
    words.append(option_word("display-name",
                             s.process_name or "(wsgi:%s)" % s.process_group,
                             "--process-name"))
    words.append(option_word("lang", s.locale, "--locale"))
    words.append(option_word("locale", s.locale, "--locale"))
    for opt in REGISTRY:
        if opt.daemon_option is None:
            continue
        value = getattr(s, opt.name)
        if value is True:
            value = "On"            # a flag: the option's On
        # 0 leaves the module's default, unless the option has no default
        # of its own here (None): then 0 is a choice (--response-flush-delay
        # 0 sends each block at once).
        if value or (value == 0 and value is not False and
                     opt.default is None):
            words.append(option_word(opt.daemon_option, value,
                                     opt.flags[0]))
    return words


def wsgi_lines(s):
    lines = ['WSGIPythonHome %s' % quoted(s.python_home,
                                          "the Python prefix (sys.prefix)"),
             'WSGISocketPrefix %s' % quoted(os.path.join(s.socket_prefix,
                                                         "wsgi"),
                                            "--socket-prefix")]
    lines += python_lines(s)
    # Access and auth scripts run in Apache's own processes: Python is
    # started there when there are any.
    scripts = s.auth_user_script or s.host_access_script
    if s.application_type == "static":
        if not scripts:
            lines.append("WSGIRestrictEmbedded On")
        return lines + service_lines(s) + auth_lines(s)
    handler = quoted(s.handler_script, "--server-root")
    group_words = [option_word("application-group", s.application_group,
                               "--application-group")]
    if s.embedded_mode:
        paths = [s.working_directory] + s.python_path
        lines.append("WSGIPythonPath %s" % quoted(":".join(paths),
                                                  "--python-path"))
    else:
        if not scripts:
            lines.append("WSGIRestrictEmbedded On")
        lines.append("WSGIDaemonProcess %s %s" % (
            quoted(s.process_group, "--process-group"),
            " ".join(daemon_words(s))))
        group_words.insert(0, option_word("process-group", s.process_group,
                                          "--process-group"))
        # Load the application when the daemon starts, not on the first
        # request (possible only for an interpreter known beforehand).
        if (s.application_group == "%{GLOBAL}"
                or "%{" not in s.application_group):
            lines.append("WSGIImportScript %s %s" % (
                handler, " ".join(group_words)))
    lines.append("WSGIScriptAlias %s %s %s" % (
        quoted(s.mount_point, "--mount-point"), handler,
        " ".join(group_words)))
    lines += ['<Directory %s>' % quoted(s.server_root, "--server-root"),
              '    <Files "handler.wsgi">',
              "        Require all granted",
              "    </Files>",
              "</Directory>",
              "WSGIPassAuthorization On",
              "WSGIMapHEADToGET %s" % s.map_head_to_get]
    if s.error_override:
        lines.append("WSGIErrorOverride On")
    if s.enable_sendfile:
        lines += ["WSGIEnableSendfile On", "EnableSendfile On"]
    if s.chunked_request:
        lines.append("WSGIChunkedRequest On")
    if s.trust_proxy_header:
        lines.append("WSGITrustedProxyHeaders %s" % " ".join(
            word(h, "--trust-proxy-header") for h in s.trust_proxy_header))
    if s.trust_proxy:
        lines.append("WSGITrustedProxies %s" % " ".join(
            word(a, "--trust-proxy") for a in s.trust_proxy))
    if s.reload_on_changes or s.disable_reloading:
        # --reload-on-changes: the handler script restarts the daemon
        # itself; the script file never changes, so the per-request check
        # is not needed. --disable-reloading: the handler does not reload
        # the application either (handler.render).
        lines.append("WSGIScriptReloading Off")
    for url in s.ignore_activity:
        lines += ["<Location %s>" % quoted(url, "--ignore-activity"),
                  "    WSGIIgnoreActivity On",
                  "</Location>"]
    return lines + service_lines(s) + auth_lines(s)


def python_lines(s):
    """Server-wide Python settings, and the telemetry directives the module
    accepts (and says it ignores) until it does them."""
    lines = ["WSGIPythonWarnings %s" % quoted(w, "--python-warnings")
             for w in s.python_warnings]
    if s.orphan_interpreter:
        lines.append("WSGIDestroyInterpreter Off")
    if s.free_threading:
        lines.append("WSGIFreeThreading On")
    if s.telemetry_service:
        lines.append("WSGITelemetryService %s %s" % (
            quoted(s.telemetry_service, "--telemetry-service"),
            option_word("interval", s.telemetry_interval,
                        "--telemetry-interval")))
    lines += ["WSGITelemetryOptions %s" % word(o, "--telemetry-options")
              for o in s.telemetry_options]
    if s.slow_requests:
        lines.append("WSGISlowRequests %s" % s.slow_requests)
    return lines


def service_lines(s):
    """--service-script NAME SCRIPT: a daemon group service:NAME with no
    request threads, whose one process loads service-NAME.py (written by
    server.write_server_root: it sends the output to --service-log-file
    and runs the script). The module starts the process with Apache,
    starts it again when it dies, and stops it with Apache."""
    users, groups = dict(s.service_user), dict(s.service_group)
    lines = []
    for name, _ in s.service_script:
        group = "service:%s" % name
        words = [option_word("threads", 0, "--service-script"),
                 option_word("display-name", "(wsgi:%s)" % group,
                             "--service-script")]
        if s.user:
            words.append(option_word("user", users.get(name, s.user),
                                     "--service-user"))
        if s.group:
            words.append(option_word("group", groups.get(name, s.group),
                                     "--service-group"))
        words += [option_word("home", s.working_directory,
                              "--working-directory"),
                  option_word("python-home", s.python_home,
                              "the Python prefix (sys.prefix)"),
                  option_word("lang", s.locale, "--locale"),
                  option_word("locale", s.locale, "--locale")]
        lines += ["WSGIDaemonProcess %s %s" % (
                      quoted(group, "--service-script NAME"),
                      " ".join(words)),
                  "WSGIImportScript %s %s %s" % (
                      quoted(service_wrapper(s, name), "--server-root"),
                      option_word("process-group", group,
                                  "--service-script NAME"),
                      option_word("application-group", "%{GLOBAL}",
                                  "--service-script NAME"))]
    return lines


def service_wrapper(s, name):
    """The script of the server root that runs the service NAME."""
    return os.path.join(s.server_root, "service-%s.py" % name)


def auth_lines(s):
    """--auth-user-script, --auth-group-script, --host-access-script: the
    whole site behind them, as upstream's express does."""
    if not (s.auth_user_script or s.host_access_script):
        return []
    lines = ['<Location "/">']
    if s.host_access_script:
        lines.append("    WSGIAccessScript %s" % quoted(
            s.host_access_script, "--host-access-script"))
    if s.auth_user_script:
        lines += ["    AuthType %s" % s.auth_type,
                  "    AuthName %s" % quoted(s.server_name, "--server-name"),
                  "    Auth%sProvider wsgi" % s.auth_type,
                  "    WSGIAuthUserScript %s" % quoted(
                      s.auth_user_script, "--auth-user-script")]
        if s.auth_type == "Digest":
            lines.append("    AuthDigestDomain /")
        if s.auth_group_script:
            lines += ["    WSGIAuthGroupScript %s" % quoted(
                          s.auth_group_script, "--auth-group-script"),
                      "    Require wsgi-group %s" % word(s.auth_group,
                                                          "--auth-group")]
        else:
            lines.append("    Require valid-user")
    lines.append("</Location>")
    return lines


# ---------------------------------------------------------------- static

def document_root_lines(s):
    """The <Directory> of the document root: what .htaccess files may
    set, listings, CGI programs and handlers by extension."""
    root = quoted(s.document_root, "--document-root")
    options = ["FollowSymLinks"]
    if s.directory_listing and s.application_type == "static":
        options.append("Indexes")
    if s.with_cgi:
        options.append("ExecCGI")
    lines = ["DocumentRoot %s" % root,
             "<Directory %s>" % root,
             "    Options %s" % " ".join(options),
             "    AllowOverride %s" % (" ".join(
                 word(o, "--allow-override") for o in s.allow_override)
                 or "None"),
             "    Require all granted"]
    if s.with_cgi:
        lines.append("    AddHandler cgi-script .cgi")
    for number, (extension, _) in enumerate(s.add_handler):
        lines.append("    AddHandler wsgi-resource-%d %s" % (
            number, word(extension, "--add-handler EXTENSION")))
    lines.append("</Directory>")
    if s.with_cgi and s.mpm != "prefork":
        lines.append("ScriptSock %s" % quoted(
            os.path.join(s.server_root, "cgisock"), "--server-root"))
    for number, (_, script) in enumerate(s.add_handler):
        lines.append("WSGIHandlerScript wsgi-resource-%d %s %s" % (
            number, quoted(script, "--add-handler SCRIPT"),
            " ".join(handler_group_words(s))))
    return lines


def handler_group_words(s):
    """Where the application's own scripts run: its daemon group (unless
    embedded) and its interpreter."""
    words = [option_word("application-group", s.application_group,
                         "--application-group")]
    if not s.embedded_mode and s.application_type != "static":
        words.insert(0, option_word("process-group", s.process_group,
                                    "--process-group"))
    return words


def static_lines(s):
    lines = document_root_lines(s)
    if s.directory_index:
        lines.append("DirectoryIndex %s" % quoted(s.directory_index,
                                                  "--directory-index"))
    # The user's rules (--rewrite-rules, or rewrite.conf of the server
    # root) come first: they may redirect or rewrite any URL.
    lines += ["RewriteEngine On",
              "IncludeOptional %s" % quoted(s.rewrite_rules,
                                            "--rewrite-rules")]
    if s.https_only:
        # Every plain HTTP request goes to the same URL over HTTPS (the
        # condition keeps the HTTPS host, which inherits these rules, out).
        lines += ["RewriteEngine On",
                  'RewriteCond "%{HTTPS}" "!=on"',
                  'RewriteRule "^/(.*)$" "https://%%{SERVER_NAME}:%d/$1" '
                  '[R=301,L,NE]' % s.https_port]
    if s.application_type != "static":
        # A file that exists in the document root is served by Apache;
        # everything else goes to the application (mod_rewrite maps URLs
        # before WSGIScriptAlias does).
        lines += ["RewriteEngine On",
                  'RewriteCond "%s%%{REQUEST_URI}" -f' % check(
                      s.document_root, "--document-root"),
                  'RewriteRule "^/(.*)$" "%s/$1" [L]' % check(
                      s.document_root.rstrip("/"), "--document-root")]
        if s.directory_index:
            index = check(s.directory_index, "--directory-index")
            lines += ['RewriteCond "%s%%{REQUEST_URI}%s" -f'
                      % (check(s.document_root, "--document-root"), index),
                      'RewriteRule "^/(.*/)?$" "%s/$1%s" [L]'
                      % (s.document_root.rstrip("/"), index)]
    for url, path in s.url_alias:
        lines.append("Alias %s %s" % (quoted(url, "--url-alias URL-PATH"),
                                      quoted(path, "--url-alias path")))
        if os.path.isdir(path):
            lines += ["<Directory %s>" % quoted(path, "--url-alias path"),
                      "    AllowOverride None",
                      "    Require all granted",
                      "</Directory>"]
        else:
            lines += ["<Location %s>" % quoted(url, "--url-alias URL-PATH"),
                      "    Require all granted",
                      "</Location>"]
    for status, target in s.error_document:
        lines.append("ErrorDocument %s %s" % (
            word(status, "--error-document STATUS"),
            quoted(target, "--error-document URL")))
    lines += location_lines(s)
    if s.compress_responses:
        lines += ["<IfModule deflate_module>",
                  "    AddOutputFilterByType DEFLATE text/plain text/html "
                  "text/css text/xml text/javascript application/javascript "
                  "application/json application/xml image/svg+xml",
                  "</IfModule>"]
    return lines


def location_lines(s):
    """URLs Apache answers itself: mod_status, the documentation, and the
    paths proxied to other servers (mod_proxy's ProxyPass is mapped before
    WSGIScriptAlias, so these win over the application)."""
    lines = []
    if s.server_status:
        lines += ["ExtendedStatus On",
                  '<Location "/server-status">',
                  "    SetHandler server-status",
                  "    Require local",
                  "</Location>"]
    if s.metrics_url:
        lines += ["<Location %s>" % quoted(s.metrics_url, "--metrics-url"),
                  "    SetHandler wsgi-metrics",
                  "    Require local",
                  "</Location>"]
    if s.status_url:
        page = os.path.join(s.server_root, "status.html")
        lines += ["Alias %s %s" % (quoted(s.status_url, "--status-url"),
                                   quoted(page, "--server-root")),
                  # (Location wins over the server root's Directory.)
                  "<Location %s>" % quoted(s.status_url, "--status-url"),
                  "    Require local",
                  "</Location>"]
    if s.enable_docs:
        lines += ['Alias "/__wsgi__/docs" %s' % quoted(s.docs_directory,
                                                       "--enable-docs"),
                  "<Directory %s>" % quoted(s.docs_directory,
                                            "--enable-docs"),
                  "    Options Indexes",
                  "    DirectoryIndex index.md",
                  "    AddType text/markdown;charset=utf-8 .md",
                  "    Require all granted",
                  "</Directory>"]
    for url_path, target in s.proxy_mount_point:
        lines += proxy_pass(url_path, target, "--proxy-mount-point")
    if s.proxy_mount_point or s.proxy_virtual_host:
        lines.append("ProxyTimeout %d" % (s.proxy_timeout
                                          or s.socket_timeout or 60))
    return lines


def proxy_pass(url_path, target, what):
    """ProxyPass and ProxyPassReverse of one URL path, both ending in '/'
    (so that /api does not also match /apiary), and /api itself
    redirected to /api/."""
    path = url_path.rstrip("/") + "/"
    base = quoted(target.rstrip("/") + "/", what + " URL")
    lines = []
    if path != "/":
        lines.append('RedirectMatch 301 "^%s$" "%s"' % (
            re.escape(check(path[:-1], what + " URL-PATH")), path))
    return lines + [
        "ProxyPass %s %s upgrade=websocket" % (
            quoted(path, what + " URL-PATH"), base),
        "ProxyPassReverse %s %s" % (quoted(path, what + " URL-PATH"), base)]


def proxy_host_lines(s):
    """--proxy-virtual-host HOST URL: a name-based virtual host on the
    port that passes everything to URL."""
    lines = []
    if s.proxy_virtual_host and not s.server_name_given:
        # The first virtual host of the port answers every other name: the
        # application's, as the main server would.
        lines += ["<VirtualHost *:%d>" % s.port,
                  "    ServerName %s" % word(s.server_name, "--host"),
                  "    RewriteEngine On",
                  "    RewriteOptions Inherit",
                  "</VirtualHost>"]
    for host, target in s.proxy_virtual_host:
        lines += ["<VirtualHost *:%d>" % s.port,
                  "    ServerName %s" % word(host, "--proxy-virtual-host"),
                  "    ProxyPreserveHost Off"]
        lines += ["    " + l for l in proxy_pass(
            "/", target, "--proxy-virtual-host")]
        lines.append("</VirtualHost>")
    return lines


# ---------------------------------------------------------------- all

def log_target(s, path):
    """A log file, or with --rotate-logs the rotatelogs pipe writing it
    (-n 10: the files NAME, NAME.1 ... NAME.9, used in turn).
    Apache splits the pipe command at spaces, so no path may hold one."""
    if not s.rotatelogs:
        return quoted(path, "--log-directory")
    return '"|%s -n 10 %s %dM"' % (
        word(s.rotatelogs, "--rotatelogs-executable"),
        word(path, "--log-directory"), s.max_log_size)


def server_lines(s):
    listen = "%s:%d" % (s.listen_host, s.port) if s.listen_host else str(
        s.port)
    lines = ["ServerRoot %s" % quoted(s.server_root, "--server-root"),
             "PidFile %s" % quoted(s.pid_file, "--pid-file"),
             "DefaultRuntimeDir %s" % quoted(s.server_root, "--server-root"),
             "Listen %s" % word(listen, "--host"),
             "ServerName %s" % word(s.server_name, "--server-name"),
             "ServerTokens ProductOnly",
             "ServerSignature Off",
             "UseCanonicalName Off",
             "HostnameLookups Off"]
    if s.user:
        lines.append("User %s" % word(s.user, "--user"))
    if s.group:
        lines.append("Group %s" % word(s.group, "--group"))
    lines.append("Timeout %d" % (s.socket_timeout or 60))
    if s.keep_alive_timeout:
        lines += ["KeepAlive On",
                  "KeepAliveTimeout %d" % s.keep_alive_timeout]
    else:
        lines.append("KeepAlive Off")
    for opt in REGISTRY:
        if opt.directive is not None:
            lines.append("%s %s" % (opt.directive, word(
                getattr(s, opt.name), opt.flags[0])))
    if s.http2:
        # h2 over TLS (the HTTPS host inherits it), h2c over plain HTTP:
        # the Upgrade of an HTTP/1.1 request or prior knowledge.
        lines.append("Protocols h2 h2c http/1.1")
    lines += log_lines(s)
    lines += read_timeout_lines(s)
    if s.mime_types:
        lines.append("TypesConfig %s" % quoted(s.mime_types, "--mime-types"))
    lines += ["<Directory />",
              "    AllowOverride None",
              "    Require all denied",
              "</Directory>"]
    return lines


# The LogFormat nicknames of Apache's own configuration, for
# --access-log-format (the default is common).
LOG_FORMATS = [
    ("common", '%h %l %u %t "%r" %>s %b'),
    ("combined", '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'),
    ("referer", "%{Referer}i -> %U"),
    ("agent", "%{User-Agent}i"),
]


def log_lines(s):
    if s.log_to_terminal:
        lines = ['ErrorLog "/dev/stderr"']
    else:
        lines = ["ErrorLog %s" % log_target(s, s.error_log)]
    if s.error_log_format:
        lines.append("ErrorLogFormat %s" % format_string(
            s.error_log_format, "--error-log-format"))
    lines.append("LogLevel %s" % word(s.log_level, "--log-level"))
    if s.access_log:
        lines += ["LogFormat %s %s" % (format_string(f, "LogFormat"), name)
                  for name, f in LOG_FORMATS]
        nickname = s.access_log_format or "common"
        if nickname not in dict(LOG_FORMATS):
            nickname = format_string(nickname, "--access-log-format")
        target = ('"/dev/stdout"' if s.log_to_terminal
                  else log_target(s, s.access_log_file))
        lines.append("CustomLog %s %s" % (target, nickname))
    return lines


def read_timeout_lines(s):
    """--header-timeout and the other read-timeout options: mod_reqtimeout's
    RequestReadTimeout header=T[-MAX][,MinRate=R] body=..."""
    parts = []
    for what in ("header", "body"):
        timeout = getattr(s, what + "_timeout")
        most = getattr(s, what + "_max_timeout")
        rate = getattr(s, what + "_min_rate")
        part = "%s=%d" % (what, timeout)
        # A range grows only with a rate (mod_reqtimeout refuses one
        # without).
        if timeout and most and rate:
            part += "-%d" % most
        if timeout and rate:
            part += ",MinRate=%d" % rate
        parts.append(part)
    return ["<IfModule reqtimeout_module>",
            "    RequestReadTimeout %s" % " ".join(parts),
            "</IfModule>"]


def host_names(s):
    """ServerName and ServerAlias lines of a name-based virtual host."""
    aliases = list(s.server_alias)
    if s.allow_localhost:
        aliases += ["localhost", "127.0.0.1", "[::1]"]
    lines = ["    ServerName %s" % word(s.server_name, "--server-name")]
    if aliases:
        lines.append("    ServerAlias %s" % " ".join(
            word(a, "--server-alias") for a in aliases))
    return lines


def named_host_lines(s):
    """With --server-name: the first virtual host of the port (the one
    Apache uses for any other Host) refuses, the named one serves."""
    if not s.server_name_given:
        return []
    return ["<VirtualHost *:%d>" % s.port,
            "    ServerName unknown-host.invalid",
            "    <Location />",
            "        Require all denied",
            "    </Location>",
            "</VirtualHost>",
            "<VirtualHost *:%d>" % s.port] + host_names(s) + [
            "    RewriteEngine On",
            "    RewriteOptions Inherit",
            "</VirtualHost>"]


def https_lines(s):
    if not s.https_port:
        return []
    host = s.listen_host or ""
    listen = "%s:%d" % (host, s.https_port) if host else str(s.https_port)
    lines = ["Listen %s https" % word(listen, "--host"),
             "SSLSessionCache %s" % quoted(
                 "shmcb:%s(512000)" % os.path.join(s.server_root,
                                                   "ssl_scache"),
                 "--server-root"),
             "<VirtualHost *:%d>" % s.https_port] + (
                 host_names(s) if s.server_name_given else [
                     "    ServerName %s" % word(s.server_name,
                                                "--server-name")]) + [
             "    SSLEngine On",
             "    SSLCertificateFile %s" % quoted(s.ssl_certificate_file,
                                                  "--ssl-certificate-file"),
             "    SSLCertificateKeyFile %s" % quoted(
                 s.ssl_certificate_key_file, "--ssl-certificate-key-file")]
    if s.ssl_certificate_chain_file:
        lines.append("    SSLCertificateChainFile %s" % quoted(
            s.ssl_certificate_chain_file, "--ssl-certificate-chain-file"))
    lines += client_certificate_lines(s)
    if s.ssl_environment:
        lines.append("    SSLOptions +StdEnvVars")
    if s.hsts_policy:
        lines.append("    Header always set Strict-Transport-Security %s"
                     % quoted(s.hsts_policy, "--hsts-policy"))
    # The main server's rewrite rules (static files first) apply here too.
    lines += ["    RewriteEngine On",
              "    RewriteOptions Inherit",
              "</VirtualHost>"]
    return lines


def client_certificate_lines(s):
    """--ssl-ca-certificate-file: a client certificate signed by one of its
    CAs is required, on the whole site or under each --ssl-verify-client
    URL (there by a renegotiation, or TLS 1.3's post-handshake
    authentication)."""
    if not s.ssl_ca_certificate_file:
        return []
    lines = ["    SSLCACertificateFile %s" % quoted(
        s.ssl_ca_certificate_file, "--ssl-ca-certificate-file")]
    if not s.ssl_verify_client:
        return lines + ["    SSLVerifyClient require"]
    for url in s.ssl_verify_client:
        lines += ["    <Location %s>" % quoted(url, "--ssl-verify-client"),
                  "        SSLVerifyClient require",
                  "    </Location>"]
    return lines


def env_lines(s):
    lines = []
    for name, value in s.setenv:
        lines.append("SetEnv %s %s" % (word(name, "--setenv NAME"),
                                       quoted(value, "--setenv value")))
    for name in s.passenv:
        lines.append("PassEnv %s" % word(name, "--passenv"))
    return lines


def debug_lines(s):
    """--debug-mode's lines (debug.py has the rest of debug mode)."""
    from mod_wsgi.express import debug
    return debug.config_lines(s)


def render(s):
    """The text of httpd.conf for the settings s (see server.Settings)."""
    parts = [
        ["# Generated by mod_wsgi-express; it is rewritten on every",
         "# setup-server/start-server. Add to it with --include-file."],
        module_lines(s),
        server_lines(s),
        mpm_lines(s),
        static_lines(s),
        env_lines(s),
        wsgi_lines(s),
        debug_lines(s),
        named_host_lines(s),
        proxy_host_lines(s),
        https_lines(s),
        ["Include %s" % quoted(f, "--include-file") for f in s.include_file],
    ]
    return "\n\n".join("\n".join(p) for p in parts if p) + "\n"


__all__ = ["ConfigValueError", "render", "quoted", "word", "check",
           "problem_of"]
