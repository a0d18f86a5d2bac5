"""A real Apache for the tests: private ServerRoot, free loopback port.

`ApacheServer` writes its own httpd.conf into a fresh temp directory (mode
0755, so the unprivileged user Apache's children run as can read it),
starts `apache2 -f CONF -DFOREGROUND` in a session of its own, and stops it
by the pid it started: never by name.  Everything else Apache needs
(binary, modules directory) is found at run time through apxs.
"""

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# Lines that mean something went badly wrong in Apache or in our module.
BAD_LOG = re.compile(r"\[(?:[a-z_]+:)?(?:crit|alert|emerg)\]|"
                     # Errors and warnings too: a test that expects one
                     # allows its code with @pytest.mark.allow_log.
                     r"\[(?:[a-z_]+:)?(?:error|warn)\]|"
                     r"Segmentation fault|segfault|AddressSanitizer|"
                     r"runtime error:|exit signal|"
                     # A child that ignored SIGTERM and had to be killed.
                     r"AH00046|still did not exit, sending a SIGKILL")

# The thread a log line comes from, and a message code that starts a
# message of its own.
LOG_THREAD = re.compile(r"\[pid \d+(?::tid \d+)?\]")
LOG_CODE = re.compile(r"\] (?:\[client [^]]*\] )?(?:WSGI\d{4}|AH\d{5}):")

# Apache 2.4.71's event MPM has a race of its own on `apachectl stop`
# (SIGTERM): the child's main thread closes the sockets of connections
# still listed as held by workers (close_worker_sockets) while the
# listener thread has already freed the pool of one that was being
# lingering-closed; the child segfaults in apr_os_sock_get.  It needs a
# client to close its connection just as the stop arrives; seen 2 times in
# 150 stops of a plain Apache with no mod_wsgi loaded, more often after a
# slower (WSGI) request.  A crash is excused only when its core dump shows
# exactly that frame: any other crash, or one without a core to look at,
# fails the test.
APACHE_RACE_FRAMES = (r"#0 .* in apr_os_sock_get \(\)",
                      r"#1 .* in \?\? \(\) from .*mod_mpm_event\.so")
CRASH_LINE = re.compile(r"AH0005[12]: child pid (\d+) exit signal "
                        r"Segmentation fault")

GRACEFUL_STOP = signal.SIGWINCH

START_TIMEOUT = 15
STOP_TIMEOUT = 10


# ----------------------------------------------------------- discovery

