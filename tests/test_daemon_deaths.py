"""How the Apache parent takes the deaths of daemon processes (issue 10,
items 9 and 13): what it logs, and that only a process that never became
ready counts toward the start-up back-off."""

import os
import re
import signal
import time

import pytest
import requests

from harness import write_file
from test_daemon import DAEMON, daemon_conf, wait_new_pid

EXIT_APP = r'''
import os

def application(environ, start_response):
    os._exit(int(environ["QUERY_STRING"]))
'''


def _exit_server(make_server, extra=""):
    from conftest import state_dir
    d = state_dir()
    write_file(os.path.join(d, "exit.wsgi"), EXIT_APP)
    return make_server(daemon_conf("processes=1 threads=2", extra="""
WSGIScriptAlias /exit "%s/exit.wsgi" process-group=demo application-group=%%{GLOBAL}
<Directory "%s">
    Require all granted
</Directory>
""" % (d, d) + extra))


@pytest.mark.allow_log("WSGI0715", "WSGI0703")
def test_exit_statuses_and_signals_are_told_apart(make_server):
    srv = _exit_server(make_server)
    pid = int(srv.get("/d/pid").text)
    assert srv.get("/exit?1", timeout=30).status_code == 502
    log = srv.wait_log(r"WSGI0715.*%d" % pid, mark=0)
    assert re.search(r"WSGI0715: daemon process %d of group 'demo' exited "
                     r"with status 1; starting a new one" % pid, log), log
    assert "signal 1" not in log
    pid = wait_new_pid(srv, pid)
    assert srv.get("/d/die").status_code == 502
    log = srv.wait_log(r"WSGI0715.*%d" % pid, mark=0)
    assert re.search(r"WSGI0715: daemon process %d of group 'demo' was killed "
                     r"by signal SIGKILL \(9\)" % pid, log), log


def _downtime(srv, seconds, kill_every):
    """Polls /d/pid every 50 ms for `seconds`, SIGKILLing the serving
    process every `kill_every` s; returns (seconds without an answer,
    number of kills)."""
    down, kills = 0.0, 0
    start = last_kill = time.monotonic()
    last_ok = start
    pid = None
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        try:
            r = srv.get("/d/pid", timeout=5)
            ok = r.status_code == 200
            if ok:
                pid = int(r.text)
        except requests.RequestException:
            ok = False
        now2 = time.monotonic()
        if not ok:
            down += now2 - now
        if pid and now2 - last_kill >= kill_every:
            os.kill(pid, signal.SIGKILL)
            kills += 1
            last_kill = now2
            pid = None
        time.sleep(0.05)
    return down, kills


@pytest.mark.allow_log("WSGI0715", "WSGI0703", "WSGI0701")
def test_sigkill_of_a_working_process_is_no_start_up_failure(make_server):
    """A process that served is replaced at once however young it is: an
    OOM kill every 3 s must not push the group into start-up back-off
    (it was offline 12 of 20 s with SIGKILL every 2 s)."""
    srv = make_server(daemon_conf("processes=1 threads=2"))
    srv.get("/d/pid", timeout=30)
    down, kills = _downtime(srv, 20, 3)
    log = srv.log()
    assert kills >= 5, kills
    assert "WSGI0737" not in log, "back-off for a process that had served"
    # Each kill costs at most the time to notice and start a new process.
    assert down < kills * 1.5, (down, kills)
    print("downtime %.2f s over 20 s with %d SIGKILLs" % (down, kills))


@pytest.mark.allow_log("WSGI0737", "WSGI0715")
def test_a_process_dying_before_ready_still_backs_off(make_server):
    """The back-off stays for what it is for: a group whose processes die
    while starting (a preload that exits)."""
    srv = make_server(DAEMON % "processes=1 threads=2"
                      + 'WSGIImportScript "@APPS@/exit_at_import.py" '
                        'process-group=demo application-group=%{GLOBAL}\n')
    log = srv.wait_log(r"(WSGI0737.*\n(.*\n)*){3}", timeout=20, mark=0)
    assert len(re.findall(r"WSGI0737", log)) >= 3, log[-3000:]


