/*
 * wsgi_peer.c: who may ask a daemon process to run what.
 *
 * A daemon group's socket is reachable by every process running as
 * Apache's user: an embedded application, another group's application,
 * a CGI script. Any of them could send a REQUEST frame naming any script
 * and have it run as the group's user=. Two checks close that:
 *
 * 1. Proof of origin. At each start and restart, before it forks
 *    anything, the Apache parent draws a random master secret (never
 *    written anywhere but this process's memory) and derives one key per
 *    group from it: HMAC-SHA-256(master, "mod_wsgi group key" 0 name).
 *    Apache children inherit the keys and put the HMAC of each REQUEST
 *    frame (its head and environ) in front of its payload; a daemon
 *    process keeps only its own group's key, wiping the master and every
 *    other group's key before Python starts, so the application of one
 *    group cannot forge frames for another. The key of the generation
 *    before is accepted too: after a graceful restart, old children
 *    finishing their requests reach the new daemons through the same
 *    socket path.
 *
 * 2. What the configuration maps. Even a frame with a good tag runs only
 *    a script that the configuration could send to this group (an
 *    embedded application shares the Apache child's memory, keys
 *    included): a WSGIScriptAlias(Match) target, or a file under a
 *    directory where handler-mapped scripts may run (ExecCGI, or
 *    .htaccess allowed to turn it on), in a server that can reach the
 *    group; and a callable the configuration names. The rules are a
 *    superset of what the request path can produce, so a working site is
 *    never refused; the forged request for /tmp/evil.wsgi is.
 *
 * A refused frame runs no code: the connection closes, and one alert
 * line names the group, the reason and the peer (SO_PEERCRED).
 */

#include "wsgi_common.h"
#include "wsgi_hmac.h"

#include "apr_fnmatch.h"

/*
 * The masters live in the process pool, not in statics: Apache unloads
 * and reloads modules at every restart, which resets a static, and the
 * master before must survive the restart that replaces it.
 */
typedef struct {
    unsigned char master[WSGI_SHA256_SIZE];
    unsigned char prev_master[WSGI_SHA256_SIZE];
    int have_master;
} wsgi_peer_secrets;

#define WSGI_PEER_USERDATA "mod_wsgi peer secrets"

static wsgi_peer_secrets *wsgi_peer_secrets_of(server_rec *s)
{
    apr_pool_t *pool = s->process->pool;
    void *data = NULL;

    apr_pool_userdata_get(&data, WSGI_PEER_USERDATA, pool);
    if (data == NULL) {
        data = apr_pcalloc(pool, sizeof(wsgi_peer_secrets));
        apr_pool_userdata_set(data, WSGI_PEER_USERDATA,
                              apr_pool_cleanup_null, pool);
    }
    return data;
}

static void wsgi_peer_derive(const unsigned char *master, const char *name,
                             unsigned char out[WSGI_SHA256_SIZE])
{
    static const char label[] = "mod_wsgi group key";
    wsgi_hmac_part parts[2];

    parts[0].data = label;
    parts[0].len = sizeof(label);       /* the NUL separates the name */
    parts[1].data = name;
    parts[1].len = strlen(name);
    wsgi_hmac_sha256(master, WSGI_SHA256_SIZE, parts, 2, out);
}

int wsgi_peer_generation(server_rec *s)
{
    wsgi_peer_secrets *sec = wsgi_peer_secrets_of(s);
    apr_status_t rv;
    int i, have_prev = sec->have_master;

    if (have_prev)
        memcpy(sec->prev_master, sec->master, sizeof(sec->master));
    rv = apr_generate_random_bytes(sec->master, sizeof(sec->master));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, WSGI_LOGNO(0742)
                     "cannot draw a random secret for the daemon sockets; "
                     "Apache does not start (check that the kernel's "
                     "random source, getrandom() or /dev/urandom, works)");
        return -1;
    }
    sec->have_master = 1;
    for (i = 0; wsgi_daemons && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        wsgi_peer_derive(sec->master, d->name, d->key);
        d->has_prev_key = have_prev;
        if (have_prev)
            wsgi_peer_derive(sec->prev_master, d->name, d->prev_key);
    }
    return 0;
}

