/*
 * wsgi_config.c: directive handlers and config create/merge.
 *
 * Every field starts unset (WSGI_UNSET or NULL) and the more specific
 * config wins on merge, so a default is only ever applied where the value
 * is used. A wrong value is refused with a message that names the
 * directive, what it accepts and what was given.
 */

#include "wsgi_common.h"

wsgi_server_config *wsgi_server = NULL;
wsgi_server_config *wsgi_config_section = NULL;

int wsgi_flag(int value, int dflt)
{
    return value == WSGI_UNSET ? dflt : value;
}

/*
 * The value a flag has where the configuration leaves it unset: upstream's
 * defaults, one table per config kind, read through WSGI_SERVER_FLAG and
 * WSGI_DIR_FLAG (wsgi_common.h). Fields not listed default to 0 (Off).
 * The configs themselves start every field unset (below), so a merge
 * never mistakes a default for a choice.
 */
const wsgi_server_config wsgi_server_defaults = {
    .restrict_signal = 1,           /* WSGIRestrictSignal On */
    .destroy_interpreter = 1,       /* WSGIDestroyInterpreter On */
    .case_sensitivity = 1,          /* WSGICaseSensitivity On */
};

const wsgi_dir_config wsgi_dir_defaults = {
    .script_reloading = 1,          /* WSGIScriptReloading On */
    .map_head_to_get = WSGI_HEAD_AUTO,
};

void *wsgi_create_server_config(apr_pool_t *p, server_rec *s)
{
    wsgi_server_config *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->aliases = apr_array_make(p, 4, sizeof(wsgi_alias));
    c->imports = apr_array_make(p, 2, sizeof(wsgi_import));
    c->python_path = apr_array_make(p, 2, sizeof(const char *));
    c->python_warnings = apr_array_make(p, 2, sizeof(const char *));
    c->python_optimize = WSGI_UNSET;
    c->dont_write_bytecode = WSGI_UNSET;
    c->restrict_stdin = WSGI_UNSET;
    c->restrict_stdout = WSGI_UNSET;
    c->restrict_signal = WSGI_UNSET;
    c->destroy_interpreter = WSGI_UNSET;
    c->case_sensitivity = WSGI_UNSET;
    c->server_metrics = WSGI_UNSET;
    c->per_interpreter_gil = WSGI_UNSET;
    c->free_threading = WSGI_UNSET;
    c->switch_interval = -1.0;
    c->slow_requests = -1.0;
    return c;
}

void *wsgi_merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    wsgi_server_config *base = basev, *add = addv;
    wsgi_server_config *c = apr_pmemdup(p, base, sizeof(*c));

    /* A virtual host's aliases are tried before the main server's, as
     * mod_alias does for Alias. */
    c->aliases = apr_array_append(p, add->aliases, base->aliases);
    /* Each server preloads its own WSGIImportScript list. */
    c->imports = add->imports;
    return c;
}

void *wsgi_create_dir_config(apr_pool_t *p, char *dir)
{
    wsgi_dir_config *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->pass_authorization = WSGI_UNSET;
    c->script_reloading = WSGI_UNSET;
    c->chunked_request = WSGI_UNSET;
    c->map_head_to_get = WSGI_UNSET;
    c->error_override = WSGI_UNSET;
    c->enable_sendfile = WSGI_UNSET;
    c->ignore_activity = WSGI_UNSET;
    c->pass_apache_request = WSGI_UNSET;
    return c;
}

void *wsgi_merge_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    wsgi_dir_config *base = basev, *add = addv;
    wsgi_dir_config *c = apr_pcalloc(p, sizeof(*c));

    c->application_group = WSGI_MERGE_PTR(add, base, application_group);
    c->callable_object = WSGI_MERGE_PTR(add, base, callable_object);
    c->process_group = WSGI_MERGE_PTR(add, base, process_group);
    c->restrict_process = WSGI_MERGE_PTR(add, base, restrict_process);
    c->trusted_proxy_headers =
        WSGI_MERGE_PTR(add, base, trusted_proxy_headers);
    c->trusted_proxies = WSGI_MERGE_PTR(add, base, trusted_proxies);
    c->access_script = WSGI_MERGE_PTR(add, base, access_script);
    c->auth_user_script = WSGI_MERGE_PTR(add, base, auth_user_script);
    c->auth_group_script = WSGI_MERGE_PTR(add, base, auth_group_script);
    c->dispatch_script = WSGI_MERGE_PTR(add, base, dispatch_script);
    /* A handler named again in a deeper scope replaces the outer one. */
    c->handler_scripts =
        add->handler_scripts && base->handler_scripts
            ? apr_hash_overlay(p, add->handler_scripts, base->handler_scripts)
            : WSGI_MERGE_PTR(add, base, handler_scripts);
    c->pass_authorization = WSGI_MERGE(add, base, pass_authorization);
    c->script_reloading = WSGI_MERGE(add, base, script_reloading);
    c->chunked_request = WSGI_MERGE(add, base, chunked_request);
    c->map_head_to_get = WSGI_MERGE(add, base, map_head_to_get);
    c->error_override = WSGI_MERGE(add, base, error_override);
    c->enable_sendfile = WSGI_MERGE(add, base, enable_sendfile);
    c->ignore_activity = WSGI_MERGE(add, base, ignore_activity);
    c->pass_apache_request = WSGI_MERGE(add, base, pass_apache_request);
    return c;
}

