"""Daemon sockets against forged requests (issue 10, item 1).

Every process running as Apache's user can connect to a daemon group's
socket. These tests play the attacker who knows our wire format:

- a process of its own running as www-data (a CGI script, a shell): it has
  no key, so it sends frames of the old format and frames with made-up
  tags;
- an application running embedded in an Apache child, which shares the
  child's memory and so its keys: it seals frames with the child's own
  code (ctypes), which proves the frames are well formed (the one naming a
  mapped script is served), and names a script the configuration does not
  map, or a callable it does not name;
- the application of another daemon group, which tries the same with the
  keys its process inherited.

Refused frames run nothing (a marker file the evil script would write
stays absent), close the connection, and log one WSGI0740 alert line
naming the group and the peer's pid.
"""

import glob
import json
import os
import pwd
import socket
import struct
import subprocess
import sys
import time

import pytest

from common import WIRE_VERSION, recv_until_closed
from harness import write_file

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: the attacker runs as www-data and "
    "the victim group as a user of its own")

VICTIM = "wsgi-t-victim"
REFUSED = r"WSGI0740"

# The wire format, as an attacker would write it from the public source.
FORGE = r'''
import ctypes, os, socket, struct

def frame(ftype, payload=b"", version=@WIRE_VERSION@):
    return b"WG" + bytes([version, ftype]) + struct.pack(">I", len(payload)) + payload

def pairs(env):
    out = [struct.pack(">I", len(env))]
    for k, v in env.items():
        k, v = k.encode("latin-1"), v.encode("latin-1")
        out += [struct.pack(">I", len(k)), k, struct.pack(">I", len(v)), v]
    return b"".join(out)

def environ(script, callable="application"):
    return {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/",
            "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
            "SCRIPT_FILENAME": script, "mod_wsgi.application_group": "",
            "mod_wsgi.callable_object": callable,
            "mod_wsgi.script_reloading": "1", "REMOTE_ADDR": "127.0.0.1"}

def exchange(path, data, timeout=10.0):
    """Sends data, returns the frame types received until the daemon
    closed (HELLO=8, RESPONSE=4, DATA=5, END=6) and the DATA bytes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
    except OSError:
        pass
    buf = b""
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            buf += got
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    types, body = [], b""
    while len(buf) >= 8:
        n = struct.unpack(">I", buf[4:8])[0]
        types.append(buf[3])
        if buf[3] == 5:
            body += buf[8:8 + n]
        buf = buf[8 + n:]
    return types, body

def module():
    for line in open("/proc/self/maps"):
        if "mod_wsgi" in line and line.rstrip().endswith(".so"):
            return ctypes.CDLL(line.split()[-1])
    raise RuntimeError("mod_wsgi is not mapped here")

def group_struct(lib, name):
    """The wsgi_daemon of a group: the module's own group list
    (apr_array_header_t: pool, elt_size, nelts, nalloc, elts), each
    element a pointer to a struct whose first field is the name."""
    arr = ctypes.c_void_p.in_dll(lib, "wsgi_daemons").value
    nelts = ctypes.c_int.from_address(arr + 12).value
    elts = ctypes.c_void_p.from_address(arr + 24).value
    for i in range(nelts):
        d = ctypes.c_void_p.from_address(elts + 8 * i).value
        if ctypes.c_char_p.from_address(d).value.decode() == name:
            return d
    raise KeyError(name)

def sealed(group, env):
    """A REQUEST frame sealed with the group's key as this process has it,
    by the module's own sealing function."""
    lib = module()
    body = pairs(env)
    head = frame(1, b"\0" * 32 + body)[:8]
    tag = ctypes.create_string_buffer(32)
    lib.wsgi_peer_seal(ctypes.c_void_p(group_struct(lib, group)),
                       ctypes.c_char_p(head), ctypes.c_char_p(body),
                       ctypes.c_size_t(len(body)), tag)
    return frame(1, tag.raw + body)

def attack(group, sock, scripts):
    out = {}
    for label, (script, call) in scripts.items():
        req = sealed(group, environ(script, call)) + frame(3)
        out[label] = exchange(sock, req)[0]
    return out
'''.replace("@WIRE_VERSION@", str(WIRE_VERSION))

APP = r'''
import json, os, sys
sys.path.insert(0, os.path.dirname(__file__))
import forge

def application(environ, start_response):
    q = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&"))
    result = forge.attack(q["group"], q["sock"], {
        "mapped": (q["good"], "application"),
        "unmapped": (q["evil"], "application"),
        "other_callable": (q["good"], "secret_admin"),
    })
    body = json.dumps(result).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''

GOOD = r'''
import os
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"uid=%d" % os.getuid()]

def secret_admin(environ, start_response):
    open(os.path.join(os.path.dirname(__file__), "marker-callable"), "w").close()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"admin"]
