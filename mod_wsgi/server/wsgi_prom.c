/*
 * wsgi_prom.c: the whole server's figures in the Prometheus text format
 * (version 0.0.4, which OpenMetrics parsers read too), for a URL the admin
 * maps and protects:
 *
 *     <Location "/wsgi-metrics">
 *         SetHandler wsgi-metrics
 *         Require ip 10.0.0.0/8
 *     </Location>
 *
 * Every process adds its requests to one page of shared memory that the
 * Apache parent maps before it forks anything (and keeps across graceful
 * restarts, in its process pool): one row per daemon group, and one for
 * embedded mode. Rows are keyed by the group's name, so a group's counters
 * go on across restarts of its processes, as Prometheus counters should;
 * writers use atomic additions, readers take what they see.
 */

#include "wsgi_common.h"

#include "scoreboard.h"

#include <sys/mman.h>

#define WSGI_PROM_ROWS 64
#define WSGI_PROM_PIDS 64
#define WSGI_PROM_LE 12
#define WSGI_PROM_CRASHED WSGI_STOP_REASONS     /* died on its own */
#define WSGI_PROM_EMBEDDED "(embedded)"

enum { WSGI_PROM_QUEUE, WSGI_PROM_APPLICATION, WSGI_PROM_TOTAL,
       WSGI_PROM_PHASES };

/* Upper bounds of the histogram's buckets, in seconds (+Inf is the
 * count): Prometheus's usual ones, and 30 s for slow applications. */
static const double wsgi_prom_le[WSGI_PROM_LE] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
/* The same as labels (apr's %g drops the leading zero of 0.5). */
static const char *const wsgi_prom_le_text[WSGI_PROM_LE] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "30"
};

static const char *const wsgi_prom_phases[WSGI_PROM_PHASES] = {
    "queue", "application", "total"
};

/* Indexed by wsgi_stop_reason, then "crashed". */
static const char *const wsgi_prom_reasons[WSGI_STOP_REASONS + 1] = {
    "none", "stop", "eviction", "maximum_requests", "script_changed",
    "request_timeout", "inactivity_timeout", "deadlock_timeout",
    "startup_timeout", "restart_interval", "crashed"
};

typedef struct {
    apr_uint64_t bucket[WSGI_PROM_LE];
    apr_uint64_t count;
    apr_uint64_t sum_us;
} wsgi_prom_histogram;

typedef struct {
    char name[128];                 /* "" while free */
    int daemon;                     /* 0: the embedded row */
    apr_uint32_t threads;           /* capacity, all processes */
    apr_uint32_t busy;              /* requests running now */
    apr_uint64_t requests[5];       /* by status class */
    wsgi_prom_histogram phase[WSGI_PROM_PHASES];
    apr_uint64_t restarts[WSGI_STOP_REASONS + 1];
    apr_uint64_t slow;              /* past WSGISlowRequests */
    pid_t pids[WSGI_PROM_PIDS];     /* the group's processes (daemon) */
} wsgi_prom_row;

static wsgi_prom_row *wsgi_prom_rows = NULL;
/* This process's row, or -1. */
static int wsgi_prom_mine = -1;

