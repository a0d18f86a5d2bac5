/*
 * wsgi_upload.c: the Apache child's side of a daemon request, the
 * request body going to the daemon and the memory bodies are relayed
 * through (wsgi_remote.c uses both).
 */

#include "wsgi_common.h"

#include <sys/mman.h>

/*
 * Memory for relaying bodies. An event-MPM connection's pool keeps what
 * it frees for the connections it serves later, up to MaxMemFree (2 MB
 * by default): 64 KiB buffers taken from request pools stayed in every
 * child once per connection it ever served (bench/: 3.4 MiB anonymous
 * memory per child after 1 MiB POSTs; 1.0 MiB with MaxMemFree 32). So the
 * body frames going to the daemon, the response frames above
 * WSGI_RELAY_SMALL coming back and the body read before connecting each
 * go through a mapping of the request's, unmapped when the request ends.
 * Both ways are in flight at once (see wsgi_body below): two mappings.
 */

apr_status_t wsgi_relay_unmap(void *data)
{
    wsgi_relay *relay = data;

    if (relay->in != NULL && relay->in != MAP_FAILED)
        munmap(relay->in, WSGI_RELAY_MAP);
    if (relay->out != NULL && relay->out != MAP_FAILED)
        munmap(relay->out, WSGI_RELAY_MAP);
    if (relay->pre != NULL && relay->pre != MAP_FAILED)
        munmap(relay->pre, relay->pre_cap);
    relay->in = relay->out = relay->pre = NULL;
    return APR_SUCCESS;
}

wsgi_relay *wsgi_relay_new(request_rec *r)
{
    wsgi_relay *relay = apr_pcalloc(r->pool, sizeof(*relay));

    apr_pool_cleanup_register(r->pool, relay, wsgi_relay_unmap,
                              apr_pool_cleanup_null);
    return relay;
}

/* One of the request's mappings, made on first use; NULL if none can be
 * had (the caller then takes pool memory). */
static void *wsgi_relay_map(void **slot, apr_size_t size)
{
    if (*slot == NULL)
        *slot = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return *slot == MAP_FAILED ? NULL : *slot;
}

/* Room for a response payload of len bytes: the request's mapping for a
 * large frame (relay not NULL), else p. */
unsigned char *wsgi_relay_room(wsgi_relay *relay, apr_pool_t *p,
                               uint32_t len)
{
    unsigned char *room = NULL;

    if (relay != NULL && len > WSGI_RELAY_SMALL && len <= WSGI_RELAY_SIZE)
        room = wsgi_relay_map(&relay->out, WSGI_RELAY_MAP);
    return room ? room : apr_palloc(p, len ? len : 1);
}

/* The client connection's socket descriptor, or -1. */
apr_os_sock_t wsgi_client_fd(conn_rec *c)
{
    apr_socket_t *sock = ap_get_conn_socket(c);
    apr_os_sock_t sd = -1;

    if (sock == NULL || apr_os_sock_get(&sd, sock) != APR_SUCCESS)
        sd = -1;
    return sd;
}

/*
 * Apache is stopping this child without grace (apachectl stop): the
 * worker and event MPMs then close the client sockets of requests still
 * running (close_worker_sockets), which leaves ours without a descriptor.
 * Waiting for a daemon any longer would only get the child SIGKILLed.
 * A graceful stop or restart leaves the socket alone: the request then
 * waits for the (new) daemons as usual.
 */
int wsgi_client_gone(conn_rec *c)
{
    return wsgi_client_fd(c) < 0;
}

/* ---------------------------------------------------- the request body */

/*
 * The body goes to the daemon while the response comes back: the Apache
 * child never blocks on one direction while the other waits. So an
 * application that answers before it has read its input (or streams its
 * answer while it reads) needs no copy of the body held anywhere: the
 * daemon reads BODY frames as the application asks, and memory per
 * request stays at two 64 KiB mappings whatever the body's size (the
 * daemon used to read an unread body whole into memory first: 512 MiB
 * for a 512 MiB POST). When the application is done without reading it
 * all, the daemon closes; the rest is not sent (Apache reads it off the
 * connection and discards it, as for any handler).
 */

/* Body bytes from the client: > 0 read, 0 none now (non-blocking), -1
 * the end, -2 failed (b->status says how). */
static long wsgi_body_take(wsgi_body *b, char *buf, apr_size_t n,
                           int block)
{
    apr_size_t got = n;
    apr_status_t rv;
    int eos;

    if (!b->reading)
        return -1;
    rv = ap_get_brigade(b->r->input_filters, b->bb, AP_MODE_READBYTES,
                        block ? APR_BLOCK_READ : APR_NONBLOCK_READ, n);
    if (APR_STATUS_IS_EAGAIN(rv)) {
        apr_brigade_cleanup(b->bb);
        return 0;
    }
    if (rv != APR_SUCCESS) {
        /* RFC 9110 15.5.9: a client too slow to send its body gets 408,
         * as Apache answers; a filter's own answer (413 for
         * LimitRequestBody) stands. */
        b->status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        b->reading = 0;
        b->r->connection->keepalive = AP_CONN_CLOSE;
        apr_brigade_cleanup(b->bb);
        return -2;
    }
    eos = !APR_BRIGADE_EMPTY(b->bb) &&
          APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(b->bb));
    if (apr_brigade_flatten(b->bb, buf, &got) != APR_SUCCESS)
        got = 0;
    apr_brigade_cleanup(b->bb);
    if (eos)
        b->reading = 0;
    return got > 0 ? (long)got : eos ? -1 : 0;
}