@pytest.mark.parametrize("mpm", ["event", "prefork"])
@pytest.mark.allow_log("WSGI0715", "WSGI0703")
def test_os_exit_15_in_an_application_does_not_stop_apache(make_server, mpm):
    """15 is APEXIT_CHILDFATAL to the MPM, which stopped the whole Apache
    when a daemon exited with it: the daemon's status now goes to its
    supervisor only."""
    srv = _exit_server(make_server)
    pid = int(srv.get("/d/pid").text)
    assert srv.get("/exit?15", timeout=30).status_code == 502
    new = wait_new_pid(srv, pid)
    assert new is not None and new != pid
    assert srv.running()
    log = srv.log()
    assert "exited with status 15" in log
    assert "Fatal error" not in log and "AH00102" not in log


def _timed_load(srv, path, n, threads=4):
    import concurrent.futures

    def one(_):
        t = time.monotonic()
        try:
            code = srv.get(path, timeout=30).status_code
        except requests.RequestException:
            code = 0
        return code, time.monotonic() - t

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(n)))


@pytest.mark.allow_log("WSGI0733")
def test_recycling_under_load_leaves_no_gap(make_server):
    """maximum-requests with processes=1: the next process starts as soon
    as the old one stops taking requests, not at the MPM's next
    one-second tick (max latency was 1.02 s)."""
    srv = make_server(daemon_conf("processes=1 threads=4 maximum-requests=40"))
    srv.get("/d/pid", timeout=30)
    results = _timed_load(srv, "/d/pid", 400)
    codes = [c for c, _ in results]
    worst = max(t for _, t in results)
    assert codes.count(200) == 400, {c: codes.count(c) for c in set(codes)}
    assert srv.log().count("maximum-requests=40 reached") >= 8
    print("recycled 10 times in 400 requests, max latency %.3f s" % worst)
    assert worst < 0.6, worst


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
@pytest.mark.parametrize("mount", ["/d", "/e"], ids=["daemon", "embedded"])
def test_graceful_restarts_under_load_keep_serving(make_server, mpm, mount):
    """Five graceful restarts while four clients keep asking: every
    request answered, none waits for the MPM's one-second tick (the new
    generation's children were forked only when that second passed: max
    latency was 1.05 s in event, 1.3 s in prefork), and supervisors of an
    ended generation stay known to the parent until their processes
    finished (no AH00488 "long lost child" warning)."""
    import threading
    srv = make_server(daemon_conf("processes=2 threads=4"), mpm=mpm)
    assert srv.get(mount + "/pid", timeout=30).status_code == 200
    results = []
    done = threading.Event()

    def client():
        while not done.is_set():
            t = time.monotonic()
            try:
                # A fresh connection each time: a keep-alive connection the
                # old child closes as it leaves is the client's to retry
                # (RFC 9112 section 9.3.1), the same with or without us.
                code = requests.get(srv.url(mount + "/sleep?0.005"),
                                    timeout=30).status_code
            except requests.RequestException:
                code = 0
            results.append((code, time.monotonic() - t))
    clients = [threading.Thread(target=client) for _ in range(4)]
    for c in clients:
        c.start()
    try:
        for _ in range(5):
            time.sleep(0.3)
            srv.signal(signal.SIGUSR1)
            time.sleep(1.2)
    finally:
        done.set()
        for c in clients:
            c.join(40)
    codes = [c for c, _ in results]
    worst = max(t for _, t in results)
    assert codes.count(200) == len(codes), {c: codes.count(c) for c in set(codes)}
    log = srv.log()
    # AH00493 (event), AH00297 (worker), AH00171 (prefork).
    assert len(re.findall(r"(?i)graceful restart", log)) == 5, log
    assert "AH00488" not in log and "long lost child" not in log
    print("%d requests over 5 graceful restarts, max latency %.3f s"
          % (len(codes), worst))
    # A behaviour bound, not a speed target: the defect was a full second
    # with no child accepting; the fix answers within tens of ms on an
    # idle machine, and a busy 2-core CI machine stays far under this.
    assert worst < 0.6, worst
