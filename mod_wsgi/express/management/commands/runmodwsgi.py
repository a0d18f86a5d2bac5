"""`python manage.py runmodwsgi [options]`: start-server for this Django
project. It takes the options of mod_wsgi-express start-server; the
application is WSGI_APPLICATION, the working directory BASE_DIR, and
STATIC_ROOT is served at STATIC_URL (unless WhiteNoise serves it)."""

import argparse
import os
import shlex
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mod_wsgi.express import cli, options

# Chosen by the command from the project's settings, not by options.
FROM_SETTINGS = ("entry_point", "application_type", "callable_object")


def static_alias(mount_point):
    """(URL path, directory) serving STATIC_ROOT, or None."""
    url = getattr(settings, "STATIC_URL", None)
    root = getattr(settings, "STATIC_ROOT", None)
    if not url or not root:
        return None
    middleware = getattr(settings, "MIDDLEWARE", None) or []
    if any("whitenoise" in m.lower() for m in middleware):
        return None
    url = str(url)
    if url.startswith(("http://", "https://", "//")):
        return None                 # served from elsewhere
    if not url.startswith("/"):
        # Django 3.1+: a relative STATIC_URL is below the mount point.
        url = mount_point.rstrip("/") + "/" + url
    root = str(root)
    if not os.path.isdir(root):
        return None
    return url.rstrip("/") or "/", root


class Command(BaseCommand):
    help = ("Serve this project with mod_wsgi-express (Apache with "
            "mod_wsgi); takes the options of mod_wsgi-express "
            "start-server.")
    requires_system_checks = []

    def add_arguments(self, parser):
        cli.add_options(parser, "start-server", skip=FROM_SETTINGS)

    def handle(self, *args, **opts):
        wsgi_application = getattr(settings, "WSGI_APPLICATION", None)
        if not wsgi_application or "." not in wsgi_application:
            raise CommandError("WSGI_APPLICATION is not set in the settings "
                               "(e.g. WSGI_APPLICATION = "
                               "'mysite.wsgi.application'); runmodwsgi "
                               "serves that application.")
        module, _, callable_name = wsgi_application.rpartition(".")
        values = {o.name: opts.get(o.name, o.default)
                  for o in options.options_for("start-server")}
        values.update(script=None, entry_point=module,
                      application_type="module",
                      callable_object=callable_name)
        args = argparse.Namespace(**values)
        base = getattr(settings, "BASE_DIR", None)
        if not args.working_directory:
            args.working_directory = str(base) if base else os.getcwd()
        alias = static_alias(args.mount_point)
        if alias:
            args.url_alias = list(args.url_alias) + [alias]
        environment = {}
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            environment["DJANGO_SETTINGS_MODULE"] = os.environ[
                "DJANGO_SETTINGS_MODULE"]
        args.environment = environment
        args.argv = None
        line = shlex.join(["python", "manage.py", "runmodwsgi"]
                          + sys.argv[2:])
        from mod_wsgi.express import server
        from mod_wsgi.express.errors import ExpressError
        try:
            s = server.setup_server(args, line)
        except ExpressError as exc:
            raise CommandError(str(exc))
        if args.setup_only:
            self.stdout.write("Server root        : %s\n" % s.server_root)
            return
        self.stdout.write(server.summary(s))
        self.stdout.flush()
        sys.exit(server.start_server(s))
