/*
 * wsgi_wire.c: frames on a connected UNIX socket, and the daemon's side
 * of a request: the environ from the REQUEST frame, wsgi.input from BODY
 * frames, the response as RESPONSE, DATA and END frames.
 *
 * The Apache child sends the body while it relays the response (see
 * wsgi_body in wsgi_remote.c), so the daemon reads BODY frames as the
 * application asks for input, before, during or after its response. One
 * thing more: most HTTP clients send the whole body before they read any
 * of the answer, so an application that answers before reading would
 * leave such a client unable to send and itself unable to answer. At the
 * first response byte the daemon therefore reads ahead what is left of
 * the body, up to WSGI_WIRE_SPOOL_MAX: a small body is then all in, and
 * memory per request stays bounded whatever the body's size (beyond
 * that, as with any server, the client has to read while it sends). It
 * takes only what comes without a pause (a client that stalls is not
 * waited for), and never while another thread of the application reads
 * (wsgi.input handed to a thread).
 */

#include "wsgi_common.h"

/* Waits until fd is ready for events; 0 ready, -1 timeout or error. */
static int wsgi_wire_wait(int fd, short events, int timeout_ms)
{
    struct pollfd pfd;
    int rc;

    pfd.fd = fd;
    pfd.events = events;
    do {
        rc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

/* After a failed send or receive on the non-blocking socket: 1 to try
 * again (interrupted, or the socket became ready for events within the
 * timeout), 0 to give up with errno set. */
static int wsgi_wire_again(int fd, short events, int timeout_ms)
{
    return errno == EINTR ||
           ((errno == EAGAIN || errno == EWOULDBLOCK) &&
            wsgi_wire_wait(fd, events, timeout_ms) == 0);
}

/*
 * Writes all of iov[0..n) in as few system calls as the socket allows:
 * one sendmsg when it takes everything, so the peer wakes once for what
 * may be several frames. passfd >= 0 rides on the first byte
 * (SCM_RIGHTS). The iovecs are consumed.
 */
static int wsgi_wire_writev(int fd, struct iovec *iov, int n, int passfd,
                            int timeout_ms)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    ssize_t sent;

    memset(&msg, 0, sizeof(msg));
    if (passfd >= 0) {
        struct cmsghdr *cmsg;

        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
    }
    for (;;) {
        while (n > 0 && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (n == 0)
            break;
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (!wsgi_wire_again(fd, POLLOUT, timeout_ms))
                return -1;
            continue;
        }
        /* The descriptor went with the first byte. */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}

/* One frame: head and payload in one system call when the socket takes
 * them. */
static int wsgi_wire_write2(int fd, const unsigned char *head,
                            apr_size_t hlen, const void *payload,
                            apr_size_t len, int passfd, int timeout_ms)
{
    struct iovec iov[2];

    iov[0].iov_base = (void *)head;
    iov[0].iov_len = hlen;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    return wsgi_wire_writev(fd, iov, 2, passfd, timeout_ms);
}

/* Reads exactly len bytes. Returns 0, or -1 (errno 0 for end of
 * stream, ETIMEDOUT, or the error). */
int wsgi_wire_read(int fd, void *buf, apr_size_t len, int timeout_ms)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n;

        /* The socket is non-blocking: try first, wait only when there is
         * nothing yet (most reads find their bytes already there). */
        n = recv(fd, p, len, 0);
        if (n < 0 && wsgi_wire_again(fd, POLLIN, timeout_ms))
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        p += n;
        len -= (apr_size_t)n;
    }
    return 0;
}

/*
 * A frame head read that also takes a file descriptor passed with it
 * (SCM_RIGHTS rides on the first byte of the frame). *passed is -1 or
 * the descriptor, which the caller then owns.
 */
