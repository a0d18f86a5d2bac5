/*
 * wsgi_input.c: wsgi.input, streamed from the request's transport
 * (Apache's input filters in embedded mode).
 *
 * The body is never held whole in memory unless the application asks for
 * all of it with read(). Every read from Apache happens with the GIL
 * released. PEP 3333 lets the application read past CONTENT_LENGTH and
 * says the server "should" then give an empty string: read() at the end
 * returns b'' (so wsgi.input_terminated is True), also for chunked bodies.
 */

#include "wsgi_common.h"

#include <pthread.h>

#define WSGI_INPUT_CHUNK 8192

/*
 * An application may hand wsgi.input to a thread of its own that is still
 * reading when the request ends (the application returned). That thread
 * reads without the GIL, so the request's end must wait for it: reads go
 * one at a time under `io`, `readers` counts threads inside one (changed
 * with the GIL held), and wsgi_input_finish() unblocks a reader still
 * waiting for the client (the transport's abort_read) and waits for it
 * before the request's memory can go. Reads after that raise.
 */
typedef struct {
    PyObject_HEAD
    wsgi_transport *t;  /* NULL once the request is over */
    pthread_mutex_t io; /* one transport read at a time */
    int readers;        /* threads in a transport read (GIL held) */
    int closing;        /* the request is ending: read nothing more */
    int eof;
    int failed;
    char *buf;          /* read-ahead for readline() */
    Py_ssize_t pos;
    Py_ssize_t len;
    apr_off_t bytes;    /* body bytes handed to the application */
} wsgi_input_object;

static int wsgi_input_alive(wsgi_input_object *self)
{
    if (self->t == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "wsgi.input used after its request finished");
        return 0;
    }
    if (self->failed) {
        PyErr_SetString(PyExc_OSError,
                        "request data read error: an earlier read failed");
        return 0;
    }
    return 1;
}

/* Reads up to n bytes from the transport into dst. Returns the count, 0
 * at the end of the body, -1 with an OSError set. */
static Py_ssize_t wsgi_input_fill(wsgi_input_object *self, char *dst,
                                  Py_ssize_t n)
{
    wsgi_transport *t = self->t;
    long got = 0;
    apr_time_t before, after;

    if (self->eof)
        return 0;
    if (t == NULL || self->closing) {
        PyErr_SetString(PyExc_RuntimeError,
                        "wsgi.input used after its request finished");
        return -1;
    }
    self->readers++;
    before = apr_time_now();
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->io);
    got = self->closing ? -2 : t->read(t, dst, (apr_size_t)n);
    pthread_mutex_unlock(&self->io);
    after = apr_time_now();
    Py_END_ALLOW_THREADS
    self->readers--;
    if (got >= 0 && !self->closing)
        wsgi_stats_io(t->stats, 0, got, before, after);
    if (got == -2 || (got < 0 && self->closing)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "wsgi.input used after its request finished (the "
                        "application returned while this thread read)");
        return -1;
    }
    if (got < 0) {
        self->failed = 1;
        PyErr_SetString(PyExc_OSError,
                        "request data read error: the client closed the "
                        "connection or timed out, or the body is "
                        "malformed");
        return -1;
    }
    if (got == 0)
        self->eof = 1;
    return got;
}

/* Reads up to size bytes (size < 0: all) into a new bytes object. */
static PyObject *wsgi_input_read_n(wsgi_input_object *self, Py_ssize_t size)
{
    PyObject *out = NULL;
    Py_ssize_t have = 0, cap, avail, got;

    if (size == 0)
        return PyBytes_FromStringAndSize("", 0);
    avail = self->len - self->pos;
    cap = size > 0 ? size : (avail > WSGI_INPUT_CHUNK ? avail * 2
                                                      : WSGI_INPUT_CHUNK * 2);
    if (size > 0 && avail >= size) {
        out = PyBytes_FromStringAndSize(self->buf + self->pos, size);
        self->pos += size;
        goto done;
    }
    /* Never allocate more than the client could plausibly send at once:
     * read(2**40) on a small body must not reserve a terabyte. */
    if (size > 0 && cap > avail + 4 * WSGI_INPUT_CHUNK * 16)
        cap = avail + 4 * WSGI_INPUT_CHUNK * 16;
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL)
        goto done;
    if (avail > 0) {
        memcpy(PyBytes_AS_STRING(out), self->buf + self->pos, avail);
        have = avail;
        self->pos = self->len = 0;
    }
    while (size < 0 || have < size) {
        if (have == cap) {
            Py_ssize_t ncap = cap * 2;

            if (size > 0 && ncap > size)
                ncap = size;
            if (_PyBytes_Resize(&out, ncap) < 0)
                goto done;
            cap = ncap;
        }
        got = wsgi_input_fill(self, PyBytes_AS_STRING(out) + have,
                              cap - have);
        if (got < 0) {
            Py_CLEAR(out);
            goto done;
        }
        if (got == 0)
            break;
        have += got;
    }
    if (have != cap)
        _PyBytes_Resize(&out, have);
done:
    if (out != NULL)
        self->bytes += PyBytes_GET_SIZE(out);
    return out;
}

static int wsgi_size_arg(PyObject *args, Py_ssize_t *size)
{
    PyObject *arg = Py_None;

    *size = -1;
    if (!PyArg_UnpackTuple(args, "read", 0, 1, &arg))
        return 0;
    if (arg == Py_None)
        return 1;
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "size must be an int or None, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return 0;
    }
    *size = PyLong_AsSsize_t(arg);
    if (*size == -1 && PyErr_Occurred())
        return 0;
    if (*size < -1) {
        *size = -1;
    }
    return 1;
}

