/*
 * wsgi_interp.c: Python start-up in each Apache child, one interpreter per
 * application group, thread states cached per thread, and teardown.
 *
 * Python is only ever initialised in a child, after fork: the Apache
 * parent never holds interpreter state, so a graceful restart or a crash
 * of Python code can never take the parent down.
 */

#include "wsgi_common.h"

#include <fcntl.h>
#include <pthread.h>

#include "apr_atomic.h"

int wsgi_python_ready = 0;
int wsgi_multithread = 0;
int wsgi_multiprocess = 1;
int wsgi_max_processes = 1;
int wsgi_max_threads = 1;
apr_pool_t *wsgi_process_pool = NULL;
server_rec *wsgi_main_server = NULL;

static apr_thread_mutex_t *wsgi_interp_lock = NULL;
/* What interpreters are made of; used only with wsgi_interp_lock held
 * (or before threads exist): APR pools are not thread-safe, and the
 * MPM's own threads create pools under the process pool at any time. */
static apr_pool_t *wsgi_interp_pool = NULL;
static apr_hash_t *wsgi_interps = NULL;         /* name -> wsgi_interp */
static apr_array_header_t *wsgi_interp_list = NULL; /* creation order */
static wsgi_interp *wsgi_main_interp = NULL;
static apr_uint32_t wsgi_active_requests = 0;
/* How many interpreters run with a GIL of their own (never ended). */
static apr_uint32_t wsgi_own_gil_interps = 0;

/*
 * Each thread keeps one PyThreadState per interpreter it has run code in,
 * indexed by wsgi_interp.index, so a request never pays for creating one
 * after the first in that thread. Apache's worker threads live as long as
 * the process, like these states.
 */
static WSGI_THREAD_LOCAL PyThreadState **wsgi_tstates = NULL;
static WSGI_THREAD_LOCAL int wsgi_ntstates = 0;

/* Every such state, with its thread and interpreter, for the stack dump
 * of own-GIL processes (wsgi_interp_dump_own): appended under a lock of
 * its own (wsgi_interp_lock may be held already), never removed (the
 * states live as long). */
typedef struct {
    unsigned long tid;
    wsgi_interp *wi;
    PyThreadState *ts;
} wsgi_tstate_entry;
static wsgi_tstate_entry *wsgi_tstate_all = NULL;
static int wsgi_tstate_count = 0, wsgi_tstate_cap = 0;
static pthread_mutex_t wsgi_tstate_lock = PTHREAD_MUTEX_INITIALIZER;

/* Notes this thread's new state ts of wi (a failure only leaves it out
 * of a stack dump). */
static void wsgi_tstate_register(wsgi_interp *wi, PyThreadState *ts)
{
    pthread_mutex_lock(&wsgi_tstate_lock);
    if (wsgi_tstate_count == wsgi_tstate_cap) {
        int cap = wsgi_tstate_cap * 2 + 16;
        wsgi_tstate_entry *grown =
            realloc(wsgi_tstate_all, cap * sizeof(*grown));

        if (grown != NULL) {
            wsgi_tstate_all = grown;
            wsgi_tstate_cap = cap;
        }
    }
    if (wsgi_tstate_count < wsgi_tstate_cap) {
        wsgi_tstate_entry *e = &wsgi_tstate_all[wsgi_tstate_count++];

        e->tid = PyThread_get_thread_ident();
        e->wi = wi;
        e->ts = ts;
    }
    pthread_mutex_unlock(&wsgi_tstate_lock);
}

static PyThreadState *wsgi_tstate_new(wsgi_interp *wi)
{
    PyThreadState *ts = PyThreadState_New(wi->interp);

    if (ts != NULL)
        wsgi_tstate_register(wi, ts);
    return ts;
}

