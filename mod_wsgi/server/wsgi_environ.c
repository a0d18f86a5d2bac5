/*
 * wsgi_environ.c: the WSGI environ, from the request_rec (embedded mode)
 * or from the pairs the Apache child sent (daemon mode), and group name
 * expansion.
 *
 * PEP 3333, "A Note On String Types": environ values are native strings
 * "that can be encoded as ISO-8859-1", so every value decoded from the
 * request is decoded as latin-1, which maps bytes 1:1 and cannot fail.
 * Filesystem paths use the filesystem encoding.
 *
 * The constant keys are built once per interpreter (the template) and
 * copied per request.
 */

#include "wsgi_common.h"

static int wsgi_env_put(PyObject *env, const char *key, PyObject *value)
{
    int rc;

    if (value == NULL)
        return -1;
    rc = PyDict_SetItemString(env, key, value);
    Py_DECREF(value);                   /* the dict holds its own ref */
    return rc;
}

static int wsgi_env_str(PyObject *env, const char *key, const char *value)
{
    return wsgi_env_put(env, key,
                        PyUnicode_DecodeLatin1(value, strlen(value), NULL));
}

static int wsgi_env_path(PyObject *env, const char *key, const char *value)
{
    return wsgi_env_put(env, key, PyUnicode_DecodeFSDefault(value));
}

PyObject *wsgi_environ_template(void)
{
    PyObject *env = PyDict_New();
    int err = 0;

    if (env == NULL)
        return NULL;
    err |= wsgi_env_put(env, "wsgi.version", Py_BuildValue("(ii)", 1, 0));
    err |= PyDict_SetItemString(env, "wsgi.multithread",
                                wsgi_multithread ? Py_True : Py_False);
    err |= PyDict_SetItemString(env, "wsgi.multiprocess",
                                wsgi_multiprocess ? Py_True : Py_False);
    err |= PyDict_SetItemString(env, "wsgi.run_once", Py_False);
    err |= PyDict_SetItemString(env, "wsgi.input_terminated", Py_True);
    err |= PyDict_SetItemString(env, "wsgi.file_wrapper",
                                (PyObject *)&wsgi_filewrapper_type);
    err |= wsgi_env_put(env, "mod_wsgi.version",
                        Py_BuildValue("(iii)", WSGI_API_VERSION_MAJOR,
                                      WSGI_API_VERSION_MINOR,
                                      WSGI_API_VERSION_MICRO));
    err |= wsgi_env_put(env, "apache.version",
                        Py_BuildValue("(iii)", AP_SERVER_MAJORVERSION_NUMBER,
                                      AP_SERVER_MINORVERSION_NUMBER,
                                      AP_SERVER_PATCHLEVEL_NUMBER));
    err |= wsgi_env_str(env, "GATEWAY_INTERFACE", "CGI/1.1");
    err |= wsgi_env_str(env, "SERVER_SOFTWARE", ap_get_server_banner());
    {
        char pid[32];

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        err |= wsgi_env_str(env, "mod_wsgi.server_pid", pid);
    }
    if (wsgi_daemon_self != NULL)
        err |= wsgi_env_str(env, "mod_wsgi.process_group",
                            wsgi_daemon_self->name);
    if (err) {
        Py_DECREF(env);
        return NULL;
    }
    return env;
}

/* SCRIPT_NAME is the decoded URI without the PATH_INFO that the
 * directory walk split off the script file's path. */
const char *wsgi_script_name(request_rec *r)
{
    const char *uri = r->uri, *pi = r->path_info;
    size_t lu = strlen(uri), lp;

    if (pi == NULL || !*pi)
        goto whole;
    lp = strlen(pi);
    if (lu >= lp && !strcmp(uri + lu - lp, pi))
        return apr_pstrndup(r->pool, uri, lu - lp);
whole:
    /* PEP 3333: SCRIPT_NAME may be empty, but never ends in '/' when
     * PATH_INFO carries it. */
    if (lu == 1 && uri[0] == '/')
        return "";
    return uri;
}

/*
 * RFC 3875 4.1.18: a header becomes HTTP_ + its name upper-cased with '-'
 * as '_'. Names holding '_' (or anything but letters, digits and '-') are
 * dropped: otherwise "X_Foo: evil" would arrive as HTTP_X_FOO and pass
 * for an "X-Foo" set by a trusted proxy in front.
 */
static const char *wsgi_header_key(apr_pool_t *p, const char *name)
{
    size_t n = strlen(name), i;
    char *key = apr_palloc(p, n + 6), *o;

    memcpy(key, "HTTP_", 5);
    o = key + 5;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '-')
            *o++ = '_';
        else if (apr_isalnum(c))
            *o++ = apr_toupper(c);
        else
            return NULL;
    }
    *o = '\0';
    return key;
}