static wsgi_server_config *wsgi_sconf(cmd_parms *cmd)
{
    return wsgi_config_section != NULL
               ? wsgi_config_section
               : ap_get_module_config(cmd->server->module_config,
                                      &wsgi_module);
}

/* Process-wide Python settings make no sense per virtual host. */
static const char *wsgi_global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static int wsgi_parse_onoff(const char *v, int *out)
{
    if (!strcasecmp(v, "On")) {
        *out = 1;
        return 1;
    }
    if (!strcasecmp(v, "Off")) {
        *out = 0;
        return 1;
    }
    return 0;
}

/* A group name is a literal or one of the %{...} forms we expand. */
static const char *wsgi_check_group(cmd_parms *cmd, const char *v,
                                    int application)
{
    if (v[0] != '%' || v[1] != '{')
        return NULL;
    if (!strcmp(v, "%{GLOBAL}") || !strncmp(v, "%{ENV:", 6))
        return NULL;
    if (application && (!strcmp(v, "%{SERVER}") || !strcmp(v, "%{HOST}")
                        || !strcmp(v, "%{RESOURCE}")))
        return NULL;
    return apr_psprintf(cmd->pool,
                        "%s: unknown variable '%s'; use %s, "
                        "%%{ENV:name} or a literal name",
                        cmd->cmd->name, v,
                        application
                            ? "%{GLOBAL}, %{SERVER}, %{HOST}, %{RESOURCE}"
                            : "%{GLOBAL}");
}

/*
 * One name=value option of WSGIDaemonProcess, WSGIScriptAlias(Match) or
 * WSGIImportScript, as upstream mod_wsgi reads them: the word is split at
 * its first '=', then the value is read by Apache's own rules
 * (ap_getword_conf: in double or single quotes, with backslash escapes,
 * spaces allowed; else up to white space). So python-home="/srv/venv"
 * is /srv/venv and display-name="my app" is one value. A whole option
 * in quotes ("name=value") is read as one word and then split.
 */
int wsgi_next_option(apr_pool_t *p, const char **args, const char **key,
                     const char **val)
{
    const char *s = *args, *start, *word, *eq;
    int rc = 1;

    while (apr_isspace(*s))
        s++;
    start = s;
    while (*s && *s != '=' && *s != '"' && *s != '\'' && !apr_isspace(*s))
        s++;
    if (!*start)
        rc = 0;
    else if (*s == '=' && s > start) {
        *key = apr_pstrmemdup(p, start, s - start);
        *args = s + 1;
        *val = (apr_isspace(s[1]) || !s[1]) ? ""
                                             : ap_getword_conf(p, args);
        return 1;
    }
    else {
        *args = start;
        word = ap_getword_conf(p, args);
        eq = strchr(word, '=');
        *key = eq && eq > word ? apr_pstrmemdup(p, word, eq - word) : word;
        *val = eq && eq > word ? eq + 1 : NULL;
        rc = *val ? 1 : -1;
    }
    if (rc == 0)
        *args = start;
    return rc;
}

/* Parses key=value options after the fixed arguments of a directive:
 * process-group= and application-group= for all; allow_all 1 (the
 * aliases) adds callable-object= and pass-authorization=, 2
 * (WSGIHandlerScript) pass-authorization= only. */
static const char *wsgi_parse_alias_options(cmd_parms *cmd,
                                            const char **args,
                                            wsgi_alias *a, int allow_all)
{
    const char *err = NULL;
    const char *key, *val;
    int got;

    while (err == NULL &&
           (got = wsgi_next_option(cmd->pool, args, &key, &val)) != 0) {
        if (got < 0) {
            err = apr_psprintf(cmd->pool,
                               "%s: option '%s' is not of the form "
                               "name=value", cmd->cmd->name, key);
            break;
        }
        if (!strcmp(key, "process-group")) {
            a->process_group = val;
            err = wsgi_check_group(cmd, val, 0);
        }
        else if (!strcmp(key, "application-group")) {
            a->application_group = val;
            err = wsgi_check_group(cmd, val, 1);
        }
        else if (allow_all == 1 && !strcmp(key, "callable-object")) {
            if (!*val)
                err = apr_psprintf(cmd->pool,
                                   "%s: callable-object= needs a name",
                                   cmd->cmd->name);
            a->callable_object = val;
        }
        else if (allow_all && !strcmp(key, "pass-authorization")) {
            if (!wsgi_parse_onoff(val, &a->pass_authorization))
                err = apr_psprintf(cmd->pool,
                                   "%s: pass-authorization= must be On or "
                                   "Off, not '%s'", cmd->cmd->name, val);
        }
        else {
            err = apr_psprintf(cmd->pool,
                               "%s: unknown option '%s'; valid options "
                               "are %s", cmd->cmd->name, key,
                               allow_all == 1
                                   ? "process-group=, application-group=, "
                                     "callable-object=, pass-authorization="
                               : allow_all == 2
                                   ? "process-group=, application-group=, "
                                     "pass-authorization="
                                   : "process-group=, application-group=");
        }
    }
    return err;
}