static PyThreadState **wsgi_tstate_slot(int index)
{
    if (index >= wsgi_ntstates) {
        int n = index + 8;
        PyThreadState **grown = realloc(wsgi_tstates, n * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        memset(grown + wsgi_ntstates, 0,
               (n - wsgi_ntstates) * sizeof(*grown));
        wsgi_tstates = grown;
        wsgi_ntstates = n;
    }
    return &wsgi_tstates[index];
}

/*
 * Returns this thread's state for the interpreter, creating it if need be.
 * The main interpreter's state is always created first in a thread: the
 * PyGILState API (used by C extensions calling back into Python) binds to
 * the first state a thread gets, and it must be the main interpreter's, or
 * %{GLOBAL} code would run in whichever sub-interpreter the thread served
 * first.
 */
static PyThreadState *wsgi_thread_state(wsgi_interp *wi)
{
    PyThreadState **slot = wsgi_tstate_slot(0);
    PyThreadState *ts = NULL;

    if (slot == NULL)
        goto done;
    if (*slot == NULL)
        *slot = wsgi_tstate_new(wsgi_main_interp);
    if (wi->index != 0) {
        slot = wsgi_tstate_slot(wi->index);
        if (slot == NULL)
            goto done;
        if (*slot == NULL)
            *slot = wsgi_tstate_new(wi);
    }
    ts = *slot;
done:
    return ts;
}

void wsgi_request_begin(void)
{
    apr_atomic_inc32(&wsgi_active_requests);
}

void wsgi_request_end(void)
{
    apr_atomic_dec32(&wsgi_active_requests);
}

/*
 * A new sub-interpreter, its state current (the main one's current on
 * entry, and again on failure, with *why from Python). With
 * WSGIPerInterpreterGIL On (3.12+) it has a GIL of its own (PEP 684):
 * Python releases the main GIL and takes the new one as it switches.
 * Own GIL needs its own allocator, which needs the check refusing
 * extensions not written for several interpreters (WSGI0513). Daemon
 * threads stay allowed: service scripts and the express reloader use
 * them, and only Py_EndInterpreter, never called on a used interpreter,
 * minds them. fork/exec stay refused as in PEP 684; subprocess works.
 */
static PyThreadState *wsgi_new_interpreter(const wsgi_interp_settings *is,
                                           int *own_gil, const char **why)
{
    PyThreadState *ts = NULL;

    *own_gil = 0;
    *why = "";
    (void)is;                   /* read from 3.12 on */
#if PY_VERSION_HEX >= 0x030C0000
    if (is->per_interpreter_gil > 0) {
        PyInterpreterConfig config = {
            .use_main_obmalloc = 0,
            .allow_fork = 0,
            .allow_exec = 0,
            .allow_threads = 1,
            .allow_daemon_threads = 1,
            .check_multi_interp_extensions = 1,
            .gil = PyInterpreterConfig_OWN_GIL,
        };
        PyStatus status = Py_NewInterpreterFromConfig(&ts, &config);

        if (PyStatus_Exception(status)) {
            ts = NULL;
            if (status.err_msg != NULL)
                *why = status.err_msg;
        }
        else
            *own_gil = 1;
    }
    else
#endif
        ts = Py_NewInterpreter();
    return ts;
}

/* Called with wsgi_interp_lock held and no GIL. */
static wsgi_interp *wsgi_create_interp(const char *name)
{
    wsgi_interp *wi = NULL, *made;
    PyThreadState *main_ts, *ts;
    wsgi_interp_settings is;
    const char *why;
    int own_gil;

    main_ts = wsgi_thread_state(wsgi_main_interp);
    if (main_ts == NULL)
        goto done;
    wsgi_interp_settings_for(name, &is);
    PyEval_RestoreThread(main_ts);
    ts = wsgi_new_interpreter(&is, &own_gil, &why);
    if (ts == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, wsgi_main_server,
                     WSGI_LOGNO(0103) "Python could not create the "
                     "sub-interpreter for application group '%s'%s%s",
                     name, *why ? ": " : "", why);
        PyEval_SaveThread();
        goto done;
    }
    made = apr_pcalloc(wsgi_interp_pool, sizeof(*made));
    made->own_gil = own_gil;
    if (own_gil)
        apr_atomic_inc32(&wsgi_own_gil_interps);
    made->name = apr_pstrdup(wsgi_interp_pool, name);
    made->index = wsgi_interp_list->nelts;
    made->interp = PyThreadState_GetInterpreter(ts);
    apr_thread_mutex_create(&made->load_lock, APR_THREAD_MUTEX_DEFAULT,
                            wsgi_interp_pool);
    *wsgi_tstate_slot(made->index) = ts;
    if (wsgi_interp_setup(made, &is) == 0) {
        wsgi_tstate_register(made, ts);
        apr_hash_set(wsgi_interps, made->name, APR_HASH_KEY_STRING, made);
        APR_ARRAY_PUSH(wsgi_interp_list, wsgi_interp *) = made;
        wi = made;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, wsgi_main_server,
                     "mod_wsgi (pid=%d): created interpreter '%s'%s",
                     (int)getpid(), name,
                     own_gil ? " with its own GIL" : "");
        PyEval_SaveThread();
    }
    else {
        /* Never reused: end it so its modules do not linger. */
        *wsgi_tstate_slot(made->index) = NULL;
        Py_EndInterpreter(ts);
        PyThreadState_Swap(main_ts);
        PyEval_SaveThread();
    }
