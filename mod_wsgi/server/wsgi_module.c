/*
 * wsgi_module.c: the "mod_wsgi" module placed in sys.modules of every
 * interpreter, and the readying of our Python types.
 *
 * Applications test for it ("am I under mod_wsgi?") and read the process
 * and application group from it. Its Python-level functions (event
 * subscription) are added by the bootstrap code in wsgi_interp.c.
 */

#include "wsgi_common.h"

/* _log(level, text): lets the bootstrap code log at a chosen level with
 * the context of the request being served. */
static PyObject *wsgi_mod_log(PyObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t len;
    int level;

    (void)self;
    if (!PyArg_ParseTuple(args, "is#:_log", &level, &text, &len))
        return NULL;
    if (level < APLOG_EMERG || level > APLOG_DEBUG)
        level = APLOG_ERR;
    wsgi_log_lines(wsgi_current_request, NULL, level, text, len);
    Py_RETURN_NONE;
}

/*
 * mod_wsgi.active_requests maps the request id (mod_wsgi.request_id, the
 * %L of Apache's logs) of every request running in this interpreter to
 * its request_data() dict, a scratch dict the application and tools may
 * fill (upstream's API). Set up and taken down around the application
 * call by wsgi_run_application, with the GIL held.
 */
static WSGI_THREAD_LOCAL PyObject *wsgi_current_data = NULL; /* borrowed */

void wsgi_request_data_begin(PyObject *environ, wsgi_request_data *rd)
{
    PyObject *module;

    module = PyDict_GetItemString(PyImport_GetModuleDict(),
                                  "mod_wsgi");              /* borrowed */
    rd->active = module ? PyObject_GetAttrString(module, "active_requests")
                        : NULL;                             /* new */
    rd->id = PyDict_GetItemString(environ,
                                  "mod_wsgi.request_id");   /* borrowed */
    Py_XINCREF(rd->id);
    rd->data = PyDict_New();                                /* new */
    rd->outer = wsgi_current_data;
    wsgi_current_data = rd->data;
    if (rd->active != NULL && PyDict_Check(rd->active) && rd->id != NULL &&
        rd->data != NULL && PyDict_SetItem(rd->active, rd->id, rd->data) < 0)
        PyErr_Clear();
    PyErr_Clear();
}

void wsgi_request_data_end(wsgi_request_data *rd)
{
    PyObject *et, *ev, *etb;

    PyErr_Fetch(&et, &ev, &etb);
    if (rd->active != NULL && PyDict_Check(rd->active) && rd->id != NULL &&
        PyDict_DelItem(rd->active, rd->id) < 0)
        PyErr_Clear();
    wsgi_current_data = rd->outer;
    Py_XDECREF(rd->active);
    Py_XDECREF(rd->id);
    Py_XDECREF(rd->data);
    PyErr_Restore(et, ev, etb);
}

PyObject *wsgi_request_data_current(void)
{
    return wsgi_current_data;
}

/*
 * Request events (upstream's subscribe_events): the bootstrap's
 * _dispatch calls each subscriber with the payload dict, merging a dict
 * it returns into the payload for the next one. Nothing is built when
 * this interpreter has no subscriber: a request then pays one lookup per
 * event.
 */
static PyObject *wsgi_event_module(void)
{
    PyObject *module, *callbacks;
    int any;

    module = PyDict_GetItemString(PyImport_GetModuleDict(),
                                  "mod_wsgi");              /* borrowed */
    if (module == NULL)
        return NULL;
    callbacks = PyObject_GetAttrString(module, "event_callbacks"); /* new */
    any = callbacks != NULL && PyList_Check(callbacks) &&
          PyList_GET_SIZE(callbacks) > 0;
    Py_XDECREF(callbacks);
    PyErr_Clear();
    return any ? module : NULL;
}

int wsgi_events_wanted(void)
{
    PyObject *et, *ev, *etb;
    int wanted;

    PyErr_Fetch(&et, &ev, &etb);
    wanted = wsgi_event_module() != NULL;
    PyErr_Restore(et, ev, etb);
    return wanted;
}

/* Fires an event; a pending Python error (request_exception's) is put
 * aside meanwhile and restored. Failing subscribers are logged by
 * _dispatch (WSGI0305), and the request goes on. */