/* ------------------------------------------------------ the Apache child */

void wsgi_peer_seal(const wsgi_daemon *d, const unsigned char *head,
                    const unsigned char *pairs, apr_size_t len,
                    unsigned char *tag)
{
    wsgi_hmac_part parts[2];

    parts[0].data = head;
    parts[0].len = WSGI_PROTO_HEAD_SIZE;
    parts[1].data = pairs;
    parts[1].len = len;
    wsgi_hmac_sha256(d->key, sizeof(d->key), parts, 2, tag);
}

/* --------------------------------------------------- the daemon process */

enum {
    WSGI_RULE_PREFIX = 1,       /* a file, or any file below a directory */
    WSGI_RULE_PATTERN,          /* WSGIScriptAliasMatch target; \1 = $N */
    WSGI_RULE_SECTION,          /* a <Directory> where handlers may run */
    WSGI_RULE_ANYWHERE          /* ExecCGI at server or <Location> level */
};

typedef struct {
    int kind;
    const char *path;
    const core_dir_config *section;
} wsgi_rule;

typedef struct {
    apr_array_header_t *rules;      /* of wsgi_rule */
    apr_array_header_t *callables;  /* of const char *; NULL: any */
} wsgi_peer_map;

static wsgi_peer_map *wsgi_peer_rules = NULL;

/* The largest REQUEST frame taken; see wsgi_peer_environ_cap. */
#define WSGI_PEER_CAP_BASE (1024 * 1024)
static apr_size_t wsgi_peer_cap = WSGI_PEER_CAP_BASE;

/* Whether a configured process group value can select group `name`: the
 * name itself, or a %{...} expanded per request (other than %{GLOBAL},
 * which means embedded). */
static int wsgi_peer_names(const char *value, const char *name)
{
    if (value == NULL)
        return 0;
    if (value[0] == '%' && value[1] == '{')
        return strcmp(value, "%{GLOBAL}") != 0;
    return strcmp(value, name) == 0;
}

/* Mirrors wsgi_find_daemon: a group defined in a virtual host serves
 * the servers of that ServerName only. */
static int wsgi_peer_reaches(const wsgi_daemon *d, const server_rec *s)
{
    const server_rec *ds = d->server;

    return !ds->is_virtual || ds == s ||
           (ds->server_hostname && s->server_hostname &&
            !strcmp(ds->server_hostname, s->server_hostname));
}

typedef struct {
    const wsgi_daemon *d;
    apr_pool_t *p;
    wsgi_peer_map *map;
    int names;                  /* a scope of this server selects d */
    int dispatch;               /* a WSGIDispatchScript may choose any
                                 * group and callable there */
} wsgi_peer_walk;

static void wsgi_peer_callable(wsgi_peer_walk *w, const char *name)
{
    if (name && w->map->callables)
        APR_ARRAY_PUSH(w->map->callables, const char *) = name;
}

static void wsgi_peer_rule(wsgi_peer_walk *w, int kind, const char *path,
                           const core_dir_config *section)
{
    wsgi_rule *rule = apr_array_push(w->map->rules);

    rule->kind = kind;
    rule->path = path;
    rule->section = section;
}

/* A section's (or the server's) WSGI and core settings: does it select
 * the group; which callable; may .htaccess name another callable. */
