/*
 * wsgi_stats.c: what each request cost, added up per process, for
 * mod_wsgi.start_recording_metrics(), request_metrics() and
 * process_metrics() (upstream's internal metrics API: same names, same
 * shapes, so reporters written for it work), and the per-request figures
 * of the request_finished event.
 *
 * A request fills its wsgi_request_stats (on wsgi_serve_request's stack)
 * without a lock: its own thread is the only writer. At the end it is
 * added, under one mutex, to the process's totals and to the window that
 * request_metrics() drains. The mutex is held for a few additions: the
 * cost is one uncontended lock per request, with or without a reader.
 */

#include "wsgi_common.h"

#include "apr_atomic.h"

#include <math.h>
#include <sys/resource.h>

/* Upstream's histogram: 16 octaves from 1 ms (2^0 to 2^16 ms), 4 linear
 * sub-buckets each, and one for everything longer. */
#define WSGI_OCTAVES 16
#define WSGI_BUCKETS (WSGI_OCTAVES * 4 + 1)

enum {
    WSGI_PHASE_SERVER,
    WSGI_PHASE_QUEUE,
    WSGI_PHASE_DAEMON,
    WSGI_PHASE_APPLICATION,
    WSGI_PHASE_REQUEST,
    WSGI_PHASE_INPUT,
    WSGI_PHASE_OUTPUT,
    WSGI_PHASE_GIL,
    WSGI_PHASES
};

static const char *const wsgi_phase_names[WSGI_PHASES] = {
    "server_time", "queue_time", "daemon_time", "application_time",
    "request_time", "input_read_time", "output_write_time", "gil_wait_time"
};

typedef struct {
    apr_int64_t count, total_us, min_us, max_us;
    apr_int64_t buckets[WSGI_BUCKETS];
} wsgi_phase;

typedef struct {
    apr_int64_t completed;      /* requests done in the slot */
    apr_int64_t busy_us;        /* time inside requests */
    apr_int64_t max_us;         /* longest request */
    double cpu;                 /* CPU seconds of its requests */
} wsgi_slot_sum;

typedef struct {
    apr_time_t start;           /* window start */
    apr_int64_t requests, statuses[5];
    apr_int64_t input_bytes, input_reads, output_bytes, output_writes;
    apr_int64_t gil_waits;
    wsgi_phase phases[WSGI_PHASES];
    wsgi_slot_sum *slots;       /* wsgi_stats_nslots */
    struct rusage usage;        /* the process's, at the window start */
} wsgi_window;

static pthread_mutex_t wsgi_stats_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int wsgi_stats_recording = 0;
static int wsgi_stats_nslots = 0;
static wsgi_window wsgi_win;            /* drained by request_metrics() */
static apr_int64_t wsgi_life_requests;  /* since the process started */
static apr_int64_t wsgi_life_busy_us;
static apr_int64_t *wsgi_life_slot_requests;
static apr_time_t *wsgi_slot_since;     /* 0: idle, else request start */
/* For WSGISlowRequests: each slot's request, thread, and whether it was
 * logged as slow already. */
typedef struct {
    char what[160];
    unsigned long tid;
    int logged;
} wsgi_slot_note;
static wsgi_slot_note *wsgi_slot_notes;
static int wsgi_watch_started = 0;
static int wsgi_slots_started;          /* slots that served a request */
static apr_time_t wsgi_process_start;

/* Embedded mode has no worker slots of ours: each of Apache's threads
 * takes the next number on its first request. */
static WSGI_THREAD_LOCAL int wsgi_stats_thread_slot = -1;
static apr_uint32_t wsgi_stats_next_slot = 0;

static int wsgi_stats_slot(void)
{
    if (wsgi_monitor_slot >= 0)
        return wsgi_monitor_slot;
    if (wsgi_stats_thread_slot < 0)
        wsgi_stats_thread_slot =
            (int)apr_atomic_inc32(&wsgi_stats_next_slot);
    return wsgi_stats_thread_slot;
}

