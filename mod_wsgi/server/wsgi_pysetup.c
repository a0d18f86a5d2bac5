/*
 * wsgi_pysetup.c: what every interpreter gets when it is made, main and
 * sub alike: the in-process mod_wsgi module, sys.stdout/stderr/stdin as
 * the configuration says, sys.path (the mode's own, then a
 * <WSGIInterpreterOptions> section's), the switch interval, the
 * signal.signal() guard, and the Python half of the module (events,
 * shutdown callbacks, stack dumps, LogHandler), which is best said in
 * Python. Called by wsgi_interp.c with the interpreter's GIL held.
 */

#include "wsgi_common.h"

/* The part of interpreter set-up best said in Python. It runs once in
 * each interpreter with the in-process mod_wsgi module as `module`. */
static const char wsgi_bootstrap[] =
    "import sys\n"
    "def _setup(module, paths, restrict_signal, switch_interval):\n"
    "    import site\n"
    "    before = set(sys.path)\n"
    "    for path in paths:\n"
    "        site.addsitedir(path)\n"
    "    added = [p for p in sys.path if p not in before]\n"
    "    sys.path[:] = added + [p for p in sys.path if p in before]\n"
    "    if switch_interval > 0:\n"
    "        sys.setswitchinterval(switch_interval)\n"
    "    if restrict_signal:\n"
    "        import signal\n"
    "        def _restricted(signalnum, handler):\n"
    "            module._log(4, 'WSGI0301: signal.signal(%r, ...) ignored: "
    "applications may not change signal handlers inside Apache "
    "(WSGIRestrictSignal Off allows it)' % (signalnum,))\n"
    "            return signal.getsignal(signalnum)\n"
    "        signal.signal = _restricted\n"
    "    event_callbacks = []\n"
    "    shutdown_callbacks = []\n"
    "    def subscribe_events(callback):\n"
    "        event_callbacks.append(callback)\n"
    "        return callback\n"
    "    def subscribe_shutdown(callback):\n"
    "        shutdown_callbacks.append(callback)\n"
    "        return callback\n"
    "    def _process_stopping(reason):\n"
    "        for callback in list(shutdown_callbacks) + "
    "list(event_callbacks):\n"
    "            try:\n"
    "                callback('process_stopping', shutdown_reason=reason)\n"
    "            except BaseException:\n"
    "                import traceback\n"
    "                module._log(3, 'WSGI0302: shutdown callback %r "
    "failed:\\n' % (callback,) + traceback.format_exc())\n"
    "    signal_callbacks = []\n"
    "    def subscribe_signals(callback):\n"
    "        if not module.process_group:\n"
    "            module._log(4, 'WSGI0303: mod_wsgi.subscribe_signals(%r) "
    "ignored: signals reach applications in daemon mode only "
    "(WSGIDaemonProcess); in embedded mode they belong to Apache' % "
    "(callback,))\n"
    "            return callback\n"
    "        signal_callbacks.append(callback)\n"
    "        module._signals_wanted()\n"
    "        return callback\n"
    "    def _process_signal(signum, name):\n"
    "        for callback in list(signal_callbacks):\n"
    "            try:\n"
    "                callback('process_signal', signal=signum, "
    "signal_name=name)\n"
    "            except BaseException:\n"
    "                import traceback\n"
    "                module._log(3, 'WSGI0304: signal callback %r "
    "failed:\\n' % (callback,) + traceback.format_exc())\n"
    "    def _dispatch(name, event):\n"
    "        for callback in list(event_callbacks):\n"
    "            try:\n"
    "                more = callback(name, **event)\n"
    "            except BaseException:\n"
    "                import traceback\n"
    "                module._log(3, 'WSGI0305: event callback %r failed on "
    "%s; the request goes on:\\n' % (callback, name) + "
    "traceback.format_exc())\n"
    "                continue\n"
    "            if isinstance(more, dict):\n"
    "                event.update(more)\n"
    "    module._dispatch = _dispatch\n"
    "    def _dump_stacks(head, notes, only, frames=None):\n"
    "        import threading, traceback\n"
    "        names = dict((t.ident, t.name) for t in threading.enumerate())\n"
    "        me = threading.get_ident()\n"
    "        lines = [head]\n"
    "        if frames is None:\n"
    "            frames = sys._current_frames().items()\n"
    "        for tid, frame in sorted(frames, key=lambda x: x[0]):\n"
    "            if tid == me or (only and tid != only):\n"
    "                continue\n"
    "            note = notes.get(tid)\n"
    "            lines.append('Thread %d (%s)%s, most recent call last:' % "
    "(tid, names.get(tid, 'started outside Python'), "
    "': ' + note if note else ''))\n"
    "            for entry in traceback.format_stack(frame):\n"
    "                lines.extend(entry.rstrip('\\n').split('\\n'))\n"
    "        module._log(3, '\\n'.join(lines))\n"
    "    module._dump_stacks = _dump_stacks\n"
    "    def __getattr__(name):\n"
    "        if name != 'LogHandler':\n"
    "            raise AttributeError('module mod_wsgi has no attribute %r' "
    "% (name,))\n"
    "        import logging\n"
    "        class LogHandler(logging.Handler):\n"
    "            'Python logging records into Apache\\'s error log at "
    "their own level, with the request of the thread that logs.'\n"
    "            def emit(self, record):\n"
    "                try:\n"
    "                    text = self.format(record)\n"
    "                    n = record.levelno\n"
    "                    level = (2 if n >= 50 else 3 if n >= 40 else "
    "4 if n >= 30 else 6 if n >= 20 else 7)\n"
    "                    module._log(level, text)\n"
    "                except Exception:\n"
    "                    self.handleError(record)\n"
    "        LogHandler.__module__ = 'mod_wsgi'\n"
    "        module.LogHandler = LogHandler\n"
    "        return LogHandler\n"
    "    module.__getattr__ = __getattr__\n"
    "    module.signal_callbacks = signal_callbacks\n"
    "    module.subscribe_signals = subscribe_signals\n"
    "    module._process_signal = _process_signal\n"
    "    module.event_callbacks = event_callbacks\n"
    "    module.shutdown_callbacks = shutdown_callbacks\n"
    "    module.subscribe_events = subscribe_events\n"
    "    module.subscribe_shutdown = subscribe_shutdown\n"
    "    module._process_stopping = _process_stopping\n"
    "    module.active_requests = {}\n"
    "    class RequestTimeout(BaseException):\n"
    "        'Raised in a request that ran past request-timeout, when "
    "interrupt-timeout is set.'\n"
    "    RequestTimeout.__module__ = 'mod_wsgi'\n"
    "    RequestTimeout.__qualname__ = 'RequestTimeout'\n"
    "    module.RequestTimeout = RequestTimeout\n"
    "    try:\n"
    "        import importlib.machinery\n"
    "        spec = importlib.machinery.PathFinder.find_spec('mod_wsgi')\n"
    "        if spec is not None and spec.submodule_search_locations:\n"
    "            module.__path__ = list(spec.submodule_search_locations)\n"
    "    except Exception:\n"
    "        pass\n";