static const char *wsgi_set_script_alias(cmd_parms *cmd, void *dummy,
                                         const char *args)
{
    wsgi_server_config *sc = wsgi_sconf(cmd);
    int match = cmd->info != NULL;
    const char *location, *target, *err = NULL;
    wsgi_alias *a;

    (void)dummy;
    location = ap_getword_conf(cmd->pool, &args);
    target = ap_getword_conf(cmd->pool, &args);
    if (!*location || !*target)
        return apr_psprintf(cmd->pool,
                            "%s needs a URL %s and a script file or "
                            "directory, e.g. %s %s /srv/app/app.wsgi",
                            cmd->cmd->name, match ? "regex" : "path",
                            cmd->cmd->name, match ? "^/app(.*)" : "/app");

    a = apr_array_push(sc->aliases);
    memset(a, 0, sizeof(*a));
    a->location = location;
    a->target = ap_server_root_relative(cmd->pool, target);
    a->pass_authorization = WSGI_UNSET;
    if (a->target == NULL)
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'",
                            cmd->cmd->name, target);
    if (match) {
        a->regexp = ap_pregcomp(cmd->pool, location, AP_REG_EXTENDED);
        if (a->regexp == NULL)
            return apr_psprintf(cmd->pool,
                                "%s: '%s' is not a valid regular "
                                "expression", cmd->cmd->name, location);
    }
    else if (location[0] != '/') {
        return apr_psprintf(cmd->pool,
                            "%s: URL path '%s' must start with '/'",
                            cmd->cmd->name, location);
    }
    err = wsgi_parse_alias_options(cmd, &args, a, 1);
    return err;
}

static const char *wsgi_set_import_script(cmd_parms *cmd, void *dummy,
                                          const char *args)
{
    wsgi_server_config *sc = wsgi_sconf(cmd);
    const char *script, *err;
    wsgi_alias opts;
    wsgi_import *imp;

    (void)dummy;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT)) != NULL)
        return err;
    script = ap_getword_conf(cmd->pool, &args);
    if (!*script)
        return "WSGIImportScript needs a script path, then "
               "process-group= and application-group=";
    memset(&opts, 0, sizeof(opts));
    opts.pass_authorization = WSGI_UNSET;
    if ((err = wsgi_parse_alias_options(cmd, &args, &opts, 0)) != NULL)
        return err;
    if (!opts.process_group || !opts.application_group)
        return "WSGIImportScript needs both process-group= and "
               "application-group= options, e.g. process-group=%{GLOBAL} "
               "application-group=%{GLOBAL}";
    if (strstr(opts.application_group, "%{") &&
        strcmp(opts.application_group, "%{GLOBAL}"))
        return "WSGIImportScript: application-group= must be %{GLOBAL} "
               "or a literal name (request variables are not known when "
               "a process starts)";
    imp = apr_array_push(sc->imports);
    imp->script = ap_server_root_relative(cmd->pool, script);
    imp->process_group = opts.process_group;
    imp->application_group = opts.application_group;
    return NULL;
}

static const char *wsgi_set_python_home(cmd_parms *cmd, void *dummy,
                                        const char *v)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    if (!ap_is_directory(cmd->temp_pool, v))
        return apr_psprintf(cmd->pool,
                            "WSGIPythonHome: '%s' is not a directory; set "
                            "it to the virtual environment or Python "
                            "prefix (the value of sys.prefix), not to "
                            "site-packages or a python binary", v);
    wsgi_sconf(cmd)->python_home = apr_pstrdup(cmd->pool, v);
    return NULL;
}

static const char *wsgi_set_python_path(cmd_parms *cmd, void *dummy,
                                        const char *v)
{
    const char *err = wsgi_global_only(cmd);
    wsgi_server_config *sc = wsgi_sconf(cmd);
    char *copy, *tok, *state;

    (void)dummy;
    if (err)
        return err;
    copy = apr_pstrdup(cmd->pool, v);
    for (tok = apr_strtok(copy, ":", &state); tok;
         tok = apr_strtok(NULL, ":", &state))
        *(const char **)apr_array_push(sc->python_path) = tok;
    return NULL;
}

static const char *wsgi_set_python_optimize(cmd_parms *cmd, void *dummy,
                                            const char *v)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "2"))
        return apr_psprintf(cmd->pool,
                            "WSGIPythonOptimize must be 0, 1 or 2 (as "
                            "python -O / -OO), not '%s'", v);
    wsgi_sconf(cmd)->python_optimize = atoi(v);
    return NULL;
}

static const char *wsgi_set_python_hash_seed(cmd_parms *cmd, void *dummy,
                                             const char *v)
{
    const char *err = wsgi_global_only(cmd);
    apr_int64_t n;
    char *end;

    (void)dummy;
    if (err)
        return err;
    if (strcmp(v, "random")) {
        errno = 0;
        n = apr_strtoi64(v, &end, 10);
        if (errno || *end || !*v || n < 0 || n > 4294967295LL)
            return apr_psprintf(cmd->pool,
                                "WSGIPythonHashSeed must be 'random' or a "
                                "number from 0 to 4294967295, not '%s'", v);
    }
    wsgi_sconf(cmd)->python_hash_seed = apr_pstrdup(cmd->pool, v);
    return NULL;
}