static void wsgi_peer_scope(wsgi_peer_walk *w, ap_conf_vector_t *v)
{
    const wsgi_dir_config *dc = ap_get_module_config(v, &wsgi_module);
    const core_dir_config *cc = ap_get_core_module_config(v);
    int i;

    if (dc != NULL) {
        w->names |= wsgi_peer_names(dc->process_group, w->d->name);
        wsgi_peer_callable(w, dc->callable_object);
    }
    /* WSGIHandlerScript: its script, with handle_request(), when its
     * process-group= names this group; without one, the group comes from
     * whichever scope the request falls in (perhaps one walked later),
     * and the script is the administrator's own: allowed. */
    if (dc != NULL && dc->handler_scripts != NULL) {
        apr_hash_index_t *hi;

        for (hi = apr_hash_first(w->p, dc->handler_scripts); hi;
             hi = apr_hash_next(hi)) {
            const wsgi_handler_script *hs = apr_hash_this_val(hi);

            if (hs->process_group == NULL ||
                wsgi_peer_names(hs->process_group, w->d->name)) {
                wsgi_peer_rule(w, WSGI_RULE_PREFIX, hs->script, NULL);
                wsgi_peer_callable(w, "handle_request");
            }
        }
    }
    /* A dispatch script decides per request: any group, any callable. */
    if (dc != NULL && dc->dispatch_script != NULL) {
        w->names = w->dispatch = 1;
        w->map->callables = NULL;
    }
    /* WSGICallableObject is allowed in .htaccess (FileInfo). */
    if (cc != NULL && (cc->override & OR_FILEINFO))
        w->map->callables = NULL;
    for (i = 0; cc && cc->sec_file && i < cc->sec_file->nelts; i++)
        wsgi_peer_scope(w, APR_ARRAY_IDX(cc->sec_file, i,
                                         ap_conf_vector_t *));
}

/* Handler-mapped scripts need ExecCGI where they live, given in the
 * configuration or by an .htaccess allowed to change Options. */
static int wsgi_peer_may_exec(const core_dir_config *cc)
{
    return cc != NULL &&
           (((cc->opts | cc->opts_add) & OPT_EXECCGI) ||
            (cc->override & OR_OPTIONS));
}

/* WSGIScriptAliasMatch's target: ap_pregsub's $0-$9 and & become \1,
 * "any text" for the matcher; \$ and \& are the characters. */
static const char *wsgi_peer_pattern(apr_pool_t *p, const char *target)
{
    char *out = apr_palloc(p, strlen(target) + 1), *o = out;
    const char *t = target;

    while (*t) {
        if (*t == '\\' && (t[1] == '$' || t[1] == '&')) {
            *o++ = t[1];
            t += 2;
        }
        else if (*t == '$' && apr_isdigit(t[1])) {
            *o++ = '\1';
            t += 2;
        }
        else if (*t == '&') {
            *o++ = '\1';
            t++;
        }
        else
            *o++ = *t++;
    }
    *o = '\0';
    return out;
}

