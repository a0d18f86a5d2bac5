/*
 * wsgi_handler.c: URL mapping (WSGIScriptAlias, WSGIScriptAliasMatch),
 * and the wsgi-script handler: its checks, then the request runs here
 * (embedded mode, wsgi_request.c) or goes to a daemon process group
 * (wsgi_remote.c).
 */

#include "wsgi_common.h"

/*
 * Like mod_alias: the URL must start with the alias path on a segment
 * boundary ("/app" matches "/app" and "/app/x", not "/apple"), runs of
 * slashes count as one. Returns how much of the URL matched, 0 if none.
 */
static apr_size_t wsgi_alias_match(const char *uri, const char *loc)
{
    const char *u = uri, *l = loc;

    while (*l) {
        if (*l == '/') {
            if (*u != '/')
                return 0;
            while (*l == '/')
                l++;
            while (*u == '/')
                u++;
            continue;
        }
        if (*l++ != *u++)
            return 0;
    }
    if (l[-1] != '/' && *u && *u != '/')
        return 0;
    return u - uri;
}

static wsgi_request_config *wsgi_rconf(request_rec *r)
{
    return ap_get_module_config(r->request_config, &wsgi_module);
}

static int wsgi_translate(request_rec *r)
{
    wsgi_server_config *sc =
        ap_get_module_config(r->server->module_config, &wsgi_module);
    int i;

    if (r->uri == NULL || r->uri[0] != '/' || sc->aliases->nelts == 0)
        return DECLINED;
    for (i = 0; i < sc->aliases->nelts; i++) {
        wsgi_alias *a = &APR_ARRAY_IDX(sc->aliases, i, wsgi_alias);
        const char *target = a->target, *rest;
        wsgi_request_config *rqc;

        if (a->regexp != NULL) {
            ap_regmatch_t m[AP_MAX_REG_MATCH];

            if (ap_regexec(a->regexp, r->uri, AP_MAX_REG_MATCH, m, 0))
                continue;
            target = ap_pregsub(r->pool, a->target, r->uri,
                                AP_MAX_REG_MATCH, m);
            if (target == NULL) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              WSGI_LOGNO(0501) "WSGIScriptAliasMatch "
                              "substitution of '%s' for '%s' failed (too "
                              "long?)", a->target, r->uri);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            /* What follows the match is PATH_INFO to be. */
            rest = r->uri + m[0].rm_eo;
        }
        else {
            apr_size_t n = wsgi_alias_match(r->uri, a->location);
            size_t ll = strlen(a->location);

            if (n == 0)
                continue;
            rest = r->uri + n;
            /* "WSGIScriptAlias / /srv/app.wsgi": "/x" must become
             * /srv/app.wsgi + "/x", so the slash the alias ate stays. */
            if (a->location[ll - 1] == '/' && n > 0 && rest[-1] == '/')
                rest--;
        }
        if (*target && target[strlen(target) - 1] == '/' && *rest == '/')
            rest++;
        r->filename = apr_pstrcat(r->pool, target, rest, NULL);
        r->handler = WSGI_HANDLER_NAME;
        rqc = apr_pcalloc(r->pool, sizeof(*rqc));
        rqc->alias = a;
        ap_set_module_config(r->request_config, &wsgi_module, rqc);
        return OK;
    }
    return DECLINED;
}

/* mod_mime (an AddHandler for the URL's extension) may have renamed the
 * handler since; a URL mapped by our alias stays ours. A SetHandler of
 * the URL's own <Location> (mod_status at /server-status under
 * "WSGIScriptAlias /") is the admin's choice and wins, as it does with
 * upstream mod_wsgi. */
static int wsgi_fixups(request_rec *r)
{
    wsgi_request_config *rqc = wsgi_rconf(r);
    core_dir_config *core =
        ap_get_core_module_config(r->per_dir_config);

    if (rqc != NULL && rqc->alias != NULL && core->expr_handler == NULL)
        r->handler = WSGI_HANDLER_NAME;
    return DECLINED;
}

/*
 * WSGIMapHEADToGET Auto: a HEAD is run as a GET only when an output
 * filter that may look at the body (deflate, cache...) is in the chain,
 * so that its headers match those of the GET.
 */