static const char *wsgi_set_python_warnings(cmd_parms *cmd, void *dummy,
                                            const char *v)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    *(const char **)apr_array_push(wsgi_sconf(cmd)->python_warnings) =
        apr_pstrdup(cmd->pool, v);
    return NULL;
}

/* A server-wide number of seconds above 0 into *out; the message gives
 * example as a good value. */
static const char *wsgi_set_seconds(cmd_parms *cmd, const char *v,
                                    double *out, const char *example)
{
    const char *err = wsgi_global_only(cmd);
    char *end;
    double d;

    if (err)
        return err;
    d = strtod(v, &end);
    if (*end || !*v || !(d > 0.0))
        return apr_psprintf(cmd->pool, "%s must be a number of seconds "
                            "greater than 0, e.g. %s, not '%s'",
                            cmd->cmd->name, example, v);
    *out = d;
    return NULL;
}

static const char *wsgi_set_switch_interval(cmd_parms *cmd, void *dummy,
                                            const char *v)
{
    (void)dummy;
    return wsgi_set_seconds(cmd, v, &wsgi_sconf(cmd)->switch_interval,
                            "0.005");
}

/* WSGISlowRequests SECONDS: a request still running after that long is
 * logged once, with its URL and its thread's Python stack (both modes,
 * wsgi_stats.c). */
static const char *wsgi_set_slow_requests(cmd_parms *cmd, void *dummy,
                                          const char *v)
{
    (void)dummy;
    return wsgi_set_seconds(cmd, v, &wsgi_sconf(cmd)->slow_requests, "10");
}

static const char *wsgi_set_obsolete(cmd_parms *cmd, void *dummy,
                                     const char *args);

/* Eggs are gone from Python packaging; the directive still sets
 * PYTHON_EGG_CACHE for old code that reads it, with the notice. */
static const char *wsgi_set_python_eggs(cmd_parms *cmd, void *dummy,
                                        const char *v)
{
    const char *err = wsgi_global_only(cmd);

    if (err)
        return err;
    wsgi_sconf(cmd)->python_eggs = apr_pstrdup(cmd->pool, v);
    return wsgi_set_obsolete(cmd, dummy, v);
}

/* Process-wide On/Off flags: the offset of the int in the server config
 * travels in cmd->info. */
const char *wsgi_set_server_flag(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = wsgi_global_only(cmd);
    char *base = (char *)wsgi_sconf(cmd);

    (void)dummy;
    if (err)
        return err;
    *(int *)(base + (apr_size_t)cmd->info) = on;
    return NULL;
}

static const char *wsgi_set_dir_flag(cmd_parms *cmd, void *dconf, int on)
{
    *(int *)((char *)dconf + (apr_size_t)cmd->info) = on;
    return NULL;
}

static const char *wsgi_set_application_group(cmd_parms *cmd, void *dconf,
                                              const char *v)
{
    wsgi_dir_config *dc = dconf;
    const char *err = wsgi_check_group(cmd, v, 1);

    if (err)
        return err;
    dc->application_group = apr_pstrdup(cmd->pool, v);
    return NULL;
}

static const char *wsgi_set_callable_object(cmd_parms *cmd, void *dconf,
                                            const char *v)
{
    wsgi_dir_config *dc = dconf;
    const char *p;

    for (p = v; *p; p++) {
        if (!apr_isalnum(*p) && *p != '_')
            return apr_psprintf(cmd->pool,
                                "WSGICallableObject must be a Python "
                                "identifier (the name of the WSGI "
                                "callable in the script), not '%s'", v);
    }
    if (!*v || apr_isdigit(*v))
        return apr_psprintf(cmd->pool,
                            "WSGICallableObject must be a Python "
                            "identifier, not '%s'", v);
    dc->callable_object = apr_pstrdup(cmd->pool, v);
    return NULL;
}

static const char *wsgi_set_map_head(cmd_parms *cmd, void *dconf,
                                     const char *v)
{
    wsgi_dir_config *dc = dconf;

    if (!strcasecmp(v, "On"))
        dc->map_head_to_get = WSGI_HEAD_ON;
    else if (!strcasecmp(v, "Off"))
        dc->map_head_to_get = WSGI_HEAD_OFF;
    else if (!strcasecmp(v, "Auto"))
        dc->map_head_to_get = WSGI_HEAD_AUTO;
    else
        return apr_psprintf(cmd->pool,
                            "WSGIMapHEADToGET must be On, Off or Auto, "
                            "not '%s'", v);
    return NULL;
}

static const char *wsgi_set_process_group(cmd_parms *cmd, void *dconf,
                                          const char *v)
{
    wsgi_dir_config *dc = dconf;
    const char *err = wsgi_check_group(cmd, v, 0);

    if (err)
        return err;
    dc->process_group = apr_pstrdup(cmd->pool, v);
    return NULL;
}

/* WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript,
 * WSGIDispatchScript PATH [application-group=NAME]: the offset of the
 * field in the directory
 * config travels in cmd->info. The script always runs in Apache's own
 * processes (the request is not in a daemon yet at these steps), in the
 * main interpreter unless application-group= names another: the same
 * name as the application's shares its modules (a Django settings
 * module loaded once, say). */
