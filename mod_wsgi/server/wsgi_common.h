/*
 * wsgi_common.h: the one header every mod_wsgi C file includes first.
 *
 * It owns every feature and version macro, so no translation unit can
 * silently compile a different variant of the module than its neighbours.
 * Python.h comes before any system header, as the Python C-API requires
 * ("Python.h may define some pre-processor definitions which affect the
 * standard headers on some systems").
 */

#ifndef WSGI_COMMON_H
#define WSGI_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX < 0x03090000
#error "mod_wsgi needs Python 3.9 or newer"
#endif

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "util_filter.h"
#include "ap_mpm.h"
#include "ap_regex.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_hash.h"
#include "apr_buckets.h"
#include "apr_thread_mutex.h"
#include "apr_md5.h"
#include "apr_file_io.h"
#include "apr_portable.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>

#include "wsgi_proto.h"
#include "wsgi_validate.h"

#if !defined(AP_SERVER_MAJORVERSION_NUMBER) \
    || AP_SERVER_MAJORVERSION_NUMBER != 2 || AP_SERVER_MINORVERSION_NUMBER < 4
#error "mod_wsgi needs Apache httpd 2.4"
#endif

#define WSGI_VERSION_MAJOR 0
#define WSGI_VERSION_MINOR 1
#define WSGI_VERSION_MICRO 0
#define WSGI_VERSION_STRING "0.1.0"

/*
 * What mod_wsgi.version and environ['mod_wsgi.version'] say: the upstream
 * release whose Python API this module matches, since applications and
 * libraries branch on it (Debian 12's 4.9.4: the module attributes,
 * subscribe_events/subscribe_shutdown, FileWrapper, the environ keys).
 * Our own release is mod_wsgi.build_version and the Server header's.
 */
#define WSGI_API_VERSION_MAJOR 4
#define WSGI_API_VERSION_MINOR 9
#define WSGI_API_VERSION_MICRO 4

/* mod_wsgi.c declares the module, which defines the log index there. */
#if defined(APLOG_USE_MODULE) && !defined(WSGI_MODULE_MAIN)
APLOG_USE_MODULE(wsgi);
#endif

extern module AP_MODULE_DECLARE_DATA wsgi_module;

/*
 * Every message of level warning or above carries a stable code, so
 * operators and tests can grep for it; docs/error-codes.md explains each.
 */
#define WSGI_LOGNO(n) "WSGI" #n ": "

#define WSGI_THREAD_LOCAL __thread

#define WSGI_UNSET (-1)

/* One merge rule for every scalar field: the more specific config wins. */
#define WSGI_MERGE(add, base, f) \
    ((add)->f != WSGI_UNSET ? (add)->f : (base)->f)
#define WSGI_MERGE_PTR(add, base, f) ((add)->f != NULL ? (add)->f : (base)->f)

#define WSGI_HANDLER_NAME "wsgi-script"
#define WSGI_HANDLER_MIME "application/x-httpd-wsgi"

enum { WSGI_HEAD_OFF = 0, WSGI_HEAD_ON = 1, WSGI_HEAD_AUTO = 2 };

/* ---------------------------------------------------------------- config */

typedef struct {
    const char *location;       /* URL prefix, or regex source */
    const char *target;         /* file or directory, may hold $N */
    ap_regex_t *regexp;         /* set for WSGIScriptAliasMatch */
    const char *process_group;
    const char *application_group;
    const char *callable_object;
    int pass_authorization;
} wsgi_alias;

typedef struct {
    const char *script;
    const char *process_group;
    const char *application_group;
} wsgi_import;

/* Per-server settings. Python settings are only honoured in the main
 * server: they apply to the whole process. */
typedef struct {
    apr_array_header_t *aliases;    /* of wsgi_alias */
    apr_array_header_t *imports;    /* of wsgi_import, main server only */
    const char *python_home;
    apr_array_header_t *python_path; /* of const char *, in order */
    int python_optimize;
    const char *python_hash_seed;   /* "random" or a number */
    apr_array_header_t *python_warnings;
    int dont_write_bytecode;
    int restrict_stdin;
    int restrict_stdout;
    int restrict_signal;
    int destroy_interpreter;
    int case_sensitivity;
    double switch_interval;         /* < 0: unset */
    double slow_requests;           /* WSGISlowRequests, s; <= 0: off */
    const char *python_eggs;
    int server_metrics;             /* WSGIServerMetrics */
    int per_interpreter_gil;        /* WSGIPerInterpreterGIL (3.12+) */
    int free_threading;             /* WSGIFreeThreading (3.13t+) */
    /* <WSGIInterpreterOptions> sections (wsgi_ioptions.c), main server
     * only; NULL when there are none. */
    apr_array_header_t *interp_options;
} wsgi_server_config;

