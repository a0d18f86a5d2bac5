/*
 * wsgi_health.c: "SetHandler wsgi-health", the URL a load balancer or a
 * readiness probe asks whether this Apache can serve (docs/scale-out.md):
 *
 *     <Location /healthz>
 *         SetHandler wsgi-health
 *         # optional: only these groups count (default: every group
 *         # this virtual host can send requests to)
 *         SetEnv WSGI_HEALTH_GROUPS "site api"
 *     </Location>
 *
 * 200 only when Apache is not stopping and every group checked has at
 * least one process that told its supervisor it is ready (Python
 * started, WSGIImportScript run, workers accepting) and is still alive;
 * 503 otherwise. The body is a small JSON object saying the same per
 * group.
 *
 * It never talks to a daemon process. A connect() probe would prove
 * nothing: the Apache parent keeps each group's socket listening, so a
 * connection is queued whether or not a process is there to accept it.
 * And a connection a daemon does accept is activity to it (it resets
 * inactivity-timeout's clock) and, closed without a request, an error
 * line (WSGI0721). Instead each slot's supervisor, which forks the
 * slot's process and reads its "ready" byte, writes what it knows into
 * memory that the Apache parent maps before forking the generation's
 * supervisors and children (wsgi_health_note); this handler reads it.
 */

#include "wsgi_common.h"

#include <fcntl.h>
#include <sys/mman.h>

#define WSGI_HEALTH_HANDLER "wsgi-health"
#define WSGI_HEALTH_ENV "WSGI_HEALTH_GROUPS"

/* One word per slot, so that a reader never sees the pid of one process
 * with the state of another: pid << 8 | state. */
static apr_uint64_t *wsgi_health_words = NULL;
static apr_size_t wsgi_health_count = 0;
/* By group id (1-based, wsgi_options.c): the index of its first slot. */
static int *wsgi_health_first = NULL;
static int wsgi_health_ngroups = 0;

/* This process's last answer (-1: none yet, 0: 503, 1: 200), so that a
 * change is logged once, not every check. */
static int wsgi_health_last = -1;
static int wsgi_health_told_unmapped = 0;
static int wsgi_health_told_unknown = 0;

/* ------------------------------------------------ the shared memory */

static apr_status_t wsgi_health_unmap(void *data)
{
    (void)data;
    if (wsgi_health_words != NULL)
        munmap(wsgi_health_words,
               wsgi_health_count * sizeof(*wsgi_health_words));
    wsgi_health_words = NULL;
    wsgi_health_count = 0;
    return APR_SUCCESS;
}

/*
 * Apache's parent, post_config, before wsgi_post_config forks anything
 * (APR_HOOK_FIRST): a generation's slots. Fresh at each restart, so the
 * old generation's supervisors, still finishing requests, write into the
 * old memory and the old children read it; the new ones never see them.
 * A failed mmap leaves it NULL: the handler then answers 503 and says
 * why (WSGI0804), since it cannot know.
 */
static int wsgi_health_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s)
{
    void *map;
    int i, n = 0;

    (void)plog;
    (void)ptemp;
    (void)s;
    wsgi_health_ngroups = wsgi_daemons ? wsgi_daemons->nelts : 0;
    wsgi_health_first = apr_pcalloc(pconf, (wsgi_health_ngroups + 1) *
                                               sizeof(int));
    for (i = 0; i < wsgi_health_ngroups; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (d->id >= 1 && d->id <= wsgi_health_ngroups)
            wsgi_health_first[d->id] = n;
        n += d->processes;
    }
    if (n > 0) {
        map = mmap(NULL, n * sizeof(*wsgi_health_words),
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (map != MAP_FAILED) {
            wsgi_health_words = map;
            wsgi_health_count = (apr_size_t)n;
            apr_pool_cleanup_register(pconf, NULL, wsgi_health_unmap,
                                      apr_pool_cleanup_null);
        }
    }
    return OK;
}

/* The word of slot k of group d, or NULL. */
static apr_uint64_t *wsgi_health_word(const wsgi_daemon *d, int k)
{
    apr_uint64_t *w = NULL;
    apr_size_t at;

    if (wsgi_health_words != NULL && d->id >= 1 &&
        d->id <= wsgi_health_ngroups && k >= 0 && k < d->processes) {
        at = (apr_size_t)wsgi_health_first[d->id] + (apr_size_t)k;
        if (at < wsgi_health_count)
            w = &wsgi_health_words[at];
    }
    return w;
}

/* A slot's supervisor: what its process does now (WSGI_HEALTH_*). */
void wsgi_health_note(const wsgi_daemon *d, int slot, pid_t pid, int state)
{
    apr_uint64_t *w = wsgi_health_word(d, slot);

    if (w != NULL)
        __atomic_store_n(w, ((apr_uint64_t)(pid > 0 ? pid : 0) << 8) |
                                (apr_uint64_t)(state & 0xff),
                         __ATOMIC_RELEASE);
}

/* A process that is gone, or dead and not yet reaped (a zombie: kill(2)
 * still finds it). EPERM: it runs as another user, and exists. */
static int wsgi_health_gone(pid_t pid)
{
    char path[64], buf[256];
    const char *end;
    ssize_t n = -1;
    int fd, gone = pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM);

    if (!gone) {
        apr_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY);
        if (fd >= 0) {
            n = read(fd, buf, sizeof(buf) - 1);
            close(fd);
        }
        buf[n > 0 ? n : 0] = '\0';
        /* "pid (comm) S ...": the state follows the last ')'. */
        end = strrchr(buf, ')');
        gone = end != NULL && end[1] == ' ' &&
               (end[2] == 'Z' || end[2] == 'X');
    }
    return gone;
}

