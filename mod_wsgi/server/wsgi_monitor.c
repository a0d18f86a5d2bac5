/*
 * wsgi_monitor.c: a daemon process watching its own requests.
 *
 * Each worker thread owns a slot: when it took a connection, whether the
 * response head went out. The process's main thread runs the monitor: it
 * enforces request-timeout, inactivity-timeout and restart-interval, and
 * at the end bounds how long the process waits for requests still
 * running (graceful-timeout for a recycle, shutdown-timeout for a stop).
 * A stuck request cannot keep the process alive: its client gets a 504
 * (or, past the head, a cut connection), the process exits, and the
 * Apache parent starts a new one.
 *
 * It also keeps why the process stops (wsgi_monitor_stop): a signal, a
 * worker (maximum-requests, a changed script) or the monitor itself
 * (a timeout) sets the reason, the first one wins, and the reason's row
 * in wsgi_stop_table says what follows.
 */

#include "wsgi_common.h"

#include "apr_atomic.h"

#include <sys/socket.h>

typedef struct {
    apr_time_t started;     /* 0: idle */
    int fd;
    int head_sent;          /* the head (or our 504) went out */
    int timed_out;          /* request-timeout fired for this request */
    int ignored;            /* WSGIIgnoreActivity: not activity */
    apr_time_t before;      /* the last activity before this request */
    unsigned long tid;      /* Python's id of the worker thread; 0: none */
    const char *agroup;     /* the interpreter it runs in (lives on) */
    apr_time_t interrupted; /* RequestTimeout raised then; 0: not */
    char what[160];         /* "METHOD URI", for the stack dump */
} wsgi_slot;

static apr_thread_mutex_t *wsgi_slots_lock = NULL;
static wsgi_slot *wsgi_slots = NULL;
static int wsgi_nslots = 0;
static apr_time_t wsgi_last_activity = 0;
static apr_hash_t *wsgi_scripts_seen = NULL;    /* path -> apr_time_t */
static volatile apr_time_t wsgi_gil_seen = 0;   /* last time the GIL came */
static int wsgi_loaded_ok = 0;          /* a script loaded in this process */
static int wsgi_load_failed = 0;        /* and one failed to */
static apr_pool_t *wsgi_scripts_pool = NULL;

WSGI_THREAD_LOCAL int wsgi_monitor_slot = -1;

/* ------------------------------------------------------- why it stops */

enum { WSGI_GRACE_GRACEFUL, WSGI_GRACE_SHUTDOWN, WSGI_GRACE_EVICTION };

/* Indexed by wsgi_stop_reason. */
static const struct {
    const char *what;   /* WSGI0731 says it, or NULL: nothing to say
                         * (Apache's signal), or said elsewhere (WSGI0733) */
    int recycle;        /* the process is replaced at once: the parent
                         * starts the next one now, and the connections
                         * queued on the group's socket are left to it */
    int grace;          /* how long requests in flight may finish */
    int python_lost;    /* Python cannot be entered again (no atexit) */
} wsgi_stop_table[WSGI_STOP_REASONS] = {
    [WSGI_STOP_NONE] = {NULL, 0, WSGI_GRACE_SHUTDOWN, 0},
    /* Apache stops or restarts: the queue is served, nothing more. */
    [WSGI_STOP_SIGNAL] = {NULL, 0, WSGI_GRACE_SHUTDOWN, 0},
    [WSGI_STOP_EVICTED] = {"evicted (SIGUSR1)", 1, WSGI_GRACE_EVICTION, 0},
    [WSGI_STOP_MAXIMUM_REQUESTS] = {NULL, 1, WSGI_GRACE_GRACEFUL, 0},
    /* The detail says which script: "'PATH' changed". */
    [WSGI_STOP_SCRIPT_CHANGED] = {"WSGI script", 1, WSGI_GRACE_GRACEFUL, 0},
    /* A process with a stuck request gets the shorter wait. */
    [WSGI_STOP_REQUEST_TIMEOUT] = {"request-timeout reached", 1,
                                   WSGI_GRACE_SHUTDOWN, 0},
    [WSGI_STOP_INACTIVITY] = {"inactivity-timeout reached", 1,
                              WSGI_GRACE_GRACEFUL, 0},
    [WSGI_STOP_DEADLOCK] = {"deadlock-timeout reached", 1,
                            WSGI_GRACE_SHUTDOWN, 1},
    [WSGI_STOP_STARTUP_TIMEOUT] = {"startup-timeout (the WSGI script has "
                                   "failed to load since the process "
                                   "started) reached", 1, WSGI_GRACE_GRACEFUL,
                                   0},
    [WSGI_STOP_RESTART_INTERVAL] = {"restart-interval reached", 1,
                                    WSGI_GRACE_GRACEFUL, 0},
};