/* Sets up the per-slot arrays once; with the lock held. */
static int wsgi_stats_ready(void)
{
    int n = wsgi_max_threads > 0 ? wsgi_max_threads : 1;

    if (wsgi_stats_nslots > 0)
        return 1;
    wsgi_win.slots = calloc((size_t)n, sizeof(*wsgi_win.slots));
    wsgi_life_slot_requests = calloc((size_t)n, sizeof(apr_int64_t));
    wsgi_slot_since = calloc((size_t)n, sizeof(apr_time_t));
    wsgi_slot_notes = calloc((size_t)n, sizeof(*wsgi_slot_notes));
    if (wsgi_win.slots == NULL || wsgi_life_slot_requests == NULL ||
        wsgi_slot_since == NULL || wsgi_slot_notes == NULL)
        return 0;
    wsgi_stats_nslots = n;
    wsgi_process_start = apr_time_now();
    return 1;
}

static double wsgi_tv(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The calling thread's CPU seconds (Linux), else 0. */
static void wsgi_thread_cpu(double *user, double *sys)
{
    struct rusage ru;

#ifdef RUSAGE_THREAD
    if (getrusage(RUSAGE_THREAD, &ru) == 0) {
        *user = wsgi_tv(ru.ru_utime);
        *sys = wsgi_tv(ru.ru_stime);
        return;
    }
#endif
    *user = *sys = 0;
}

/*
 * WSGISlowRequests: a thread of the process looks at the slots four
 * times a threshold (at most every half second) and logs each request
 * past it once (WSGI0306), with the Python stack of its thread. Both
 * modes: it starts with the first request that finds it missing.
 */
static void *wsgi_stats_watch(void *data)
{
    double limit = *(double *)data;
    apr_interval_time_t every = (apr_interval_time_t)(limit * 1e6 / 4);
    char head[400], what[160];
    int i;

    if (every > apr_time_from_msec(500))
        every = apr_time_from_msec(500);
    for (;;) {
        apr_sleep(every);
        for (i = 0; i < wsgi_stats_nslots; i++) {
            apr_time_t now = apr_time_now(), since;
            unsigned long tid = 0;

            pthread_mutex_lock(&wsgi_stats_lock);
            since = wsgi_slot_since[i];
            if (since > 0 && !wsgi_slot_notes[i].logged &&
                now - since >= (apr_interval_time_t)(limit * 1e6)) {
                wsgi_slot_notes[i].logged = 1;
                tid = wsgi_slot_notes[i].tid;
                apr_cpystrn(what, wsgi_slot_notes[i].what, sizeof(what));
            }
            pthread_mutex_unlock(&wsgi_stats_lock);
            if (tid == 0)
                continue;
            wsgi_prom_slow();
            snprintf(head, sizeof(head), WSGI_LOGNO(0306) "slow request "
                     "(pid %d%s%s): %s has run for %.1f s, more than "
                     "WSGISlowRequests %g; its thread's Python stack:",
                     (int)getpid(), wsgi_daemon_self ? ", daemon group " : "",
                     wsgi_daemon_self ? wsgi_daemon_self->name : "", what,
                     (double)(now - since) / 1e6, limit);
            wsgi_interp_dump_stacks(head, &tid, NULL, 0, tid);
        }
    }
    return NULL;
}

static void wsgi_stats_watch_start(void)
{
    static double limit;
    pthread_attr_t attr;
    pthread_t t;

    limit = wsgi_server != NULL ? wsgi_server->slow_requests : 0;
    if (limit <= 0)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, wsgi_stats_watch, &limit);
    pthread_attr_destroy(&attr);
}

void wsgi_stats_begin(wsgi_request_stats *st, apr_time_t request_start,
                      apr_time_t accepted, const char *what)
{
    int watch = 0;

    memset(st, 0, sizeof(*st));
    st->request_start = request_start;
    st->accepted = accepted;
    st->begin = apr_time_now();
    st->slot = wsgi_stats_slot();
    wsgi_thread_cpu(&st->cpu_user, &st->cpu_sys);
    pthread_mutex_lock(&wsgi_stats_lock);
    if (wsgi_stats_ready()) {
        if (st->slot >= wsgi_stats_nslots)
            st->slot = wsgi_stats_nslots - 1;
        if (wsgi_life_slot_requests[st->slot] == 0 &&
            wsgi_slot_since[st->slot] == 0)
            wsgi_slots_started++;
        wsgi_slot_since[st->slot] = st->begin;
        wsgi_slot_notes[st->slot].tid = PyThread_get_thread_ident();
        wsgi_slot_notes[st->slot].logged = 0;
        apr_cpystrn(wsgi_slot_notes[st->slot].what, what ? what : "?",
                    sizeof(wsgi_slot_notes[st->slot].what));
        watch = !wsgi_watch_started;
        wsgi_watch_started = 1;
    }
    pthread_mutex_unlock(&wsgi_stats_lock);
    wsgi_prom_busy(1);
    if (watch)
        wsgi_stats_watch_start();
}