void wsgi_event_fire(const char *name, PyObject *event)
{
    PyObject *module, *res, *et, *ev, *etb;

    PyErr_Fetch(&et, &ev, &etb);
    module = wsgi_event_module();                          /* borrowed */
    if (module != NULL && event != NULL) {
        res = PyObject_CallMethod(module, "_dispatch", "sO", name, event);
        if (res == NULL)
            PyErr_Clear();
        Py_XDECREF(res);
    }
    PyErr_Restore(et, ev, etb);
}

static PyObject *wsgi_mod_request_data(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (wsgi_current_data == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "mod_wsgi.request_data() "
                        "called outside of a request");
        return NULL;
    }
    Py_INCREF(wsgi_current_data);
    return wsgi_current_data;
}

/* Set once an application of this process subscribed to signals; read by
 * a daemon's signal handler. */
static volatile sig_atomic_t wsgi_signal_subscribers = 0;

int wsgi_module_signals_wanted(void)
{
    return wsgi_signal_subscribers != 0;
}

/* _signals_wanted(): the bootstrap's subscribe_signals says a callback
 * is there, so the daemon's SIGHUP and SIGUSR2 now go to it. */
static PyObject *wsgi_mod_signals_wanted(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    wsgi_signal_subscribers = 1;
    Py_RETURN_NONE;
}

/* server_metrics(): None unless this process's configuration allows it
 * (WSGIServerMetrics On, or server-metrics=On in a daemon group). */
static PyObject *wsgi_mod_server_metrics(PyObject *self, PyObject *unused)
{
    int on = wsgi_daemon_self != NULL
                 ? wsgi_daemon_self->server_metrics > 0
                 : WSGI_SERVER_FLAG(wsgi_server, server_metrics) > 0;

    (void)self;
    (void)unused;
    if (!on)
        Py_RETURN_NONE;
    return wsgi_metrics_server();
}

static PyMethodDef wsgi_mod_methods[] = {
    {"server_metrics", wsgi_mod_server_metrics, METH_NOARGS,
     "Apache's scoreboard as a dict, or None when not enabled."},
    {"_signals_wanted", wsgi_mod_signals_wanted, METH_NOARGS, NULL},
    {"_log", wsgi_mod_log, METH_VARARGS, NULL},
    {"request_data", wsgi_mod_request_data, METH_NOARGS,
     "The dict of the request running in this thread."},

    {NULL}
};

static struct PyModuleDef wsgi_moddef = {
    PyModuleDef_HEAD_INIT,
    "mod_wsgi",
    "The running mod_wsgi: version, process and application group.",
    -1,
    wsgi_mod_methods,
    NULL,
    NULL,
    NULL,
    NULL
};

PyObject *wsgi_module_create(wsgi_interp *wi)
{
    PyObject *m = PyModule_Create(&wsgi_moddef);
    int err = 0;

    if (m == NULL)
        return NULL;
    err |= PyModule_AddObject(m, "version",
                              Py_BuildValue("(iii)", WSGI_API_VERSION_MAJOR,
                                            WSGI_API_VERSION_MINOR,
                                            WSGI_API_VERSION_MICRO)) < 0;
    err |= PyModule_AddStringConstant(m, "build_version",
                                      WSGI_VERSION_STRING) < 0;
    err |= PyModule_AddStringConstant(m, "process_group",
                                      wsgi_daemon_self
                                          ? wsgi_daemon_self->name : "") < 0;
    err |= PyModule_AddStringConstant(m, "application_group", wi->name) < 0;
    err |= PyModule_AddIntConstant(m, "maximum_processes",
                                   wsgi_max_processes) < 0;
    err |= PyModule_AddIntConstant(m, "threads_per_process",
                                   wsgi_max_threads) < 0;
    /* start_recording_metrics(), request_metrics(), process_metrics(). */
    err |= PyModule_AddFunctions(m, wsgi_stats_methods) < 0;
    Py_INCREF(&wsgi_filewrapper_type);
    err |= PyModule_AddObject(m, "FileWrapper",
                              (PyObject *)&wsgi_filewrapper_type) < 0;
    if (err) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

int wsgi_types_ready(void)
{
    if (PyType_Ready(&wsgi_input_type) < 0 ||
        PyType_Ready(&wsgi_log_type) < 0 ||
        PyType_Ready(&wsgi_restricted_type) < 0 ||
        PyType_Ready(&wsgi_filewrapper_type) < 0 ||
        PyType_Ready(&wsgi_adapter_type) < 0)
        return -1;
    return 0;
}
