/*
 * wsgi_remote.c: the Apache child's side of a daemon-mode request.
 *
 * Connect to the group's socket (retrying while a daemon restarts), send
 * the environ and the request body as frames, then relay the response:
 * status and headers into the request_rec, body frames down the output
 * filters as they arrive. Each way this can fail has its own status and
 * message code, so "the daemon is down" never looks like "the daemon
 * sent garbage".
 */

#include "wsgi_common.h"

#include <fcntl.h>
#include <sys/mman.h>

/*
 * Memory for relaying bodies. An event-MPM connection's pool keeps what
 * it frees for the connections it serves later, up to MaxMemFree (2 MB
 * by default): 64 KiB buffers taken from request pools stayed in every
 * child once per connection it ever served (bench/: 3.4 MiB anonymous
 * memory per child after 1 MiB POSTs; 1.0 MiB with MaxMemFree 32). So the
 * request body and the response frames above WSGI_RELAY_SMALL go through
 * one mapping per request, unmapped when the request ends.
 */
#define WSGI_RELAY_SMALL 8192
#define WSGI_RELAY_SIZE 65536   /* the daemon's largest DATA frame */

typedef struct {
    void *base;                 /* NULL until a large frame came */
} wsgi_relay;

static apr_status_t wsgi_relay_unmap(void *data)
{
    wsgi_relay *relay = data;

    if (relay->base != NULL && relay->base != MAP_FAILED)
        munmap(relay->base, WSGI_RELAY_SIZE);
    relay->base = NULL;
    return APR_SUCCESS;
}

/* Room for a payload of len bytes: the request's mapping for a large
 * frame (relay not NULL), else p (small frames, or no mapping to be had). */
static unsigned char *wsgi_relay_room(request_rec *r, wsgi_relay *relay,
                                      apr_pool_t *p, uint32_t len)
{
    if (relay != NULL && len > WSGI_RELAY_SMALL && len <= WSGI_RELAY_SIZE) {
        if (relay->base == NULL) {
            relay->base = mmap(NULL, WSGI_RELAY_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (relay->base != MAP_FAILED)
                apr_pool_cleanup_register(r->pool, relay, wsgi_relay_unmap,
                                          apr_pool_cleanup_null);
        }
        if (relay->base != MAP_FAILED)
            return relay->base;
    }
    return apr_palloc(p, len ? len : 1);
}

typedef struct {
    apr_array_header_t *pairs;      /* of wsgi_pair */
    apr_pool_t *p;
} wsgi_remote_env;

static int wsgi_remote_collect(void *ctx, const char *key, const char *value,
                               int kind)
{
    wsgi_remote_env *env = ctx;
    wsgi_pair *pair = apr_array_push(env->pairs);

    (void)kind;     /* the daemon knows which keys are paths */
    pair->name = key;
    pair->name_len = (uint32_t)strlen(key);
    pair->value = value;
    pair->value_len = (uint32_t)strlen(value);
    return 0;
}

/* The client connection's socket descriptor, or -1. */
static apr_os_sock_t wsgi_client_fd(conn_rec *c)
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
static int wsgi_client_gone(conn_rec *c)
{
    return wsgi_client_fd(c) < 0;
}

/*
 * Until a daemon process accepts the connection (its HELLO arrives) the
 * request sits in the group's queue and no work has started: if Apache
 * stops this child ungracefully meanwhile, give up at once (errno
 * ECANCELED) rather than hold the child until socket-timeout and be
 * killed.
 */
static int wsgi_remote_wait_taken(conn_rec *c, int fd, int timeout_ms)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    struct pollfd pfd;
    int rc;

    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();

        pfd.fd = fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, timeout_ms <= 0 || left > apr_time_from_msec(250)
                               ? 250
                               : left > 0 ? (int)apr_time_as_msec(left) : 0);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
        if (wsgi_client_gone(c)) {
            errno = ECANCELED;
            return -1;
        }
        if (timeout_ms > 0 && apr_time_now() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

/* Connects, retrying for connect-timeout while the daemon (re)starts.
 * Returns the socket or -1. */
static int wsgi_remote_connect(request_rec *r, wsgi_daemon *d)
{
    struct sockaddr_un addr;
    apr_time_t deadline = apr_time_now() +
                          apr_time_from_sec(d->connect_timeout);
    apr_interval_time_t pause = apr_time_from_msec(20);
    int fd = -1, err = 0;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    apr_cpystrn(addr.sun_path, d->socket_path, sizeof(addr.sun_path));
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            err = errno;
            break;
        }
        wsgi_socket_buffers(fd, d);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            /* Non-blocking from here: every read and write of the wire
             * code is bounded by socket-timeout through poll(). */
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
        err = errno;
        close(fd);
        fd = -1;
        if ((err != ECONNREFUSED && err != ENOENT && err != EAGAIN) ||
            apr_time_now() + pause > deadline ||
            wsgi_client_gone(r->connection))
            break;
        apr_sleep(pause);
        if (pause < apr_time_from_msec(200))
            pause *= 2;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, err, r, WSGI_LOGNO(0701)
                  "daemon process group '%s' is unreachable at '%s' (gave "
                  "up after %ds): it may be restarting or failing to start; "
                  "see earlier messages of that group", d->name,
                  d->socket_path, d->connect_timeout);
    return -1;
}

