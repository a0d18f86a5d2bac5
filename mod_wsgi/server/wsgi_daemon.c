/*
 * wsgi_daemon.c: WSGIDaemonProcess groups: their options, the processes
 * the Apache parent forks and restarts for them, and a daemon's life.
 *
 * The parent creates each group's listening UNIX socket, owned by
 * Apache's user with mode 0600, so only Apache's children can connect;
 * the daemons inherit it, drop to their own user, start Python (never in
 * the parent) and serve requests on a pool of threads. The parent watches
 * them with APR's other-child API, like mod_cgid watches its daemon, and
 * forks a replacement for any that dies.
 */

#include "wsgi_common.h"

#include "ap_listen.h"
#include "mpm_common.h"
#include "unixd.h"

#include "apr_atomic.h"
#include "apr_signal.h"

#include <limits.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

apr_array_header_t *wsgi_daemons = NULL;
wsgi_daemon *wsgi_daemon_self = NULL;
const char *wsgi_socket_prefix = NULL;
int wsgi_restrict_embedded = 0;
int wsgi_socket_rotation = 0;

static int wsgi_generation = 0;

/* In a daemon process: the pipe on which it tells the parent it is ready
 * (Python up, scripts preloaded, workers started); -1 once told. */
static int wsgi_ready_fd = -1;

void wsgi_daemons_pre_config(apr_pool_t *pconf)
{
    /* Config is read anew on every restart: so is the group list. */
    wsgi_daemons = apr_array_make(pconf, 4, sizeof(wsgi_daemon *));
    wsgi_socket_prefix = NULL;
    wsgi_restrict_embedded = 0;
    wsgi_socket_rotation = 0;
}

/* ------------------------------------------------------------- options */

static const char *wsgi_opt_int(cmd_parms *cmd, const char *key,
                                const char *val, int min, int max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(val, &end, 10);
    if (errno || *end || !*val || v < min || v > max)
        return apr_psprintf(cmd->pool,
                            "WSGIDaemonProcess: %s=%s is not a whole number "
                            "from %d to %d", key, val, min, max);
    *out = (int)v;
    return NULL;
}

static const char *wsgi_opt_user(cmd_parms *cmd, const char *val, uid_t *uid)
{
    struct passwd *pw;

    if (val[0] == '#') {
        char *end;
        long v = strtol(val + 1, &end, 10);

        if (*end || v < 0)
            return apr_psprintf(cmd->pool, "WSGIDaemonProcess: user=%s is "
                                "not a valid #uid", val);
        *uid = (uid_t)v;
    }
    else if ((pw = getpwnam(val)) != NULL)
        *uid = pw->pw_uid;
    else
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: user=%s: no such "
                            "user on this system", val);
    if (*uid == 0)
        return "WSGIDaemonProcess: user= must not be root (uid 0); daemon "
               "processes run application code and must not be privileged";
    return NULL;
}

static const char *wsgi_opt_group(cmd_parms *cmd, const char *key,
                                  const char *val, gid_t *gid)
{
    struct group *gr;

    if (val[0] == '#') {
        char *end;
        long v = strtol(val + 1, &end, 10);

        if (*end || v < 0)
            return apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s=%s is not "
                                "a valid #gid", key, val);
        *gid = (gid_t)v;
    }
    else if ((gr = getgrnam(val)) != NULL)
        *gid = gr->gr_gid;
    else
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s=%s: no such "
                            "group on this system", key, val);
    return NULL;
}

/* A byte count: digits, at least min. */
static const char *wsgi_opt_bytes(cmd_parms *cmd, const char *key,
                                  const char *val, apr_int64_t min,
                                  apr_int64_t *out)
{
    char *end;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(val, &end, 10);
    if (errno || *end || !*val || v < min)
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s=%s is not a "
                            "byte count of at least %" APR_INT64_T_FMT,
                            key, val, min);
    *out = v;
    return NULL;
}

/*
 * The options that are just a value stored in a field: name, kind,
 * bounds. Each is checked the same way, with the same messages.
 */
typedef enum { WSGI_OPT_STR, WSGI_OPT_INT, WSGI_OPT_BYTES } wsgi_opt_kind;

typedef struct {
    const char *name;
    wsgi_opt_kind kind;
    int min, max;               /* WSGI_OPT_INT: bounds; BYTES: min only */
    size_t field;               /* offsetof(wsgi_daemon, ...) */
} wsgi_simple_option;

#define WSGI_SIMPLE(name, kind, min, max, field)                         \
    {name, kind, min, max, offsetof(wsgi_daemon, field)}

static const wsgi_simple_option wsgi_simple_options[] = {
    /* threads=0: a service group, running only its WSGIImportScript. */
    WSGI_SIMPLE("threads", WSGI_OPT_INT, 0, 10000, threads),
    WSGI_SIMPLE("python-path", WSGI_OPT_STR, 0, 0, python_path),
    WSGI_SIMPLE("display-name", WSGI_OPT_STR, 0, 0, display_name),
    WSGI_SIMPLE("lang", WSGI_OPT_STR, 0, 0, lang),
    WSGI_SIMPLE("python-eggs", WSGI_OPT_STR, 0, 0, python_eggs),
    WSGI_SIMPLE("cpu-priority", WSGI_OPT_INT, -20, 20, cpu_priority),
    WSGI_SIMPLE("response-flush-delay", WSGI_OPT_INT, 0, 60000,
                response_flush_delay),
    WSGI_SIMPLE("request-buffer-size", WSGI_OPT_INT, 0, 16777216,
                request_buffer_size),
    WSGI_SIMPLE("locale", WSGI_OPT_STR, 0, 0, locale),
    WSGI_SIMPLE("maximum-requests", WSGI_OPT_INT, 0, INT_MAX,
                maximum_requests),
    WSGI_SIMPLE("socket-timeout", WSGI_OPT_INT, 0, 86400, socket_timeout),
    WSGI_SIMPLE("connect-timeout", WSGI_OPT_INT, 0, 86400, connect_timeout),
    WSGI_SIMPLE("shutdown-timeout", WSGI_OPT_INT, 0, 86400,
                shutdown_timeout),
    WSGI_SIMPLE("graceful-timeout", WSGI_OPT_INT, 0, 86400,
                graceful_timeout),
    WSGI_SIMPLE("request-timeout", WSGI_OPT_INT, 0, INT_MAX,
                request_timeout),
    WSGI_SIMPLE("interrupt-timeout", WSGI_OPT_INT, 0, INT_MAX,
                interrupt_timeout),
    WSGI_SIMPLE("response-socket-timeout", WSGI_OPT_INT, 0, 86400,
                response_socket_timeout),
    WSGI_SIMPLE("inactivity-timeout", WSGI_OPT_INT, 0, INT_MAX,
                inactivity_timeout),
    WSGI_SIMPLE("restart-interval", WSGI_OPT_INT, 0, INT_MAX,
                restart_interval),
    WSGI_SIMPLE("eviction-timeout", WSGI_OPT_INT, 0, INT_MAX,
                eviction_timeout),
    WSGI_SIMPLE("startup-timeout", WSGI_OPT_INT, 0, INT_MAX,
                startup_timeout),
    WSGI_SIMPLE("deadlock-timeout", WSGI_OPT_INT, 0, INT_MAX,
                deadlock_timeout),
    WSGI_SIMPLE("queue-timeout", WSGI_OPT_INT, 0, INT_MAX, queue_timeout),
    WSGI_SIMPLE("cpu-time-limit", WSGI_OPT_INT, 0, INT_MAX, cpu_time_limit),
    WSGI_SIMPLE("memory-limit", WSGI_OPT_BYTES, 0, 0, memory_limit),
    WSGI_SIMPLE("virtual-memory-limit", WSGI_OPT_BYTES, 0, 0,
                virtual_memory_limit),
    WSGI_SIMPLE("stack-size", WSGI_OPT_BYTES, 0, 0, stack_size),
    WSGI_SIMPLE("listen-backlog", WSGI_OPT_INT, 1, 65535, listen_backlog),
    WSGI_SIMPLE("header-buffer-size", WSGI_OPT_INT, 8192, 16777216,
                header_buffer_size),
    WSGI_SIMPLE("response-buffer-size", WSGI_OPT_INT, 65536, INT_MAX,
                response_buffer_size),
    WSGI_SIMPLE("receive-buffer-size", WSGI_OPT_INT, 512, INT_MAX,
                receive_buffer_size),
    WSGI_SIMPLE("send-buffer-size", WSGI_OPT_INT, 512, INT_MAX,
                send_buffer_size),
};

