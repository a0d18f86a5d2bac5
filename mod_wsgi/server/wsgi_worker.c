/*
 * wsgi_worker.c: a daemon process's worker threads. Each takes one
 * connection from the group's socket at a time and serves the request on
 * it:
 *
 *   1. HELLO: this process's pid, so the Apache child can name it if the
 *      connection then closes without an answer;
 *   2. the REQUEST frame: read within socket-timeout, its tag checked
 *      (wsgi_peer.c) before anything of it is believed, its pairs
 *      decoded (wsgi_proto.c);
 *   3. the answers that need no Python: queue-timeout, a target the
 *      group may not run, a changed script (:restart);
 *   4. the request itself: wsgi_serve_request (wsgi_request.c) over the
 *      connection's transport (wsgi_channel.c), as embedded mode does
 *      over Apache's filters; an error status before any response goes
 *      back as :error, for the Apache child to answer with.
 *
 * The monitor (wsgi_monitor.c) knows each thread's request by its slot,
 * and decides when the process stops taking connections.
 */

#include "wsgi_common.h"

#include "apr_atomic.h"

#include <fcntl.h>
#include <sys/epoll.h>

/* APR pools are not thread-safe: each worker gets its own pool, made by
 * the main thread before any worker runs. */
typedef struct {
    wsgi_daemon *d;
    apr_pool_t *pool;
    int slot;               /* its slot in wsgi_monitor.c */
} wsgi_worker;

static apr_thread_t **wsgi_worker_threads = NULL;
static int wsgi_worker_count = 0;
static apr_uint32_t wsgi_worker_served = 0;

/*
 * How idle workers wait for a connection. Each has an epoll set of its
 * own holding the group's socket with EPOLLEXCLUSIVE and the monitor's
 * wake pipe: a connection then wakes one idle thread of one process of
 * the group ("one or more", epoll(7); in practice one), and the thread
 * that served a request goes straight back to waiting. Before, one idle
 * worker per process polled the socket and the others queued on a mutex:
 * every connection woke a thread in each process (the losers of the
 * accept() race waited again) and handed the mutex on, about four
 * context switches per request in the daemon at concurrency 1 where one
 * is needed (bench/, issue 19). Without EPOLLEXCLUSIVE (Linux before
 * 4.5) that scheme is kept: wsgi_accept_lock.
 */
static apr_thread_mutex_t *wsgi_accept_lock = NULL;

static int wsgi_worker_watch(wsgi_daemon *d, int ep)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.fd = d->listen_fd;
    return epoll_ctl(ep, EPOLL_CTL_ADD, d->listen_fd, &ev);
}

/* The thread's wait set, or -1: use the lock and poll(). */
static int wsgi_worker_waitset(wsgi_daemon *d)
{
    struct epoll_event ev;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0)
        return -1;
    if (wsgi_worker_watch(d, ep) == 0) {
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.fd = wsgi_monitor_wake_fd();
        if (epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0)
            return ep;
    }
    close(ep);
    return -1;
}

/*
 * After a connection: this thread's watch on the socket goes to the back
 * of the socket's queue of waiters. The kernel wakes the first waiting
 * one in that queue, that is, in the order the threads started: without
 * this, the group's first process took every connection while it had an
 * idle thread, and its GIL served them all (hello at 16 concurrent fell
 * from 1.39x to 1.15x Debian's). Now each thread of each process has its
 * turn. If the watch cannot be made again, the thread waits as before
 * the wait sets (*ep -1).
 */
static void wsgi_worker_requeue(wsgi_daemon *d, int *ep)
{
    if (epoll_ctl(*ep, EPOLL_CTL_DEL, d->listen_fd, NULL) == 0 &&
        wsgi_worker_watch(d, *ep) == 0)
        return;
    close(*ep);
    *ep = -1;
}

/* Waits until the group's socket has a connection (1), something else
 * woke this thread (0: look at the stop reason) or waiting failed (-1).
 * The wake pipe is never drained: once written, it wakes every wait. */
