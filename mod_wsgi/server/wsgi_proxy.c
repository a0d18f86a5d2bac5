/*
 * wsgi_proxy.c: WSGITrustedProxyHeaders and WSGITrustedProxies.
 *
 * Behind a proxy that terminates TLS or rewrites the host, the CGI
 * variables describe the proxy, not the client. The administrator names
 * the headers the proxy sets (one per purpose) and, optionally, the proxy
 * addresses; then those headers rewrite REMOTE_ADDR, wsgi.url_scheme,
 * HTTP_HOST, SERVER_PORT, SERVER_NAME or SCRIPT_NAME. Every other header
 * of a purpose that has a trusted one is dropped, and so is the trusted
 * one itself when the peer is not a trusted proxy: a client must not be
 * able to claim to be someone else by sending "X-Forwarded-For" itself.
 */

#include "wsgi_common.h"

#include <arpa/inet.h>

typedef struct {
    const char *name;
    int purpose;
} wsgi_proxy_header;

/* Upstream mod_wsgi's set of headers, by what they tell. */
static const wsgi_proxy_header wsgi_proxy_headers[] = {
    {"X-Forwarded-For", WSGI_PROXY_CLIENT},
    {"X-Client-IP", WSGI_PROXY_CLIENT},
    {"X-Real-IP", WSGI_PROXY_CLIENT},
    {"X-Forwarded-HTTPS", WSGI_PROXY_SCHEME},
    {"X-Forwarded-Proto", WSGI_PROXY_SCHEME},
    {"X-Forwarded-Scheme", WSGI_PROXY_SCHEME},
    {"X-Forwarded-SSL", WSGI_PROXY_SCHEME},
    {"X-HTTPS", WSGI_PROXY_SCHEME},
    {"X-Scheme", WSGI_PROXY_SCHEME},
    {"X-Forwarded-Host", WSGI_PROXY_HOST},
    {"X-Host", WSGI_PROXY_HOST},
    {"X-Forwarded-Port", WSGI_PROXY_PORT},
    {"X-Forwarded-Server", WSGI_PROXY_SERVER},
    {"X-Script-Name", WSGI_PROXY_SCRIPT},
    {"X-Forwarded-Script-Name", WSGI_PROXY_SCRIPT},
    {NULL, 0}};

/* The canonical spelling of a known proxy header, or NULL. */
const char *wsgi_proxy_header_name(const char *name, int *purpose)
{
    int i;

    for (i = 0; wsgi_proxy_headers[i].name; i++) {
        if (!strcasecmp(name, wsgi_proxy_headers[i].name)) {
            if (purpose)
                *purpose = wsgi_proxy_headers[i].purpose;
            return wsgi_proxy_headers[i].name;
        }
    }
    return NULL;
}

/* Is the peer of this connection one of the trusted proxies? With no
 * WSGITrustedProxies every peer is (the proxy is the only way in). */
static int wsgi_peer_trusted(request_rec *r, const wsgi_dir_config *dc)
{
    int i;

    if (dc->trusted_proxies == NULL)
        return 1;
    for (i = 0; i < dc->trusted_proxies->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(dc->trusted_proxies, i,
                                            apr_ipsubnet_t *),
                              r->connection->client_addr))
            return 1;
    }
    return 0;
}

static int wsgi_is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int wsgi_ip_trusted(apr_pool_t *p, const wsgi_dir_config *dc,
                           const char *ip)
{
    apr_sockaddr_t *sa;
    int i;

    if (dc->trusted_proxies == NULL ||
        apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, 0, APR_IPV4_ADDR_OK, p) !=
            APR_SUCCESS)
        return 0;
    for (i = 0; i < dc->trusted_proxies->nelts; i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(dc->trusted_proxies, i,
                                            apr_ipsubnet_t *), sa))
            return 1;
    }
    return 0;
}

/*
 * X-Forwarded-For: "client, proxy1, proxy2". Read right to left, every
 * address that is a trusted proxy was added by one of ours; the first
 * that is not is the client. Without WSGITrustedProxies, the leftmost.
 */