static const wsgi_simple_option *wsgi_daemon_simple_option(const char *key)
{
    size_t i;

    for (i = 0; i < sizeof(wsgi_simple_options) / sizeof(*wsgi_simple_options);
         i++) {
        if (!strcmp(key, wsgi_simple_options[i].name))
            return &wsgi_simple_options[i];
    }
    return NULL;
}

static const char *wsgi_daemon_set_simple(cmd_parms *cmd, wsgi_daemon *d,
                                          const wsgi_simple_option *opt,
                                          const char *val)
{
    char *field = (char *)d + opt->field;
    const char *err = NULL;

    switch (opt->kind) {
    case WSGI_OPT_STR:
        *(const char **)field = val;
        break;
    case WSGI_OPT_INT:
        err = wsgi_opt_int(cmd, opt->name, val, opt->min, opt->max,
                           (int *)field);
        break;
    case WSGI_OPT_BYTES:
        err = wsgi_opt_bytes(cmd, opt->name, val, opt->min,
                             (apr_int64_t *)field);
        break;
    }
    return err;
}

static const char *wsgi_daemon_option(cmd_parms *cmd, wsgi_daemon *d,
                                      const char *key, const char *val)
{
    const wsgi_simple_option *opt;
    const char *err = NULL;

    if (!strcmp(key, "processes")) {
        err = wsgi_opt_int(cmd, key, val, 1, 10000, &d->processes);
        d->processes_given = 1;
    }
    else if (!strcmp(key, "user")) {
        d->user = val;
        err = wsgi_opt_user(cmd, val, &d->uid);
    }
    else if (!strcmp(key, "group")) {
        d->group = val;
        err = wsgi_opt_group(cmd, key, val, &d->gid);
    }
    else if (!strcmp(key, "supplementary-groups")) {
        char *copy = apr_pstrdup(cmd->temp_pool, val), *tok, *state;
        gid_t gids[64];

        d->ngroups = 0;
        for (tok = apr_strtok(copy, ",", &state); tok && !err;
             tok = apr_strtok(NULL, ",", &state)) {
            if (d->ngroups == 64)
                err = "WSGIDaemonProcess: supplementary-groups= takes at "
                      "most 64 groups";
            else
                err = wsgi_opt_group(cmd, key, tok, &gids[d->ngroups++]);
        }
        d->groups = apr_pmemdup(cmd->pool, gids, d->ngroups * sizeof(gid_t));
    }
    else if (!strcmp(key, "umask")) {
        char *end;
        long v = strtol(val, &end, 8);

        if (*end || !*val || v < 0 || v > 0777)
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: umask=%s is "
                               "not an octal mode like 0007", val);
        d->umask = (int)v;
    }
    else if (!strcmp(key, "home") || !strcmp(key, "python-home")) {
        if (!ap_is_directory(cmd->temp_pool, val))
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s=%s is not "
                               "a directory", key, val);
        if (!strcmp(key, "home"))
            d->home = val;
        else {
            d->python_home = val;
            if (!err)
                err = wsgi_python_home_check(cmd->pool, val);
        }
    }
    else if ((opt = wsgi_daemon_simple_option(key)) != NULL)
        err = wsgi_daemon_set_simple(cmd, d, opt, val);
    else if (!strcmp(key, "socket-user")) {
        d->socket_user = val;
        err = wsgi_opt_user(cmd, val, &d->socket_uid);
    }
    else if (!strcmp(key, "script-user")) {
        d->script_user = val;
        if (!strcmp(val, "root") || !strcmp(val, "#0"))
            d->script_uid = 0;      /* root-owned scripts: a sound rule */
        else
            err = wsgi_opt_user(cmd, val, &d->script_uid);
    }
    else if (!strcmp(key, "script-group")) {
        d->script_group = val;
        err = wsgi_opt_group(cmd, key, val, &d->script_gid);
    }
    else if (!strcmp(key, "switch-interval")) {
        char *end;

        d->switch_interval = strtod(val, &end);
        if (*end || !*val || !(d->switch_interval > 0))
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: "
                               "switch-interval=%s is not a number of "
                               "seconds above 0, e.g. 0.005", val);
    }
    else if (!strcmp(key, "chroot")) {
        d->chroot = val;
        if (!ap_is_directory(cmd->temp_pool, val))
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: chroot=%s is "
                               "not a directory", val);
    }
    else if (!strcmp(key, "server-metrics")) {
        if (strcasecmp(val, "on") && strcasecmp(val, "off"))
            err = "WSGIDaemonProcess: server-metrics= must be On or Off";
        /* mod_wsgi.server_metrics() is not built yet: WSGI0720 says so
         * at start-up, so nobody believes it is. */
        d->not_enforced = "server-metrics";
    }
    else
        err = apr_psprintf(cmd->pool,
                           "WSGIDaemonProcess: unknown option '%s'; see the "
                           "WSGIDaemonProcess options in the documentation "
                           "(processes=, threads=, user=, group=, home=, "
                           "python-home=, python-path=, maximum-requests=, "
                           "...)", key);
    return err;
}