static int wsgi_remote_send_request(request_rec *r, wsgi_request_config *rc,
                                    wsgi_daemon *d, int fd, int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];
    wsgi_remote_env env;
    wsgi_pair *extra;
    unsigned char *buf;
    apr_size_t size;

    env.p = r->pool;
    env.pairs = apr_array_make(r->pool, 64, sizeof(wsgi_pair));
    if (wsgi_environ_emit(r, rc, wsgi_remote_collect, &env) < 0)
        return -1;
    if (rc->ignore_activity) {
        extra = apr_array_push(env.pairs);
        extra->name = ":ignore_activity";
        extra->name_len = 16;
        extra->value = "1";
        extra->value_len = 1;
    }
    extra = apr_array_push(env.pairs);
    extra->name = ":request_start";
    extra->name_len = 14;
    extra->value = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, r->request_time);
    extra->value_len = (uint32_t)strlen(extra->value);
    size = wsgi_proto_pairs_size((wsgi_pair *)env.pairs->elts,
                                 env.pairs->nelts);
    if (size == 0)
        return -1;
    /* The tag goes first, over the head the frame will have and the
     * pairs (wsgi_peer.c): the daemon runs nothing without it. */
    buf = apr_palloc(r->pool, WSGI_PROTO_TAG_SIZE + size);
    if (wsgi_proto_put_pairs(buf + WSGI_PROTO_TAG_SIZE, size,
                             (wsgi_pair *)env.pairs->elts,
                             env.pairs->nelts) < 0)
        return -1;
    size += WSGI_PROTO_TAG_SIZE;
    wsgi_proto_put_head(head, WSGI_FRAME_REQUEST, (uint32_t)size);
    wsgi_peer_seal(d, head, buf + WSGI_PROTO_TAG_SIZE,
                   size - WSGI_PROTO_TAG_SIZE, buf);
    return wsgi_wire_send(fd, WSGI_FRAME_REQUEST, buf, size, timeout_ms);
}

/*
 * Whether more of the body is already here: bytes buffered on the client
 * socket (a read of them does not wait for the client). Only for a
 * connection of its own: an HTTP/2 stream shares its socket with others.
 */