static int wsgi_stop_why = WSGI_STOP_NONE;     /* atomic: signals set it */
static int wsgi_wake[2] = {-1, -1};     /* a pipe: the process stops */
static int wsgi_ready_fd = -1;          /* to the parent's supervisor */

/* In a new daemon process, before its signal handlers: ready_fd is the
 * pipe on which it tells its supervisor it is ready ("R") and that it is
 * being replaced ("G"), or -1. */
int wsgi_monitor_prepare(int ready_fd)
{
    wsgi_ready_fd = ready_fd;
    return pipe(wsgi_wake);
}

/* Python is up, the scripts preloaded, the workers started: from here a
 * death is the death of a process that worked, not a failure to start
 * (the parent's back-off counts only those). */
void wsgi_monitor_ready(void)
{
    if (wsgi_ready_fd >= 0 && write(wsgi_ready_fd, "R", 1) < 0) {
        /* the parent then counts it when the process exits */
    }
}

/* Async-signal-safe: an atomic, and write(). A recycle tells the
 * supervisor at once, so the next process starts while this one finishes
 * what it has. The byte in the wake pipe stays there: every thread
 * waiting on it sees it. */
int wsgi_monitor_stop(wsgi_stop_reason why)
{
    int none = WSGI_STOP_NONE, saved = errno, first;

    first = why > WSGI_STOP_NONE && why < WSGI_STOP_REASONS &&
            __atomic_compare_exchange_n(&wsgi_stop_why, &none, (int)why, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    if (first && wsgi_daemon_self != NULL)
        wsgi_prom_restart(wsgi_daemon_self->name, (int)why);
    if (first && wsgi_stop_table[why].recycle && wsgi_ready_fd >= 0 &&
        write(wsgi_ready_fd, "G", 1) < 0) {
        /* the supervisor then starts it when this one exits */
    }
    if (wsgi_wake[1] >= 0 && write(wsgi_wake[1], "x", 1) < 0) {
        /* a full pipe wakes everyone already */
    }
    errno = saved;
    return first;
}

/* WSGI0731, its one call site: why this process restarts on its own. */
static void wsgi_monitor_say(wsgi_stop_reason why, const char *detail)
{
    if (wsgi_stop_table[why].what != NULL && wsgi_daemon_self != NULL)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, wsgi_daemon_self->server,
                     WSGI_LOGNO(0731) "daemon group '%s' (pid %d): %s%s%s; "
                     "restarting this process", wsgi_daemon_self->name,
                     (int)getpid(), wsgi_stop_table[why].what,
                     detail ? " " : "", detail ? detail : "");
}

/* Not from a signal handler: stops the process, and the first reason
 * given is logged (with detail, if any). */
void wsgi_monitor_recycle(wsgi_stop_reason why, const char *detail)
{
    if (wsgi_monitor_stop(why))
        wsgi_monitor_say(why, detail);
}

wsgi_stop_reason wsgi_monitor_stop_reason(void)
{
    return (wsgi_stop_reason)__atomic_load_n(&wsgi_stop_why,
                                              __ATOMIC_SEQ_CST);
}

/* 1 when the process stops to be replaced (its queue is the next one's),
 * 0 while it runs or when Apache stops it. */
int wsgi_monitor_recycling(void)
{
    return wsgi_stop_table[wsgi_monitor_stop_reason()].recycle;
}

/* Readable once the process stops. */
int wsgi_monitor_wake_fd(void)
{
    return wsgi_wake[0];
}

/* ------------------------------------------------------------ requests */