done:
    return wi;
}

wsgi_interp *wsgi_acquire_interp(const char *name, request_rec *r)
{
    wsgi_interp *wi = NULL;
    PyThreadState *ts;

    if (!wsgi_python_ready) {
        if (r != NULL)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          WSGI_LOGNO(0104) "Python is not available in "
                          "this process (it failed to initialise at start, "
                          "see the earlier WSGI0101 message)");
        goto done;
    }
    apr_thread_mutex_lock(wsgi_interp_lock);
    wi = apr_hash_get(wsgi_interps, name, APR_HASH_KEY_STRING);
    if (wi == NULL)
        wi = wsgi_create_interp(name);
    apr_thread_mutex_unlock(wsgi_interp_lock);
    if (wi == NULL)
        goto done;
    ts = wsgi_thread_state(wi);
    if (ts == NULL) {
        wi = NULL;
        goto done;
    }
    PyEval_RestoreThread(ts);
done:
    return wi;
}

/* Raises exception `name` of the interpreter's mod_wsgi module in the
 * thread Python knows as tid, from a thread Python has never seen (see
 * interrupt-timeout in wsgi_monitor.c): a thread state of its own, made
 * and deleted here, so nothing is left behind. Returns whether a thread
 * got it. */
/*
 * From a thread of mod_wsgi's own that serves no request (interrupt-
 * timeout's helper, the signal dispatcher): wi entered with a thread
 * state made for this one visit, the GIL held. Returns that state, for
 * wsgi_interp_unvisit, or NULL; *module is the interpreter's mod_wsgi
 * module (borrowed) or NULL.
 */
static PyThreadState *wsgi_interp_visit(wsgi_interp *wi, PyObject **module)
{
    PyThreadState *ts = PyThreadState_New(wi->interp);

    *module = NULL;
    if (ts != NULL) {
        PyEval_RestoreThread(ts);
        *module = PyDict_GetItemString(PyImport_GetModuleDict(),
                                       "mod_wsgi");         /* borrowed */
    }
    return ts;
}

/* Leaves the visit: the state goes with the GIL, and any error with it. */
static void wsgi_interp_unvisit(PyThreadState *ts)
{
    PyErr_Clear();
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
}

/* The interpreters as they are now (requests may add some meanwhile),
 * for a helper thread to visit: a copy of our own, not pool memory the
 * process would keep; free() it. NULL (and *n 0) without memory. */
static wsgi_interp **wsgi_interp_snapshot(int *n)
{
    wsgi_interp **list;

    apr_thread_mutex_lock(wsgi_interp_lock);
    *n = wsgi_interp_list->nelts;
    list = malloc(*n * sizeof(*list) + 1);     /* + 1: never malloc(0) */
    if (list != NULL)
        memcpy(list, wsgi_interp_list->elts, *n * sizeof(*list));
    else
        *n = 0;
    apr_thread_mutex_unlock(wsgi_interp_lock);
    return list;
}

/*
 * A signal an application subscribed to (mod_wsgi.subscribe_signals), in
 * a daemon process, from its dispatcher thread: every interpreter's
 * callbacks run, each interpreter entered in turn with a thread state of
 * this thread's own.
 */
static void wsgi_interp_signal(int signum, const char *name)
{
    wsgi_interp **list;
    int i, n;

    if (!wsgi_python_ready)
        return;
    list = wsgi_interp_snapshot(&n);
    for (i = 0; i < n; i++) {
        PyObject *module, *res;
        PyThreadState *ts = wsgi_interp_visit(list[i], &module);

        if (ts == NULL)
            continue;
        res = module ? PyObject_CallMethod(module, "_process_signal", "is",
                                           signum, name)
                     : NULL;                                /* new */
        Py_XDECREF(res);
        wsgi_interp_unvisit(ts);
    }
    free(list);
}

