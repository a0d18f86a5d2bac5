/*
 * wsgi_response.c: calling the application, start_response(), write(),
 * iterating the response and close().
 *
 * The adapter object is the request's state on the Python side. It is
 * what start_response and write are bound to, so it may outlive the
 * request in an application's hands: its transport pointer is cleared
 * when the request ends and every entry point checks it. All bytes go
 * through the transport, so the same code serves embedded and daemon
 * mode.
 */

#include "wsgi_common.h"

typedef struct {
    PyObject_HEAD
    wsgi_transport *t;          /* NULL once the request is over */
    int status;
    const char *status_line;    /* in the transport's pool */
    PyObject *headers;          /* list of (bytes, bytes), latin-1 */
    int started;                /* start_response() called */
    int headers_sent;
    int no_body;                /* 1xx, 204, 304 */
    int head;                   /* the application saw a HEAD request */
    int aborted;                /* the client went away */
    apr_off_t content_length;   /* from the application, -1 if none */
    apr_off_t auto_length;      /* computed by us, -1 if unknown */
    apr_off_t output_length;
} wsgi_adapter_object;

static int wsgi_adapter_alive(wsgi_adapter_object *self, const char *what)
{
    if (self->t == NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s called after its request finished", what);
        return 0;
    }
    return 1;
}

/* Returns the latin-1 bytes of a str, with a precise error otherwise. */
static PyObject *wsgi_latin1(PyObject *s, const char *what)
{
    PyObject *b;

    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what,
                     Py_TYPE(s)->tp_name);
        return NULL;
    }
    b = PyUnicode_AsLatin1String(s);
    if (b == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError,
                     "%s %R is not latin-1 text (PEP 3333: header values "
                     "must be encodable as ISO-8859-1)", what, s);
    }
    return b;
}

/* Checks the headers, returning a new list of (name, value) bytes. */
static PyObject *wsgi_check_headers(PyObject *headers, int64_t *clen)
{
    PyObject *out = NULL, *pair = NULL, *name = NULL, *value = NULL;
    Py_ssize_t i;
    const char *why;

    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError,
                     "response headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    out = PyList_New(0);
    for (i = 0; out != NULL && i < PyList_GET_SIZE(headers); i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);   /* borrowed */

        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_Format(PyExc_TypeError,
                         "response header %zd must be a (name, value) "
                         "tuple, not %.100s", i, Py_TYPE(item)->tp_name);
            goto fail;
        }
        name = wsgi_latin1(PyTuple_GET_ITEM(item, 0), "header name");
        if (name == NULL)
            goto fail;
        value = wsgi_latin1(PyTuple_GET_ITEM(item, 1), "header value");
        if (value == NULL)
            goto fail;
        why = wsgi_validate_header_name(PyBytes_AS_STRING(name),
                                        PyBytes_GET_SIZE(name));
        if (why == NULL)
            why = wsgi_validate_header_value(PyBytes_AS_STRING(value),
                                             PyBytes_GET_SIZE(value));
        if (why != NULL) {
            PyErr_Format(PyExc_ValueError, "invalid response header %R: %s",
                         item, why);
            goto fail;
        }
        if (!strcasecmp(PyBytes_AS_STRING(name), "Content-Length") &&
            !wsgi_parse_content_length(PyBytes_AS_STRING(value), clen)) {
            PyErr_Format(PyExc_ValueError,
                         "Content-Length header value %R is not a "
                         "non-negative integer", PyTuple_GET_ITEM(item, 1));
            goto fail;
        }
        pair = PyTuple_Pack(2, name, value);
        if (pair == NULL || PyList_Append(out, pair) < 0)
            goto fail;
        Py_CLEAR(pair);
        Py_CLEAR(name);
        Py_CLEAR(value);
    }
    return out;
fail:
    Py_XDECREF(pair);
    Py_XDECREF(name);
    Py_XDECREF(value);
    Py_XDECREF(out);
    return NULL;
}

