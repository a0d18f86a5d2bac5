/*
 * wsgi_channel.c: a daemon process's wsgi_transport, on the socket to the
 * Apache child that sent the request: wsgi.input from BODY frames, the
 * response as RESPONSE, DATA, FILE and END frames (wsgi_wire.c writes
 * them).
 *
 * The Apache child sends the body while it relays the response (see
 * wsgi_body in wsgi_remote.c), so the daemon reads BODY frames as the
 * application asks for input, before, during or after its response. One
 * thing more: most HTTP clients send the whole body before they read any
 * of the answer, so an application that answers before reading would
 * leave such a client unable to send and itself unable to answer. At the
 * first response byte the daemon therefore reads ahead what is left of
 * the body, up to WSGI_CHANNEL_SPOOL_MAX: a small body is then all in,
 * and memory per request stays bounded whatever the body's size (beyond
 * that, as with any server, the client has to read while it sends). It
 * takes only what comes without a pause (a client that stalls is not
 * waited for), and never while another thread of the application reads
 * (wsgi.input handed to a thread).
 */

#include "wsgi_common.h"

#include <fcntl.h>
#include <sys/stat.h>

typedef struct {
    wsgi_transport base;
    int fd;
    int timeout_ms;
    uint32_t frame_left;        /* bytes left in the current BODY frame */
    int body_done;              /* BODY_END seen */
    int failed;
    apr_thread_mutex_t *io;     /* body reads: the application's, ours */
    char *spool;                /* body read ahead, see the top */
    apr_size_t spool_len;
    apr_size_t spool_pos;
    unsigned char *out;         /* frames held back, see below */
    apr_size_t out_len;
    apr_size_t out_cap;
    apr_size_t last_data;       /* 1 + offset in out of the last DATA head
                                 * that may still grow; 0: none */
    uint32_t last_len;          /* that frame's payload so far */
    pthread_mutex_t out_lock;   /* out_*, last_*, due: worker vs flusher */
    apr_time_t due;             /* the flusher sends out by then; 0: no */
    int slot;                   /* in the flusher's table; -1: not there */
} wsgi_channel;

/*
 * Frames held back to go with the next ones: the RESPONSE frame until the
 * first body bytes (PEP 3333 has the head wait for them anyway), and the
 * DATA frames of a list or tuple response (written without a flush) up to
 * WSGI_CHANNEL_HOLD bytes, until the END frame. A small response is then one
 * sendmsg, and the Apache child wakes once for it instead of three times.
 * Consecutive DATA frames held merge into one.
 *
 * A flush (write(), each block of a generator) is held too when the
 * process has a flusher (response-flush-delay > 0). PEP 3333: servers
 * "must not delay the transmission of any block; they must either fully
 * transmit the block to the client, or guarantee that they will continue
 * transmission even while the application is producing its next block".
 * The flusher is that guarantee: a thread of the process that sends what
 * a request holds once it is response-flush-delay old, while the
 * application goes on. 100,000 blocks of 10 bytes were 100,000 sendmsg()
 * calls and as many wake-ups of the Apache child; now about 200.
 */
#define WSGI_CHANNEL_HOLD 8192

typedef struct {
    pthread_mutex_t lock;       /* slots; taken before a transport's */
    wsgi_channel **slots;    /* one per worker thread */
    int nslots;
    int wake[2];                /* a pipe: a hold began */
    int delay_ms;
} wsgi_flush_thread;

static wsgi_flush_thread *wsgi_flusher = NULL;

static int wsgi_channel_release(wsgi_channel *w, const void *payload,
                             apr_size_t len, int type)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];
    struct iovec iov[3];
    int n = 1;

    iov[0].iov_base = w->out;
    iov[0].iov_len = w->out_len;
    if (type >= 0) {
        wsgi_proto_put_head(head, type, (uint32_t)len);
        iov[1].iov_base = head;
        iov[1].iov_len = sizeof(head);
        iov[2].iov_base = (void *)payload;
        iov[2].iov_len = len;
        n = 3;
    }
    w->out_len = 0;
    w->last_data = 0;
    w->due = 0;
    return wsgi_wire_writev(w->fd, iov, n, -1, w->timeout_ms);
}

/* Appends a frame to those held back when it fits (with room left for
 * the END head); returns 0 when it did not. */
