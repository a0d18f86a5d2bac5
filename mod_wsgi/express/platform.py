"""Where this system keeps Apache: the platform layer of mod_wsgi-express.

Linux distributions lay Apache out in one of two ways. The Debian family
(Debian, Ubuntu and their derivatives) calls the binary apache2, keeps
modules in /usr/lib/apache2/modules and runs Apache as www-data; the Red
Hat family (Fedora, RHEL, CentOS, Rocky, AlmaLinux) calls it httpd, keeps
modules in /usr/lib64/httpd/modules and runs it as apache. Anything else
is asked of apxs. The distribution is read from os-release with `distro`.

What the module was built against (mod_wsgi.server.build_settings(), the
apxs answers recorded by setup.py) wins over these guesses; the layout is
the fallback and supplies what apxs does not know (the run-as user and the
mime.types file).
"""

import os
import shutil
import subprocess

DEBIAN = "debian"
REDHAT = "redhat"
OTHER = "other"

DEBIAN_IDS = {"debian", "ubuntu", "linuxmint", "raspbian", "pop", "kali",
              "devuan", "elementary"}
REDHAT_IDS = {"fedora", "rhel", "centos", "rocky", "almalinux", "ol",
              "amzn", "scientific", "redhat"}


def find_apxs(names):
    """The apxs programs among names (command names looked up on PATH, or
    paths; None and "" are skipped, so that an unset $APXS can lead the
    list), in the order given. The one apxs finder of mod_wsgi-express
    and its tests; setup.py keeps its own, as it runs before this package
    can be imported."""
    found = []
    for name in names:
        path = shutil.which(name) if name else None
        if path is not None:
            found.append(path)
    return found


class Layout:
    """Apache's layout on one platform family."""

    def __init__(self, family, httpd_names, modules_dirs, users,
                 mime_types, apxs_names):
        self.family = family
        self.httpd_names = httpd_names      # binary names, preferred first
        self.modules_dirs = modules_dirs    # candidate modules directories
        self.users = users                  # the usual unprivileged user
        self.mime_types = mime_types        # candidate mime.types files
        self.apxs_names = apxs_names

    def __repr__(self):
        return "Layout(%r)" % self.family

    # -- answers, from the first candidate that exists on this machine

    def httpd_executable(self, sbindir=None):
        dirs = [sbindir] if sbindir else []
        dirs += ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        for name in self.httpd_names:
            for d in dirs:
                path = os.path.join(d, name)
                if os.path.isfile(path) and os.access(path, os.X_OK):
                    return path
            found = shutil.which(name)
            if found:
                return found
        return None

    def modules_directory(self):
        for d in self.modules_dirs:
            if os.path.isdir(d):
                return d
        return self._apxs("LIBEXECDIR")

    def mime_types_file(self):
        for f in self.mime_types:
            if os.path.isfile(f):
                return f
        return None

    def default_user(self):
        """The unprivileged user Apache conventionally runs as here."""
        import pwd
        for name in self.users:
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        return None

    def _apxs(self, var):
        # The first apxs that answers: another may be installed for
        # another Apache.
        for apxs in find_apxs(self.apxs_names):
            try:
                out = subprocess.run([apxs, "-q", var], capture_output=True,
                                     text=True, timeout=60)
            except OSError:
                continue
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        return None


LAYOUTS = {
    DEBIAN: Layout(DEBIAN, ["apache2"], ["/usr/lib/apache2/modules"],
                   ["www-data"], ["/etc/mime.types"], ["apxs2", "apxs"]),
    REDHAT: Layout(REDHAT, ["httpd"],
                   ["/usr/lib64/httpd/modules", "/usr/lib/httpd/modules"],
                   ["apache"],
                   ["/etc/mime.types", "/etc/httpd/conf/mime.types"],
                   ["apxs"]),
}


class OtherLayout(Layout):
    """No known family: everything comes from apxs."""

    def __init__(self):
        super().__init__(OTHER, [], [], ["daemon", "nobody"], [],
                         ["apxs", "apxs2"])

    def httpd_executable(self, sbindir=None):
        sbindir = sbindir or self._apxs("SBINDIR")
        progname = self._apxs("PROGNAME") or "httpd"
        self.httpd_names = [progname, "httpd", "apache2"]
        return super().httpd_executable(sbindir)

    def modules_directory(self):
        return self._apxs("LIBEXECDIR")

    def mime_types_file(self):
        conf = self._apxs("SYSCONFDIR")
        self.mime_types = ([os.path.join(conf, "mime.types")] if conf else []
                           ) + ["/etc/mime.types"]
        return super().mime_types_file()


def family_of(ident, like=""):
    """The layout family of an os-release ID and ID_LIKE."""
    names = [ident.lower()] + like.lower().split()
    for name in names:
        if name in DEBIAN_IDS:
            return DEBIAN
        if name in REDHAT_IDS:
            return REDHAT
    return OTHER


def detect(os_release_file=None, root_dir=None):
    """The Layout of this system (or of the os-release file given, for
    tests)."""
    try:
        import distro
    except ImportError:
        # `distro` is a dependency of the package; without it only apxs
        # can tell.
        return OtherLayout()
    kwargs = {"include_lsb": False, "include_uname": False}
    if os_release_file is not None:
        kwargs["os_release_file"] = os_release_file
        # Look at nothing but that file.
        kwargs["distro_release_file"] = os.devnull
    if root_dir is not None:
        kwargs["root_dir"] = root_dir
    try:
        info = distro.LinuxDistribution(include_oslevel=False, **kwargs)
    except TypeError:       # distro older than 1.7: no include_oslevel
        info = distro.LinuxDistribution(**kwargs)
    family = family_of(info.id(), info.like())
    return LAYOUTS.get(family) or OtherLayout()