/* The pid of slot k's process if it said it is ready and still lives (a
 * process killed since is seen at once, before its supervisor reaps it),
 * else 0. */
static pid_t wsgi_health_ready_pid(const wsgi_daemon *d, int k)
{
    apr_uint64_t *w = wsgi_health_word(d, k), word = 0;
    pid_t pid = 0;

    if (w != NULL)
        word = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if ((word & 0xff) == WSGI_HEALTH_READY) {
        pid = (pid_t)(word >> 8);
        if (wsgi_health_gone(pid))
            pid = 0;
    }
    return pid;
}

/* ------------------------------------------------------- the answer */

/* This child's Apache parent, as when the child started. */
static pid_t wsgi_health_parent = 0;

static void wsgi_health_child_init(apr_pool_t *p, server_rec *s)
{
    (void)p;
    (void)s;
    wsgi_health_parent = getppid();
}

/*
 * What Apache itself is doing, as this child sees it; only "running"
 * passes.
 *
 * "stopping": graceful-stop, a graceful restart, MaxConnectionsPerChild.
 * The rule is that a host that drains answers 503: a balancer that still
 * reaches this child, through a connection it kept, takes the host out
 * (new connections are refused by then, the listeners being closed).
 *
 * "orphaned": the parent was killed (SIGKILL, the OOM killer). Its
 * children go on serving on the listeners they inherited, but nothing
 * will replace them or the daemon groups (whose supervisors die with the
 * parent), and no stop or restart reaches them: the host is lost.
 */
int wsgi_health_orphaned(void)
{
    return wsgi_health_parent > 0 && getppid() != wsgi_health_parent;
}

static const char *wsgi_health_apache(void)
{
    const char *state = "running";
    int mpm = AP_MPMQ_RUNNING;

    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm) != APR_SUCCESS)
        mpm = AP_MPMQ_RUNNING;
    if (mpm == AP_MPMQ_STOPPING ||
        ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING)
        state = "stopping";
    else if (wsgi_health_orphaned())
        state = "orphaned";
    return state;
}

/* A JSON string's contents: the group names are the admin's words. */
static const char *wsgi_health_json(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 6 * strlen(s) + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            *o++ = '\\';
        if (c < 0x20) {
            apr_snprintf(o, 7, "\\u%04x", c);
            o += 6;
            continue;
        }
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

/* One group's entry; returns 1 when it has a ready process. */
static int wsgi_health_group(request_rec *r, const wsgi_daemon *d,
                             apr_array_header_t *out)
{
    const char *pids = "";
    int k, ready = 0;

    for (k = 0; k < d->processes; k++) {
        pid_t pid = wsgi_health_ready_pid(d, k);

        if (pid > 0)
            pids = apr_psprintf(r->pool, "%s%s%d", pids, ready++ ? ", " : "",
                                (int)pid);
    }
    APR_ARRAY_PUSH(out, const char *) = apr_psprintf(
        r->pool, "\"%s\": {\"status\": \"%s\", \"ready\": %d, "
        "\"processes\": %d, \"pids\": [%s]}",
        wsgi_health_json(r->pool, d->name), ready ? "ok" : "down", ready,
        d->processes, pids);
    return ready > 0;
}

/* A name of WSGI_HEALTH_GROUPS that names no group this host reaches:
 * the configuration is wrong, and the check fails until it is fixed. */
static void wsgi_health_unknown(request_rec *r, const char *name,
                                apr_array_header_t *out)
{
    APR_ARRAY_PUSH(out, const char *) = apr_psprintf(
        r->pool, "\"%s\": {\"status\": \"unknown\"}",
        wsgi_health_json(r->pool, name));
    if (!__atomic_exchange_n(&wsgi_health_told_unknown, 1, __ATOMIC_RELAXED))
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0803)
                      "wsgi-health: %s names '%s', which is no "
                      "WSGIDaemonProcess group this virtual host can use; "
                      "the check answers 503 until the name is fixed",
                      WSGI_HEALTH_ENV, name);
}