/*
 * PEP 3333: "if exc_info is provided, and the HTTP headers have already
 * been sent, start_response must raise an error, and should re-raise using
 * the exc_info tuple". A second call without exc_info is an error once
 * the head went out; before that the second call wins, as upstream
 * mod_wsgi has always allowed (applications and middleware rely on it).
 */
static PyObject *wsgi_start_response(wsgi_adapter_object *self,
                                     PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"status", "response_headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None, *sb = NULL, *checked;
    const char *why;
    int64_t clen = -1;
    int code = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:start_response",
                                     kwlist, &status, &headers, &exc_info))
        return NULL;
    if (!wsgi_adapter_alive(self, "start_response()"))
        return NULL;
    if (exc_info != Py_None) {
        if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
            PyErr_SetString(PyExc_TypeError,
                            "exc_info must be a 3-tuple as returned by "
                            "sys.exc_info()");
            return NULL;
        }
        if (self->headers_sent) {
            PyObject *t = PyTuple_GET_ITEM(exc_info, 0);
            PyObject *v = PyTuple_GET_ITEM(exc_info, 1);
            PyObject *tb = PyTuple_GET_ITEM(exc_info, 2);

            Py_INCREF(t);
            Py_INCREF(v);
            Py_INCREF(tb);
            PyErr_Restore(t, v, tb);        /* steals the three */
            return NULL;
        }
    }
    else if (self->headers_sent) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response() called again after the response "
                        "head was sent (PEP 3333 allows that only with "
                        "exc_info, to re-raise the error)");
        return NULL;
    }
    else if (self->started)
        wsgi_log_transport(self->t, APLOG_DEBUG, "mod_wsgi: start_response() "
                           "called again before any output from '%s'; the "
                           "second status and headers replace the first",
                           self->t->target);

    sb = wsgi_latin1(status, "status");
    if (sb == NULL)
        return NULL;
    why = wsgi_validate_status(PyBytes_AS_STRING(sb), PyBytes_GET_SIZE(sb),
                               &code);
    if (why != NULL) {
        PyErr_Format(PyExc_ValueError, "invalid status %R: %s", status, why);
        Py_DECREF(sb);
        return NULL;
    }
    checked = wsgi_check_headers(headers, &clen);
    if (checked == NULL) {
        Py_DECREF(sb);
        return NULL;
    }
    self->status = code;
    self->status_line = apr_pstrdup(self->t->pool, PyBytes_AS_STRING(sb));
    Py_DECREF(sb);
    Py_XSETREF(self->headers, checked);
    self->content_length = clen;
    self->started = 1;
    if (self->t->stats != NULL && wsgi_events_wanted()) {
        PyObject *event = wsgi_event_response(self->t->stats, status,
                                              headers, exc_info);

        wsgi_event_fire("response_started", event);
        Py_XDECREF(event);
    }
    return PyObject_GetAttrString((PyObject *)self, "write");
}

/* Runs a transport call's result through the client-gone check. */
static int wsgi_io_result(wsgi_adapter_object *self, int rc)
{
    if (rc < 0) {
        self->aborted = 1;
        PyErr_SetString(PyExc_OSError,
                        "failed to write response data: the client closed "
                        "the connection");
        return -1;
    }
    return 0;
}

/* Hands status and headers to the transport; they go out with the first
 * body bytes. */
static int wsgi_send_headers(wsgi_adapter_object *self)
{
    wsgi_transport *t = self->t;
    Py_ssize_t i, n;
    wsgi_header *h;
    apr_off_t clen = -1;

    if (!self->started) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the application returned or wrote a body without "
                        "calling start_response() first");
        return -1;
    }
    n = PyList_GET_SIZE(self->headers);
    h = apr_palloc(t->pool, (n + 1) * sizeof(*h));
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(self->headers, i); /* borrowed */

        /* Copied into the pool: Apache keeps them past this call, the
         * Python objects may go (the CVE-2014-0242 class of bug). */
        h[i].name = apr_pstrdup(t->pool,
                                PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 0)));
        h[i].value = apr_pstrdup(t->pool,
                                 PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 1)));
    }
    /* RFC 9110 15.2, 15.3.5, 15.4.5: 1xx, 204 and 304 carry no
     * content. */
    self->no_body = self->status < 200 || self->status == HTTP_NO_CONTENT ||
                    self->status == HTTP_NOT_MODIFIED;
    if (!self->no_body) {
        if (self->content_length < 0 && self->auto_length >= 0)
            self->content_length = self->auto_length;
        clen = self->content_length;
    }
    self->headers_sent = 1;
    return wsgi_io_result(self, t->start(t, self->status, self->status_line,
                                         h, (int)n, clen));
}

