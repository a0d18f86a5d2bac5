/*
 * wsgi_daemon.c: WSGIDaemonProcess groups at run time: the processes the
 * Apache parent forks and restarts for them (their options are parsed in
 * wsgi_options.c), and a daemon process's main.
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
#include "scoreboard.h"

#include "apr_signal.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

wsgi_daemon *wsgi_daemon_self = NULL;

static int wsgi_generation = 0;

/* In a daemon process: the pipe on which it tells its supervisor it is
 * ready, or is being replaced (wsgi_monitor_prepare); -1 if none. */
static int wsgi_ready_fd = -1;

/* ------------------------------------------------------ the daemon side */

/*
 * Closes the listening socket of every group but keep (NULL: all) in this
 * process, and forgets it (this process's copy of the list): the number is
 * free from here, and a descriptor made later reuses it. A second close
 * would hit that descriptor (a daemon's ready pipe once went so, and its
 * workers spun; in an Apache child, a client's socket).
 */
void wsgi_daemons_close_sockets(const wsgi_daemon *keep)
{
    int i;

    for (i = 0; wsgi_daemons && i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *o = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        if (o != keep && o->listen_fd >= 0) {
            close(o->listen_fd);
            o->listen_fd = -1;
        }
    }
}

/*
 * SIGUSR1 to one daemon process (kill -USR1 PID) evicts it: a recycle,
 * given eviction-timeout (else graceful-timeout) to finish its requests,
 * its queue left to the replacement. SIGHUP and SIGUSR2 go to the
 * application when it subscribed to them (mod_wsgi.subscribe_signals, as
 * upstream 6 delivers them); without a subscriber SIGHUP stops the
 * process like the others Apache sends, and SIGUSR2 is ignored (it is
 * the signal left to applications: it must not kill the process).
 */
static void wsgi_daemon_signal(int sig)
{
    if ((sig == SIGHUP || sig == SIGUSR2) && wsgi_module_signals_wanted() &&
        wsgi_interp_signal_post(sig) == 0)
        return;
    if (sig != SIGUSR2)
        wsgi_monitor_stop(sig == SIGUSR1 ? WSGI_STOP_EVICTED
                                         : WSGI_STOP_SIGNAL);
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
    /* The soft limit alone keeps the hard one the process has: asking
     * for an infinite one would fail (EPERM) for a process that is no
     * longer root whenever Apache was started under a finite one, even
     * with the value below it. */
    if (!soft_only || getrlimit(resource, &rl) < 0)
        rl.rlim_max = (rlim_t)value;
    rl.rlim_cur = (rlim_t)value;
    if (setrlimit(resource, &rl) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, d->server,
                     WSGI_LOGNO(0734) "daemon group '%s': cannot set "
                     "%s=%" APR_INT64_T_FMT " (above the hard limit Apache "
                     "was started with?); lower it, or raise that limit "
                     "(ulimit -H, LimitCPU=/LimitDATA=/LimitAS= of the "
                     "service)", d->name, opt, value);
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
    apr_pool_t *p, *tp;

    wsgi_daemon_self = d;
    wsgi_prom_join();
    /* Keys of other groups and the master go before any code of this
     * group's can run; the requests this group may take are learnt. */
    wsgi_peer_enter_daemon(pconf, s, d);
    wsgi_daemon_title(pconf, s, d);
    /* Apache's listeners and the other groups' sockets: closed by the
     * supervisor this process was forked from (wsgi_slot_main); closing
     * them again here would close what reused their numbers. */
    if (wsgi_monitor_prepare(wsgi_ready_fd) < 0)
        _exit(APEXIT_CHILDFATAL);
    apr_signal(SIGTERM, wsgi_daemon_signal);
    apr_signal(SIGINT, wsgi_daemon_signal);
    apr_signal(SIGHUP, wsgi_daemon_signal);
    apr_signal(SIGUSR1, wsgi_daemon_signal);
    apr_signal(SIGUSR2, wsgi_daemon_signal);
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
    wsgi_preload_scripts(p, s);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_wsgi (pid=%d): daemon "
                 "group '%s' ready, %d threads", (int)getpid(), d->name,
                 d->threads);

    /* Python owns p from here on (interpreters are created in it, under
     * a lock); threads and worker pools come from tp, this thread's. */
    apr_pool_create(&tp, pconf);
    wsgi_interp_signals_start(tp);
    wsgi_workers_start(d, tp);
    wsgi_monitor_ready();

    /* The monitor returns once the process stops and the requests in
     * flight finished, or were given up on. */
    if (wsgi_monitor_run(d) > 0) {
        /* A thread still in the application holds Python: no atexit, no
         * teardown, just go (the WSGI0732 warning said why). */
        _exit(0);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_wsgi (pid=%d): daemon "
                 "group '%s' stopping", (int)getpid(), d->name);
    wsgi_workers_join();
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
/* fork() failed, for the supervisor or for the process it watches. */
static void wsgi_fork_failed(wsgi_daemon_slot *ds)
{
    int saved = errno;

    ap_log_error(APLOG_MARK, APLOG_CRIT, saved, ds->s, WSGI_LOGNO(0714)
                 "could not fork a process for daemon group '%s'",
                 ds->d->name);
    errno = saved;
}

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
        wsgi_fork_failed(ds);
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
    wsgi_daemons_close_sockets(d);
    title = apr_psprintf(ds->pconf, "(wsgi-supervisor:%s)", d->name);
    wsgi_set_title(ds->s, title);
    apr_signal(SIGTERM, wsgi_slot_signal);
    apr_signal(SIGINT, wsgi_slot_signal);
    apr_signal(SIGHUP, wsgi_slot_signal);
    apr_signal(SIGWINCH, wsgi_slot_signal);
    apr_signal(SIGUSR1, wsgi_slot_signal);
    /* Meant for the daemon process's application (kill -USR2 on the
     * process group reaches this process too). */
    apr_signal(SIGUSR2, SIG_IGN);
    apr_signal(SIGPIPE, SIG_IGN);
    apr_signal(SIGCHLD, SIG_DFL);

    for (;;) {
        struct pollfd pfd;
        char byte;
        pid_t pid;

        if (!wsgi_slot_stop && current == 0) {
            current = wsgi_slot_spawn(ds, quick, &notify);
            ready = 0;
            wsgi_health_note(d, ds->slot, current, WSGI_HEALTH_STARTING);
        }
        if (wsgi_slot_stop && !forwarded) {
            /* Apache stops or restarts: every process of the slot goes,
             * the draining ones too. */
            /* SIGTERM whatever the supervisor got: a daemon process takes
             * SIGHUP (and SIGUSR2) for its application when it asked for
             * them (mod_wsgi.subscribe_signals), and a stop must still
             * be one. */
            if (current > 0)
                kill(current, SIGTERM);
            for (i = 0; i < ndraining; i++)
                kill(draining[i], SIGTERM);
            forwarded = 1;
            wsgi_health_note(d, ds->slot, 0, WSGI_HEALTH_STOPPING);
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

            if (n == 1 && byte == 'R') {
                ready = 1;
                wsgi_health_note(d, ds->slot, current, WSGI_HEALTH_READY);
            }
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
                            WTERMSIG(status) == SIGTERM)) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, ds->s,
                             WSGI_LOGNO(0715) "daemon process %d of group "
                             "'%s' %s; %s", (int)pid, d->name,
                             wsgi_wait_status(ds->pconf, status),
                             wsgi_slot_stop ? "Apache is stopping it"
                                            : "starting a new one");
                wsgi_prom_restart(d->name, -1);
            }
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
        wsgi_fork_failed(ds);
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
                     "daemon group '%s': cannot give socket '%s' to uid %d; "
                     "Apache's children cannot connect to it, so requests "
                     "to this group get 503 (check socket-user= and the "
                     "filesystem of WSGISocketPrefix)", d->name,
                     d->socket_path, (int)d->socket_uid);
    d->listen_fd = fd;
    d->listen_uid = geteuid();
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

