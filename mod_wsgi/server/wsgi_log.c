/*
 * wsgi_log.c: wsgi.errors, sys.stdout and sys.stderr as Apache error log
 * writers, the "restricted" stand-in for stdin/stdout, and the logging of
 * Python exceptions.
 *
 * PEP 3333: wsgi.errors is "a text-mode stream", so write() takes str.
 * Output is buffered until a newline, so one print() is one log line.
 */

#include "wsgi_common.h"

WSGI_THREAD_LOCAL request_rec *wsgi_current_request = NULL;
WSGI_THREAD_LOCAL const char *wsgi_current_client = NULL;
WSGI_THREAD_LOCAL const char *wsgi_current_log_id = NULL;

/* Apache truncates a message at MAX_STRING_LEN; longer lines are split
 * into pieces below that, so nothing is lost. */
#define WSGI_LOG_PIECE 8000

typedef struct {
    PyObject_HEAD
    request_rec *r;     /* cleared when the request ends */
    int bound;          /* created for one request (wsgi.errors) */
    int level;
    PyObject *name;
    char *buf;          /* incomplete last line */
    size_t len;
    size_t cap;
} wsgi_log_object;

/* Where a line goes when the caller names no server: the request's
 * (virtual host's) log; in a daemon, the log of the server that defined
 * its group; else the main one. */
static server_rec *wsgi_log_server(request_rec *r)
{
    return r ? r->server
             : wsgi_daemon_self ? wsgi_daemon_self->server
                                : wsgi_main_server;
}

/* Emits one line, after "[id ID] " when id is given; the GIL must not be
 * held. */
static void wsgi_log_emit(request_rec *r, server_rec *s, int level,
                          const char *id, const char *line, size_t len)
{
    const char *open = id ? "[id " : "", *close = id ? "] " : "";

    if (id == NULL)
        id = "";
    do {
        int n = len > WSGI_LOG_PIECE ? WSGI_LOG_PIECE : (int)len;

        if (r != NULL)
            ap_log_rerror(APLOG_MARK, level, 0, r, "%s%s%s%.*s", open, id,
                          close, n, line);
        else if (wsgi_current_client != NULL)
            ap_log_error(APLOG_MARK, level, 0, s, "[client %s] %s%s%s%.*s",
                         wsgi_current_client, open, id, close, n, line);
        else
            ap_log_error(APLOG_MARK, level, 0, s, "%s%s%s%.*s", open, id,
                         close, n, line);
        line += n;
        len -= n;
    } while (len > 0);
}

static const char *wsgi_log_id(request_rec *r)
{
    return r != NULL && r->log_id != NULL ? r->log_id : wsgi_current_log_id;
}

void wsgi_log_lines(request_rec *r, server_rec *s, int level,
                    const char *text, Py_ssize_t len)
{
    const char *end = text + len, *id;

    if (s == NULL)
        s = wsgi_log_server(r);
    /* Each line has the request's log id (Apache's %L): the lines of a
     * traceback or of a multi-line print come with other threads' lines
     * between them, and grep by id finds them all. */
    id = wsgi_log_id(r);
    Py_BEGIN_ALLOW_THREADS
    while (text < end) {
        const char *nl = memchr(text, '\n', end - text);
        const char *stop = nl ? nl : end;

        wsgi_log_emit(r, s, level, id, text, stop - text);
        text = nl ? nl + 1 : end;
    }
    Py_END_ALLOW_THREADS
}

static request_rec *wsgi_log_request(wsgi_log_object *self)
{
    if (self->bound)
        return self->r;
    return wsgi_current_request;
}

/* Logs every complete line in the buffer (or everything, when all). */
static void wsgi_log_drain(wsgi_log_object *self, int all)
{
    char *copy;
    size_t n = self->len;

    if (!all) {
        while (n > 0 && self->buf[n - 1] != '\n')
            n--;
    }
    if (n == 0)
        return;
    copy = malloc(n);
    if (copy == NULL)
        return;
    memcpy(copy, self->buf, n);
    memmove(self->buf, self->buf + n, self->len - n);
    self->len -= n;
    if (n > 0 && copy[n - 1] == '\n')
        n--;
    wsgi_log_lines(wsgi_log_request(self), NULL, self->level, copy, n);
    free(copy);
}