const char *wsgi_add_daemon(cmd_parms *cmd, void *dummy, const char *args)
{
    const char *name, *key, *val, *err = NULL;
    wsgi_daemon *d;
    int i, got;

    (void)dummy;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT)) != NULL)
        return err;
    name = ap_getword_conf(cmd->pool, &args);
    if (!*name || strchr(name, '=') || !strncmp(name, "%{", 2))
        return "WSGIDaemonProcess needs a group name first, e.g. "
               "WSGIDaemonProcess myapp processes=2 threads=15";
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *other = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (!strcmp(other->name, name))
            return apr_psprintf(cmd->pool,
                                "WSGIDaemonProcess: the name '%s' is already "
                                "used at %s:%d; group names must be unique "
                                "across the server", name, other->file,
                                other->line);
    }
    d = apr_pcalloc(cmd->pool, sizeof(*d));
    d->name = name;
    d->server = cmd->server;
    d->file = cmd->directive ? cmd->directive->filename : "?";
    d->line = cmd->directive ? cmd->directive->line_num : 0;
    d->id = wsgi_daemons->nelts + 1;
    d->processes = 1;
    d->threads = 15;
    d->umask = WSGI_UNSET;
    d->listen_backlog = 100;
    d->header_buffer_size = 32768;
    d->shutdown_timeout = 5;
    d->graceful_timeout = 15;
    d->deadlock_timeout = 300;
    d->connect_timeout = 15;
    d->listen_fd = -1;
    d->switch_interval = -1.0;
    d->response_flush_delay = 5;
    d->request_buffer_size = 65536;
    while (err == NULL &&
           (got = wsgi_next_option(cmd->pool, &args, &key, &val)) != 0) {
        if (got < 0)
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: option '%s' is "
                               "not of the form name=value", key);
        else
            err = wsgi_daemon_option(cmd, d, key, val);
    }
    if (err == NULL && d->script_user && d->script_group)
        err = "WSGIDaemonProcess: script-user= and script-group= exclude "
              "each other (as upstream); give one";
    if (err == NULL)
        APR_ARRAY_PUSH(wsgi_daemons, wsgi_daemon *) = d;
    return err;
}

wsgi_daemon *wsgi_find_daemon(request_rec *r, const char *name)
{
    int i;

    for (i = 0; wsgi_daemons && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (strcmp(d->name, name))
            continue;
        /* A group defined in a virtual host serves that host only (by
         * ServerName), so one site cannot run its code in another's. */
        if (d->server->is_virtual && d->server != r->server &&
            (d->server->server_hostname == NULL ||
             r->server->server_hostname == NULL ||
             strcmp(d->server->server_hostname, r->server->server_hostname)))
            return NULL;
        return d;
    }
    return NULL;
}

/* ------------------------------------------------------ the daemon side */

static volatile sig_atomic_t wsgi_daemon_stopping = 0;
static int wsgi_wake_pipe[2] = {-1, -1};
static apr_uint32_t wsgi_daemon_requests = 0;
int wsgi_daemon_recycling = 0;
volatile sig_atomic_t wsgi_daemon_evicted = 0;

/* SIGUSR1 to one daemon process (kill -USR1 PID) evicts it: a recycle,
 * given eviction-timeout (else graceful-timeout) to finish its requests,
 * its queue left to the replacement. Other signals stop it. */
static void wsgi_daemon_signal(int sig)
{
    static volatile sig_atomic_t told = 0;
    int saved = errno;

    if (sig == SIGUSR1) {
        wsgi_daemon_evicted = 1;
        wsgi_daemon_recycling = 1;
    }
    /* A recycle: the supervisor starts the next process now, while this
     * one finishes what it has (write() is async-signal-safe). */
    if (wsgi_daemon_recycling && !told && wsgi_ready_fd >= 0) {
        told = 1;
        if (write(wsgi_ready_fd, "G", 1) < 0) {
            /* the supervisor then starts it when this one exits */
        }
    }
    wsgi_daemon_stopping = 1;
    if (wsgi_wake_pipe[1] >= 0 && write(wsgi_wake_pipe[1], "x", 1) < 0) {
        /* nothing to do: the flag is set */
    }
    errno = saved;
}

/* send-buffer-size= and receive-buffer-size=: the kernel's buffers of
 * the socket between an Apache child and the daemon, both ends. */
void wsgi_socket_buffers(int fd, wsgi_daemon *d)
{
    if (d->send_buffer_size > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &d->send_buffer_size,
                   sizeof(d->send_buffer_size));
    if (d->receive_buffer_size > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &d->receive_buffer_size,
                   sizeof(d->receive_buffer_size));
}

/* This process stops taking requests and exits once those in flight are
 * done (graceful-timeout); the parent starts its replacement. */
void wsgi_daemon_restart_self(const char *why)
{
    if (!wsgi_daemon_recycling && wsgi_daemon_self != NULL)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, wsgi_daemon_self->server,
                     WSGI_LOGNO(0731) "daemon group '%s' (pid %d): %s; "
                     "restarting this process", wsgi_daemon_self->name,
                     (int)getpid(), why);
    wsgi_daemon_recycling = 1;
    wsgi_daemon_signal(0);
}

/*
 * The listening socket is shared by every process of the group (and the
 * parent keeps it open): nothing here may shut it down. Workers wait on
 * it and on the wake pipe together; the socket is non-blocking, so the
 * loser of a race for a connection just waits again.
 */
static int wsgi_daemon_accept_locked(wsgi_daemon *d)
{
    struct pollfd pfd[2];
    int fd, rc;

    for (;;) {
        if (wsgi_daemon_stopping) {
            /* A recycle leaves the queue to the process that replaces
             * this one: the parent keeps the socket. Apache stopping or
             * restarting: take what is already queued, nothing more (the
             * parent unlinked the socket path first, so the queue only
             * shrinks), or those connections would be lost. */
            if (wsgi_daemon_recycling)
                return -1;
            fd = accept(d->listen_fd, NULL, NULL);
            return fd >= 0 ? fd : -1;
        }
        pfd[0].fd = d->listen_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = wsgi_wake_pipe[0];
        pfd[1].events = POLLIN;
        rc = poll(pfd, 2, -1);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0 || !(pfd[0].revents & POLLIN))
            continue;
        /* A recycle may have begun while this thread waited: the queue is
         * the next process's now (it is already starting). */
        if (wsgi_daemon_stopping && wsgi_daemon_recycling)
            return -1;
        fd = accept(d->listen_fd, NULL, NULL);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->server,
                         WSGI_LOGNO(0711) "daemon group '%s' (pid %d): "
                         "accept() failed", d->name, (int)getpid());
            apr_sleep(apr_time_from_msec(100));
        }
    }
}

/* One idle worker at a time waits on the socket, the others on this
 * mutex: each connection then wakes one thread, not every idle one (the
 * benchmark saw 16 context switches per request without it). */