static int wsgi_worker_wait(wsgi_daemon *d, int ep)
{
    struct epoll_event ev[2];
    struct pollfd pfd[2];
    int rc, i, ready = 0;

    if (ep >= 0) {
        rc = epoll_wait(ep, ev, 2, -1);
        for (i = 0; i < rc; i++)
            ready |= ev[i].data.fd == d->listen_fd;
    }
    else {
        pfd[0].fd = d->listen_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = wsgi_monitor_wake_fd();
        pfd[1].events = POLLIN;
        rc = poll(pfd, 2, -1);
        ready = rc > 0 && (pfd[0].revents & POLLIN);
    }
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    return ready;
}

/*
 * The listening socket is shared by every process of the group (and the
 * parent keeps it open): nothing here may shut it down. It is
 * non-blocking, so the loser of a race for a connection just waits again.
 */
static int wsgi_worker_accept_one(wsgi_daemon *d, int ep)
{
    int fd = -1, rc;

    for (;;) {
        if (wsgi_monitor_stop_reason() != WSGI_STOP_NONE) {
            /* A recycle leaves the queue to the process that replaces
             * this one: the parent keeps the socket. Apache stopping or
             * restarting: take what is already queued, nothing more (the
             * parent unlinked the socket path first, so the queue only
             * shrinks), or those connections would be lost. */
            if (!wsgi_monitor_recycling())
                fd = accept(d->listen_fd, NULL, NULL);
            break;
        }
        rc = wsgi_worker_wait(d, ep);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        /* A recycle may have begun while this thread waited: the queue is
         * the next process's now (it is already starting). */
        if (wsgi_monitor_recycling())
            break;
        fd = accept(d->listen_fd, NULL, NULL);
        if (fd >= 0)
            break;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->server,
                         WSGI_LOGNO(0711) "daemon group '%s' (pid %d): "
                         "accept() failed", d->name, (int)getpid());
            apr_sleep(apr_time_from_msec(100));
        }
    }
    return fd < 0 ? -1 : fd;
}

static int wsgi_worker_accept(wsgi_daemon *d, int *ep)
{
    int fd;

    if (*ep >= 0) {
        fd = wsgi_worker_accept_one(d, *ep);
        if (fd >= 0)
            wsgi_worker_requeue(d, ep);
        return fd;
    }
    apr_thread_mutex_lock(wsgi_accept_lock);
    fd = wsgi_worker_accept_one(d, -1);
    apr_thread_mutex_unlock(wsgi_accept_lock);
    return fd;
}

/* The last value of an entry (a later one wins, as in the environ). */
static const char *wsgi_pair_get(const wsgi_pair *pairs, int n,
                                 const char *name)
{
    size_t len = strlen(name);
    int i;

    for (i = n - 1; i >= 0; i--) {
        if (pairs[i].name_len == len && !memcmp(pairs[i].name, name, len))
            return pairs[i].value;
    }
    return NULL;
}

static const wsgi_pair *wsgi_pair_control(const wsgi_pair *pairs, int n,
                                          int kind)
{
    int i;

    for (i = 0; i < n; i++) {
        if (wsgi_proto_control_of(&pairs[i]) == kind)
            return &pairs[i];
    }
    return NULL;
}

/* An error status for the Apache child to answer with, unless the
 * monitor answered this request already (request-timeout's 504). */
static void wsgi_worker_reply(int fd, int status, int timeout_ms)
{
    if (wsgi_monitor_claim_head())
        wsgi_wire_send_reply(fd, status, timeout_ms);
}

/*
 * Step 2: the REQUEST frame, whole, checked and decoded into C strings
 * (*pairs point into the payload, in p). Returns the number of pairs,
 * or -1: logged, the connection is to be dropped without an answer.
 */