static void wsgi_peer_server(wsgi_peer_walk *w, server_rec *s)
{
    const wsgi_server_config *sc =
        ap_get_module_config(s->module_config, &wsgi_module);
    const core_server_config *core = ap_get_core_module_config(
        s->module_config);
    apr_array_header_t *dirs = core ? core->sec_dir : NULL;
    apr_array_header_t *urls = core ? core->sec_url : NULL;
    int i;

    w->names = w->dispatch = 0;
    wsgi_peer_scope(w, s->lookup_defaults);
    for (i = 0; urls && i < urls->nelts; i++)
        wsgi_peer_scope(w, APR_ARRAY_IDX(urls, i, ap_conf_vector_t *));
    for (i = 0; dirs && i < dirs->nelts; i++)
        wsgi_peer_scope(w, APR_ARRAY_IDX(dirs, i, ap_conf_vector_t *));

    for (i = 0; sc && sc->aliases && i < sc->aliases->nelts; i++) {
        const wsgi_alias *a = &APR_ARRAY_IDX(sc->aliases, i, wsgi_alias);

        /* Without process-group= the alias takes its group from the
         * scopes of the request: any of them may select this one. */
        if (!w->dispatch &&
            (a->process_group ? !wsgi_peer_names(a->process_group,
                                                 w->d->name)
                              : !w->names))
            continue;
        wsgi_peer_callable(w, a->callable_object);
        if (a->regexp != NULL)
            wsgi_peer_rule(w, WSGI_RULE_PATTERN,
                           wsgi_peer_pattern(w->p, a->target), NULL);
        else
            wsgi_peer_rule(w, WSGI_RULE_PREFIX, a->target, NULL);
    }
    if (!w->names)
        return;
    /* The group is selected by a scope: scripts reached through a
     * handler (AddHandler, SetHandler) may come from any place where
     * they may run. */
    if (wsgi_peer_may_exec(ap_get_core_module_config(s->lookup_defaults)))
        wsgi_peer_rule(w, WSGI_RULE_ANYWHERE, NULL, NULL);
    for (i = 0; urls && i < urls->nelts; i++) {
        if (wsgi_peer_may_exec(ap_get_core_module_config(
                APR_ARRAY_IDX(urls, i, ap_conf_vector_t *))))
            wsgi_peer_rule(w, WSGI_RULE_ANYWHERE, NULL, NULL);
    }
    for (i = 0; dirs && i < dirs->nelts; i++) {
        const core_dir_config *cc = ap_get_core_module_config(
            APR_ARRAY_IDX(dirs, i, ap_conf_vector_t *));

        if (wsgi_peer_may_exec(cc) && cc->d != NULL)
            wsgi_peer_rule(w, WSGI_RULE_SECTION, NULL, cc);
    }
}

/*
 * The environ of a request that Apache accepted must fit, whatever
 * LimitRequestLine, LimitRequestFields and LimitRequestFieldSize allow
 * (a fixed 1 MiB refused what Apache and embedded mode served): each
 * header and the request line may appear twice (HTTP_* and the CGI
 * variables made from them), plus room for SetEnv, SSL and our own
 * variables. The codec's 16 MiB cap still bounds it.
 */
static void wsgi_peer_limits(const server_rec *s)
{
    apr_uint64_t want = (apr_uint64_t)WSGI_PEER_CAP_BASE +
                        2 * ((apr_uint64_t)s->limit_req_line +
                             (apr_uint64_t)s->limit_req_fields *
                                 ((apr_uint64_t)s->limit_req_fieldsize +
                                  16));

    if (want > WSGI_PROTO_MAX_PAYLOAD)
        want = WSGI_PROTO_MAX_PAYLOAD;
    if (want > wsgi_peer_cap)
        wsgi_peer_cap = (apr_size_t)want;
}

/*
 * In a daemon process, before Python: forget every key but this group's
 * (the master included), and learn what the configuration may send here.
 */
void wsgi_peer_enter_daemon(apr_pool_t *p, server_rec *s, wsgi_daemon *d)
{
    wsgi_peer_walk w;
    server_rec *srv;
    int i;

    wsgi_hmac_wipe(wsgi_peer_secrets_of(s), sizeof(wsgi_peer_secrets));
    for (i = 0; wsgi_daemons && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *o = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (o == d)
            continue;
        wsgi_hmac_wipe(o->key, sizeof(o->key));
        wsgi_hmac_wipe(o->prev_key, sizeof(o->prev_key));
    }
    w.d = d;
    w.p = p;
    w.map = apr_pcalloc(p, sizeof(*w.map));
    w.map->rules = apr_array_make(p, 8, sizeof(wsgi_rule));
    w.map->callables = apr_array_make(p, 4, sizeof(const char *));
    wsgi_peer_callable(&w, "application");
    for (srv = s; srv != NULL; srv = srv->next) {
        if (!wsgi_peer_reaches(d, srv))
            continue;
        wsgi_peer_server(&w, srv);
        wsgi_peer_limits(srv);
    }
    wsgi_peer_rules = w.map;
}