/*
 * PEP 3333: headers are not sent "until there is an actual body string
 * that is not empty, or the application's iterable is exhausted", and a
 * server "must not ... transmit more bytes than Content-Length".
 */
static int wsgi_write_body(wsgi_adapter_object *self, const char *data,
                           apr_off_t len, int flush)
{
    wsgi_transport *t = self->t;
    apr_time_t before, after;
    int rc;

    if (len == 0 && !self->headers_sent)
        return 0;
    if (!self->headers_sent && wsgi_send_headers(self) < 0)
        return -1;
    if (self->no_body)
        len = 0;
    if (self->content_length >= 0 &&
        len > self->content_length - self->output_length)
        len = self->content_length - self->output_length;
    if (len == 0 && !flush)
        return 0;
    self->output_length += len;
    before = apr_time_now();
    Py_BEGIN_ALLOW_THREADS
    rc = t->write(t, data, (apr_size_t)len, flush);
    after = apr_time_now();
    Py_END_ALLOW_THREADS
    wsgi_stats_io(t->stats, 1, len, before, after);
    return wsgi_io_result(self, rc);
}

static PyObject *wsgi_write(wsgi_adapter_object *self, PyObject *data)
{
    if (!wsgi_adapter_alive(self, "write()"))
        return NULL;
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be bytes, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    /* PEP 3333: write() must ensure the data is transmitted, or buffered
     * for transmission while the application proceeds. */
    if (wsgi_write_body(self, PyBytes_AS_STRING(data),
                        PyBytes_GET_SIZE(data), 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Sends the file itself when the wrapped object is a regular file;
 * returns 1 when it did (or failed with an error set), 0 to fall back
 * to iteration. */
static int wsgi_send_file(wsgi_adapter_object *self, PyObject *wrapper)
{
    wsgi_transport *t = self->t;
    PyObject *filelike = wsgi_filewrapper_filelike(wrapper), *pos;
    apr_off_t offset = -1, length;
    apr_time_t before, after;
    struct stat st;
    int fd, rc;

    if (!wsgi_filewrapper_fileno(wrapper, &fd))
        return 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    /* The logical position of a buffered file is its tell(), not the
     * descriptor's offset, which may be ahead by a read-ahead. */
    pos = PyObject_HasAttrString(filelike, "tell")
              ? PyObject_CallMethod(filelike, "tell", NULL)
              : NULL;
    if (pos != NULL) {
        offset = PyLong_AsLongLong(pos);
        Py_DECREF(pos);
    }
    if (PyErr_Occurred() || offset < 0) {
        PyErr_Clear();
        offset = lseek(fd, 0, SEEK_CUR);
    }
    if (offset < 0)
        return 0;
    length = st.st_size > offset ? st.st_size - offset : 0;
    if (self->content_length >= 0 && self->content_length < length)
        length = self->content_length;
    if (self->content_length < 0)
        self->auto_length = length;
    if (!self->headers_sent && wsgi_send_headers(self) < 0)
        return 1;
    if (self->no_body || length == 0)
        return 1;
    self->output_length += length;
    before = apr_time_now();
    Py_BEGIN_ALLOW_THREADS
    rc = t->send_file(t, fd, offset, length);
    after = apr_time_now();
    Py_END_ALLOW_THREADS
    wsgi_stats_io(t->stats, 1, length, before, after);
    wsgi_io_result(self, rc);
    return 1;
}

/* All of a list or tuple of bytes is known up front: its length becomes
 * the Content-Length, so the response needs no chunking. */
static apr_off_t wsgi_sequence_length(PyObject *result)
{
    Py_ssize_t i, n = PySequence_Fast_GET_SIZE(result);
    PyObject **items = PySequence_Fast_ITEMS(result);   /* borrowed */
    apr_off_t total = 0;

    for (i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i]))
            return -1;
        total += PyBytes_GET_SIZE(items[i]);
    }
    return total;
}

