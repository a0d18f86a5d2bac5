"""Apache's access, authentication and authorisation steps answered by
Python scripts (issue 12): WSGIAuthUserScript behind AuthBasicProvider /
AuthDigestProvider wsgi, WSGIAuthGroupScript behind Require wsgi-group,
WSGIAccessScript; stacked with Apache's own providers, protecting static
files and a daemon-mode application alike, and failing closed."""

import base64
import hashlib
import json
import os

import pytest
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from harness import write_file

AUTH = r'''
import hashlib, json, os, sys

USERS = {"alice": "wonder", "bob": "builder", "carol": "singer",
         "caf\xe9": "cr\xe8me"}
SEEN = os.path.join(os.path.dirname(__file__), "seen.json")

def _note(environ, user):
    sys.auth_calls = getattr(sys, "auth_calls", 0) + 1
    with open(SEEN, "w") as f:
        json.dump({"user": user, "uri": environ.get("REQUEST_URI"),
                   "input": "wsgi.input" in environ,
                   "authorization": "HTTP_AUTHORIZATION" in environ,
                   "group": environ.get("mod_wsgi.application_group"),
                   "errors": hasattr(environ.get("wsgi.errors"), "write")}, f)

def check_password(environ, user, password):
    _note(environ, user)
    if user == "boom":
        raise RuntimeError("check_password failed on purpose")
    if user == "weird":
        return "yes"
    if user not in USERS:
        return None
    return USERS[user] == password

def get_realm_hash(environ, user, realm):
    if user == "boom":
        raise RuntimeError("get_realm_hash failed on purpose")
    if user not in USERS:
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, USERS[user]))
                       .encode("latin-1")).hexdigest()
'''

GROUPS = r'''
GROUPS = {"alice": ["staff", "admins"], "bob": ["staff"], "carol": []}

def groups_for_user(environ, user):
    if user == "carol" and environ.get("QUERY_STRING") == "boom":
        raise RuntimeError("groups_for_user failed on purpose")
    if user == "carol" and environ.get("QUERY_STRING") == "str":
        return "admins"
    return GROUPS.get(user)
'''

ACCESS = r'''
def allow_access(environ, host):
    q = environ.get("QUERY_STRING", "")
    if q == "deny":
        return False
    if q == "none":
        return None
    if q == "boom":
        raise RuntimeError("allow_access failed on purpose")
    if q == "weird":
        return 1
    return host == "127.0.0.1"
'''

