/*
 * wsgi_filewrapper.c: wsgi.file_wrapper.
 *
 * PEP 3333: the wrapper "must be an iterable object" that reads blocks of
 * block_size from the file-like, and "if the original iterable has a
 * close() method, the wrapper's close() must call it". When the response
 * iterable is this exact type and the file-like has a real descriptor of a
 * regular file, the response code sends the file itself (an APR file
 * bucket: sendfile or mmap, never through Python) from the file's current
 * position.
 */

#include "wsgi_common.h"

typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t blksize;
} wsgi_filewrapper_object;

static PyObject *wsgi_filewrapper_new_obj(PyTypeObject *type, PyObject *args,
                                          PyObject *kwds)
{
    static char *kwlist[] = {"filelike", "blksize", NULL};
    wsgi_filewrapper_object *self;
    PyObject *filelike;
    Py_ssize_t blksize = 8192;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:FileWrapper", kwlist,
                                     &filelike, &blksize))
        return NULL;
    if (blksize <= 0) {
        PyErr_SetString(PyExc_ValueError,
                        "FileWrapper block size must be greater than 0");
        return NULL;
    }
    self = (wsgi_filewrapper_object *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(filelike);
    self->filelike = filelike;
    self->blksize = blksize;
    return (PyObject *)self;
}

static void wsgi_filewrapper_dealloc(wsgi_filewrapper_object *self)
{
    Py_XDECREF(self->filelike);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *wsgi_filewrapper_iternext(wsgi_filewrapper_object *self)
{
    PyObject *data = PyObject_CallMethod(self->filelike, "read", "n",
                                         self->blksize);

    if (data == NULL)
        return NULL;
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError,
                     "file-like read() for wsgi.file_wrapper must return "
                     "bytes, not %.100s", Py_TYPE(data)->tp_name);
        Py_DECREF(data);
        return NULL;
    }
    if (PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL;        /* StopIteration */
    }
    return data;
}

static PyObject *wsgi_filewrapper_close(wsgi_filewrapper_object *self,
                                        PyObject *unused)
{
    (void)unused;
    if (PyObject_HasAttrString(self->filelike, "close"))
        return PyObject_CallMethod(self->filelike, "close", NULL);
    Py_RETURN_NONE;
}

static PyMethodDef wsgi_filewrapper_methods[] = {
    {"close", (PyCFunction)wsgi_filewrapper_close, METH_NOARGS, NULL},
    {NULL}
};

static PyMemberDef wsgi_filewrapper_members[] = {
    {"filelike", T_OBJECT, offsetof(wsgi_filewrapper_object, filelike),
     READONLY, NULL},
    {"blksize", T_PYSSIZET, offsetof(wsgi_filewrapper_object, blksize),
     READONLY, NULL},
    {NULL}
};

PyTypeObject wsgi_filewrapper_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mod_wsgi.FileWrapper",
    .tp_basicsize = sizeof(wsgi_filewrapper_object),
    .tp_dealloc = (destructor)wsgi_filewrapper_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.file_wrapper(filelike, blksize=8192)",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)wsgi_filewrapper_iternext,
    .tp_methods = wsgi_filewrapper_methods,
    .tp_members = wsgi_filewrapper_members,
    .tp_new = wsgi_filewrapper_new_obj,
};

PyObject *wsgi_filewrapper_filelike(PyObject *wrapper)
{
    return ((wsgi_filewrapper_object *)wrapper)->filelike;  /* borrowed */
}

/* Returns 1 and the descriptor when the wrapped object is backed by a
 * real descriptor; 0 otherwise (no Python error left set). */
int wsgi_filewrapper_fileno(PyObject *wrapper, int *fd)
{
    PyObject *filelike = wsgi_filewrapper_filelike(wrapper), *res;
    int ok = 0;

    if (!PyObject_HasAttrString(filelike, "fileno"))
        goto done;
    res = PyObject_CallMethod(filelike, "fileno", NULL);
    if (res == NULL) {
        PyErr_Clear();      /* e.g. io.UnsupportedOperation for BytesIO */
        goto done;
    }
    if (PyLong_Check(res)) {
        long v = PyLong_AsLong(res);

        if (v >= 0 && !PyErr_Occurred()) {
            *fd = (int)v;
            ok = 1;
        }
        PyErr_Clear();
    }
    Py_DECREF(res);
    /* Buffered file objects may hold data not yet at the descriptor's
     * position; flushing keeps the descriptor offset truthful. */
    if (ok && PyObject_HasAttrString(filelike, "flush")) {
        res = PyObject_CallMethod(filelike, "flush", NULL);
        if (res == NULL)
            PyErr_Clear();
        Py_XDECREF(res);
    }
done:
    return ok;
}
