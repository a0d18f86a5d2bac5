/*
 * wsgi_metrics.c: mod_wsgi.server_metrics(), Apache's scoreboard as a
 * Python dict (upstream's API, for monitoring code written against it).
 *
 * The scoreboard is shared memory the Apache parent creates before it
 * forks its children (and, since they are started after it, the daemon
 * processes: see wsgi_pre_mpm in mod_wsgi.c); every process reads the
 * same pages. It is read without a lock, as mod_status does: a worker's
 * entry is copied whole (ap_copy_scoreboard_worker) and may be a moment
 * old, never torn beyond one field.
 *
 * Off unless asked for: WSGIServerMetrics On for embedded mode,
 * server-metrics=On for a daemon group, since the scoreboard shows every
 * client's address and request line, not only the application's own.
 */

#include "wsgi_common.h"

#include "scoreboard.h"

/* mod_status's letters, so the strings read as its scoreboard does. */
static const char wsgi_status_chars[SERVER_NUM_STATUS] = {
    [SERVER_DEAD] = '.',         [SERVER_STARTING] = 'S',
    [SERVER_READY] = '_',        [SERVER_BUSY_READ] = 'R',
    [SERVER_BUSY_WRITE] = 'W',   [SERVER_BUSY_KEEPALIVE] = 'K',
    [SERVER_BUSY_LOG] = 'L',     [SERVER_BUSY_DNS] = 'D',
    [SERVER_CLOSING] = 'C',      [SERVER_GRACEFUL] = 'G',
    [SERVER_IDLE_KILL] = 'I',
};

static double wsgi_secs(apr_time_t t)
{
    return (double)t / (double)APR_USEC_PER_SEC;
}

/* A fixed-size scoreboard string: NUL-terminated within its size or cut
 * there; latin-1, as everything read off a request line. */
static PyObject *wsgi_sb_str(const char *s, size_t size)
{
    const char *end = memchr(s, '\0', size);

    return PyUnicode_DecodeLatin1(s, end ? end - s : (Py_ssize_t)size,
                                  NULL);
}

/* Adds value (a new reference, stolen) under key; 1 on failure. */
static int wsgi_put(PyObject *d, const char *key, PyObject *value)
{
    int err = value == NULL || PyDict_SetItemString(d, key, value) < 0;

    Py_XDECREF(value);
    return err;
}

static PyObject *wsgi_metrics_worker(int i, int j)
{
    worker_score ws;
    PyObject *w = PyDict_New();
    int err = w == NULL;
    char status[2];

    if (err)
        return NULL;
    ap_copy_scoreboard_worker(&ws, i, j);
    status[0] = ws.status < SERVER_NUM_STATUS ? wsgi_status_chars[ws.status]
                                              : '?';
    status[1] = '\0';
    err |= wsgi_put(w, "thread_num", PyLong_FromLong(ws.thread_num));
    err |= wsgi_put(w, "generation", PyLong_FromLong(ws.generation));
    err |= wsgi_put(w, "status", PyUnicode_FromString(status));
    err |= wsgi_put(w, "access_count",
                    PyLong_FromUnsignedLong(ws.access_count));
    err |= wsgi_put(w, "bytes_served",
                    PyLong_FromLongLong((long long)ws.bytes_served));
    err |= wsgi_put(w, "start_time",
                    PyFloat_FromDouble(wsgi_secs(ws.start_time)));
    err |= wsgi_put(w, "stop_time",
                    PyFloat_FromDouble(wsgi_secs(ws.stop_time)));
    err |= wsgi_put(w, "last_used",
                    PyFloat_FromDouble(wsgi_secs(ws.last_used)));
    err |= wsgi_put(w, "client", wsgi_sb_str(ws.client64,
                                             sizeof(ws.client64)));
    err |= wsgi_put(w, "request", wsgi_sb_str(ws.request,
                                              sizeof(ws.request)));
    err |= wsgi_put(w, "vhost", wsgi_sb_str(ws.vhost, sizeof(ws.vhost)));
    if (err)
        Py_CLEAR(w);
    return w;
}

static PyObject *wsgi_metrics_process(int i, int threads)
{
    process_score *ps = ap_get_scoreboard_process(i);
    PyObject *p = PyDict_New(), *workers = PyList_New(0), *w;
    int j, err = p == NULL || workers == NULL;

    for (j = 0; !err && j < threads; j++) {
        w = wsgi_metrics_worker(i, j);
        err = w == NULL || PyList_Append(workers, w) < 0;
        Py_XDECREF(w);
    }
    if (!err) {
        err |= wsgi_put(p, "process_num", PyLong_FromLong(i));
        err |= wsgi_put(p, "pid", PyLong_FromLong((long)ps->pid));
        err |= wsgi_put(p, "generation", PyLong_FromLong(ps->generation));
        err |= wsgi_put(p, "quiescing", PyBool_FromLong(ps->quiescing));
        err |= PyDict_SetItemString(p, "workers", workers) < 0;
    }
    Py_XDECREF(workers);
    if (err)
        Py_CLEAR(p);
    return p;
}

/* The snapshot, or None when the scoreboard is not there (a process
 * started before it, which wsgi_pre_mpm avoids). */
PyObject *wsgi_metrics_server(void)
{
    global_score *g;
    PyObject *d, *procs, *p;
    apr_time_t now = apr_time_now();
    int i, err;

    if (!ap_exists_scoreboard_image())
        Py_RETURN_NONE;
    g = ap_get_scoreboard_global();
    d = PyDict_New();
    procs = PyList_New(0);
    err = d == NULL || procs == NULL;
    /* Apache's children only: a daemon process has no slot of its own. */
    for (i = 0; !err && i < g->server_limit; i++) {
        p = wsgi_metrics_process(i, g->thread_limit);
        err = p == NULL || PyList_Append(procs, p) < 0;
        Py_XDECREF(p);
    }
    if (!err) {
        err |= wsgi_put(d, "server_limit", PyLong_FromLong(g->server_limit));
        err |= wsgi_put(d, "thread_limit", PyLong_FromLong(g->thread_limit));
        err |= wsgi_put(d, "running_generation",
                        PyLong_FromLong(g->running_generation));
        err |= wsgi_put(d, "restart_time",
                        PyFloat_FromDouble(wsgi_secs(g->restart_time)));
        err |= wsgi_put(d, "current_time",
                        PyFloat_FromDouble(wsgi_secs(now)));
        err |= wsgi_put(d, "running_time",
                        PyFloat_FromDouble(wsgi_secs(now - g->restart_time)));
        err |= PyDict_SetItemString(d, "processes", procs) < 0;
    }
    Py_XDECREF(procs);
    if (err)
        Py_CLEAR(d);
    return d;
}