void wsgi_monitor_init(apr_pool_t *p, int nslots)
{
    apr_thread_mutex_create(&wsgi_slots_lock, APR_THREAD_MUTEX_DEFAULT, p);
    wsgi_slots = apr_pcalloc(p, nslots * sizeof(*wsgi_slots));
    wsgi_nslots = nslots;
    wsgi_last_activity = apr_time_now();
    wsgi_scripts_pool = p;
    wsgi_scripts_seen = apr_hash_make(p);
}

/*
 * Script reloading in daemon mode restarts the process, as upstream does:
 * the new code must come with fresh copies of every module it imports,
 * not only the script re-run over old ones. Returns 1 when path's mtime
 * is not the one this process first saw it with.
 */
int wsgi_monitor_script_changed(const char *path, apr_pool_t *p,
                                apr_time_t *mtime)
{
    apr_time_t *seen;
    apr_finfo_t fi;
    int changed = 0;

    *mtime = 0;
    if (apr_stat(&fi, path, APR_FINFO_MTIME, p) != APR_SUCCESS)
        return 0;
    *mtime = fi.mtime;
    if (wsgi_scripts_seen == NULL)
        return 0;
    apr_thread_mutex_lock(wsgi_slots_lock);
    seen = apr_hash_get(wsgi_scripts_seen, path, APR_HASH_KEY_STRING);
    if (seen == NULL) {
        seen = apr_palloc(wsgi_scripts_pool, sizeof(*seen));
        *seen = *mtime;
        apr_hash_set(wsgi_scripts_seen, apr_pstrdup(wsgi_scripts_pool, path),
                     APR_HASH_KEY_STRING, seen);
    }
    else
        changed = *seen != *mtime;
    apr_thread_mutex_unlock(wsgi_slots_lock);
    return changed;
}

void wsgi_monitor_begin(int fd)
{
    wsgi_slot *s;

    if (wsgi_slots == NULL || wsgi_monitor_slot < 0)
        return;
    s = &wsgi_slots[wsgi_monitor_slot];
    apr_thread_mutex_lock(wsgi_slots_lock);
    s->started = apr_time_now();
    s->fd = fd;
    s->head_sent = 0;
    s->timed_out = 0;
    s->ignored = 0;
    s->tid = 0;
    s->agroup = NULL;
    s->interrupted = 0;
    s->before = wsgi_last_activity;
    wsgi_last_activity = s->started;
    apr_thread_mutex_unlock(wsgi_slots_lock);
}

/* WSGIIgnoreActivity: this request (a health check, say) does not keep
 * the process alive past inactivity-timeout. */
void wsgi_monitor_ignore_activity(void)
{
    wsgi_slot *s;

    if (wsgi_slots == NULL || wsgi_monitor_slot < 0)
        return;
    s = &wsgi_slots[wsgi_monitor_slot];
    apr_thread_mutex_lock(wsgi_slots_lock);
    s->ignored = 1;
    if (wsgi_last_activity == s->started)
        wsgi_last_activity = s->before;
    apr_thread_mutex_unlock(wsgi_slots_lock);
}

/* The request now runs Python in the interpreter of agroup (a name that
 * lives as long as the process), in this thread: what interrupt-timeout
 * needs to reach it. Called with the GIL held. */
void wsgi_monitor_python(const char *agroup, const char *what)
{
    wsgi_slot *s;

    if (wsgi_slots == NULL || wsgi_monitor_slot < 0)
        return;
    s = &wsgi_slots[wsgi_monitor_slot];
    apr_thread_mutex_lock(wsgi_slots_lock);
    s->tid = PyThread_get_thread_ident();
    s->agroup = agroup;
    apr_cpystrn(s->what, what ? what : "?", sizeof(s->what));
    apr_thread_mutex_unlock(wsgi_slots_lock);
}

