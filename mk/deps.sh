#!/bin/sh
# mk/deps.sh: the one list of system packages this tree needs, and the
# step that installs what is missing.
#
#   sh mk/deps.sh run     what `make run` needs: Apache, its headers and
#                         apxs, Python with headers and venv, a compiler
#   sh mk/deps.sh test    plus what the test suite needs (ACL tools, gdb
#                         for crash cores, the .deb/.rpm build and lint
#                         tools of tests/test_packages.py)
#   sh mk/deps.sh ci      plus what .ci/run adds (wrk for bench-smoke,
#                         clang and llvm for make fuzz)
#   sh mk/deps.sh list KIND    print the packages, install nothing
#
# As root it installs the missing ones with apt-get (Debian, Ubuntu and
# their derivatives) or dnf (Fedora, RHEL and theirs); as anyone else it
# prints the one command to run and exits 1. Packages already installed
# are left alone, and nothing runs when nothing is missing, so a second
# `make run` costs a few dpkg queries.
#
# The family is read from /etc/os-release (ID, then ID_LIKE), with the
# same names mod_wsgi/express/platform.py uses. POSIX sh: on a fresh
# Debian there is no make, no bash guarantee, nothing else.

set -eu

kind=${1:-run}

# --- the lists --------------------------------------------------------------

# Debian family.
DEB_RUN="apache2 apache2-dev python3 python3-dev python3-venv python3-pip
 build-essential make ca-certificates"
DEB_TEST="acl gdb dpkg-dev debhelper dh-python pybuild-plugin-pyproject
 python3-all-dev python3-setuptools python3-wheel python3-distro lintian
 rpm rpmlint openssl clang-format curl haproxy iproute2 chromium"
DEB_CI="wrk clang llvm libclang-rt-dev"

# Red Hat family (Fedora, RHEL with EPEL for rpmlint): the same roles.
# Not exercised here (this project's machines are Debian); reviewed
# against the distributions' package names.
RPM_RUN="httpd httpd-devel python3 python3-devel gcc make
 redhat-rpm-config ca-certificates"
RPM_TEST="acl gdb rpm-build rpmlint openssl curl chromium python3-distro
 python3-setuptools python3-wheel haproxy iproute"
RPM_CI=""

# --- the family -------------------------------------------------------------

family=other
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    ids=$(. /etc/os-release; echo "${ID:-} ${ID_LIKE:-}")
    for id in $ids; do
        case "$id" in
        debian|ubuntu|linuxmint|raspbian|pop|kali|devuan|elementary)
            family=debian; break ;;
        fedora|rhel|centos|rocky|almalinux|ol|amzn|scientific|redhat)
            family=redhat; break ;;
        esac
    done
fi

case "$family:$kind" in
debian:run) wanted=$DEB_RUN ;;
debian:test) wanted="$DEB_RUN $DEB_TEST" ;;
debian:ci) wanted="$DEB_RUN $DEB_TEST $DEB_CI" ;;
redhat:run) wanted=$RPM_RUN ;;
redhat:test) wanted="$RPM_RUN $RPM_TEST" ;;
redhat:ci) wanted="$RPM_RUN $RPM_TEST $RPM_CI" ;;
*:list)
    kind=${2:-run}
    exec sh "$0" "$kind" --list ;;
other:*)
    echo "mk/deps.sh: this system is neither Debian- nor Red Hat-like" \
         "(/etc/os-release); install Apache 2.4 with its development" \
         "files (apxs), Python 3.9+ with headers and venv, and a C" \
         "compiler, then run make again." >&2
    exit 0 ;;
*)
    echo "mk/deps.sh: unknown kind '$kind'; use run, test, ci or list" >&2
    exit 2 ;;
esac

if [ "${2:-}" = "--list" ]; then
    echo $wanted
    exit 0
fi

# --- what is missing --------------------------------------------------------

missing=""
for pkg in $wanted; do
    if [ "$family" = debian ]; then
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = installed ] && continue
    else
        rpm -q "$pkg" >/dev/null 2>&1 && continue
    fi
    missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$family" = debian ]; then
    cmd="apt-get install -y --no-install-recommends$missing"
else
    cmd="dnf install -y$missing"
fi

if [ "$(id -u)" != 0 ]; then
    echo "mk/deps.sh: these packages are missing:$missing" >&2
    if [ "$family" = debian ]; then
        echo "Install them with:  sudo apt-get update && sudo $cmd" >&2
    else
        echo "Install them with:  sudo $cmd" >&2
    fi
    echo "then run the same command again." >&2
    exit 1
fi

echo "== installing what '$kind' needs:$missing"
if [ "$family" = debian ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
else
    # shellcheck disable=SC2086
    dnf install -y $missing
fi
