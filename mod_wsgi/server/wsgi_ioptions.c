/*
 * wsgi_ioptions.c: <WSGIInterpreterOptions process-group=NAME
 * application-group=NAME>, the section that gives some interpreters
 * settings of their own, and the resolution of what an interpreter gets.
 *
 * Upstream 6.x's rules, which configs written for it rely on:
 *   - both selectors are optional; a missing one matches anything, and
 *     %{GLOBAL} stands for "" (embedded mode's process group, the main
 *     interpreter's application group);
 *   - inside: WSGIPerInterpreterGIL, WSGIFreeThreading (process-group=
 *     only: the GIL is a property of the process), WSGISwitchInterval,
 *     WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout,
 *     WSGIRestrictSignal;
 *   - "specificity = number of selectors set; most specific wins, later
 *     wins on ties": sections are applied from the least specific to
 *     the most, in file order within a rank, each over the last.
 * A section's WSGIPythonPath is added after the mode's own path
 * (WSGIPythonPath in embedded mode, python-path= in a daemon group).
 * A switch interval belongs to a GIL: one set for an application group
 * that shares the process's GIL would change every group's, so there it
 * is not applied and a notice says so (WSGI0113, wsgi_interp.c).
 */

#include "wsgi_common.h"

typedef struct {
    const char *process_group;      /* NULL: any; "": embedded mode */
    const char *application_group;  /* NULL: any; "": %{GLOBAL} */
    int specificity;                /* selectors given, 0 to 2 */
    wsgi_server_config *set;        /* what the section sets */
} wsgi_ioptions;

/* Directives a section may hold. */
static const char *const wsgi_ioptions_allowed[] = {
    "WSGIPerInterpreterGIL", "WSGIFreeThreading", "WSGISwitchInterval",
    "WSGIPythonPath", "WSGIRestrictStdin", "WSGIRestrictStdout",
    "WSGIRestrictSignal", NULL
};

static const char *wsgi_ioptions_selector(apr_pool_t *p, const char *v)
{
    return strcmp(v, "%{GLOBAL}") ? apr_pstrdup(p, v) : "";
}

/* Checks each directive of the section before any of them runs. */
static const char *wsgi_ioptions_check(cmd_parms *cmd,
                                       const wsgi_ioptions *o)
{
    const ap_directive_t *d;
    const char *err = NULL;
    int i, known;

    for (d = cmd->directive->first_child; err == NULL && d; d = d->next) {
        for (i = 0, known = 0; !known && wsgi_ioptions_allowed[i]; i++)
            known = !strcasecmp(d->directive, wsgi_ioptions_allowed[i]);
        if (!known)
            err = apr_psprintf(cmd->pool, "%s is not allowed inside "
                               "<WSGIInterpreterOptions> (%s:%d); only "
                               "WSGIPerInterpreterGIL, WSGIFreeThreading, "
                               "WSGISwitchInterval, WSGIPythonPath and "
                               "WSGIRestrictStdin/Stdout/Signal are: move "
                               "it out of the section", d->directive,
                               d->filename, d->line_num);
        else if (!strcasecmp(d->directive, "WSGIFreeThreading") &&
                 o->application_group != NULL)
            err = apr_psprintf(cmd->pool, "WSGIFreeThreading (%s:%d) "
                               "applies to whole processes: put it in a "
                               "<WSGIInterpreterOptions> with process-group= "
                               "only, not application-group=",
                               d->filename, d->line_num);
    }
    return err;
}