'''

EVIL = r'''
import os
open(os.path.join(os.path.dirname(__file__), "marker-evil"), "w").write(str(os.getuid()))
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pwned"]
'''


@pytest.fixture
def victim():
    """A user of the test's own for the victim group, removed afterwards."""
    subprocess.run(["userdel", VICTIM], capture_output=True, timeout=30)
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", VICTIM], check=True, timeout=30)
    try:
        yield pwd.getpwnam(VICTIM)
    finally:
        subprocess.run(["userdel", VICTIM], capture_output=True, timeout=30)


def _layout(scratch):
    """good.wsgi, the attacker's app and forge.py in one mapped directory;
    evil.wsgi in a directory no configuration line names."""
    apps = os.path.join(scratch, "apps")
    evil_dir = os.path.join(scratch, "elsewhere")
    for d in (apps, evil_dir):
        os.mkdir(d)
        os.chmod(d, 0o777)
    write_file(os.path.join(apps, "forge.py"), FORGE)
    write_file(os.path.join(apps, "attacker.wsgi"), APP)
    write_file(os.path.join(apps, "good.wsgi"), GOOD)
    write_file(os.path.join(evil_dir, "evil.wsgi"), EVIL)
    return apps, evil_dir


CONF = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess victim processes=1 threads=2 user=%(victim)s
WSGIDaemonProcess other processes=1 threads=2
WSGIScriptAlias /good "%(apps)s/good.wsgi" process-group=victim application-group=%%{GLOBAL}
WSGIScriptAlias /embedded-attacker "%(apps)s/attacker.wsgi" application-group=%%{GLOBAL}
WSGIScriptAlias /other-attacker "%(apps)s/attacker.wsgi" process-group=other application-group=%%{GLOBAL}
WSGIScriptAlias /other-good "%(apps)s/good.wsgi" process-group=other application-group=%%{GLOBAL}
<Directory "%(apps)s">
    Require all granted
</Directory>
"""


def _sockets(srv):
    """The group sockets by WSGIDaemonProcess order (ids 1, 2, ...)."""
    found = glob.glob(os.path.join(srv.root, "wsgi.*.sock"))
    return sorted(found, key=lambda p: int(p.rsplit(".", 2)[-2]))


def _server(make_server, scratch, victim, mpm=None):
    apps, evil_dir = _layout(scratch)
    srv = make_server(CONF % {"victim": victim.pw_name, "apps": apps}, mpm=mpm)
    srv.root_apps, srv.evil_dir = apps, evil_dir
    r = srv.get("/good", timeout=30)
    assert r.status_code == 200 and r.text == "uid=%d" % victim.pw_uid
    return srv


def _as_www_data(code, timeout=60):
    """Runs Python code as www-data in a process of its own: the attacker
    that is not an Apache child. Returns (pid, stdout)."""
    pw = pwd.getpwnam("www-data")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)

    proc = subprocess.Popen([sys.executable, "-c", code], preexec_fn=drop,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return proc.pid, out


@pytest.mark.allow_log(REFUSED)
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_forged_frames_from_a_www_data_process_run_nothing(make_server, scratch,
                                                           victim, mpm):
    srv = _server(make_server, scratch, victim, mpm)
    victim_sock = _sockets(srv)[0]
    evil = os.path.join(srv.evil_dir, "evil.wsgi")
    good = os.path.join(srv.root_apps, "good.wsgi")
    code = FORGE + r'''
