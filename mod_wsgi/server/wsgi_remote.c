/*
 * wsgi_remote.c: the Apache child's side of a daemon-mode request.
 *
 * Read up to request-buffer-size of the body, connect to the group's
 * socket (retrying while a daemon restarts), send the environ, then
 * relay both ways at once, the body to the daemon, the response:
 * status and headers into the request_rec, body frames down the output
 * filters as they arrive. Each way this can fail has its own status and
 * message code, so "the daemon is down" never looks like "the daemon
 * sent garbage". The body's side, and the memory both ways go through,
 * is wsgi_upload.c.
 */

#include "wsgi_common.h"

#include <fcntl.h>

typedef struct {
    apr_array_header_t *pairs;      /* of wsgi_pair */
    apr_pool_t *p;
} wsgi_remote_env;

static int wsgi_remote_collect(void *ctx, const char *key, const char *value,
                               int kind)
{
    wsgi_remote_env *env = ctx;
    wsgi_pair *pair;

    /* The daemon decodes a path with the filesystem encoding: it is told
     * which entries are paths, rather than keeping a list of its own. */
    if (kind == WSGI_ENV_FSPATH)
        wsgi_proto_control(apr_array_push(env->pairs), WSGI_CTL_FSPATH, "",
                           0);
    pair = apr_array_push(env->pairs);
    pair->name = key;
    pair->name_len = (uint32_t)strlen(key);
    pair->value = value;
    pair->value_len = (uint32_t)strlen(value);
    return 0;
}

/* Connects, retrying for connect-timeout while the daemon (re)starts.
 * Returns the socket or -1. */
static int wsgi_remote_connect(request_rec *r, wsgi_daemon *d)
{
    struct sockaddr_un addr;
    apr_time_t deadline = apr_time_now() +
                          apr_time_from_sec(d->connect_timeout);
    apr_interval_time_t pause = apr_time_from_msec(20);
    int fd = -1, err = 0, retired = 0;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    apr_cpystrn(addr.sun_path, d->socket_path, sizeof(addr.sun_path));
    /* The parent was killed: its supervisors went with it, and the daemon
     * processes follow (PR_SET_PDEATHSIG); one that still accepts is
     * dying and would cut the request (502). None will come again, and
     * waiting connect-timeout would only hold this worker (and a
     * balancer's health checks queued behind it). */
    if (wsgi_health_orphaned()) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0750)
                      "daemon process group '%s' is not reachable: Apache's "
                      "parent process is gone, and its daemon processes with "
                      "it; answering 503 at once (restart Apache; the host "
                      "is lost until then)", d->name);
        return -1;
    }
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) {
            err = errno;
            break;
        }
        wsgi_wire_buffers(fd, d->send_buffer_size, d->receive_buffer_size);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            if (wsgi_peer_check_daemon(d, r, fd) < 0) {
                close(fd);
                return -1;
            }
            /* Non-blocking from here: every read and write of the wire
             * code is bounded by socket-timeout through poll(). */
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            return fd;
        }
        err = errno;
        close(fd);
        fd = -1;
        /* WSGISocketRotation On: a graceful restart gave the group's new
         * processes a path of their own and removed this generation's,
         * so a child still finishing its connections would wait
         * connect-timeout for a path that never comes back. */
        if (err == ENOENT && wsgi_socket_rotation) {
            retired = 1;
            break;
        }
        if ((err != ECONNREFUSED && err != ENOENT && err != EAGAIN) ||
            apr_time_now() + pause > deadline ||
            wsgi_client_gone(r->connection))
            break;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, err, r, "mod_wsgi: connect "
                      "to daemon group '%s' at '%s' failed; again in %d ms",
                      d->name, d->socket_path,
                      (int)apr_time_as_msec(pause));
        apr_sleep(pause);
        if (pause < apr_time_from_msec(200))
            pause *= 2;
    }
    if (retired)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, err, r, WSGI_LOGNO(0751)
                      "daemon process group '%s' is not reachable from this "
                      "Apache child: a graceful restart with "
                      "WSGISocketRotation On gave the group's new processes "
                      "another socket than '%s'; answering 503 at once "
                      "(WSGISocketRotation Off, the default, lets the old "
                      "children reach the new processes)", d->name,
                      d->socket_path);
    else
        ap_log_rerror(APLOG_MARK, APLOG_ERR, err, r, WSGI_LOGNO(0701)
                      "daemon process group '%s' is unreachable at '%s' "
                      "(gave up after %ds): it may be restarting or failing "
                      "to start; see earlier messages of that group",
                      d->name, d->socket_path, d->connect_timeout);
    return -1;
}