static const char *wsgi_set_hook_script(cmd_parms *cmd, void *dconf,
                                        const char *args)
{
    wsgi_hook_script *hs = apr_pcalloc(cmd->pool, sizeof(*hs));
    const char *path, *key, *val, *err = NULL;
    int got;

    path = ap_getword_conf(cmd->pool, &args);
    if (!*path)
        return apr_psprintf(cmd->pool, "%s needs the path of a Python "
                            "script, then optionally application-group=",
                            cmd->cmd->name);
    hs->script = ap_server_root_relative(cmd->pool, path);
    hs->application_group = "";
    hs->file = cmd->directive ? cmd->directive->filename : "?";
    hs->line = cmd->directive ? cmd->directive->line_num : 0;
    while (err == NULL &&
           (got = wsgi_next_option(cmd->pool, &args, &key, &val)) != 0) {
        if (got > 0 && !strcmp(key, "application-group")) {
            err = wsgi_check_group(cmd, val, 0);
            hs->application_group = strcmp(val, "%{GLOBAL}") ? val : "";
        }
        else
            err = apr_psprintf(cmd->pool, "%s: unknown option '%s'; the "
                               "only option is application-group=NAME",
                               cmd->cmd->name, key);
    }
    if (err == NULL && !strncmp(hs->application_group, "%{", 2))
        err = apr_psprintf(cmd->pool, "%s: application-group= takes a "
                           "literal name or %%{GLOBAL} here",
                           cmd->cmd->name);
    if (err == NULL)
        *(const wsgi_hook_script **)((char *)dconf +
                                     (apr_size_t)cmd->info) = hs;
    return err;
}

/* WSGIHandlerScript NAME PATH [process-group= application-group=
 * pass-authorization=]: a handler for SetHandler/AddHandler NAME whose
 * WSGI application is PATH's handle_request(). */
static const char *wsgi_set_handler_script(cmd_parms *cmd, void *dconf,
                                           const char *args)
{
    wsgi_dir_config *dc = dconf;
    wsgi_handler_script *hs = apr_pcalloc(cmd->pool, sizeof(*hs));
    wsgi_alias opts;
    const char *path, *err;

    hs->name = ap_getword_conf(cmd->pool, &args);
    path = ap_getword_conf(cmd->pool, &args);
    if (!*hs->name || !*path)
        return "WSGIHandlerScript needs a handler name and a script path, "
               "e.g. WSGIHandlerScript python-page /srv/handler.wsgi";
    if (!strcmp(hs->name, WSGI_HANDLER_NAME))
        return "WSGIHandlerScript: 'wsgi-script' is mod_wsgi's own "
               "handler; choose another name";
    hs->script = ap_server_root_relative(cmd->pool, path);
    memset(&opts, 0, sizeof(opts));
    opts.pass_authorization = WSGI_UNSET;
    err = wsgi_parse_alias_options(cmd, &args, &opts, 2);
    if (err != NULL)
        return err;
    hs->process_group = opts.process_group;
    hs->application_group = opts.application_group;
    hs->pass_authorization = opts.pass_authorization;
    if (dc->handler_scripts == NULL)
        dc->handler_scripts = apr_hash_make(cmd->pool);
    apr_hash_set(dc->handler_scripts, hs->name, APR_HASH_KEY_STRING, hs);
    return NULL;
}

/* WSGIRestrictProcess g1 g2 ...: the process groups a WSGIProcessGroup
 * %{ENV:...} (or any other setting) may pick here. */
static const char *wsgi_set_restrict_process(cmd_parms *cmd, void *dconf,
                                             const char *v)
{
    wsgi_dir_config *dc = dconf;

    if (!*v || (!strncmp(v, "%{", 2) && strcmp(v, "%{GLOBAL}")))
        return apr_psprintf(cmd->pool, "WSGIRestrictProcess: '%s' is not a "
                            "process group name; list the WSGIDaemonProcess "
                            "names (or %%{GLOBAL} for embedded) allowed "
                            "here", v);
    if (dc->restrict_process == NULL)
        dc->restrict_process = apr_array_make(cmd->pool, 2,
                                              sizeof(const char *));
    APR_ARRAY_PUSH(dc->restrict_process, const char *) =
        strcmp(v, "%{GLOBAL}") ? apr_pstrdup(cmd->pool, v) : "";
    return NULL;
}

static const char *wsgi_set_trusted_proxy_headers(cmd_parms *cmd,
                                                  void *dconf, const char *v)
{
    wsgi_dir_config *dc = dconf;
    const char *name;
    int purpose, i;

    if ((name = wsgi_proxy_header_name(v, &purpose)) == NULL)
        return apr_psprintf(cmd->pool, "WSGITrustedProxyHeaders: '%s' is "
                            "not a proxy header mod_wsgi knows; use "
                            "X-Forwarded-For, X-Client-IP, X-Real-IP, "
                            "X-Forwarded-Proto, X-Forwarded-Scheme, "
                            "X-Forwarded-HTTPS, X-Forwarded-SSL, X-HTTPS, "
                            "X-Scheme, X-Forwarded-Host, X-Host, "
                            "X-Forwarded-Port, X-Forwarded-Server, "
                            "X-Script-Name or X-Forwarded-Script-Name", v);
    if (dc->trusted_proxy_headers == NULL)
        dc->trusted_proxy_headers =
            apr_array_make(cmd->pool, 2, sizeof(const char *));
    for (i = 0; i < dc->trusted_proxy_headers->nelts; i++) {
        int other = 0;

        wsgi_proxy_header_name(APR_ARRAY_IDX(dc->trusted_proxy_headers, i,
                                             const char *), &other);
        if (other == purpose)
            return apr_psprintf(cmd->pool, "WSGITrustedProxyHeaders: '%s' "
                                "and '%s' say the same thing; trust the one "
                                "header your proxy sets", APR_ARRAY_IDX(
                                    dc->trusted_proxy_headers, i,
                                    const char *), name);
    }
    APR_ARRAY_PUSH(dc->trusted_proxy_headers, const char *) = name;
    return NULL;
}