/* The signals to deliver, by number, to the dispatcher thread; -1 until
 * it runs. */
static int wsgi_signal_pipe[2] = {-1, -1};

/* From a signal handler: 0 when the dispatcher will deliver sig, -1 when
 * there is none (the caller then does what it would without). */
int wsgi_interp_signal_post(int sig)
{
    unsigned char byte = (unsigned char)sig;
    int saved = errno, rc = -1;

    if (wsgi_signal_pipe[1] >= 0)
        rc = write(wsgi_signal_pipe[1], &byte, 1) == 1 || errno == EAGAIN
                 ? 0 : -1;      /* a full pipe: that many wait already */
    errno = saved;
    return rc;
}

/* The callbacks run here, one signal at a time, never in the handler
 * (which may interrupt any code, Python's allocator included). */
static void *APR_THREAD_FUNC wsgi_interp_signals(apr_thread_t *thread,
                                                 void *data)
{
    unsigned char sig;
    ssize_t n;

    (void)data;
    for (;;) {
        n = read(wsgi_signal_pipe[0], &sig, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        wsgi_interp_signal(sig, sig == SIGHUP ? "SIGHUP" : "SIGUSR2");
    }
    (void)thread;
    return NULL;
}

/* In a daemon process, once Python is up: the dispatcher thread. */
void wsgi_interp_signals_start(apr_pool_t *p)
{
    apr_threadattr_t *attr;
    apr_thread_t *t;

    if (pipe(wsgi_signal_pipe) < 0) {
        wsgi_signal_pipe[0] = wsgi_signal_pipe[1] = -1;
        return;
    }
    fcntl(wsgi_signal_pipe[1], F_SETFL,
          fcntl(wsgi_signal_pipe[1], F_GETFL) | O_NONBLOCK);
    apr_threadattr_create(&attr, p);
    apr_threadattr_detach_set(attr, 1);
    if (apr_thread_create(&t, attr, wsgi_interp_signals, NULL, p) !=
        APR_SUCCESS) {
        close(wsgi_signal_pipe[1]);
        wsgi_signal_pipe[1] = -1;
    }
}

/* {tid: note} for the dump (a new reference, or NULL). */
static PyObject *wsgi_dump_notes(const unsigned long *tids,
                                 const char *const *notes, int n)
{
    PyObject *d = PyDict_New();
    int i;

    for (i = 0; d != NULL && i < n; i++) {
        PyObject *k = PyLong_FromUnsignedLong(tids[i]);
        PyObject *v = PyUnicode_DecodeUTF8(notes[i], strlen(notes[i]),
                                           "replace");

        if (k != NULL && v != NULL)
            PyDict_SetItem(d, k, v);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    return d;
}

/*
 * The dump where an interpreter has a GIL of its own. sys._current_frames()
 * would read every interpreter's frames, and make frame objects for them,
 * from one interpreter while the others run: not safe. Instead each
 * interpreter is entered in turn, its GIL held, and only the frames of its
 * own request threads' states are read (PyThreadState_GetFrame), which no
 * thread can change meanwhile. Threads an application started itself are
 * not in the registry, so not shown here.
 */
static void wsgi_interp_dump_own(const char *head, const unsigned long *tids,
                                 const char *const *notes, int n,
                                 unsigned long only)
{
    wsgi_tstate_entry *all = NULL;
    wsgi_interp **list = NULL;
    int i, k, count = 0, ninterps = 0;

    ap_log_error(APLOG_MARK, APLOG_ERR, 0, wsgi_main_server, "%s", head);
    list = wsgi_interp_snapshot(&ninterps);
    pthread_mutex_lock(&wsgi_tstate_lock);
    all = malloc((wsgi_tstate_count + 1) * sizeof(*all));
    if (all != NULL) {
        count = wsgi_tstate_count;
        memcpy(all, wsgi_tstate_all, count * sizeof(*all));
    }
    pthread_mutex_unlock(&wsgi_tstate_lock);
    for (i = 0; all != NULL && i < ninterps; i++) {
        PyObject *module, *frames, *d = NULL, *res = NULL;
        PyThreadState *ts = wsgi_interp_visit(list[i], &module);
        char sub[200];

        if (ts == NULL)
            continue;
        frames = PyList_New(0);
        for (k = 0; frames != NULL && k < count; k++) {
            PyFrameObject *f;
            PyObject *pair;

            if (all[k].wi != list[i] || (only && all[k].tid != only))
                continue;
            f = PyThreadState_GetFrame(all[k].ts);          /* new */
            if (f == NULL)
                continue;           /* not in this interpreter now */
            pair = Py_BuildValue("(kN)", all[k].tid, f);    /* steals f */
            if (pair == NULL || PyList_Append(frames, pair) < 0)
                PyErr_Clear();
            Py_XDECREF(pair);
        }
        /* The notes are made in each interpreter: no object is shared. */
        if (module != NULL && frames != NULL && PyList_GET_SIZE(frames) > 0)
            d = wsgi_dump_notes(tids, notes, n);
        snprintf(sub, sizeof(sub), "in application group '%s'%s:",
                 list[i]->name, list[i]->own_gil ? " (its own GIL)" : "");
        if (d != NULL)
            res = PyObject_CallMethod(module, "_dump_stacks", "sOkO", sub, d,
                                      only, frames);
        Py_XDECREF(res);
        Py_XDECREF(d);
        Py_XDECREF(frames);
        wsgi_interp_unvisit(ts);
    }
    free(all);
    free(list);
}

/* sys._current_frames() of the main interpreter sees the threads of
 * every interpreter (their stacks are read, not run), so one visit there
 * shows them all, while the main GIL stops every thread it reads. Once an
 * interpreter has a GIL of its own that no longer holds: see above. */
void wsgi_interp_dump_stacks(const char *head, const unsigned long *tids,
                             const char *const *notes, int n,
                             unsigned long only)
{
    PyObject *module, *d, *res = NULL;
    PyThreadState *ts;

    if (!wsgi_python_ready || wsgi_main_interp == NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, wsgi_main_server, "%s", head);
        return;
    }
    if (apr_atomic_read32(&wsgi_own_gil_interps) > 0) {
        wsgi_interp_dump_own(head, tids, notes, n, only);
        return;
    }
    ts = wsgi_interp_visit(wsgi_main_interp, &module);
    if (ts == NULL)
        return;
    d = wsgi_dump_notes(tids, notes, n);
    if (module != NULL && d != NULL)
        res = PyObject_CallMethod(module, "_dump_stacks", "sOk", head, d,
                                  only);
    if (res == NULL)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, wsgi_main_server, "%s "
                     "(the stacks could not be read)", head);
    Py_XDECREF(res);
    Py_XDECREF(d);
    wsgi_interp_unvisit(ts);
}