int wsgi_wire_read_head(int fd, unsigned char *head, int timeout_ms,
                        int *passed)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cmsg;
    ssize_t n;

    *passed = -1;
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = head;
    iov.iov_len = WSGI_PROTO_HEAD_SIZE;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && wsgi_wire_again(fd, POLLIN, timeout_ms));
    if (n <= 0) {
        if (n == 0)
            errno = 0;
        return -1;
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
            cmsg->cmsg_len >= CMSG_LEN(sizeof(int)))
            memcpy(passed, CMSG_DATA(cmsg), sizeof(int));
    }
    if ((size_t)n < WSGI_PROTO_HEAD_SIZE &&
        wsgi_wire_read(fd, head + n, WSGI_PROTO_HEAD_SIZE - (size_t)n,
                       timeout_ms) < 0) {
        if (*passed >= 0)
            close(*passed);
        *passed = -1;
        return -1;
    }
    return 0;
}

/* A frame whose first byte carries passfd. */
static int wsgi_wire_send_with_fd(int fd, int type, const void *payload,
                                  apr_size_t len, int passfd, int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];

    wsgi_proto_put_head(head, type, (uint32_t)len);
    return wsgi_wire_write2(fd, head, sizeof(head), payload, len, passfd,
                            timeout_ms);
}

int wsgi_wire_send(int fd, int type, const void *payload, apr_size_t len,
                   int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];

    if (len > WSGI_PROTO_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    wsgi_proto_put_head(head, type, (uint32_t)len);
    return wsgi_wire_write2(fd, head, sizeof(head), payload, len, -1,
                            timeout_ms);
}

/* ---------------------------------------------------- daemon transport */

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
} wsgi_wire_transport;

/*
 * Frames held back to go with the next ones: the RESPONSE frame until the
 * first body bytes (PEP 3333 has the head wait for them anyway), and the
 * DATA frames of a list or tuple response (written without a flush) up to
 * WSGI_WIRE_HOLD bytes, until the END frame. A small response is then one
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
#define WSGI_WIRE_HOLD 8192

typedef struct {
    pthread_mutex_t lock;       /* slots; taken before a transport's */
    wsgi_wire_transport **slots;    /* one per worker thread */
    int nslots;
    int wake[2];                /* a pipe: a hold began */
    int delay_ms;
} wsgi_wire_flusher;

static wsgi_wire_flusher *wsgi_flusher = NULL;