const char *wsgi_set_interp_options(cmd_parms *cmd, void *dummy,
                                    const char *arg)
{
    wsgi_server_config *main_sc =
        ap_get_module_config(cmd->server->module_config, &wsgi_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *endp = ap_strrchr_c(arg, '>'), *args, *key, *val;
    wsgi_ioptions *o;
    int got;

    if (err != NULL)
        goto done;
    if (endp == NULL) {
        err = "<WSGIInterpreterOptions needs its closing '>'";
        goto done;
    }
    args = apr_pstrndup(cmd->temp_pool, arg, (apr_size_t)(endp - arg));
    o = apr_pcalloc(cmd->pool, sizeof(*o));
    /* Values as in WSGIScriptAlias's options: process-group="my app". */
    while (err == NULL &&
           (got = wsgi_next_option(cmd->pool, &args, &key, &val)) != 0) {
        if (got > 0 && !strcmp(key, "process-group") && !o->process_group)
            o->process_group = wsgi_ioptions_selector(cmd->pool, val);
        else if (got > 0 && !strcmp(key, "application-group") &&
                 !o->application_group)
            o->application_group = wsgi_ioptions_selector(cmd->pool, val);
        else
            err = apr_psprintf(cmd->pool, "<WSGIInterpreterOptions> takes "
                               "process-group=NAME and application-group="
                               "NAME, each at most once, not '%s%s%s'", key,
                               got > 0 ? "=" : "", got > 0 ? val : "");
    }
    if (err == NULL)
        err = wsgi_ioptions_check(cmd, o);
    if (err != NULL)
        goto done;
    o->specificity = (o->process_group != NULL) +
                     (o->application_group != NULL);
    /* The directives inside run their usual handlers (same checks, same
     * messages), aimed at this section's own settings. */
    o->set = wsgi_create_server_config(cmd->pool, cmd->server);
    wsgi_config_section = o->set;
    err = ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
    wsgi_config_section = NULL;
    if (err == NULL) {
        if (main_sc->interp_options == NULL)
            main_sc->interp_options =
                apr_array_make(cmd->pool, 4, sizeof(wsgi_ioptions *));
        APR_ARRAY_PUSH(main_sc->interp_options, wsgi_ioptions *) = o;
    }
done:
    (void)dummy;
    return err;
}

static int wsgi_ioptions_match(const wsgi_ioptions *o, const char *pgroup,
                               const char *agroup)
{
    return (o->process_group == NULL || !strcmp(o->process_group, pgroup)) &&
           (agroup == NULL ? o->application_group == NULL
                           : o->application_group == NULL ||
                                 !strcmp(o->application_group, agroup));
}

static void wsgi_ioptions_apply(wsgi_interp_settings *out,
                                const wsgi_ioptions *o)
{
    const wsgi_server_config *set = o->set;

    if (set->per_interpreter_gil != WSGI_UNSET)
        out->per_interpreter_gil = set->per_interpreter_gil;
    if (set->free_threading != WSGI_UNSET)
        out->free_threading = set->free_threading;
    if (set->switch_interval >= 0) {
        out->switch_interval = set->switch_interval;
        if (o->application_group == NULL)
            out->process_switch_interval = set->switch_interval;
        out->switch_scoped = o->application_group != NULL;
    }
    if (set->python_path->nelts > 0)
        out->python_path = set->python_path;
    if (set->restrict_stdin != WSGI_UNSET)
        out->restrict_stdin = set->restrict_stdin;
    if (set->restrict_stdout != WSGI_UNSET)
        out->restrict_stdout = set->restrict_stdout;
    if (set->restrict_signal != WSGI_UNSET)
        out->restrict_signal = set->restrict_signal;
}

/*
 * What the interpreter for application group agroup gets in this process
 * (agroup NULL: the process-wide settings only, for WSGIFreeThreading,
 * before any interpreter exists). Starts from the server-wide
 * directives, then a daemon group's own switch-interval=, then the
 * matching sections in order of specificity.
 */
void wsgi_interp_settings_for(const char *agroup, wsgi_interp_settings *out)
{
    const wsgi_server_config *sc = wsgi_server;
    const char *pgroup = wsgi_daemon_self ? wsgi_daemon_self->name : "";
    int rank, i;

    memset(out, 0, sizeof(*out));
    out->per_interpreter_gil = WSGI_SERVER_FLAG(sc, per_interpreter_gil);
    out->free_threading = WSGI_SERVER_FLAG(sc, free_threading);
    out->restrict_stdin = WSGI_SERVER_FLAG(sc, restrict_stdin);
    out->restrict_stdout = WSGI_SERVER_FLAG(sc, restrict_stdout);
    out->restrict_signal = WSGI_SERVER_FLAG(sc, restrict_signal);
    /* WSGISwitchInterval is embedded mode's, switch-interval= a
     * group's (as upstream). */
    out->switch_interval = wsgi_daemon_self ? wsgi_daemon_self->switch_interval
                                            : sc->switch_interval;
    out->process_switch_interval = out->switch_interval;
    for (rank = 0; sc->interp_options != NULL && rank <= 2; rank++) {
        for (i = 0; i < sc->interp_options->nelts; i++) {
            const wsgi_ioptions *o =
                APR_ARRAY_IDX(sc->interp_options, i, wsgi_ioptions *);

            if (o->specificity == rank &&
                wsgi_ioptions_match(o, pgroup, agroup))
                wsgi_ioptions_apply(out, o);
        }
    }
}

/* ------------------------------------------- the GIL-mode directives */

/*
 * WSGIPerInterpreterGIL: a flag like the others, and on a Python older
 * than 3.12 (no PEP 684) a notice that On changes nothing, so a config
 * written for 3.12+ still loads and says why it runs with one GIL.
 */
const char *wsgi_set_per_interpreter_gil(cmd_parms *cmd, void *dummy,
                                         int on)
{
    const char *err = wsgi_set_server_flag(cmd, dummy, on);

#if PY_VERSION_HEX < 0x030C0000
    if (err == NULL && on)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, cmd->server,
                     WSGI_LOGNO(0111) "WSGIPerInterpreterGIL On (%s:%d) has "
                     "no effect: mod_wsgi is built against Python %s and a "
                     "GIL per sub-interpreter needs Python 3.12 or later; "
                     "every application group shares one GIL (build "
                     "mod_wsgi against 3.12+ for the effect, or remove "
                     "the directive)",
                     cmd->directive->filename, cmd->directive->line_num,
                     PY_VERSION);
#endif
    return err;
}

/*
 * WSGIFreeThreading: a module built against a free-threaded Python
 * (PEP 703) starts it with the GIL off only when this is On for the
 * process; otherwise the GIL is forced on (wsgi_interp.c), as upstream
 * does, since most C extensions still assume it. With the GIL built in,
 * On changes nothing, and says so once.
 */
const char *wsgi_set_free_threading(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = wsgi_set_server_flag(cmd, dummy, on);

#ifndef Py_GIL_DISABLED
    if (err == NULL && on)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, cmd->server,
                     WSGI_LOGNO(0112) "WSGIFreeThreading On (%s:%d) has no "
                     "effect: mod_wsgi is built against Python %s, which "
                     "always has a GIL; build mod_wsgi against a "
                     "free-threaded Python (3.13t or later, configured "
                     "with --disable-gil) for the effect, or remove the "
                     "directive", cmd->directive->filename,
                     cmd->directive->line_num, PY_VERSION);
#endif
    return err;
}