int wsgi_interp_raise_in_thread(const char *agroup, unsigned long tid,
                                const char *name)
{
    wsgi_interp *wi;
    PyThreadState *ts;
    PyObject *module, *exc;
    int done = 0;

    if (!wsgi_python_ready || agroup == NULL)
        return 0;
    apr_thread_mutex_lock(wsgi_interp_lock);
    wi = apr_hash_get(wsgi_interps, agroup, APR_HASH_KEY_STRING);
    apr_thread_mutex_unlock(wsgi_interp_lock);
    ts = wi ? wsgi_interp_visit(wi, &module) : NULL;
    if (ts == NULL)
        return 0;
    exc = module ? PyObject_GetAttrString(module, name) : NULL;
    if (exc != NULL)
        done = PyThreadState_SetAsyncExc(tid, exc) == 1;
    Py_XDECREF(exc);
    wsgi_interp_unvisit(ts);
    return done;
}

void wsgi_release_interp(wsgi_interp *wi)
{
    (void)wi;
    PyEval_SaveThread();
}

/*
 * The interpreter layout of a virtual environment: Python finds a venv by
 * the pyvenv.cfg next to (or one level above) its executable, so for a
 * venv we give Python the venv's interpreter as program name and let it
 * compute prefix and paths itself; for a plain prefix we set home.
 */
static int wsgi_config_home(PyConfig *config, const char *home)
{
    apr_pool_t *p = wsgi_process_pool;
    const char *cfg = apr_pstrcat(p, home, "/pyvenv.cfg", NULL);
    apr_finfo_t fi;
    PyStatus st;

    if (apr_stat(&fi, cfg, APR_FINFO_TYPE, p) == APR_SUCCESS) {
        const char *names[] = {
            "/bin/python" APR_STRINGIFY(PY_MAJOR_VERSION) "."
                APR_STRINGIFY(PY_MINOR_VERSION),
            "/bin/python3", "/bin/python", NULL};
        const char *exe = apr_pstrcat(p, home, names[1], NULL);
        int i;

        for (i = 0; names[i]; i++) {
            const char *c = apr_pstrcat(p, home, names[i], NULL);

            if (apr_stat(&fi, c, APR_FINFO_TYPE, p) == APR_SUCCESS) {
                exe = c;
                break;
            }
        }
        st = PyConfig_SetBytesString(config, &config->program_name, exe);
    }
    else {
        st = PyConfig_SetBytesString(config, &config->home, home);
    }
    return PyStatus_Exception(st) ? -1 : 0;
}

