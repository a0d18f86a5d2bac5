/*
 * wsgi_request.c: one WSGI request, the same way in both modes.
 *
 *   acquire the interpreter -> load the script -> find the callable ->
 *   wsgi.input, wsgi.errors -> the environ -> run the application ->
 *   release the interpreter
 *
 * Embedded mode calls it from the handler (wsgi_handler.c) over Apache's
 * filters, a daemon process from a worker thread (wsgi_worker.c) over its
 * socket to the Apache child: only the transport and where the environ's
 * entries come from differ (wsgi_request_spec), so every message below
 * has one call site for both.
 */

#include "wsgi_common.h"

/*
 * A script failed to load in an interpreter with its own GIL: when the
 * reason is an extension module refusing such an interpreter, the
 * traceback alone does not say what to change, so a line of its own
 * names the module and the fix. The error stays set for the traceback
 * that follows.
 */
static void wsgi_request_gil_hint(wsgi_transport *t, const wsgi_interp *wi,
                                  const char *script)
{
    const char *line = wsgi_gil_hint(t->pool, script, wi->name);

    if (line != NULL)
        wsgi_log_transport(t, APLOG_ERR, "%s", line);
}

int wsgi_serve_request(wsgi_transport *t, const wsgi_request_spec *rq)
{
    PyObject *module = NULL, *app = NULL, *input = NULL, *errors = NULL;
    PyObject *environ = NULL;
    wsgi_request_stats st;
    apr_time_t asked;
    wsgi_interp *wi;
    int status = HTTP_INTERNAL_SERVER_ERROR;

    wsgi_stats_begin(&st, rq->request_start, rq->accepted, rq->what);
    st.server_pid = rq->server_pid ? rq->server_pid : (int)getpid();
    asked = apr_time_now();
    wi = wsgi_acquire_interp(rq->application_group, rq->r);
    if (wi == NULL) {
        wsgi_stats_record(&st);
        return status;          /* logged */
    }
    /* The first wait for the GIL: upstream's gil_wait counts it. */
    wsgi_stats_gil(&st, asked);
    t->stats = &st;
    wsgi_request_begin();
    /* Whose request this thread serves, for the log lines of code that
     * has no request at hand (print(), logging, sys.stderr). */
    wsgi_current_request = rq->r;
    wsgi_current_client = rq->client;
    wsgi_current_log_id = rq->log_id && *rq->log_id ? rq->log_id : NULL;
    wsgi_monitor_python(wi->name, rq->what);

    module = wsgi_load_script(wi, rq->r, rq->script, rq->mtime, rq->reload,
                              t->pool);
    wsgi_monitor_script_loaded(module != NULL);
    if (module == NULL) {
        if (wi->own_gil)
            wsgi_request_gil_hint(t, wi, rq->script);
        wsgi_log_python_error(rq->r, t->s, WSGI_LOGNO(0506) "failed to load "
                              "WSGI script '%s'", rq->script);
        goto done;
    }
    app = PyObject_GetAttrString(module, rq->callable);
    if (app == NULL) {
        PyErr_Clear();
        wsgi_log_transport(t, APLOG_ERR, WSGI_LOGNO(0507) "WSGI script '%s' "
                           "does not define '%s'; name the callable "
                           "'application' or set WSGICallableObject (or "
                           "callable-object=) to its name", rq->script,
                           rq->callable);
        status = HTTP_NOT_FOUND;
        goto done;
    }
    input = wsgi_input_new(t);
    errors = wsgi_log_new(rq->r, APLOG_ERR, "wsgi.errors");
    if (input != NULL && errors != NULL)
        environ = wsgi_environ_build(wi, rq, input, errors);
    if (environ == NULL) {
        wsgi_log_python_error(rq->r, t->s, WSGI_LOGNO(0508) "could not "
                              "build the WSGI environ for '%s'", rq->script);
        goto done;
    }
    status = wsgi_run_application(t, app, environ, input, errors);
done:
    if (status != OK)
        PyErr_Clear();
    Py_XDECREF(environ);
    Py_XDECREF(errors);
    Py_XDECREF(input);
    Py_XDECREF(app);
    Py_XDECREF(module);
    wsgi_current_request = NULL;
    wsgi_current_client = NULL;
    wsgi_current_log_id = NULL;
    wsgi_release_interp(wi);
    wsgi_request_end();
    t->stats = NULL;
    if (st.status == 0 && status != OK)
        st.status = status;
    wsgi_stats_record(&st);
    return status;
}