void wsgi_stats_io(wsgi_request_stats *st, int output, apr_off_t bytes,
                   apr_time_t before, apr_time_t after)
{
    if (st == NULL)
        return;
    if (output) {
        st->output_writes++;
        st->output_bytes += bytes > 0 ? bytes : 0;
        st->output_time += after - before;
    }
    else {
        st->input_reads++;
        st->input_bytes += bytes > 0 ? bytes : 0;
        st->input_time += after - before;
    }
    wsgi_stats_gil(st, after);
}

void wsgi_stats_gil(wsgi_request_stats *st, apr_time_t released)
{
    apr_interval_time_t wait = apr_time_now() - released;

    if (st == NULL)
        return;
    st->gil_wait += wait;
    st->gil_waits++;
    if (wait > st->gil_wait_max)
        st->gil_wait_max = wait;
}

void wsgi_stats_finish(wsgi_request_stats *st)
{
    double user, sys;

    st->end = apr_time_now();
    wsgi_thread_cpu(&user, &sys);
    st->cpu_user = user - st->cpu_user;
    st->cpu_sys = sys - st->cpu_sys;
    st->finished = 1;
}

/* A phase's time and its histogram bucket, worked out before the lock
 * is taken: the log2 is the costly part, and under the lock it made the
 * 16 threads of a child queue for it (context switches per request went
 * from 2.2 to 3.4 with recording on, at 16 concurrent). */
typedef struct {
    apr_interval_time_t us;
    int bucket;
} wsgi_phase_sample;

static wsgi_phase_sample wsgi_phase_of(apr_interval_time_t us)
{
    wsgi_phase_sample x;
    double ms;

    x.us = us < 0 ? 0 : us;
    ms = (double)x.us / 1000.0;
    if (ms < 1.0)
        x.bucket = 0;
    else if (ms >= ldexp(1.0, WSGI_OCTAVES))
        x.bucket = WSGI_BUCKETS - 1;
    else {
        int octave = (int)floor(log2(ms));

        x.bucket = octave * 4 + (int)((ms / ldexp(1.0, octave) - 1.0) * 4.0);
    }
    return x;
}

/* Under wsgi_stats_lock. */
static void wsgi_phase_add(wsgi_phase *ph, wsgi_phase_sample x)
{
    if (ph->count == 0 || x.us < ph->min_us)
        ph->min_us = x.us;
    if (x.us > ph->max_us)
        ph->max_us = x.us;
    ph->count++;
    ph->total_us += x.us;
    ph->buckets[x.bucket]++;
}

