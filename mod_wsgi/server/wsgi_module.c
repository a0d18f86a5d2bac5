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

static PyMethodDef wsgi_mod_methods[] = {
    {"_log", wsgi_mod_log, METH_VARARGS, NULL},
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