/* mod_ssl's HTTPS=on means https (a trusted proxy's header: below). */
static int wsgi_https_on(const char *v)
{
    return v != NULL && (!strcasecmp(v, "on") || !strcmp(v, "1"));
}

/*
 * Emits every string-valued environ entry of the request, in an order
 * where a later entry for the same key wins: what other modules set
 * (SetEnv, mod_ssl, mod_rewrite E=, UNIQUE_ID...), then the request
 * headers, then the CGI variables, then mod_wsgi's own. Embedded mode
 * puts them into the environ dict; the Apache child of a daemon-mode
 * request puts the same entries on the wire (wsgi_remote.c), so both
 * modes see the same environ.
 */
int wsgi_environ_emit(request_rec *r, wsgi_request_config *rc,
                      wsgi_env_cb emit, void *ctx)
{
    conn_rec *c = r->connection;
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    const char *script_name = wsgi_script_name(r);
    const char *path_info = r->path_info ? r->path_info : "";
    const char *scheme = ap_http_scheme(r);
    wsgi_proxy_view proxy;
    const core_dir_config *core;
    int i, err = 0, pass_auth;

#define WSGI_EMIT(k, v) (err |= emit(ctx, (k), (v), WSGI_ENV_LATIN1))
#define WSGI_EMIT_PATH(k, v) (err |= emit(ctx, (k), (v), WSGI_ENV_FSPATH))

    wsgi_proxy_resolve(r, &proxy);
    arr = apr_table_elts(r->subprocess_env);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key == NULL || e[i].val == NULL)
            continue;
        /* The variable itself is not passed on: wsgi.url_scheme says. */
        if (!strcasecmp(e[i].key, "HTTPS")) {
            if (wsgi_https_on(e[i].val))
                scheme = "https";
            continue;
        }
        WSGI_EMIT(e[i].key, e[i].val);
    }

    /* CGIPassAuth On: Apache's own rule for what handlers get
     * (ap_add_common_vars passes both credentials headers then), which
     * upstream mod_wsgi follows. */
    core = ap_get_core_module_config(r->per_dir_config);
    pass_auth = core != NULL && core->cgi_pass_auth == AP_CGI_PASS_AUTH_ON;
    arr = apr_table_elts(r->headers_in);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        const char *name = e[i].key, *key;

        if (name == NULL || e[i].val == NULL)
            continue;
        if (!strcasecmp(name, "Content-Type"))
            key = "CONTENT_TYPE";
        else if (!strcasecmp(name, "Content-Length"))
            key = "CONTENT_LENGTH";
        else if (!strcasecmp(name, "Authorization") &&
                 !rc->pass_authorization && !pass_auth)
            continue;
        /* Credentials for a proxy are not the application's business
         * unless CGIPassAuth says so; "Proxy:" would become HTTP_PROXY,
         * which many HTTP clients take as their proxy setting (httpoxy,
         * CVE-2016-5387 class): never. */
        else if ((!strcasecmp(name, "Proxy-Authorization") && !pass_auth) ||
                 !strcasecmp(name, "Proxy"))
            continue;
        else if (wsgi_proxy_drops(&proxy, name) ||
                 (key = wsgi_header_key(r->pool, name)) == NULL)
            continue;
        WSGI_EMIT(key, e[i].val);
    }

    /* The handler resolved Auto already: On here means "map". */
    WSGI_EMIT("REQUEST_METHOD",
              rc->map_head_to_get == WSGI_HEAD_ON && r->header_only
                  ? "GET" : r->method);
    WSGI_EMIT("SCRIPT_NAME", proxy.script_name ? proxy.script_name
                                               : script_name);
    WSGI_EMIT("PATH_INFO", path_info);
    WSGI_EMIT("QUERY_STRING", r->args ? r->args : "");
    WSGI_EMIT("REQUEST_URI", r->unparsed_uri);
    WSGI_EMIT("SERVER_PROTOCOL", r->protocol);
    WSGI_EMIT("SERVER_NAME", proxy.server_name ? proxy.server_name
                                               : ap_get_server_name(r));
    WSGI_EMIT("SERVER_PORT",
              proxy.port ? proxy.port
                         : apr_psprintf(r->pool, "%u", ap_get_server_port(r)));
    WSGI_EMIT("SERVER_ADDR", c->local_ip);
    WSGI_EMIT("SERVER_ADMIN",
              r->server->server_admin ? r->server->server_admin : "");
    WSGI_EMIT("REMOTE_ADDR", proxy.remote_addr ? proxy.remote_addr
                                               : r->useragent_ip);
    WSGI_EMIT("REMOTE_PORT",
              apr_psprintf(r->pool, "%u",
                           r->useragent_addr ? r->useragent_addr->port
                                             : c->client_addr->port));
    WSGI_EMIT("REQUEST_SCHEME", ap_http_scheme(r));
    WSGI_EMIT_PATH("DOCUMENT_ROOT", ap_document_root(r));
    WSGI_EMIT("CONTEXT_PREFIX", ap_context_prefix(r));
    WSGI_EMIT_PATH("CONTEXT_DOCUMENT_ROOT", ap_context_document_root(r));
    WSGI_EMIT_PATH("SCRIPT_FILENAME", r->filename);
    if (r->user)
        WSGI_EMIT("REMOTE_USER", r->user);
    if (r->ap_auth_type)
        WSGI_EMIT("AUTH_TYPE", r->ap_auth_type);
    if (proxy.host)
        WSGI_EMIT("HTTP_HOST", proxy.host);
    WSGI_EMIT("wsgi.url_scheme", proxy.scheme ? proxy.scheme : scheme);

    if (r->log_id == NULL)
        ap_run_generate_log_id(c, r, &r->log_id);
    if (c->log_id == NULL)
        ap_run_generate_log_id(c, NULL, &c->log_id);
    WSGI_EMIT("mod_wsgi.process_group", rc->process_group);
    WSGI_EMIT("mod_wsgi.application_group", rc->application_group);
    WSGI_EMIT("mod_wsgi.callable_object", rc->callable_object);
    WSGI_EMIT("mod_wsgi.request_handler",
              r->handler ? r->handler : WSGI_HANDLER_NAME);
    WSGI_EMIT("mod_wsgi.handler_script",
              rc->handler_script ? rc->handler_script->script : "");
    WSGI_EMIT("mod_wsgi.script_name", script_name);
    /* Where the application is mounted on this server, when a trusted
     * X-Script-Name (or X-Forwarded-Script-Name) put a proxy's prefix in
     * SCRIPT_NAME: as upstream names it. */
    if (proxy.script_name)
        WSGI_EMIT("mod_wsgi.mount_point", script_name);
    WSGI_EMIT("mod_wsgi.path_info", path_info);
    WSGI_EMIT("mod_wsgi.script_reloading", rc->script_reloading ? "1" : "0");
    WSGI_EMIT("mod_wsgi.enable_sendfile", rc->enable_sendfile ? "1" : "0");
    WSGI_EMIT("mod_wsgi.request_id", r->log_id ? r->log_id : "");
    WSGI_EMIT("mod_wsgi.connection_id", c->log_id ? c->log_id : "");
    WSGI_EMIT("mod_wsgi.listener_host", c->local_ip ? c->local_ip : "");
    WSGI_EMIT("mod_wsgi.listener_port",
              apr_psprintf(r->pool, "%u",
                           c->local_addr ? c->local_addr->port : 0));
