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
    if s.auth_user_script:
        wanted += [("authn_core", "authn_core"), ("authz_user", "authz_user"),
                   ("auth_digest", "auth_digest")
                   if s.auth_type == "Digest" else
                   ("auth_basic", "auth_basic")]
    for name, stem in wanted:
        path = os.path.join(mods, "mod_%s.so" % stem)
        if name == "ssl" and not os.path.exists(path):
            raise ConfigValueError("--https-port needs mod_ssl, and there "
                                   "is no %s; install it or pass "
                                   "--modules-directory DIR." % path)
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

def mpm_lines(s):
    """MPM sizing: enough Apache workers for the daemon (or embedded)
    capacity, in as few processes as sensible."""
    clients = s.max_clients
    if s.mpm == "prefork":
        return ["<IfModule mpm_prefork_module>",
                "    StartServers 1",
                "    MinSpareServers 1",
                "    MaxSpareServers %d" % max(1, min(clients, 10)),
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
    return ["<IfModule %s>" % section,
            "    StartServers 1",
            # Room for a second generation: after a graceful restart the
            # old children finish their requests in their slots while the
            # new ones start; without it Apache logs AH03490 ("scoreboard
            # is full") and serves with fewer workers until they leave.
            "    ServerLimit %d" % (2 * servers),
            "    ThreadLimit %d" % per_child,
            "    ThreadsPerChild %d" % per_child,
            "    MaxRequestWorkers %d" % workers,
            # Well below MaxRequestWorkers, or Apache logs AH10159 (an
            # error) all the time.
            "    MinSpareThreads %d" % max(1, min(per_child, workers // 4)),
            "    MaxSpareThreads %d" % workers,
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
             'WSGISocketPrefix %s' % quoted(os.path.join(s.server_root,
                                                         "wsgi"),
                                            "--server-root")]
    # Access and auth scripts run in Apache's own processes: Python is
    # started there when there are any.
    scripts = s.auth_user_script or s.host_access_script
    if s.application_type == "static":
        if not scripts:
            lines.append("WSGIRestrictEmbedded On")
        return lines + auth_lines(s)
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
    if s.reload_on_changes:
        # The handler script restarts the daemon itself; the script file
        # never changes, so the per-request check is not needed.
        lines.append("WSGIScriptReloading Off")
    return lines + auth_lines(s)


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

def static_lines(s):
    root = quoted(s.document_root, "--document-root")
    lines = ["DocumentRoot %s" % root,
             "<Directory %s>" % root,
             "    Options FollowSymLinks",
             "    AllowOverride None",
             "    Require all granted",
             "</Directory>"]
    if s.directory_index:
        lines.append("DirectoryIndex %s" % quoted(s.directory_index,
                                                  "--directory-index"))
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
    if s.compress_responses:
        lines += ["<IfModule deflate_module>",
                  "    AddOutputFilterByType DEFLATE text/plain text/html "
                  "text/css text/xml text/javascript application/javascript "
                  "application/json application/xml image/svg+xml",
                  "</IfModule>"]
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
    if s.log_to_terminal:
        lines.append('ErrorLog "/dev/stderr"')
    else:
        lines.append("ErrorLog %s" % log_target(s, s.error_log))
    lines.append("LogLevel %s" % word(s.log_level, "--log-level"))
    if s.access_log:
        lines.append('LogFormat "%h %l %u %t \\"%r\\" %>s %b" common')
        target = ('"/dev/stdout"' if s.log_to_terminal
                  else log_target(s, s.access_log_file))
        lines.append("CustomLog %s common" % target)
    if s.mime_types:
        lines.append("TypesConfig %s" % quoted(s.mime_types, "--mime-types"))
    lines += ["<Directory />",
              "    AllowOverride None",
              "    Require all denied",
              "</Directory>"]
    return lines


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


def env_lines(s):
    lines = []
    for name, value in s.setenv:
        lines.append("SetEnv %s %s" % (word(name, "--setenv NAME"),
                                       quoted(value, "--setenv value")))
    for name in s.passenv:
        lines.append("PassEnv %s" % word(name, "--passenv"))
    return lines


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
        named_host_lines(s),
        https_lines(s),
        ["Include %s" % quoted(f, "--include-file") for f in s.include_file],
    ]
    return "\n\n".join("\n".join(p) for p in parts if p) + "\n"


__all__ = ["ConfigValueError", "render", "quoted", "word", "check",
           "problem_of"]