/* While a <WSGIInterpreterOptions> section's directives run, the
 * settings they fill in (else NULL: the server's own). */
extern wsgi_server_config *wsgi_config_section;
const char *wsgi_set_interp_options(cmd_parms *cmd, void *dummy,
                                    const char *arg);
const char *wsgi_set_per_interpreter_gil(cmd_parms *cmd, void *dummy,
                                         int on);
const char *wsgi_set_free_threading(cmd_parms *cmd, void *dummy, int on);
/* An On/Off flag of the server config at offset cmd->info. */
const char *wsgi_set_server_flag(cmd_parms *cmd, void *dummy, int on);

/* What one interpreter gets: the server-wide directives, a daemon
 * group's options, then the matching sections (wsgi_ioptions.c). */
typedef struct {
    int per_interpreter_gil;
    int free_threading;
    double switch_interval;         /* < 0: Python's default */
    double process_switch_interval; /* the same, without the sections
                                     * naming an application group */
    int switch_scoped;              /* switch_interval is such a one's */
    apr_array_header_t *python_path; /* a section's, added; or NULL */
    int restrict_stdin;
    int restrict_stdout;
    int restrict_signal;
} wsgi_interp_settings;
void wsgi_interp_settings_for(const char *agroup, wsgi_interp_settings *out);

/* WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript,
 * WSGIDispatchScript: a script Apache's own processes run at a step of
 * the request (wsgi_hook.c). */
typedef struct {
    const char *script;
    const char *application_group;  /* "" for %{GLOBAL}, the default */
    const char *file;               /* where it was set, for messages */
    int line;
} wsgi_hook_script;

/* Per-directory settings; at server level they live in lookup_defaults. */
typedef struct {
    const char *application_group;
    const char *callable_object;
    const char *process_group;
    int pass_authorization;
    int script_reloading;
    int chunked_request;
    int map_head_to_get;
    int error_override;
    int enable_sendfile;
    int pass_apache_request;
    int ignore_activity;
    apr_array_header_t *restrict_process;  /* WSGIRestrictProcess names */
    apr_array_header_t *trusted_proxy_headers;  /* canonical names */
    apr_array_header_t *trusted_proxies;        /* of apr_ipsubnet_t * */
    const wsgi_hook_script *access_script;
    const wsgi_hook_script *auth_user_script;
    const wsgi_hook_script *auth_group_script;
    const wsgi_hook_script *dispatch_script;
    apr_hash_t *handler_scripts;    /* name -> wsgi_handler_script */
} wsgi_dir_config;

/* Flags as in effect: the config's, or the default of its kind's table
 * (wsgi_config.c) where the config leaves it unset. */
extern const wsgi_server_config wsgi_server_defaults;
extern const wsgi_dir_config wsgi_dir_defaults;
#define WSGI_SERVER_FLAG(sc, f) wsgi_flag((sc)->f, wsgi_server_defaults.f)
#define WSGI_DIR_FLAG(dc, f) wsgi_flag((dc)->f, wsgi_dir_defaults.f)

/* WSGIHandlerScript NAME PATH [options]: SetHandler/AddHandler NAME
 * runs PATH's handle_request() for the file Apache mapped. */
typedef struct {
    const char *name;
    const char *script;
    const char *process_group;      /* NULL: the location's */
    const char *application_group;  /* NULL: the location's */
    int pass_authorization;         /* WSGI_UNSET: the location's */
} wsgi_handler_script;

/* What one request resolved to; kept in r->request_config. */
typedef struct {
    const wsgi_alias *alias;        /* NULL unless matched by our alias */
    const wsgi_handler_script *handler_script;  /* or NULL */
    const char *application_group;  /* expanded: "" is the main one */
    const char *callable_object;
    const char *process_group;      /* expanded */
    int pass_authorization;
    int script_reloading;
    int chunked_request;
    int map_head_to_get;
    int enable_sendfile;
    int pass_apache_request;
    int ignore_activity;
    int error_override;
} wsgi_request_config;

extern const command_rec wsgi_commands[];

void *wsgi_create_server_config(apr_pool_t *p, server_rec *s);
void *wsgi_merge_server_config(apr_pool_t *p, void *base, void *add);
void *wsgi_create_dir_config(apr_pool_t *p, char *dir);
void *wsgi_merge_dir_config(apr_pool_t *p, void *base, void *add);

/* The main server's config: the process-wide Python settings. */
extern wsgi_server_config *wsgi_server;

/* The next name=value option of a directive's arguments: 1 (key, val
 * set), 0 at the end, -1 for a word without '=' (in key). */
int wsgi_next_option(apr_pool_t *p, const char **args, const char **key,
                     const char **val);

