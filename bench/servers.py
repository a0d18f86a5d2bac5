"""The contenders: private Apaches (static, our module, Debian's module) and
gunicorn, each in a session of its own on a free loopback port, with the
process accounting the benchmark needs (CPU ticks, RSS/PSS of every process
of the server).

Everything is found at run time: Apache through apxs, our module through the
venv's mod_wsgi-express, Debian's module and gunicorn in bench/.cache.
Servers are stopped by the pid we started (SIGTERM, bounded wait, SIGKILL),
then whatever is left of the session we created: never by name.
"""

import os
import pwd
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))

START_TIMEOUT = 30
STOP_TIMEOUT = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Apache modules every Apache contender loads (when not compiled in).
APACHE_MODULES = ["authz_core", "mime"]


# ----------------------------------------------------------- discovery

# Discovery of Apache (apxs, its binary, its compiled-in modules) and free
# ports: the same as the tests use, from tests/harness.py.
from harness import (apxs_query, compiled_in_modules, free_port,  # noqa: E402
                     httpd_binary, proc_stat_fields)


def run_user():
    """(user, group) Apache's children and gunicorn's workers run as when
    we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "apache", "daemon", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        import grp
        return name, grp.getgrgid(pw.pw_gid).gr_name
    raise RuntimeError("no unprivileged user to run the servers' workers as")


def clean_env():
    # The runner's PYTHON* variables must not reach the servers' Pythons.
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


# ----------------------------------------------------------- /proc

def session_pids(root_pid):
    """Live processes of the server: its process group (we started it in a
    session of its own) plus any descendant that left the group."""
    ppid_of = {}
    in_group = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = proc_stat_fields(int(entry))
        if not f or f[0] in ("Z", "X"):
            continue
        pid = int(entry)
        ppid_of[pid] = int(f[1])
        if int(f[2]) == root_pid:
            in_group.add(pid)
    members = set(in_group)
    if root_pid in ppid_of:
        members.add(root_pid)
    changed = True
    while changed:
        changed = False
        for pid, ppid in ppid_of.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return sorted(members)


def cpu_ticks(pids):
    """utime+stime of each process plus the times of its reaped children
    (a worker that exits mid-run is then still counted, in its parent)."""
    total = 0
    for pid in pids:
        f = proc_stat_fields(pid)
        if f:
            # After the ')': [11] utime [12] stime [13] cutime [14] cstime
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total


def context_switches(pids):
    """Voluntary + involuntary context switches of every thread of pids
    (threads that exited are lost: the servers keep theirs)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        # voluntary_ctxt_switches, nonvoluntary_ctxt_switches
                        if "ctxt_switches:" in line:
                            total += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return total


def memory_kib(pids, per_process=None):
    """(sum of RSS, sum of PSS) in KiB over pids.  PSS splits pages shared
    between forked processes, so it is the honest total for a pre-fork
    server; RSS sums count shared pages once per process.  per_process, a
    list, gets one (pid, rss, pss) per process."""
    rss = pss = 0
    for pid in pids:
        rss0, pss0 = rss, pss
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
            except OSError:
                pass
        if per_process is not None:
            per_process.append((pid, rss - rss0, pss - pss0))
    return rss, pss


# ----------------------------------------------------------- servers