/* Between wsgi_daemons_start and wsgi_daemons_fork (Apache's parent). */
static apr_pool_t *wsgi_fork_pconf = NULL;
static server_rec *wsgi_fork_server = NULL;

/* Apache unloads and loads this module again at each restart, so a
 * static counter would start from 0 every time and WSGISocketRotation On
 * would reuse the path it should rotate: the count lives in the parent's
 * process pool, which outlives the restarts. */
static int wsgi_next_generation(server_rec *s)
{
    apr_pool_t *keep = s->process->pool;
    void *data = NULL;
    int *count;

    apr_pool_userdata_get(&data, "wsgi_generation", keep);
    count = data;
    if (count == NULL) {
        count = apr_pcalloc(keep, sizeof(*count));
        apr_pool_userdata_set(count, "wsgi_generation",
                              apr_pool_cleanup_null, keep);
    }
    return ++*count;
}

int wsgi_daemons_start(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const char *prefix, *problem;
    int i;

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
    wsgi_generation = wsgi_next_generation(s);
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
    wsgi_fork_pconf = pconf;
    wsgi_fork_server = s;
    /* The processes see Apache's scoreboard (mod_wsgi.server_metrics())
     * only if they are forked after it exists: at the first start the
     * MPM makes it after this hook, so they wait for wsgi_daemons_fork
     * from pre_mpm. At a restart it is there already. */
    return ap_exists_scoreboard_image() ? wsgi_daemons_fork() : OK;
}

/* Forks the supervisor of every process slot of the generation that
 * wsgi_daemons_start set up; once. */
int wsgi_daemons_fork(void)
{
    apr_pool_t *pconf = wsgi_fork_pconf;
    int i, k;

    if (pconf == NULL)
        return OK;
    wsgi_fork_pconf = NULL;
    for (i = 0; i < wsgi_daemons->nelts; i++) {
        wsgi_daemon *d = APR_ARRAY_IDX(wsgi_daemons, i, wsgi_daemon *);

        d->procs = apr_pcalloc(pconf, d->processes * sizeof(apr_proc_t));
        for (k = 0; k < d->processes; k++) {
            wsgi_daemon_slot *ds = apr_pcalloc(pconf, sizeof(*ds));

            ds->d = d;
            ds->slot = k;
            ds->pconf = pconf;
            ds->s = wsgi_fork_server;
            if (wsgi_slot_start(ds) != APR_SUCCESS)
                return HTTP_INTERNAL_SERVER_ERROR;
            apr_pool_cleanup_register(pconf, ds, wsgi_slot_cleanup,
                                      apr_pool_cleanup_null);
        }
    }
    return OK;
}