/* The REQUEST frame's payload, sealed, made before connecting: a daemon
 * thread wakes as soon as the connection is queued, and when the frame
 * came only after the environ was collected and sealed, it often found
 * nothing to read yet and went to sleep again (one more context switch
 * per request, bench/ at concurrency 1). Its head is made at sending. */
static int wsgi_remote_build_request(request_rec *r, wsgi_request_config *rc,
                                     wsgi_daemon *d, unsigned char **bufp,
                                     apr_size_t *sizep)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];
    wsgi_remote_env env;
    char *start = apr_palloc(r->pool, 21);
    unsigned char *buf;
    apr_size_t size;

    env.p = r->pool;
    env.pairs = apr_array_make(r->pool, 64, sizeof(wsgi_pair));
    if (wsgi_environ_emit(r, rc, wsgi_remote_collect, &env) < 0)
        return -1;
    if (rc->ignore_activity)
        wsgi_proto_control(apr_array_push(env.pairs),
                           WSGI_CTL_IGNORE_ACTIVITY, "", 0);
    wsgi_proto_control(apr_array_push(env.pairs), WSGI_CTL_REQUEST_START,
                       start,
                       wsgi_proto_put_number(start,
                                             (uint64_t)r->request_time));
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
    *bufp = buf;
    *sizep = size;
    return 0;
}

/* Reads one frame head and, up to max, its payload: into the request's
 * relay mapping when relay is not NULL and the frame is large, else from
 * p. A descriptor passed with it is kept only for a FILE frame when the
 * caller takes one (passed not NULL), in *passed; otherwise closed at
 * once (nobody else may send us descriptors). */
static int wsgi_remote_frame(int fd, wsgi_relay *relay,
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
    *payload = wsgi_relay_room(relay, p, h->length);
    return h->length ? wsgi_wire_read(fd, *payload, h->length, timeout_ms)
                     : 0;
}

#define WSGI_REMOTE_RESTART (-2)

/* Whether the daemon has more for the client within delay_ms of since
 * (0: only what is there already). */