static apr_status_t wsgi_python_term(void *data);

void wsgi_python_child_init(apr_pool_t *p, server_rec *s)
{
    wsgi_server_config *sc = wsgi_server;
    PyConfig config;
    PyStatus st;
    int i, threaded = 0;
    PyThreadState **slot;
    wsgi_interp_settings is;
    const char *home, *eggs;

    wsgi_process_pool = p;
    wsgi_main_server = s;
    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &wsgi_max_threads);
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &wsgi_max_processes);
    if (wsgi_max_threads < 1)
        wsgi_max_threads = 1;
    wsgi_multithread = threaded != AP_MPMQ_NOT_SUPPORTED &&
                       wsgi_max_threads > 1;
    /* httpd -X serves everything from one process. */
    if (ap_exists_config_define("ONE_PROCESS"))
        wsgi_max_processes = 1;
    wsgi_multiprocess = wsgi_max_processes > 1;
    if (wsgi_daemon_self != NULL) {
        /* Upstream's rule: giving processes= at all, even 1, says the
         * application may run in several processes. */
        wsgi_max_processes = wsgi_daemon_self->processes;
        wsgi_max_threads = wsgi_daemon_self->threads;
        wsgi_multiprocess = wsgi_daemon_self->processes_given;
        wsgi_multithread = wsgi_daemon_self->threads > 1;
    }

    apr_thread_mutex_create(&wsgi_interp_lock, APR_THREAD_MUTEX_DEFAULT, p);
    apr_pool_create(&wsgi_interp_pool, p);
    wsgi_interps = apr_hash_make(p);
    wsgi_interp_list = apr_array_make(p, 4, sizeof(wsgi_interp *));

    /* WSGIPythonEggs is embedded mode's, python-eggs= a group's. */
    eggs = wsgi_daemon_self ? wsgi_daemon_self->python_eggs : sc->python_eggs;
    if (eggs)
        setenv("PYTHON_EGG_CACHE", eggs, 1);

    PyConfig_InitPythonConfig(&config);
    /* Apache owns the signals of its processes. */
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    home = wsgi_daemon_self && wsgi_daemon_self->python_home
               ? wsgi_daemon_self->python_home : sc->python_home;
    if (home && wsgi_config_home(&config, home) < 0)
        goto fail;
    if (sc->python_optimize != WSGI_UNSET)
        config.optimization_level = sc->python_optimize;
    if (WSGI_SERVER_FLAG(sc, dont_write_bytecode))
        config.write_bytecode = 0;
    if (sc->python_hash_seed && strcmp(sc->python_hash_seed, "random")) {
        config.use_hash_seed = 1;
        config.hash_seed = (unsigned long)apr_atoi64(sc->python_hash_seed);
    }
    for (i = 0; i < sc->python_warnings->nelts; i++) {
        const char *w = APR_ARRAY_IDX(sc->python_warnings, i, const char *);
        wchar_t *ws = Py_DecodeLocale(w, NULL);

        if (ws == NULL)
            goto fail;
        st = PyWideStringList_Append(&config.warnoptions, ws);
        PyMem_RawFree(ws);
        if (PyStatus_Exception(st))
            goto fail;
    }
    wsgi_interp_settings_for(NULL, &is);
#ifdef Py_GIL_DISABLED
    /* PEP 703: with the GIL off only when asked (WSGIFreeThreading On);
     * 1 and 0 are CPython's "enable" and "disable" (-X gil=1/0). */
    config.enable_gil = is.free_threading > 0 ? 0 : 1;