/* The groups WSGI_HEALTH_GROUPS names (spaces or commas between). */
static int wsgi_health_named(request_rec *r, const char *names,
                             apr_array_header_t *out)
{
    char *list = apr_pstrdup(r->pool, names), *last = NULL, *name;
    int ok = 1;

    for (name = apr_strtok(list, " ,\t", &last); name != NULL;
         name = apr_strtok(NULL, " ,\t", &last)) {
        wsgi_daemon *d = wsgi_find_daemon(r, name);

        if (d == NULL) {
            wsgi_health_unknown(r, name, out);
            ok = 0;
        }
        else if (!wsgi_health_group(r, d, out))
            ok = 0;
    }
    return ok;
}

/* Every group a request of this virtual host could be sent to (the rule
 * of wsgi_find_daemon: the main server's, and the host's own). */
static int wsgi_health_all(request_rec *r, apr_array_header_t *out)
{
    int i, ok = 1;

    for (i = 0; wsgi_daemons != NULL && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (wsgi_find_daemon(r, d->name) == d &&
            !wsgi_health_group(r, d, out))
            ok = 0;
    }
    return ok;
}

/* A change of this process's answer, once (NOTICE: a host leaving or
 * joining its balancer's pool is worth a line at the default LogLevel).
 * apache: NULL when it is running. */
static void wsgi_health_log_change(request_rec *r, int ok, const char *apache)
{
    int before = __atomic_exchange_n(&wsgi_health_last, ok,
                                     __ATOMIC_RELAXED);

    /* The first 200 of a process is no news. */
    if (before == ok || (before < 0 && ok))
        ;
    else if (ok)
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, WSGI_LOGNO(0802)
                      "wsgi-health: answering 200 again: every daemon "
                      "group checked has a ready process");
    else if (apache != NULL && !strcmp(apache, "orphaned"))
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, WSGI_LOGNO(0801)
                      "wsgi-health: answering 503: the Apache parent of "
                      "this process is gone (killed?); nothing will "
                      "replace this process or the daemon groups");
    else if (apache != NULL)
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, WSGI_LOGNO(0801)
                      "wsgi-health: answering 503: Apache is stopping "
                      "this process");
    else
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, WSGI_LOGNO(0801)
                      "wsgi-health: answering 503: a daemon group checked "
                      "has no ready process (the body of the answer says "
                      "which)");
}

static void wsgi_health_answer(request_rec *r)
{
    apr_array_header_t *groups = apr_array_make(r->pool, 4,
                                                sizeof(const char *));
    const char *names = apr_table_get(r->subprocess_env, WSGI_HEALTH_ENV);
    const char *apache = wsgi_health_apache();
    int running = !strcmp(apache, "running"), ok;

    ok = names != NULL ? wsgi_health_named(r, names, groups)
                       : wsgi_health_all(r, groups);
    if (groups->nelts > 0 && wsgi_health_words == NULL) {
        if (!__atomic_exchange_n(&wsgi_health_told_unmapped, 1,
                                 __ATOMIC_RELAXED))
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0804)
                          "wsgi-health: the memory in which daemon "
                          "supervisors say what their processes do could "
                          "not be mapped at start-up; answering 503, "
                          "since nothing can be known (restart Apache)");
        ok = 0;
    }
    ok = ok && running;
    wsgi_health_log_change(r, ok, running ? NULL : apache);
    r->status = ok ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!running)
        r->connection->keepalive = AP_CONN_CLOSE;
    if (!r->header_only)
        ap_rprintf(r, "{\"status\": \"%s\", \"apache\": \"%s\", "
                   "\"groups\": {%s}}\n", ok ? "ok" : "unavailable", apache,
                   apr_array_pstrcat(r->pool, groups, ','));
}

/*
 * GET and HEAD, and OPTIONS: HAProxy's "option httpchk" sends OPTIONS
 * when no method is given. Anything else is 405, as for a static file.
 * The status is set on r and OK returned: an error status returned
 * from a handler would get Apache's error page, not the JSON.
 */
static int wsgi_health_handler(request_rec *r)
{
    int status = DECLINED;

    if (r->handler != NULL && !strcmp(r->handler, WSGI_HEALTH_HANDLER)) {
        status = ap_discard_request_body(r);
        if (status == OK && r->method_number != M_GET &&
            r->method_number != M_OPTIONS) {
            r->allowed = (AP_METHOD_BIT << M_GET) |
                         (AP_METHOD_BIT << M_OPTIONS);
            status = HTTP_METHOD_NOT_ALLOWED;
        }
        if (status == OK)
            wsgi_health_answer(r);
    }
    return status;
}

void wsgi_register_health_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(wsgi_health_post_config, NULL, NULL,
                        APR_HOOK_FIRST);
    ap_hook_child_init(wsgi_health_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(wsgi_health_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