static apr_thread_mutex_t *wsgi_accept_lock = NULL;

static int wsgi_daemon_accept(wsgi_daemon *d)
{
    int fd;

    apr_thread_mutex_lock(wsgi_accept_lock);
    fd = wsgi_daemon_accept_locked(d);
    apr_thread_mutex_unlock(wsgi_accept_lock);
    return fd;
}

/* APR pools are not thread-safe: each worker gets its own pool, made by
 * the main thread before any worker runs. */
typedef struct {
    wsgi_daemon *d;
    apr_pool_t *pool;
    int slot;               /* its slot in wsgi_monitor.c */
} wsgi_worker;

static void *APR_THREAD_FUNC wsgi_daemon_worker(apr_thread_t *thread,
                                                void *data)
{
    wsgi_worker *w = data;
    wsgi_daemon *d = w->d;
    apr_pool_t *p = w->pool;
    int fd, flags;

    wsgi_monitor_slot = w->slot;
    while ((fd = wsgi_daemon_accept(d)) >= 0) {
        /* The accepted socket inherits O_NONBLOCK; the wire code polls
         * before every read and write, so that is what it wants. */
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
            fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        wsgi_socket_buffers(fd, d);
        wsgi_monitor_begin(fd);
        wsgi_daemon_serve(d, fd, p);
        wsgi_monitor_end();
        close(fd);
        apr_pool_clear(p);
        if (d->maximum_requests > 0 &&
            apr_atomic_inc32(&wsgi_daemon_requests) + 1 ==
                (apr_uint32_t)d->maximum_requests) {
            /* Recycle: stop taking requests; the parent starts a fresh
             * process when this one exits, and the connections queued on
             * the group's socket meanwhile wait for it (or go to the
             * group's other processes). */
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, d->server,
                         WSGI_LOGNO(0733) "daemon group '%s' (pid %d): "
                         "maximum-requests=%d reached; restarting this "
                         "process", d->name, (int)getpid(),
                         d->maximum_requests);
            wsgi_daemon_recycling = 1;
            wsgi_daemon_signal(0);
        }
    }
    /* A plain return, not apr_thread_exit(): pthread_exit() unwinds by
     * force, which leaves the stack poisoned under AddressSanitizer (a
     * false stack-buffer-underflow when the thread ends). Nothing joins
     * for the exit value. */
    (void)thread;
    return NULL;
}

/* chroot= and cpu-priority=, while still root: a negative nice value
 * and chroot() need it. A jail that cannot be entered is fatal for the
 * process (running outside it would defeat its purpose). */
static void wsgi_daemon_jail_and_nice(wsgi_daemon *d)
{
    if (d->chroot != NULL && geteuid() == 0 &&
        (chroot(d->chroot) < 0 || chdir("/") < 0)) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, d->server,
                     WSGI_LOGNO(0744) "daemon group '%s' (pid %d): cannot "
                     "enter chroot=%s; this process exits and never serves "
                     "requests", d->name, (int)getpid(), d->chroot);
        sleep(2);
        _exit(APEXIT_CHILDSICK);
    }
    if (d->cpu_priority != 0 &&
        setpriority(PRIO_PROCESS, 0, d->cpu_priority) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, d->server,
                     WSGI_LOGNO(0745) "daemon group '%s': cannot set "
                     "cpu-priority=%d", d->name, d->cpu_priority);
}

static void wsgi_daemon_drop_privileges(wsgi_daemon *d)
{
    struct passwd *pw;
    int rc;

    if (geteuid() != 0)
        return;
    pw = getpwuid(d->uid);
    rc = setgid(d->gid);
    if (rc == 0 && d->ngroups > 0)
        rc = setgroups(d->ngroups, d->groups);
    else if (rc == 0)
        rc = pw ? initgroups(pw->pw_name, d->gid) : setgroups(1, &d->gid);
    if (rc < 0 || setuid(d->uid) < 0 || getuid() == 0 || geteuid() == 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, d->server,
                     WSGI_LOGNO(0712) "daemon group '%s' (pid %d): could "
                     "not switch to uid %d gid %d; this process exits and "
                     "never serves requests", d->name, (int)getpid(),
                     (int)d->uid, (int)d->gid);
        /* Slow the parent's restarts of a process that cannot work. */
        sleep(2);
        _exit(APEXIT_CHILDSICK);
    }
}

/* cpu-time-limit, memory-limit, virtual-memory-limit: the kernel
 * enforces them; a process over its CPU time gets SIGXCPU (and the
 * parent starts a new one), one over a memory limit gets MemoryError from
 * Python's allocator. Only the soft CPU limit is set, so that SIGXCPU
 * comes (the hard one would be SIGKILL). */
static void wsgi_daemon_rlimit(wsgi_daemon *d, int resource, const char *opt,
                               apr_int64_t value, int soft_only)
{
    struct rlimit rl;

    if (value <= 0)
        return;
    rl.rlim_cur = (rlim_t)value;
    rl.rlim_max = soft_only ? RLIM_INFINITY : (rlim_t)value;
    if (setrlimit(resource, &rl) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, d->server,
                     WSGI_LOGNO(0734) "daemon group '%s': cannot set "
                     "%s=%" APR_INT64_T_FMT, d->name, opt, value);
}

static void wsgi_daemon_limits(wsgi_daemon *d)
{
    wsgi_daemon_rlimit(d, RLIMIT_CPU, "cpu-time-limit", d->cpu_time_limit, 1);
    wsgi_daemon_rlimit(d, RLIMIT_DATA, "memory-limit", d->memory_limit, 0);
    wsgi_daemon_rlimit(d, RLIMIT_AS, "virtual-memory-limit",
                       d->virtual_memory_limit, 0);
}

/*
 * glibc gives each new thread a malloc arena of its own (up to 8 per CPU)
 * and every arena keeps what was freed in it for later. A daemon's
 * threads run Python, which allocates while holding the GIL: more than a
 * couple of arenas buy no concurrency there, they only multiply the
 * memory kept after a burst of large bodies (measured with 16 threads
 * echoing 1 MiB POSTs: about 23 MiB PSS per process with an arena per
 * thread, about 15 MiB with two). MALLOC_ARENA_MAX in the environment,
 * which glibc reads itself, still decides when it is set.
 */
static void wsgi_daemon_malloc_arenas(void)
{
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 2);
#endif
}

/* display-name=: what ps shows for the process. The argv strings are
 * contiguous; their whole span is rewritten (a longer name is cut to it),
 * and the kernel's 15-byte task name follows. */
/* The argument block as Apache started with it, kept by the first
 * rewrite: a daemon process without display-name= shows it again, not
 * its supervisor's title. */
static char *wsgi_title_orig = NULL;
static size_t wsgi_title_len = 0;

