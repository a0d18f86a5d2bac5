"""mod_wsgi-express doctor: whether a user may reach a path, as Apache's
run user (or a daemon group's user=) would. As root, a forked child
switches to that user and asks access(2); otherwise the modes and POSIX
ACLs of each directory on the way are read and reasoned about.
"""

import dataclasses
import grp
import json
import os
import pwd
import select
import signal
import stat
import struct
import time
from typing import Tuple

# Bound on the access-check child (the doctor's TIMEOUT).
TIMEOUT = 30


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    gids: Tuple[int, ...]

    @classmethod
    def current(cls):
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = "#%d" % uid
        return cls(name, uid, os.getegid(), tuple(os.getgroups()))


def lookup_user(spec, group_spec=None):
    """A User from an Apache User/Group pair ("name" or "#uid"), or None
    when the system has no such user."""
    try:
        pw = (pwd.getpwuid(int(spec[1:])) if spec.startswith("#")
              else pwd.getpwnam(spec))
    except (KeyError, ValueError, OverflowError):
        return None
    gid = lookup_group(group_spec) if group_spec else pw.pw_gid
    gid = pw.pw_gid if gid is None else gid
    try:
        gids = tuple(os.getgrouplist(pw.pw_name, gid))
    except OSError:
        gids = (gid,)
    return User(pw.pw_name, pw.pw_uid, gid, gids)


def lookup_group(spec):
    try:
        return (int(spec[1:]) if spec.startswith("#")
                else grp.getgrnam(spec).gr_gid)
    except (KeyError, ValueError):
        return None


def ancestors(path):
    """The directories a lookup of path traverses, "/" first."""
    parts = os.path.abspath(path).split(os.sep)[1:-1]
    return ["/"] + ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def first_denied(path, want, access):
    """The first component the lookup of path stops at, as (component,
    the access it lacks), or None: every ancestor must be searchable
    (X_OK), the path itself allow `want`."""
    for d in ancestors(path):
        if not access(d, os.X_OK):
            return d, os.X_OK
    if not access(path, want):
        return path, want
    return None


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ = 0x01, 0x02, 0x04
ACL_GROUP, ACL_MASK, ACL_OTHER = 0x08, 0x10, 0x20


def read_acl(path):
    """The POSIX access ACL of path as [(tag, perm, id)], or None when it
    has none beyond its mode."""
    try:
        raw = os.getxattr(path, "system.posix_acl_access")
    except (OSError, AttributeError):
        return None
    if len(raw) < 4 or struct.unpack_from("<I", raw)[0] != 2:
        return None
    return [struct.unpack_from("<HHI", raw, off)
            for off in range(4, len(raw) - 7, 8)]


def mode_allows(path, want, user):
    """What access(2) would answer for user, from the modes and POSIX ACL
    (for when the doctor cannot become that user). True when path cannot
    be looked at: no finding without evidence."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    if user.uid == 0:
        return not want & os.X_OK or bool(
            st.st_mode & 0o111 or stat.S_ISDIR(st.st_mode))
    if user.uid == st.st_uid:
        return (st.st_mode >> 6) & want == want
    acl = read_acl(path)
    if acl is None:
        bits = (st.st_mode >> 3 if st.st_gid in user.gids else st.st_mode)
        return bits & 7 & want == want
    return acl_allows(acl, st, want, user)


def acl_allows(acl, st, want, user):
    """POSIX.1e's access check of a non-owner against an ACL."""
    mask = next((p for t, p, _ in acl if t == ACL_MASK), 7)
    for tag, perm, ident in acl:
        if tag == ACL_USER and ident == user.uid:
            return perm & mask & want == want
    groups = [p for t, p, i in acl
              if (t == ACL_GROUP_OBJ and st.st_gid in user.gids)
              or (t == ACL_GROUP and i in user.gids)]
    if groups:
        return any(p & mask & want == want for p in groups)
    other = next((p for t, p, _ in acl if t == ACL_OTHER), 0)
    return other & want == want


def denied_as(user, requests):
    """first_denied() for each (path, want) of requests, as user sees it:
    access(2) directly when that is the doctor's own user, in a forked
    child that became user when the doctor is root, else from the modes
    and ACLs."""
    if user.uid == os.geteuid() and user.gid == os.getegid():
        return [first_denied(p, w, os.access) for p, w in requests]
    if os.geteuid() == 0:
        answer = _denied_in_child(user, requests)
        if answer is not None:
            return answer
    return [first_denied(p, w, lambda q, m: mode_allows(q, m, user))
            for p, w in requests]


def _denied_in_child(user, requests):
    """Forks; the child drops to user (groups, gid, uid, as Apache's
    children do), calls access(2) and writes the answers to a pipe. None
    if it failed or did not answer within TIMEOUT."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(r)
            os.setgroups(list(user.gids))
            os.setgid(user.gid)
            os.setuid(user.uid)
            data = json.dumps([first_denied(p, want, os.access)
                               for p, want in requests]).encode()
            while data:
                data = data[os.write(w, data):]
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    data = _read_until(r, time.monotonic() + TIMEOUT)
    os.close(r)
    if _reap(pid) != 0 or data is None:
        return None
    return [tuple(x) if x else None for x in json.loads(data)]


def _read_until(fd, deadline):
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid):
    """The child's exit status; killed first if it still runs."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def describe(path):
    """"mode 0700, owner alice" of path."""
    try:
        st = os.stat(path)
    except OSError:
        return "mode unknown"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = "#%d" % st.st_uid
    return "mode %04o, owner %s" % (stat.S_IMODE(st.st_mode), owner)