/* Runs with the GIL held and wi's interpreter current. Returns 0 on
 * success; on failure the Python error has been logged. */
/* Appends each directory of dirs (of const char *) to the list. */
static int wsgi_interp_add_paths(PyObject *paths,
                                 const apr_array_header_t *dirs)
{
    int i, rc = 0;

    for (i = 0; rc == 0 && dirs != NULL && i < dirs->nelts; i++) {
        PyObject *s =
            PyUnicode_DecodeFSDefault(APR_ARRAY_IDX(dirs, i, const char *));

        if (s == NULL || PyList_Append(paths, s) < 0)
            rc = -1;
        Py_XDECREF(s);
    }
    return rc;
}

int wsgi_interp_setup(wsgi_interp *wi, const wsgi_interp_settings *is)
{
    wsgi_server_config *sc = wsgi_server;
    PyObject *module = NULL, *globals = NULL, *res = NULL, *paths = NULL;
    PyObject *setup, *modules, *restricted = NULL;
    double interval;
    int rc = -1;

    module = wsgi_module_create(wi);
    if (module == NULL)
        goto fail;
    modules = PyImport_GetModuleDict();                 /* borrowed */
    if (PyDict_SetItemString(modules, "mod_wsgi", module) < 0)
        goto fail;

    wi->log_stderr = wsgi_log_new(NULL, APLOG_ERR, "<stderr>");
    if (wi->log_stderr == NULL)
        goto fail;
    if (is->restrict_stdout)
        wi->log_stdout = wsgi_restricted_new("sys.stdout",
                                             "WSGIRestrictStdout");
    else
        wi->log_stdout = wsgi_log_new(NULL, APLOG_ERR, "<stdout>");
    if (wi->log_stdout == NULL)
        goto fail;
    if (PySys_SetObject("stderr", wi->log_stderr) < 0 ||
        PySys_SetObject("stdout", wi->log_stdout) < 0)
        goto fail;
    if (is->restrict_stdin) {
        restricted = wsgi_restricted_new("sys.stdin", "WSGIRestrictStdin");
        if (restricted == NULL || PySys_SetObject("stdin", restricted) < 0)
            goto fail;
    }

    wi->environ_template = wsgi_environ_template();
    if (wi->environ_template == NULL)
        goto fail;

    paths = PyList_New(0);
    if (paths == NULL)
        goto fail;
    /* WSGIPythonPath is embedded mode's; a daemon group has its own
     * python-path= and does not inherit it (as upstream). */
    if (!wsgi_daemon_self && wsgi_interp_add_paths(paths, sc->python_path))
        goto fail;
    /* A group's home= comes first in sys.path, as upstream puts it
     * (mod_wsgi-express relies on it for the project directory). */
    if (wsgi_daemon_self && wsgi_daemon_self->home) {
        PyObject *s = PyUnicode_DecodeFSDefault(wsgi_daemon_self->home);

        if (s == NULL || PyList_Insert(paths, 0, s) < 0) {
            Py_XDECREF(s);
            goto fail;
        }
        Py_DECREF(s);
    }
    if (wsgi_daemon_self && wsgi_daemon_self->python_path) {
        char *copy = strdup(wsgi_daemon_self->python_path);
        char *tok, *state = NULL;
        int bad = copy == NULL;

        for (tok = copy ? apr_strtok(copy, ":", &state) : NULL;
             !bad && tok; tok = apr_strtok(NULL, ":", &state)) {
            PyObject *s = PyUnicode_DecodeFSDefault(tok);

            bad = s == NULL || PyList_Append(paths, s) < 0;
            Py_XDECREF(s);
        }
        free(copy);
        if (bad)
            goto fail;
    }
    /* A <WSGIInterpreterOptions> section's, after the mode's own. */
    if (wsgi_interp_add_paths(paths, is->python_path))
        goto fail;

    globals = PyDict_New();
    if (globals == NULL)
        goto fail;
    if (PyDict_SetItemString(globals, "__builtins__",
                             PyEval_GetBuiltins()) < 0)
        goto fail;
    res = PyRun_String(wsgi_bootstrap, Py_file_input, globals, globals);
    if (res == NULL)
        goto fail;
    Py_DECREF(res);
    setup = PyDict_GetItemString(globals, "_setup");    /* borrowed */
    if (setup == NULL)
        goto fail;
    interval = is->switch_interval;
    if (is->switch_scoped && !wi->own_gil) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, wsgi_main_server,
                     WSGI_LOGNO(0113) "WSGISwitchInterval %g in the "
                     "<WSGIInterpreterOptions> for application group '%s' "
                     "is not applied: that interpreter shares the "
                     "process's GIL, and its interval is every group's "
                     "(set it with switch-interval= or a section naming "
                     "only process-group=, or give the group its own GIL "
                     "with WSGIPerInterpreterGIL On in the same section)",
                     is->switch_interval, wi->name);
        interval = is->process_switch_interval;
    }
    res = PyObject_CallFunction(setup, "OOid", module, paths,
                                is->restrict_signal, interval);
    if (res == NULL)
        goto fail;
    rc = 0;
fail:
    if (rc != 0)
        wsgi_log_python_error(NULL, wsgi_main_server,
                              WSGI_LOGNO(0102) "failed to set up Python "
                              "interpreter '%s'", wi->name);
    Py_XDECREF(res);
    Py_XDECREF(globals);
    Py_XDECREF(paths);
    Py_XDECREF(restricted);
    Py_XDECREF(module);
    return rc;
}

