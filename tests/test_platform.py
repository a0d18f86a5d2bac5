"""The platform layer of mod_wsgi-express: which Apache layout a system
has, read from os-release files (tests/data/os-release/) with `distro`."""

import os

import pytest

from mod_wsgi.express import platform

OS_RELEASE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "data", "os-release")

FAMILIES = {
    "debian-12": platform.DEBIAN,
    "ubuntu-24.04": platform.DEBIAN,
    "linuxmint-21": platform.DEBIAN,
    "fedora-40": platform.REDHAT,
    "rhel-9": platform.REDHAT,
    "centos-stream-9": platform.REDHAT,
    "rocky-9": platform.REDHAT,
    "almalinux-9": platform.REDHAT,
    "alpine-3.20": platform.OTHER,
    "arch": platform.OTHER,
    "opensuse-tumbleweed": platform.OTHER,
}


def test_every_fixture_is_covered():
    assert sorted(os.listdir(OS_RELEASE)) == sorted(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_from_os_release(name):
    layout = platform.detect(os.path.join(OS_RELEASE, name))
    assert layout.family == FAMILIES[name]


def test_debian_layout():
    layout = platform.detect(os.path.join(OS_RELEASE, "ubuntu-24.04"))
    assert layout.httpd_names == ["apache2"]
    assert layout.modules_dirs == ["/usr/lib/apache2/modules"]
    assert layout.users == ["www-data"]
    assert layout.mime_types[0] == "/etc/mime.types"
    assert layout.apxs_names[0] == "apxs2"


def test_redhat_layout():
    layout = platform.detect(os.path.join(OS_RELEASE, "rocky-9"))
    assert layout.httpd_names == ["httpd"]
    assert layout.modules_dirs[0] == "/usr/lib64/httpd/modules"
    assert layout.users == ["apache"]
    assert layout.apxs_names == ["apxs"]


def test_other_layout_asks_apxs(monkeypatch):
    layout = platform.detect(os.path.join(OS_RELEASE, "alpine-3.20"))
    asked = []

    def fake_apxs(var):
        asked.append(var)
        return {"LIBEXECDIR": "/opt/apache/modules", "SBINDIR": "/opt/sbin",
                "PROGNAME": "httpd", "SYSCONFDIR": "/opt/conf"}.get(var)

    monkeypatch.setattr(layout, "_apxs", fake_apxs)
    assert layout.modules_directory() == "/opt/apache/modules"
    layout.mime_types_file()
    assert layout.mime_types[0] == "/opt/conf/mime.types"
    layout.httpd_executable()
    assert layout.httpd_names[0] == "httpd"
    assert asked == ["LIBEXECDIR", "SYSCONFDIR", "SBINDIR", "PROGNAME"]


@pytest.mark.parametrize("ident, like, family", [
    ("debian", "", platform.DEBIAN),
    ("pop", "ubuntu debian", platform.DEBIAN),
    ("something", "ubuntu", platform.DEBIAN),
    ("ol", "fedora", platform.REDHAT),
    ("amzn", "centos rhel fedora", platform.REDHAT),
    ("whatever", "rhel", platform.REDHAT),
    ("gentoo", "", platform.OTHER),
    ("", "", platform.OTHER),
])
def test_family_of(ident, like, family):
    assert platform.family_of(ident, like) == family


def test_this_machine_has_a_layout_that_finds_apache():
    layout = platform.detect()
    assert layout.family in (platform.DEBIAN, platform.REDHAT,
                             platform.OTHER)
    # Whatever the family, the answers lead to a real Apache here.
    httpd = layout.httpd_executable()
    assert httpd and os.access(httpd, os.X_OK)
    modules = layout.modules_directory()
    assert modules and os.path.isdir(modules)
