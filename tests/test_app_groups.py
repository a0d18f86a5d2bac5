"""Application groups: names, one interpreter per group shared by every
script in it, isolation between groups, %{GLOBAL} is the main interpreter."""

import requests


def group_of(server, path):
    r = server.get(path + "/group")
    assert r.status_code == 200, r.text
    env_group, interp_group = r.text.split("\n")
    return env_group, interp_group


def test_group_names(server):
    p = server.port
    assert group_of(server, "/global") == ("", "")
    assert group_of(server, "/named") == ("named", "named")
    assert group_of(server, "/server") == ("127.0.0.1:%d" % p,) * 2
    assert group_of(server, "/host") == ("127.0.0.1:%d" % p,) * 2
    assert group_of(server, "/resource") == ("127.0.0.1:%d|/resource" % p,) * 2
    assert group_of(server, "/envgroup") == ("fromenv", "fromenv")
    # The default is %{RESOURCE}.
    assert group_of(server, "/grp") == ("127.0.0.1:%d|/grp" % p,) * 2


def test_host_group_follows_host_header(server):
    r = server.get("/host/group", headers={"Host": "other.example"})
    assert r.text.split("\n") == ["other.example"] * 2


def test_directive_in_location(server):
    r = server.get("/dgroup")
    assert r.json()["mod_wsgi.application_group"] == "dirgroup"
    assert r.json()["interp.application_group"] == "dirgroup"


def test_same_group_shares_state_other_groups_isolated(server):
    # One keep-alive connection is served by one process.
    with requests.Session() as s:
        def get(path):
            return s.get(server.url(path), timeout=10).text.split("|")
        a = get("/global/counter")
        b = get("/global2/counter")
        c = get("/named/counter")
        d = get("/global/counter")
    assert a[2] == b[2] == d[2]            # same module object
    # The request to /named between b and d did not count here: the
    # groups do not share the module (nor its counter).
    assert int(b[0]) == int(a[0]) + 1 and int(d[0]) == int(b[0]) + 1
    assert (a[1], c[1]) == ("", "named")


def test_sys_modules_shared_by_scripts_of_one_group(server):
    with requests.Session() as s:
        def get(path):
            return s.get(server.url(path), timeout=10).text
        assert get("/named/set-marker?named-value") == "set"
        assert get("/global/set-marker?global-value") == "set"
        # Another script in the same interpreter sees the marker ...
        assert get("/named-other") == "named-value|named"
        assert get("/global-other") == "global-value|"
        # ... an interpreter nobody set it in does not.
        assert get("/third-other") == "none|third"
        assert get("/server/get-marker") == "none"


def test_global_stays_main_interpreter_in_threads_that_ran_others(server):
    # Alternate groups on every thread; %{GLOBAL} must stay the main one.
    with requests.Session() as s:
        for _ in range(20):
            assert s.get(server.url("/named-env"), timeout=10).json()["interp.application_group"] == "named"
            assert s.get(server.url("/global-env"), timeout=10).json()["interp.application_group"] == ""
    for _ in range(10):
        assert server.get("/named-env").json()["interp.application_group"] == "named"
        assert server.get("/global-env").json()["interp.application_group"] == ""