static int wsgi_map_head(request_rec *r, int mode)
{
    ap_filter_t *f;

    if (!r->header_only || mode == WSGI_HEAD_OFF)
        return WSGI_HEAD_OFF;
    if (mode == WSGI_HEAD_ON)
        return WSGI_HEAD_ON;
    for (f = r->output_filters; f; f = f->next) {
        if (f->frec->ftype < AP_FTYPE_PROTOCOL)
            return WSGI_HEAD_ON;
    }
    return WSGI_HEAD_OFF;
}

/* WSGIRestrictProcess: a group chosen per request (%{ENV:...}) must be
 * one the location allows. */
static int wsgi_process_allowed(request_rec *r, const char *group)
{
    wsgi_dir_config *dc =
        ap_get_module_config(r->per_dir_config, &wsgi_module);
    int i, allowed = dc->restrict_process == NULL;

    for (i = 0; !allowed && i < dc->restrict_process->nelts; i++)
        allowed = !strcmp(APR_ARRAY_IDX(dc->restrict_process, i,
                                        const char *), group);
    return allowed;
}


/*
 * wsgi.file_wrapper's files go out with sendfile() when WSGIEnableSendfile
 * says so; left unset, as Apache's own EnableSendfile says for this
 * location (upstream keeps Off there). An admin who turned sendfile on
 * for Apache's static files has said it works on these filesystems, and
 * a file from the application is the same kind of bucket.
 */
static int wsgi_sendfile_wanted(request_rec *r, const wsgi_dir_config *dc)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);

    return dc->enable_sendfile != WSGI_UNSET
               ? dc->enable_sendfile
               : core != NULL && core->enable_sendfile == ENABLE_SENDFILE_ON;
}

/* script-user= / script-group=: the group runs only scripts owned by
 * that user (or group), so a file dropped by anyone else is refused. */
static int wsgi_script_owner_ok(request_rec *r, const wsgi_daemon *d,
                                const char *script)
{
    apr_finfo_t fi;
    int ok = 1;

    if (d->script_user == NULL && d->script_group == NULL)
        return 1;
    if (apr_stat(&fi, script, APR_FINFO_OWNER, r->pool) != APR_SUCCESS)
        ok = 0;
    else if (d->script_user != NULL)
        ok = fi.user == d->script_uid;
    else
        ok = fi.group == d->script_gid;
    if (!ok)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0512)
                      "WSGI script '%s' is not owned by %s %s, which "
                      "WSGIDaemonProcess %s requires (script-%s=); change "
                      "its owner or the option", script,
                      d->script_user ? "user" : "group",
                      d->script_user ? d->script_user : d->script_group,
                      d->name, d->script_user ? "user" : "group");
    return ok;
}

static void wsgi_resolve(request_rec *r, wsgi_request_config *rc)
{
    wsgi_dir_config *dc =
        ap_get_module_config(r->per_dir_config, &wsgi_module);
    const wsgi_alias *a = rc->alias;
    const char *agroup = dc->application_group;
    const char *pgroup = dc->process_group;

    if (a && a->application_group)
        agroup = a->application_group;
    if (a && a->process_group)
        pgroup = a->process_group;
    rc->application_group = wsgi_expand_group(r, agroup, "%{RESOURCE}");
    rc->process_group = wsgi_expand_group(r, pgroup, "%{GLOBAL}");
    rc->callable_object = (a && a->callable_object) ? a->callable_object
                          : dc->callable_object ? dc->callable_object
                                                : "application";
    rc->pass_authorization = (a && a->pass_authorization != WSGI_UNSET)
                                 ? a->pass_authorization
                                 : WSGI_DIR_FLAG(dc, pass_authorization);
    rc->script_reloading = WSGI_DIR_FLAG(dc, script_reloading);
    rc->chunked_request = WSGI_DIR_FLAG(dc, chunked_request);
    rc->enable_sendfile = wsgi_sendfile_wanted(r, dc);
    rc->pass_apache_request = WSGI_DIR_FLAG(dc, pass_apache_request);
    rc->ignore_activity = WSGI_DIR_FLAG(dc, ignore_activity);
    rc->error_override = WSGI_DIR_FLAG(dc, error_override);
    rc->map_head_to_get =
        wsgi_map_head(r, WSGI_DIR_FLAG(dc, map_head_to_get));
}

