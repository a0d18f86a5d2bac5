/*
 * wsgi_auth.c: Apache's access, authentication and authorisation steps
 * answered by Python scripts, as upstream mod_wsgi does:
 *
 *   WSGIAccessScript     allow_access(environ, host)        check_access
 *   WSGIAuthUserScript   check_password(environ, user, pw)  authn "wsgi"
 *                        get_realm_hash(environ, user, realm)   (Digest)
 *   WSGIAuthGroupScript  groups_for_user(environ, user)     authz
 *                                                           "wsgi-group"
 *
 * The providers are registered with mod_authn_core and mod_authz_core,
 * so they stack with the others ("AuthBasicProvider file wsgi") and sit
 * inside <RequireAny>/<RequireAll>, and they protect anything Apache
 * serves, static files and other handlers included. The scripts run in
 * Apache's own processes (the request has not gone anywhere yet), in the
 * main interpreter unless application-group= names another, and are
 * reloaded when they change.
 *
 * Every failure fails closed: a script that cannot load, lacks its
 * function, raises, or answers something else than the documented values
 * makes the request fail with 500 (never a grant), with one logged line
 * and the traceback.
 */

#include "wsgi_common.h"

#include "mod_auth.h"

/* Credentials as the client sent them: bytes, read as latin-1 (they need
 * not be UTF-8, and decoding cannot fail). */
static PyObject *wsgi_latin1(const char *s)
{
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t)strlen(s), NULL);
}

static wsgi_dir_config *wsgi_dconf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &wsgi_module);
}

/* ------------------------------------------------------ access check */

static int wsgi_check_access(request_rec *r)
{
    const wsgi_hook_script *hs = wsgi_dconf(r)->access_script;
    const char *host, *what = "WSGIAccessScript";
    PyObject *res = NULL;
    wsgi_hook h;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    if (hs == NULL)
        return DECLINED;
    host = ap_get_useragent_host(r, REMOTE_NAME, NULL);
    if (wsgi_hook_enter(r, hs, NULL, what, "allow_access", &h) == 0)
        res = wsgi_hook_call(r, hs, what, &h,
                             Py_BuildValue("(N)", wsgi_latin1(host ? host
                                                                   : "")));
    /* True allows, False forbids, None leaves it to the other checks. */
    if (res == Py_True)
        status = OK;
    else if (res == Py_False) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "mod_wsgi: access to "
                      "%s denied by WSGIAccessScript '%s'", r->uri,
                      hs->script);
        status = HTTP_FORBIDDEN;
    }
    else if (res == Py_None)
        status = DECLINED;
    else if (res != NULL)
        wsgi_hook_bad_result(r, hs, "allow_access", res,
                             "True, False or None");
    Py_XDECREF(res);
    wsgi_hook_leave(&h);
    return status;
}

/* ------------------------------------------------------ authn "wsgi" */

static const wsgi_hook_script *wsgi_authn_script(request_rec *r)
{
    const wsgi_hook_script *hs = wsgi_dconf(r)->auth_user_script;

    if (hs == NULL)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0526)
                      "AuthBasicProvider or AuthDigestProvider 'wsgi' is "
                      "used for %s, but no WSGIAuthUserScript applies "
                      "there; add one", r->uri);
    return hs;
}

static authn_status wsgi_check_password(request_rec *r, const char *user,
                                        const char *password)
{
    const wsgi_hook_script *hs = wsgi_authn_script(r);
    const char *what = "WSGIAuthUserScript";
    PyObject *res = NULL;
    authn_status st = AUTH_GENERAL_ERROR;
    wsgi_hook h;

    if (hs == NULL)
        return st;
    if (wsgi_hook_enter(r, hs, NULL, what, "check_password", &h) == 0)
        res = wsgi_hook_call(r, hs, what, &h,
                             Py_BuildValue("(NN)", wsgi_latin1(user),
                                           wsgi_latin1(password)));
    if (res == Py_True)
        st = AUTH_GRANTED;
    else if (res == Py_False)
        st = AUTH_DENIED;
    else if (res == Py_None)
        st = AUTH_USER_NOT_FOUND;
    else if (res != NULL)
        wsgi_hook_bad_result(r, hs, "check_password", res,
                             "True, False or None (no such user)");
    Py_XDECREF(res);
    wsgi_hook_leave(&h);
    return st;
}

/* Digest: the MD5 of "user:realm:password" in hex, which mod_auth_digest
 * checks the client's answer against. */