apr_size_t wsgi_peer_environ_cap(void)
{
    return wsgi_peer_cap;
}

/* Matches s against a pattern whose \1 stands for any text; with
 * as_dir, s may also go on below what the pattern matched. */
static int wsgi_peer_glob(const char *pat, const char *s, int as_dir)
{
    const char *star = NULL, *resume = NULL;

    for (;;) {
        if (*pat == '\1') {
            star = ++pat;
            resume = s;
            continue;
        }
        if (*pat == '\0' && (*s == '\0' || (as_dir && *s == '/')))
            return 1;
        if (*pat != '\0' && *pat == *s) {
            pat++;
            s++;
            continue;
        }
        /* Mismatch: let the last \1 take one more character. */
        if (star == NULL || *resume == '\0')
            return 0;
        pat = star;
        s = ++resume;
    }
}

/* A path with "." or ".." segments could climb out of any prefix. */
static int wsgi_peer_dotted(const char *path)
{
    const char *p = path;

    while ((p = strchr(p, '/')) != NULL) {
        p++;
        if (p[0] == '.' && (p[1] == '/' || p[1] == '\0' ||
                            (p[1] == '.' && (p[2] == '/' || p[2] == '\0'))))
            return 1;
    }
    return 0;
}

static int wsgi_peer_prefix(const char *dir, const char *script)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    return !strncmp(script, dir, n) &&
           (script[n] == '\0' || script[n] == '/' || dir[n] == '/');
}

/* <Directory>, <Directory ~>/<DirectoryMatch>, wildcards: tried against
 * every directory above the script, as Apache's directory walk would. */
static int wsgi_peer_section(const core_dir_config *cc, const char *script,
                             apr_pool_t *p)
{
    const char *slash;

    if (cc->r == NULL && !cc->d_is_fnmatch)
        return wsgi_peer_prefix(cc->d, script);
    for (slash = strchr(script + 1, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        const char *dir = apr_pstrmemdup(p, script, slash - script + 1);
        const char *bare = apr_pstrmemdup(p, script, slash - script);

        if (cc->r != NULL
                ? (!ap_regexec(cc->r, dir, 0, NULL, 0) ||
                   !ap_regexec(cc->r, bare, 0, NULL, 0))
                : apr_fnmatch(cc->d, dir, APR_FNM_PATHNAME) == APR_SUCCESS)
            return 1;
    }
    return 0;
}

static const char *wsgi_peer_unmapped(const char *script,
                                      const char *callable, apr_pool_t *p)
{
    const wsgi_peer_map *map = wsgi_peer_rules;
    int i, ok = 0;

    if (map == NULL)
        return NULL;
    if (script[0] != '/' || wsgi_peer_dotted(script))
        return "the script path is not absolute and plain";
    for (i = 0; !ok && i < map->rules->nelts; i++) {
        const wsgi_rule *rule = &APR_ARRAY_IDX(map->rules, i, wsgi_rule);

        switch (rule->kind) {
        case WSGI_RULE_PREFIX:
            ok = wsgi_peer_prefix(rule->path, script);
            break;
        case WSGI_RULE_PATTERN:
            ok = wsgi_peer_glob(rule->path, script, 1);
            break;
        case WSGI_RULE_SECTION:
            ok = wsgi_peer_section(rule->section, script, p);
            break;
        default:
            ok = 1;
            break;
        }
    }
    if (!ok)
        return "no WSGIScriptAlias or handler mapping of the configuration "
               "sends that script to this group";
    for (i = 0; map->callables && i < map->callables->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(map->callables, i, const char *),
                    callable))
            return NULL;
    }
    return map->callables ? "the configuration names no such callable"
                          : NULL;
}

/* The connected peer's credentials (SO_PEERCRED); pid 0 and uid -1 when
 * they cannot be read. */
static struct ucred wsgi_peer_cred(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        cred.pid = 0;
        cred.uid = (uid_t)-1;
        cred.gid = (gid_t)-1;
    }
    return cred;
}

