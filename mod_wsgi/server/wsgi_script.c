/*
 * wsgi_script.c: loading WSGI scripts as modules, reloading them when
 * they change, and preloading them when a process starts.
 *
 * A script is a module named _mod_wsgi_<md5 of its path>, so two scripts
 * with the same file name in different directories never collide, and a
 * script is loaded once per interpreter however many URLs map to it.
 */

#include "wsgi_common.h"

static const char *wsgi_module_name(apr_pool_t *p, const char *filename)
{
    unsigned char digest[APR_MD5_DIGESTSIZE];
    char *key = apr_pstrdup(p, filename), *hex, *o;
    int i;

    if (!WSGI_SERVER_FLAG(wsgi_server, case_sensitivity))
        ap_str_tolower(key);
    apr_md5(digest, key, strlen(key));
    hex = apr_palloc(p, sizeof("_mod_wsgi_") + 2 * APR_MD5_DIGESTSIZE);
    o = hex + sprintf(hex, "_mod_wsgi_");
    for (i = 0; i < APR_MD5_DIGESTSIZE; i++)
        o += sprintf(o, "%02x", digest[i]);
    return hex;
}

/* Returns 1 when the cached module cannot be used as it is: loaded from
 * an older file (when reloading), or still being loaded by another
 * thread: __mtime__ is set only once the script ran to its end, so a
 * half-run module, which sys.modules already holds, is never served. */
static int wsgi_module_stale(PyObject *module, apr_time_t mtime, int reload)
{
    PyObject *v = PyObject_GetAttrString(module, "__mtime__");
    long long loaded;

    if (v == NULL) {
        PyErr_Clear();
        return 1;
    }
    if (!reload) {
        Py_DECREF(v);
        return 0;
    }
    loaded = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return loaded != (long long)mtime;
}

/* Reads, compiles and runs the script into a fresh module that replaces
 * any older one in sys.modules. Returns a new reference or NULL with a
 * Python error set. */
static PyObject *wsgi_exec_script(apr_pool_t *p, const char *name,
                                  const char *filename, apr_time_t mtime)
{
    PyObject *module = NULL, *code = NULL, *fname = NULL, *res = NULL;
    PyObject *dict, *modules = PyImport_GetModuleDict();  /* borrowed */
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    apr_size_t got = 0;
    apr_status_t rv;
    char *source;

    rv = apr_file_open(&f, filename, APR_FOPEN_READ, 0, p);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS) {
        char buf[256];

        PyErr_Format(PyExc_OSError, "cannot read WSGI script '%s': %s",
                     filename, apr_strerror(rv, buf, sizeof(buf)));
        goto done;
    }
    source = apr_palloc(p, (apr_size_t)fi.size + 1);
    rv = apr_file_read_full(f, source, (apr_size_t)fi.size, &got);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        PyErr_Format(PyExc_OSError, "error reading WSGI script '%s'",
                     filename);
        goto done;
    }
    source[got] = '\0';

    fname = PyUnicode_DecodeFSDefault(filename);
    if (fname == NULL)
        goto done;
    /* The tokenizer honours a PEP 263 coding declaration. */
    code = Py_CompileStringObject(source, fname, Py_file_input, NULL, -1);
    if (code == NULL)
        goto done;
    module = PyModule_New(name);
    if (module == NULL)
        goto done;
    dict = PyModule_GetDict(module);                    /* borrowed */
    if (PyDict_SetItemString(dict, "__file__", fname) < 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0)
        goto fail;
    /* In sys.modules while it runs, as the import system does, so the
     * script's own imports of itself see the module being built. */
    if (PyDict_SetItemString(modules, name, module) < 0)
        goto fail;
    res = PyEval_EvalCode(code, dict, dict);
    if (res == NULL) {
        PyObject *t, *v, *tb;

        /* A failed load leaves no module, so the next request retries
         * and reports the error again. */
        PyErr_Fetch(&t, &v, &tb);
        if (PyDict_DelItemString(modules, name) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
        goto fail;
    }
    Py_CLEAR(res);
    /* Marks the module complete (see wsgi_module_stale). */
    res = PyLong_FromLongLong((long long)mtime);
    if (res == NULL || PyDict_SetItemString(dict, "__mtime__", res) < 0) {
        if (PyDict_DelItemString(modules, name) < 0)
            PyErr_Clear();
        goto fail;
    }
    goto done;
fail:
    Py_CLEAR(module);
done:
    if (f != NULL)
        apr_file_close(f);
    Py_XDECREF(res);
    Py_XDECREF(code);
    Py_XDECREF(fname);
    return module;
}