/*
 * WSGIDispatchScript: its process_group(environ), application_group()
 * and callable_object() may each choose for this request (what they
 * return replaces what the configuration said; None keeps it), as
 * upstream's do. They see the environ as resolved so far. The choice is
 * then held to WSGIRestrictProcess like any other. Returns OK, or 500
 * when the script failed (logged).
 */
static int wsgi_dispatch(request_rec *r, wsgi_request_config *rc)
{
    static const char *const fns[] = {"process_group", "application_group",
                                      "callable_object"};
    const wsgi_hook_script *hs =
        ((wsgi_dir_config *)ap_get_module_config(r->per_dir_config,
                                                 &wsgi_module))
            ->dispatch_script;
    const char *what = "WSGIDispatchScript", *chosen[3] = {NULL};
    PyObject *module = NULL;
    wsgi_hook h;
    int i, status = OK;

    if (hs == NULL)
        return OK;
    if (wsgi_hook_enter(r, hs, rc, what, NULL, &h) < 0)
        status = HTTP_INTERNAL_SERVER_ERROR;
    else {
        module = h.func;            /* owned: h.func takes each function */
        h.func = NULL;
    }
    for (i = 0; status == OK && i < 3; i++) {
        PyObject *res;

        Py_CLEAR(h.func);
        h.func = PyObject_GetAttrString(module, fns[i]);
        if (h.func == NULL) {
            PyErr_Clear();          /* each function is optional */
            continue;
        }
        res = wsgi_hook_call(r, hs, what, &h, PyTuple_New(0));
        if (res == NULL)
            status = HTTP_INTERNAL_SERVER_ERROR;
        else if (PyUnicode_Check(res)) {
            const char *s = PyUnicode_AsUTF8(res);

            if (s == NULL) {
                PyErr_Clear();
                wsgi_hook_bad_result(r, hs, fns[i], res, "a str or None");
                status = HTTP_INTERNAL_SERVER_ERROR;
            }
            else
                chosen[i] = apr_pstrdup(r->pool, s);
        }
        else if (res != Py_None) {
            wsgi_hook_bad_result(r, hs, fns[i], res, "a str or None");
            status = HTTP_INTERNAL_SERVER_ERROR;
        }
        Py_XDECREF(res);
    }
    Py_XDECREF(module);
    wsgi_hook_leave(&h);
    if (status == OK && chosen[0] != NULL)
        rc->process_group = strcmp(chosen[0], "%{GLOBAL}") ? chosen[0] : "";
    if (status == OK && chosen[1] != NULL)
        rc->application_group = strcmp(chosen[1], "%{GLOBAL}") ? chosen[1]
                                                                : "";
    if (status == OK && chosen[2] != NULL && *chosen[2])
        rc->callable_object = chosen[2];
    return status;
}