def _apxs():
    for name in (os.environ.get("APXS"), "apxs2", "apxs"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise RuntimeError("apxs not found: install apache2-dev")


def apxs_query(var):
    return subprocess.run([_apxs(), "-q", var], check=True, text=True,
                          capture_output=True, timeout=60).stdout.strip()


def httpd_binary():
    name = apxs_query("PROGNAME") or "apache2"
    path = os.path.join(apxs_query("SBINDIR"), name)
    if os.access(path, os.X_OK):
        return path
    found = shutil.which(name) or shutil.which("apache2") or shutil.which("httpd")
    if not found:
        raise RuntimeError("Apache binary not found (apxs SBINDIR=%s)" % path)
    return found


def modules_dir():
    return apxs_query("LIBEXECDIR")


def compiled_in_modules():
    out = subprocess.run([httpd_binary(), "-l"], capture_output=True,
                         text=True, timeout=60).stdout
    return {l.strip() for l in out.splitlines() if l.strip().endswith(".c")}


def http_answers(port, path="/", host="127.0.0.1"):
    """True when something on host:port answers HTTP for path."""
    try:
        with socket.create_connection((host, port), 1) as s:
            s.settimeout(5)
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Connection: close\r\n\r\n" % path).encode())
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


# TCP states of /proc/net/tcp that mean a connection is still open or
# closing: all but TIME_WAIT (06), CLOSE (07) and LISTEN (0A).
_OPEN_TCP_STATES = {"01", "02", "03", "04", "05", "08", "09", "0B"}


def open_connections(port):
    """Connections on 127.0.0.1:port (either end) not yet fully closed."""
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state = fields[1], fields[2], fields[3]
                if state in _OPEN_TCP_STATES and port in (
                        int(local.split(":")[1], 16),
                        int(remote.split(":")[1], 16)):
                    n += 1
    except OSError:
        pass
    return n


def wait_connections_closed(port, timeout):
    deadline = time.monotonic() + timeout
    while open_connections(port) and time.monotonic() < deadline:
        time.sleep(0.02)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def module_for(venv):
    """Path of the mod_wsgi .so installed in venv."""
    express = os.path.join(venv, "bin", "mod_wsgi-express")
    if os.access(express, os.X_OK):
        out = subprocess.run([express, "module-location"], capture_output=True,
                             text=True, timeout=60, cwd="/")
        path = out.stdout.strip()
        if out.returncode == 0 and os.path.isfile(path):
            return path
    found = sorted(glob.glob(os.path.join(
        venv, "lib", "python*", "site-packages", "mod_wsgi", "server",
        "mod_wsgi-py*.so")))
    if found:
        return found[-1]
    return None


def python_version(venv):
    out = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def run_user():
    """User/Group lines for httpd.conf: needed only when we are root."""
    if os.geteuid() != 0:
        return ""
    for name in ("www-data", "apache", "daemon", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return "User %s\nGroup #%d\n" % (name, pw.pw_gid)
    raise RuntimeError("no unprivileged user for Apache's children")


def make_dir(prefix="mod_wsgi-test-", mode=0o755):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, mode)
    return d


def read_text(path):
    """The file's text (undecodable bytes replaced), or "" if it is not
    there (yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def write_file(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# ----------------------------------------------------------- processes

def proc_stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pids_where(pred):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat_fields(entry)
            # fields[0] state, [1] ppid, [2] pgrp
            if fields and fields[0] != "Z" and pred(int(fields[1]), int(fields[2])):
                out.append(int(entry))
    return out


def describe(pid):
    """'PID (command line)' of a live process, for failure messages."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    return "%s (%s)" % (pid, cmd or "?")


def alive(pid):
    fields = proc_stat_fields(pid)
    return fields is not None and fields[0] != "Z"


# ----------------------------------------------------------- crashes

def _allow_cores():
    """In the child before exec: let Apache's processes dump core (up to
    the hard limit) into their CoreDumpDirectory."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard != 0 and soft != hard:
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def core_backtrace(core):
    """The crashing thread's backtrace in a core of our httpd, or None
    when gdb is not there to read it."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return None
    out = subprocess.run([gdb, "-batch", "-nx", "-ex", "bt 4", httpd_binary(),
                          core], capture_output=True, text=True, timeout=120)
    return out.stdout


def is_apache_stop_race(core):
    bt = core_backtrace(core)
    return bt is not None and all(re.search(f, bt) for f in APACHE_RACE_FRAMES)


# ----------------------------------------------------------- the server

# The threaded MPMs get twice the slots their MaxRequestWorkers needs: at a
# graceful restart the old children finish in theirs while the new ones
# start (else Apache logs AH03490, "scoreboard is full").

MPM_TUNING = """\
<IfModule mpm_event_module>
    StartServers 1
    ServerLimit 4
    ThreadsPerChild 8
    ThreadLimit 8
    MaxRequestWorkers 16
    MinSpareThreads 1
    MaxSpareThreads 16
</IfModule>
<IfModule mpm_worker_module>
    StartServers 1
    ServerLimit 4
    ThreadsPerChild 8
    ThreadLimit 8
    MaxRequestWorkers 16
    MinSpareThreads 1
    MaxSpareThreads 16
</IfModule>
<IfModule mpm_prefork_module>
    StartServers 2
    MinSpareServers 1
    MaxSpareServers 4
    MaxRequestWorkers 6
</IfModule>
"""

STANDARD_MODULES = ["authz_core", "authz_host", "mime", "alias", "dir", "env",
                    "headers", "log_config", "filter", "deflate", "setenvif"]


class ApacheServer:
    """One private Apache.

    venv       Python environment whose mod_wsgi .so is loaded and which is
               used as WSGIPythonHome (None together with wsgi=False: a
               plain Apache).
    mpm        'event', 'worker' or 'prefork'.
    conf       extra configuration text; @ROOT@ is replaced by the
               ServerRoot.
    apps       list of (url, source) pairs: each source is written to a
               script in the ServerRoot and mounted with WSGIScriptAlias.
    apps_dir   a directory whose *.wsgi files are mounted at /<name>.
    listen     the address it listens on (default 127.0.0.1)
    netns      a network namespace to run it in (`ip netns exec NETNS`:
               the pid is still Apache's), for an address of its own
    """

    def __init__(self, venv=None, mpm="event", conf="", apps=(), apps_dir=None,
                 loglevel="info", python_home=None, module=None, wsgi=True,
                 modules=(), listen="127.0.0.1", netns=None, env=None):
        self.venv = venv
        self.extra_env = dict(env or {})   # added to Apache's environment
        self.listen = listen
        self.netns = netns
        self.mpm = mpm
        self.root = make_dir()
        self.port = free_port()
        self.proc = None
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.log_path = os.path.join(self.root, "error.log")
        self.stdout_path = os.path.join(self.root, "stdout.log")
        # Writable by the unprivileged children: a crash leaves a core
        # here, which bad_lines() reads to tell Apache's race from ours.
        self.cores = os.path.join(self.root, "cores")
        os.makedirs(self.cores)
        os.chmod(self.cores, 0o777)
        self._mark = 0
        self.left_behind = []   # describe() of every process stop() killed
        self.excused = []       # crash lines shown to be Apache's own race
        mods = modules_dir()
        builtin = compiled_in_modules()
        lines = [
            'ServerRoot "%s"' % self.root,
            "Listen %s:%d" % (listen, self.port),
            "ServerName 127.0.0.1",
            'PidFile "%s/httpd.pid"' % self.root,
            'ErrorLog "%s"' % self.log_path,
            "LogLevel %s" % loglevel,
            'DefaultRuntimeDir "%s"' % self.root,
            'DocumentRoot "%s/htdocs"' % self.root,
            'CoreDumpDirectory "%s"' % self.cores,
            "Timeout 20",
            "GracefulShutdownTimeout 5",
            "KeepAliveTimeout 5",
            run_user(),
            'LoadModule mpm_%s_module "%s/mod_mpm_%s.so"' % (mpm, mods, mpm),
        ]
        for name in list(STANDARD_MODULES) + list(modules):
            if "mod_%s.c" % name in builtin:
                continue
            so = os.path.join(mods, "mod_%s.so" % name)
            if os.path.exists(so):
                lines.append('LoadModule %s_module "%s"' % (name, so))
        if os.path.exists("/etc/mime.types"):
            lines.append("TypesConfig /etc/mime.types")
        lines.append(MPM_TUNING)
        if wsgi:
            module = module or module_for(venv)
            if not module:
                raise RuntimeError("no built mod_wsgi module in %s" % venv)
            self.module = module
            lines.append('LoadModule wsgi_module "%s"' % module)
            lines.append('WSGIPythonHome "%s"' % (python_home or venv))
        os.makedirs(os.path.join(self.root, "htdocs"))
        os.chmod(os.path.join(self.root, "htdocs"), 0o755)
        lines.append('<Directory "%s/htdocs">\n    Require all granted\n'
                     '</Directory>' % self.root)
        if apps:
            appdir = os.path.join(self.root, "apps")
            os.makedirs(appdir)
            os.chmod(appdir, 0o755)
            for i, (url, source) in enumerate(apps):
                script = write_file(os.path.join(appdir, "app%d.wsgi" % i), source)
                lines.append('WSGIScriptAlias %s "%s"' % (url, script))
            lines.append('<Directory "%s">\n    Require all granted\n'
                         '</Directory>' % appdir)
        if apps_dir:
            for script in sorted(glob.glob(os.path.join(apps_dir, "*.wsgi"))):
                name = os.path.splitext(os.path.basename(script))[0]
                lines.append('WSGIScriptAlias /%s "%s"' % (name, script))
            lines.append('<Directory "%s">\n    Require all granted\n'
                         '</Directory>' % apps_dir)
        lines.append(conf.replace("@ROOT@", self.root))
        write_file(self.conf_path, "\n".join(lines) + "\n")

    # -- control ----------------------------------------------------------

    def _env(self):
        # Python reads PYTHON* variables at initialisation; the test
        # runner's own (PYTHONDONTWRITEBYTECODE, PYTHONPATH...) must not
        # leak into Apache's interpreters.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        preload = os.environ.get("MOD_WSGI_TEST_PRELOAD")
        if preload:
            # `make asan`: the sanitizer runtime must be loaded first.
            env["LD_PRELOAD"] = preload
            # In the cores directory: daemons write there too, as their user.
            env["ASAN_OPTIONS"] = "detect_leaks=0:log_path=%s/asan" % self.cores
        env.update(self.extra_env)
        return env

    def configtest(self):
        """Runs `apache2 -t` on our config: (returncode, output)."""
        out = subprocess.run([httpd_binary(), "-t", "-f", self.conf_path],
                             capture_output=True, text=True, timeout=60,
                             env=self._env())
        return out.returncode, out.stdout + out.stderr

    def start(self, timeout=START_TIMEOUT, expect_fail=False, ready_path="/"):
        """Starts Apache and waits until it answers HTTP.  With expect_fail,
        returns the exit status instead of raising when Apache exits."""
        out = open(self.stdout_path, "w")
        try:
            self.proc = subprocess.Popen(
                (["ip", "netns", "exec", self.netns] if self.netns else [])
                + [httpd_binary(), "-f", self.conf_path, "-DFOREGROUND"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=self._env(),
                preexec_fn=_allow_cores)
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if expect_fail:
                    return self.proc.returncode
                raise RuntimeError("apache exited with %s:\n%s\n%s" % (
                    self.proc.returncode, self.stdout(), self.error_log()))
            if self._answers(ready_path):
                if expect_fail:
                    self.stop()
                    raise AssertionError("apache started but should have failed:\n"
                                         + self.error_log())
                return 0
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("apache did not answer within %ss:\n%s" % (
            timeout, self.error_log()))

    def _answers(self, path):
        return http_answers(self.port, path, self.listen)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        """Pids whose parent is the Apache we started, and theirs: daemon
        processes run under a supervisor process of their slot."""
        if self.proc is None:
            return []
        kids = pids_where(lambda ppid, pgrp: ppid == self.proc.pid)
        return kids + pids_where(lambda ppid, pgrp: ppid in kids)

    def group_members(self):
        """Every live process in the session we started Apache in (the
        parent and its children, including orphans the parent left)."""
        if self.proc is None:
            return []
        return pids_where(lambda ppid, pgrp: pgrp == self.proc.pid)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=STOP_TIMEOUT, sig=None):
        """Stops our pid (SIGTERM, `apachectl stop`, unless told: e.g.
        GRACEFUL_STOP, `apachectl graceful-stop`), bounded wait, then
        SIGKILL.  Returns the seconds the graceful part took and the pids
        that had to be killed afterwards (children left behind)."""
        if self.proc is None:
            return 0.0, []
        # Apache's own stop race (see APACHE_RACE_FRAMES) needs a client
        # connection closing just as SIGTERM comes: let the connections
        # the test already closed finish closing first (bounded; a test
        # that holds one open on purpose just waits the bound).
        wait_connections_closed(self.port, 1.0)
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if sig is None else sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        took = time.monotonic() - t0
        # Children outliving the parent: they are in the process group we
        # created, so ours to clean up.
        left = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            left = self.group_members()
            if not left:
                break
            time.sleep(0.05)
        for pid in left:
            self.left_behind.append(describe(pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return took, left

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- talking to it ----------------------------------------------------

    def path(self, path):
        """The URL path a test asks for, as this server serves it (see
        conftest.DaemonRoutes, which sends some to a daemon)."""
        return path

    def url(self, path):
        return "http://%s:%d%s" % (self.listen, self.port, path)

    def get(self, path, **kw):
        import requests
        kw.setdefault("timeout", 30)
        return requests.get(self.url(path), **kw)

    def post(self, path, **kw):
        import requests
        kw.setdefault("timeout", 60)
        return requests.post(self.url(path), **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes, returns every byte received until the server
        closes (or `timeout` seconds of silence)."""
        chunks = []
        with socket.create_connection(("127.0.0.1", self.port), timeout) as s:
            s.sendall(data)
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            except socket.timeout:
                pass
        return b"".join(chunks)

    def raw_until_closed(self, data, within=3.0):
        """Sends raw bytes on a keep-alive connection and returns what
        comes until the server closes it, which must happen within
        `within` seconds: a response cut short ends its connection at
        once, where a complete one would hold it for KeepAliveTimeout
        (5 s), so a close is told from a hang or a keep-alive."""
        chunks = []
        deadline = time.monotonic() + within
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(data)
            while True:
                left = deadline - time.monotonic()
                assert left > 0, ("the server did not close the connection "
                                  "within %.1f s; got %r" % (
                                      within, b"".join(chunks)[-200:]))
                s.settimeout(left)
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    continue
                if not b:
                    return b"".join(chunks)
                chunks.append(b)

    # -- logs -------------------------------------------------------------

    def stdout(self):
        return read_text(self.stdout_path)

    def error_log(self):
        return read_text(self.log_path)

    log = error_log

    def wait_log_quiet(self, quiet=0.06, limit=1.0):
        """Until the error log has not grown for `quiet` seconds (at most
        `limit`): lines still being written belong to what came before."""
        deadline = time.monotonic() + limit
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = os.path.getsize(self.log_path) if os.path.exists(
                self.log_path) else 0
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.02)

    def log_mark(self):
        """An opaque position in the error log; see log_since()."""
        return len(self.error_log())

    def log_since(self, mark):
        return self.error_log()[mark:]

    # A single implicit mark, for tests that only need one.
    def mark(self):
        self._mark = self.log_mark()
        return self._mark

    def log_since_mark(self):
        return self.log_since(self._mark)

    def wait_log(self, pattern, timeout=10, mark=None):
        """Waits (bounded) until pattern appears after mark; returns the
        log text after the mark either way."""
        mark = self._mark if mark is None else mark
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_since(mark)
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        return self.log_since(mark)

    def count_log(self, pattern, expected, timeout=5, mark=None):
        """Waits until pattern occurs `expected` times after mark, then a
        little longer so that extra occurrences are seen too; returns the
        count."""
        mark = self._mark if mark is None else mark
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log_since(mark))) >= expected:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        return len(re.findall(pattern, self.log_since(mark)))

    def bad_lines(self, since=0, allow=()):
        """Error-log lines (and sanitizer reports) that mean a crash or a
        critical failure, minus those matching an `allow` pattern."""
        text = self.error_log()[since:]
        if since == 0:
            text += "\n" + self.stdout()
        for report in glob.glob(os.path.join(self.cores, "asan*")):
            with open(report, errors="replace") as f:
                text += "\n" + f.read()
        bad = []
        going = set()   # [pid:tid] of threads in an allowed message
        for line in text.splitlines():
            who = LOG_THREAD.search(line)
            who = who.group(0) if who else None
            if any(re.search(a, line) for a in allow):
                going.add(who)
                continue
            # The other lines of an allowed message (a traceback: its
            # lines carry no code of their own, and other threads' lines
            # may come between them) are allowed with it.
            if who in going and not LOG_CODE.search(line):
                continue
            going.discard(who)
            if BAD_LOG.search(line):
                bad.append(line)
        return self._excuse_apache_race(bad)

    def _cores_of(self, pid, ncrashes):
        """Core files of the crashed child pid: core.PID, or a lone `core`
        when only one child crashed (kernel.core_uses_pid=0)."""
        named = os.path.join(self.cores, "core.%d" % pid)
        if os.path.exists(named):
            return named
        plain = os.path.join(self.cores, "core")
        if ncrashes == 1 and os.path.exists(plain):
            return plain
        return None

    def _excuse_apache_race(self, bad):
        crashes = [CRASH_LINE.search(line) for line in bad]
        ncrashes = sum(1 for m in crashes if m)
        kept = []
        for line, m in zip(bad, crashes):
            if m and self.mpm == "event":
                core = self._cores_of(int(m.group(1)), ncrashes)
                if core and is_apache_stop_race(core):
                    if line not in self.excused:
                        self.excused.append(line)
                    continue
                if core and shutil.which("gdb"):
                    # Say where it crashed, for whoever reads the failure.
                    frames = re.findall(r"^#\d+ .*$", core_backtrace(core) or "",
                                        re.M)
                    line += "  [core: %s]" % " | ".join(frames[:4])
                line += ("  [no core to tell it from Apache's stop race: "
                         "install gdb]" if shutil.which("gdb") is None
                         else "" if core else "  [no core dump found in %s]"
                         % self.cores)
            kept.append(line)
        return kept

    def check_log(self, since=0, allow=()):
        bad = self.bad_lines(since, allow)
        assert not bad, "unexpected lines in the error log:\n" + "\n".join(bad)


def configtest(conf_text, venv=None, mpm="event", **kw):
    """`apache2 -t` on the standard config plus conf_text, without starting
    a server: (returncode, output)."""
    srv = ApacheServer(venv, mpm, conf_text, **kw)
    try:
        return srv.configtest()
    finally:
        srv.cleanup()