APP = r'''
import json, sys

def application(environ, start_response):
    body = json.dumps({
        "user": environ.get("REMOTE_USER"), "type": environ.get("AUTH_TYPE"),
        "group": environ.get("mod_wsgi.process_group"),
        "auth_calls": getattr(sys, "auth_calls", 0)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''

@pytest.fixture
def make_server(make_server_each_mpm):
    """Under each MPM (conftest): the providers run in Apache's children,
    threaded or not."""
    return make_server_each_mpm


MODULES = ["authn_core", "auth_basic", "authn_file", "auth_digest",
           "authz_user"]


@pytest.fixture
def site(make_server, scratch):
    d = scratch
    write_file(os.path.join(d, "auth.wsgi"), AUTH)
    write_file(os.path.join(d, "groups.wsgi"), GROUPS)
    write_file(os.path.join(d, "access.wsgi"), ACCESS)
    write_file(os.path.join(d, "app.wsgi"), APP)
    os.mkdir(os.path.join(d, "static"))
    write_file(os.path.join(d, "static", "file.txt"), "static content\n")
    # Apache's own provider for the stacking test: {SHA} is one of the
    # formats htpasswd files hold.
    sha = base64.b64encode(hashlib.sha1(b"filepass").digest()).decode()
    write_file(os.path.join(d, "htpasswd"), "dave:{SHA}%s\n" % sha)
    srv = make_server("""
WSGISocketPrefix "@ROOT@/wsgi"
WSGIDaemonProcess app processes=1 threads=2
Alias /basic "%(d)s/static"
Alias /stack "%(d)s/static"
Alias /digest "%(d)s/static"
Alias /group "%(d)s/static"
Alias /access "%(d)s/static"
WSGIScriptAlias /daemon "%(d)s/app.wsgi" process-group=app
WSGIScriptAlias /shared "%(d)s/app.wsgi" application-group=shared
<Directory "%(d)s">
    Require all granted
</Directory>
<Location /basic>
    AuthType Basic
    AuthName "wsgi test"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/auth.wsgi"
    Require valid-user
</Location>
<Location /stack>
    AuthType Basic
    AuthName "stack"
    AuthBasicProvider file wsgi
    AuthUserFile "%(d)s/htpasswd"
    WSGIAuthUserScript "%(d)s/auth.wsgi"
    Require valid-user
</Location>
<Location /digest>
    AuthType Digest
    AuthName "digest realm"
    AuthDigestProvider wsgi
    WSGIAuthUserScript "%(d)s/auth.wsgi"
    Require valid-user
</Location>
<Location /group>
    AuthType Basic
    AuthName "group"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/auth.wsgi"
    WSGIAuthGroupScript "%(d)s/groups.wsgi"
    <RequireAny>
        Require wsgi-group admins
        Require user bob
    </RequireAny>
</Location>
<Location /access>
    WSGIAccessScript "%(d)s/access.wsgi"
</Location>
<Location /daemon>
    AuthType Basic
    AuthName "daemon"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/auth.wsgi"
    Require valid-user
</Location>
<Location /shared>
    AuthType Basic
    AuthName "shared"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/auth.wsgi" application-group=shared
    Require valid-user
</Location>
""" % {"d": d}, modules=MODULES)
    srv.dir = d
    return srv


def seen(srv):
    with open(os.path.join(srv.dir, "seen.json")) as f:
        return json.load(f)


# mod_auth_basic logs a failed check at error level, with its own codes.
FAILED_LOGIN = ("AH01617", "AH01618")


@pytest.mark.allow_log(*FAILED_LOGIN)
def test_basic_provider_grants_refuses_and_knows_unknown_users(site):
    ok = site.get("/basic/file.txt", auth=HTTPBasicAuth("alice", "wonder"))
    assert ok.status_code == 200 and ok.text == "static content\n"
    s = seen(site)
    # The script's environ: the request, no body, no credentials header.
    assert s["user"] == "alice" and s["uri"] == "/basic/file.txt"
    assert s["input"] is False and s["authorization"] is False
    assert s["errors"] is True and s["group"] == ""
    assert site.get("/basic/file.txt",
                    auth=HTTPBasicAuth("alice", "nope")).status_code == 401
    assert site.get("/basic/file.txt",
                    auth=HTTPBasicAuth("zed", "x")).status_code == 401
    assert site.get("/basic/file.txt").status_code == 401
    # Not UTF-8 on the wire: latin-1 in, compared as the script says.
    raw = base64.b64encode("caf\xe9:cr\xe8me".encode("latin-1")).decode()
    assert site.get("/basic/file.txt", headers={
        "Authorization": "Basic " + raw}).status_code == 200
    log = site.log()
    assert "AH01617" in log       # alice: password mismatch
    assert "AH01618" in log       # zed: user not found (None)


@pytest.mark.allow_log(*FAILED_LOGIN)
def test_stacks_with_apaches_file_provider(site):
    assert site.get("/stack/file.txt",
                    auth=HTTPBasicAuth("dave", "filepass")).status_code == 200
    # The file knew dave: the script was not asked.
    assert not os.path.exists(os.path.join(site.dir, "seen.json"))
    assert site.get("/stack/file.txt",
                    auth=HTTPBasicAuth("bob", "builder")).status_code == 200
    assert seen(site)["user"] == "bob"
    assert site.get("/stack/file.txt",
                    auth=HTTPBasicAuth("dave", "wrong")).status_code == 401


@pytest.mark.allow_log("AH01790", "AH01793", "AH01794")
def test_digest_provider(site):
    r = site.get("/digest/file.txt", auth=HTTPDigestAuth("bob", "builder"))
    assert r.status_code == 200 and r.text == "static content\n"
    assert site.get("/digest/file.txt",
                    auth=HTTPDigestAuth("bob", "wrong")).status_code == 401
    assert site.get("/digest/file.txt",
                    auth=HTTPDigestAuth("zed", "x")).status_code == 401


@pytest.mark.allow_log(*FAILED_LOGIN, "AH01631")
def test_wsgi_group_inside_require_any(site):
    def get(user, pw, query=""):
        return site.get("/group/file.txt" + query,
                        auth=HTTPBasicAuth(user, pw)).status_code
    assert get("alice", "wonder") == 200      # in admins
    assert get("bob", "builder") == 200       # not in admins: Require user
    assert get("carol", "singer") == 401      # in no group
    assert get("alice", "bad") == 401


@pytest.mark.allow_log("WSGI0524", "WSGI0525")
def test_group_script_failures_fail_closed(site):
    r = site.get("/group/file.txt?boom", auth=HTTPBasicAuth("carol", "singer"))
    assert r.status_code == 500
    assert "groups_for_user failed on purpose" in site.log()
    # A str would match letter by letter if iterated: refused instead.
    r = site.get("/group/file.txt?str", auth=HTTPBasicAuth("carol", "singer"))
    assert r.status_code == 500
    assert "WSGI0525: groups_for_user() of" in site.log()


@pytest.mark.allow_log("WSGI0524", "WSGI0525")
def test_user_script_failures_fail_closed(site):
    r = site.get("/basic/file.txt", auth=HTTPBasicAuth("boom", "x"))
    assert r.status_code == 500
    assert site.count_log("WSGI0524", 1, mark=0) == 1
    assert "check_password failed on purpose" in site.log()
    r = site.get("/basic/file.txt", auth=HTTPBasicAuth("weird", "x"))
    assert r.status_code == 500
    assert "WSGI0525: check_password() of" in site.log()
    assert "it must return True, False or None" in site.log()
    # The server goes on.
    assert site.get("/basic/file.txt",
                    auth=HTTPBasicAuth("alice", "wonder")).status_code == 200


@pytest.mark.allow_log("WSGI0524", "WSGI0525", "AH01630")
def test_access_script(site):
    assert site.get("/access/file.txt").status_code == 200
    assert site.get("/access/file.txt?deny").status_code == 403
    assert site.get("/access/file.txt?none").status_code == 200
    assert site.get("/access/file.txt?boom").status_code == 500
    assert site.get("/access/file.txt?weird").status_code == 500
    assert "allow_access failed on purpose" in site.log()


@pytest.mark.allow_log(*FAILED_LOGIN)
def test_protects_a_daemon_application_which_sees_the_user(site):
    assert site.get("/daemon/x").status_code == 401
    env = site.get("/daemon/x", auth=HTTPBasicAuth("alice", "wonder")).json()
    assert env["user"] == "alice" and env["type"] == "Basic"
    assert env["group"] == "app"


def test_application_group_shares_the_applications_interpreter(site):
    env = site.get("/shared/x", auth=HTTPBasicAuth("bob", "builder")).json()
    assert env["user"] == "bob"
    # The script ran in the application's own interpreter ("shared"):
    # what it set in sys there, the application sees.
    assert env["auth_calls"] >= 1
    assert seen(site)["group"] == "shared"


def test_script_changes_are_picked_up(site):
    assert site.get("/basic/file.txt",
                    auth=HTTPBasicAuth("alice", "wonder")).status_code == 200
    path = os.path.join(site.dir, "auth.wsgi")
    write_file(path, AUTH.replace('"alice": "wonder"', '"alice": "changed"'))
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 5))
    assert site.get("/basic/file.txt",
                    auth=HTTPBasicAuth("alice", "changed")).status_code == 200


@pytest.mark.parametrize("line,named", [
    ('<Location /q>\nWSGIAuthUserScript\n</Location>', "WSGIAuthUserScript needs the path"),
    ('<Location /q>\nWSGIAccessScript /x.wsgi process-group=a\n</Location>',
     "only option is application-group"),
    ('<Location /q>\nWSGIAuthGroupScript /x.wsgi application-group=%{RESOURCE}\n</Location>',
     "WSGIAuthGroupScript"),
    ('<Location /q>\nRequire wsgi-group\n</Location>', "wsgi-group needs at least one group"),
    # Like Apache's own Auth* directives: per directory (or .htaccess with
    # AllowOverride AuthConfig), not for a whole server.
    ('WSGIAuthUserScript /x.wsgi', "WSGIAuthUserScript not allowed here"),
])
def test_bad_directives_fail_configtest(make_server, line, named):
    srv = make_server(line, start=False, modules=MODULES)
    rc, out = srv.configtest()
    assert rc != 0 and named in out, out


MISCONFIGURED = """
Alias /missing "%(d)s/static"
Alias /syntax "%(d)s/static"
Alias /nofunc "%(d)s/static"
Alias /noscript "%(d)s/static"
Alias /nogroups "%(d)s/static"
<Directory "%(d)s">
    Require all granted
</Directory>
<Location /missing>
    AuthType Basic
    AuthName "x"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/no-such-script.wsgi"
    Require valid-user
</Location>
<Location /syntax>
    AuthType Basic
    AuthName "x"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(d)s/syntax.wsgi"
    Require valid-user
</Location>
<Location /nofunc>
    WSGIAccessScript "%(d)s/nofunc.wsgi"
</Location>
<Location /noscript>
    AuthType Basic
    AuthName "x"
    AuthBasicProvider wsgi
    Require valid-user
</Location>
<Location /nogroups>
    AuthType Basic
    AuthName "x"
    AuthBasicProvider file
    AuthUserFile "%(d)s/htpasswd"
    Require wsgi-group staff
</Location>
"""


@pytest.mark.allow_log("WSGI0521", "WSGI0522", "WSGI0523", "WSGI0526",
                       "WSGI0527", "AH01618")
def test_misconfigurations_fail_closed_and_say_what_to_fix(make_server, scratch):
    d = scratch
    os.mkdir(os.path.join(d, "static"))
    write_file(os.path.join(d, "static", "file.txt"), "secret\n")
    write_file(os.path.join(d, "syntax.wsgi"), "def check_password(:\n")
    write_file(os.path.join(d, "nofunc.wsgi"), "x = 1\n")
    sha = base64.b64encode(hashlib.sha1(b"filepass").digest()).decode()
    write_file(os.path.join(d, "htpasswd"), "dave:{SHA}%s\n" % sha)
    srv = make_server(MISCONFIGURED % {"d": d}, modules=MODULES)
    cred = HTTPBasicAuth("dave", "filepass")
    for path, code in (("/missing", "WSGI0521"), ("/syntax", "WSGI0522"),
                       ("/nofunc", "WSGI0523"), ("/noscript", "WSGI0526"),
                       ("/nogroups", "WSGI0527")):
        r = srv.get(path + "/file.txt", auth=cred)
        assert r.status_code == 500, (path, r.status_code)
        assert "secret" not in r.text
        assert code in srv.log(), (path, code)
    assert "no-such-script.wsgi" in srv.log()
    assert "SyntaxError" in srv.log()
    assert "does not define allow_access()" in srv.log()


@pytest.mark.allow_log("WSGI0520")
def test_restrict_embedded_leaves_no_python_for_the_scripts(make_server, scratch):
    d = scratch
    os.mkdir(os.path.join(d, "static"))
    write_file(os.path.join(d, "static", "file.txt"), "secret\n")
    write_file(os.path.join(d, "access.wsgi"), ACCESS)
    srv = make_server("""
WSGIRestrictEmbedded On
Alias /access "%(d)s/static"
<Directory "%(d)s">
    Require all granted
</Directory>
<Location /access>
    WSGIAccessScript "%(d)s/access.wsgi"
</Location>
""" % {"d": d}, modules=MODULES)
    r = srv.get("/access/file.txt")
    assert r.status_code == 500 and "secret" not in r.text
    assert "WSGIRestrictEmbedded" in srv.wait_log("WSGI0520", mark=0)


# Django's documented recipe ("Authenticating against Django's user
# database from Apache"): the project's wsgi.py serves as the auth
# script too, with django.contrib.auth.handlers.modwsgi's functions.
DJANGO_SETTINGS = r'''
import os
BASE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
MIDDLEWARE = []
ROOT_URLCONF = "authproj.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(BASE, "db.sqlite3")}}
# A fast hasher: the test makes and checks a handful of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = True
LOGGING_CONFIG = None
'''

DJANGO_URLS = r'''
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse(
    "django sees %s" % request.META.get("REMOTE_USER")))]