/* Adds a finished request to the window and the process's totals. */
void wsgi_stats_record(wsgi_request_stats *st)
{
    wsgi_phase_sample x[WSGI_PHASES];
    apr_interval_time_t took;
    wsgi_slot_sum *slot;
    int cls, i, queued, have;

    if (!st->finished)
        wsgi_stats_finish(st);
    took = st->end - st->begin;
    cls = st->status >= 100 && st->status < 600 ? st->status / 100 - 1 : 4;
    queued = st->accepted > 0;
    wsgi_prom_busy(-1);
    wsgi_prom_request(st->status,
                      queued ? st->accepted - st->request_start : -1,
                      st->app_finish > st->app_start
                          ? st->app_finish - st->app_start : 0,
                      st->end - st->request_start);
    have = wsgi_stats_recording;    /* the lock decides; see below */
    if (have) {
        x[WSGI_PHASE_SERVER] = wsgi_phase_of(st->end - st->request_start);
        x[WSGI_PHASE_REQUEST] = x[WSGI_PHASE_SERVER];
        if (queued) {               /* daemon mode only; read so below */
            x[WSGI_PHASE_QUEUE] =
                wsgi_phase_of(st->accepted - st->request_start);
            x[WSGI_PHASE_DAEMON] = wsgi_phase_of(st->end - st->accepted);
        }
        x[WSGI_PHASE_APPLICATION] =
            wsgi_phase_of(st->app_finish - st->app_start);
        x[WSGI_PHASE_INPUT] = wsgi_phase_of(st->input_time);
        x[WSGI_PHASE_OUTPUT] = wsgi_phase_of(st->output_time);
        x[WSGI_PHASE_GIL] = wsgi_phase_of(st->gil_wait);
    }
    pthread_mutex_lock(&wsgi_stats_lock);
    if (!wsgi_stats_ready())
        goto done;
    wsgi_slot_since[st->slot] = 0;
    wsgi_life_requests++;
    wsgi_life_busy_us += took;
    wsgi_life_slot_requests[st->slot]++;
    /* A window started meanwhile takes this request's next one. */
    if (!wsgi_stats_recording || !have)
        goto done;
    wsgi_win.requests++;
    wsgi_win.statuses[cls]++;
    wsgi_win.input_bytes += st->input_bytes;
    wsgi_win.input_reads += st->input_reads;
    wsgi_win.output_bytes += st->output_bytes;
    wsgi_win.output_writes += st->output_writes;
    wsgi_win.gil_waits += st->gil_waits;
    slot = &wsgi_win.slots[st->slot];
    slot->completed++;
    /* Only the part of a long request inside this window is busy here:
     * the earlier part was counted when an earlier window was drained. */
    slot->busy_us += st->end - (st->begin > wsgi_win.start ? st->begin
                                                          : wsgi_win.start);
    if (took > slot->max_us)
        slot->max_us = took;
    slot->cpu += st->cpu_user + st->cpu_sys;
    for (i = 0; i < WSGI_PHASES; i++) {
        if (queued || (i != WSGI_PHASE_QUEUE && i != WSGI_PHASE_DAEMON))
            wsgi_phase_add(&wsgi_win.phases[i], x[i]);
    }
done:
    pthread_mutex_unlock(&wsgi_stats_lock);
}

/* ------------------------------------------------------- Python side */

static int wsgi_put(PyObject *d, const char *key, PyObject *value)
{
    int rc = value != NULL ? PyDict_SetItemString(d, key, value) : -1;

    Py_XDECREF(value);                  /* the new reference made here */
    return rc < 0;
}

static PyObject *wsgi_seconds_of(apr_time_t t)
{
    return PyFloat_FromDouble((double)t / APR_USEC_PER_SEC);
}

static PyObject *wsgi_us_or_none(int have, apr_int64_t us)
{
    if (!have)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(us);
}

/* RSS now and at most, in bytes. */
static void wsgi_memory(apr_int64_t *rss, apr_int64_t *max_rss,
                        const struct rusage *ru)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    *rss = (apr_int64_t)resident * sysconf(_SC_PAGESIZE);
    *max_rss = (apr_int64_t)ru->ru_maxrss * 1024;
}

static int wsgi_put_phases(PyObject *d, const wsgi_window *w, int daemon)
{
    char key[64];
    int i, b, err = 0;

    for (i = 0; i < WSGI_PHASES; i++) {
        const wsgi_phase *ph = &w->phases[i];
        int have = ph->count > 0 &&
                   (daemon || (i != WSGI_PHASE_QUEUE &&
                               i != WSGI_PHASE_DAEMON));
        const char *name = wsgi_phase_names[i];
        PyObject *buckets = PyList_New(WSGI_BUCKETS);

        if (i == WSGI_PHASE_GIL)
            /* Upstream's mean GIL wait is per request, not per wait. */
            err |= wsgi_put(d, name, PyFloat_FromDouble(
                w->requests ? (double)ph->total_us / 1e6 / w->requests
                            : 0.0));
        else if (!daemon && (i == WSGI_PHASE_QUEUE ||
                             i == WSGI_PHASE_DAEMON)) {
            Py_INCREF(Py_None);
            err |= wsgi_put(d, name, Py_None);
        }
        else
            err |= wsgi_put(d, name, PyFloat_FromDouble(
                ph->count ? (double)ph->total_us / 1e6 / ph->count : 0.0));
        snprintf(key, sizeof(key), "%s_min_us", name);
        err |= wsgi_put(d, key,
                        wsgi_us_or_none(have, ph->min_us));
        snprintf(key, sizeof(key), "%s_max_us", name);
        err |= wsgi_put(d, key,
                        wsgi_us_or_none(have, ph->max_us));
        for (b = 0; buckets != NULL && b < WSGI_BUCKETS; b++)
            PyList_SET_ITEM(buckets, b,
                            PyLong_FromLongLong(ph->buckets[b]));
        snprintf(key, sizeof(key), "%s_buckets", name);
        err |= wsgi_put(d, key, buckets);
    }
    return err;
}