void wsgi_monitor_end(void)
{
    wsgi_slot *s;
    apr_time_t interrupted;

    if (wsgi_slots == NULL || wsgi_monitor_slot < 0)
        return;
    s = &wsgi_slots[wsgi_monitor_slot];
    apr_thread_mutex_lock(wsgi_slots_lock);
    /* The monitor sets it under the lock. */
    interrupted = s->interrupted;
    s->started = 0;
    s->fd = -1;
    if (!s->ignored)
        wsgi_last_activity = apr_time_now();
    apr_thread_mutex_unlock(wsgi_slots_lock);
    if (interrupted && wsgi_daemon_self != NULL)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, wsgi_daemon_self->server,
                     WSGI_LOGNO(0748) "daemon group '%s' (pid %d): the "
                     "request interrupted with mod_wsgi.RequestTimeout "
                     "ended after %" APR_TIME_T_FMT " ms; this process "
                     "goes on", wsgi_daemon_self->name, (int)getpid(),
                     apr_time_as_msec(apr_time_now() - interrupted));
}

/* The worker is about to send the response head: 1 if it may, 0 if the
 * monitor already answered this request (with a 504) and the worker's
 * response must be dropped. One of the two writes the head, never both:
 * their frames would interleave on the socket. */
int wsgi_monitor_claim_head(void)
{
    wsgi_slot *s;
    int mine = 1;

    if (wsgi_slots == NULL || wsgi_monitor_slot < 0)
        return 1;
    s = &wsgi_slots[wsgi_monitor_slot];
    apr_thread_mutex_lock(wsgi_slots_lock);
    if (s->head_sent)
        mine = 0;
    s->head_sent = 1;
    apr_thread_mutex_unlock(wsgi_slots_lock);
    return mine;
}

/* interrupt-timeout: mod_wsgi.RequestTimeout goes into the request's
 * thread from a short-lived thread of its own, since taking the GIL may
 * wait (and must never hold up the monitor: deadlock-timeout is its job
 * too). */
typedef struct {
    unsigned long tid;
    const char *agroup;
} wsgi_interrupt;