class Server:
    """Base: a command started in its own session, answering HTTP on
    127.0.0.1:port."""

    name = "?"
    paths = {}          # workload name -> URL path (None: not served)
    module = None       # the mod_wsgi .so, for the profiles

    def __init__(self, root, settings):
        self.root = root            # private dir for this server (0755)
        self.settings = settings
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(root, "error.log")
        self.out_path = os.path.join(root, "stdout.log")

    def command(self):
        raise NotImplementedError

    def env(self):
        return clean_env()

    def start(self, ready_path):
        out = open(self.out_path, "w")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env=self.env(), cwd=self.root)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, self.logs()))
            if self.get(ready_path, timeout=2)[0] == 200:
                break
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("%s did not answer within %ss:\n%s" % (
                self.name, START_TIMEOUT, self.logs()))
        # Every worker process up (gunicorn boots its workers one by one,
        # Apache forks the daemons after the children).
        while time.monotonic() < deadline:
            if len(self.pids()) >= self.expected_processes():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("%s has %d of its %d processes after %ss:\n%s" % (
            self.name, len(self.pids()), self.expected_processes(),
            START_TIMEOUT, self.logs()))

    def expected_processes(self):
        return 1

    def role(self, pid):
        """'parent', 'daemon' (a mod_wsgi daemon process), 'supervisor'
        (ours: the small process that forks and waits for each daemon
        process) or 'worker'."""
        if self.proc is not None and pid == self.proc.pid:
            return "parent"
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                title = f.read()
            if title.startswith(b"(wsgi:"):
                return "daemon"
            if title.startswith(b"(wsgi-supervisor"):
                return "supervisor"
        except OSError:
            pass
        return "worker"

    def get(self, path, method="GET", body=None, timeout=10):
        """(status, body bytes) of one request, (0, b'') on failure."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Connection": "close"}
            if body is not None:
                headers["Content-Type"] = "application/octet-stream"
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            return 0, b""
        finally:
            conn.close()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def pids(self):
        if self.proc is None:
            return []
        return session_pids(self.proc.pid)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # Processes of the session we created that outlived the parent.
        deadline = time.monotonic() + 3
        left = []
        while time.monotonic() < deadline:
            left = [p for p in session_pids(self.proc.pid) if p != self.proc.pid]
            if not left:
                break
            time.sleep(0.1)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def logs(self, limit=4000):
        text = ""
        for path in (self.out_path, self.log_path):
            try:
                with open(path, errors="replace") as f:
                    text += f.read()[-limit:]
            except OSError:
                pass
        return text


def _mpm_event(s):
    p, t = s["processes"], s["threads"]
    return """\