static void wsgi_set_title(server_rec *s, const char *name)
{
    char *start, *end, cmdline[4096];
    ssize_t n;
    int i, fd;

    if (s->process == NULL || s->process->argc < 1)
        return;
    start = end = (char *)s->process->argv[0];
    for (i = 0; i < s->process->argc; i++) {
        if (s->process->argv[i] != end)
            break;
        end += strlen(end) + 1;
    }
    /* The argument strings the kernel shows are one block starting at
     * argv[0] (/proc/self/cmdline is that block); Apache's argv array may
     * no longer point at all of them, which left "-f ... -DFOREGROUND"
     * after the name in ps. */
    fd = open("/proc/self/cmdline", O_RDONLY);
    if (fd >= 0) {
        n = read(fd, cmdline, sizeof(cmdline));
        if (n > end - start && !memcmp(start, cmdline, (size_t)n))
            end = start + n;
        close(fd);
    }
    if (end - start > 1 && wsgi_title_orig == NULL &&
        (wsgi_title_orig = malloc((size_t)(end - start))) != NULL) {
        memcpy(wsgi_title_orig, start, (size_t)(end - start));
        wsgi_title_len = (size_t)(end - start);
    }
    if (name == NULL) {
        /* Back to what it was. */
        if (wsgi_title_orig != NULL && (size_t)(end - start) >= wsgi_title_len)
            memcpy(start, wsgi_title_orig, wsgi_title_len);
        prctl(PR_SET_NAME, apr_filepath_name_get(s->process->argv[0]));
        return;
    }
    if (end - start > 1) {
        memset(start, 0, end - start);
        apr_cpystrn(start, name, end - start);
    }
    prctl(PR_SET_NAME, name);
}

static void wsgi_daemon_title(apr_pool_t *p, server_rec *s, wsgi_daemon *d)
{
    const char *name = d->display_name;

    if (name == NULL) {
        wsgi_set_title(s, NULL);
        return;
    }
    if (!strcmp(name, "%{GROUP}"))
        name = apr_psprintf(p, "(wsgi:%s)", d->name);
    wsgi_set_title(s, name);
}

static void wsgi_daemon_main(apr_pool_t *pconf, server_rec *s, wsgi_daemon *d)
{
    apr_thread_t **threads;
    apr_threadattr_t *attr;
    wsgi_worker *workers;
    apr_pool_t *p, *tp;
    int i;

    wsgi_daemon_self = d;
    /* Keys of other groups and the master go before any code of this
     * group's can run; the requests this group may take are learnt. */
    wsgi_peer_enter_daemon(pconf, s, d);
    wsgi_daemon_title(pconf, s, d);
    ap_close_listeners();
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *o = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (o != d && o->listen_fd >= 0)
            close(o->listen_fd);
    }
    if (pipe(wsgi_wake_pipe) < 0)
        _exit(APEXIT_CHILDFATAL);
    apr_signal(SIGTERM, wsgi_daemon_signal);
    apr_signal(SIGINT, wsgi_daemon_signal);
    apr_signal(SIGHUP, wsgi_daemon_signal);
    apr_signal(SIGUSR1, wsgi_daemon_signal);
    /* apachectl graceful-stop signals the process group with SIGWINCH,
     * whose default is to be ignored: daemons would outlive Apache. */
    apr_signal(SIGWINCH, wsgi_daemon_signal);
    apr_signal(SIGPIPE, SIG_IGN);

    wsgi_daemon_jail_and_nice(d);
    wsgi_daemon_drop_privileges(d);
    /* And whatever way the parent goes, its daemons go too (set after the
     * credential change, which clears it). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(0);
    if (d->umask != WSGI_UNSET)
        umask((mode_t)d->umask);
    if (d->home && chdir(d->home) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, WSGI_LOGNO(0713)
                     "daemon group '%s': cannot change to home=%s",
                     d->name, d->home);
    wsgi_daemon_limits(d);
    wsgi_daemon_malloc_arenas();
    if (d->lang)
        setenv("LANG", d->lang, 1);
    if (d->locale)
        setenv("LC_ALL", d->locale, 1);

    /* Python's teardown hangs off this pool: destroying it at the end
     * runs atexit handlers without touching the parent's cleanups. */
    apr_pool_create(&p, pconf);
    wsgi_python_child_init(p, s);
    if (!wsgi_python_ready) {
        sleep(2);
        _exit(APEXIT_CHILDSICK);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_wsgi (pid=%d): daemon "
                 "group '%s' ready, %d threads", (int)getpid(), d->name,
                 d->threads);

    /* Python owns p from here on (interpreters are created in it, under
     * a lock); threads and worker pools come from tp, this thread's. */
    apr_pool_create(&tp, pconf);
    threads = apr_pcalloc(tp, d->threads * sizeof(*threads));
    workers = apr_pcalloc(tp, d->threads * sizeof(*workers));
    wsgi_monitor_init(tp, d->threads);
    wsgi_wire_flusher_start(tp, d->threads, d->response_flush_delay);
    apr_thread_mutex_create(&wsgi_accept_lock, APR_THREAD_MUTEX_DEFAULT, tp);
    for (i = 0; i < d->threads; i++) {
        workers[i].d = d;
        workers[i].slot = i;
        apr_pool_create(&workers[i].pool, tp);
    }
    apr_threadattr_create(&attr, tp);
    if (d->stack_size > 0)
        apr_threadattr_stacksize_set(attr, (apr_size_t)d->stack_size);
    for (i = 0; i < d->threads; i++)
        apr_thread_create(&threads[i], attr, wsgi_daemon_worker, &workers[i],
                          tp);

    /* Ready: from here a death is the death of a process that worked, not
     * a failure to start (the parent's back-off counts only those). */
    if (wsgi_ready_fd >= 0) {
        ssize_t ignored = write(wsgi_ready_fd, "R", 1);

        (void)ignored;
    }

    /* The byte in the wake pipe stays there: every worker sees it. The
     * monitor returns once stopping and the requests in flight finished,
     * or were given up on. */
    if (wsgi_monitor_run(d, wsgi_wake_pipe[0], &wsgi_daemon_stopping,
                         wsgi_daemon_signal) > 0) {
        /* A thread still in the application holds Python: no atexit, no
         * teardown, just go (the WSGI0732 warning said why). */
        _exit(0);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_wsgi (pid=%d): daemon "
                 "group '%s' stopping", (int)getpid(), d->name);
    for (i = 0; i < d->threads; i++) {
        apr_status_t ignored;

        if (threads[i])
            apr_thread_join(&ignored, threads[i]);
    }
    apr_pool_destroy(p);
    _exit(0);
}

/* ------------------------------------------------- the slot supervisors */