static int wsgi_remote_more(int fd, apr_time_t since, int delay_ms)
{
    apr_interval_time_t left = apr_time_from_msec(delay_ms) -
                               (apr_time_now() - since);
    struct pollfd pfd;

    pfd.fd = fd;
    pfd.events = POLLIN;
    return poll(&pfd, 1, left > 0 ? (int)apr_time_as_msec(left) : 0) > 0;
}

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
    switch (wsgi_proto_control_of(&pairs[0])) {
    case WSGI_CTL_RESTART:
        return WSGI_REMOTE_RESTART;
    case WSGI_CTL_ERROR:
        return wsgi_proto_get_error(&pairs[0], &code) == WSGI_PROTO_OK
                   ? code : HTTP_INTERNAL_SERVER_ERROR;
    case WSGI_CTL_STATUS:
        break;
    default:
        goto bad;
    }
    if (wsgi_validate_status(pairs[0].value, pairs[0].value_len, &code))
        goto bad;
    r->status = code;
    r->status_line = apr_pstrmemdup(r->pool, pairs[0].value,
                                    pairs[0].value_len);
    for (i = 1; i < n; i++) {
        const char *name, *value;
        int64_t clen;

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

static int wsgi_remote_override(request_rec *r, int fd, wsgi_relay *relay,
                                int timeout_ms)
{
    int status = r->status, proto, passed;
    unsigned char *payload;
    wsgi_frame_head h;
    apr_pool_t *sub;

    apr_pool_create(&sub, r->pool);
    do {
        apr_pool_clear(sub);
        if (wsgi_remote_frame(fd, relay, sub, WSGI_PROTO_MAX_PAYLOAD,
                              timeout_ms, &h, &payload, &proto,
                              &passed) < 0)
            break;
        if (passed >= 0)
            close(passed);
    } while (h.type == WSGI_FRAME_DATA || h.type == WSGI_FRAME_FILE);
    apr_pool_destroy(sub);
    close(fd);
    apr_table_clear(r->headers_out);
    r->status = HTTP_OK;        /* ap_die() then treats it as a first error */
    r->status_line = NULL;
    return status;
}

/* Connects, sends the request, moves the body along and reads the
 * response head into r. Returns OK, WSGI_REMOTE_RESTART or an error
 * status; *fdp is the socket (or -1), to be closed by the caller. */
static int wsgi_remote_exchange(request_rec *r, wsgi_request_config *rc,
                                wsgi_daemon *d, wsgi_body *b,
                                int timeout_ms, int *fdp, long *pid)
{
    unsigned char *payload = NULL, *req;
    apr_size_t req_size;
    wsgi_frame_head h;
    uint32_t hello;
    int fd, proto = WSGI_PROTO_OK, got = -1, pumped;

    *pid = 0;
    h.type = 0;
    *fdp = -1;
    if (wsgi_remote_build_request(r, rc, d, &req, &req_size) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0702)
                      "could not make the request for daemon process "
                      "group '%s'", d->name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    *fdp = fd = wsgi_remote_connect(r, d);
    if (fd < 0)
        return HTTP_SERVICE_UNAVAILABLE;
    if (wsgi_body_send_first(fd, b, req, req_size, timeout_ms) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, WSGI_LOGNO(0702)
                      "could not send the request to daemon process group "
                      "'%s'", d->name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    /* HELLO (the daemon took it), then the head; the body goes along
     * meanwhile. No descriptor is taken before the head: a FILE frame
     * here is a frame out of place, refused below like any other.
     * header-buffer-size bounds each header (wsgi_remote_head), as
     * upstream's does each header line; the head as a whole only by what
     * a frame may carry, as many headers as Debian's module serves. */
    for (;;) {
        pumped = wsgi_body_pump(b, fd, timeout_ms, *pid != 0);
        if (pumped < 0 && b->status != 0) {
            /* The client failed sending its body: nobody to answer. */
            wsgi_wire_send(fd, WSGI_FRAME_ABORT, NULL, 0, timeout_ms);
            return b->status;
        }
        if (pumped < 0 && errno == ECANCELED) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0710)
                          "Apache is stopping this process (its client "
                          "connection was closed) and no daemon process of "
                          "group '%s' has taken %s yet; giving up on it",
                          d->name, r->uri);
            return HTTP_SERVICE_UNAVAILABLE;
        }
        if (pumped <= 0) {
            got = -1;   /* ETIMEDOUT: said below */
            break;
        }
        got = wsgi_remote_frame(fd, NULL, r->pool, WSGI_PROTO_MAX_PAYLOAD,
                                timeout_ms, &h, &payload, &proto, NULL);
        if (got < 0 || h.type != WSGI_FRAME_HELLO)
            break;
        if (wsgi_proto_get_hello(payload, h.length, &hello) == WSGI_PROTO_OK)
            *pid = (long)hello;
    }
    if (got < 0 || h.type != WSGI_FRAME_RESPONSE) {
        if (got < 0 && errno == ETIMEDOUT && proto == WSGI_PROTO_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0706)
                          "daemon process group '%s' sent no response "
                          "head within socket-timeout (%ds)", d->name,
                          timeout_ms / 1000);
            return HTTP_GATEWAY_TIME_OUT;
        }
        if (proto == WSGI_PROTO_TOO_BIG)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0749)
                          "the response head from daemon process group '%s' "
                          "is larger than the %u bytes a frame may carry; "
                          "send fewer or smaller headers", d->name,
                          (unsigned)WSGI_PROTO_MAX_PAYLOAD);
        else
            ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, WSGI_LOGNO(0703)
                          "daemon process %ld of group '%s' closed the "
                          "connection without a response to %s: it "
                          "crashed, was killed or restarted (the WSGI0715 "
                          "line of its supervisor says how it ended)",
                          *pid, d->name, r->uri);
        return HTTP_BAD_GATEWAY;
    }
    return wsgi_remote_head(r, d, payload, h.length);
}

/*
 * The end of a complete response: what the core output filter still
 * holds (a small body, the last chunk) goes to the client now, before the
 * daemon socket is closed, the mappings unmapped and the request torn
 * down, rather than after all that. Apache looks for the keep-alive
 * client's next request right after the handler (ap_check_pipeline); a
 * client that has its answer by then has often sent the next one, and
 * the worker serves it at once. Otherwise the connection goes back to
 * the event MPM's listener and waits for a free worker behind every other
 * connection: with the workers all busy (slow uploads being read into
 * request-buffer-size, issue 19) hello requests queued behind the uploads
 * after every answer, at 203 requests/s against upstream's 1719, with
 * 33 context switches each. Embedded mode does the same
 * (wsgi_embedded_finish). At connection level, after the EOS:
 * a FLUSH before it would keep the content-length filter from sizing a
 * body the application sent without Content-Length.
 */
static void wsgi_remote_flush_tail(conn_rec *c, apr_bucket_brigade *bb)
{
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    if (ap_pass_brigade(c->output_filters, bb) != APR_SUCCESS)
        c->aborted = 1;
    apr_brigade_cleanup(bb);
}