static int wsgi_remote_more_body(conn_rec *c)
{
    struct pollfd pfd;

    pfd.fd = c->master ? -1 : wsgi_client_fd(c);
    pfd.events = POLLIN;
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Streams the request body to the daemon. Returns 0, -1 when the client
 * failed (read error), -2 when the daemon stopped reading.
 *
 * One read of the client hands over at most one socket read (8000 bytes
 * from the core input filter); a frame per read woke the daemon thread
 * about 130 times per MiB, and the context switches were most of the
 * daemon-mode POST cost (bench/ profile). So a frame gathers what is
 * already buffered on the socket, up to the relay size, and goes as soon
 * as nothing more is waiting: a client that sends a piece and waits for
 * an answer still has that piece passed on at once.
 */
static int wsgi_remote_send_body(request_rec *r, wsgi_relay *relay, int fd,
                                 int timeout_ms)
{
    char *buf;
    apr_size_t have;
    long got = 1;

    if (ap_should_client_block(r)) {
        buf = (char *)wsgi_relay_room(r, relay, r->pool, WSGI_RELAY_SIZE);
        while (got > 0) {
            have = 0;
            do {
                got = ap_get_client_block(r, buf + have,
                                          WSGI_RELAY_SIZE - have);
                if (got > 0)
                    have += (apr_size_t)got;
            } while (got > 0 && have < WSGI_RELAY_SIZE &&
                     wsgi_remote_more_body(r->connection));
            if (have > 0 && wsgi_wire_send(fd, WSGI_FRAME_BODY, buf, have,
                                           timeout_ms) < 0)
                return -2;
        }
        if (got < 0)
            return -1;
    }
    return wsgi_wire_send(fd, WSGI_FRAME_BODY_END, NULL, 0, timeout_ms) < 0
               ? -2 : 0;
}

/* Reads one frame head and, up to max, its payload: into the request's
 * relay mapping when relay is not NULL and the frame is large, else from
 * p. A descriptor passed with it is kept only for a FILE frame when the
 * caller takes one (passed not NULL), in *passed; otherwise closed at
 * once (nobody else may send us descriptors). */
static int wsgi_remote_frame(request_rec *r, int fd, wsgi_relay *relay,
                             apr_pool_t *p, uint32_t max, int timeout_ms,
                             wsgi_frame_head *h, unsigned char **payload,
                             int *proto, int *passed)
{
    unsigned char raw[WSGI_PROTO_HEAD_SIZE];
    int got;

    *proto = WSGI_PROTO_OK;
    if (passed)
        *passed = -1;
    if (wsgi_wire_read_head(fd, raw, timeout_ms, &got) < 0)
        return -1;
    *proto = wsgi_proto_get_head(raw, sizeof(raw), max, h);
    if (got >= 0 && (passed == NULL || *proto != WSGI_PROTO_OK ||
                     h->type != WSGI_FRAME_FILE))
        close(got);
    else if (passed)
        *passed = got;
    if (*proto != WSGI_PROTO_OK)
        return -1;
    *payload = wsgi_relay_room(r, relay, p, h->length);
    return h->length ? wsgi_wire_read(fd, *payload, h->length, timeout_ms)
                     : 0;
}

#define WSGI_REMOTE_RESTART (-2)

/* A FILE frame: the daemon's file, by descriptor, into the brigade as a
 * file bucket (sendfile() when WSGIEnableSendfile is On), then a FLUSH so
 * it is written before the descriptor is closed. */
static int wsgi_remote_file(request_rec *r, wsgi_request_config *rc,
                            apr_bucket_brigade *bb, apr_pool_t *p, int passed,
                            const unsigned char *payload, uint32_t len)
{
    apr_os_file_t osfd = passed;
    apr_file_t *af = NULL;
    uint64_t off, n;

    if (passed < 0 || wsgi_proto_get_file(payload, len, &off, &n) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0709)
                      "daemon sent a file frame without a descriptor or "
                      "with a bad range for %s", r->uri);
        return -1;
    }
    if (n == 0)
        return 0;
    /* apr_os_file_put registers no cleanup: we close it ourselves. */
    apr_os_file_put(&af, &osfd,
                    APR_FOPEN_READ | (rc->enable_sendfile
                                          ? APR_FOPEN_SENDFILE_ENABLED : 0),
                    p);
    apr_brigade_insert_file(bb, af, (apr_off_t)off, (apr_off_t)n, p);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                    r->connection->bucket_alloc));
    return 0;
}

/* Status and headers from the RESPONSE frame into r. Returns OK, or an
 * error status (":error" from the daemon, or 502 for a bad frame). */