/* The connected peer's pid (an Apache child's), or 0. */
int wsgi_peer_pid(int fd)
{
    return (int)wsgi_peer_cred(fd).pid;
}

void wsgi_peer_refuse(const wsgi_daemon *d, int fd, const char *why,
                      const char *script)
{
    struct ucred cred = wsgi_peer_cred(fd);

    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, d->server, WSGI_LOGNO(0740)
                 "daemon group '%s' (pid %d) refused a request from peer "
                 "pid %d (uid %d): %s%s%s; nothing was run and the "
                 "connection is closed. Only Apache's children of this "
                 "server may send requests here: find out what that "
                 "process is", d->name, (int)getpid(), (int)cred.pid,
                 (int)cred.uid, why, script ? ", script " : "",
                 script ? script : "");
}

/*
 * The other direction: an Apache child sends a group's socket every
 * request of the group, cookies and credentials included, and believes
 * the answer. Whoever can replace the socket's path (a directory Apache's
 * user may write to, or a sticky one such as /tmp, where that user may
 * remove the socket it owns) could listen there instead. SO_PEERCRED on
 * a connected UNIX socket gives the credentials of the process that
 * called listen() (unix(7)): for the group's socket, Apache's parent,
 * which made it as root (d->listen_uid). Checked before anything is sent.
 */
int wsgi_peer_check_daemon(const wsgi_daemon *d, request_rec *r, int fd)
{
    struct ucred cred = wsgi_peer_cred(fd);

    if (cred.uid == d->listen_uid)
        return 0;
    ap_log_rerror(APLOG_MARK, APLOG_ALERT, 0, r, WSGI_LOGNO(0753)
                  "the socket of daemon process group '%s' ('%s') is "
                  "answered by pid %d running as uid %d, not by the "
                  "group's listener (uid %d): another process took its "
                  "path. Nothing was sent to it and the request gets 503. "
                  "Find that process, and give WSGISocketPrefix a "
                  "directory only root can write to",
                  d->name, d->socket_path, (int)cred.pid, (int)cred.uid,
                  (int)d->listen_uid);
    return -1;
}

int wsgi_peer_check_frame(const wsgi_daemon *d, int fd,
                          const unsigned char *head,
                          const unsigned char *payload, apr_size_t len)
{
    unsigned char tag[WSGI_SHA256_SIZE];
    int ok = 0;

    if (len >= WSGI_PROTO_TAG_SIZE) {
        wsgi_peer_seal(d, head, payload + WSGI_PROTO_TAG_SIZE,
                       len - WSGI_PROTO_TAG_SIZE, tag);
        ok = wsgi_hmac_equal(tag, payload, WSGI_PROTO_TAG_SIZE);
        if (!ok && d->has_prev_key) {
            wsgi_hmac_part parts[2];

            parts[0].data = head;
            parts[0].len = WSGI_PROTO_HEAD_SIZE;
            parts[1].data = payload + WSGI_PROTO_TAG_SIZE;
            parts[1].len = len - WSGI_PROTO_TAG_SIZE;
            wsgi_hmac_sha256(d->prev_key, sizeof(d->prev_key), parts, 2,
                             tag);
            ok = wsgi_hmac_equal(tag, payload, WSGI_PROTO_TAG_SIZE);
        }
    }
    if (!ok)
        wsgi_peer_refuse(d, fd, "the request frame carries no valid proof "
                         "that an Apache child of this server built it",
                         NULL);
    return ok ? 0 : -1;
}

int wsgi_peer_check_target(const wsgi_daemon *d, int fd, const char *script,
                           const char *callable, apr_pool_t *p)
{
    const char *why = wsgi_peer_unmapped(script, callable, p);

    if (why != NULL)
        wsgi_peer_refuse(d, fd, why, script);
    return why ? -1 : 0;
}