static int wsgi_worker_request(wsgi_daemon *d, int fd, int timeout_ms,
                               apr_pool_t *p, wsgi_pair **pairs)
{
    unsigned char raw[WSGI_PROTO_HEAD_SIZE], *payload = NULL;
    wsgi_frame_head h;
    int proto, n = 0, max;
    const char *dropped = NULL;
    apr_status_t err = 0;

    /* The environ is bounded by what Apache lets a request carry. */
    if (wsgi_wire_read(fd, raw, sizeof(raw), timeout_ms) < 0) {
        err = errno;
        dropped = "no request frame from the Apache child";
        goto fail;
    }
    proto = wsgi_proto_get_head(raw, sizeof(raw),
                                (uint32_t)wsgi_peer_environ_cap(), &h);
    if (proto == WSGI_PROTO_TOO_BIG) {
        dropped = apr_psprintf(p, "a request environ larger than %"
                               APR_SIZE_T_FMT " bytes (from LimitRequestLine,"
                               " LimitRequestFields and "
                               "LimitRequestFieldSize)",
                               wsgi_peer_environ_cap());
        goto fail;
    }
    /* Anything else than a request head of this version is not from an
     * Apache child of this server. */
    if (proto != WSGI_PROTO_OK || h.type != WSGI_FRAME_REQUEST) {
        wsgi_peer_refuse(d, fd, proto != WSGI_PROTO_OK
                                    ? wsgi_proto_strerror(proto)
                                    : "the first frame is not a request",
                         NULL);
        return -1;
    }
    /* One byte more than the payload: room for the last terminator. */
    payload = apr_palloc(p, h.length + 1);
    max = (int)(h.length / 8 + 1);
    *pairs = apr_palloc(p, max * sizeof(**pairs));
    if (wsgi_wire_read(fd, payload, h.length, timeout_ms) < 0) {
        err = errno;
        dropped = "truncated request frame";
        goto fail;
    }
    /* Nothing of a frame is believed before its tag is checked. */
    if (wsgi_peer_check_frame(d, fd, raw, payload, h.length) < 0)
        return -1;
    if (h.length < WSGI_PROTO_TAG_SIZE ||
        wsgi_proto_get_cstrings(payload + WSGI_PROTO_TAG_SIZE,
                                h.length - WSGI_PROTO_TAG_SIZE, *pairs, max,
                                &n) != WSGI_PROTO_OK) {
        dropped = "malformed request frame";
        goto fail;
    }
    return n;

fail:
    /* WSGI0721: the frame never came whole (or could not); WSGI0722: it
     * came, and is not what an Apache child sends. */
    if (payload == NULL)
        ap_log_error(APLOG_MARK, APLOG_ERR, err, d->server, WSGI_LOGNO(0721)
                     "daemon group '%s' (pid %d): %s; connection dropped",
                     d->name, (int)getpid(), dropped);
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, err, d->server, WSGI_LOGNO(0722)
                     "daemon group '%s' (pid %d): %s; connection dropped",
                     d->name, (int)getpid(), dropped);
    return -1;
}

/* The time a control pair carries, or 0. */
static apr_time_t wsgi_pair_time(const wsgi_pair *pairs, int n, int kind)
{
    const wsgi_pair *pair = wsgi_pair_control(pairs, n, kind);
    uint64_t v = 0;

    if (pair == NULL ||
        wsgi_proto_get_number(pair->value, pair->value_len, &v) !=
            WSGI_PROTO_OK ||
        v > (uint64_t)APR_INT64_MAX)
        v = 0;
    return (apr_time_t)v;
}