static int wsgi_iterate(wsgi_adapter_object *self, PyObject *result)
{
    int seq = PyList_CheckExact(result) || PyTuple_CheckExact(result);
    PyObject *it, *item;
    int rc = 0;

    if (Py_TYPE(result) == &wsgi_filewrapper_type &&
        wsgi_send_file(self, result))
        return PyErr_Occurred() ? -1 : 0;
    if (seq && self->content_length < 0)
        self->auto_length = wsgi_sequence_length(result);
    it = PyObject_GetIter(result);
    if (it == NULL)
        return -1;
    while ((item = PyIter_Next(it)) != NULL) {
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "the WSGI response iterable must yield bytes, not "
                         "%.100s (PEP 3333: the body is a sequence of byte "
                         "strings; encode text first)",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(item);
            rc = -1;
            break;
        }
        /* Each block of a generator goes out at once (PEP 3333: no
         * buffering of blocks); a list is sent as one response. */
        rc = wsgi_write_body(self, PyBytes_AS_STRING(item),
                             PyBytes_GET_SIZE(item), !seq);
        Py_DECREF(item);
        if (rc < 0)
            break;
    }
    Py_DECREF(it);
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    return rc;
}

/* The last of the response: headers if none went yet, then the end. */
static int wsgi_finish(wsgi_adapter_object *self)
{
    wsgi_transport *t = self->t;
    int complete = 1, rc;

    if (!self->headers_sent && wsgi_send_headers(self) < 0)
        return -1;
    /* RFC 9110 9.3.2: the answer to HEAD may carry the Content-Length a
     * GET would have, and no content (Flask, Django and health checks
     * rely on it): nothing is missing then. */
    if (!self->no_body && !self->head && self->content_length >= 0 &&
        self->output_length < self->content_length) {
        wsgi_log_transport(t, APLOG_ERR,
                      WSGI_LOGNO(0601) "response body shorter than its "
                      "Content-Length (%" APR_OFF_T_FMT " of %"
                      APR_OFF_T_FMT " bytes) from '%s'; closing the "
                      "connection so the client sees it incomplete",
                      self->output_length, self->content_length,
                      t->target);
        complete = 0;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = t->finish(t, complete);
    Py_END_ALLOW_THREADS
    return wsgi_io_result(self, rc);
}

/* PEP 3333: close() "must" be called "upon completion of the current
 * request, whether the request was completed normally, or terminated
 * early due to an application error during iteration or an early
 * disconnect of the browser". Exactly once. */
static int wsgi_close_result(wsgi_transport *t, PyObject *result)
{
    PyObject *res;

    if (!PyObject_HasAttrString(result, "close"))
        return 0;
    res = PyObject_CallMethod(result, "close", NULL);
    if (res == NULL) {
        wsgi_log_python_error(t->r, t->s, WSGI_LOGNO(0602) "exception in "
                              "close() of the response of WSGI script "
                              "'%s'", t->target);
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

static void wsgi_adapter_dealloc(wsgi_adapter_object *self)
{
    Py_XDECREF(self->headers);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef wsgi_adapter_methods[] = {
    {"start_response", (PyCFunction)(void (*)(void))wsgi_start_response,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"write", (PyCFunction)wsgi_write, METH_O, NULL},
    {NULL}
};

PyTypeObject wsgi_adapter_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod_wsgi.Adapter",
    .tp_basicsize = sizeof(wsgi_adapter_object),
    .tp_dealloc = (destructor)wsgi_adapter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The state of one WSGI request on the Python side.",
    .tp_methods = wsgi_adapter_methods,
};

/*
 * Runs one request through the application. Returns OK when a response
 * went out (complete or cut), or an HTTP status for the caller to answer
 * with when nothing was sent yet.
 */
int wsgi_run_application(wsgi_transport *t, PyObject *application,
                         PyObject *environ, PyObject *input,
                         PyObject *errors)
{
    wsgi_adapter_object *self;
    PyObject *start = NULL, *result = NULL, *method, *started = NULL;
    wsgi_request_stats *st = t->stats;
    int status = HTTP_INTERNAL_SERVER_ERROR, failed, events;
    wsgi_request_data rd;

    wsgi_request_data_begin(environ, &rd);
    st->rd = &rd;
    st->app_start = apr_time_now();
    events = wsgi_events_wanted();
    if (events) {
        /* A subscriber may hand back another application_object (a
         * wrapper): that is the one called. The payload keeps it alive. */
        started = wsgi_event_started(st, environ, application);
        wsgi_event_fire("request_started", started);
        if (started != NULL) {
            PyObject *app = PyDict_GetItemString(
                started, "application_object");             /* borrowed */

            if (app != NULL)
                application = app;
        }
    }
    self = PyObject_New(wsgi_adapter_object, &wsgi_adapter_type);
    if (self == NULL)
        goto error;
    self->t = t;
    self->status = 0;
    self->status_line = NULL;
    self->headers = NULL;
    self->started = self->headers_sent = self->no_body = 0;
    self->aborted = 0;
    /* Read before the application runs: it may change its environ. */
    method = PyDict_GetItemString(environ, "REQUEST_METHOD"); /* borrowed */
    self->head = method != NULL && PyUnicode_Check(method) &&
                 PyUnicode_CompareWithASCIIString(method, "HEAD") == 0;
    self->content_length = self->auto_length = -1;
    self->output_length = 0;

    start = PyObject_GetAttrString((PyObject *)self, "start_response");
    if (start == NULL)
        goto error;
    result = PyObject_CallFunctionObjArgs(application, environ, start,
                                          NULL);
    if (result == NULL)
        goto error;
    failed = wsgi_iterate(self, result) < 0;
    if (!failed)
        failed = wsgi_finish(self) < 0;
    if (failed) {
        PyObject *et, *ev, *etb;

        /* close() runs before the error is reported, with the error
         * put aside so close() starts with a clean slate. */
        PyErr_Fetch(&et, &ev, &etb);
        wsgi_close_result(t, result);
        PyErr_Restore(et, ev, etb);
        goto error;
    }
    wsgi_close_result(t, result);
    status = OK;
    goto done;

error:
    if (self != NULL && self->aborted) {
        /* Not the application's fault: no traceback. */
        PyErr_Clear();
        wsgi_log_transport(t, APLOG_INFO,
                      "mod_wsgi: client closed the connection before the "
                      "response from '%s' was complete", t->target);
        status = OK;
    }
    else {
        if (events) {
            PyObject *event = wsgi_event_exception(st);

            wsgi_event_fire("request_exception", event);
            Py_XDECREF(event);
        }
        wsgi_log_python_error(t->r, t->s, WSGI_LOGNO(0603) "exception "
                              "while serving WSGI script '%s'", t->target);
        if (self != NULL && self->headers_sent) {
            Py_BEGIN_ALLOW_THREADS
            t->finish(t, 0);
            Py_END_ALLOW_THREADS
            status = OK;
        }
    }
done:
    st->app_finish = apr_time_now();
    st->status = self == NULL || status != OK ? HTTP_INTERNAL_SERVER_ERROR
                                              : self->status;
    if (events) {
        PyObject *event;

        wsgi_stats_finish(st);
        event = wsgi_event_finished(st);
        wsgi_event_fire("request_finished", event);
        Py_XDECREF(event);
    }
    st->rd = NULL;
    Py_XDECREF(started);
    if (self != NULL)
        self->t = NULL;
    wsgi_input_finish(input);
    wsgi_log_finish(errors);
    Py_XDECREF(result);
    Py_XDECREF(start);
    Py_XDECREF((PyObject *)self);
    wsgi_request_data_end(&rd);
    return status;
}
