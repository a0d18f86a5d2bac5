/*
 * wsgi_options.c: WSGIDaemonProcess and the server-wide directives of
 * daemon mode, read at config time: each group's options, checked and
 * stored (wsgi_daemon), and the lookup of a group by name per request.
 * What the groups' processes then do is wsgi_daemon.c's.
 */

#include "wsgi_common.h"

#include <limits.h>
#include <stddef.h>

apr_array_header_t *wsgi_daemons = NULL;
const char *wsgi_socket_prefix = NULL;
int wsgi_restrict_embedded = 0;
int wsgi_socket_rotation = 0;

void wsgi_daemons_pre_config(apr_pool_t *pconf)
{
    /* Config is read anew on every restart: so is the group list. */
    wsgi_daemons = apr_array_make(pconf, 4, sizeof(wsgi_daemon *));
    wsgi_socket_prefix = NULL;
    wsgi_restrict_embedded = 0;
    wsgi_socket_rotation = 0;
}

/*
 * What a group gets for an option it does not give: upstream's defaults,
 * in one place. Every other field is 0 or NULL: off, none, or the
 * system's (socket buffers) or Apache's (socket-timeout: Timeout) value.
 */
static const wsgi_daemon wsgi_daemon_defaults = {
    .processes = 1,
    .threads = 15,
    .umask = WSGI_UNSET,
    .listen_backlog = 100,
    .header_buffer_size = 32768,
    .shutdown_timeout = 5,
    .graceful_timeout = 15,
    .deadlock_timeout = 300,
    .connect_timeout = 15,
    .switch_interval = -1.0,        /* Python's own */
    .response_flush_delay = 5,      /* ms; see wsgi_channel.c */
    .request_buffer_size = 65536,
    .listen_fd = -1,
};


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
typedef enum {
    WSGI_OPT_STR,
    WSGI_OPT_INT,
    WSGI_OPT_BYTES,
    WSGI_OPT_FLAG               /* On or Off, as 1 or 0 */
} wsgi_opt_kind;

typedef struct {
    const char *name;
    wsgi_opt_kind kind;
    int min, max;               /* WSGI_OPT_INT: bounds; BYTES: min only */
    size_t field;               /* offsetof(wsgi_daemon, ...) */
    int enforced;               /* 0: accepted for upstream's configs, not
                                 * acted on yet; WSGI0720 says so at
                                 * start-up, so nobody believes it is */
} wsgi_simple_option;

#define WSGI_SIMPLE(name, kind, min, max, field)                         \
    {name, kind, min, max, offsetof(wsgi_daemon, field), 1}
#define WSGI_NOT_YET(name, kind, min, max, field)                        \
    {name, kind, min, max, offsetof(wsgi_daemon, field), 0}

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
    WSGI_SIMPLE("server-metrics", WSGI_OPT_FLAG, 0, 0, server_metrics),
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
    case WSGI_OPT_FLAG:
        if (!strcasecmp(val, "on"))
            *(int *)field = 1;
        else if (!strcasecmp(val, "off"))
            *(int *)field = 0;
        else
            err = apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s= must be "
                               "On or Off, not '%s'", opt->name, val);
        break;
    }
    if (err == NULL && !opt->enforced)
        d->not_enforced = opt->name;
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
    d = apr_palloc(cmd->pool, sizeof(*d));
    *d = wsgi_daemon_defaults;
    d->name = name;
    d->server = cmd->server;
    d->file = cmd->directive ? cmd->directive->filename : "?";
    d->line = cmd->directive ? cmd->directive->line_num : 0;
    d->id = wsgi_daemons->nelts + 1;
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