/*
 * Each process slot of a group has a small supervisor process of its
 * own, forked by the Apache parent, which never runs Python: it forks the
 * daemon process and waits for it, so
 *
 *  - a daemon's exit status never reaches the MPM, which takes status 15
 *    from any child it reaps as APEXIT_CHILDFATAL and stops Apache (an
 *    application calling os._exit(15) did that);
 *  - the status is read raw, by waitpid(), so "exited with status 1" and
 *    "killed by signal 1" are told apart (the MPM passes the parent's
 *    other-child handlers a decoded number that can be either);
 *  - a replacement starts at once, not at the MPM's next one-second
 *    maintenance tick, and, for a recycle (maximum-requests,
 *    restart-interval, eviction...), as soon as the old process stops
 *    taking new requests, while it finishes those it has;
 *  - only a process that died before it said it was ready counts toward
 *    the start-up back-off.
 *
 * The Apache parent watches the supervisors with APR's other-child API.
 * A supervisor of a generation that a graceful restart ended may still be
 * finishing requests: its pid is kept in the process pool and registered
 * again by the next generation, so the MPM knows it when it exits (no
 * "long lost child came home"). Only pids are kept across the restart:
 * Apache reloads modules then, and a function pointer of the old mapping
 * would dangle.
 */

typedef struct {
    wsgi_daemon *d;
    int slot;
    apr_pool_t *pconf;
    server_rec *s;
    struct wsgi_slot_rec *rec;  /* the live supervisor, or NULL */
} wsgi_daemon_slot;

typedef struct wsgi_slot_rec {
    apr_proc_t proc;
    wsgi_daemon_slot *ds;       /* NULL: of an ended generation */
} wsgi_slot_rec;

#define WSGI_MAX_ORPHANS 256
typedef struct {
    int n;
    pid_t pid[WSGI_MAX_ORPHANS];
} wsgi_orphans;

static wsgi_orphans *wsgi_orphans_of(server_rec *s)
{
    apr_pool_t *pool = s->process->pool;
    void *data = NULL;

    apr_pool_userdata_get(&data, "mod_wsgi supervisors", pool);
    if (data == NULL) {
        data = apr_pcalloc(pool, sizeof(wsgi_orphans));
        apr_pool_userdata_set(data, "mod_wsgi supervisors",
                              apr_pool_cleanup_null, pool);
    }
    return data;
}

static void wsgi_orphan_forget(server_rec *s, pid_t pid)
{
    wsgi_orphans *o = wsgi_orphans_of(s);
    int i;

    for (i = 0; i < o->n; i++) {
        if (o->pid[i] == pid) {
            o->pid[i] = o->pid[--o->n];
            break;
        }
    }
}

#define WSGI_BACKOFF_FIRST_MS 250
#define WSGI_BACKOFF_MAX_MS 10000
#define WSGI_MAX_DRAINING 32

static server_rec *wsgi_main_server_of_parent = NULL;
static volatile sig_atomic_t wsgi_slot_stop = 0;
static volatile sig_atomic_t wsgi_slot_evict = 0;

static void wsgi_slot_signal(int sig)
{
    if (sig == SIGUSR1)
        wsgi_slot_evict = 1;
    else if (!wsgi_slot_stop)
        wsgi_slot_stop = sig;
}

/* A wait status in words: "exited with status 1", "was killed by signal
 * SIGKILL (9)". */
static const char *wsgi_wait_status(apr_pool_t *p, int status)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},
                 {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
                 {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},
                 {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
                 {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},
                 {SIGUSR2, "SIGUSR2"}, {SIGPIPE, "SIGPIPE"},
                 {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
                 {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
                 {SIGSYS, "SIGSYS"}};
    const char *name = "an unknown signal";
    size_t i;

    if (WIFEXITED(status))
        return apr_psprintf(p, "exited with status %d", WEXITSTATUS(status));
    if (!WIFSIGNALED(status))
        return apr_psprintf(p, "ended with wait status %d", status);
    for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (names[i].sig == WTERMSIG(status))
            name = names[i].name;
    }
    return apr_psprintf(p, "was killed by signal %s (%d)%s", name,
                        WTERMSIG(status),
                        WCOREDUMP(status) ? ", core dumped" : "");
}

/* Forks one daemon process; *notify gets the read end of the pipe on
 * which it says "R" (ready) and "G" (going: it takes no new requests). */
static pid_t wsgi_slot_spawn(wsgi_daemon_slot *ds, int quick_deaths,
                             int *notify)
{
    int pipefd[2], pause_ms = 0;
    pid_t pid;

    if (quick_deaths > 0) {
        int shift = quick_deaths > 6 ? 6 : quick_deaths - 1;

        pause_ms = WSGI_BACKOFF_FIRST_MS << shift;
        if (pause_ms > WSGI_BACKOFF_MAX_MS)
            pause_ms = WSGI_BACKOFF_MAX_MS;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ds->s, WSGI_LOGNO(0737)
                     "daemon group '%s': a process died before it was "
                     "ready, %d times in a row; the next one starts in "
                     "%d ms (see the messages before this one for why)",
                     ds->d->name, quick_deaths, pause_ms);
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        pipefd[0] = pipefd[1] = -1;
    pid = fork();
    if (pid == 0) {
        sigset_t none;

        if (pipefd[0] >= 0)
            close(pipefd[0]);
        wsgi_ready_fd = pipefd[1];
        apr_signal(SIGTERM, SIG_DFL);
        apr_signal(SIGINT, SIG_DFL);
        apr_signal(SIGHUP, SIG_DFL);
        apr_signal(SIGUSR1, SIG_DFL);
        apr_signal(SIGWINCH, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The pause is the new process's own: its supervisor goes on
         * relaying signals meanwhile. */
        if (pause_ms > 0)
            apr_sleep(apr_time_from_msec(pause_ms));
        wsgi_daemon_main(ds->pconf, ds->s, ds->d);     /* never returns */
    }
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, ds->s, WSGI_LOGNO(0714)
                     "could not fork a process for daemon group '%s'",
                     ds->d->name);
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        pipefd[0] = -1;
        pid = 0;
        apr_sleep(apr_time_from_sec(1));
    }
    else if (pipefd[0] >= 0)
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    *notify = pipefd[0];
    return pid;
}

