/*
 * mod_wsgi.c: the module record and its start-up hooks. The request
 * hooks live in wsgi_handler.c, directives in wsgi_config.c.
 */

#define WSGI_MODULE_MAIN
#include "wsgi_common.h"

#include "scoreboard.h"

/* Which Python this module was built for, readable without loading it:
 * "mod_wsgi-express doctor" finds this line in the .so's bytes and
 * compares python=X.Y with each WSGIPythonHome and python-home=. Not
 * static and marked used, so neither the compiler nor the linker drops
 * it; the format is "key=value" words after the fixed prefix, ending at
 * the NUL. */
__attribute__((used)) const char wsgi_build_info[] =
    "mod_wsgi-build-info: version=" WSGI_VERSION_STRING
    " python=" APR_STRINGIFY(PY_MAJOR_VERSION) "."
    APR_STRINGIFY(PY_MINOR_VERSION) " py_version=" PY_VERSION
    " api=" APR_STRINGIFY(PYTHON_API_VERSION);

static int wsgi_check_home(apr_pool_t *p, server_rec *s, int to_stderr)
{
    wsgi_server_config *sc =
        ap_get_module_config(s->module_config, &wsgi_module);
    const char *err;

    if (sc->python_home == NULL)
        return OK;
    err = wsgi_python_home_check(p, sc->python_home);
    if (err == NULL)
        return OK;
    if (to_stderr)
        fprintf(stderr, "WSGI0002: %s\n", err);
    else
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, WSGI_LOGNO(0002) "%s",
                     err);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* "apachectl configtest" runs no post_config: the same check here makes
 * it fail with the same message instead of saying "Syntax OK". */
static void wsgi_test_config(apr_pool_t *p, server_rec *s)
{
    if (wsgi_check_home(p, s, 1) != OK)
        exit(1);
}

static int wsgi_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    wsgi_daemons_pre_config(pconf);
    return OK;
}

/* Apache's parent sleeps a whole second between looks for dead
 * children (ap_wait_or_timeout), and after a graceful restart the new
 * generation's children are forked only when an old one has been reaped
 * or that second has passed. The old children leave within milliseconds,
 * so the site had no child accepting for up to a second per restart. A
 * handler that does nothing makes a child's exit cut that sleep short:
 * select(2) is never restarted after a handler ran, whatever SA_RESTART
 * says (signal(7)); every other call is restarted. The reaping itself
 * stays with the MPM, and children put SIGCHLD back to its default. */
static void wsgi_wake_parent(int sig)
{
    (void)sig;
}

static void wsgi_parent_sigchld(int install)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = install ? wsgi_wake_parent : SIG_DFL;
    sa.sa_flags = install ? (SA_RESTART | SA_NOCLDSTOP) : 0;
    sigaction(SIGCHLD, &sa, NULL);
}

/* Apache unloads this module at each restart: the handler must not
 * outlive the code it points to. Registered after LoadModule's own
 * cleanup, so it runs before the unload. */
static apr_status_t wsgi_parent_sigchld_off(void *unused)
{
    (void)unused;
    wsgi_parent_sigchld(0);
    return APR_SUCCESS;
}

/* The parent never starts Python: it only checks what it can without,
 * and forks the daemon process groups. */
static int wsgi_post_config(apr_pool_t *p, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    int rc;

    (void)plog;
    wsgi_server = ap_get_module_config(s->module_config, &wsgi_module);
    ap_add_version_component(p, "mod_wsgi/" WSGI_VERSION_STRING);
    ap_add_version_component(p, "Python/" APR_STRINGIFY(PY_MAJOR_VERSION)
                             "." APR_STRINGIFY(PY_MINOR_VERSION));
    rc = wsgi_check_home(ptemp, s, 0);
    /* Before any process is forked: they all share its page. */
    wsgi_prom_setup(s);
    /* The first pass at start-up only checks the configuration; daemons
     * started then would be orphans of a process about to go. */
    if (rc == OK && ap_state_query(AP_SQ_MAIN_STATE) !=
                        AP_SQ_MS_CREATE_PRE_CONFIG)
        rc = wsgi_daemons_start(p, ptemp, s);
    if (rc == OK && ap_state_query(AP_SQ_MAIN_STATE) !=
                        AP_SQ_MS_CREATE_PRE_CONFIG)
    {
        wsgi_parent_sigchld(1);
        apr_pool_cleanup_register(p, NULL, wsgi_parent_sigchld_off,
                                  apr_pool_cleanup_null);
    }
    return rc;
}

/* After the MPM made the scoreboard (core's pre_mpm): the daemon
 * processes of a first start are forked now, so they see it. */
static int wsgi_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    (void)p;
    (void)sb_type;
    return wsgi_daemons_fork();
}

static void wsgi_child_init(apr_pool_t *p, server_rec *s)
{
    wsgi_server = ap_get_module_config(s->module_config, &wsgi_module);
    wsgi_parent_sigchld(0);
    /* Daemon sockets are for connecting to, by path: an Apache child has
     * no business holding the listening end open. */
    wsgi_daemons_close_sockets(NULL);
    wsgi_prom_join();
    /* WSGIRestrictEmbedded On: Apache's children only relay to daemons. */
    if (!wsgi_restrict_embedded) {
        wsgi_python_child_init(p, s);
        if (wsgi_python_ready)
            wsgi_preload_scripts(p, s);
    }
}

static void wsgi_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(wsgi_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(wsgi_test_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(wsgi_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_mpm(wsgi_pre_mpm, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_child_init(wsgi_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    wsgi_register_request_hooks(p);
    wsgi_register_auth_hooks(p);
    wsgi_register_prom_hooks(p);
    wsgi_register_health_hooks(p);
}

AP_DECLARE_MODULE(wsgi) = {
    STANDARD20_MODULE_STUFF,
    wsgi_create_dir_config,
    wsgi_merge_dir_config,
    wsgi_create_server_config,
    wsgi_merge_server_config,
    wsgi_commands,
    wsgi_register_hooks,
    AP_MODULE_FLAG_NONE
};