/* Effective values of unset process-wide flags. */
int wsgi_flag(int value, int dflt);

const char *wsgi_python_home_check(apr_pool_t *p, const char *home);

/* ------------------------------------------------------------ daemons */

/* One WSGIDaemonProcess group. Times are in seconds, sizes in bytes;
 * WSGI_UNSET where the option was not given. */
typedef struct wsgi_daemon {
    const char *name;
    server_rec *server;             /* where it was defined */
    const char *file;               /* config file and line, for messages */
    int line;
    int id;
    int processes;
    int processes_given;            /* processes= sets wsgi.multiprocess */
    int threads;
    const char *user;
    uid_t uid;
    const char *group;
    gid_t gid;
    gid_t *groups;                  /* supplementary groups */
    int ngroups;
    int umask;
    const char *home;
    const char *python_home;
    const char *python_path;
    const char *display_name;
    const char *lang;
    const char *locale;
    const char *python_eggs;        /* PYTHON_EGG_CACHE */
    double switch_interval;         /* < 0: Python's default */
    int cpu_priority;               /* nice value; 0: unchanged */
    const char *chroot;
    const char *script_user;        /* scripts must be owned by... */
    uid_t script_uid;
    const char *script_group;
    gid_t script_gid;
    int response_flush_delay;       /* ms */
    int request_buffer_size;        /* body read before connecting */
    int maximum_requests;
    int socket_timeout;
    int connect_timeout;
    int shutdown_timeout;
    int graceful_timeout;
    int request_timeout;
    int interrupt_timeout;          /* RequestTimeout first, see monitor */
    int response_socket_timeout;    /* writes to the client; 0: Timeout */
    int inactivity_timeout;
    int restart_interval;
    int queue_timeout;
    int deadlock_timeout;
    int eviction_timeout;
    int startup_timeout;
    int cpu_time_limit;             /* seconds, RLIMIT_CPU */
    apr_int64_t memory_limit;       /* bytes, RLIMIT_DATA */
    apr_int64_t virtual_memory_limit;   /* bytes, RLIMIT_AS */
    apr_int64_t stack_size;         /* bytes, per worker thread */
    int listen_backlog;
    int header_buffer_size;
    int response_buffer_size;
    int server_metrics;             /* mod_wsgi.server_metrics() */
    int receive_buffer_size;
    int send_buffer_size;
    const char *socket_user;
    uid_t socket_uid;
    const char *not_enforced;       /* options parsed but not acted on */
    /* This generation's key for REQUEST frames, and the one before it
     * (see wsgi_peer.c). */
    unsigned char key[32];
    unsigned char prev_key[32];
    int has_prev_key;
    /* Parent side, per generation. */
    const char *socket_path;
    int listen_fd;
    uid_t listen_uid;   /* who listens there: a peer must be that user */
    apr_proc_t *procs;
} wsgi_daemon;

/* wsgi_options.c: the groups and daemon mode's server-wide settings, as
 * the configuration gives them (read anew at each restart). */
extern apr_array_header_t *wsgi_daemons;    /* of wsgi_daemon * */
extern const char *wsgi_socket_prefix;
extern int wsgi_restrict_embedded;
extern int wsgi_socket_rotation;
void wsgi_daemons_pre_config(apr_pool_t *pconf);
const char *wsgi_add_daemon(cmd_parms *cmd, void *dummy, const char *args);
wsgi_daemon *wsgi_find_daemon(request_rec *r, const char *name);