StartServers {p}
ServerLimit {p}
ThreadsPerChild {t}
ThreadLimit {t}
MaxRequestWorkers {w}
MinSpareThreads {t}
MaxSpareThreads {w2}
MaxConnectionsPerChild 0
ListenBacklog 511
""".format(p=p, t=t, w=p * t, w2=p * t + t)


class Apache(Server):
    """A private Apache 2.4 with the event MPM.  mode: 'static',
    'embedded' or 'daemon'; module: the mod_wsgi .so (None for static);
    python_home: WSGIPythonHome (None: the Python the module was built
    for finds its own)."""

    def __init__(self, name, root, settings, data, mode, module=None,
                 python_home=None, metrics=False):
        super().__init__(root, settings)
        self.name = name
        self.mode = mode
        self.module = module
        self.httpd = httpd_binary()
        mods = apxs_query("LIBEXECDIR")
        builtin = compiled_in_modules()
        s = settings
        lines = [
            'ServerRoot "%s"' % root,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName 127.0.0.1",
            'PidFile "%s/httpd.pid"' % root,
            'DefaultRuntimeDir "%s"' % root,
            'ErrorLog "%s"' % self.log_path,
            "LogLevel warn",
            "Timeout 30",
            "KeepAlive On",
            "MaxKeepAliveRequests 0",
            "KeepAliveTimeout 5",
            "EnableSendfile On",
            "EnableMMAP On",
            'LoadModule mpm_event_module "%s/mod_mpm_event.so"' % mods,
        ]
        user = run_user()
        if user:
            lines += ["User %s" % user[0], "Group %s" % user[1]]
        for m in APACHE_MODULES:
            if "mod_%s.c" % m not in builtin:
                lines.append('LoadModule %s_module "%s/mod_%s.so"' % (m, mods, m))
        if os.path.exists("/etc/mime.types"):
            lines.append("TypesConfig /etc/mime.types")
        lines.append(_mpm_event(s))
        lines.append('DocumentRoot "%s"' % data["htdocs"])
        lines.append('<Directory "%s">\n    Require all granted\n</Directory>'
                     % data["htdocs"])
        if mode == "proxy":
            lines += self._proxy_lines()
        elif mode != "static":
            lines.append('LoadModule wsgi_module "%s"' % module)
            if python_home:
                lines.append('WSGIPythonHome "%s"' % python_home)
            lines.append('WSGISocketPrefix "%s/wsgi"' % root)
            script = data["script"]
            if metrics:
                script = os.path.join(os.path.dirname(script), "metrics.wsgi")
                lines += ["WSGIServerMetrics On",
                          '<Location "/wsgi-metrics">\n    SetHandler '
                          'wsgi-metrics\n    Require all granted\n</Location>']
            opts = "application-group=%{GLOBAL}"
            if mode == "daemon":
                lines.append("WSGIRestrictEmbedded On")
                # display-name: tells the daemons from Apache's children
                # in the memory table (both modules support it).
                lines.append("WSGIDaemonProcess bench processes=%d threads=%d "
                             "display-name=%%{GROUP}%s"
                             % (s["processes"], s["threads"],
                                " server-metrics=On" if metrics else ""))
                opts = "process-group=bench " + opts
            lines.append('WSGIScriptAlias /app "%s" %s' % (script, opts))
            lines.append('<Directory "%s">\n    Require all granted\n'
                         '</Directory>' % os.path.dirname(script))
        self.conf_path = os.path.join(root, "httpd.conf")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf_path, 0o644)
        if mode == "static":
            self.paths = {"hello": "/hello.txt", "64k": "/64k.bin",
                          "file": "/1m.bin", "post": "/1m.bin", "sleep": None,
                          "blocks": "/blocks.bin", "slowclient": "/hello.txt"}
        else:
            self.paths = {"hello": "/app/hello", "64k": "/app/64k",
                          "file": "/app/file", "post": "/app/echo",
                          "sleep": "/app/sleep", "blocks": "/app/blocks",
                      "slowclient": "/app/hello"}

    def command(self):
        return [self.httpd, "-f", self.conf_path, "-DFOREGROUND"]

    def expected_processes(self):
        p = self.settings["processes"]
        return 1 + p + (p if self.mode == "daemon" else 0)


class Gunicorn(Server):
    """gunicorn from its own venv: 'sync' with processes*threads workers,
    'gthread' with processes workers of threads threads."""

    def __init__(self, name, root, settings, data, worker, venv):
        super().__init__(root, settings)
        self.name = name
        self.worker = worker
        self.venv = venv
        self.app_dir = os.path.dirname(data["script"])
        self.paths = {"hello": "/app/hello", "64k": "/app/64k",
                      "file": "/app/file", "post": "/app/echo",
                      "sleep": "/app/sleep", "blocks": "/app/blocks",
                      "slowclient": "/app/hello"}

    def command(self):
        s = self.settings
        cmd = [os.path.join(self.venv, "bin", "gunicorn"),
               "--bind", "127.0.0.1:%d" % self.port,
               "--chdir", self.app_dir,
               "--backlog", "511",
               "--keep-alive", "5",
               "--timeout", "30",
               "--log-level", "warning",
               "--error-logfile", self.log_path,
               "--pid", os.path.join(self.root, "gunicorn.pid")]
        if self.worker == "sync":
            cmd += ["--worker-class", "sync",
                    "--workers", str(s["processes"] * s["threads"])]
        else:
            cmd += ["--worker-class", "gthread",
                    "--workers", str(s["processes"]),
                    "--threads", str(s["threads"])]
        user = run_user()
        if user:
            cmd += ["--user", user[0], "--group", user[1]]
        return cmd + ["benchapp:application"]

    def expected_processes(self):
        s = self.settings
        return 1 + (s["processes"] * s["threads"] if self.worker == "sync"
                    else s["processes"])


class Backend:
    """An app server behind an Apache proxy (gunicorn gthread on a UNIX
    socket, uWSGI on a loopback port), started in a session of its own."""

    def __init__(self, kind, root, settings, data, venv):
        self.kind = kind
        self.root = root
        self.settings = settings
        self.venv = venv
        self.app_dir = os.path.dirname(data["script"])
        self.proc = None
        self.out_path = os.path.join(root, "backend.log")
        if kind == "gunicorn":
            self.sock = os.path.join(root, "gunicorn.sock")
            self.port = None
        else:
            self.sock = None
            self.port = free_port()

    def command(self):
        s = self.settings
        user = run_user()
        if self.kind == "gunicorn":
            cmd = [os.path.join(self.venv, "bin", "gunicorn"),
                   "--bind", "unix:" + self.sock, "--chdir", self.app_dir,
                   "--backlog", "511", "--keep-alive", "5", "--timeout", "30",
                   "--log-level", "warning", "--worker-class", "gthread",
                   "--workers", str(s["processes"]),
                   "--threads", str(s["threads"])]
            if user:
                cmd += ["--user", user[0], "--group", user[1]]
            return cmd + ["benchapp:application"]
        cmd = [os.path.join(self.venv, "bin", "uwsgi"),
               "--master", "--die-on-term", "--disable-logging",
               "--socket", "127.0.0.1:%d" % self.port,
               "--processes", str(s["processes"]),
               "--threads", str(s["threads"]), "--listen", "511",
               "--chdir", self.app_dir, "--module", "benchapp:application",
               "--buffer-size", "16384"]
        if user:
            cmd += ["--uid", user[0], "--gid", user[1]]
        return cmd

    def expected_processes(self):
        return 1 + self.settings["processes"]

    def ready(self):
        import socket
        if self.sock:
            if not os.path.exists(self.sock):
                return False
            s = socket.socket(socket.AF_UNIX)
            addr = self.sock
        else:
            s = socket.socket()
            addr = ("127.0.0.1", self.port)
        try:
            s.settimeout(1)
            s.connect(addr)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def start(self):
        out = open(self.out_path, "w")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env=clean_env(), cwd=self.root)
        finally:
            out.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.kind,
                                                          self.proc.returncode))
            if self.ready() and len(session_pids(self.proc.pid)) >= \
                    self.expected_processes():
                return
            time.sleep(0.2)
        raise RuntimeError("%s not ready within %ss" % (self.kind, START_TIMEOUT))


class Proxy(Apache):
    """Apache (event MPM, the same sizing) as a reverse proxy to a Backend:
    mod_proxy_http to gunicorn on a UNIX socket, mod_proxy_uwsgi to uWSGI."""

    def __init__(self, name, root, settings, data, backend):
        self.backend = backend
        super().__init__(name, root, settings, data, "proxy")

    def _proxy_lines(self):
        mods = apxs_query("LIBEXECDIR")
        b = self.backend
        lines = ['LoadModule proxy_module "%s/mod_proxy.so"' % mods]
        if b.kind == "gunicorn":
            lines.append('LoadModule proxy_http_module "%s/mod_proxy_http.so"' % mods)
            lines.append('ProxyPass /app/ "unix:%s|http://localhost/app/"' % b.sock)
        else:
            lines.append('LoadModule proxy_uwsgi_module "%s/mod_proxy_uwsgi.so"'
                         % mods)
            lines.append("ProxyPass /app/ uwsgi://127.0.0.1:%d/app/" % b.port)
        return lines

    def start(self, ready_path):
        self.backend.start()
        super().start(ready_path)

    def expected_processes(self):
        return 1 + self.settings["processes"]

    def pids(self):
        own = super().pids()
        if self.backend.proc is None:
            return own
        return own + session_pids(self.backend.proc.pid)

    def role(self, pid):
        if self.backend.proc is not None and pid in session_pids(
                self.backend.proc.pid):
            return "backend"
        return super().role(pid)

    def stop(self):
        try:
            super().stop()
        finally:
            b = Server.__new__(Server)
            b.proc = self.backend.proc
            Server.stop(b)

    def logs(self, limit=4000):
        text = super().logs(limit)
        try:
            with open(self.backend.out_path, errors="replace") as f:
                text += f.read()[-limit:]
        except OSError:
            pass
        return text
