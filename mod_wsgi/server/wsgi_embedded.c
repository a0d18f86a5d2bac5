/*
 * wsgi_embedded.c: the transport of embedded mode, on Apache's own
 * filters. The request body comes from the input filters (which dechunk
 * and send "100 Continue"), the response goes down the output filters as
 * buckets; a regular file goes as a file bucket, so Apache sends it with
 * sendfile() or mmap and the bytes never pass through Python.
 */

#include "wsgi_common.h"

typedef struct {
    wsgi_transport base;        /* first: the struct is cast to it */
    apr_bucket_brigade *bb;
    int asked;                  /* ap_should_client_block() called */
} wsgi_embedded;

static long wsgi_embedded_read(wsgi_transport *t, char *buf, apr_size_t n)
{
    wsgi_embedded *e = (wsgi_embedded *)t;

    if (!e->asked) {
        e->asked = 1;
        /* The first read is where "100 Continue" goes out, as RFC 9110
         * 10.1.1 intends: an application that never reads never asks the
         * client for the body. */
        if (!ap_should_client_block(t->r))
            return 0;
    }
    return ap_get_client_block(t->r, buf, n);
}

/* A thread of the application still waits for body bytes while the
 * request ends: no more is read from this connection (it closes after
 * the response), which wakes that read up. HTTP/2 streams have no socket
 * of their own: the read then ends by Apache's Timeout. */
static void wsgi_embedded_abort_read(wsgi_transport *t)
{
    conn_rec *c = t->r->connection;
    apr_socket_t *sock = c->master ? NULL : ap_get_conn_socket(c);
    apr_os_sock_t fd = -1;

    c->keepalive = AP_CONN_CLOSE;
    if (sock != NULL && apr_os_sock_get(&fd, sock) == APR_SUCCESS &&
        fd >= 0)
        shutdown(fd, SHUT_RD);
}

static int wsgi_embedded_start(wsgi_transport *t, int status,
                               const char *status_line,
                               const wsgi_header *headers, int nheaders,
                               apr_off_t content_length)
{
    request_rec *r = t->r;
    int i;

    r->status = status;
    r->status_line = status_line;
    for (i = 0; i < nheaders; i++) {
        if (!strcasecmp(headers[i].name, "Content-Type"))
            ap_set_content_type(r, headers[i].value);
        else if (strcasecmp(headers[i].name, "Content-Length"))
            apr_table_addn(r->headers_out, headers[i].name,
                           headers[i].value);
    }
    if (content_length >= 0)
        ap_set_content_length(r, content_length);
    return 0;
}

static int wsgi_embedded_pass(wsgi_embedded *e)
{
    request_rec *r = e->base.r;
    apr_status_t rv = ap_pass_brigade(r->output_filters, e->bb);

    apr_brigade_cleanup(e->bb);
    return rv != APR_SUCCESS || r->connection->aborted ? -1 : 0;
}

#define WSGI_EMBEDDED_WRITE_THROUGH 65536

static int wsgi_embedded_write(wsgi_transport *t, const char *data,
                               apr_size_t n, int flush)
{
    wsgi_embedded *e = (wsgi_embedded *)t;
    apr_bucket_alloc_t *ba = t->r->connection->bucket_alloc;

    /* Transient: the core output filter copies what it has to keep. A
     * large block is written through at once (FLUSH: a blocking write
     * straight from the Python object) rather than copied: a copy costs
     * as much as the write, and the connection's pool would keep the
     * memory afterwards, up to MaxMemFree. */
    if (n > 0)
        APR_BRIGADE_INSERT_TAIL(e->bb,
                                apr_bucket_transient_create(data, n, ba));
    if (flush || n >= WSGI_EMBEDDED_WRITE_THROUGH)
        APR_BRIGADE_INSERT_TAIL(e->bb, apr_bucket_flush_create(ba));
    return wsgi_embedded_pass(e);
}

static int wsgi_embedded_send_file(wsgi_transport *t, int fd,
                                   apr_off_t offset, apr_off_t len)
{
    wsgi_embedded *e = (wsgi_embedded *)t;
    apr_file_t *af = NULL;
    apr_os_file_t osfd = fd;

    /* apr_os_file_put registers no cleanup: the descriptor stays the
     * application's to close. */
    apr_os_file_put(&af, &osfd,
                    APR_FOPEN_READ |
                        (t->enable_sendfile ? APR_FOPEN_SENDFILE_ENABLED : 0),
                    t->pool);
    apr_brigade_insert_file(e->bb, af, offset, len, t->pool);
    /* FLUSH: Apache is done with the descriptor when this returns, before
     * the application's close() closes it. */
    APR_BRIGADE_INSERT_TAIL(e->bb,
                            apr_bucket_flush_create(
                                t->r->connection->bucket_alloc));
    return wsgi_embedded_pass(e);
}

static int wsgi_embedded_finish(wsgi_transport *t, int complete)
{
    wsgi_embedded *e = (wsgi_embedded *)t;
    conn_rec *c = t->r->connection;

    if (!complete) {
        /* An error bucket of 502 makes the HTTP filters end the stream
         * without the last chunk and close the connection: the client
         * sees an incomplete body, not a short complete one. */
        c->keepalive = AP_CONN_CLOSE;
        APR_BRIGADE_INSERT_TAIL(e->bb,
                                ap_bucket_error_create(HTTP_BAD_GATEWAY,
                                                       NULL, t->pool,
                                                       c->bucket_alloc));
    }
    else if (!t->r->chunked) {
        /* The response goes out now, while the application's iterable is
         * closed and the request torn down, instead of after all that:
         * a keep-alive client's next request is then often already here
         * when the worker looks for one, and the connection skips a round
         * through the event MPM's listener (two context switches). Not
         * for a chunked body, whose last chunk would go in a write of its
         * own. */
        APR_BRIGADE_INSERT_TAIL(e->bb,
                                apr_bucket_flush_create(c->bucket_alloc));
    }
    APR_BRIGADE_INSERT_TAIL(e->bb, apr_bucket_eos_create(c->bucket_alloc));
    return wsgi_embedded_pass(e);
}

wsgi_transport *wsgi_embedded_transport(request_rec *r, int sendfile)
{
    wsgi_embedded *e = apr_pcalloc(r->pool, sizeof(*e));

    e->base.pool = r->pool;
    e->base.r = r;
    e->base.s = r->server;
    e->base.target = r->filename;
    e->base.enable_sendfile = sendfile;
    e->base.read = wsgi_embedded_read;
    e->base.start = wsgi_embedded_start;
    e->base.write = wsgi_embedded_write;
    e->base.send_file = wsgi_embedded_send_file;
    e->base.finish = wsgi_embedded_finish;
    e->base.abort_read = wsgi_embedded_abort_read;
    e->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    return &e->base;
}