/* wsgi_daemon.c: the processes of the groups. */
extern wsgi_daemon *wsgi_daemon_self;       /* NULL outside a daemon */
int wsgi_daemons_start(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
int wsgi_daemons_fork(void);
void wsgi_daemons_close_sockets(const wsgi_daemon *keep);

/* wsgi_health.c: "SetHandler wsgi-health" for load balancers; a slot's
 * supervisor notes what its daemon process does, in memory every
 * process of the generation shares. */
enum { WSGI_HEALTH_NONE = 0, WSGI_HEALTH_STARTING, WSGI_HEALTH_READY,
       WSGI_HEALTH_STOPPING };
void wsgi_health_note(const wsgi_daemon *d, int slot, pid_t pid, int state);
/* In an Apache child: 1 when the parent it started under is gone (killed:
 * nothing will start a daemon process again). */
int wsgi_health_orphaned(void);
void wsgi_register_health_hooks(apr_pool_t *p);

/* wsgi_peer.c: proof that a REQUEST frame comes from an Apache child of
 * this server, and what the configuration lets a group run. */
int wsgi_peer_generation(server_rec *s);
void wsgi_peer_seal(const wsgi_daemon *d, const unsigned char *head,
                    const unsigned char *pairs, apr_size_t len,
                    unsigned char *tag);
void wsgi_peer_enter_daemon(apr_pool_t *p, server_rec *s, wsgi_daemon *d);
/* 0 to go on; -1: refused, logged (WSGI0740), run nothing. */
int wsgi_peer_check_frame(const wsgi_daemon *d, int fd,
                          const unsigned char *head,
                          const unsigned char *payload, apr_size_t len);
int wsgi_peer_check_target(const wsgi_daemon *d, int fd, const char *script,
                           const char *callable, apr_pool_t *p);
/* The connected peer's pid (SO_PEERCRED), or 0. */
int wsgi_peer_pid(int fd);
/* Logs a refused connection (WSGI0740, alert) with the peer's pid. */
void wsgi_peer_refuse(const wsgi_daemon *d, int fd, const char *why,
                      const char *script);
/* The largest REQUEST frame a daemon takes (from Apache's limits). */
apr_size_t wsgi_peer_environ_cap(void);
/* In an Apache child, just connected: 0 when the group's own listener
 * answers; -1 (WSGI0753 logged) when another user's process does. */
int wsgi_peer_check_daemon(const wsgi_daemon *d, request_rec *r, int fd);

/* wsgi_remote.c: the Apache child's side of a daemon request. */
int wsgi_remote_handler(request_rec *r, wsgi_request_config *rc,
                        wsgi_daemon *d);

/* wsgi_upload.c: the request body on its way to the daemon, and the
 * memory the Apache child relays bodies through (one mapping per
 * direction per request, unmapped when the request ends). */
#define WSGI_RELAY_SMALL 8192
#define WSGI_RELAY_SIZE WSGI_PROTO_DATA_MAX
#define WSGI_RELAY_MAP (WSGI_RELAY_SIZE + WSGI_PROTO_HEAD_SIZE)

typedef struct {
    void *in;                   /* body frames to the daemon, or NULL */
    void *out;                  /* response frames from it, or NULL */
    void *pre;                  /* the body read before connecting */
    apr_size_t pre_cap;
} wsgi_relay;

typedef struct {
    request_rec *r;
    wsgi_relay *relay;
    apr_bucket_brigade *bb;
    int client_fd;              /* -1: an HTTP/2 stream, nothing to poll */
    int reading;                /* more may come from the client */
    int end_sent;               /* BODY_END is (being) sent */
    int daemon_gone;            /* it stopped reading: send no more */
    int status;                 /* the client failed: 408, 400, ... */
    unsigned char *frame;       /* what is being written to the daemon */
    unsigned char *spare;       /* pool room for frames, if no mapping */
    unsigned char end_frame[WSGI_PROTO_HEAD_SIZE];  /* a lone BODY_END */
    apr_size_t len, off;
    apr_size_t pre_len, pre_off;    /* body read before connecting */
    apr_interval_time_t client_timeout;
} wsgi_body;
wsgi_relay *wsgi_relay_new(request_rec *r);
apr_status_t wsgi_relay_unmap(void *data);
/* Room for a response payload: the relay's mapping for a large one. */
unsigned char *wsgi_relay_room(wsgi_relay *relay, apr_pool_t *p,
                               uint32_t len);
apr_os_sock_t wsgi_client_fd(conn_rec *c);
int wsgi_client_gone(conn_rec *c);
/* Sets b up for r and reads up to cap of the body before connecting;
 * b->status is set if the client failed meanwhile. */
void wsgi_body_start(wsgi_body *b, request_rec *r, wsgi_relay *relay,
                     apr_size_t cap);
/* The body from its start again, for a request sent once more. */
void wsgi_body_rewind(wsgi_body *b);
int wsgi_body_send_first(int fd, wsgi_body *b, unsigned char *req,
                         apr_size_t size, int timeout_ms);
int wsgi_body_pump(wsgi_body *b, int fd, int timeout_ms, int taken);

/* wsgi_proxy.c: WSGITrustedProxyHeaders / WSGITrustedProxies. */
enum {
    WSGI_PROXY_CLIENT = 1,      /* -> REMOTE_ADDR */
    WSGI_PROXY_SCHEME,          /* -> wsgi.url_scheme */
    WSGI_PROXY_HOST,            /* -> HTTP_HOST */
    WSGI_PROXY_PORT,            /* -> SERVER_PORT */
    WSGI_PROXY_SERVER,          /* -> SERVER_NAME */
    WSGI_PROXY_SCRIPT,          /* -> SCRIPT_NAME */
    WSGI_PROXY_PURPOSES
};
typedef struct {
    int purposes;               /* 1 << purpose, for each trusted one */
    const char *trusted[WSGI_PROXY_PURPOSES];   /* header applied, or NULL */
    const char *remote_addr, *scheme, *host, *port, *server_name,
        *script_name;           /* NULL: keep Apache's value */
} wsgi_proxy_view;
const char *wsgi_proxy_header_name(const char *name, int *purpose);
void wsgi_proxy_resolve(request_rec *r, wsgi_proxy_view *v);
int wsgi_proxy_drops(const wsgi_proxy_view *v, const char *name);

/* wsgi_monitor.c: a daemon process watching its own requests, and why it
 * stops (the first reason given wins; wsgi_stop_table says what each
 * means for the queue and the requests in flight). */
typedef enum {
    WSGI_STOP_NONE = 0,
    WSGI_STOP_SIGNAL,           /* Apache stops or restarts */
    WSGI_STOP_EVICTED,          /* SIGUSR1 */
    WSGI_STOP_MAXIMUM_REQUESTS,
    WSGI_STOP_SCRIPT_CHANGED,
    WSGI_STOP_REQUEST_TIMEOUT,
    WSGI_STOP_INACTIVITY,
    WSGI_STOP_DEADLOCK,
    WSGI_STOP_STARTUP_TIMEOUT,
    WSGI_STOP_RESTART_INTERVAL,
    WSGI_STOP_REASONS
} wsgi_stop_reason;
extern WSGI_THREAD_LOCAL int wsgi_monitor_slot;
int wsgi_monitor_prepare(int ready_fd);
void wsgi_monitor_ready(void);
/* Async-signal-safe; 1 when why is the first reason given. */
int wsgi_monitor_stop(wsgi_stop_reason why);
void wsgi_monitor_recycle(wsgi_stop_reason why, const char *detail);
wsgi_stop_reason wsgi_monitor_stop_reason(void);
int wsgi_monitor_recycling(void);
int wsgi_monitor_wake_fd(void);
void wsgi_monitor_init(apr_pool_t *p, int nslots);
void wsgi_monitor_begin(int fd);
void wsgi_monitor_end(void);
void wsgi_monitor_python(const char *agroup, const char *what);
void wsgi_monitor_ignore_activity(void);
int wsgi_monitor_claim_head(void);
/* *mtime: the script's, from the one stat of the request (0 if none);
 * p: the request's pool. */
int wsgi_monitor_script_changed(const char *path, apr_pool_t *p,
                                apr_time_t *mtime);
void wsgi_monitor_script_loaded(int ok);
int wsgi_monitor_run(wsgi_daemon *d);

/* wsgi_wire.c: frames on a connected socket, both ends. */
int wsgi_wire_again(int fd, short events, int timeout_ms);
int wsgi_wire_writev(int fd, struct iovec *iov, int n, int passfd,
                     int timeout_ms);
int wsgi_wire_send(int fd, int type, const void *payload, apr_size_t len,
                   int timeout_ms);
int wsgi_wire_send_fd(int fd, int type, const void *payload, apr_size_t len,
                      int passfd, int timeout_ms);
int wsgi_wire_send_reply(int fd, int status, int timeout_ms);
int wsgi_wire_send_hello(int fd, int timeout_ms);
int wsgi_wire_read(int fd, void *buf, apr_size_t len, int timeout_ms);
int wsgi_wire_read_head(int fd, unsigned char *head, int timeout_ms,
                        int *passed);
void wsgi_wire_buffers(int fd, int send_size, int receive_size);

/* wsgi_worker.c: a daemon process's worker threads. */
void wsgi_workers_start(wsgi_daemon *d, apr_pool_t *tp);
void wsgi_workers_join(void);

/* ------------------------------------------------------------ interps */

typedef struct wsgi_interp wsgi_interp;

struct wsgi_interp {
    const char *name;               /* "" for the main interpreter */
    int index;                      /* slot in the per-thread cache */
    PyInterpreterState *interp;
    apr_thread_mutex_t *load_lock;  /* serialises script (re)loading */
    PyObject *environ_template;     /* owned: constant environ keys */
    PyObject *log_stdout;           /* owned */
    PyObject *log_stderr;           /* owned */
    int own_gil;                    /* WSGIPerInterpreterGIL On (3.12+) */
};

/* wsgi_pysetup.c: sets up a new interpreter, its GIL held; 0 or -1
 * (logged: WSGI0102). */
int wsgi_interp_setup(wsgi_interp *wi, const wsgi_interp_settings *is);

extern int wsgi_python_ready;
extern int wsgi_multithread;
extern int wsgi_multiprocess;
extern int wsgi_max_processes;
extern int wsgi_max_threads;
extern apr_pool_t *wsgi_process_pool;
extern server_rec *wsgi_main_server;

typedef struct {
    PyObject *active;   /* mod_wsgi.active_requests (owned) */
    PyObject *id;       /* the request id (owned) */
    PyObject *data;     /* its request_data() dict (owned) */
    PyObject *outer;    /* the thread's previous one (borrowed) */
} wsgi_request_data;
void wsgi_request_data_begin(PyObject *environ, wsgi_request_data *rd);
void wsgi_request_data_end(wsgi_request_data *rd);
PyObject *wsgi_request_data_current(void);    /* borrowed, or NULL */
int wsgi_events_wanted(void);
void wsgi_event_fire(const char *name, PyObject *event);

/* wsgi_stats.c: what one request cost (filled by its own thread, no
 * lock), added up per process for mod_wsgi.request_metrics(). */
typedef struct {
    apr_time_t request_start;       /* Apache read the request */
    apr_time_t accepted;            /* a daemon took it; 0: embedded */
    apr_time_t begin, end;          /* in this process */
    apr_time_t app_start, app_finish;
    apr_interval_time_t input_time, output_time;
    apr_interval_time_t gil_wait, gil_wait_max;
    long input_reads, output_writes, gil_waits;
    apr_off_t input_bytes, output_bytes;
    int status;                     /* 0: start_response never called */
    int slot;                       /* worker thread, 0-based */
    int server_pid;                 /* the Apache child that took it */
    wsgi_request_data *rd;          /* while the application runs */
    int finished;
    double cpu_user, cpu_sys;       /* at begin, then used */
} wsgi_request_stats;
void wsgi_stats_begin(wsgi_request_stats *st, apr_time_t request_start,
                      apr_time_t accepted, const char *what);
/* After a transport call made without the GIL: counts it, and the wait
 * for the GIL since `after` (the GIL is held again when called). */
void wsgi_stats_io(wsgi_request_stats *st, int output, apr_off_t bytes,
                   apr_time_t before, apr_time_t after);
void wsgi_stats_gil(wsgi_request_stats *st, apr_time_t released);
void wsgi_stats_finish(wsgi_request_stats *st);
void wsgi_stats_record(wsgi_request_stats *st);
extern PyMethodDef wsgi_stats_methods[];

/* wsgi_prom.c: the server's figures for "SetHandler wsgi-metrics", in
 * memory every process shares (the parent maps it in post_config). */
void wsgi_prom_setup(server_rec *s);
void wsgi_prom_join(void);
void wsgi_prom_busy(int delta);
void wsgi_prom_request(int status, apr_int64_t queue_us, apr_int64_t app_us,
                       apr_int64_t total_us);
/* Async-signal-safe; why: a wsgi_stop_reason, or -1 (it died). */
void wsgi_prom_restart(const char *group, int why);
void wsgi_prom_slow(void);
void wsgi_register_prom_hooks(apr_pool_t *p);
/* The payloads of the request events (new references, or NULL). */
PyObject *wsgi_event_started(wsgi_request_stats *st, PyObject *environ,
                             PyObject *application);
PyObject *wsgi_event_response(wsgi_request_stats *st, PyObject *status,
                              PyObject *headers, PyObject *exc_info);
PyObject *wsgi_event_exception(wsgi_request_stats *st);
PyObject *wsgi_event_finished(wsgi_request_stats *st);

void wsgi_python_child_init(apr_pool_t *p, server_rec *s);
/* Logs head, then the Python stack of each thread of the process (only
 * that thread's if only != 0), each headed by its name and notes[i] for
 * tids[i]. From a thread serving no request: it waits for the GIL. */
void wsgi_interp_dump_stacks(const char *head, const unsigned long *tids,
                             const char *const *notes, int n,
                             unsigned long only);
int wsgi_interp_raise_in_thread(const char *agroup, unsigned long tid,
                                const char *name);
/* mod_wsgi.subscribe_signals in a daemon process: the dispatcher, and
 * the async-signal-safe hand-over to it (0, or -1: no dispatcher). */
void wsgi_interp_signals_start(apr_pool_t *p);
int wsgi_interp_signal_post(int sig);
/* Finds or creates the interpreter named, and makes it current in this
 * thread with the GIL held. NULL (and a log line) on failure. */
wsgi_interp *wsgi_acquire_interp(const char *name, request_rec *r);
void wsgi_release_interp(wsgi_interp *wi);

/* Requests in flight, so shutdown never tears Python down under one. */
void wsgi_request_begin(void);
void wsgi_request_end(void);

/* ------------------------------------------------------------- transport */

/*
 * Where a request's bytes come from and go to. The WSGI side (wsgi.input,
 * start_response, the response iteration) sees only this; embedded mode
 * implements it on Apache's filters (wsgi_embedded.c), daemon mode on the
 * wire to the Apache child. The I/O functions are called without the GIL.
 */
typedef struct {
    const char *name;
    const char *value;
} wsgi_header;

typedef struct wsgi_transport wsgi_transport;

struct wsgi_transport {
    apr_pool_t *pool;           /* lives as long as the request */
    request_rec *r;             /* log context; NULL outside Apache children */
    server_rec *s;
    const char *target;         /* the script, for messages */
    int enable_sendfile;
    /* Request body: > 0 bytes read, 0 at the end, -1 on error. */
    long (*read)(wsgi_transport *t, char *buf, apr_size_t n);
    /* Status and headers, once, before any body. */
    int (*start)(wsgi_transport *t, int status, const char *status_line,
                 const wsgi_header *headers, int nheaders,
                 apr_off_t content_length);
    /* Body bytes; flush asks for them to reach the client now. Returns
     * -1 when the client is gone. */
    int (*write)(wsgi_transport *t, const char *data, apr_size_t n,
                 int flush);
    /* len bytes of a regular file from offset; the descriptor stays the
     * caller's and is done with when this returns. */
    int (*send_file)(wsgi_transport *t, int fd, apr_off_t offset,
                     apr_off_t len);
    /* End of the response; complete = 0 makes sure the client can tell
     * the body is cut short. */
    int (*finish)(wsgi_transport *t, int complete);
    /* Makes a read blocked in another thread return (the request is
     * ending under it); NULL if the transport cannot. */
    void (*abort_read)(wsgi_transport *t);
    /* The running request's figures (wsgi_serve_request's), or NULL. */
    wsgi_request_stats *stats;
};

wsgi_transport *wsgi_embedded_transport(request_rec *r, int sendfile);

/* wsgi_channel.c: a daemon process's transport, on the socket to the
 * Apache child; slot: the worker's in wsgi_monitor.c. */
wsgi_transport *wsgi_channel_open(apr_pool_t *p, server_rec *s, int fd,
                                  int timeout_ms, int slot);
void wsgi_channel_close(wsgi_transport *t);
void wsgi_channel_flusher_start(apr_pool_t *p, int nslots, int delay_ms);

/* wsgi_request.c: what one request runs, in either mode. */
typedef struct {
    const char *script;             /* SCRIPT_FILENAME */
    const char *application_group;  /* "" for the main interpreter */
    const char *callable;
    int reload;                     /* script reloading */
    apr_time_t mtime;               /* the script's, or 0: stat it */
    const char *client;             /* "ip:port" for log lines, or NULL */
    apr_time_t request_start;       /* when Apache read the request */
    apr_time_t accepted;            /* when a daemon took it; 0: embedded */
    int server_pid;                 /* the Apache child's; 0: this one */
    const char *what;               /* "METHOD URI", for log lines */
    const char *log_id;             /* Apache's %L of the request, or NULL */
    /* Where the environ's entries come from: the request (embedded), or
     * the pairs the Apache child sent (daemon, C strings). */
    request_rec *r;
    wsgi_request_config *rc;
    const wsgi_pair *pairs;
    int npairs;
} wsgi_request_spec;
/* Returns OK when a response went out (complete or cut), else the HTTP
 * status to answer with; every failure is logged. */
int wsgi_serve_request(wsgi_transport *t, const wsgi_request_spec *rq);

/* Logs with the request's context where there is one (an Apache child),
 * else with the server's (a daemon has no request_rec). */
#define wsgi_log_transport(t, level, ...)                                \
    do {                                                                \
        if ((t)->r != NULL)                                             \
            ap_log_rerror(APLOG_MARK, level, 0, (t)->r, __VA_ARGS__);   \
        else                                                            \
            ap_log_error(APLOG_MARK, level, 0, (t)->s, __VA_ARGS__);    \
    } while (0)

/* ---------------------------------------------------------- Python types */

extern PyTypeObject wsgi_input_type;
extern PyTypeObject wsgi_log_type;
extern PyTypeObject wsgi_filewrapper_type;
extern PyTypeObject wsgi_adapter_type;
extern PyTypeObject wsgi_restricted_type;

int wsgi_types_ready(void);

/* wsgi_input.c */
PyObject *wsgi_input_new(wsgi_transport *t);
void wsgi_input_finish(PyObject *input);
apr_off_t wsgi_input_bytes(PyObject *input);

/* wsgi_log.c: a file-like that writes lines to the error log. With r
 * NULL it logs with the context of the request the calling thread is
 * serving, if any. */
PyObject *wsgi_log_new(request_rec *r, int level, const char *name);
void wsgi_log_finish(PyObject *log);
PyObject *wsgi_restricted_new(const char *name, const char *directive);
extern WSGI_THREAD_LOCAL request_rec *wsgi_current_request;
/* In a daemon: "ip:port" of the client of the request this thread
 * serves, so its log lines say whose they are as embedded mode's do. */
extern WSGI_THREAD_LOCAL const char *wsgi_current_client;
/* The request's log id (Apache's %L), or NULL: each line logged for the
 * request carries it (a traceback's lines among other threads'). */
extern WSGI_THREAD_LOCAL const char *wsgi_current_log_id;
/* WSGI0513's line when an extension refused an own-GIL interpreter
 * (3.12+), else NULL; the error stays set. */
const char *wsgi_gil_hint(apr_pool_t *p, const char *script,
                          const char *group);
/* Logs the pending Python exception (traceback included) with a
 * leading line; clears it. */
void wsgi_log_python_error(request_rec *r, server_rec *s,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Logs text line by line at the given level, GIL released. */
void wsgi_log_lines(request_rec *r, server_rec *s, int level,
                    const char *text, Py_ssize_t len);

/* wsgi_filewrapper.c */
int wsgi_filewrapper_fileno(PyObject *wrapper, int *fd);
PyObject *wsgi_filewrapper_filelike(PyObject *wrapper);

/* wsgi_environ.c */
enum { WSGI_ENV_LATIN1 = 0, WSGI_ENV_FSPATH = 1 };
/* Receives one environ entry; returns 0, or -1 to report a failure. */
typedef int (*wsgi_env_cb)(void *ctx, const char *key, const char *value,
                           int kind);
int wsgi_environ_emit(request_rec *r, wsgi_request_config *rc,
                      wsgi_env_cb emit, void *ctx);
PyObject *wsgi_environ_template(void);
/* The environ of a script run at an earlier step of a request than its
 * handler (access, authentication): no body, so no wsgi.input. */
PyObject *wsgi_environ_hook(wsgi_interp *wi, request_rec *r,
                            wsgi_request_config *rc,
                            const char *application_group, PyObject *errors);
PyObject *wsgi_environ_build(wsgi_interp *wi, const wsgi_request_spec *rq,
                             PyObject *input, PyObject *errors);
const char *wsgi_script_name(request_rec *r);
const char *wsgi_expand_group(request_rec *r, const char *value,
                              const char *dflt);

/* wsgi_script.c */
/* p: a pool of the calling thread's own (request or connection); mtime:
 * the script's if the caller has it (else 0: from r->finfo or a stat). */
PyObject *wsgi_load_script(wsgi_interp *wi, request_rec *r,
                           const char *filename, apr_time_t mtime, int reload,
                           apr_pool_t *p);
void wsgi_preload_scripts(apr_pool_t *p, server_rec *s);

/* wsgi_response.c: runs the application on an environ that already holds
 * input and errors; finishes both. Returns OK when a response went out
 * (complete or cut), else the HTTP status to answer with. */
int wsgi_run_application(wsgi_transport *t, PyObject *application,
                         PyObject *environ, PyObject *input,
                         PyObject *errors);

/* wsgi_metrics.c: mod_wsgi.server_metrics()'s dict (GIL held). */
PyObject *wsgi_metrics_server(void);

/* wsgi_module.c: the in-process "mod_wsgi" module of each interpreter. */
PyObject *wsgi_module_create(wsgi_interp *wi);
/* Async-signal-safe: an application of this process subscribed to
 * signals. */
int wsgi_module_signals_wanted(void);

/* wsgi_handler.c */
void wsgi_register_request_hooks(apr_pool_t *p);

/* wsgi_hook.c: a script run at a step of a request before its handler. */
typedef struct {
    wsgi_interp *wi;
    PyObject *func;             /* the script's function (owned) */
    request_rec *outer;         /* the thread's wsgi_current_request */
    wsgi_request_config *rc;    /* what the request resolved to, or NULL */
} wsgi_hook;
/* 0, or -1: logged (call wsgi_hook_leave either way). */
int wsgi_hook_enter(request_rec *r, const wsgi_hook_script *hs,
                    wsgi_request_config *rc, const char *what,
                    const char *fn, wsgi_hook *h);
/* fn(environ, *args): a new reference, or NULL with the traceback logged;
 * args (a tuple) is stolen. */
PyObject *wsgi_hook_call(request_rec *r, const wsgi_hook_script *hs,
                         const char *what, wsgi_hook *h, PyObject *args);
void wsgi_hook_leave(wsgi_hook *h);
void wsgi_hook_raised(request_rec *r, const wsgi_hook_script *hs,
                      const char *what);
void wsgi_hook_bad_result(request_rec *r, const wsgi_hook_script *hs,
                          const char *fn, PyObject *res, const char *allowed);

/* wsgi_auth.c: the authn provider "wsgi", the authz provider
 * "wsgi-group" and the access check, run by scripts in Python. */
void wsgi_register_auth_hooks(apr_pool_t *p);

#endif /* WSGI_COMMON_H */