#undef WSGI_EMIT
#undef WSGI_EMIT_PATH
    return err ? -1 : 0;
}

static int wsgi_env_to_dict(void *ctx, const char *key, const char *value,
                            int kind)
{
    PyObject *env = ctx;

    return kind == WSGI_ENV_FSPATH ? wsgi_env_path(env, key, value)
                                   : wsgi_env_str(env, key, value);
}

static double wsgi_seconds(apr_time_t t)
{
    return (double)t / (double)APR_USEC_PER_SEC;
}

/* Daemon mode: the entries wsgi_environ_emit gave the Apache child, in
 * the same order, each decoded as there (a :fspath pair marks a path). */
static int wsgi_environ_from_pairs(PyObject *env, const wsgi_pair *pairs,
                                   int n)
{
    int i, kind = WSGI_ENV_LATIN1, err = 0;

    for (i = 0; i < n && !err; i++) {
        switch (wsgi_proto_control_of(&pairs[i])) {
        case WSGI_CTL_NONE:
            err = wsgi_env_to_dict(env, pairs[i].name, pairs[i].value,
                                   kind) < 0;
            kind = WSGI_ENV_LATIN1;
            break;
        case WSGI_CTL_FSPATH:
            kind = WSGI_ENV_FSPATH;
            break;
        default:
            break;      /* the protocol's, not the application's */
        }
    }
    return err ? -1 : 0;
}

/* The environ of one request: the interpreter's template, the string
 * entries, then those that are not strings. */