static void wsgi_prom_add(apr_uint64_t *counter, apr_uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* The row named name (made if need be), or -1 when all are taken. Only
 * the parent adds rows, before it forks: no two makers race. */
static int wsgi_prom_row_of(const char *name, int daemon)
{
    int i, found = -1;

    for (i = 0; found < 0 && i < WSGI_PROM_ROWS; i++) {
        wsgi_prom_row *row = &wsgi_prom_rows[i];

        if (row->name[0] == '\0') {
            apr_cpystrn(row->name, name, sizeof(row->name));
            row->daemon = daemon;
            found = i;
        }
        else if (row->daemon == daemon && !strcmp(row->name, name))
            found = i;
    }
    return found;
}

/* In the parent's post_config: the page, once for the life of the
 * parent, and this generation's rows. */
void wsgi_prom_setup(server_rec *s)
{
    apr_pool_t *keep = s->process->pool;
    /* The page outlives the module, which a restart reloads: a newer
     * build with other rows must not read the old one's. */
    const char *key = apr_psprintf(s->process->pconf, "wsgi_prom_rows/%"
                                   APR_SIZE_T_FMT, sizeof(wsgi_prom_row));
    void *page = NULL;
    int i, workers, daemons = 0, threads = 0, row;

    apr_pool_userdata_get(&page, key, keep);
    if (page == NULL) {
        page = mmap(NULL, WSGI_PROM_ROWS * sizeof(wsgi_prom_row),
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                    0);
        if (page == MAP_FAILED)
            return;             /* the handler then says so */
        apr_pool_userdata_set(page, apr_pstrdup(keep, key),
                              apr_pool_cleanup_null, keep);
    }
    wsgi_prom_rows = page;
    /* MaxRequestWorkers: processes times threads (prefork's are 1). */
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    workers = daemons * (threads > 0 ? threads : 1);
    row = wsgi_prom_row_of(WSGI_PROM_EMBEDDED, 0);
    if (row >= 0)
        wsgi_prom_rows[row].threads = (apr_uint32_t)workers;
    for (i = 0; wsgi_daemons != NULL && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        row = wsgi_prom_row_of(d->name, 1);
        if (row >= 0)
            wsgi_prom_rows[row].threads =
                (apr_uint32_t)(d->processes * d->threads);
    }
}

/* In a process about to serve: which row it adds to (a daemon also puts
 * its pid in its row's list, over a slot of a process that is gone). */
void wsgi_prom_join(void)
{
    wsgi_prom_row *row;
    int i, placed = 0;

    if (wsgi_prom_rows == NULL)
        return;
    wsgi_prom_mine = wsgi_daemon_self
                         ? wsgi_prom_row_of(wsgi_daemon_self->name, 1)
                         : wsgi_prom_row_of(WSGI_PROM_EMBEDDED, 0);
    if (wsgi_prom_mine < 0 || wsgi_daemon_self == NULL)
        return;
    row = &wsgi_prom_rows[wsgi_prom_mine];
    for (i = 0; !placed && i < WSGI_PROM_PIDS; i++) {
        pid_t old = row->pids[i];

        if (old == 0 || (kill(old, 0) < 0 && errno == ESRCH))
            placed = __atomic_compare_exchange_n(&row->pids[i], &old,
                                                 getpid(), 0,
                                                 __ATOMIC_SEQ_CST,
                                                 __ATOMIC_SEQ_CST);
    }
}

void wsgi_prom_busy(int delta)
{
    if (wsgi_prom_rows != NULL && wsgi_prom_mine >= 0)
        __atomic_fetch_add(&wsgi_prom_rows[wsgi_prom_mine].busy,
                           (apr_uint32_t)delta, __ATOMIC_RELAXED);
}

static void wsgi_prom_observe(wsgi_prom_histogram *h, apr_int64_t us)
{
    int i;

    if (us < 0)
        us = 0;
    for (i = 0; i < WSGI_PROM_LE; i++) {
        if ((double)us / 1e6 <= wsgi_prom_le[i]) {
            wsgi_prom_add(&h->bucket[i], 1);
            break;
        }
    }
    wsgi_prom_add(&h->count, 1);
    wsgi_prom_add(&h->sum_us, (apr_uint64_t)us);
}

/* A finished request: its status class and its phases (queue: -1 in
 * embedded mode). */
void wsgi_prom_request(int status, apr_int64_t queue_us, apr_int64_t app_us,
                       apr_int64_t total_us)
{
    wsgi_prom_row *row;
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 4;

    if (wsgi_prom_rows == NULL || wsgi_prom_mine < 0)
        return;
    row = &wsgi_prom_rows[wsgi_prom_mine];
    wsgi_prom_add(&row->requests[cls], 1);
    if (queue_us >= 0)
        wsgi_prom_observe(&row->phase[WSGI_PROM_QUEUE], queue_us);
    wsgi_prom_observe(&row->phase[WSGI_PROM_APPLICATION], app_us);
    wsgi_prom_observe(&row->phase[WSGI_PROM_TOTAL], total_us);
}

/* Async-signal-safe: a daemon process stops (why), or its supervisor saw
 * it die (why == -1). */
void wsgi_prom_restart(const char *group, int why)
{
    int i;

    if (wsgi_prom_rows == NULL)
        return;
    if (why < 0 || why > WSGI_STOP_REASONS)
        why = WSGI_PROM_CRASHED;
    for (i = 0; i < WSGI_PROM_ROWS; i++) {
        if (wsgi_prom_rows[i].daemon && !strcmp(wsgi_prom_rows[i].name,
                                                group))
            wsgi_prom_add(&wsgi_prom_rows[i].restarts[why], 1);
    }
}

/* The slow-request watcher logged one of this process's requests. */
void wsgi_prom_slow(void)
{
    if (wsgi_prom_rows != NULL && wsgi_prom_mine >= 0)
        wsgi_prom_add(&wsgi_prom_rows[wsgi_prom_mine].slow, 1);
}

/* ---------------------------------------------------------- the page */

/* A label value as the text format wants it: \, " and newline escaped. */
static const char *wsgi_prom_label(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, 2 * strlen(v) + 1), *o = out;

    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            *o++ = '\\';
        if (*v == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            continue;
        }
        *o++ = *v;
    }
    *o = '\0';
    return out;
}