/*
 * Item 11 of the daemon issue: up to request-buffer-size of the body is
 * read before the daemon is connected to, so a slow upload costs an
 * Apache thread (cheap, and the event MPM's to manage) rather than one of
 * the group's few Python threads. Bounded by Apache's Timeout per read.
 */
static void wsgi_body_preread(wsgi_body *b, apr_size_t cap)
{
    unsigned char *pre;
    long got = 1;

    if (cap == 0 || !b->reading)
        return;
    b->relay->pre_cap = cap;
    pre = wsgi_relay_map(&b->relay->pre, cap);
    if (pre == NULL)
        return;
    while (got > 0 && b->pre_len < cap) {
        got = wsgi_body_take(b, (char *)pre + b->pre_len, cap - b->pre_len,
                             1);
        if (got > 0)
            b->pre_len += (apr_size_t)got;
    }
}

void wsgi_body_start(wsgi_body *b, request_rec *r, wsgi_relay *relay,
                     apr_size_t cap)
{
    conn_rec *c = r->connection;

    memset(b, 0, sizeof(*b));
    b->r = r;
    b->relay = relay;
    b->bb = apr_brigade_create(r->pool, c->bucket_alloc);
    b->client_fd = c->master ? -1 : (int)wsgi_client_fd(c);
    b->client_timeout = r->server->timeout;
    b->reading = ap_should_client_block(r);
    wsgi_body_preread(b, cap);
}

void wsgi_body_rewind(wsgi_body *b)
{
    b->pre_off = 0;
    b->off = b->len = 0;
    b->end_sent = b->daemon_gone = 0;
}

/* The next frame to write, if there is nothing pending: body bytes read
 * before connecting, then what the client has sent by now (without
 * waiting for it unless block), then BODY_END. Returns 1 when a frame
 * is pending, 0 when there is none now. */
static int wsgi_body_next(wsgi_body *b, int block)
{
    unsigned char *f;
    long got = 0;

    if (b->off < b->len || b->daemon_gone || b->end_sent)
        return b->off < b->len && !b->daemon_gone;
    if (b->pre_off >= b->pre_len && !b->reading)
        /* Only BODY_END is left (all of a request without a body): no
         * 64 KiB mapping for it. Mapping and unmapping one per request
         * cost a hello request two system calls, a page fault and, at
         * munmap, a TLB shootdown on every CPU running this child. */
        f = b->end_frame;
    else if ((f = wsgi_relay_map(&b->relay->in, WSGI_RELAY_MAP)) == NULL) {
        if (b->spare == NULL)
            b->spare = apr_palloc(b->r->pool, WSGI_RELAY_MAP);
        f = b->spare;
    }
    b->frame = f;
    if (b->pre_off < b->pre_len) {
        apr_size_t n = b->pre_len - b->pre_off;

        if (n > WSGI_RELAY_SIZE)
            n = WSGI_RELAY_SIZE;
        memcpy(f + WSGI_PROTO_HEAD_SIZE,
               (unsigned char *)b->relay->pre + b->pre_off, n);
        b->pre_off += n;
        got = (long)n;
    }
    else if (b->reading) {
        got = wsgi_body_take(b, (char *)f + WSGI_PROTO_HEAD_SIZE,
                             WSGI_RELAY_SIZE, block);
        if (got == 0)
            return 0;
        if (got == -2)
            return 0;   /* the caller sees b->status */
    }
    if (got > 0)
        wsgi_proto_put_head(f, WSGI_FRAME_BODY, (uint32_t)got);
    else {
        wsgi_proto_put_head(f, WSGI_FRAME_BODY_END, 0);
        b->end_sent = 1;
        got = 0;
    }
    b->len = WSGI_PROTO_HEAD_SIZE + (apr_size_t)got;
    b->off = 0;
    return 1;
}

/*
 * Sends what the daemon socket takes now, without waiting: the frame
 * pending, then the next ones while there are any (the rest of the body
 * read before connecting, what the client has sent meanwhile, BODY_END).
 * Returns 0 when nothing is left pending, 1 when a frame waits for room,
 * 2 or 3 (the same, plus 2) when bytes went out, -1 when the client
 * failed (b->status).
 *
 * Sending comes before reading the daemon's frames: a request without a
 * body (or with all of it read before connecting) is then entirely on the
 * socket before this thread sleeps, HELLO or not. The daemon looks for
 * BODY_END when the application answers (wsgi_channel_spool); were it
 * sent only after HELLO was read, as it was, every such request cost a
 * round trip between the two processes while the daemon thread waited,
 * and on a loaded machine each such wake-up waits for a CPU (issue 19: a
 * hello request took 6 ms from connect to answer, upstream's 3).
 */