PyObject *wsgi_environ_build(wsgi_interp *wi, const wsgi_request_spec *rq,
                             PyObject *input, PyObject *errors)
{
    PyObject *env = PyDict_Copy(wi->environ_template);
    int err = 0;

    if (env == NULL)
        return NULL;
    if (rq->pairs != NULL)
        err |= wsgi_environ_from_pairs(env, rq->pairs, rq->npairs) < 0;
    else
        err |= wsgi_environ_emit(rq->r, rq->rc, wsgi_env_to_dict, env) < 0;
    err |= PyDict_SetItemString(env, "wsgi.input", input) < 0;
    err |= PyDict_SetItemString(env, "wsgi.errors", errors) < 0;
    err |= wsgi_env_put(env, "mod_wsgi.request_start",
                        PyFloat_FromDouble(wsgi_seconds(rq->request_start)));
    /* When a daemon process took the request; 0 in embedded mode. */
    err |= wsgi_env_put(env, "mod_wsgi.queue_start",
                        PyFloat_FromDouble(wsgi_seconds(rq->accepted)));
    err |= wsgi_env_put(env, "mod_wsgi.daemon_start",
                        PyFloat_FromDouble(wsgi_seconds(rq->accepted)));
    err |= wsgi_env_put(env, "mod_wsgi.application_start",
                        PyFloat_FromDouble(wsgi_seconds(apr_time_now())));
    err |= wsgi_env_put(env, "mod_wsgi.thread_id",
                        PyLong_FromUnsignedLong(PyThread_get_thread_ident()));
    if (rq->r != NULL && rq->rc != NULL && rq->rc->pass_apache_request)
        err |= wsgi_env_put(env, "apache.request_rec",
                            PyCapsule_New(rq->r, "apache.request_rec", NULL));
    if (err) {
        Py_DECREF(env);
        return NULL;
    }
    return env;
}

PyObject *wsgi_environ_hook(wsgi_interp *wi, request_rec *r,
                            wsgi_request_config *rc,
                            const char *application_group, PyObject *errors)
{
    wsgi_request_config neutral;
    PyObject *env = PyDict_Copy(wi->environ_template);
    int err = 0;

    if (env == NULL)
        return NULL;
    /* Before the handler nothing is resolved yet (rc NULL: access and
     * auth steps); the Authorization header (the password, in Basic) is
     * not passed then: the script gets the user and password as
     * arguments. The dispatch step passes what it resolved so far. */
    if (rc == NULL) {
        memset(&neutral, 0, sizeof(neutral));
        neutral.process_group = "";
        neutral.application_group = application_group;
        neutral.callable_object = "";
        rc = &neutral;
    }
    err |= wsgi_environ_emit(r, rc, wsgi_env_to_dict, env) < 0;
    err |= PyDict_SetItemString(env, "wsgi.errors", errors) < 0;
    err |= wsgi_env_put(env, "mod_wsgi.request_start",
                        PyFloat_FromDouble(wsgi_seconds(r->request_time)));
    if (err) {
        Py_DECREF(env);
        return NULL;
    }
    return env;
}

static const char *wsgi_with_port(request_rec *r, const char *host)
{
    apr_port_t port = ap_get_server_port(r);

    if (port == 80 || port == 443)
        return host;
    return apr_psprintf(r->pool, "%s:%u", host, port);
}

/* Expands WSGIApplicationGroup / WSGIProcessGroup values. "" names the
 * main interpreter (or embedded mode, for process groups). */
const char *wsgi_expand_group(request_rec *r, const char *v,
                              const char *dflt)
{
    const char *name, *found;

    if (v == NULL)
        v = dflt;
    if (v[0] != '%' || v[1] != '{')
        return v;
    if (!strcmp(v, "%{GLOBAL}"))
        return "";
    if (!strcmp(v, "%{SERVER}"))
        return wsgi_with_port(r, r->server->server_hostname
                                     ? r->server->server_hostname : "");
    if (!strcmp(v, "%{HOST}")) {
        name = r->hostname ? r->hostname : r->server->server_hostname;
        return wsgi_with_port(r, name ? name : "");
    }
    if (!strcmp(v, "%{RESOURCE}")) {
        name = r->server->server_hostname ? r->server->server_hostname : "";
        return apr_pstrcat(r->pool, wsgi_with_port(r, name), "|",
                           wsgi_script_name(r), NULL);
    }
    if (!strncmp(v, "%{ENV:", 6)) {
        size_t n = strlen(v);
        const char *var = apr_pstrndup(r->pool, v + 6, n > 7 ? n - 7 : 0);

        found = apr_table_get(r->notes, var);
        if (found == NULL)
            found = apr_table_get(r->subprocess_env, var);
        if (found == NULL)
            found = getenv(var);
        return found ? found : "";
    }
    return v;
}
