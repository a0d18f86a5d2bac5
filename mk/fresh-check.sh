#!/bin/sh
# mk/fresh-check.sh (make fresh-check): the README's two commands on a
# really fresh Debian 12.
#
# Makes a minimal Debian 12 root with debootstrap (variant minbase, plus
# what `git clone` needs: git, ca-certificates) from the mirror this
# machine's apt uses, puts a clean clone of HEAD in it, and inside it
# (chroot with /proc, /sys and /dev) runs `./dev.sh run` (the example page
# is fetched, then the server is stopped as Ctrl-C would) and
# `./dev.sh test`. Root only; bounded in time; the mounts and the root go
# on every way out. FRESH_KEEP=1 keeps the root for a look afterwards;
# FRESH_TESTS narrows the suite (make's TESTS=).
set -eu

[ "$(id -u)" = 0 ] || { echo "fresh-check: run as root (debootstrap, chroot, mount)" >&2; exit 2; }
command -v debootstrap >/dev/null || {
    echo "== installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
}

src=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d /var/tmp/mod_wsgi-fresh.XXXXXX)
chmod 0755 "$root"     # it becomes /: www-data must traverse it
port=${FRESH_PORT:-18080}
started=$(date +%s)
server_pid=""

in_root() {
    # Processes whose root directory is the fresh root, by pid.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}

cleanup() {
    set +e
    [ -n "$server_pid" ] && kill -KILL -- "-$server_pid" 2>/dev/null
    for sig in TERM KILL; do
        pids=$(in_root)
        [ -n "$pids" ] && kill -s "$sig" $pids 2>/dev/null && sleep 1
    done
    for m in dev/shm dev/pts dev sys proc; do
        mountpoint -q "$root/$m" && umount -l "$root/$m"
    done
    if grep -q " $root/" /proc/mounts; then
        echo "fresh-check: $root still has mounts; left in place" >&2
    elif [ -z "${FRESH_KEEP:-}" ]; then
        rm -rf --one-file-system "$root"
    else
        echo "fresh-check: root kept in $root"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

echo "== debootstrap bookworm (minbase + git) from $mirror into $root"
timeout 900 debootstrap --variant=minbase --include=git,ca-certificates \
    bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 || {
    tail -20 "$root.debootstrap.log" >&2; exit 1; }
rm -f "$root.debootstrap.log"
for tool in make gcc apache2 python3; do
    if chroot "$root" sh -c "command -v $tool" >/dev/null 2>&1; then
        echo "fresh-check: $tool is already in the fresh root; not fresh" >&2
        exit 1
    fi
done

cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's own trust anchors (a site proxy's CA, say), as a user's
# machine on the same network would have them; nothing else of the host.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
fi
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# A /dev/shm of its own: through the /dev bind it would be the host's
# small devtmpfs, where shared memory runs out (SIGBUS in Apache).
mount -t tmpfs -o mode=1777,size=256m shm "$root/dev/shm"

echo "== a clean clone of HEAD into /src"
git clone -q "$src" "$root/src"

echo "== ./dev.sh run (port $port)"
setsid chroot "$root" sh -c "cd /src && exec ./dev.sh run PORT=$port" \
    > "$root/run.log" 2>&1 &
server_pid=$!
page=""
deadline=$(( $(date +%s) + 900 ))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$server_pid" 2>/dev/null; do
    if grep -q "WSGI0101\|exit signal" "$root/run.log"; then
        break       # it will not come up: say why below
    fi
    page=$(chroot "$root" python3 -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=5).read().decode())
" 2>/dev/null) && [ -n "$page" ] && break
    sleep 3
done
tail -5 "$root/run.log"
if [ -z "$page" ]; then
    echo "fresh-check: the example page never answered" >&2
    tail -40 "$root/run.log" >&2
    exit 1
fi
echo "== page: $page"
grep -q "Ctrl-C" "$root/run.log" || { echo "fresh-check: no stop hint printed" >&2; exit 1; }
# Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
kill -INT -- "-$server_pid"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 1
done
left=$(in_root)
if [ -n "$left" ]; then
    echo "fresh-check: processes left after Ctrl-C: $left" >&2
    exit 1
fi
server_pid=""
echo "== run: $(( $(date +%s) - started )) s since the start"

echo "== ./dev.sh test"
test_started=$(date +%s)
set +e
timeout 3600 chroot "$root" sh -c \
    "cd /src && exec ./dev.sh test ${FRESH_TESTS:+TESTS=\"$FRESH_TESTS\"}" \
    > "$root/test.log" 2>&1
rc=$?
set -e
tail -15 "$root/test.log"
echo "== test: exit $rc in $(( $(date +%s) - test_started )) s;" \
     "fresh-check took $(( $(date +%s) - started )) s in all"
exit $rc