#endif
    st = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(st)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     WSGI_LOGNO(0101) "Python %s failed to initialise in "
                     "process %d: %s%s%s; check WSGIPythonHome (now '%s')",
                     PY_VERSION, (int)getpid(),
                     st.func ? st.func : "", st.func ? ": " : "",
                     st.err_msg ? st.err_msg : "unknown error",
                     sc->python_home ? sc->python_home : "unset");
        PyConfig_Clear(&config);
        return;
    }
    PyConfig_Clear(&config);

    if (wsgi_types_ready() < 0) {
        wsgi_log_python_error(NULL, s, WSGI_LOGNO(0105) "could not "
                              "prepare mod_wsgi's Python types");
        PyEval_SaveThread();
        return;
    }

    wsgi_main_interp = apr_pcalloc(p, sizeof(*wsgi_main_interp));
    wsgi_main_interp->name = "";
    wsgi_main_interp->index = 0;
    wsgi_main_interp->interp = PyInterpreterState_Main();
    apr_thread_mutex_create(&wsgi_main_interp->load_lock,
                            APR_THREAD_MUTEX_DEFAULT, p);
    slot = wsgi_tstate_slot(0);
    *slot = PyThreadState_Get();
    wsgi_interp_settings_for("", &is);
    if (wsgi_interp_setup(wsgi_main_interp, &is) < 0) {
        PyEval_SaveThread();
        return;
    }
    apr_hash_set(wsgi_interps, "", APR_HASH_KEY_STRING, wsgi_main_interp);
    APR_ARRAY_PUSH(wsgi_interp_list, wsgi_interp *) = wsgi_main_interp;

    PyEval_SaveThread();
    wsgi_python_ready = 1;
    /* A pre-cleanup: APR destroys a pool's subpools before it runs its
     * ordinary cleanups, and the sub-interpreters live in a subpool
     * (wsgi_interp_pool). Freed, their memory was still read here; after
     * a large request that memory had gone back to the system, and the
     * child crashed on its way out. */
    apr_pool_pre_cleanup_register(p, NULL, wsgi_python_term);
    return;

fail:
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 WSGI_LOGNO(0106) "could not build the Python "
                 "configuration (out of memory or undecodable "
                 "WSGIPythonHome/WSGIPythonWarnings value)");
    PyConfig_Clear(&config);
}

/* Shutdown callbacks, then (when run_atexit) the atexit handlers, of
 * the interpreter current in this thread. */
static void wsgi_call_stopping(wsgi_interp *wi, int run_atexit)
{
    PyObject *module, *res, *atexit;

    module = PyDict_GetItemString(PyImport_GetModuleDict(), "mod_wsgi");
    if (module != NULL) {                               /* borrowed */
        res = PyObject_CallMethod(module, "_process_stopping", "s",
                                  "shutdown_signal");
        if (res == NULL)
            wsgi_log_python_error(NULL, wsgi_main_server, WSGI_LOGNO(0107)
                                  "shutdown callbacks of interpreter '%s' "
                                  "failed", wi->name);
        Py_XDECREF(res);
    }
    if (!run_atexit)
        return;
    /* Runs and forgets the handlers: they run once, whatever follows. */
    atexit = PyImport_ImportModule("atexit");
    res = atexit ? PyObject_CallMethod(atexit, "_run_exitfuncs", NULL)
                 : NULL;
    if (res == NULL)
        wsgi_log_python_error(NULL, wsgi_main_server, WSGI_LOGNO(0110)
                              "atexit handlers of interpreter '%s' failed",
                              wi->name);
    Py_XDECREF(res);
    Py_XDECREF(atexit);
}

/*
 * Child exit. Every interpreter runs its shutdown callbacks and (with
 * WSGIDestroyInterpreter On, the default) its atexit handlers, in its own
 * context, and flushes what it wrote to the log. Python is then left as it
 * is: the process exits right after. Finalising would wait for every
 * non-daemon thread an application started (the "hang at stop" Apache
 * ends with SIGKILL after seconds), and tearing down thread states that
 * worker threads or daemon threads still hold has crashed children on
 * their way out. What applications rely on at exit, atexit handlers and
 * shutdown callbacks, runs either way.
 */