int wsgi_remote_handler(request_rec *r, wsgi_request_config *rc,
                        wsgi_daemon *d)
{
    conn_rec *c = r->connection;
    wsgi_relay *relay;
    wsgi_body body;
    apr_bucket_brigade *bb;
    apr_pool_t *sub;
    apr_size_t held = 0;        /* small blocks held back, see below */
    apr_time_t held_since = 0;
    unsigned char *payload;
    wsgi_frame_head h;
    int fd = -1, timeout_ms, proto, status = OK, attempt, passed;
    long pid = 0;               /* the daemon process, from its HELLO */
    apr_socket_t *client = NULL;
    apr_interval_time_t client_timeout = 0;

    relay = wsgi_relay_new(r);
    timeout_ms = (d->socket_timeout > 0
                      ? d->socket_timeout
                      : (int)apr_time_sec(r->server->timeout)) * 1000;
    wsgi_body_start(&body, r, relay, (apr_size_t)d->request_buffer_size);
    if (body.status != 0)
        return body.status;
    /* A daemon whose script changed answers ":restart" to a request
     * without a body and goes: the request is sent again, at most once
     * per process of the group, and reaches a fresh one. */
    for (attempt = 0;; attempt++) {
        wsgi_body_rewind(&body);
        status = wsgi_remote_exchange(r, rc, d, &body, timeout_ms, &fd,
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
    /* WSGIErrorOverride On: an error answer of the application is
     * replaced by Apache's own (its ErrorDocument), as ProxyErrorOverride
     * does for a proxy. The application's body is read and dropped, so
     * the daemon finishes as usual. */
    if (rc->error_override && ap_is_HTTP_ERROR(r->status))
        return wsgi_remote_override(r, fd, relay, timeout_ms);

    /* The body, frame by frame, flushed as it comes: streaming
     * applications stream through daemon mode too. What is left of the
     * request body goes along. Small blocks that come in a burst (a
     * generator yielding little pieces) are held, copied, until the
     * daemon has no more within response-flush-delay of the first, and
     * go out together: 100,000 blocks of 10 bytes were 100,000 chunks on
     * the wire, half of it chunk framing. A block followed by a pause
     * still reaches the client within the delay. */
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    apr_pool_create(&sub, r->pool);
    /* response-socket-timeout: how long a write of the body to the client
     * may wait (a client that stopped reading), instead of Timeout; it
     * holds a daemon thread meanwhile. */
    client = c->master ? NULL : ap_get_conn_socket(c);
    if (client != NULL && d->response_socket_timeout > 0) {
        apr_socket_timeout_get(client, &client_timeout);
        apr_socket_timeout_set(client,
                               apr_time_from_sec(d->response_socket_timeout));
    }
    for (;;) {
        int done = 0, complete = 0, ready = 1;

        if (!body.end_sent || body.off < body.len)
            ready = wsgi_body_pump(&body, fd, timeout_ms, 1);
        passed = -1;
        if (ready <= 0 ||
            wsgi_remote_frame(fd, relay, sub, WSGI_PROTO_MAX_PAYLOAD,
                              timeout_ms, &h, &payload, &proto,
                              &passed) < 0) {
            if (body.status == 0)
                ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r,
                              WSGI_LOGNO(0707) "daemon process %ld of group "
                              "'%s' stopped in the middle of the response "
                              "to %s; the client gets it cut short", pid,
                              d->name, r->uri);
            done = 1;
        }
        else if (h.type == WSGI_FRAME_DATA &&
                 (h.length < WSGI_RELAY_SMALL || held > 0) &&
                 body.end_sent && body.off == body.len) {
            apr_brigade_write(bb, NULL, NULL, (const char *)payload,
                              h.length);
            if (held == 0)
                held_since = apr_time_now();
            held += h.length;
            if (held < WSGI_RELAY_SIZE &&
                wsgi_remote_more(fd, held_since, d->response_flush_delay)) {
                apr_pool_clear(sub);
                continue;
            }
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                            c->bucket_alloc));
            held = 0;
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
        if (done && !complete && !APR_BRIGADE_EMPTY(bb)) {
            /* Bytes held above go out first, on their own: with the error
             * bucket in the same pass, before the head went out, the
             * header filter would answer a 502 page instead and drop
             * them. The client gets what embedded mode gives it: the
             * head, the bytes the application sent, then the cut. */
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(
                                            c->bucket_alloc));
            if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS)
                c->aborted = 1;
            apr_brigade_cleanup(bb);
        }
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
        if (complete && !c->aborted)
            wsgi_remote_flush_tail(c, bb);
        held = 0;
        /* The FLUSH after a file bucket made the core write it out:
         * nothing refers to the descriptor any more. */
        if (passed >= 0)
            close(passed);
        apr_pool_clear(sub);
        if (done)
            break;
    }
    apr_pool_destroy(sub);
    close(fd);
    if (client != NULL && d->response_socket_timeout > 0)
        apr_socket_timeout_set(client, client_timeout);
    /* Every frame went out (or was copied) with its FLUSH: the mappings
     * can go now rather than with the request's pool. */
    apr_pool_cleanup_run(r->pool, relay, wsgi_relay_unmap);
    return OK;
}