static authn_status wsgi_get_realm_hash(request_rec *r, const char *user,
                                        const char *realm, char **rethash)
{
    const wsgi_hook_script *hs = wsgi_authn_script(r);
    const char *what = "WSGIAuthUserScript";
    PyObject *res = NULL, *b = NULL;
    authn_status st = AUTH_GENERAL_ERROR;
    wsgi_hook h;

    if (hs == NULL)
        return st;
    if (wsgi_hook_enter(r, hs, NULL, what, "get_realm_hash", &h) == 0)
        res = wsgi_hook_call(r, hs, what, &h,
                             Py_BuildValue("(NN)", wsgi_latin1(user),
                                           wsgi_latin1(realm)));
    if (res == Py_None)
        st = AUTH_USER_NOT_FOUND;
    else if (res != NULL && PyUnicode_Check(res))
        b = PyUnicode_AsEncodedString(res, "latin-1", "strict");
    else if (res != NULL && PyBytes_Check(res)) {
        b = res;
        Py_INCREF(b);
    }
    if (b != NULL && PyBytes_GET_SIZE(b) == 2 * APR_MD5_DIGESTSIZE &&
        strspn(PyBytes_AS_STRING(b), "0123456789abcdefABCDEF") ==
            2 * APR_MD5_DIGESTSIZE) {
        *rethash = apr_pstrdup(r->pool, PyBytes_AS_STRING(b));
        ap_str_tolower(*rethash);
        st = AUTH_USER_FOUND;
    }
    else if (res != NULL && res != Py_None)
        wsgi_hook_bad_result(r, hs, "get_realm_hash", res,
                             "the 32 hex digits of md5(user:realm:password) "
                             "or None (no such user)");
    Py_XDECREF(b);
    Py_XDECREF(res);
    wsgi_hook_leave(&h);
    return st;
}

static const authn_provider wsgi_authn_provider = {
    &wsgi_check_password,
    &wsgi_get_realm_hash,
};

/* ------------------------------------------------ authz "wsgi-group" */

/* Require wsgi-group NAME...: some group of groups_for_user() is named. */
static int wsgi_group_named(request_rec *r, const char *require_line,
                            PyObject *group)
{
    const char *names = require_line, *name;
    PyObject *b = PyUnicode_Check(group)
                      ? PyUnicode_AsEncodedString(group, "utf-8", "strict")
                      : (Py_INCREF(group), group);
    int found = 0;

    if (b == NULL || !PyBytes_Check(b)) {
        PyErr_Clear();
        Py_XDECREF(b);
        return -1;
    }
    while (!found && *(name = ap_getword_conf(r->pool, &names)))
        found = !strcmp(name, PyBytes_AS_STRING(b));
    Py_DECREF(b);
    return found;
}

static authz_status wsgi_check_group(request_rec *r, const char *require_line,
                                     const void *parsed)
{
    const wsgi_hook_script *hs = wsgi_dconf(r)->auth_group_script;
    const char *what = "WSGIAuthGroupScript";
    PyObject *res = NULL, *it = NULL, *g;
    authz_status st = AUTHZ_GENERAL_ERROR;
    wsgi_hook h;
    int found = 0;

    (void)parsed;
    if (r->user == NULL)
        return AUTHZ_DENIED_NO_USER;
    if (hs == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0527)
                      "Require wsgi-group is used for %s, but no "
                      "WSGIAuthGroupScript applies there; add one", r->uri);
        return st;
    }
    if (wsgi_hook_enter(r, hs, NULL, what, "groups_for_user", &h) == 0)
        res = wsgi_hook_call(r, hs, what, &h,
                             Py_BuildValue("(N)", wsgi_latin1(r->user)));
    /* None: the user is in no group. A str is refused, not iterated
     * letter by letter. */
    if (res == Py_None)
        st = AUTHZ_DENIED;
    else if (res != NULL && !PyUnicode_Check(res) && !PyBytes_Check(res))
        it = PyObject_GetIter(res);
    if (it != NULL) {
        while (found == 0 && (g = PyIter_Next(it)) != NULL) {
            found = wsgi_group_named(r, require_line, g);
            Py_DECREF(g);
        }
        if (found >= 0 && !PyErr_Occurred())
            st = found ? AUTHZ_GRANTED : AUTHZ_DENIED;
        else if (PyErr_Occurred())
            wsgi_hook_raised(r, hs, what);
        else
            wsgi_hook_bad_result(r, hs, "groups_for_user", res,
                                 "an iterable of group names (str or "
                                 "bytes) or None");
    }
    else if (res != NULL && res != Py_None) {
        PyErr_Clear();
        wsgi_hook_bad_result(r, hs, "groups_for_user", res,
                             "an iterable of group names (str or bytes) "
                             "or None");
    }
    Py_XDECREF(it);
    Py_XDECREF(res);
    wsgi_hook_leave(&h);
    return st;
}

static const char *wsgi_parse_group_require(cmd_parms *cmd,
                                            const char *require_line,
                                            const void **parsed)
{
    const char *s = require_line;

    (void)parsed;
    if (!*ap_getword_conf(cmd->temp_pool, &s))
        return "Require wsgi-group needs at least one group name";
    return NULL;
}

static const authz_provider wsgi_authz_provider = {
    &wsgi_check_group,
    &wsgi_parse_group_require,
};

void wsgi_register_auth_hooks(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, "wsgi",
                              AUTHN_PROVIDER_VERSION, &wsgi_authn_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wsgi-group",
                              AUTHZ_PROVIDER_VERSION, &wsgi_authz_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_access(wsgi_check_access, NULL, NULL, APR_HOOK_MIDDLE,
                         AP_AUTH_INTERNAL_PER_CONF);
}