static apr_status_t wsgi_python_term(void *data)
{
    PyThreadState *main_ts;
    int i, n, run_atexit = WSGI_SERVER_FLAG(wsgi_server, destroy_interpreter);
    apr_uint32_t active = apr_atomic_read32(&wsgi_active_requests);

    (void)data;
    wsgi_python_ready = 0;
    if (active > 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, wsgi_main_server,
                     WSGI_LOGNO(0108) "process %d exits with %u requests "
                     "still running; atexit handlers are not run",
                     (int)getpid(), active);
        return APR_SUCCESS;
    }
    main_ts = wsgi_thread_state(wsgi_main_interp);
    if (main_ts == NULL)
        return APR_SUCCESS;
    n = wsgi_interp_list->nelts;
    /* Each interpreter entered and left on its own, not swapped into
     * from another: with WSGIPerInterpreterGIL each has its own GIL. */
    for (i = n - 1; i >= 0; i--) {
        wsgi_interp *wi = APR_ARRAY_IDX(wsgi_interp_list, i, wsgi_interp *);
        PyThreadState *ts = i ? *wsgi_tstate_slot(wi->index) : main_ts;
        PyObject *res;

        if (ts == NULL)
            ts = PyThreadState_New(wi->interp);
        PyEval_RestoreThread(ts);
        wsgi_call_stopping(wi, run_atexit);
        res = PyObject_CallMethod(wi->log_stdout, "flush", NULL);
        Py_XDECREF(res);
        res = PyObject_CallMethod(wi->log_stderr, "flush", NULL);
        Py_XDECREF(res);
        PyErr_Clear();
        PyEval_SaveThread();
    }
    return APR_SUCCESS;
}

/*
 * The WSGIPythonHome check, done in the parent without Python: a prefix
 * or venv of another X.Y makes Python fail with "No module named
 * 'encodings'", which tells nobody what is wrong.
 */
const char *wsgi_python_home_check(apr_pool_t *p, const char *home)
{
    const char *built = APR_STRINGIFY(PY_MAJOR_VERSION) "."
                        APR_STRINGIFY(PY_MINOR_VERSION);
    const char *found = NULL, *err = NULL;
    apr_file_t *f;
    apr_dir_t *dir;
    apr_finfo_t fi;
    char line[512];

    if (apr_file_open(&f, apr_pstrcat(p, home, "/pyvenv.cfg", NULL),
                      APR_FOPEN_READ, 0, p) == APR_SUCCESS) {
        while (apr_file_gets(line, sizeof(line), f) == APR_SUCCESS) {
            char *k = line, *v = strchr(line, '=');
            int maj, min;

            if (v == NULL)
                continue;
            *v++ = '\0';
            /* apr_collapse_spaces() returns the end, not the start. */
            apr_collapse_spaces(k, k);
            if (strcmp(k, "version") && strcmp(k, "version_info"))
                continue;
            if (sscanf(v, " %d.%d", &maj, &min) == 2) {
                found = apr_psprintf(p, "%d.%d", maj, min);
                break;
            }
        }
        apr_file_close(f);
        if (found == NULL)
            goto done;
    }
    else if (apr_stat(&fi, apr_pstrcat(p, home, "/lib/python", built, NULL),
                      APR_FINFO_TYPE, p) == APR_SUCCESS) {
        goto done;
    }
    else if (apr_dir_open(&dir, apr_pstrcat(p, home, "/lib", NULL), p) ==
             APR_SUCCESS) {
        while (found == NULL &&
               apr_dir_read(&fi, APR_FINFO_NAME, dir) == APR_SUCCESS) {
            int maj, min;

            if (sscanf(fi.name, "python%d.%d", &maj, &min) == 2)
                found = apr_psprintf(p, "%d.%d", maj, min);
        }
        apr_dir_close(dir);
        if (found == NULL)
            err = apr_psprintf(p, "WSGIPythonHome '%s' is not a Python "
                               "prefix or virtual environment (no "
                               "pyvenv.cfg, no lib/python%s): set it to "
                               "the sys.prefix of a Python %s environment",
                               home, built, built);
    }
    else {
        err = apr_psprintf(p, "WSGIPythonHome '%s' is not a Python prefix "
                           "or virtual environment (no pyvenv.cfg, no "
                           "lib/): set it to the sys.prefix of a Python %s "
                           "environment", home, built);
    }
    if (found != NULL && strcmp(found, built))
        err = apr_psprintf(p, "WSGIPythonHome '%s' is a Python %s "
                           "environment, but this mod_wsgi was built for "
                           "Python %s: point WSGIPythonHome at a Python %s "
                           "virtual environment, or load a mod_wsgi built "
                           "for Python %s", home, found, built, built,
                           found);
done:
    return err;
}
