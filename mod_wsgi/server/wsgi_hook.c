/*
 * wsgi_hook.c: a Python script run by Apache's own process at a step of
 * a request before its handler (access, authentication, authorisation,
 * dispatch): its function called with the request's environ and the
 * step's arguments, in the interpreter the directive names, the script
 * reloaded when it changed. Used by wsgi_auth.c and wsgi_handler.c.
 *
 *   wsgi_hook h;
 *   if (wsgi_hook_enter(r, hs, NULL, "WSGIAccessScript", "allow_access",
 *                       &h) == 0)
 *       res = wsgi_hook_call(r, hs, "WSGIAccessScript", &h, args);
 *   ... read res with the GIL held ...
 *   wsgi_hook_leave(&h);
 *
 * Each failure is logged once with what to fix, and the caller refuses
 * the request: these answer who may do what, so no failure ever reads as
 * a yes.
 */

#include "wsgi_common.h"

/* Step 1, GIL taken: the script's function, in its interpreter. Returns
 * 0, or -1 (logged; nothing to undo but wsgi_hook_leave). */
int wsgi_hook_enter(request_rec *r, const wsgi_hook_script *hs,
                    wsgi_request_config *rc, const char *what,
                    const char *fn, wsgi_hook *h)
{
    PyObject *module;
    apr_finfo_t fi;

    memset(h, 0, sizeof(*h));
    h->rc = rc;
    if (!wsgi_python_ready) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0520)
                      "%s '%s' (%s:%d) cannot run: Python is not started "
                      "in Apache's own processes (WSGIRestrictEmbedded "
                      "On?); these scripts always run there", what,
                      hs->script, hs->file, hs->line);
        return -1;
    }
    if (apr_stat(&fi, hs->script, APR_FINFO_MTIME | APR_FINFO_TYPE,
                 r->pool) != APR_SUCCESS || fi.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0521)
                      "%s '%s' (%s:%d) is not a readable file; fix the "
                      "path", what, hs->script, hs->file, hs->line);
        return -1;
    }
    h->wi = wsgi_acquire_interp(hs->application_group, r);
    if (h->wi == NULL)
        return -1;
    wsgi_request_begin();
    h->outer = wsgi_current_request;
    wsgi_current_request = r;
    module = wsgi_load_script(h->wi, r, hs->script, fi.mtime, 1, r->pool);
    if (module == NULL) {
        wsgi_log_python_error(r, NULL, WSGI_LOGNO(0522) "failed to load "
                              "%s '%s'", what, hs->script);
        return -1;
    }
    /* fn NULL: the caller wants the module (its functions optional). */
    if (fn == NULL) {
        h->func = module;
        return 0;
    }
    h->func = PyObject_GetAttrString(module, fn);
    Py_DECREF(module);
    if (h->func == NULL) {
        PyErr_Clear();
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0523)
                      "%s '%s' does not define %s(); define it, or remove "
                      "the directive", what, hs->script, fn);
        return -1;
    }
    return 0;
}

/* The Python error pending (the script's function raised, or what it
 * returned did while it was read): logged with its traceback, cleared. */
void wsgi_hook_raised(request_rec *r, const wsgi_hook_script *hs,
                      const char *what)
{
    wsgi_log_python_error(r, NULL, WSGI_LOGNO(0524) "%s '%s' raised an "
                          "exception; the request is refused", what,
                          hs->script);
}

/* Step 2: func(environ, *args). Returns a new reference, or NULL with
 * the traceback logged. args is stolen. */
PyObject *wsgi_hook_call(request_rec *r, const wsgi_hook_script *hs,
                                const char *what, wsgi_hook *h,
                                PyObject *args)
{
    PyObject *errors, *environ = NULL, *all = NULL, *res = NULL;
    Py_ssize_t i, n;

    errors = wsgi_log_new(r, APLOG_ERR, "wsgi.errors");
    if (errors != NULL && args != NULL)
        environ = wsgi_environ_hook(h->wi, r, h->rc, hs->application_group,
                                    errors);
    n = args ? PyTuple_GET_SIZE(args) : 0;
    if (environ != NULL)
        all = PyTuple_New(n + 1);
    if (all != NULL) {
        Py_INCREF(environ);
        PyTuple_SET_ITEM(all, 0, environ);
        for (i = 0; i < n; i++) {
            PyObject *a = PyTuple_GET_ITEM(args, i);        /* borrowed */

            Py_INCREF(a);
            PyTuple_SET_ITEM(all, i + 1, a);
        }
        res = PyObject_Call(h->func, all, NULL);
    }
    if (res == NULL)
        wsgi_hook_raised(r, hs, what);
    if (errors != NULL)
        wsgi_log_finish(errors);
    Py_XDECREF(all);
    Py_XDECREF(environ);
    Py_XDECREF(errors);
    Py_XDECREF(args);
    return res;
}

void wsgi_hook_leave(wsgi_hook *h)
{
    if (h->wi == NULL)
        return;
    Py_XDECREF(h->func);
    PyErr_Clear();
    wsgi_current_request = h->outer;
    wsgi_release_interp(h->wi);
    wsgi_request_end();
}

/* A value the documentation does not allow: refused, and said. */
void wsgi_hook_bad_result(request_rec *r, const wsgi_hook_script *hs,
                                 const char *fn, PyObject *res,
                                 const char *allowed)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0525)
                  "%s() of '%s' returned a %s; it must return %s, so the "
                  "request is refused", fn, hs->script,
                  Py_TYPE(res)->tp_name, allowed);
}