static int wsgi_wire_release(wsgi_wire_transport *w, const void *payload,
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
static int wsgi_wire_hold(wsgi_wire_transport *w, int type,
                          const void *payload, apr_size_t len)
{
    if (type == WSGI_FRAME_DATA && w->last_data > 0 &&
        w->last_len + len <= 65536 &&
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
static void wsgi_wire_push(wsgi_wire_transport *w, apr_time_t now)
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

static void *APR_THREAD_FUNC wsgi_wire_flush_loop(apr_thread_t *thread,
                                                  void *data)
{
    wsgi_wire_flusher *f = data;
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
            wsgi_wire_transport *w = f->slots[i];

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
                wsgi_wire_push(w, now);
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
 * WSGI_WIRE_HOLD), unless response-flush-delay=0 asks for each block to
 * be written at once. */
void wsgi_wire_flusher_start(apr_pool_t *p, int nslots, int delay_ms)
{
    wsgi_wire_flusher *f;
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
    if (apr_thread_create(&t, attr, wsgi_wire_flush_loop, f, p) ==
        APR_SUCCESS)
        wsgi_flusher = f;
}

/* A request's transport enters the flusher's table under its worker's
 * slot, and leaves it before its pool goes. */
static void wsgi_wire_flusher_enter(wsgi_wire_transport *w, int slot)
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

static void wsgi_wire_flusher_leave(wsgi_wire_transport *w)
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
static long wsgi_wire_body(wsgi_wire_transport *w, char *buf, apr_size_t n)
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

static long wsgi_wire_transport_read(wsgi_transport *t, char *buf,
                                     apr_size_t n)
{
    wsgi_wire_transport *w = (wsgi_wire_transport *)t;
    long got;

    if (w->spool_pos < w->spool_len) {
        apr_size_t avail = w->spool_len - w->spool_pos;

        if (n > avail)
            n = avail;
        memcpy(buf, w->spool + w->spool_pos, n);
        w->spool_pos += n;
        return (long)n;
    }
    apr_thread_mutex_lock(w->io);
    got = wsgi_wire_body(w, buf, n);
    apr_thread_mutex_unlock(w->io);
    return got;
}

#define WSGI_WIRE_SPOOL_MAX (256 * 1024)
#define WSGI_WIRE_SPOOL_WAIT_MS 100

/* Reads ahead what is left of the body, up to WSGI_WIRE_SPOOL_MAX (see
 * the top). Called once, at the first response byte. */
static void wsgi_wire_spool(wsgi_wire_transport *w)
{
    if (w->body_done || w->failed || w->spool != NULL ||
        apr_thread_mutex_trylock(w->io) != APR_SUCCESS)
        return;
    w->spool = malloc(WSGI_WIRE_SPOOL_MAX);
    while (w->spool != NULL && !w->body_done && !w->failed &&
           w->spool_len < WSGI_WIRE_SPOOL_MAX) {
        long got;

        /* What comes without a pause: a frame the Apache child has not
         * begun to send within the wait is not waited for (nothing of it
         * is consumed); a frame begun arrives whole at once, as the child
         * sends each from memory. */
        if (w->frame_left == 0) {
            struct pollfd pfd;

            pfd.fd = w->fd;
            pfd.events = POLLIN;
            if (poll(&pfd, 1, WSGI_WIRE_SPOOL_WAIT_MS) <= 0)
                break;
        }
        got = wsgi_wire_body(w, w->spool + w->spool_len,
                             WSGI_WIRE_SPOOL_MAX - w->spool_len);
        if (got <= 0)
            break;
        w->spool_len += (apr_size_t)got;
    }
    apr_thread_mutex_unlock(w->io);
}

static int wsgi_wire_transport_start(wsgi_transport *t, int status,
                                     const char *status_line,
                                     const wsgi_header *headers, int n,
                                     apr_off_t content_length)
{
    wsgi_wire_transport *w = (wsgi_wire_transport *)t;
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
    wsgi_wire_spool(w);
    pairs[k].name = ":status";
    pairs[k].name_len = 7;
    pairs[k].value = status_line;
    pairs[k++].value_len = (uint32_t)strlen(status_line);
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
        wsgi_wire_send_error(w->fd, HTTP_INTERNAL_SERVER_ERROR,
                             w->timeout_ms);
        w->failed = 1;
        return -1;
    }
    w->out_cap = 2 * WSGI_PROTO_HEAD_SIZE + size + WSGI_WIRE_HOLD;
    w->out = apr_palloc(t->pool, w->out_cap);
    buf = w->out + WSGI_PROTO_HEAD_SIZE;
    if (wsgi_proto_put_pairs(buf, size, pairs, k) < 0)
        return -1;
    wsgi_proto_put_head(w->out, WSGI_FRAME_RESPONSE, (uint32_t)size);
    w->out_len = WSGI_PROTO_HEAD_SIZE + size;
    return 0;
}

static int wsgi_wire_transport_write(wsgi_transport *t, const char *data,
                                     apr_size_t n, int flush)
{
    wsgi_wire_transport *w = (wsgi_wire_transport *)t;
    /* With a flusher a flush is a hold with a deadline (see above). */
    int deferred = flush && w->slot >= 0, rc = 0, wake = 0;

    pthread_mutex_lock(&w->out_lock);
    while (n > 0) {
        /* The Apache child holds one frame in memory at a time, per
         * thread: 64 KiB frames keep that small whatever the block size
         * the application yields (1 MiB frames grew every child by
         * megabytes that its allocator then kept). */
        apr_size_t piece = n > 65536 ? 65536 : n;

        if ((flush && !deferred) ||
            !wsgi_wire_hold(w, WSGI_FRAME_DATA, data, piece)) {
            rc = wsgi_wire_release(w, data, piece, WSGI_FRAME_DATA);
            if (rc < 0)
                break;
        }
        data += piece;
        n -= piece;
    }
    if (rc == 0 && flush && w->out_len > 0) {
        if (!deferred)
            rc = wsgi_wire_release(w, NULL, 0, -1);
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
static int wsgi_wire_transport_send_file(wsgi_transport *t, int fd,
                                         apr_off_t offset, apr_off_t len)
{
    wsgi_wire_transport *w = (wsgi_wire_transport *)t;
    unsigned char where[WSGI_PROTO_FILE_SIZE];
    char *buf;
    struct stat st;
    int rc = 0;

    /* The descriptor rides on a frame of its own: held frames go first. */
    pthread_mutex_lock(&w->out_lock);
    rc = w->out_len > 0 ? wsgi_wire_release(w, NULL, 0, -1) : 0;
    pthread_mutex_unlock(&w->out_lock);
    if (rc < 0)
        return -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && offset >= 0 &&
        len >= 0) {
        wsgi_proto_put_file(where, (uint64_t)offset, (uint64_t)len);
        return wsgi_wire_send_with_fd(w->fd, WSGI_FRAME_FILE, where,
                                      sizeof(where), fd, w->timeout_ms);
    }
    buf = apr_palloc(t->pool, 65536);
    while (rc == 0 && len > 0) {
        ssize_t got = pread(fd, buf, len > 65536 ? 65536 : (size_t)len,
                            (off_t)offset);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;      /* the file shrank or failed under us */
        rc = wsgi_wire_transport_write(t, buf, (apr_size_t)got, 0);
        offset += got;
        len -= got;
    }
    return rc;
}

/* See wsgi_input.c: the connection ends with the request anyway. */
static void wsgi_wire_transport_abort_read(wsgi_transport *t)
{
    shutdown(((wsgi_wire_transport *)t)->fd, SHUT_RD);
}

static int wsgi_wire_transport_finish(wsgi_transport *t, int complete)
{
    wsgi_wire_transport *w = (wsgi_wire_transport *)t;
    int rc;

    pthread_mutex_lock(&w->out_lock);
    rc = wsgi_wire_release(w, NULL, 0,
                           complete ? WSGI_FRAME_END : WSGI_FRAME_ABORT);
    pthread_mutex_unlock(&w->out_lock);
    return rc;
}

/* ------------------------------------------------- daemon request side */

static const char *wsgi_pair_get(const wsgi_pair *pairs, int n,
                                 const char *name, apr_pool_t *p)
{
    size_t len = strlen(name);
    int i;

    for (i = n - 1; i >= 0; i--) {
        if (pairs[i].name_len == len && !memcmp(pairs[i].name, name, len))
            return apr_pstrmemdup(p, pairs[i].value, pairs[i].value_len);
    }
    return NULL;
}

/* The CGI variables that are filesystem paths, not latin-1 text. */
static int wsgi_is_path_key(const wsgi_pair *pair)
{
    static const char *const keys[] = {"SCRIPT_FILENAME", "DOCUMENT_ROOT",
                                       "CONTEXT_DOCUMENT_ROOT", NULL};
    int i;

    for (i = 0; keys[i]; i++) {
        if (pair->name_len == strlen(keys[i]) &&
            !memcmp(pair->name, keys[i], pair->name_len))
            return 1;
    }
    return 0;
}

static PyObject *wsgi_daemon_environ(wsgi_interp *wi, const wsgi_pair *pairs,
                                     int n, PyObject *input, PyObject *errors,
                                     apr_time_t accepted)
{
    PyObject *env = PyDict_Copy(wi->environ_template), *k, *v;
    int i, err = 0;

    for (i = 0; env != NULL && i < n && !err; i++) {
        if (pairs[i].name_len > 0 && pairs[i].name[0] == ':')
            continue;       /* carrier entries, not for the application */
        k = PyUnicode_DecodeLatin1(pairs[i].name, pairs[i].name_len, NULL);
        v = wsgi_is_path_key(&pairs[i])
                ? PyUnicode_DecodeFSDefaultAndSize(pairs[i].value,
                                                   pairs[i].value_len)
                : PyUnicode_DecodeLatin1(pairs[i].value, pairs[i].value_len,
                                         NULL);
        err = k == NULL || v == NULL || PyDict_SetItem(env, k, v) < 0;
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    if (env == NULL || err)
        goto fail;
    for (i = 0; i < n; i++) {
        /* Times travel as microseconds; the environ has float seconds. */
        if (pairs[i].name_len == 14 &&
            !memcmp(pairs[i].name, ":request_start", 14)) {
            char tmp[32];
            apr_size_t l = pairs[i].value_len < 31 ? pairs[i].value_len : 31;

            memcpy(tmp, pairs[i].value, l);
            tmp[l] = '\0';
            v = PyFloat_FromDouble(apr_atoi64(tmp) / 1e6);
            err |= v == NULL ||
                   PyDict_SetItemString(env, "mod_wsgi.request_start", v) < 0;
            Py_XDECREF(v);
        }
    }
    v = PyFloat_FromDouble(accepted / 1e6);
    err |= v == NULL || PyDict_SetItemString(env, "mod_wsgi.daemon_start",
                                             v) < 0;
    err |= v == NULL || PyDict_SetItemString(env, "mod_wsgi.queue_start",
                                             v) < 0;
    Py_XDECREF(v);
    v = PyFloat_FromDouble(apr_time_now() / 1e6);
    err |= v == NULL ||
           PyDict_SetItemString(env, "mod_wsgi.application_start", v) < 0;
    Py_XDECREF(v);
    v = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    err |= v == NULL || PyDict_SetItemString(env, "mod_wsgi.thread_id", v) < 0;
    Py_XDECREF(v);
    err |= PyDict_SetItemString(env, "wsgi.input", input) < 0;
    err |= PyDict_SetItemString(env, "wsgi.errors", errors) < 0;
    if (!err)
        return env;
fail:
    Py_XDECREF(env);
    return NULL;
}

/* Nothing went out yet: ask the Apache child to answer with this status
 * itself, so its ErrorDocument and error page apply. */
/* An error status instead of a response head: the Apache child answers
 * the client with it (its own error page, ErrorDocument and all). */
int wsgi_wire_send_error(int fd, int status, int timeout_ms)
{
    unsigned char buf[64];
    wsgi_pair pair;
    char code[8];
    long size;

    snprintf(code, sizeof(code), "%d", status);
    pair.name = ":error";
    pair.name_len = 6;
    pair.value = code;
    pair.value_len = (uint32_t)strlen(code);
    size = wsgi_proto_put_pairs(buf, sizeof(buf), &pair, 1);
    return size > 0 ? wsgi_wire_send(fd, WSGI_FRAME_RESPONSE, buf,
                                     (apr_size_t)size, timeout_ms)
                    : -1;
}

/* ":restart": this process is going; send the request again. */
static void wsgi_wire_send_restart(int fd, int timeout_ms)
{
    unsigned char buf[32];
    wsgi_pair pair;
    long size;

    if (!wsgi_monitor_claim_head())
        return;
    pair.name = ":restart";
    pair.name_len = 8;
    pair.value = "";
    pair.value_len = 0;
    size = wsgi_proto_put_pairs(buf, sizeof(buf), &pair, 1);
    if (size > 0)
        wsgi_wire_send(fd, WSGI_FRAME_RESPONSE, buf, (apr_size_t)size,
                       timeout_ms);
}

static void wsgi_daemon_error(wsgi_wire_transport *w, int status)
{
    if (wsgi_monitor_claim_head())
        wsgi_wire_send_error(w->fd, status, w->timeout_ms);
}

/* Who answers: the Apache child names this pid if the connection then
 * closes without a response. */
static void wsgi_daemon_hello(int fd, int timeout_ms)
{
    unsigned char pid[4];
    uint32_t v = (uint32_t)getpid();

    pid[0] = (unsigned char)(v >> 24);
    pid[1] = (unsigned char)(v >> 16);
    pid[2] = (unsigned char)(v >> 8);
    pid[3] = (unsigned char)v;
    wsgi_wire_send(fd, WSGI_FRAME_HELLO, pid, sizeof(pid), timeout_ms);
}

void wsgi_daemon_serve(wsgi_daemon *d, int fd, apr_pool_t *p)
{
    wsgi_wire_transport *w = apr_pcalloc(p, sizeof(*w));
    unsigned char raw[WSGI_PROTO_HEAD_SIZE], *payload;
    apr_time_t accepted = apr_time_now(), mtime = 0;
    const char *script, *agroup, *callable, *reload, *clen;
    PyObject *module = NULL, *app = NULL, *input = NULL, *errors = NULL;
    PyObject *environ = NULL;
    wsgi_pair *pairs;
    wsgi_frame_head h;
    wsgi_interp *wi;
    int n = 0, proto, status = HTTP_INTERNAL_SERVER_ERROR;

    w->fd = fd;
    apr_thread_mutex_create(&w->io, APR_THREAD_MUTEX_DEFAULT, p);
    wsgi_wire_flusher_enter(w, wsgi_monitor_slot);
    w->timeout_ms = (d->socket_timeout > 0 ? d->socket_timeout
                                           : (int)apr_time_sec(
                                                 wsgi_main_server->timeout)) *
                    1000;
    w->base.pool = p;
    w->base.s = d->server;
    w->base.read = wsgi_wire_transport_read;
    w->base.start = wsgi_wire_transport_start;
    w->base.write = wsgi_wire_transport_write;
    w->base.send_file = wsgi_wire_transport_send_file;
    w->base.finish = wsgi_wire_transport_finish;
    w->base.abort_read = wsgi_wire_transport_abort_read;
    wsgi_daemon_hello(fd, w->timeout_ms);

    /* The environ is bounded by what Apache lets a request carry. */
    if (wsgi_wire_read(fd, raw, sizeof(raw), w->timeout_ms) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->server,
                     WSGI_LOGNO(0721) "daemon group '%s' (pid %d): no "
                     "request frame from the Apache child; connection "
                     "dropped", d->name, (int)getpid());
        goto out;
    }
    proto = wsgi_proto_get_head(raw, sizeof(raw),
                                (uint32_t)wsgi_peer_environ_cap(), &h);
    if (proto == WSGI_PROTO_TOO_BIG) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server, WSGI_LOGNO(0721)
                     "daemon group '%s' (pid %d): a request environ larger "
                     "than %" APR_SIZE_T_FMT " bytes (from LimitRequestLine, "
                     "LimitRequestFields and LimitRequestFieldSize); "
                     "connection dropped", d->name, (int)getpid(),
                     wsgi_peer_environ_cap());
        goto out;
    }
    /* Anything else than a request head of this version is not from an
     * Apache child of this server. */
    if (proto != WSGI_PROTO_OK || h.type != WSGI_FRAME_REQUEST) {
        wsgi_peer_refuse(d, fd, proto != WSGI_PROTO_OK
                                    ? wsgi_proto_strerror(proto)
                                    : "the first frame is not a request",
                         NULL);
        goto out;
    }
    payload = apr_palloc(p, h.length ? h.length : 1);
    pairs = apr_palloc(p, (h.length / 8 + 1) * sizeof(*pairs));
    if (wsgi_wire_read(fd, payload, h.length, w->timeout_ms) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->server,
                     WSGI_LOGNO(0722) "daemon group '%s' (pid %d): "
                     "truncated request frame; connection dropped",
                     d->name, (int)getpid());
        goto out;
    }
    /* Nothing of a frame is believed before its tag is checked. */
    if (wsgi_peer_check_frame(d, fd, raw, payload, h.length) < 0)
        goto out;
    if (wsgi_proto_get_pairs(payload + WSGI_PROTO_TAG_SIZE,
                             h.length - WSGI_PROTO_TAG_SIZE, pairs,
                             (int)(h.length / 8 + 1), &n) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->server,
                     WSGI_LOGNO(0722) "daemon group '%s' (pid %d): "
                     "malformed request frame; connection dropped",
                     d->name, (int)getpid());
        goto out;
    }
    /* queue-timeout: a request that waited this long (in Apache, in the
     * socket's backlog) is answered 504 at once, as upstream does; its
     * client has likely given up, and serving it would only delay those
     * behind it. */
    if (d->queue_timeout > 0) {
        const char *start = wsgi_pair_get(pairs, n, ":request_start", p);
        apr_time_t began = start ? (apr_time_t)apr_atoi64(start) : 0;

        if (began > 0 && accepted - began >
                             apr_time_from_sec(d->queue_timeout)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server,
                         WSGI_LOGNO(0735) "daemon group '%s' (pid %d): a "
                         "request waited %" APR_TIME_T_FMT " ms, more than "
                         "queue-timeout=%ds; answering 504 (add processes= "
                         "or threads= if this happens under normal load)",
                         d->name, (int)getpid(),
                         apr_time_as_msec(accepted - began),
                         d->queue_timeout);
            wsgi_daemon_error(w, HTTP_GATEWAY_TIME_OUT);
            goto out;
        }
    }
    script = wsgi_pair_get(pairs, n, "SCRIPT_FILENAME", p);
    agroup = wsgi_pair_get(pairs, n, "mod_wsgi.application_group", p);
    callable = wsgi_pair_get(pairs, n, "mod_wsgi.callable_object", p);
    reload = wsgi_pair_get(pairs, n, "mod_wsgi.script_reloading", p);
    w->base.target = script ? script : "?";
    if (script == NULL || agroup == NULL || callable == NULL) {
        wsgi_daemon_error(w, HTTP_INTERNAL_SERVER_ERROR);
        goto out;
    }
    /* A genuine frame still runs only what the configuration maps to
     * this group (an embedded application shares the child's keys). */
    if (wsgi_peer_check_target(d, fd, script, callable, p) < 0)
        goto out;
    if (wsgi_pair_get(pairs, n, ":ignore_activity", p))
        wsgi_monitor_ignore_activity();

    if ((reload == NULL || strcmp(reload, "0")) &&
        wsgi_monitor_script_changed(script, p, &mtime)) {
        wsgi_daemon_restart_self(apr_psprintf(p, "WSGI script '%s' changed",
                                              script));
        /* Without a body the Apache child can send the request again, to
         * the new process: the first request after the change already
         * runs all-new code. With one it is served here (the script
         * reloaded in place), as the body cannot be sent twice. */
        clen = wsgi_pair_get(pairs, n, "CONTENT_LENGTH", p);
        if (!wsgi_pair_get(pairs, n, "HTTP_TRANSFER_ENCODING", p) &&
            (clen == NULL || apr_atoi64(clen) == 0)) {
            wsgi_wire_send_restart(fd, w->timeout_ms);
            goto out;
        }
    }
    wi = wsgi_acquire_interp(agroup, NULL);
    if (wi == NULL) {
        wsgi_daemon_error(w, HTTP_INTERNAL_SERVER_ERROR);
        goto out;
    }
    wsgi_request_begin();
    wsgi_monitor_python(wi->name);
    {
        const char *ip = wsgi_pair_get(pairs, n, "REMOTE_ADDR", p);
        const char *port = wsgi_pair_get(pairs, n, "REMOTE_PORT", p);

        wsgi_current_client =
            ip ? (port ? apr_pstrcat(p, ip, ":", port, NULL) : ip) : NULL;
    }
    module = wsgi_load_script(wi, NULL, script, mtime,
                              reload == NULL || strcmp(reload, "0"), p);
    wsgi_monitor_script_loaded(module != NULL);
    if (module == NULL) {
        wsgi_log_python_error(NULL, d->server, WSGI_LOGNO(0506) "failed to "
                              "load WSGI script '%s'", script);
        goto fail;
    }
    app = PyObject_GetAttrString(module, callable);
    if (app == NULL) {
        PyErr_Clear();
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->server,
                     WSGI_LOGNO(0507) "WSGI script '%s' does not define "
                     "'%s'; name the callable 'application' or set "
                     "WSGICallableObject (or callable-object=) to its name",
                     script, callable);
        status = HTTP_NOT_FOUND;
        goto fail;
    }
    input = wsgi_input_new(&w->base);
    errors = wsgi_log_new(NULL, APLOG_ERR, "wsgi.errors");
    if (input != NULL && errors != NULL)
        environ = wsgi_daemon_environ(wi, pairs, n, input, errors, accepted);
    if (environ == NULL) {
        wsgi_log_python_error(NULL, d->server, WSGI_LOGNO(0508) "could not "
                              "build the WSGI environ for '%s'", script);
        goto fail;
    }
    status = wsgi_run_application(&w->base, app, environ, input, errors);
fail:
    if (status != OK) {
        PyErr_Clear();
        Py_BEGIN_ALLOW_THREADS
        wsgi_daemon_error(w, status);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(environ);
    Py_XDECREF(errors);
    Py_XDECREF(input);
    Py_XDECREF(app);
    Py_XDECREF(module);
    wsgi_release_interp(wi);
    wsgi_request_end();
    wsgi_current_client = NULL;
out:
    wsgi_wire_flusher_leave(w);
    free(w->spool);
}