static PyObject *wsgi_log_write(wsgi_log_object *self, PyObject *arg)
{
    const char *data;
    Py_ssize_t size;

    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be str, not %.100s "
                     "(wsgi.errors is a text stream)",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    data = PyUnicode_AsUTF8AndSize(arg, &size);
    if (data == NULL)
        return NULL;
    if (size == 0)                  /* print("", end=""): nothing to keep */
        return PyLong_FromLong(0);
    if (self->len + size > self->cap) {
        size_t cap = (self->len + size) * 2 + 64;
        char *grown = PyMem_Realloc(self->buf, cap);

        if (grown == NULL)
            return PyErr_NoMemory();
        self->buf = grown;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, data, size);
    self->len += size;
    if (memchr(data, '\n', size) != NULL)
        wsgi_log_drain(self, 0);
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

static PyObject *wsgi_log_writelines(wsgi_log_object *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item, *res;

    if (it == NULL)
        return NULL;
    while ((item = PyIter_Next(it)) != NULL) {
        res = wsgi_log_write(self, item);
        Py_DECREF(item);
        if (res == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(res);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *wsgi_log_flush(wsgi_log_object *self, PyObject *unused)
{
    (void)unused;
    wsgi_log_drain(self, 1);
    Py_RETURN_NONE;
}

static PyObject *wsgi_log_false(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *wsgi_log_true(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}

static PyObject *wsgi_log_fileno(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyErr_SetString(PyExc_OSError,
                    "mod_wsgi log objects have no file descriptor");
    return NULL;
}

static PyObject *wsgi_log_get_name(wsgi_log_object *self, void *c)
{
    (void)c;
    Py_INCREF(self->name);
    return self->name;
}

static PyObject *wsgi_log_get_str(PyObject *self, void *c)
{
    (void)self;
    return PyUnicode_FromString((const char *)c);
}

static PyObject *wsgi_log_get_closed(PyObject *self, void *c)
{
    (void)self;
    (void)c;
    Py_RETURN_FALSE;
}

static void wsgi_log_dealloc(wsgi_log_object *self)
{
    if (self->len > 0 && Py_IsInitialized())
        wsgi_log_drain(self, 1);
    PyMem_Free(self->buf);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef wsgi_log_methods[] = {
    {"write", (PyCFunction)wsgi_log_write, METH_O, NULL},
    {"writelines", (PyCFunction)wsgi_log_writelines, METH_O, NULL},
    {"flush", (PyCFunction)wsgi_log_flush, METH_NOARGS, NULL},
    {"close", (PyCFunction)wsgi_log_flush, METH_NOARGS, NULL},
    {"isatty", wsgi_log_false, METH_NOARGS, NULL},
    {"readable", wsgi_log_false, METH_NOARGS, NULL},
    {"seekable", wsgi_log_false, METH_NOARGS, NULL},
    {"writable", wsgi_log_true, METH_NOARGS, NULL},
    {"fileno", wsgi_log_fileno, METH_NOARGS, NULL},
    {NULL}
};

static PyGetSetDef wsgi_log_getset[] = {
    {"name", (getter)wsgi_log_get_name, NULL, NULL, NULL},
    {"encoding", wsgi_log_get_str, NULL, NULL, "utf-8"},
    {"errors", wsgi_log_get_str, NULL, NULL, "backslashreplace"},
    {"closed", wsgi_log_get_closed, NULL, NULL, NULL},
    {NULL}
};

PyTypeObject wsgi_log_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod_wsgi.Log",
    .tp_basicsize = sizeof(wsgi_log_object),
    .tp_dealloc = (destructor)wsgi_log_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Writes text to the Apache error log, one line per entry.",
    .tp_methods = wsgi_log_methods,
    .tp_getset = wsgi_log_getset,
};

PyObject *wsgi_log_new(request_rec *r, int level, const char *name)
{
    wsgi_log_object *self = PyObject_New(wsgi_log_object, &wsgi_log_type);

    if (self == NULL)
        return NULL;
    self->r = r;
    self->bound = r != NULL;
    self->level = level;
    self->buf = NULL;
    self->len = self->cap = 0;
    self->name = PyUnicode_FromString(name);
    if (self->name == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* The request is over: flush what is pending with its context, then let
 * later writes (from a leaked reference) go to the server log. */
void wsgi_log_finish(PyObject *log)
{
    wsgi_log_object *self = (wsgi_log_object *)log;

    wsgi_log_drain(self, 1);
    self->r = NULL;
}

/* ------------------------------------------------------------ restricted */

typedef struct {
    PyObject_HEAD
    const char *name;
    const char *directive;
} wsgi_restricted_object;

static PyObject *wsgi_restricted_raise(wsgi_restricted_object *self,
                                       PyObject *args)
{
    (void)args;
    PyErr_Format(PyExc_OSError,
                 "%s access is restricted by mod_wsgi (%s On); use "
                 "wsgi.errors or the logging module to write to the Apache "
                 "error log, or set %s Off", self->name, self->directive,
                 self->directive);
    return NULL;
}

static PyObject *wsgi_restricted_flush(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyMethodDef wsgi_restricted_methods[] = {
    {"read", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"readline", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"readlines", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"write", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"writelines", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"fileno", (PyCFunction)wsgi_restricted_raise, METH_VARARGS, NULL},
    {"flush", wsgi_restricted_flush, METH_NOARGS, NULL},
    {"isatty", wsgi_log_false, METH_NOARGS, NULL},
    {NULL}
};

static PyObject *wsgi_restricted_iter(PyObject *self)
{
    return wsgi_restricted_raise((wsgi_restricted_object *)self, NULL);
}

PyTypeObject wsgi_restricted_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod_wsgi.Restricted",
    .tp_basicsize = sizeof(wsgi_restricted_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Stands in for a standard stream an application may not use.",
    .tp_methods = wsgi_restricted_methods,
    .tp_iter = wsgi_restricted_iter,
};

PyObject *wsgi_restricted_new(const char *name, const char *directive)
{
    wsgi_restricted_object *self =
        PyObject_New(wsgi_restricted_object, &wsgi_restricted_type);

    if (self == NULL)
        return NULL;
    self->name = name;
    self->directive = directive;
    return (PyObject *)self;
}

/* ------------------------------------------------------------ exceptions */

void wsgi_log_python_error(request_rec *r, server_rec *s, const char *fmt,
                           ...)
{
    PyObject *type, *value, *tb, *mod = NULL, *lines = NULL, *text = NULL;
    PyObject *sep = NULL;
    const char *utf8;
    Py_ssize_t len;
    char msg[2048];
    va_list ap;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (s == NULL)
        s = wsgi_log_server(r);

    /* No pool: this runs in daemon threads that share none. */
    va_start(ap, fmt);
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wsgi_log_lines(r, s, APLOG_ERR, msg, strlen(msg));

    if (type == NULL)
        goto done;
    mod = PyImport_ImportModule("traceback");
    if (mod != NULL)
        lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                    value ? value : Py_None,
                                    tb ? tb : Py_None);
    if (lines != NULL && (sep = PyUnicode_FromString("")) != NULL)
        text = PyUnicode_Join(sep, lines);
    if (text != NULL &&
        (utf8 = PyUnicode_AsUTF8AndSize(text, &len)) != NULL) {
        while (len > 0 && utf8[len - 1] == '\n')
            len--;
        wsgi_log_lines(r, s, APLOG_ERR, utf8, len);
    }
    else {
        /* Formatting failed too: say at least what was raised. */
        PyErr_Clear();
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     WSGI_LOGNO(0201) "(traceback unavailable) %s",
                     type ? ((PyTypeObject *)type)->tp_name : "?");
    }
done:
    PyErr_Clear();
    Py_XDECREF(sep);
    Py_XDECREF(text);
    Py_XDECREF(lines);
    Py_XDECREF(mod);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* What Python 3.12+ says when an extension module without support for
 * several interpreters is imported into one with its own GIL. */
#define WSGI_SINGLE_INTERP_REFUSAL \
    "does not support loading in subinterpreters"

/*
 * The text of the ImportError, in the current exception or one it was
 * raised while handling, that says an extension module refuses an
 * interpreter with its own GIL (PEP 684), copied into p; else NULL. The
 * exception stays set, for the traceback that follows.
 */
static const char *wsgi_single_interp_refusal(apr_pool_t *p)
{
    const char *found = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();            /* new */
    PyObject *cur = exc;
    int depth;

    Py_XINCREF(cur);
    for (depth = 0; cur != NULL && found == NULL && depth < 8; depth++) {
        PyObject *next = NULL;

        if (PyErr_GivenExceptionMatches(cur, PyExc_ImportError)) {
            PyObject *msg = PyObject_Str(cur);              /* new */
            const char *text = msg ? PyUnicode_AsUTF8(msg) : NULL;

            if (text != NULL && strstr(text, WSGI_SINGLE_INTERP_REFUSAL))
                found = apr_pstrdup(p, text);
            Py_XDECREF(msg);
        }
        if (found == NULL)
            next = PyException_GetContext(cur);             /* new */
        Py_DECREF(cur);
        cur = next;
    }
    Py_XDECREF(cur);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);                     /* steals exc */
#else
    (void)p;
#endif
    return found;
}

/* WSGI0513's line when script failed to load in application group
 * group because an extension refused its own GIL, for a request or a
 * preload to log; else NULL. The error stays set. */
const char *wsgi_gil_hint(apr_pool_t *p, const char *script,
                          const char *group)
{
    const char *refusal = wsgi_single_interp_refusal(p);

    if (refusal == NULL)
        return NULL;
    return apr_psprintf(p, WSGI_LOGNO(0513) "WSGI script '%s' imports an "
                        "extension module that cannot run in application "
                        "group '%s', which has its own GIL "
                        "(WSGIPerInterpreterGIL On): %s. Serve this "
                        "application from a shared-GIL group "
                        "(WSGIApplicationGroup %%{GLOBAL}), or set "
                        "WSGIPerInterpreterGIL Off", script, group, refusal);
}