static void wsgi_worker_serve(wsgi_daemon *d, int fd, apr_pool_t *p)
{
    int timeout_ms = (d->socket_timeout > 0
                          ? d->socket_timeout
                          : (int)apr_time_sec(wsgi_main_server->timeout)) *
                     1000;
    wsgi_request_spec rq;
    wsgi_transport *t;
    wsgi_pair *pairs = NULL;
    const char *reload, *clen, *ip, *port, *method, *uri;
    int status;

    memset(&rq, 0, sizeof(rq));
    rq.accepted = apr_time_now();
    wsgi_wire_send_hello(fd, timeout_ms);
    rq.npairs = wsgi_worker_request(d, fd, timeout_ms, p, &pairs);
    if (rq.npairs < 0)
        return;
    rq.pairs = pairs;

    /* Step 3. queue-timeout: a request that waited this long (in Apache,
     * in the socket's backlog) is answered at once, as upstream does; its
     * client has likely given up, and serving it would only delay those
     * behind it. */
    rq.request_start = wsgi_pair_time(rq.pairs, rq.npairs,
                                      WSGI_CTL_REQUEST_START);
    if (d->queue_timeout > 0 && rq.request_start > 0 &&
        rq.accepted - rq.request_start > apr_time_from_sec(d->queue_timeout)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server, WSGI_LOGNO(0735)
                     "daemon group '%s' (pid %d): a request waited %"
                     APR_TIME_T_FMT " ms, more than queue-timeout=%ds; "
                     "answering 504 (add processes= or threads= if this "
                     "happens under normal load)", d->name, (int)getpid(),
                     apr_time_as_msec(rq.accepted - rq.request_start),
                     d->queue_timeout);
        wsgi_worker_reply(fd, HTTP_GATEWAY_TIME_OUT, timeout_ms);
        return;
    }
    /* A WSGIHandlerScript's request runs that script (SCRIPT_FILENAME is
     * the file it serves). */
    rq.script = wsgi_pair_get(rq.pairs, rq.npairs, "mod_wsgi.handler_script");
    if (rq.script == NULL || !*rq.script)
        rq.script = wsgi_pair_get(rq.pairs, rq.npairs, "SCRIPT_FILENAME");
    rq.application_group = wsgi_pair_get(rq.pairs, rq.npairs,
                                         "mod_wsgi.application_group");
    rq.callable = wsgi_pair_get(rq.pairs, rq.npairs,
                                "mod_wsgi.callable_object");
    reload = wsgi_pair_get(rq.pairs, rq.npairs, "mod_wsgi.script_reloading");
    rq.reload = reload == NULL || strcmp(reload, "0");
    if (rq.script == NULL || rq.application_group == NULL ||
        rq.callable == NULL) {
        wsgi_worker_reply(fd, HTTP_INTERNAL_SERVER_ERROR, timeout_ms);
        return;
    }
    /* A genuine frame still runs only what the configuration maps to
     * this group (an embedded application shares the child's keys). */
    if (wsgi_peer_check_target(d, fd, rq.script, rq.callable, p) < 0)
        return;
    if (wsgi_pair_control(rq.pairs, rq.npairs, WSGI_CTL_IGNORE_ACTIVITY))
        wsgi_monitor_ignore_activity();

    /* Script reloading in daemon mode restarts the process, as upstream
     * does (wsgi_monitor_script_changed says why). */
    if (rq.reload && wsgi_monitor_script_changed(rq.script, p, &rq.mtime)) {
        wsgi_monitor_recycle(WSGI_STOP_SCRIPT_CHANGED,
                             apr_psprintf(p, "'%s' changed", rq.script));
        /* Without a body the Apache child can send the request again, to
         * the new process: the first request after the change already
         * runs all-new code. With one it is served here (the script
         * reloaded in place), as the body cannot be sent twice. */
        clen = wsgi_pair_get(rq.pairs, rq.npairs, "CONTENT_LENGTH");
        if (!wsgi_pair_get(rq.pairs, rq.npairs, "HTTP_TRANSFER_ENCODING") &&
            (clen == NULL || apr_atoi64(clen) == 0)) {
            wsgi_worker_reply(fd, 0, timeout_ms);
            return;
        }
    }

    /* Step 4. */
    ip = wsgi_pair_get(rq.pairs, rq.npairs, "REMOTE_ADDR");
    port = wsgi_pair_get(rq.pairs, rq.npairs, "REMOTE_PORT");
    rq.client = ip ? (port ? apr_pstrcat(p, ip, ":", port, NULL) : ip) : NULL;
    rq.server_pid = wsgi_peer_pid(fd);
    method = wsgi_pair_get(rq.pairs, rq.npairs, "REQUEST_METHOD");
    uri = wsgi_pair_get(rq.pairs, rq.npairs, "REQUEST_URI");
    rq.what = apr_pstrcat(p, method ? method : "?", " ", uri ? uri : "?",
                          NULL);
    rq.log_id = wsgi_pair_get(rq.pairs, rq.npairs, "mod_wsgi.request_id");
    t = wsgi_channel_open(p, d->server, fd, timeout_ms, wsgi_monitor_slot);
    t->target = rq.script;
    status = wsgi_serve_request(t, &rq);
    if (status != OK)
        wsgi_worker_reply(fd, status, timeout_ms);
    wsgi_channel_close(t);
}