static int wsgi_channel_hold(wsgi_channel *w, int type,
                          const void *payload, apr_size_t len)
{
    if (type == WSGI_FRAME_DATA && w->last_data > 0 &&
        w->last_len + len <= WSGI_PROTO_DATA_MAX &&
        w->out_len + WSGI_PROTO_HEAD_SIZE + len <= w->out_cap) {
        /* The last frame held is DATA, whole: it grows. */
        w->last_len += (uint32_t)len;
        wsgi_proto_put_head(w->out + w->last_data - 1, WSGI_FRAME_DATA,
                            w->last_len);
        memcpy(w->out + w->out_len, payload, len);
        w->out_len += len;
        return 1;
    }
    if (w->out_len + 2 * WSGI_PROTO_HEAD_SIZE + len > w->out_cap)
        return 0;
    wsgi_proto_put_head(w->out + w->out_len, type, (uint32_t)len);
    memcpy(w->out + w->out_len + WSGI_PROTO_HEAD_SIZE, payload, len);
    w->last_data = type == WSGI_FRAME_DATA ? w->out_len + 1 : 0;
    w->last_len = (uint32_t)len;
    w->out_len += WSGI_PROTO_HEAD_SIZE + len;
    return 1;
}

/* The flusher's send (out_lock held): what the socket takes now, without
 * waiting; the rest stays for the next turn or the worker's next write.
 * A frame partly sent can no longer grow. */
static void wsgi_channel_push(wsgi_channel *w, apr_time_t now)
{
    ssize_t sent = send(w->fd, w->out, w->out_len,
                        MSG_NOSIGNAL | MSG_DONTWAIT);

    if (sent > 0) {
        memmove(w->out, w->out + sent, w->out_len - (apr_size_t)sent);
        w->out_len -= (apr_size_t)sent;
        w->last_data = 0;
    }
    else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
             errno != EINTR) {
        /* The worker's next write meets the same error and ends the
         * request: nothing more to do here. */
        w->due = 0;
        return;
    }
    w->due = w->out_len > 0
                 ? now + apr_time_from_msec(wsgi_flusher->delay_ms)
                 : 0;
}