import json, sys
sock, evil, good = sys.argv[1:] if len(sys.argv) > 1 else (%r, %r, %r)
tries = {
    # the format before frames were sealed: no tag at all
    "old_format": frame(1, pairs(environ(evil)), version=2) + frame(3, version=2),
    # a made-up tag, on the evil script and on a mapped one
    "zero_tag": frame(1, b"\0" * 32 + pairs(environ(evil))) + frame(3),
    "random_tag": frame(1, os.urandom(32) + pairs(environ(good))) + frame(3),
    # a frame too short to hold a tag
    "short": frame(1, b"\0" * 8) + frame(3),
}
print(json.dumps({k: exchange(sock, v)[0] for k, v in tries.items()}))
''' % (victim_sock, evil, good)
    srv.mark()
    started = time.monotonic()
    pid, out = _as_www_data(code)
    took = time.monotonic() - started
    result = json.loads(out)
    for label, types in result.items():
        # The daemon's HELLO at most: no response head, no body, then the
        # connection closes (promptly: no waiting for a timeout).
        assert set(types) <= {8}, (label, types)
    assert took < 10, took
    assert not os.path.exists(os.path.join(srv.evil_dir, "marker-evil"))
    lines = [l for l in srv.log_since_mark().splitlines() if "WSGI0740" in l]
    assert len(lines) == len(result), lines
    for line in lines:
        assert "[wsgi:alert]" in line, line
        assert "daemon group 'victim'" in line, line
        assert "peer pid %d " % pid in line, line
        assert "uid %d)" % pwd.getpwnam("www-data").pw_uid in line, line
    # The group still serves its own application.
    assert srv.get("/good", timeout=30).text == "uid=%d" % victim.pw_uid


@pytest.mark.allow_log(REFUSED)
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_embedded_app_with_the_childs_keys_runs_only_mapped_targets(
        make_server, scratch, victim, mpm):
    srv = _server(make_server, scratch, victim, mpm)
    victim_sock = _sockets(srv)[0]
    query = "group=victim&sock=%s&good=%s&evil=%s" % (
        victim_sock, os.path.join(srv.root_apps, "good.wsgi"),
        os.path.join(srv.evil_dir, "evil.wsgi"))
    srv.mark()
    r = srv.get("/embedded-attacker?" + query, timeout=60)
    assert r.status_code == 200, r.text
    result = r.json()
    # Sealed with the child's own key, a mapped target is served: the
    # forged frames are well formed, so what refuses the others is the
    # check of what the configuration maps.
    assert result["mapped"][:3] == [8, 4, 5], result
    assert result["unmapped"] == [8], result
    assert result["other_callable"] == [8], result
    assert not os.path.exists(os.path.join(srv.evil_dir, "marker-evil"))
    assert not os.path.exists(os.path.join(srv.root_apps, "marker-callable"))
    lines = [l for l in srv.log_since_mark().splitlines() if "WSGI0740" in l]
    assert len(lines) == 2, lines
    assert any("no WSGIScriptAlias" in l and "evil.wsgi" in l for l in lines)
    assert any("no such callable" in l for l in lines)
    child_pids = srv.children()
    for line in lines:
        assert "[wsgi:alert]" in line and "daemon group 'victim'" in line
        peer = int(line.split("peer pid ")[1].split()[0])
        assert peer in child_pids, (peer, child_pids)


@pytest.mark.allow_log(REFUSED)
def test_another_groups_app_has_no_key_for_the_victim(make_server, scratch,
                                                      victim):
    srv = _server(make_server, scratch, victim)
    victim_sock, other_sock = _sockets(srv)
    good = os.path.join(srv.root_apps, "good.wsgi")
    evil = os.path.join(srv.evil_dir, "evil.wsgi")
    srv.mark()
    # Its own group's key is intact in its process: a frame to itself for
    # a mapped script is served (the attacker app is mapped to 'other').
    own = srv.get("/other-attacker?group=other&sock=%s&good=%s&evil=%s" % (
        other_sock, good, evil), timeout=60)
    assert own.status_code == 200, own.text
    assert own.json()["mapped"][:3] == [8, 4, 5], own.text
    # The victim's key was wiped in that process before Python started:
    # even the mapped script is refused.
    r = srv.get("/other-attacker?group=victim&sock=%s&good=%s&evil=%s" % (
        victim_sock, good, evil), timeout=60)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result == {"mapped": [8], "unmapped": [8],
                      "other_callable": [8]}, result
    assert not os.path.exists(os.path.join(srv.evil_dir, "marker-evil"))
    lines = [l for l in srv.log_since_mark().splitlines()
             if "WSGI0740" in l and "daemon group 'victim'" in l]
    assert len(lines) == 3, lines
    assert all("no valid proof" in l for l in lines), lines


def test_seal_and_mapping_leave_ordinary_daemon_routes_alone(make_server,
                                                              scratch):
    """Handler-mapped scripts (AddHandler in a <Directory> with ExecCGI
    and WSGIProcessGroup) and WSGIScriptAliasMatch targets with $N reach
    the group; nothing is refused."""
    apps, _ = _layout(scratch)
    sub = os.path.join(apps, "sub")
    os.mkdir(sub)
    write_file(os.path.join(sub, "h.wsgi"), GOOD)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess g processes=1 threads=2
WSGIScriptAliasMatch ^/m/([a-z]+)$ "%(apps)s/$1.wsgi" process-group=g
Alias /h "%(sub)s"
<Directory "%(sub)s">
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
    WSGIProcessGroup g
    Require all granted
</Directory>
<Directory "%(apps)s">
    Require all granted
</Directory>
""" % {"apps": apps, "sub": sub})
    assert srv.get("/m/good", timeout=30).text.startswith("uid=")
    assert srv.get("/h/h.wsgi", timeout=30).text.startswith("uid=")
    assert "WSGI0740" not in srv.error_log()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_old_child_reaches_new_daemons_after_graceful_restart(make_server, mpm):
    """A request an Apache child of the old generation reads after a
    graceful restart goes to the new daemons (same socket path), sealed
    with the old generation's key: the key before is accepted."""
    from test_daemon import daemon_conf
    import signal
    srv = make_server(daemon_conf("processes=1 threads=2"), mpm=mpm)
    before = srv.get("/d/pid", timeout=30).text
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        # Half a request: the old child waits on it across the restart.
        s.sendall(b"GET /d/pid HTTP/1.1\r\nHost: localhost\r\n")
        time.sleep(0.5)
        srv.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                after = srv.get("/d/pid", timeout=10).text
            except Exception:
                pass
        assert after != before, "no new daemon after the graceful restart"
        s.sendall(b"Connection: close\r\n\r\n")
        data = recv_until_closed(s)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:200]
    assert body.decode() == after
    assert "WSGI0740" not in srv.error_log()