/* The supervisor of one slot; never returns. */
static void wsgi_slot_main(wsgi_daemon_slot *ds)
{
    wsgi_daemon *d = ds->d;
    pid_t current = 0, draining[WSGI_MAX_DRAINING];
    int ndraining = 0, notify = -1, ready = 0, quick = 0, forwarded = 0;
    int i, status;
    const char *title;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(0);
    ap_close_listeners();
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *o = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (o != d && o->listen_fd >= 0)
            close(o->listen_fd);
    }
    title = apr_psprintf(ds->pconf, "(wsgi-supervisor:%s)", d->name);
    wsgi_set_title(ds->s, title);
    apr_signal(SIGTERM, wsgi_slot_signal);
    apr_signal(SIGINT, wsgi_slot_signal);
    apr_signal(SIGHUP, wsgi_slot_signal);
    apr_signal(SIGWINCH, wsgi_slot_signal);
    apr_signal(SIGUSR1, wsgi_slot_signal);
    apr_signal(SIGPIPE, SIG_IGN);
    apr_signal(SIGCHLD, SIG_DFL);

    for (;;) {
        struct pollfd pfd;
        char byte;
        pid_t pid;

        if (!wsgi_slot_stop && current == 0) {
            current = wsgi_slot_spawn(ds, quick, &notify);
            ready = 0;
        }
        if (wsgi_slot_stop && !forwarded) {
            /* Apache stops or restarts: every process of the slot goes,
             * the draining ones too. */
            if (current > 0)
                kill(current, wsgi_slot_stop);
            for (i = 0; i < ndraining; i++)
                kill(draining[i], wsgi_slot_stop);
            forwarded = 1;
        }
        if (wsgi_slot_evict) {
            wsgi_slot_evict = 0;
            if (current > 0)
                kill(current, SIGUSR1);
        }
        pfd.fd = notify;
        pfd.events = POLLIN;
        if (poll(&pfd, notify >= 0 ? 1 : 0, 100) > 0) {
            ssize_t n = read(notify, &byte, 1);

            if (n == 1 && byte == 'R')
                ready = 1;
            else if (n == 1 && byte == 'G' && ndraining < WSGI_MAX_DRAINING &&
                     !wsgi_slot_stop) {
                /* It stops taking requests: start the next one now and
                 * let it finish its own. */
                draining[ndraining++] = current;
                current = 0;
                close(notify);
                notify = -1;
            }
            else if (n == 0) {
                close(notify);
                notify = -1;
            }
        }
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            int failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;

            if (failed && !(WIFSIGNALED(status) && forwarded &&
                            WTERMSIG(status) == wsgi_slot_stop))
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, ds->s,
                             WSGI_LOGNO(0715) "daemon process %d of group "
                             "'%s' %s; %s", (int)pid, d->name,
                             wsgi_wait_status(ds->pconf, status),
                             wsgi_slot_stop ? "Apache is stopping it"
                                            : "starting a new one");
            if (pid == current) {
                /* Read what it said before it went. */
                while (notify >= 0 && read(notify, &byte, 1) == 1) {
                    if (byte == 'R')
                        ready = 1;
                }
                quick = failed && !ready ? quick + 1 : 0;
                current = 0;
                if (notify >= 0)
                    close(notify);
                notify = -1;
                continue;
            }
            for (i = 0; i < ndraining; i++) {
                if (draining[i] == pid) {
                    draining[i] = draining[--ndraining];
                    break;
                }
            }
        }
        if (wsgi_slot_stop && current == 0 && ndraining == 0)
            _exit(0);
    }
}

static void wsgi_slot_maint(int reason, void *data, apr_wait_t status);

static void wsgi_slot_watch(apr_pool_t *pconf, pid_t pid,
                            wsgi_daemon_slot *ds)
{
    wsgi_slot_rec *rec = apr_pcalloc(pconf, sizeof(*rec));

    rec->proc.pid = pid;
    rec->ds = ds;
    if (ds != NULL)
        ds->rec = rec;
    apr_proc_other_child_register(&rec->proc, wsgi_slot_maint, rec, NULL,
                                  pconf);
}

static apr_status_t wsgi_slot_start(wsgi_daemon_slot *ds)
{
    pid_t pid = fork();

    if (pid == 0)
        wsgi_slot_main(ds);     /* never returns */
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, ds->s, WSGI_LOGNO(0714)
                     "could not fork a process for daemon group '%s'",
                     ds->d->name);
        return APR_FROM_OS_ERROR(errno);
    }
    ds->d->procs[ds->slot].pid = pid;
    wsgi_slot_watch(ds->pconf, pid, ds);
    return APR_SUCCESS;
}

/* At each start: the supervisors of ended generations that still run are
 * watched again (the others are reaped here). */
static void wsgi_orphans_adopt(apr_pool_t *pconf, server_rec *s)
{
    wsgi_orphans *o = wsgi_orphans_of(s);
    int i = 0, status;

    while (i < o->n) {
        pid_t pid = o->pid[i];

        if (waitpid(pid, &status, WNOHANG) != 0 || kill(pid, 0) < 0) {
            o->pid[i] = o->pid[--o->n];
            continue;
        }
        wsgi_slot_watch(pconf, pid, NULL);
        i++;
    }
}

static void wsgi_slot_maint(int reason, void *data, apr_wait_t status)
{
    wsgi_slot_rec *rec = data;
    wsgi_daemon_slot *ds = rec->ds;
    int mpm_state = AP_MPMQ_STARTING;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(rec);
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if (ds == NULL)
            wsgi_orphan_forget(wsgi_main_server_of_parent, rec->proc.pid);
        else if (mpm_state != AP_MPMQ_STOPPING) {
            /* Only a crash of the supervisor itself gets here (it exits
             * 0 and only when told to): start another at once. */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, ds->s, WSGI_LOGNO(0746)
                         "the supervisor (pid %d) of a daemon process of "
                         "group '%s' ended (status %d); starting another",
                         (int)rec->proc.pid, ds->d->name, (int)status);
            ds->rec = NULL;
            wsgi_slot_start(ds);
        }
        break;
    default:
        /* UNREGISTER: the generation's pool goes; wsgi_slot_cleanup
         * has told the supervisor and kept its pid. */
        break;
    }
}

/* The generation's configuration goes (restart or stop): its supervisors
 * are told to end their processes; their records stay registered until
 * they have exited. */
static apr_status_t wsgi_slot_cleanup(void *data)
{
    wsgi_daemon_slot *ds = data;

    wsgi_orphans *o = wsgi_orphans_of(ds->s);

    if (ds->rec != NULL) {
        kill(ds->rec->proc.pid, SIGTERM);
        if (o->n < WSGI_MAX_ORPHANS)
            o->pid[o->n++] = ds->rec->proc.pid;
        ds->rec->ds = NULL;
        ds->rec = NULL;
    }
    return APR_SUCCESS;
}

static apr_status_t wsgi_daemon_cleanup(void *data)
{
    wsgi_daemon *d = data;

    if (d->listen_fd >= 0)
        close(d->listen_fd);
    if (d->socket_path && !wsgi_daemon_self)
        unlink(d->socket_path);
    return APR_SUCCESS;
}