static const char *wsgi_prom_group(apr_pool_t *p, const wsgi_prom_row *row)
{
    return wsgi_prom_label(p, row->name);
}

/* RSS (bytes) and CPU seconds of pid from /proc, or 0 when gone. */
static int wsgi_prom_proc(apr_pool_t *p, pid_t pid, double *rss,
                          double *cpu)
{
    char *path = apr_psprintf(p, "/proc/%d/stat", (int)pid), buf[1024];
    unsigned long utime = 0, stime = 0;
    long pages = 0, resident = 0;
    const char *after;
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) follow the command in (...), which
     * may hold spaces itself: count from its closing parenthesis. */
    after = strrchr(buf, ')');
    if (after == NULL ||
        sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
               "%lu", &utime, &stime) != 2)
        return 0;
    path = apr_psprintf(p, "/proc/%d/statm", (int)pid);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    *rss = (double)resident * sysconf(_SC_PAGESIZE);
    *cpu = (double)(utime + stime) / sysconf(_SC_CLK_TCK);
    return 1;
}

/* The text format wants each family's samples together, after its HELP
 * and TYPE: one pass over the rows per family. */
static void wsgi_prom_requests(request_rec *r, const wsgi_prom_row *row,
                               const char *g)
{
    static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx",
                                           "5xx"};
    int i;

    for (i = 0; i < 5; i++)
        ap_rprintf(r, "mod_wsgi_requests_total{group=\"%s\",status=\"%s\"} "
                   "%" APR_UINT64_T_FMT "\n", g, classes[i],
                   row->requests[i]);
}

static void wsgi_prom_durations(request_rec *r, const wsgi_prom_row *row,
                                const char *g)
{
    int i, k;

    for (k = 0; k < WSGI_PROM_PHASES; k++) {
        const wsgi_prom_histogram *h = &row->phase[k];
        const char *ph = wsgi_prom_phases[k];
        apr_uint64_t seen = 0;

        if (k == WSGI_PROM_QUEUE && !row->daemon)
            continue;
        for (i = 0; i < WSGI_PROM_LE; i++) {
            seen += h->bucket[i];
            ap_rprintf(r, "mod_wsgi_request_duration_seconds_bucket{group="
                       "\"%s\",phase=\"%s\",le=\"%s\"} %" APR_UINT64_T_FMT
                       "\n", g, ph, wsgi_prom_le_text[i], seen);
        }
        ap_rprintf(r, "mod_wsgi_request_duration_seconds_bucket{group=\"%s\","
                   "phase=\"%s\",le=\"+Inf\"} %" APR_UINT64_T_FMT "\n"
                   "mod_wsgi_request_duration_seconds_sum{group=\"%s\","
                   "phase=\"%s\"} %.6f\n"
                   "mod_wsgi_request_duration_seconds_count{group=\"%s\","
                   "phase=\"%s\"} %" APR_UINT64_T_FMT "\n", g, ph, h->count,
                   g, ph, (double)h->sum_us / 1e6, g, ph, h->count);
    }
}

static void wsgi_prom_threads(request_rec *r, const wsgi_prom_row *row,
                              const char *g)
{
    apr_uint32_t busy = row->busy;

    ap_rprintf(r, "mod_wsgi_threads{group=\"%s\",state=\"busy\"} %u\n"
               "mod_wsgi_threads{group=\"%s\",state=\"idle\"} %u\n", g, busy,
               g, row->threads > busy ? row->threads - busy : 0);
}

static void wsgi_prom_restarts(request_rec *r, const wsgi_prom_row *row,
                               const char *g)
{
    int i;

    for (i = 1; row->daemon && i <= WSGI_STOP_REASONS; i++)
        ap_rprintf(r, "mod_wsgi_process_restarts_total{group=\"%s\","
                   "reason=\"%s\"} %" APR_UINT64_T_FMT "\n", g,
                   wsgi_prom_reasons[i], row->restarts[i]);
}

static void wsgi_prom_slows(request_rec *r, const wsgi_prom_row *row,
                            const char *g)
{
    ap_rprintf(r, "mod_wsgi_slow_requests_total{group=\"%s\"} %"
               APR_UINT64_T_FMT "\n", g, row->slow);
}