static void *APR_THREAD_FUNC wsgi_channel_flush_loop(apr_thread_t *thread,
                                                  void *data)
{
    wsgi_flush_thread *f = data;
    int timeout = -1;

    for (;;) {
        struct pollfd pfd;
        char drain[64];
        apr_time_t now, next = 0;
        int i;

        pfd.fd = f->wake[0];
        pfd.events = POLLIN;
        if (poll(&pfd, 1, timeout) > 0) {
            while (read(f->wake[0], drain, sizeof(drain)) > 0)
                ;
        }
        now = apr_time_now();
        pthread_mutex_lock(&f->lock);
        for (i = 0; i < f->nslots; i++) {
            wsgi_channel *w = f->slots[i];

            if (w == NULL)
                continue;
            /* A worker inside a write of its own is sending already (it
             * may wait there on a slow client, which must not hold up
             * the others): look again later. */
            if (pthread_mutex_trylock(&w->out_lock) != 0) {
                apr_time_t again = now + apr_time_from_msec(f->delay_ms);

                if (next == 0 || again < next)
                    next = again;
                continue;
            }
            if (w->due != 0 && w->due <= now && w->out_len > 0)
                wsgi_channel_push(w, now);
            if (w->due != 0 && (next == 0 || w->due < next))
                next = w->due;
            pthread_mutex_unlock(&w->out_lock);
        }
        pthread_mutex_unlock(&f->lock);
        timeout = next == 0 ? -1
                  : next <= now ? 0
                                : (int)apr_time_as_msec(next - now + 999);
    }
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* In a daemon process, before its workers serve: the flusher (see
 * WSGI_CHANNEL_HOLD), unless response-flush-delay=0 asks for each block to
 * be written at once. */
void wsgi_channel_flusher_start(apr_pool_t *p, int nslots, int delay_ms)
{
    wsgi_flush_thread *f;
    apr_threadattr_t *attr;
    apr_thread_t *t;

    if (delay_ms <= 0 || nslots <= 0)
        return;
    f = apr_pcalloc(p, sizeof(*f));
    f->slots = apr_pcalloc(p, nslots * sizeof(*f->slots));
    f->nslots = nslots;
    f->delay_ms = delay_ms;
    pthread_mutex_init(&f->lock, NULL);
    if (pipe(f->wake) < 0)
        return;
    fcntl(f->wake[0], F_SETFL, fcntl(f->wake[0], F_GETFL) | O_NONBLOCK);
    fcntl(f->wake[1], F_SETFL, fcntl(f->wake[1], F_GETFL) | O_NONBLOCK);
    fcntl(f->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(f->wake[1], F_SETFD, FD_CLOEXEC);
    apr_threadattr_create(&attr, p);
    apr_threadattr_detach_set(attr, 1);
    if (apr_thread_create(&t, attr, wsgi_channel_flush_loop, f, p) ==
        APR_SUCCESS)
        wsgi_flusher = f;
}

/* A request's transport enters the flusher's table under its worker's
 * slot, and leaves it before its pool goes. */
static void wsgi_channel_enter(wsgi_channel *w, int slot)
{
    w->slot = -1;
    pthread_mutex_init(&w->out_lock, NULL);
    if (wsgi_flusher == NULL || slot < 0 || slot >= wsgi_flusher->nslots)
        return;
    pthread_mutex_lock(&wsgi_flusher->lock);
    wsgi_flusher->slots[slot] = w;
    pthread_mutex_unlock(&wsgi_flusher->lock);
    w->slot = slot;
}

static void wsgi_channel_leave(wsgi_channel *w)
{
    if (w->slot >= 0) {
        pthread_mutex_lock(&wsgi_flusher->lock);
        wsgi_flusher->slots[w->slot] = NULL;
        pthread_mutex_unlock(&wsgi_flusher->lock);
        w->slot = -1;
    }
    pthread_mutex_destroy(&w->out_lock);
}

/* Reads up to n body bytes off the socket. */
static long wsgi_channel_body(wsgi_channel *w, char *buf, apr_size_t n)
{
    unsigned char raw[WSGI_PROTO_HEAD_SIZE];
    wsgi_frame_head h;
    ssize_t got;

    while (w->frame_left == 0) {
        if (w->body_done || w->failed)
            return w->failed ? -1 : 0;
        if (wsgi_wire_read(w->fd, raw, sizeof(raw), w->timeout_ms) < 0 ||
            wsgi_proto_get_head(raw, sizeof(raw), WSGI_PROTO_MAX_PAYLOAD,
                                &h) != WSGI_PROTO_OK ||
            (h.type != WSGI_FRAME_BODY && h.type != WSGI_FRAME_BODY_END)) {
            w->failed = 1;
            return -1;
        }
        if (h.type == WSGI_FRAME_BODY_END)
            w->body_done = 1;
        else
            w->frame_left = h.length;
    }
    if (n > w->frame_left)
        n = w->frame_left;
    do {
        got = recv(w->fd, buf, n, 0);
    } while (got < 0 && wsgi_wire_again(w->fd, POLLIN, w->timeout_ms));
    if (got <= 0) {
        w->failed = 1;
        return -1;
    }
    w->frame_left -= (uint32_t)got;
    return (long)got;
}

static long wsgi_channel_read(wsgi_transport *t, char *buf,
                                     apr_size_t n)
{
    wsgi_channel *w = (wsgi_channel *)t;
    long got;

    /* The read-ahead goes first, under the lock it fills it with: it
     * lets go of the GIL while it waits (wsgi_channel_spool), so a thread
     * of the application may read meanwhile, and must neither see it half
     * made nor read the socket past it. */
    apr_thread_mutex_lock(w->io);
    if (w->spool_pos < w->spool_len) {
        apr_size_t avail = w->spool_len - w->spool_pos;

        if (n > avail)
            n = avail;
        memcpy(buf, w->spool + w->spool_pos, n);
        w->spool_pos += n;
        got = (long)n;
    }
    else
        got = wsgi_channel_body(w, buf, n);
    apr_thread_mutex_unlock(w->io);
    return got;
}

#define WSGI_CHANNEL_SPOOL_MAX (256 * 1024)
#define WSGI_CHANNEL_SPOOL_WAIT_MS 100

/* Reads ahead what is left of the body, up to WSGI_CHANNEL_SPOOL_MAX (see
 * the top). Called once, at the first response byte. */
static void wsgi_channel_spool(wsgi_channel *w)
{
    if (w->body_done || w->failed || w->spool != NULL ||
        apr_thread_mutex_trylock(w->io) != APR_SUCCESS)
        return;
    w->spool = malloc(WSGI_CHANNEL_SPOOL_MAX);
    while (w->spool != NULL && !w->body_done && !w->failed &&
           w->spool_len < WSGI_CHANNEL_SPOOL_MAX) {
        long got;

        /* What comes without a pause: a frame the Apache child has not
         * begun to send within the wait is not waited for (nothing of it
         * is consumed); a frame begun arrives whole at once, as the child
         * sends each from memory. */
        if (w->frame_left == 0) {
            struct pollfd pfd;
            int ready;

            pfd.fd = w->fd;
            pfd.events = POLLIN;
            /* Called from start(), the one transport call made with the
             * GIL held (the head is built from Python objects): a wait
             * lets the other threads of the process run meanwhile. It
             * did not, and while a client trickled its body to an
             * application that answers first, or BODY_END was still on
             * its way under load, no other request of the process ran
             * any Python (issue 19). What is there already is taken
             * without letting go of the GIL: taking it back may cost a
             * switch interval when others want it. */
            ready = poll(&pfd, 1, 0);
            if (ready == 0) {
                Py_BEGIN_ALLOW_THREADS
                ready = poll(&pfd, 1, WSGI_CHANNEL_SPOOL_WAIT_MS);
                Py_END_ALLOW_THREADS
            }
            if (ready <= 0)
                break;
        }
        got = wsgi_channel_body(w, w->spool + w->spool_len,
                             WSGI_CHANNEL_SPOOL_MAX - w->spool_len);
        if (got <= 0)
            break;
        w->spool_len += (apr_size_t)got;
    }
    apr_thread_mutex_unlock(w->io);
}

static int wsgi_channel_head(wsgi_transport *t, int status,
                                     const char *status_line,
                                     const wsgi_header *headers, int n,
                                     apr_off_t content_length)
{
    wsgi_channel *w = (wsgi_channel *)t;
    wsgi_pair *pairs = apr_palloc(t->pool, (n + 2) * sizeof(*pairs));
    const char *clen = NULL;
    unsigned char *buf;
    apr_size_t size;
    int i, k = 0;

    (void)status;
    /* request-timeout may have answered this request already (504). */
    if (!wsgi_monitor_claim_head()) {
        w->failed = 1;
        return -1;
    }
    wsgi_channel_spool(w);
    wsgi_proto_control(&pairs[k++], WSGI_CTL_STATUS, status_line,
                       (uint32_t)strlen(status_line));
    for (i = 0; i < n; i++) {
        if (!strcasecmp(headers[i].name, "Content-Length"))
            continue;
        pairs[k].name = headers[i].name;
        pairs[k].name_len = (uint32_t)strlen(headers[i].name);
        pairs[k].value = headers[i].value;
        pairs[k++].value_len = (uint32_t)strlen(headers[i].value);
    }
    if (content_length >= 0) {
        clen = apr_off_t_toa(t->pool, content_length);
        pairs[k].name = "Content-Length";
        pairs[k].name_len = 14;
        pairs[k].value = clen;
        pairs[k++].value_len = (uint32_t)strlen(clen);
    }
    size = wsgi_proto_pairs_size(pairs, k);
    if (size == 0) {
        /* Nothing went out yet: the client gets a 500 of Apache's. */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, t->s, WSGI_LOGNO(0743)
                     "the response head of '%s' (%d headers) is larger "
                     "than the %u bytes a daemon process can pass to "
                     "Apache; send fewer or smaller headers", t->target, n,
                     (unsigned)WSGI_PROTO_MAX_PAYLOAD);
        wsgi_wire_send_reply(w->fd, HTTP_INTERNAL_SERVER_ERROR,
                             w->timeout_ms);
        w->failed = 1;
        return -1;
    }
    w->out_cap = 2 * WSGI_PROTO_HEAD_SIZE + size + WSGI_CHANNEL_HOLD;
    w->out = apr_palloc(t->pool, w->out_cap);
    buf = w->out + WSGI_PROTO_HEAD_SIZE;
    if (wsgi_proto_put_pairs(buf, size, pairs, k) < 0)
        return -1;
    wsgi_proto_put_head(w->out, WSGI_FRAME_RESPONSE, (uint32_t)size);
    w->out_len = WSGI_PROTO_HEAD_SIZE + size;
    return 0;
}

static int wsgi_channel_write(wsgi_transport *t, const char *data,
                                     apr_size_t n, int flush)
{
    wsgi_channel *w = (wsgi_channel *)t;
    /* With a flusher a flush is a hold with a deadline (see above). */
    int deferred = flush && w->slot >= 0, rc = 0, wake = 0;

    pthread_mutex_lock(&w->out_lock);
    while (n > 0) {
        /* The Apache child holds one frame in memory at a time, per
         * thread: 64 KiB frames keep that small whatever the block size
         * the application yields (1 MiB frames grew every child by
         * megabytes that its allocator then kept). */
        apr_size_t piece = n > WSGI_PROTO_DATA_MAX ? WSGI_PROTO_DATA_MAX : n;

        if ((flush && !deferred) ||
            !wsgi_channel_hold(w, WSGI_FRAME_DATA, data, piece)) {
            rc = wsgi_channel_release(w, data, piece, WSGI_FRAME_DATA);
            if (rc < 0)
                break;
        }
        data += piece;
        n -= piece;
    }
    if (rc == 0 && flush && w->out_len > 0) {
        if (!deferred)
            rc = wsgi_channel_release(w, NULL, 0, -1);
        else if (w->due == 0) {
            w->due = apr_time_now() +
                     apr_time_from_msec(wsgi_flusher->delay_ms);
            wake = 1;
        }
    }
    pthread_mutex_unlock(&w->out_lock);
    if (wake && write(wsgi_flusher->wake[1], "", 1) < 0) {
        /* A full pipe already has the flusher awake. */
    }
    return rc;
}

/*
 * wsgi.file_wrapper of a regular file: the descriptor itself goes to the
 * Apache child (SCM_RIGHTS), which sends the bytes with a file bucket,
 * sendfile() included, so they never cross the socket between the two.
 * Anything else (or a failure to pass it) is copied in DATA frames.
 */
static int wsgi_channel_send_file(wsgi_transport *t, int fd,
                                         apr_off_t offset, apr_off_t len)
{
    wsgi_channel *w = (wsgi_channel *)t;
    unsigned char where[WSGI_PROTO_FILE_SIZE];
    char *buf;
    struct stat st;
    int rc = 0;

    /* The descriptor rides on a frame of its own: held frames go first. */
    pthread_mutex_lock(&w->out_lock);
    rc = w->out_len > 0 ? wsgi_channel_release(w, NULL, 0, -1) : 0;
    pthread_mutex_unlock(&w->out_lock);
    if (rc < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && offset >= 0 &&
        len >= 0) {
        wsgi_proto_put_file(where, (uint64_t)offset, (uint64_t)len);
        return wsgi_wire_send_fd(w->fd, WSGI_FRAME_FILE, where,
                                      sizeof(where), fd, w->timeout_ms);
    }
    buf = apr_palloc(t->pool, WSGI_PROTO_DATA_MAX);
    while (rc == 0 && len > 0) {
        ssize_t got = pread(fd, buf,
                            len > WSGI_PROTO_DATA_MAX ? WSGI_PROTO_DATA_MAX
                                                      : (size_t)len,
                            (off_t)offset);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;      /* the file shrank or failed under us */
        rc = wsgi_channel_write(t, buf, (apr_size_t)got, 0);
        offset += got;
        len -= got;
    }
    return rc;
}

/* See wsgi_input.c: the connection ends with the request anyway. */
static void wsgi_channel_abort_read(wsgi_transport *t)
{
    shutdown(((wsgi_channel *)t)->fd, SHUT_RD);
}

static int wsgi_channel_finish(wsgi_transport *t, int complete)
{
    wsgi_channel *w = (wsgi_channel *)t;
    int rc;

    pthread_mutex_lock(&w->out_lock);
    rc = wsgi_channel_release(w, NULL, 0,
                           complete ? WSGI_FRAME_END : WSGI_FRAME_ABORT);
    pthread_mutex_unlock(&w->out_lock);
    return rc;
}

/* The transport of the request on fd, for the worker thread of the
 * monitor's slot (the flusher's table has one entry per slot). */
wsgi_transport *wsgi_channel_open(apr_pool_t *p, server_rec *s, int fd,
                                  int timeout_ms, int slot)
{
    wsgi_channel *w = apr_pcalloc(p, sizeof(*w));

    w->fd = fd;
    w->timeout_ms = timeout_ms;
    apr_thread_mutex_create(&w->io, APR_THREAD_MUTEX_DEFAULT, p);
    wsgi_channel_enter(w, slot);
    w->base.pool = p;
    w->base.s = s;
    w->base.target = "?";
    w->base.read = wsgi_channel_read;
    w->base.start = wsgi_channel_head;
    w->base.write = wsgi_channel_write;
    w->base.send_file = wsgi_channel_send_file;
    w->base.finish = wsgi_channel_finish;
    w->base.abort_read = wsgi_channel_abort_read;
    return &w->base;
}

/* Before the request's pool goes: out of the flusher's table, the
 * read-ahead freed. */
void wsgi_channel_close(wsgi_transport *t)
{
    wsgi_channel *w = (wsgi_channel *)t;

    wsgi_channel_leave(w);
    free(w->spool);
    w->spool = NULL;
}