static void *APR_THREAD_FUNC wsgi_interrupt_run(apr_thread_t *thread,
                                                void *data)
{
    wsgi_interrupt *in = data;

    wsgi_interp_raise_in_thread(in->agroup, in->tid, "RequestTimeout");
    free(in);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static void wsgi_interrupt_start(unsigned long tid, const char *agroup)
{
    wsgi_interrupt *in = malloc(sizeof(*in));
    apr_threadattr_t *attr;
    apr_thread_t *t;

    if (in == NULL)
        return;
    in->tid = tid;
    in->agroup = agroup;
    apr_threadattr_create(&attr, wsgi_scripts_pool);
    apr_threadattr_detach_set(attr, 1);
    if (apr_thread_create(&t, attr, wsgi_interrupt_run, in,
                          wsgi_scripts_pool) != APR_SUCCESS)
        free(in);
}

/*
 * When request-timeout fires, the Python stack of every thread of the
 * process is logged (WSGI0307), each thread's request and how long it has
 * run beside it: what the stuck request was doing, and what the others
 * were. From a thread of its own, as it needs the GIL; the monitor goes
 * on meanwhile.
 */
static apr_uint32_t wsgi_dumps_running = 0;

typedef struct {
    char head[200];
    int n;
    unsigned long *tids;
    const char **notes;
} wsgi_dump;

static void *APR_THREAD_FUNC wsgi_dump_run(apr_thread_t *thread, void *data)
{
    wsgi_dump *dump = data;
    int i;

    wsgi_interp_dump_stacks(dump->head, dump->tids, dump->notes, dump->n, 0);
    for (i = 0; i < dump->n; i++)
        free((void *)dump->notes[i]);
    free(dump->tids);
    free(dump->notes);
    free(dump);
    apr_atomic_dec32(&wsgi_dumps_running);
    if (thread != NULL)
        apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* Called with the lock held. */
static void wsgi_dump_start(wsgi_daemon *d, apr_time_t now)
{
    wsgi_dump *dump = calloc(1, sizeof(*dump));
    apr_threadattr_t *attr;
    apr_thread_t *t;
    int i;

    if (dump == NULL)
        return;
    dump->tids = calloc(wsgi_nslots, sizeof(*dump->tids));
    dump->notes = calloc(wsgi_nslots, sizeof(*dump->notes));
    for (i = 0; dump->tids && dump->notes && i < wsgi_nslots; i++) {
        wsgi_slot *s = &wsgi_slots[i];
        char note[256];

        if (!s->started || s->tid == 0)
            continue;
        snprintf(note, sizeof(note), "serving %s for %.1f s%s", s->what,
                 (double)(now - s->started) / APR_USEC_PER_SEC,
                 s->timed_out || s->interrupted ? " (past request-timeout)"
                                                : "");
        dump->tids[dump->n] = s->tid;
        dump->notes[dump->n++] = strdup(note);
    }
    snprintf(dump->head, sizeof(dump->head), WSGI_LOGNO(0307) "daemon group "
             "'%s' (pid %d): request-timeout=%ds fired; the Python stacks "
             "of this process's threads:", d->name, (int)getpid(),
             d->request_timeout);
    apr_atomic_inc32(&wsgi_dumps_running);
    apr_threadattr_create(&attr, wsgi_scripts_pool);
    apr_threadattr_detach_set(attr, 1);
    if (apr_thread_create(&t, attr, wsgi_dump_run, dump,
                          wsgi_scripts_pool) != APR_SUCCESS)
        wsgi_dump_run(NULL, dump);
}

/* WSGI0730: a request makes the process restart, as it cannot end;
 * interrupted: it was sent mod_wsgi.RequestTimeout and did not end. */
static void wsgi_monitor_stuck(wsgi_daemon *d, int interrupted)
{
    char why[160];

    if (interrupted)
        snprintf(why, sizeof(why), "a request interrupted with "
                 "mod_wsgi.RequestTimeout has not ended within "
                 "interrupt-timeout=%ds; replacing", d->interrupt_timeout);
    else
        snprintf(why, sizeof(why), "a request has run for more than "
                 "request-timeout=%ds; answering it with 504 and replacing",
                 d->request_timeout);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server, WSGI_LOGNO(0730)
                 "daemon group '%s' (pid %d): %s this process (%s)", d->name,
                 (int)getpid(), why,
                 interrupted ? "the application may catch BaseException, or "
                               "wait in C code that Python cannot interrupt"
                             : "raise request-timeout in WSGIDaemonProcess "
                               "if such requests are expected, or set "
                               "interrupt-timeout to interrupt them");
}

/* Called with the lock held. Upstream's rule, kept: a request running
 * longer than request-timeout makes the whole process restart, since the
 * thread cannot be taken back from Python, unless interrupt-timeout is
 * set (upstream 6.0): then mod_wsgi.RequestTimeout is raised in that
 * thread first, and the process is replaced only if the request has not
 * ended interrupt-timeout later. Either way its client gets the 504 at
 * once. Returns how many requests make the process restart. */
static int wsgi_monitor_expire(wsgi_daemon *d, apr_time_t now)
{
    apr_interval_time_t limit = apr_time_from_sec(d->request_timeout);
    int i, expired = 0, fired = 0;

    for (i = 0; i < wsgi_nslots; i++) {
        wsgi_slot *s = &wsgi_slots[i];
        int interrupt;

        if (s->started && s->interrupted && !s->timed_out &&
            now - s->interrupted > apr_time_from_sec(d->interrupt_timeout)) {
            s->timed_out = 1;
            expired++;
            wsgi_monitor_stuck(d, 1);
            continue;
        }
        if (!s->started || s->timed_out || s->interrupted ||
            now - s->started <= limit)
            continue;
        interrupt = d->interrupt_timeout > 0 && s->tid != 0;
        fired++;
        if (interrupt) {
            s->interrupted = now;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server,
                         WSGI_LOGNO(0747) "daemon group '%s' (pid %d): a "
                         "request has run for more than request-timeout=%ds;"
                         " answering it with 504 and raising "
                         "mod_wsgi.RequestTimeout in its thread (the process"
                         " is replaced if it does not end within "
                         "interrupt-timeout=%ds)", d->name, (int)getpid(),
                         d->request_timeout, d->interrupt_timeout);
            wsgi_interrupt_start(s->tid, s->agroup);
        }
        else {
            s->timed_out = 1;
            expired++;
            wsgi_monitor_stuck(d, 0);
        }
        if (!s->head_sent) {
            s->head_sent = 1;
            wsgi_wire_send_reply(s->fd, HTTP_GATEWAY_TIME_OUT, 1000);
        }
        /* Not closed: the worker still holds the descriptor and closes
         * it; shutdown only makes its reads and writes fail. */
        shutdown(s->fd, SHUT_RDWR);
    }
    if (fired > 0)
        wsgi_dump_start(d, now);
    return expired;
}