static void *APR_THREAD_FUNC wsgi_worker_main(apr_thread_t *thread,
                                              void *data)
{
    wsgi_worker *w = data;
    wsgi_daemon *d = w->d;
    apr_pool_t *p = w->pool;
    int fd, flags, ep = wsgi_worker_waitset(d);

    wsgi_monitor_slot = w->slot;
    if (ep < 0 && w->slot == 0)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, errno, d->server,
                     WSGI_LOGNO(0752) "daemon group '%s' (pid %d): its "
                     "threads wait for connections one at a time (an "
                     "epoll set with EPOLLEXCLUSIVE, Linux 4.5 and later, "
                     "could not be made); it serves as usual, with more "
                     "context switches per request", d->name,
                     (int)getpid());
    while ((fd = wsgi_worker_accept(d, &ep)) >= 0) {
        /* The accepted socket inherits O_NONBLOCK; the wire code polls
         * before every read and write, so that is what it wants. */
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        wsgi_wire_buffers(fd, d->send_buffer_size, d->receive_buffer_size);
        wsgi_monitor_begin(fd);
        wsgi_worker_serve(d, fd, p);
        wsgi_monitor_end();
        close(fd);
        apr_pool_clear(p);
        if (d->maximum_requests > 0 &&
            apr_atomic_inc32(&wsgi_worker_served) + 1 ==
                (apr_uint32_t)d->maximum_requests) {
            /* Recycle: stop taking requests; the parent starts a fresh
             * process now, and the connections queued on the group's
             * socket meanwhile wait for it (or go to the group's other
             * processes). */
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, d->server,
                         WSGI_LOGNO(0733) "daemon group '%s' (pid %d): "
                         "maximum-requests=%d reached; restarting this "
                         "process", d->name, (int)getpid(),
                         d->maximum_requests);
            wsgi_monitor_recycle(WSGI_STOP_MAXIMUM_REQUESTS, NULL);
        }
    }
    if (ep >= 0)
        close(ep);
    /* A plain return, not apr_thread_exit(): pthread_exit() unwinds by
     * force, which leaves the stack poisoned under AddressSanitizer (a
     * false stack-buffer-underflow when the thread ends). Nothing joins
     * for the exit value. */
    (void)thread;
    return NULL;
}

/* The process's threads= workers; tp is the main thread's pool (the
 * interpreters live in another, which Python owns). */
void wsgi_workers_start(wsgi_daemon *d, apr_pool_t *tp)
{
    apr_threadattr_t *attr;
    wsgi_worker *workers;
    int i;

    wsgi_worker_count = d->threads;
    wsgi_worker_threads = apr_pcalloc(tp, d->threads *
                                              sizeof(*wsgi_worker_threads));
    workers = apr_pcalloc(tp, d->threads * sizeof(*workers));
    wsgi_monitor_init(tp, d->threads);
    wsgi_channel_flusher_start(tp, d->threads, d->response_flush_delay);
    apr_thread_mutex_create(&wsgi_accept_lock, APR_THREAD_MUTEX_DEFAULT, tp);
    for (i = 0; i < d->threads; i++) {
        workers[i].d = d;
        workers[i].slot = i;
        apr_pool_create(&workers[i].pool, tp);
    }
    apr_threadattr_create(&attr, tp);
    if (d->stack_size > 0)
        apr_threadattr_stacksize_set(attr, (apr_size_t)d->stack_size);
    for (i = 0; i < d->threads; i++)
        apr_thread_create(&wsgi_worker_threads[i], attr, wsgi_worker_main,
                          &workers[i], tp);
}

/* Once none is in a request any more: each returns from its accept. */
void wsgi_workers_join(void)
{
    int i;

    for (i = 0; i < wsgi_worker_count; i++) {
        apr_status_t ignored;

        if (wsgi_worker_threads[i])
            apr_thread_join(&ignored, wsgi_worker_threads[i]);
    }
}