static int wsgi_handler(request_rec *r)
{
    wsgi_daemon *daemon = NULL;
    const wsgi_handler_script *hs = NULL;
    wsgi_request_config *rc;
    wsgi_request_spec rq;
    int status;

    if (r->handler == NULL)
        return DECLINED;
    if (strcmp(r->handler, WSGI_HANDLER_NAME) &&
        strcmp(r->handler, WSGI_HANDLER_MIME)) {
        /* A WSGIHandlerScript's name? */
        wsgi_dir_config *dc =
            ap_get_module_config(r->per_dir_config, &wsgi_module);

        hs = dc->handler_scripts ? apr_hash_get(dc->handler_scripts,
                                                r->handler,
                                                APR_HASH_KEY_STRING)
                                 : NULL;
        if (hs == NULL)
            return DECLINED;
    }

    rc = wsgi_rconf(r);
    if (rc == NULL) {
        rc = apr_pcalloc(r->pool, sizeof(*rc));
        ap_set_module_config(r->request_config, &wsgi_module, rc);
    }
    rc->handler_script = hs;
    /* Scripts reached by SetHandler/AddHandler are CGI-like: the admin
     * must allow running them where they live, as for CGI. A handler
     * script is the admin's own and only reads the file mapped. */
    if (rc->alias == NULL && hs == NULL &&
        !(ap_allow_options(r) & OPT_EXECCGI)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGI_LOGNO(0502) "Options ExecCGI is off in this "
                      "directory: %s; add 'Options +ExecCGI' to its "
                      "<Directory>, or map it with WSGIScriptAlias",
                      r->filename);
        return HTTP_FORBIDDEN;
    }
    if (r->finfo.filetype == APR_NOFILE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGI_LOGNO(0503) "target WSGI script not found or "
                      "unable to stat: %s", r->filename);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGI_LOGNO(0504) "target WSGI script is not a "
                      "regular file: %s", r->filename);
        return HTTP_FORBIDDEN;
    }
    wsgi_resolve(r, rc);
    if (hs != NULL) {
        /* The handler script's options, where it gives them, then its
         * function. */
        if (hs->process_group)
            rc->process_group = wsgi_expand_group(r, hs->process_group,
                                                  "%{GLOBAL}");
        if (hs->application_group)
            rc->application_group =
                wsgi_expand_group(r, hs->application_group, "%{RESOURCE}");
        if (hs->pass_authorization != WSGI_UNSET)
            rc->pass_authorization = hs->pass_authorization;
        rc->callable_object = "handle_request";
    }
    status = wsgi_dispatch(r, rc);
    if (status != OK)
        return status;
    if (!wsgi_process_allowed(r, rc->process_group)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGI_LOGNO(0510) "%s selects process group '%s', "
                      "which WSGIRestrictProcess does not list for this "
                      "location; add it there or select another group",
                      r->uri, *rc->process_group ? rc->process_group
                                                 : "%{GLOBAL}");
        return HTTP_FORBIDDEN;
    }
    if (*rc->process_group) {
        daemon = wsgi_find_daemon(r, rc->process_group);
        if (daemon == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          WSGI_LOGNO(0505) "no WSGIDaemonProcess group "
                          "named '%s' is defined for this server (%s); "
                          "define it, or remove WSGIProcessGroup or "
                          "process-group= to run the application embedded",
                          rc->process_group, r->uri);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    else if (wsgi_restrict_embedded) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WSGI_LOGNO(0509) "%s would run in Apache's own "
                      "processes, but WSGIRestrictEmbedded is On; send it "
                      "to a daemon group with WSGIProcessGroup",
                      r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* RFC 9112 6.3: without WSGIChunkedRequest a chunked body gets 411,
     * since most applications rely on CONTENT_LENGTH. */
    status = ap_setup_client_block(r, rc->chunked_request
                                          ? REQUEST_CHUNKED_DECHUNK
                                          : REQUEST_CHUNKED_ERROR);
    if (status != OK)
        return status;
    if (daemon != NULL) {
        if (!wsgi_script_owner_ok(r, daemon, hs ? hs->script : r->filename))
            return HTTP_FORBIDDEN;
        if (daemon->threads == 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0511)
                          "%s is sent to daemon group '%s', which has "
                          "threads=0: such a group only runs its "
                          "WSGIImportScript service and takes no requests; "
                          "give it threads= or send requests elsewhere",
                          r->uri, daemon->name);
            return HTTP_SERVICE_UNAVAILABLE;
        }
        return wsgi_remote_handler(r, rc, daemon);
    }

    /* Embedded: the environ from r, the bytes through Apache's filters. */
    memset(&rq, 0, sizeof(rq));
    rq.script = hs ? hs->script : r->filename;
    rq.application_group = rc->application_group;
    rq.callable = rc->callable_object;
    rq.reload = rc->script_reloading;
    rq.r = r;
    rq.rc = rc;
    rq.request_start = r->request_time;
    rq.what = apr_pstrcat(r->pool, r->method, " ", r->unparsed_uri, NULL);
    rq.log_id = r->log_id;
    return wsgi_serve_request(wsgi_embedded_transport(r, rc->enable_sendfile),
                              &rq);
}

void wsgi_register_request_hooks(apr_pool_t *p)
{
    /* After mod_alias, so "Alias /static" wins over "WSGIScriptAlias /",
     * as with upstream. */
    static const char *const after_alias[] = {"mod_alias.c", NULL};

    (void)p;
    ap_hook_translate_name(wsgi_translate, after_alias, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_fixups(wsgi_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(wsgi_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