static const char *wsgi_forwarded_client(request_rec *r,
                                         const wsgi_dir_config *dc,
                                         const char *list)
{
    apr_array_header_t *ips = apr_array_make(r->pool, 4, sizeof(char *));
    char *copy = apr_pstrdup(r->pool, list), *tok, *state;
    const char *client = NULL;
    int i;

    for (tok = apr_strtok(copy, ", \t", &state); tok;
         tok = apr_strtok(NULL, ", \t", &state))
        APR_ARRAY_PUSH(ips, char *) = tok;
    for (i = ips->nelts - 1; i >= 0; i--) {
        const char *ip = APR_ARRAY_IDX(ips, i, char *);

        if (!wsgi_is_ip(ip))
            break;      /* garbage from the client: stop trusting here */
        client = ip;
        if (!wsgi_ip_trusted(r->pool, dc, ip))
            break;
    }
    if (dc->trusted_proxies == NULL && ips->nelts > 0 &&
        wsgi_is_ip(APR_ARRAY_IDX(ips, 0, char *)))
        client = APR_ARRAY_IDX(ips, 0, char *);
    return client;
}

static int wsgi_truthy(const char *v)
{
    return !strcasecmp(v, "on") || !strcasecmp(v, "1") ||
           !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
           !strcasecmp(v, "https");
}

/* The first item of a comma-separated header value, trimmed. */
static const char *wsgi_first_item(apr_pool_t *p, const char *v)
{
    const char *end = strchr(v, ',');
    char *item = end ? apr_pstrmemdup(p, v, end - v) : apr_pstrdup(p, v);

    apr_collapse_spaces(item, item);
    return item;
}

void wsgi_proxy_resolve(request_rec *r, wsgi_proxy_view *v)
{
    wsgi_dir_config *dc =
        ap_get_module_config(r->per_dir_config, &wsgi_module);
    int i, peer_trusted;

    memset(v, 0, sizeof(*v));
    if (dc->trusted_proxy_headers == NULL)
        return;
    peer_trusted = wsgi_peer_trusted(r, dc);
    for (i = 0; i < dc->trusted_proxy_headers->nelts; i++) {
        const char *name = APR_ARRAY_IDX(dc->trusted_proxy_headers, i,
                                         const char *);
        const char *val;
        int purpose = 0;

        wsgi_proxy_header_name(name, &purpose);
        v->purposes |= 1 << purpose;
        if (!peer_trusted ||
            (val = apr_table_getm(r->pool, r->headers_in, name)) == NULL ||
            !*val)
            continue;
        v->trusted[purpose] = name;
        switch (purpose) {
        case WSGI_PROXY_CLIENT:
            v->remote_addr = !strcasecmp(name, "X-Forwarded-For")
                                 ? wsgi_forwarded_client(r, dc, val)
                                 : (wsgi_is_ip(wsgi_first_item(r->pool, val))
                                        ? wsgi_first_item(r->pool, val)
                                        : NULL);
            break;
        case WSGI_PROXY_SCHEME:
            v->scheme = wsgi_truthy(wsgi_first_item(r->pool, val))
                            ? "https" : "http";
            break;
        case WSGI_PROXY_HOST:
            v->host = wsgi_first_item(r->pool, val);
            break;
        case WSGI_PROXY_PORT:
            v->port = apr_isdigit(*val) ? wsgi_first_item(r->pool, val)
                                        : NULL;
            break;
        case WSGI_PROXY_SERVER:
            v->server_name = wsgi_first_item(r->pool, val);
            break;
        case WSGI_PROXY_SCRIPT:
            /* PEP 3333: empty, or starting with '/' and not ending in it. */
            if (*val == '/' || !*val) {
                char *s = apr_pstrdup(r->pool, val);
                size_t n = strlen(s);

                while (n > 0 && s[n - 1] == '/')
                    s[--n] = '\0';
                v->script_name = s;
            }
            break;
        }
    }
}

/* A request header to leave out of the environ: a proxy header of a
 * purpose that has a trusted header, other than that header when the
 * peer is trusted. */
int wsgi_proxy_drops(const wsgi_proxy_view *v, const char *name)
{
    const char *known;
    int purpose = 0;

    if (!v->purposes || (known = wsgi_proxy_header_name(name, &purpose)) ==
                            NULL || !(v->purposes & (1 << purpose)))
        return 0;
    return v->trusted[purpose] == NULL || strcmp(v->trusted[purpose], known);
}
