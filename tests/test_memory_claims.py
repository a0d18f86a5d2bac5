"""The README's memory claims (issue 21, the audit's list), measured:
an Apache child keeps nothing of the 1 MiB POSTs it relayed to a daemon
process, and a daemon process has at most two malloc arenas however many
threads allocate, unless MALLOC_ARENA_MAX says otherwise."""

import hashlib
import os
import re

import pytest

from harness import write_file
from test_daemon import daemon_conf


def _pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        return int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))


def _apache_children(srv):
    """Apache's own children: the parent's, less the daemon groups'
    supervisors (those have the daemon processes as children)."""
    from harness import pids_where
    kids = pids_where(lambda ppid, pgrp: ppid == srv.proc.pid)
    return {k for k in kids
            if not pids_where(lambda ppid, pgrp, k=k: ppid == k)}


def test_a_child_keeps_nothing_of_the_bodies_it_relayed(make_server):
    srv = make_server(daemon_conf("processes=1 threads=4"))
    body = os.urandom(1024 * 1024)
    digest = "%d %s" % (len(body), hashlib.sha256(body).hexdigest())
    # Warm up: the child's own pools reach their steady size first.
    for _ in range(5):
        assert srv.post("/d/sha256", data=body).text == digest
    apache = _apache_children(srv)
    before = {pid: _pss_kib(pid) for pid in apache}
    for _ in range(30):
        assert srv.post("/d/sha256", data=body).text == digest
    after = {pid: _pss_kib(pid) for pid in apache if pid in before}
    grown = {pid: after[pid] - before[pid] for pid in after}
    # 30 MiB went through; what stays is well under one body.
    assert after and max(grown.values()) < 512, grown


ARENAS = r'''
import ctypes, re, threading

libc = ctypes.CDLL("libc.so.6")
libc.open_memstream.restype = ctypes.c_void_p
libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p),
                                ctypes.POINTER(ctypes.c_size_t)]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def arenas():
    buf, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    text = ctypes.string_at(buf, size.value).decode()
    return len(re.findall(r"<heap nr=", text))

def churn(barrier):
    barrier.wait()
    # malloc outside the GIL's reach of Python's allocator: glibc picks an
    # arena per thread when the one it has is busy.
    for _ in range(2000):
        libc.free(libc.malloc(200000))

def application(environ, start_response):
    barrier = threading.Barrier(8)
    threads = [threading.Thread(target=churn, args=(barrier,))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(arenas()).encode()]
'''


@pytest.mark.skipif(bool(os.environ.get("MOD_WSGI_TEST_PRELOAD")),
                    reason="under ASan (make asan) malloc is the sanitizer's, "
                    "not glibc's: there are no arenas to count")
def test_daemon_malloc_arenas(make_server, scratch):
    write_file(os.path.join(scratch, "arenas.wsgi"), ARENAS)
    conf = """
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess ar processes=1 threads=2
WSGIScriptAlias /a "%s/arenas.wsgi" process-group=ar
<Directory "%s">
    Require all granted
</Directory>
""" % (scratch, scratch)
    limited = int(make_server(conf).get("/a", timeout=60).text)
    assert 1 <= limited <= 2, limited
    # MALLOC_ARENA_MAX in Apache's environment wins.
    srv = make_server(conf, env={"MALLOC_ARENA_MAX": "8"})
    assert int(srv.get("/a", timeout=60).text) > 2
