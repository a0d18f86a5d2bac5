"""A real Apache for the tests: private ServerRoot, free loopback port.

Each server gets its own temp directory (mode 0755, readable by the user
Apache's children run as), its own httpd.conf, and is stopped by the pid
we started, never by name.
"""

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

BAD_LOG = re.compile(r"\[(crit|alert|emerg)\]|:crit\]|:alert\]|:emerg\]|"
                     r"Segmentation fault|segfault|AddressSanitizer|"
                     r"exit signal")


def _apxs():
    for name in (os.environ.get("APXS"), "apxs2", "apxs"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise RuntimeError("apxs not found: install apache2-dev")


def apxs_query(var):
    return subprocess.run([_apxs(), "-q", var], check=True, text=True,
                          capture_output=True).stdout.strip()


def httpd_binary():
    name = apxs_query("PROGNAME") or "apache2"
    return os.path.join(apxs_query("SBINDIR"), name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def module_for(venv):
    out = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "from mod_wsgi.server import module_location as m; print(m() or '')"],
        capture_output=True, text=True, timeout=60, cwd="/")  # not the source tree
    path = out.stdout.strip()
    if not path:
        raise RuntimeError("no built module in %s: %s" % (venv, out.stderr))
    return path


def python_version(venv):
    out = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-c",
         "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def run_user():
    """(User, Group) lines for httpd.conf: needed only when we are root."""
    if os.geteuid() != 0:
        return ""
    for name in ("www-data", "apache", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return "User %s\nGroup #%d\n" % (name, pw.pw_gid)
    raise RuntimeError("no unprivileged user for Apache's children")


def make_dir(prefix="mod_wsgi-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


THREADED_TUNING = """\
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
"""

PREFORK_TUNING = """\
StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 6
"""

BASE_CONF = """\
ServerRoot "{root}"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel {loglevel}
DefaultRuntimeDir "{root}"
TypesConfig /etc/mime.types
Timeout 20
GracefulShutdownTimeout 5
{user}
LoadModule mpm_{mpm}_module "{modules}/mod_mpm_{mpm}.so"
LoadModule authz_core_module "{modules}/mod_authz_core.so"
LoadModule mime_module "{modules}/mod_mime.so"
LoadModule alias_module "{modules}/mod_alias.so"
LoadModule env_module "{modules}/mod_env.so"
LoadModule headers_module "{modules}/mod_headers.so"
LoadModule filter_module "{modules}/mod_filter.so"
LoadModule deflate_module "{modules}/mod_deflate.so"
LoadModule wsgi_module "{module}"
{mpm_tuning}
WSGIPythonHome "{venv}"
"""


class Apache:
    def __init__(self, venv, mpm="event", conf="", loglevel="info",
                 python_home=None, module=None):
        self.venv = venv
        self.mpm = mpm
        self.root = make_dir()
        self.port = free_port()
        self.proc = None
        self.conf_path = os.path.join(self.root, "httpd.conf")
        self.log_path = os.path.join(self.root, "error.log")
        self._mark = 0
        text = BASE_CONF.format(
            root=self.root, port=self.port, loglevel=loglevel,
            user=run_user(), mpm=mpm, modules=apxs_query("LIBEXECDIR"),
            mpm_tuning=PREFORK_TUNING if mpm == "prefork" else THREADED_TUNING,
            module=module or module_for(venv),
            venv=python_home or venv)
        with open(self.conf_path, "w") as f:
            f.write(text + conf.replace("@ROOT@", self.root))

    # -- control ----------------------------------------------------------

    def _env(self):
        env = dict(os.environ)
        preload = os.environ.get("MOD_WSGI_TEST_PRELOAD")
        if preload:
            # `make asan`: the sanitizer runtime must be loaded first.
            env["LD_PRELOAD"] = preload
            env["ASAN_OPTIONS"] = "detect_leaks=0:log_path=%s/asan" % self.root
        return env

    def configtest(self):
        out = subprocess.run([httpd_binary(), "-t", "-f", self.conf_path],
                             capture_output=True, text=True, timeout=60,
                             env=self._env())
        return out.returncode, out.stdout + out.stderr

    def start(self, timeout=20, expect_fail=False):
        out = open(os.path.join(self.root, "stdout.log"), "w")
        self.proc = subprocess.Popen(
            [httpd_binary(), "-f", self.conf_path, "-DFOREGROUND"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=self._env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if expect_fail:
                    return self.proc.returncode
                raise RuntimeError("apache exited with %s:\n%s\n%s" % (
                    self.proc.returncode, self.stdout(), self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    return 0
            except OSError:
                time.sleep(0.1)
        if expect_fail:
            self.stop()
            raise AssertionError("apache did not fail to start")
        self.stop()
        raise RuntimeError("apache did not start in %ss:\n%s" % (timeout,
                                                                self.log()))

    def children(self):
        """Pids whose parent is the Apache we started."""
        kids = []
        if self.proc is None:
            return kids
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                kids.append(int(entry))
        return kids

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        # Children of ours that outlived the parent: ours to clean up.
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- talking to it ----------------------------------------------------

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        return requests.post(self.url(path), **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes, returns all bytes until the server closes."""
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

    # -- logs -------------------------------------------------------------

    def stdout(self):
        try:
            with open(os.path.join(self.root, "stdout.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def mark(self):
        self._mark = len(self.log())

    def log_since_mark(self):
        return self.log()[self._mark:]

    def wait_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_since_mark()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        return self.log_since_mark()

    def bad_lines(self, allow=()):
        bad = []
        text = self.log()
        for report in glob.glob(os.path.join(self.root, "asan*")):
            with open(report, errors="replace") as f:
                text += "\n" + f.read()
        for line in text.splitlines():
            if BAD_LOG.search(line) and not any(re.search(a, line) for a in allow):
                bad.append(line)
        return bad