static PyObject *wsgi_input_read(wsgi_input_object *self, PyObject *args)
{
    Py_ssize_t size;

    if (!wsgi_size_arg(args, &size) || !wsgi_input_alive(self))
        return NULL;
    return wsgi_input_read_n(self, size);
}

/* One line, at most limit bytes (limit < 0: no limit). */
static PyObject *wsgi_input_line(wsgi_input_object *self, Py_ssize_t limit)
{
    PyObject *out = PyBytes_FromStringAndSize("", 0);

    while (out != NULL && (limit < 0 || PyBytes_GET_SIZE(out) < limit)) {
        Py_ssize_t avail = self->len - self->pos, take, got;
        const char *start = self->buf + self->pos, *nl;

        if (avail == 0) {
            if (self->buf == NULL &&
                (self->buf = PyMem_Malloc(WSGI_INPUT_CHUNK)) == NULL) {
                Py_CLEAR(out);
                PyErr_NoMemory();
                break;
            }
            self->pos = self->len = 0;
            got = wsgi_input_fill(self, self->buf, WSGI_INPUT_CHUNK);
            if (got <= 0) {
                if (got < 0)
                    Py_CLEAR(out);
                break;
            }
            self->len = got;
            continue;
        }
        take = avail;
        if (limit >= 0 && take > limit - PyBytes_GET_SIZE(out))
            take = limit - PyBytes_GET_SIZE(out);
        nl = memchr(start, '\n', take);
        if (nl != NULL)
            take = nl - start + 1;
        {
            Py_ssize_t old = PyBytes_GET_SIZE(out);

            if (_PyBytes_Resize(&out, old + take) < 0)
                break;
            memcpy(PyBytes_AS_STRING(out) + old, start, take);
        }
        self->pos += take;
        self->bytes += take;
        if (nl != NULL)
            break;
    }
    return out;
}

static PyObject *wsgi_input_readline(wsgi_input_object *self,
                                     PyObject *args)
{
    Py_ssize_t size;

    if (!wsgi_size_arg(args, &size) || !wsgi_input_alive(self))
        return NULL;
    return wsgi_input_line(self, size);
}

static PyObject *wsgi_input_readlines(wsgi_input_object *self,
                                      PyObject *args)
{
    Py_ssize_t hint, total = 0;
    PyObject *list, *line;

    if (!wsgi_size_arg(args, &hint) || !wsgi_input_alive(self))
        return NULL;
    list = PyList_New(0);
    while (list != NULL) {
        line = wsgi_input_line(self, -1);
        if (line == NULL) {
            Py_CLEAR(list);
            break;
        }
        if (PyBytes_GET_SIZE(line) == 0) {
            Py_DECREF(line);
            break;
        }
        total += PyBytes_GET_SIZE(line);
        if (PyList_Append(list, line) < 0)
            Py_CLEAR(list);
        Py_DECREF(line);
        if (hint > 0 && total >= hint)
            break;
    }
    return list;
}

static PyObject *wsgi_input_iternext(wsgi_input_object *self)
{
    PyObject *line;

    if (!wsgi_input_alive(self))
        return NULL;
    line = wsgi_input_line(self, -1);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL;        /* StopIteration */
    }
    return line;
}

static PyObject *wsgi_input_close(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static void wsgi_input_dealloc(wsgi_input_object *self)
{
    pthread_mutex_destroy(&self->io);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef wsgi_input_methods[] = {
    {"read", (PyCFunction)wsgi_input_read, METH_VARARGS, NULL},
    {"readline", (PyCFunction)wsgi_input_readline, METH_VARARGS, NULL},
    {"readlines", (PyCFunction)wsgi_input_readlines, METH_VARARGS, NULL},
    {"close", wsgi_input_close, METH_NOARGS, NULL},
    {NULL}
};

PyTypeObject wsgi_input_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod_wsgi.Input",
    .tp_basicsize = sizeof(wsgi_input_object),
    .tp_dealloc = (destructor)wsgi_input_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body, read from Apache on demand.",
    .tp_methods = wsgi_input_methods,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)wsgi_input_iternext,
};

PyObject *wsgi_input_new(wsgi_transport *t)
{
    wsgi_input_object *self =
        PyObject_New(wsgi_input_object, &wsgi_input_type);

    if (self == NULL)
        return NULL;
    self->t = t;
    pthread_mutex_init(&self->io, NULL);
    self->readers = self->closing = 0;
    self->eof = self->failed = 0;
    self->buf = NULL;
    self->pos = self->len = 0;
    self->bytes = 0;
    return (PyObject *)self;
}

/* The request is over; a reference the application kept must not reach
 * the transport, which lives in the request's pool. */
/* The request ends (GIL held): see wsgi_input_object. */
void wsgi_input_finish(PyObject *input)
{
    wsgi_input_object *self = (wsgi_input_object *)input;
    wsgi_transport *t = self->t;

    self->closing = 1;
    if (t != NULL && self->readers > 0) {
        Py_BEGIN_ALLOW_THREADS
        if (t->abort_read != NULL)
            t->abort_read(t);
        pthread_mutex_lock(&self->io);
        pthread_mutex_unlock(&self->io);
        Py_END_ALLOW_THREADS
    }
    self->t = NULL;
}

apr_off_t wsgi_input_bytes(PyObject *input)
{
    return ((wsgi_input_object *)input)->bytes;
}