static int wsgi_remote_head(request_rec *r, wsgi_daemon *d,
                            const unsigned char *payload, uint32_t len)
{
    int max = (int)(len / 8 + 1), n = 0, i, code = 0;
    wsgi_pair *pairs = apr_palloc(r->pool, max * sizeof(*pairs));

    if (wsgi_proto_get_pairs(payload, len, pairs, max, &n) != 0 || n < 1)
        goto bad;
    if (pairs[0].name_len == 8 && !memcmp(pairs[0].name, ":restart", 8))
        return WSGI_REMOTE_RESTART;
    if (pairs[0].name_len == 6 && !memcmp(pairs[0].name, ":error", 6)) {
        code = atoi(apr_pstrmemdup(r->pool, pairs[0].value,
                                   pairs[0].value_len));
        return code >= 400 && code <= 599 ? code : HTTP_INTERNAL_SERVER_ERROR;
    }
    if (pairs[0].name_len != 7 || memcmp(pairs[0].name, ":status", 7) ||
        wsgi_validate_status(pairs[0].value, pairs[0].value_len, &code))
        goto bad;
    r->status = code;
    r->status_line = apr_pstrmemdup(r->pool, pairs[0].value,
                                    pairs[0].value_len);
    for (i = 1; i < n; i++) {
        const char *name, *value;
        apr_off_t clen;

        /* The daemon checked them already; checked again here, as what
         * crosses a process boundary is not trusted blindly. */
        if (wsgi_validate_header_name(pairs[i].name, pairs[i].name_len) ||
            wsgi_validate_header_value(pairs[i].value, pairs[i].value_len))
            goto bad;
        /* "Name: value" as a header line would be. */
        if ((apr_size_t)pairs[i].name_len + 2 + pairs[i].value_len >
            (apr_size_t)d->header_buffer_size) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0705)
                          "response header '%s' from daemon process group "
                          "'%s' is %lu bytes, more than header-buffer-size="
                          "%d allows for one header; raise header-buffer-"
                          "size= in WSGIDaemonProcess '%s', or send a "
                          "smaller header", apr_pstrmemdup(r->pool,
                          pairs[i].name, pairs[i].name_len), d->name,
                          (unsigned long)pairs[i].name_len + 2 +
                              pairs[i].value_len,
                          d->header_buffer_size, d->name);
            apr_table_clear(r->headers_out);
            r->status = HTTP_OK;
            r->status_line = NULL;
            return HTTP_BAD_GATEWAY;
        }
        name = apr_pstrmemdup(r->pool, pairs[i].name, pairs[i].name_len);
        value = apr_pstrmemdup(r->pool, pairs[i].value, pairs[i].value_len);
        if (!strcasecmp(name, "Content-Type"))
            ap_set_content_type(r, value);
        else if (!strcasecmp(name, "Content-Length")) {
            if (!wsgi_parse_content_length(value, &clen))
                goto bad;
            ap_set_content_length(r, clen);
        }
        else
            apr_table_addn(r->headers_out, name, value);
    }
    return OK;
bad:
    apr_table_clear(r->headers_out);
    r->status = HTTP_OK;
    r->status_line = NULL;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0704)
                  "daemon process group '%s' sent a malformed response "
                  "head for %s", d->name, r->uri);
    return HTTP_BAD_GATEWAY;
}

/* Connects, sends the request and its body, reads the response head
 * into r. Returns OK, WSGI_REMOTE_RESTART or an error status; *fdp is the
 * socket (or -1), to be closed by the caller. */
static int wsgi_remote_exchange(request_rec *r, wsgi_request_config *rc,
                                wsgi_daemon *d, wsgi_relay *relay,
                                int timeout_ms, int *fdp, long *pid)
{
    unsigned char *payload;
    wsgi_frame_head h;
    int fd, proto, body, got;

    *pid = 0;
    *fdp = fd = wsgi_remote_connect(r, d);
    if (fd < 0)
        return HTTP_SERVICE_UNAVAILABLE;
    if (wsgi_remote_send_request(r, rc, d, fd, timeout_ms) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, WSGI_LOGNO(0702)
                      "could not send the request to daemon process group "
                      "'%s'", d->name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    body = wsgi_remote_send_body(r, relay, fd, timeout_ms);
    if (body == -1) {
        /* The client stopped sending its body: nobody to answer. */
        wsgi_wire_send(fd, WSGI_FRAME_ABORT, NULL, 0, timeout_ms);
        return HTTP_BAD_REQUEST;
    }
    /* body == -2: the daemon stopped reading; its answer may explain. */

    if (wsgi_remote_wait_taken(r->connection, fd, timeout_ms) < 0 &&
        errno == ECANCELED) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0710)
                      "Apache is stopping this process (its client "
                      "connection was closed) and no daemon process of "
                      "group '%s' has taken %s yet; giving up on it",
                      d->name, r->uri);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    /* No descriptor is taken before the head: a FILE frame here is a
     * frame out of place, refused below like any other. */
    /* header-buffer-size bounds each header (wsgi_remote_head), as
     * upstream's does each header line; the head as a whole only by what
     * a frame may carry, as many headers as Debian's module serves. */
    got = wsgi_remote_frame(r, fd, NULL, r->pool, WSGI_PROTO_MAX_PAYLOAD,
                            timeout_ms, &h, &payload, &proto, NULL);
    if (got == 0 && h.type == WSGI_FRAME_HELLO) {
        if (h.length == 4)
            *pid = ((long)payload[0] << 24) | ((long)payload[1] << 16) |
                  ((long)payload[2] << 8) | (long)payload[3];
        got = wsgi_remote_frame(r, fd, NULL, r->pool, WSGI_PROTO_MAX_PAYLOAD,
                                timeout_ms, &h, &payload, &proto, NULL);
    }
    if (got < 0 || h.type != WSGI_FRAME_RESPONSE) {
        if (proto == WSGI_PROTO_TOO_BIG)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0705)
                          "the response head from daemon process group '%s' "
                          "is larger than the %u bytes a frame may carry; "
                          "send fewer or smaller headers", d->name,
                          (unsigned)WSGI_PROTO_MAX_PAYLOAD);
        else if (errno == ETIMEDOUT) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0706)
                          "daemon process group '%s' sent no response "
                          "head within socket-timeout (%ds)", d->name,
                          timeout_ms / 1000);
            return HTTP_GATEWAY_TIME_OUT;
        }
        else
            ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, WSGI_LOGNO(0703)
                          "daemon process %ld of group '%s' closed the "
                          "connection without a response to %s: it "
                          "crashed, was killed or restarted (the WSGI0715 "
                          "line of the Apache parent names the signal)",
                          *pid, d->name, r->uri);
        return HTTP_BAD_GATEWAY;
    }
    return wsgi_remote_head(r, d, payload, h.length);
}