/* Memory (what 0) or CPU (what 1) of each live process of the row. */
static void wsgi_prom_processes(request_rec *r, const wsgi_prom_row *row,
                                const char *g, int what)
{
    static const char *const names[2] = {
        "mod_wsgi_process_resident_memory_bytes",
        "mod_wsgi_process_cpu_seconds_total"
    };
    int i, limit = 0;
    pid_t pid;
    double v[2];

    if (!row->daemon)
        ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    for (i = 0; i < (row->daemon ? WSGI_PROM_PIDS : limit); i++) {
        if (row->daemon)
            pid = row->pids[i];
        else {
            process_score *ps = ap_get_scoreboard_process(i);

            pid = ps != NULL && !ps->quiescing ? ps->pid : 0;
        }
        if (pid > 0 && wsgi_prom_proc(r->pool, pid, &v[0], &v[1]))
            ap_rprintf(r, "%s{group=\"%s\",pid=\"%d\"} %.2f\n", names[what],
                       g, (int)pid, v[what]);
    }
}

typedef void wsgi_prom_family_fn(request_rec *r, const wsgi_prom_row *row,
                                 const char *g);

static void wsgi_prom_memory(request_rec *r, const wsgi_prom_row *row,
                             const char *g)
{
    wsgi_prom_processes(r, row, g, 0);
}

static void wsgi_prom_cpu(request_rec *r, const wsgi_prom_row *row,
                          const char *g)
{
    wsgi_prom_processes(r, row, g, 1);
}

static const struct {
    const char *head;           /* HELP and TYPE */
    wsgi_prom_family_fn *rows;
} wsgi_prom_families[] = {
    {"# HELP mod_wsgi_requests_total Requests served, by daemon group "
     "((embedded): Apache's processes) and status class.\n"
     "# TYPE mod_wsgi_requests_total counter\n", wsgi_prom_requests},
    {"# HELP mod_wsgi_request_duration_seconds Time in a phase of a "
     "request: queue (Apache to the daemon), application, total.\n"
     "# TYPE mod_wsgi_request_duration_seconds histogram\n",
     wsgi_prom_durations},
    {"# HELP mod_wsgi_threads Request threads, busy or idle.\n"
     "# TYPE mod_wsgi_threads gauge\n", wsgi_prom_threads},
    {"# HELP mod_wsgi_process_restarts_total Daemon processes that "
     "stopped, by reason (crashed: died on their own).\n"
     "# TYPE mod_wsgi_process_restarts_total counter\n",
     wsgi_prom_restarts},
    {"# HELP mod_wsgi_slow_requests_total Requests that ran longer than "
     "WSGISlowRequests (each logged once as WSGI0306).\n"
     "# TYPE mod_wsgi_slow_requests_total counter\n", wsgi_prom_slows},
    {"# HELP mod_wsgi_process_resident_memory_bytes Resident memory of a "
     "process.\n"
     "# TYPE mod_wsgi_process_resident_memory_bytes gauge\n",
     wsgi_prom_memory},
    {"# HELP mod_wsgi_process_cpu_seconds_total CPU time of a process.\n"
     "# TYPE mod_wsgi_process_cpu_seconds_total counter\n", wsgi_prom_cpu},
};

static void wsgi_prom_page(request_rec *r)
{
    int f, i;

    for (f = 0; f < (int)(sizeof(wsgi_prom_families) /
                          sizeof(wsgi_prom_families[0])); f++) {
        ap_rputs(wsgi_prom_families[f].head, r);
        for (i = 0; i < WSGI_PROM_ROWS; i++) {
            const wsgi_prom_row *row = &wsgi_prom_rows[i];

            if (row->name[0] != '\0')
                wsgi_prom_families[f].rows(r, row,
                                           wsgi_prom_group(r->pool, row));
        }
    }
}

static int wsgi_prom_handler(request_rec *r)
{
    int status = DECLINED;

    if (r->handler == NULL || strcmp(r->handler, "wsgi-metrics"))
        goto done;
    status = OK;
    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        status = HTTP_METHOD_NOT_ALLOWED;
        goto done;
    }
    if (wsgi_prom_rows == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WSGI_LOGNO(0309)
                      "wsgi-metrics: the shared page of the server's figures "
                      "could not be mapped at start-up; restart Apache");
        status = HTTP_SERVICE_UNAVAILABLE;
        goto done;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    if (!r->header_only)
        wsgi_prom_page(r);
done:
    return status;
}

void wsgi_register_prom_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(wsgi_prom_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