static const char *wsgi_set_trusted_proxies(cmd_parms *cmd, void *dconf,
                                            const char *v)
{
    wsgi_dir_config *dc = dconf;
    char *ip = apr_pstrdup(cmd->pool, v), *mask = strchr(ip, '/');
    apr_ipsubnet_t *subnet;

    if (mask)
        *mask++ = '\0';
    if (apr_ipsubnet_create(&subnet, ip, mask, cmd->pool) != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "WSGITrustedProxies: '%s' is not an "
                            "IP address or address/prefix (e.g. 10.0.0.1 or "
                            "10.0.0.0/8)", v);
    if (dc->trusted_proxies == NULL)
        dc->trusted_proxies =
            apr_array_make(cmd->pool, 2, sizeof(apr_ipsubnet_t *));
    APR_ARRAY_PUSH(dc->trusted_proxies, apr_ipsubnet_t *) = subnet;
    return NULL;
}

static const char *wsgi_set_socket_prefix(cmd_parms *cmd, void *dummy,
                                          const char *v)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    wsgi_socket_prefix = ap_runtime_dir_relative(cmd->pool, v);
    if (wsgi_socket_prefix == NULL)
        return apr_psprintf(cmd->pool, "WSGISocketPrefix: invalid path "
                            "'%s'", v);
    return NULL;
}

static const char *wsgi_set_socket_rotation(cmd_parms *cmd, void *dummy,
                                            int on)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    wsgi_socket_rotation = on;
    return NULL;
}

static const char *wsgi_set_restrict_embedded(cmd_parms *cmd, void *dummy,
                                              int on)
{
    const char *err = wsgi_global_only(cmd);

    (void)dummy;
    if (err)
        return err;
    wsgi_restrict_embedded = on;
    return NULL;
}

/* Directives that upstream removed or that no longer do anything: old
 * configs must still load, so they are accepted with a notice. */
static const char *wsgi_set_obsolete(cmd_parms *cmd, void *dummy,
                                     const char *args)
{
    (void)dummy;
    (void)args;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, cmd->server,
                 WSGI_LOGNO(0001) "%s (%s:%d) is obsolete and ignored; "
                 "remove it from the configuration",
                 cmd->cmd->name,
                 cmd->directive ? cmd->directive->filename : "?",
                 cmd->directive ? cmd->directive->line_num : 0);
    return NULL;
}

/*
 * Upstream 6.x directives this version does not act on yet (metrics and
 * telemetry, the concurrency modes): a config written for upstream must
 * load, so each is checked as upstream checks it (a wrong value still
 * fails configtest, naming the directive) and then accepted with a notice
 * that says it has no effect here. cmd->info says what the value is.
 */
static const char *wsgi_set_not_yet(cmd_parms *cmd, void *dummy,
                                    const char *args)
{
    const char *kind = cmd->info, *word, *err = wsgi_global_only(cmd);
    const char *rest = args;

    (void)dummy;
    if (err)
        return err;
    word = ap_getword_conf(cmd->temp_pool, &rest);
    if (!strcmp(kind, "flag") && strcasecmp(word, "On") &&
        strcasecmp(word, "Off"))
        err = "must be On or Off";
    else if (!strcmp(kind, "socket") && strncmp(word, "unix:", 5))
        err = "must be unix:/path/to/socket, then optional interval=N";
    else if (!strcmp(kind, "options") && !*word)
        err = "needs flags (+CaptureUserAgent ...), None or All";
    if (err)
        return apr_psprintf(cmd->pool, "%s %s", cmd->cmd->name, err);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, cmd->server,
                 WSGI_LOGNO(0003) "%s (%s:%d) is accepted for "
                 "compatibility with upstream mod_wsgi 6.x, but this "
                 "version does not act on it yet", cmd->cmd->name,
                 cmd->directive ? cmd->directive->filename : "?",
                 cmd->directive ? cmd->directive->line_num : 0);
    return NULL;
}

#define WSGI_SOFF(f) ((void *)APR_OFFSETOF(wsgi_server_config, f))
#define WSGI_DOFF(f) ((void *)APR_OFFSETOF(wsgi_dir_config, f))
#define WSGI_ANY (RSRC_CONF | ACCESS_CONF | OR_FILEINFO)

