"""The shape of the C tree (docs/internals.md): calls between files go
one way, no file outgrows its concern, and the pure files stay pure. Read
from the sources; nothing is built."""

import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(os.path.dirname(HERE), "mod_wsgi", "server")

# The issue that split the daemon's request path asked for "no C file over
# ~1,000 lines"; a file that grows past this is two concerns.
MAX_LINES = 1000

# Built alone for the unit tests and the fuzzers: the C library only.
PURE = {"wsgi_proto.c": {"wsgi_proto.h", "string.h"},
        "wsgi_validate.c": {"wsgi_validate.h", "string.h"}}


def sources():
    return sorted(f for f in os.listdir(SERVER) if f.endswith(".c"))


def code_of(name):
    """The file without comments and string literals (a function named
    in a message is no call)."""
    with open(os.path.join(SERVER, name)) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(wsgi_\w+)\s*\(", re.M)


def call_graph():
    """{file: {other file: [its functions this file uses]}}."""
    code = {name: code_of(name) for name in sources()}
    defined = {}
    for name, text in code.items():
        for m in DEFINITION.finditer(text):
            defined.setdefault(m.group(1), name)
    graph = {}
    for name, text in code.items():
        used = set(re.findall(r"\b(wsgi_\w+)\s*\(", text))
        for fn in used:
            owner = defined.get(fn)
            if owner is not None and owner != name:
                graph.setdefault(name, {}).setdefault(owner, []).append(fn)
    return graph, defined


def test_the_graph_is_read():
    # Positive control: a reader that finds nothing would pass the cycle
    # test below for any tree.
    graph, defined = call_graph()
    assert defined["wsgi_serve_request"] == "wsgi_request.c"
    assert defined["wsgi_wire_send"] == "wsgi_wire.c"
    assert "wsgi_request.c" in graph["wsgi_handler.c"]
    assert "wsgi_request.c" in graph["wsgi_worker.c"]
    assert "wsgi_wire.c" in graph["wsgi_remote.c"]


def test_no_two_files_call_each_other():
    graph, _ = call_graph()
    # Strongly connected components (Tarjan): any with two files or more
    # is a cycle, however long.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for name in sources():
        if name not in index:
            visit(name)
    detail = []
    for comp in cycles:
        for a in comp:
            for b in comp:
                if b in graph.get(a, {}):
                    detail.append("%s -> %s (%s)" % (a, b, ", ".join(sorted(graph[a][b])[:3])))
    assert not cycles, "calls go both ways between files: " + "; ".join(detail)


@pytest.mark.parametrize("name", sources())
def test_no_file_outgrows_its_concern(name):
    with open(os.path.join(SERVER, name)) as f:
        lines = sum(1 for _ in f)
    assert lines <= MAX_LINES, "%s has %d lines; split it by concern (docs/internals.md)" % (name, lines)


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_files_include_only_the_c_library(name):
    with open(os.path.join(SERVER, name)) as f:
        includes = set(re.findall(r'^#include [<"]([^>"]+)[>"]', f.read(), re.M))
    assert includes and includes <= PURE[name], includes - PURE[name]


def test_protocol_literals_live_in_the_codec():
    # The control pairs' names and the 64 KiB frame size are the codec's
    # vocabulary (wsgi_proto.h): spelt anywhere else, the two ends can
    # drift apart.
    for name in sources():
        if name == "wsgi_proto.c":
            continue
        with open(os.path.join(SERVER, name)) as f:
            text = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
        found = re.findall(r'":(?:status|error|restart|request_start|ignore_activity|fspath)"|\b65536\b', text)
        # wsgi_options.c and wsgi_embedded.c use 65536 as a size of their
        # own (a default, a write-through size), not the frame's.
        if name in ("wsgi_options.c", "wsgi_embedded.c"):
            found = [x for x in found if x != "65536"]
        assert not found, "%s spells the wire protocol's %s; use wsgi_proto.h" % (name, found)