static int wsgi_daemon_listen(apr_pool_t *pconf, server_rec *s,
                              wsgi_daemon *d)
{
    struct sockaddr_un addr;
    mode_t old;
    int fd;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(d->socket_path) >= sizeof(addr.sun_path)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, WSGI_LOGNO(0716)
                     "daemon group '%s': socket path '%s' is too long for "
                     "a UNIX socket; set a shorter WSGISocketPrefix",
                     d->name, d->socket_path);
        return -1;
    }
    strcpy(addr.sun_path, d->socket_path);
    unlink(d->socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    /* Only Apache's user may connect: the mode is set by the umask at
     * bind() and then for good measure (not all systems honour it). */
    old = umask(0077);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(fd, d->listen_backlog) < 0) {
        umask(old);
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, WSGI_LOGNO(0717)
                     "daemon group '%s': cannot listen on '%s'; check that "
                     "the directory of WSGISocketPrefix exists and is "
                     "writable by root and traversable by Apache's user",
                     d->name, d->socket_path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    umask(old);
    chmod(d->socket_path, 0600);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (geteuid() == 0 && chown(d->socket_path, d->socket_uid, -1) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, WSGI_LOGNO(0718)
                     "daemon group '%s': cannot give socket '%s' to uid %d",
                     d->name, d->socket_path, (int)d->socket_uid);
    d->listen_fd = fd;
    apr_pool_cleanup_register(pconf, d, wsgi_daemon_cleanup,
                              apr_pool_cleanup_null);
    return 0;
}

/*
 * The parent's configuration pool goes: at a restart the old generation
 * is told to finish (the new one starts from post_config); at a stop the
 * parent also waits for them, bounded by shutdown-timeout, so that no
 * daemon outlives Apache, however it was stopped (graceful-stop signals
 * only Apache's own children).
 */
static apr_status_t wsgi_daemons_stop(void *data)
{
    apr_array_header_t *groups = data;
    int i, k, state = AP_MPMQ_STARTING, wait_secs = 0;
    wsgi_orphans *orphans;
    apr_time_t deadline;

    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    for (i = 0; i < groups->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(groups, i, wsgi_daemon *);

        for (k = 0; d->procs && k < d->processes; k++) {
            if (d->procs[k].pid > 0)
                kill(d->procs[k].pid, SIGTERM);
        }
        if (d->shutdown_timeout > wait_secs)
            wait_secs = d->shutdown_timeout;
    }
    /* A restart only clears the pool; a stop ends with Apache exiting. */
    if (state != AP_MPMQ_STOPPING &&
        ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING)
        return APR_SUCCESS;
    /* Every supervisor, of this generation (its slot cleanups listed it)
     * and of earlier ones still finishing requests. */
    deadline = apr_time_now() + apr_time_from_sec(wait_secs + 1);
    orphans = wsgi_main_server_of_parent
                  ? wsgi_orphans_of(wsgi_main_server_of_parent) : NULL;
    for (i = 0; orphans && i < orphans->n; i++) {
        pid_t pid = orphans->pid[i];

        while (pid > 0 && waitpid(pid, NULL, WNOHANG) == 0) {
            if (apr_time_now() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                break;
            }
            apr_sleep(apr_time_from_msec(20));
        }
    }
    if (orphans)
        orphans->n = 0;
    return APR_SUCCESS;
}

/* Checks the socket directory the way a 503 would find out too late. */
static const char *wsgi_socket_dir_problem(apr_pool_t *p, const char *prefix)
{
    char *dir = ap_make_dirstr_parent(p, prefix);
    struct stat st;

    if (stat(dir, &st) < 0)
        return apr_psprintf(p, "directory '%s' does not exist; create it "
                            "or point WSGISocketPrefix elsewhere", dir);
    if (!S_ISDIR(st.st_mode))
        return apr_psprintf(p, "'%s' is not a directory", dir);
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
        return apr_psprintf(p, "directory '%s' is world-writable without "
                            "the sticky bit, so anyone could replace the "
                            "sockets; use a directory only root can write",
                            dir);
    if (geteuid() == 0 && st.st_uid != ap_unixd_config.user_id &&
        !(st.st_mode & S_IXOTH) &&
        !((st.st_mode & S_IXGRP) && st.st_gid == ap_unixd_config.group_id))
        return apr_psprintf(p, "Apache's user cannot traverse directory "
                            "'%s' to reach the sockets (mode %04o); make it "
                            "executable for that user, e.g. chmod 0755",
                            dir, (unsigned)(st.st_mode & 07777));
    return NULL;
}

int wsgi_daemons_start(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const char *prefix, *problem;
    int i, k;

    if (wsgi_daemons == NULL || wsgi_daemons->nelts == 0)
        return OK;
    prefix = wsgi_socket_prefix ? wsgi_socket_prefix
                                : ap_runtime_dir_relative(pconf, "wsgi");
    problem = wsgi_socket_dir_problem(ptemp, prefix);
    if (problem != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, WSGI_LOGNO(0719)
                     "WSGISocketPrefix '%s': %s", prefix, problem);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    wsgi_generation++;
    /* Before anything is forked: every process of this generation gets
     * the keys from here (wsgi_peer.c). */
    if (wsgi_peer_generation(s) < 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        /* Apache's User and Group are known only now, whatever the order
         * of the directives. */
        if (d->user == NULL)
            d->uid = ap_unixd_config.user_id;
        if (d->group == NULL)
            d->gid = ap_unixd_config.group_id;
        if (d->socket_user == NULL)
            d->socket_uid = ap_unixd_config.user_id;
        /* The same path across graceful restarts (unless
         * WSGISocketRotation On): old children still serving keep-alive
         * connections then reach the new daemons, instead of a socket
         * that is gone. */
        d->socket_path = wsgi_socket_rotation
                             ? apr_psprintf(pconf, "%s.%d.%d.%d.sock", prefix,
                                            (int)getpid(), wsgi_generation,
                                            d->id)
                             : apr_psprintf(pconf, "%s.%d.%d.sock", prefix,
                                            (int)getpid(), d->id);
        if (wsgi_daemon_listen(pconf, s, d) < 0)
            return HTTP_INTERNAL_SERVER_ERROR;
        if (d->not_enforced)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, WSGI_LOGNO(0720)
                         "WSGIDaemonProcess %s (%s:%d): %s accepted but not "
                         "enforced yet by this version", d->name, d->file,
                         d->line, d->not_enforced);
    }
    apr_pool_cleanup_register(pconf, wsgi_daemons, wsgi_daemons_stop,
                              apr_pool_cleanup_null);
    wsgi_main_server_of_parent = s;
    wsgi_orphans_adopt(pconf, s);
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        d->procs = apr_pcalloc(pconf, d->processes * sizeof(apr_proc_t));
        for (k = 0; k < d->processes; k++) {
            wsgi_daemon_slot *ds = apr_pcalloc(pconf, sizeof(*ds));

            ds->d = d;
            ds->slot = k;
            ds->pconf = pconf;
            ds->s = s;
            if (wsgi_slot_start(ds) != APR_SUCCESS)
                return HTTP_INTERNAL_SERVER_ERROR;
            apr_pool_cleanup_register(pconf, ds, wsgi_slot_cleanup,
                                      apr_pool_cleanup_null);
        }
    }
    return OK;
}