'''

DJANGO_WSGI = r'''
import os, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authproj.settings")

from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()

from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user
'''

DJANGO_SETUP = r'''
import os, sys
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "authproj.settings"
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import Group, User
call_command("migrate", verbosity=0)
staff = Group.objects.create(name="staff")
alice = User.objects.create_user("alice", password="wonder")
alice.groups.add(staff)
User.objects.create_user("bob", password="builder")
User.objects.create_user("eve", password="secret", is_active=False)
'''


@pytest.mark.allow_log(*FAILED_LOGIN, "AH01631")
def test_djangos_recipe_end_to_end(make_server, scratch):
    import subprocess
    import sys
    d = scratch
    proj = os.path.join(d, "authproj")
    os.mkdir(proj)
    write_file(os.path.join(proj, "__init__.py"), "")
    write_file(os.path.join(proj, "settings.py"), DJANGO_SETTINGS)
    write_file(os.path.join(proj, "urls.py"), DJANGO_URLS)
    write_file(os.path.join(proj, "wsgi.py"), DJANGO_WSGI)
    setup = subprocess.run([sys.executable, "-c", DJANGO_SETUP, d],
                           capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr
    # Apache's user reads the database (and sqlite wants the
    # directory for its journal).
    os.chmod(os.path.join(d, "db.sqlite3"), 0o666)
    os.chmod(d, 0o777)
    os.mkdir(os.path.join(d, "static"))
    write_file(os.path.join(d, "static", "file.txt"), "protected\n")
    srv = make_server("""
WSGIScriptAlias /app "%(p)s/wsgi.py" application-group=django
Alias /files "%(d)s/static"
Alias /staff "%(d)s/static"
<Directory "%(d)s">
    Require all granted
</Directory>
<Location /files>
    AuthType Basic
    AuthName "Django users"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(p)s/wsgi.py" application-group=django
    Require valid-user
</Location>
<Location /staff>
    AuthType Basic
    AuthName "Django staff"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(p)s/wsgi.py" application-group=django
    WSGIAuthGroupScript "%(p)s/wsgi.py" application-group=django
    Require wsgi-group staff
</Location>
<Location /app>
    AuthType Basic
    AuthName "Django users"
    AuthBasicProvider wsgi
    WSGIAuthUserScript "%(p)s/wsgi.py" application-group=django
    Require valid-user
</Location>
""" % {"d": d, "p": proj}, modules=MODULES)

    def get(path, user, pw):
        return srv.get(path, auth=HTTPBasicAuth(user, pw), timeout=30)

    r = get("/files/file.txt", "alice", "wonder")
    assert r.status_code == 200 and r.text == "protected\n"
    assert get("/files/file.txt", "alice", "wrong").status_code == 401
    assert get("/files/file.txt", "eve", "secret").status_code == 401
    assert get("/files/file.txt", "nobody", "x").status_code == 401
    assert get("/staff/file.txt", "alice", "wonder").status_code == 200
    assert get("/staff/file.txt", "bob", "builder").status_code == 401
    # The application itself, in the same interpreter, sees the user.
    r = get("/app/", "bob", "builder")
    assert r.status_code == 200 and r.text == "django sees bob"