PyObject *wsgi_load_script(wsgi_interp *wi, request_rec *r,
                           const char *filename, apr_time_t mtime, int reload,
                           apr_pool_t *p)
{
    const char *name = wsgi_module_name(p, filename);
    PyObject *modules = PyImport_GetModuleDict();       /* borrowed */
    PyObject *module;
    apr_finfo_t fi;

    /* Unless the caller stat'ed the script for this request already. */
    if (mtime == 0 && r != NULL && r->finfo.filetype == APR_REG)
        mtime = r->finfo.mtime;
    else if (mtime == 0 &&
             apr_stat(&fi, filename, APR_FINFO_MTIME, p) == APR_SUCCESS)
        mtime = fi.mtime;

    module = PyDict_GetItemString(modules, name);        /* borrowed */
    if (module != NULL && !wsgi_module_stale(module, mtime, reload)) {
        Py_INCREF(module);
        return module;
    }

    /* One thread loads; the others wait without the GIL, then use what
     * it loaded. */
    Py_BEGIN_ALLOW_THREADS
    apr_thread_mutex_lock(wi->load_lock);
    Py_END_ALLOW_THREADS
    module = PyDict_GetItemString(modules, name);        /* borrowed */
    if (module != NULL && !wsgi_module_stale(module, mtime, reload)) {
        Py_INCREF(module);
    }
    else {
        if (module != NULL && r != NULL)
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "mod_wsgi (pid=%d): reloading WSGI script '%s' "
                          "(modified)", (int)getpid(), filename);
        module = wsgi_exec_script(p, name, filename, mtime);
    }
    apr_thread_mutex_unlock(wi->load_lock);
    return module;
}

static void wsgi_preload_one(apr_pool_t *p, server_rec *s,
                             const char *script, const char *pgroup,
                             const char *agroup)
{
    const char *name;
    wsgi_interp *wi;
    PyObject *module;

    /* Each process loads the scripts meant for it: Apache's children
     * those of %{GLOBAL}, a daemon those of its group. */
    if (wsgi_daemon_self != NULL ? strcmp(pgroup, wsgi_daemon_self->name)
                                 : (strcmp(pgroup, "%{GLOBAL}") && *pgroup))
        return;
    name = strcmp(agroup, "%{GLOBAL}") ? agroup : "";
    wi = wsgi_acquire_interp(name, NULL);
    if (wi == NULL)
        return;
    module = wsgi_load_script(wi, NULL, script, 0, 0, p);
    if (module == NULL) {
        const char *line = wsgi_gil_hint(p, script, agroup);

        if (line != NULL)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "%s", line);
        wsgi_log_python_error(NULL, s, WSGI_LOGNO(0401) "failed to preload "
                              "WSGI script '%s' into application group "
                              "'%s'", script, agroup);
    }
    Py_XDECREF(module);
    wsgi_release_interp(wi);
}

void wsgi_preload_scripts(apr_pool_t *p, server_rec *s)
{
    server_rec *vs;
    int i;

    for (vs = s; vs; vs = vs->next) {
        wsgi_server_config *sc =
            ap_get_module_config(vs->module_config, &wsgi_module);

        for (i = 0; i < sc->imports->nelts; i++) {
            wsgi_import *imp = &APR_ARRAY_IDX(sc->imports, i, wsgi_import);

            wsgi_preload_one(p, vs, imp->script, imp->process_group,
                             imp->application_group);
        }
        /* An alias naming both groups literally can be loaded before the
         * first request, like upstream does. */
        for (i = 0; i < sc->aliases->nelts; i++) {
            wsgi_alias *a = &APR_ARRAY_IDX(sc->aliases, i, wsgi_alias);

            if (a->process_group == NULL || a->application_group == NULL ||
                a->regexp != NULL || strchr(a->target, '$'))
                continue;
            if (strstr(a->application_group, "%{") &&
                strcmp(a->application_group, "%{GLOBAL}"))
                continue;
            if (!ap_is_directory(p, a->target))
                wsgi_preload_one(p, vs, a->target, a->process_group,
                                 a->application_group);
        }
    }
}