static int wsgi_body_push(wsgi_body *b, int fd)
{
    int pending, moved = 0;

    pending = wsgi_body_next(b, 0);
    while (pending && b->status == 0) {
        ssize_t sent = send(fd, b->frame + b->off, b->len - b->off,
                            MSG_NOSIGNAL | MSG_DONTWAIT);

        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0) {
            if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                b->daemon_gone = 1;     /* its answer will say why */
            break;
        }
        b->off += (apr_size_t)sent;
        moved = 2;
        pending = wsgi_body_next(b, 0);
    }
    if (b->daemon_gone)
        pending = 0;
    return b->status != 0 ? -1 : pending | moved;
}

/*
 * Moves the body along until a frame from the daemon can be read (1), or
 * until timeout_ms passes with nothing from it (0, errno ETIMEDOUT), or
 * the client failed (-1, b->status). Before the daemon took the request
 * (taken 0), an ungraceful stop of this child ends the wait (-1, errno
 * ECANCELED): see wsgi_client_gone.
 */
int wsgi_body_pump(wsgi_body *b, int fd, int timeout_ms, int taken)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    apr_time_t client_idle = apr_time_now();

    for (;;) {
        struct pollfd pfd[2];
        int pending, n = 1, rc, wait_ms = 250;
        apr_time_t now;

        if (b->status != 0)
            return -1;
        pending = wsgi_body_push(b, fd);
        if (pending < 0)
            return -1;
        if (pending > 1) {
            deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
            pending &= 1;
        }
        pfd[0].fd = fd;
        pfd[0].events = POLLIN | (pending ? POLLOUT : 0);
        pfd[0].revents = 0;
        pfd[1].revents = 0;
        /* Waiting for the client's next piece too, unless a frame is
         * pending or the body is all read. */
        if (!pending && b->reading && !b->daemon_gone && !b->end_sent) {
            if (b->client_fd >= 0) {
                pfd[1].fd = b->client_fd;
                pfd[1].events = POLLIN;
                n = 2;
            }
            else
                wait_ms = 10;   /* HTTP/2: try the stream again soon */
        }
        rc = poll(pfd, n, wait_ms);
        if (rc < 0 && errno != EINTR)
            return -1;
        now = apr_time_now();
        /* Writable again: the next turn sends (wsgi_body_push). */
        if (rc > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            return 1;
        if (n == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            client_idle = now;
        else if (n == 2 && now - client_idle > b->client_timeout) {
            /* The client sent nothing for Apache's Timeout. */
            b->status = HTTP_REQUEST_TIME_OUT;
            b->reading = 0;
            b->r->connection->keepalive = AP_CONN_CLOSE;
            return -1;
        }
        if (!taken && wsgi_client_gone(b->r->connection)) {
            errno = ECANCELED;
            return -1;
        }
        if (timeout_ms > 0 && now > deadline && !(n == 2)) {
            errno = ETIMEDOUT;
            return 0;
        }
    }
}

/*
 * The REQUEST frame, and in the same system call the whole body when it
 * is in hand already and fits one frame; for a request without a body
 * that is BODY_END alone. The daemon answering at once looks for the
 * body's end (wsgi_channel_spool); sent in a write of its own after the
 * request, it was often not there yet, and the daemon thread slept and
 * woke once more per hello request (bench/, issue 19).
 */
int wsgi_body_send_first(int fd, wsgi_body *b, unsigned char *req,
                         apr_size_t size, int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE], body[WSGI_PROTO_HEAD_SIZE];
    apr_size_t rest = b->pre_len - b->pre_off;
    struct iovec iov[5];
    int n = 0;

    wsgi_proto_put_head(head, WSGI_FRAME_REQUEST, (uint32_t)size);
    iov[n].iov_base = head;
    iov[n++].iov_len = sizeof(head);
    iov[n].iov_base = req;
    iov[n++].iov_len = size;
    if (!b->reading && rest <= WSGI_RELAY_SIZE) {
        if (rest > 0) {
            wsgi_proto_put_head(body, WSGI_FRAME_BODY, (uint32_t)rest);
            iov[n].iov_base = body;
            iov[n++].iov_len = sizeof(body);
            iov[n].iov_base = (unsigned char *)b->relay->pre + b->pre_off;
            iov[n++].iov_len = rest;
            b->pre_off = b->pre_len;
        }
        wsgi_proto_put_head(b->end_frame, WSGI_FRAME_BODY_END, 0);
        iov[n].iov_base = b->end_frame;
        iov[n++].iov_len = WSGI_PROTO_HEAD_SIZE;
        b->end_sent = 1;
    }
    return wsgi_wire_writev(fd, iov, n, -1, timeout_ms);
}