int wsgi_remote_handler(request_rec *r, wsgi_request_config *rc,
                        wsgi_daemon *d)
{
    conn_rec *c = r->connection;
    wsgi_relay *relay;
    apr_bucket_brigade *bb;
    unsigned char *payload;
    wsgi_frame_head h;
    int fd = -1, timeout_ms, proto, status = OK, attempt, passed;
    long pid = 0;               /* the daemon process, from its HELLO */

    relay = apr_pcalloc(r->pool, sizeof(*relay));
    timeout_ms = (d->socket_timeout > 0
                      ? d->socket_timeout
                      : (int)apr_time_sec(r->server->timeout)) * 1000;
    /* A daemon whose script changed answers ":restart" to a request
     * without a body and goes: the request is sent again, at most once
     * per process of the group, and reaches a fresh one. */
    for (attempt = 0;; attempt++) {
        status = wsgi_remote_exchange(r, rc, d, relay, timeout_ms, &fd,
                                      &pid);
        if (status != WSGI_REMOTE_RESTART)
            break;
        close(fd);
        fd = -1;
        if (attempt > d->processes) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0708)
                          "daemon process group '%s' kept restarting for "
                          "a changed script; giving up on %s", d->name,
                          r->uri);
            return HTTP_SERVICE_UNAVAILABLE;
        }
    }
    if (status != OK) {
        if (fd >= 0)
            close(fd);
        return status;
    }

    /* The body, frame by frame, each flushed as it comes: streaming
     * applications stream through daemon mode too. */
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    for (;;) {
        apr_pool_t *sub;
        int done = 0, complete = 0;

        apr_pool_create(&sub, r->pool);
        if (wsgi_remote_frame(r, fd, relay, sub, WSGI_PROTO_MAX_PAYLOAD,
                              timeout_ms, &h, &payload, &proto,
                              &passed) < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, WSGI_LOGNO(0707)
                          "daemon process %ld of group '%s' stopped in the "
                          "middle of the response to %s; the client gets "
                          "it cut short", pid, d->name, r->uri);
            done = 1;
        }
        else if (h.type == WSGI_FRAME_DATA) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(
                                            (const char *)payload, h.length,
                                            c->bucket_alloc));
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                            c->bucket_alloc));
        }
        else if (h.type == WSGI_FRAME_FILE) {
            if (wsgi_remote_file(r, rc, bb, sub, passed, payload,
                                 h.length) < 0)
                done = 1;
        }
        else if (h.type == WSGI_FRAME_END)
            done = complete = 1;
        else
            done = 1;       /* ABORT, or a frame out of place */
        if (done && !complete) {
            c->keepalive = AP_CONN_CLOSE;
            APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(
                                            HTTP_BAD_GATEWAY, NULL, r->pool,
                                            c->bucket_alloc));
        }
        if (done)
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
                                            c->bucket_alloc));
        if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS ||
            c->aborted)
            done = 1;       /* the client left: closing tells the daemon */
        apr_brigade_cleanup(bb);
        /* The FLUSH after a file bucket made the core write it out:
         * nothing refers to the descriptor any more. */
        if (passed >= 0)
            close(passed);
        apr_pool_destroy(sub);
        if (done)
            break;
    }
    close(fd);
    /* Every frame went out (or was copied) with its FLUSH: the mapping
     * can go now rather than with the request's pool. */
    apr_pool_cleanup_run(r->pool, relay, wsgi_relay_unmap);
    return OK;
}