static PyObject *wsgi_slot_list(const wsgi_window *w, int what,
                                apr_time_t now)
{
    PyObject *list = PyList_New(wsgi_stats_nslots);
    int i;

    for (i = 0; list != NULL && i < wsgi_stats_nslots; i++) {
        const wsgi_slot_sum *s = &w->slots[i];
        apr_time_t since = wsgi_slot_since[i];
        apr_int64_t tail = since > 0 ? now - (since > w->start ? since
                                                               : w->start)
                                     : 0;
        PyObject *v;

        if (what == 0)
            v = PyLong_FromLongLong(s->completed);
        else if (what == 1)
            v = PyFloat_FromDouble((double)(s->busy_us + tail) / 1e6);
        else if (what == 2)
            v = PyFloat_FromDouble(s->cpu);
        else if (what == 3)
            v = PyFloat_FromDouble(since > 0 ? (double)(now - since) / 1e6
                                             : 0.0);
        else
            v = PyFloat_FromDouble((double)s->max_us / 1e6);
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static int wsgi_put_capacity(PyObject *d, const wsgi_window *w,
                             apr_time_t now, double period)
{
    apr_int64_t busy = 0;
    int i, active = 0, err = 0;

    for (i = 0; i < wsgi_stats_nslots; i++) {
        apr_time_t since = wsgi_slot_since[i];

        busy += w->slots[i].busy_us;
        if (since > 0)
            busy += now - (since > w->start ? since : w->start);
        if (w->slots[i].completed > 0 || since > 0)
            active++;
    }
    err |= wsgi_put(d, "request_threads_maximum",
                    PyLong_FromLong(wsgi_stats_nslots));
    err |= wsgi_put(d, "request_threads_started",
                    PyLong_FromLong(wsgi_slots_started));
    err |= wsgi_put(d, "request_threads_active", PyLong_FromLong(active));
    err |= wsgi_put(d, "capacity_utilization", PyFloat_FromDouble(
        period > 0 ? (double)busy / 1e6 / (period * wsgi_stats_nslots)
                   : 0.0));
    err |= wsgi_put(d, "request_threads_completed", wsgi_slot_list(w, 0, now));
    err |= wsgi_put(d, "request_threads_buckets", wsgi_slot_list(w, 0, now));
    err |= wsgi_put(d, "request_threads_busy_time", wsgi_slot_list(w, 1, now));
    err |= wsgi_put(d, "request_threads_cpu_time", wsgi_slot_list(w, 2, now));
    err |= wsgi_put(d, "request_threads_current_elapsed",
                    wsgi_slot_list(w, 3, now));
    err |= wsgi_put(d, "request_threads_max_duration",
                    wsgi_slot_list(w, 4, now));
    return err;
}

static int wsgi_put_usage(PyObject *d, const struct rusage *then,
                          const struct rusage *now, double period)
{
    double user = wsgi_tv(now->ru_utime) - wsgi_tv(then->ru_utime);
    double sys = wsgi_tv(now->ru_stime) - wsgi_tv(then->ru_stime);
    apr_int64_t rss, max_rss;
    int err = 0;

    if (period <= 0)
        period = 1e-6;
    wsgi_memory(&rss, &max_rss, now);
    err |= wsgi_put(d, "cpu_user_utilization",
                    PyFloat_FromDouble(user / period));
    err |= wsgi_put(d, "cpu_system_utilization",
                    PyFloat_FromDouble(sys / period));
    err |= wsgi_put(d, "cpu_utilization",
                    PyFloat_FromDouble((user + sys) / period));
    /* Upstream's older names for the same rates. */
    err |= wsgi_put(d, "cpu_user_time", PyFloat_FromDouble(user / period));
    err |= wsgi_put(d, "cpu_system_time", PyFloat_FromDouble(sys / period));
    err |= wsgi_put(d, "cpu_time", PyFloat_FromDouble((user + sys) / period));
    err |= wsgi_put(d, "memory_rss", PyLong_FromLongLong(rss));
    err |= wsgi_put(d, "memory_max_rss", PyLong_FromLongLong(max_rss));
    return err;
}

/* request_metrics(): the window since the last call, then a new one. */
static PyObject *wsgi_stats_request_metrics(void)
{
    static const char *const classes[5] = {
        "status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx"
    };
    wsgi_window w;
    struct rusage now_ru;
    PyObject *d = NULL;
    apr_time_t now;
    double period;
    int i, err = 0;

    if (!wsgi_stats_recording)
        Py_RETURN_NONE;
    getrusage(RUSAGE_SELF, &now_ru);
    pthread_mutex_lock(&wsgi_stats_lock);
    if (!wsgi_stats_ready()) {
        pthread_mutex_unlock(&wsgi_stats_lock);
        return PyErr_NoMemory();
    }
    now = apr_time_now();
    w = wsgi_win;       /* the slots stay shared until the copy is done */
    w.slots = malloc(wsgi_stats_nslots * sizeof(*w.slots));
    if (w.slots != NULL)
        memcpy(w.slots, wsgi_win.slots,
               wsgi_stats_nslots * sizeof(*w.slots));
    memset(wsgi_win.slots, 0, wsgi_stats_nslots * sizeof(*w.slots));
    {
        wsgi_slot_sum *keep = wsgi_win.slots;

        memset(&wsgi_win, 0, sizeof(wsgi_win));
        wsgi_win.slots = keep;
    }
    wsgi_win.start = now;
    wsgi_win.usage = now_ru;
    pthread_mutex_unlock(&wsgi_stats_lock);
    if (w.slots == NULL)
        return PyErr_NoMemory();

    period = (double)(now - w.start) / 1e6;
    d = PyDict_New();
    if (d == NULL)
        goto done;
    err |= wsgi_put(d, "pid", PyLong_FromLong((long)getpid()));
    err |= wsgi_put(d, "start_time", wsgi_seconds_of(w.start));
    err |= wsgi_put(d, "stop_time", wsgi_seconds_of(now));
    err |= wsgi_put(d, "sample_period", PyFloat_FromDouble(period));
    err |= wsgi_put(d, "request_count", PyLong_FromLongLong(w.requests));
    err |= wsgi_put(d, "request_throughput", PyFloat_FromDouble(
        period > 0 ? w.requests / period : 0.0));
    err |= wsgi_put_capacity(d, &w, now, period);
    err |= wsgi_put_phases(d, &w, wsgi_daemon_self != NULL);
    err |= wsgi_put(d, "gil_wait_count", PyLong_FromLongLong(w.gil_waits));
    err |= wsgi_put(d, "input_bytes", PyLong_FromLongLong(w.input_bytes));
    err |= wsgi_put(d, "input_reads", PyLong_FromLongLong(w.input_reads));
    err |= wsgi_put(d, "output_bytes", PyLong_FromLongLong(w.output_bytes));
    err |= wsgi_put(d, "output_writes",
                    PyLong_FromLongLong(w.output_writes));
    for (i = 0; i < 5; i++)
        err |= wsgi_put(d, classes[i], PyLong_FromLongLong(w.statuses[i]));
    err |= wsgi_put_usage(d, &w.usage, &now_ru, period);
    if (err)
        Py_CLEAR(d);
done:
    free(w.slots);
    return d;
}

/* Requests running now, by the slots they hold. */
static int wsgi_stats_in_flight(void)
{
    int i, n = 0;

    pthread_mutex_lock(&wsgi_stats_lock);
    for (i = 0; i < wsgi_stats_nslots; i++)
        n += wsgi_slot_since[i] > 0;
    pthread_mutex_unlock(&wsgi_stats_lock);
    return n;
}

/* process_metrics(): totals since the process started. */
static PyObject *wsgi_stats_process_metrics(void)
{
    struct rusage ru;
    PyObject *d, *threads = NULL;
    apr_int64_t rss, max_rss;
    apr_time_t now = apr_time_now();
    int i, err = 0;

    if (!wsgi_stats_recording)
        Py_RETURN_NONE;
    getrusage(RUSAGE_SELF, &ru);
    wsgi_memory(&rss, &max_rss, &ru);
    d = PyDict_New();
    if (d == NULL)
        return NULL;
    pthread_mutex_lock(&wsgi_stats_lock);
    if (wsgi_stats_ready()) {
        threads = PyList_New(wsgi_stats_nslots);
        for (i = 0; threads != NULL && i < wsgi_stats_nslots; i++)
            PyList_SET_ITEM(threads, i, Py_BuildValue(
                "{s:i,s:L}", "thread_id", i + 1, "request_count",
                (long long)wsgi_life_slot_requests[i]));
        err |= wsgi_put(d, "request_count",
                        PyLong_FromLongLong(wsgi_life_requests));
        err |= wsgi_put(d, "request_busy_time", PyFloat_FromDouble(
            (double)wsgi_life_busy_us / 1e6));
        err |= wsgi_put(d, "request_threads",
                        PyLong_FromLong(wsgi_slots_started));
    }
    pthread_mutex_unlock(&wsgi_stats_lock);
    err |= threads == NULL;
    err |= wsgi_put(d, "pid", PyLong_FromLong((long)getpid()));
    err |= wsgi_put(d, "restart_time", wsgi_seconds_of(wsgi_process_start));
    err |= wsgi_put(d, "current_time", wsgi_seconds_of(now));
    err |= wsgi_put(d, "running_time", PyLong_FromLongLong(
        apr_time_sec(now - wsgi_process_start)));
    err |= wsgi_put(d, "active_requests", PyLong_FromLong(
        (long)wsgi_stats_in_flight()));
    err |= wsgi_put(d, "cpu_user_time",
                    PyFloat_FromDouble(wsgi_tv(ru.ru_utime)));
    err |= wsgi_put(d, "cpu_system_time",
                    PyFloat_FromDouble(wsgi_tv(ru.ru_stime)));
    err |= wsgi_put(d, "cpu_time", PyFloat_FromDouble(
        wsgi_tv(ru.ru_utime) + wsgi_tv(ru.ru_stime)));
    err |= wsgi_put(d, "memory_rss", PyLong_FromLongLong(rss));
    err |= wsgi_put(d, "memory_max_rss", PyLong_FromLongLong(max_rss));
    err |= wsgi_put(d, "threads", threads);
    if (err)
        Py_CLEAR(d);
    return d;
}

/* start_recording_metrics(): idempotent; the first window starts now. */
static void wsgi_stats_start_recording(void)
{
    pthread_mutex_lock(&wsgi_stats_lock);
    if (!wsgi_stats_recording && wsgi_stats_ready()) {
        wsgi_win.start = apr_time_now();
        getrusage(RUSAGE_SELF, &wsgi_win.usage);
        wsgi_stats_recording = 1;
    }
    pthread_mutex_unlock(&wsgi_stats_lock);
}

static PyObject *wsgi_mod_start_recording(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    wsgi_stats_start_recording();
    Py_RETURN_NONE;
}

static PyObject *wsgi_mod_request_metrics(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return wsgi_stats_request_metrics();
}

static PyObject *wsgi_mod_process_metrics(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return wsgi_stats_process_metrics();
}

/* The mod_wsgi module's functions of this file (wsgi_module_create adds
 * them). */
PyMethodDef wsgi_stats_methods[] = {
    {"start_recording_metrics", wsgi_mod_start_recording, METH_NOARGS,
     "Start counting requests for request_metrics()/process_metrics()."},
    {"request_metrics", wsgi_mod_request_metrics, METH_NOARGS,
     "This process's figures since the last call (then a new window), or "
     "None before start_recording_metrics()."},
    {"process_metrics", wsgi_mod_process_metrics, METH_NOARGS,
     "This process's totals since it started, or None before "
     "start_recording_metrics()."},
    {NULL}
};

/* ------------------------------------------------------------ events */

/* The fields of every request event (upstream's names). */
static PyObject *wsgi_event_new(const wsgi_request_stats *st)
{
    PyObject *d = PyDict_New();
    int err = 0;

    if (d == NULL)
        return NULL;
    if (st->rd != NULL && st->rd->id != NULL)
        err |= PyDict_SetItemString(d, "request_id", st->rd->id) < 0;
    if (st->rd != NULL && st->rd->data != NULL)
        err |= PyDict_SetItemString(d, "request_data", st->rd->data) < 0;
    err |= wsgi_put(d, "thread_id", PyLong_FromLong(st->slot + 1));
    if (err)
        Py_CLEAR(d);
    return d;
}

static int wsgi_event_times(PyObject *d, const wsgi_request_stats *st)
{
    int err = 0;

    err |= wsgi_put(d, "server_pid", PyLong_FromLong(st->server_pid));
    err |= wsgi_put(d, "request_start", wsgi_seconds_of(st->request_start));
    err |= wsgi_put(d, "queue_start", wsgi_seconds_of(st->accepted));
    err |= wsgi_put(d, "daemon_start", wsgi_seconds_of(st->accepted));
    err |= wsgi_put(d, "application_start", wsgi_seconds_of(st->app_start));
    return err;
}

PyObject *wsgi_event_started(wsgi_request_stats *st, PyObject *environ,
                             PyObject *application)
{
    PyObject *d = wsgi_event_new(st);
    int err = d == NULL;

    if (err)
        return NULL;
    err |= PyDict_SetItemString(d, "request_environ", environ) < 0;
    err |= PyDict_SetItemString(d, "application_object", application) < 0;
    err |= wsgi_event_times(d, st);
    /* Each request has its own connection to the daemon, made once. */
    err |= wsgi_put(d, "daemon_connects",
                    PyLong_FromLong(st->accepted > 0 ? 1 : 0));
    err |= wsgi_put(d, "daemon_restarts", PyLong_FromLong(0));
    if (err)
        Py_CLEAR(d);
    return d;
}

PyObject *wsgi_event_response(wsgi_request_stats *st, PyObject *status,
                              PyObject *headers, PyObject *exc_info)
{
    PyObject *d = wsgi_event_new(st);
    int err = d == NULL;

    if (err)
        return NULL;
    err |= PyDict_SetItemString(d, "response_status", status) < 0;
    err |= PyDict_SetItemString(d, "response_headers", headers) < 0;
    err |= PyDict_SetItemString(d, "exception_info", exc_info) < 0;
    if (err)
        Py_CLEAR(d);
    return d;
}

/* request_exception: the error pending now, as (type, value, traceback);
 * it stays pending. */
PyObject *wsgi_event_exception(wsgi_request_stats *st)
{
    PyObject *d, *et, *ev, *etb, *info;
    int err;

    PyErr_Fetch(&et, &ev, &etb);
    PyErr_NormalizeException(&et, &ev, &etb);
    if (ev != NULL && etb != NULL)
        PyException_SetTraceback(ev, etb);
    info = Py_BuildValue("(OOO)", et ? et : Py_None, ev ? ev : Py_None,
                         etb ? etb : Py_None);
    d = wsgi_event_new(st);
    err = d == NULL || info == NULL ||
          PyDict_SetItemString(d, "exception_info", info) < 0;
    Py_XDECREF(info);
    if (err)
        Py_CLEAR(d);
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
    return d;
}

PyObject *wsgi_event_finished(wsgi_request_stats *st)
{
    PyObject *d = wsgi_event_new(st);
    int err = d == NULL;

    if (err)
        return NULL;
    err |= wsgi_event_times(d, st);
    err |= wsgi_put(d, "application_finish",
                    wsgi_seconds_of(st->app_finish));
    err |= wsgi_put(d, "application_time", PyFloat_FromDouble(
        (double)(st->app_finish - st->app_start) / 1e6));
    err |= wsgi_put(d, "input_reads", PyLong_FromLong(st->input_reads));
    err |= wsgi_put(d, "input_length", PyLong_FromLongLong(st->input_bytes));
    err |= wsgi_put(d, "input_time",
                    PyFloat_FromDouble((double)st->input_time / 1e6));
    err |= wsgi_put(d, "output_writes", PyLong_FromLong(st->output_writes));
    err |= wsgi_put(d, "output_length",
                    PyLong_FromLongLong(st->output_bytes));
    err |= wsgi_put(d, "output_time",
                    PyFloat_FromDouble((double)st->output_time / 1e6));
    err |= wsgi_put(d, "status", PyLong_FromLong(st->status));
    err |= wsgi_put(d, "cpu_user_time", PyFloat_FromDouble(st->cpu_user));
    err |= wsgi_put(d, "cpu_system_time", PyFloat_FromDouble(st->cpu_sys));
    err |= wsgi_put(d, "cpu_time",
                    PyFloat_FromDouble(st->cpu_user + st->cpu_sys));
    err |= wsgi_put(d, "gil_wait_time",
                    PyFloat_FromDouble((double)st->gil_wait / 1e6));
    err |= wsgi_put(d, "gil_wait_count", PyLong_FromLong(st->gil_waits));
    if (err)
        Py_CLEAR(d);
    return d;
}