static int wsgi_monitor_busy(void)
{
    int i, busy = 0;

    for (i = 0; i < wsgi_nslots; i++) {
        if (wsgi_slots[i].started && !wsgi_slots[i].timed_out)
            busy++;
    }
    return busy;
}

/* startup-timeout: a process whose application keeps failing to load (a
 * database down at import time, say) is replaced after that long, so a
 * transient failure does not stay cached in its sys.modules for good. */
void wsgi_monitor_script_loaded(int ok)
{
    if (wsgi_slots == NULL)
        return;     /* not a daemon process */
    if (ok)
        wsgi_loaded_ok = 1;
    else
        wsgi_load_failed = 1;
}

/*
 * deadlock-timeout: a thread that only takes and gives back the GIL once
 * a second. When it cannot get it for that long, some code holds it and
 * never lets go (a C extension blocking without releasing it, a deadlock
 * on the GIL): no request of this process can run, so it is replaced.
 * PyGILState binds it to the main interpreter, so it watches the main
 * GIL only. With WSGIPerInterpreterGIL On that is %{GLOBAL}'s: a
 * sub-interpreter with its own GIL can hang on it unseen here (its
 * requests still meet request-timeout), and a hang there no longer stops
 * the other groups, which is the point of giving it its own GIL.
 */
static void *APR_THREAD_FUNC wsgi_gil_watch(apr_thread_t *thread, void *data)
{
    (void)data;
    for (;;) {
        PyGILState_STATE st = PyGILState_Ensure();

        wsgi_gil_seen = apr_time_now();
        PyGILState_Release(st);
        apr_sleep(apr_time_from_sec(1));
    }
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static void wsgi_gil_watch_start(wsgi_daemon *d)
{
    apr_threadattr_t *attr;
    apr_thread_t *t;

    if (d->deadlock_timeout <= 0)
        return;
    wsgi_gil_seen = apr_time_now();
    apr_threadattr_create(&attr, wsgi_scripts_pool);
    apr_threadattr_detach_set(attr, 1);
    apr_thread_create(&t, attr, wsgi_gil_watch, NULL, wsgi_scripts_pool);
}

/* Slots still taken, stuck ones included: threads not to be joined. */
static int wsgi_monitor_left(void)
{
    int i, left = 0;

    apr_thread_mutex_lock(wsgi_slots_lock);
    for (i = 0; i < wsgi_nslots; i++) {
        if (wsgi_slots[i].started)
            left++;
    }
    apr_thread_mutex_unlock(wsgi_slots_lock);
    return left;
}

/*
 * Past deadlock-timeout the GIL is not free, so no Python stack can be
 * read (request-timeout's dump waits for the GIL): what can still be said
 * without it is which request each busy thread was serving and for how
 * long (WSGI0739), which usually names the code that hung. Called with
 * the lock held.
 */
static void wsgi_monitor_in_flight(wsgi_daemon *d, apr_time_t now)
{
    int i;

    for (i = 0; i < wsgi_nslots; i++) {
        const wsgi_slot *s = &wsgi_slots[i];

        if (s->started)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server,
                         WSGI_LOGNO(0739) "daemon group '%s' (pid %d): at "
                         "the deadlock, thread %lu was serving %s for %.1f "
                         "s (no Python stack: reading one needs the GIL)",
                         d->name, (int)getpid(), s->tid, s->what,
                         (double)(now - s->started) / APR_USEC_PER_SEC);
    }
}