const command_rec wsgi_commands[] = {
    AP_INIT_RAW_ARGS("WSGIScriptAlias", wsgi_set_script_alias, NULL,
                     RSRC_CONF, "URL-path, script file or directory, "
                     "then options"),
    AP_INIT_RAW_ARGS("WSGIScriptAliasMatch", wsgi_set_script_alias, "m",
                     RSRC_CONF, "URL regex, script file or directory with "
                     "$N, then options"),
    AP_INIT_RAW_ARGS("WSGIImportScript", wsgi_set_import_script, NULL,
                     RSRC_CONF, "script, process-group= and "
                     "application-group="),
    AP_INIT_RAW_ARGS("WSGIDaemonProcess", wsgi_add_daemon, NULL, RSRC_CONF,
                     "group name, then options (processes=, threads=, "
                     "user=, ...)"),
    AP_INIT_TAKE1("WSGISocketPrefix", wsgi_set_socket_prefix, NULL,
                  RSRC_CONF, "path prefix of the daemon sockets"),
    AP_INIT_FLAG("WSGISocketRotation", wsgi_set_socket_rotation, NULL,
                 RSRC_CONF, "On: a new socket name on every restart"),
    AP_INIT_FLAG("WSGIRestrictEmbedded", wsgi_set_restrict_embedded, NULL,
                 RSRC_CONF, "On: no Python in Apache's own processes"),
    AP_INIT_TAKE1("WSGIApplicationGroup", wsgi_set_application_group, NULL,
                  RSRC_CONF | ACCESS_CONF, "interpreter name or %{...}"),
    AP_INIT_TAKE1("WSGIProcessGroup", wsgi_set_process_group, NULL,
                  RSRC_CONF | ACCESS_CONF, "process group name or %{...}"),
    AP_INIT_RAW_ARGS("WSGIAccessScript", wsgi_set_hook_script,
                     WSGI_DOFF(access_script), OR_AUTHCFG,
                     "a script whose allow_access(environ, host) decides "
                     "who may reach the location"),
    AP_INIT_RAW_ARGS("WSGIAuthUserScript", wsgi_set_hook_script,
                     WSGI_DOFF(auth_user_script), OR_AUTHCFG,
                     "a script whose check_password() (Basic) or "
                     "get_realm_hash() (Digest) backs AuthBasicProvider / "
                     "AuthDigestProvider wsgi"),
    AP_INIT_RAW_ARGS("WSGIAuthGroupScript", wsgi_set_hook_script,
                     WSGI_DOFF(auth_group_script), OR_AUTHCFG,
                     "a script whose groups_for_user() backs Require "
                     "wsgi-group"),
    AP_INIT_RAW_ARGS("WSGIHandlerScript", wsgi_set_handler_script, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "a handler name and a script whose handle_request() "
                     "serves what SetHandler/AddHandler give that name"),
    AP_INIT_RAW_ARGS("WSGIDispatchScript", wsgi_set_hook_script,
                     WSGI_DOFF(dispatch_script), RSRC_CONF | ACCESS_CONF,
                     "a script whose process_group(), application_group() "
                     "and callable_object() choose per request"),
    AP_INIT_ITERATE("WSGIRestrictProcess", wsgi_set_restrict_process, NULL,
                    ACCESS_CONF, "process groups that may be selected here"),
    AP_INIT_ITERATE("WSGITrustedProxyHeaders",
                    wsgi_set_trusted_proxy_headers, NULL, WSGI_ANY,
                    "proxy headers that rewrite the environ"),
    AP_INIT_ITERATE("WSGITrustedProxies", wsgi_set_trusted_proxies, NULL,
                    WSGI_ANY, "addresses of trusted proxies (ip or ip/bits)"),
    AP_INIT_TAKE1("WSGICallableObject", wsgi_set_callable_object, NULL,
                  WSGI_ANY, "name of the WSGI callable"),
    AP_INIT_FLAG("WSGIPassAuthorization", wsgi_set_dir_flag,
                 WSGI_DOFF(pass_authorization), WSGI_ANY,
                 "pass the Authorization header to the application"),
    AP_INIT_FLAG("WSGIScriptReloading", wsgi_set_dir_flag,
                 WSGI_DOFF(script_reloading), WSGI_ANY,
                 "reload a script when its modification time changes"),
    AP_INIT_FLAG("WSGIChunkedRequest", wsgi_set_dir_flag,
                 WSGI_DOFF(chunked_request), WSGI_ANY,
                 "accept chunked request bodies"),
    AP_INIT_TAKE1("WSGIMapHEADToGET", wsgi_set_map_head, NULL, WSGI_ANY,
                  "On, Off or Auto"),
    AP_INIT_FLAG("WSGIErrorOverride", wsgi_set_dir_flag,
                 WSGI_DOFF(error_override), WSGI_ANY,
                 "let Apache ErrorDocuments replace application errors"),
    AP_INIT_FLAG("WSGIIgnoreActivity", wsgi_set_dir_flag,
                 WSGI_DOFF(ignore_activity), WSGI_ANY,
                 "On: requests here do not count against "
                 "inactivity-timeout (health checks)"),
    AP_INIT_FLAG("WSGIEnableSendfile", wsgi_set_dir_flag,
                 WSGI_DOFF(enable_sendfile), WSGI_ANY,
                 "send wsgi.file_wrapper files with sendfile()"),
    AP_INIT_FLAG("WSGIPassApacheRequest", wsgi_set_dir_flag,
                 WSGI_DOFF(pass_apache_request), RSRC_CONF | ACCESS_CONF,
                 "add apache.request_rec to the environ"),
    AP_INIT_TAKE1("WSGIPythonHome", wsgi_set_python_home, NULL, RSRC_CONF,
                  "virtual environment or Python prefix (sys.prefix)"),
    AP_INIT_TAKE1("WSGIPythonPath", wsgi_set_python_path, NULL, RSRC_CONF,
                  "colon separated directories added to sys.path"),
    AP_INIT_TAKE1("WSGIPythonOptimize", wsgi_set_python_optimize, NULL,
                  RSRC_CONF, "0, 1 or 2"),
    AP_INIT_TAKE1("WSGIPythonHashSeed", wsgi_set_python_hash_seed, NULL,
                  RSRC_CONF, "random or 0..4294967295"),
    AP_INIT_TAKE1("WSGIPythonWarnings", wsgi_set_python_warnings, NULL,
                  RSRC_CONF, "a warnings filter, as python -W"),
    AP_INIT_TAKE1("WSGISwitchInterval", wsgi_set_switch_interval, NULL,
                  RSRC_CONF, "GIL switch interval in seconds"),
    AP_INIT_TAKE1("WSGIPythonEggs", wsgi_set_python_eggs, NULL, RSRC_CONF,
                  "directory for PYTHON_EGG_CACHE"),
    AP_INIT_FLAG("WSGIDontWriteBytecode", wsgi_set_server_flag,
                 WSGI_SOFF(dont_write_bytecode), RSRC_CONF,
                 "do not write .pyc files"),
    AP_INIT_FLAG("WSGIRestrictStdin", wsgi_set_server_flag,
                 WSGI_SOFF(restrict_stdin), RSRC_CONF,
                 "make sys.stdin raise on use"),
    AP_INIT_FLAG("WSGIRestrictStdout", wsgi_set_server_flag,
                 WSGI_SOFF(restrict_stdout), RSRC_CONF,
                 "make sys.stdout raise on use"),
    AP_INIT_FLAG("WSGIRestrictSignal", wsgi_set_server_flag,
                 WSGI_SOFF(restrict_signal), RSRC_CONF,
                 "ignore signal.signal() calls from applications"),
    AP_INIT_FLAG("WSGIDestroyInterpreter", wsgi_set_server_flag,
                 WSGI_SOFF(destroy_interpreter), RSRC_CONF,
                 "finalise Python (running atexit) when a process exits"),
    AP_INIT_FLAG("WSGICaseSensitivity", wsgi_set_server_flag,
                 WSGI_SOFF(case_sensitivity), RSRC_CONF,
                 "whether script paths are case sensitive"),
    AP_INIT_FLAG("WSGIServerMetrics", wsgi_set_server_flag,
                 WSGI_SOFF(server_metrics), RSRC_CONF,
                 "On: mod_wsgi.server_metrics() returns Apache's scoreboard "
                 "in embedded mode"),
    AP_INIT_RAW_ARGS("WSGITelemetryService", wsgi_set_not_yet, "socket",
                     RSRC_CONF, "unix:/path [interval=N] (not yet)"),
    AP_INIT_RAW_ARGS("WSGITelemetryOptions", wsgi_set_not_yet, "options",
                     RSRC_CONF, "+CaptureUserAgent, None, All (not yet)"),
    AP_INIT_TAKE1("WSGISlowRequests", wsgi_set_slow_requests, NULL,
                  RSRC_CONF, "seconds after which a running request is "
                  "logged with its stack"),
    AP_INIT_FLAG("WSGIPerInterpreterGIL", wsgi_set_per_interpreter_gil,
                 WSGI_SOFF(per_interpreter_gil), RSRC_CONF,
                 "On: application groups other than %{GLOBAL} get a "
                 "sub-interpreter with its own GIL (Python 3.12+)"),
    AP_INIT_FLAG("WSGIFreeThreading", wsgi_set_free_threading,
                 WSGI_SOFF(free_threading), RSRC_CONF,
                 "On: no GIL on a free-threaded Python (3.13t+); Off "
                 "(default): the GIL is on even there"),
    AP_INIT_RAW_ARGS("<WSGIInterpreterOptions", wsgi_set_interp_options,
                     NULL, RSRC_CONF, "settings for the interpreters of a "
                     "process-group= and/or application-group="),
    AP_INIT_RAW_ARGS("WSGILazyInitialization", wsgi_set_obsolete, NULL,
                     RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGIVerboseDebugging", wsgi_set_obsolete, NULL,
                     RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGINewRelicConfigFile", wsgi_set_obsolete, NULL,
                     RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGINewRelicEnvironment", wsgi_set_obsolete, NULL,
                     RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGIUserAuthoritative", wsgi_set_obsolete, NULL,
                     OR_AUTHCFG | RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGIGroupAuthoritative", wsgi_set_obsolete, NULL,
                     OR_AUTHCFG | RSRC_CONF, "obsolete, ignored"),
    AP_INIT_RAW_ARGS("WSGIAcceptMutex", wsgi_set_obsolete, NULL,
                     RSRC_CONF, "obsolete, ignored"),
    {NULL}
};