/* The reason the timers give now, if any. Called with the lock held. */
static wsgi_stop_reason wsgi_monitor_timers(wsgi_daemon *d, apr_time_t now,
                                            apr_time_t born)
{
    wsgi_stop_reason why = WSGI_STOP_NONE;

    if (d->request_timeout > 0 && wsgi_monitor_expire(d, now) > 0)
        why = WSGI_STOP_REQUEST_TIMEOUT;
    else if (d->inactivity_timeout > 0 && wsgi_monitor_busy() == 0 &&
             now - wsgi_last_activity >
                 apr_time_from_sec(d->inactivity_timeout))
        why = WSGI_STOP_INACTIVITY;
    else if (d->deadlock_timeout > 0 &&
             now - wsgi_gil_seen > apr_time_from_sec(d->deadlock_timeout)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server, WSGI_LOGNO(0738)
                     "daemon group '%s' (pid %d): Python's GIL has been "
                     "held for more than deadlock-timeout=%ds; no request "
                     "can run, so this process is replaced (look for C "
                     "code that blocks without releasing the GIL)",
                     d->name, (int)getpid(), d->deadlock_timeout);
        wsgi_monitor_in_flight(d, now);
        why = WSGI_STOP_DEADLOCK;
    }
    else if (d->startup_timeout > 0 && !wsgi_loaded_ok && wsgi_load_failed &&
             now - born > apr_time_from_sec(d->startup_timeout))
        why = WSGI_STOP_STARTUP_TIMEOUT;
    else if (d->restart_interval > 0 &&
             now - born > apr_time_from_sec(d->restart_interval))
        why = WSGI_STOP_RESTART_INTERVAL;
    return why;
}

/*
 * The main thread's loop until the process should stop (a signal,
 * maximum-requests, or a timeout here), then the bounded wait for the
 * requests in flight. Returns how many were still running when it gave
 * up (0: all finished, the worker threads can be joined).
 */
int wsgi_monitor_run(wsgi_daemon *d)
{
    apr_time_t born = apr_time_now(), deadline;
    wsgi_stop_reason why;
    int busy, waited_secs;

    wsgi_gil_watch_start(d);
    while (wsgi_monitor_stop_reason() == WSGI_STOP_NONE) {
        struct pollfd pfd;

        pfd.fd = wsgi_wake[0];
        pfd.events = POLLIN;
        /* Timers have whole seconds: a quarter of a second is precise
         * enough and costs nothing. */
        if (poll(&pfd, 1, 250) < 0 && errno != EINTR)
            break;
        if (wsgi_monitor_stop_reason() != WSGI_STOP_NONE)
            break;
        apr_thread_mutex_lock(wsgi_slots_lock);
        why = wsgi_monitor_timers(d, apr_time_now(), born);
        apr_thread_mutex_unlock(wsgi_slots_lock);
        if (why != WSGI_STOP_NONE)
            wsgi_monitor_recycle(why, NULL);
    }

    /* The stacks of a request-timeout are logged before the process goes
     * (they need the GIL, which Python's exit takes for good); a GIL that
     * never comes cannot hold the exit up for more than 3 s. */
    deadline = apr_time_now() + apr_time_from_sec(3);
    while (apr_atomic_read32(&wsgi_dumps_running) > 0 &&
           apr_time_now() < deadline)
        apr_sleep(apr_time_from_msec(20));

    why = wsgi_monitor_stop_reason();
    switch (wsgi_stop_table[why].grace) {
    case WSGI_GRACE_GRACEFUL:
        waited_secs = d->graceful_timeout;
        break;
    case WSGI_GRACE_EVICTION:
        waited_secs = d->eviction_timeout > 0 ? d->eviction_timeout
                                              : d->graceful_timeout;
        wsgi_monitor_say(why, NULL);    /* a signal's: said here */
        break;
    default:
        waited_secs = d->shutdown_timeout;
        break;
    }
    deadline = apr_time_now() + apr_time_from_sec(waited_secs);
    for (;;) {
        apr_thread_mutex_lock(wsgi_slots_lock);
        if (d->request_timeout > 0)
            wsgi_monitor_expire(d, apr_time_now());
        busy = wsgi_monitor_busy();
        apr_thread_mutex_unlock(wsgi_slots_lock);
        if (busy == 0 || apr_time_now() >= deadline)
            break;
        apr_sleep(apr_time_from_msec(20));
    }
    if (busy > 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, d->server,
                     WSGI_LOGNO(0732) "daemon group '%s' (pid %d): %d "
                     "requests still running after %ds; exiting without "
                     "them (their clients see the connection cut)",
                     d->name, (int)getpid(), busy, waited_secs);
    /* Past a deadlock Python cannot be entered again, not even for
     * atexit: count it as a request still running. */
    return wsgi_monitor_left() + wsgi_stop_table[why].python_lost;
}
