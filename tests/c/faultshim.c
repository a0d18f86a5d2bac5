/*
 * faultshim.c: an LD_PRELOAD library that makes one chosen system call
 * fail, so that tests reach the error paths a healthy machine never takes
 * (tests/test_fault_injection.py). The test builds it with
 *
 *     cc -shared -fPIC -o faultshim.so tests/c/faultshim.c -ldl
 *
 * and gives it to Apache, and so to every process Apache forks, with
 * LD_PRELOAD and WSGI_FAULT="call:errno[:match]":
 *   - call: one of the functions wrapped below;
 *   - errno: the error number the call then fails with;
 *   - match, when given: a substring the call's path must contain (bind:
 *     the UNIX socket's path; chroot, chown: the path; getrandom: the
 *     length asked for, in decimal; mmap, fork, setuid, accept, sendmsg,
 *     epoll_create1:
 *     the file name of the shared object that called it, and for mmap
 *     only shared anonymous mappings), so that only the module's call
 *     fails and not Apache's or Python's.
 * Python's C API is wrapped too (Py_DecodeLocale, PyType_Ready,
 * Py_NewInterpreter, PyDict_Copy), matched on the caller like fork: the
 * call then fails the way Python says it does when memory runs out, and
 * errno is only a non-zero placeholder.
 * With WSGI_FAULT_PROC set, only processes whose command line starts with
 * it fail ("(wsgi:" picks daemon processes); with WSGI_FAULT_COUNT=N, only
 * the first N such calls of each process. Every other call goes to the C
 * library untouched.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>

/* The error to fail the call with, or 0: this call goes through. */
static int fault_errno(const char *call, const char *path)
{
    const char *spec = getenv("WSGI_FAULT");
    const char *proc = getenv("WSGI_FAULT_PROC");
    size_t n = strlen(call);
    const char *match;
    char title[64];
    int fd, err = 0;
    ssize_t got;

    if (spec == NULL || strncmp(spec, call, n) != 0 || spec[n] != ':')
        return 0;
    err = atoi(spec + n + 1);
    match = strchr(spec + n + 1, ':');
    if (match != NULL && (path == NULL || strstr(path, match + 1) == NULL))
        return 0;
    if (proc == NULL || *proc == '\0')
        return err;
    fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    got = read(fd, title, sizeof(title) - 1);
    close(fd);
    if (got <= 0)
        return 0;
    title[got] = '\0';
    return strncmp(title, proc, strlen(proc)) == 0 ? err : 0;
}

/* fault_errno, then WSGI_FAULT_COUNT: how many calls of this process
 * fail (each process counts its own: a fork copies the count). */
static int fault_counted(int err)
{
    static int failed = 0;
    const char *limit = getenv("WSGI_FAULT_COUNT");

    if (err && limit != NULL &&
        __atomic_fetch_add(&failed, 1, __ATOMIC_RELAXED) >= atoi(limit))
        err = 0;
    return err;
}

#define FAULT_NEXT(type, name) \
    static type (*next)(); \
    if (next == NULL) \
        next = (type (*)())dlsym(RTLD_NEXT, name)

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    const char *path = addr != NULL && addr->sa_family == AF_UNIX
                           ? ((const struct sockaddr_un *)addr)->sun_path
                           : NULL;
    int err = fault_errno("bind", path);
    FAULT_NEXT(int, "bind");

    if (err) {
        errno = err;
        return -1;
    }
    return next(fd, addr, len);
}

int chroot(const char *path)
{
    int err = fault_errno("chroot", path);
    FAULT_NEXT(int, "chroot");

    if (err) {
        errno = err;
        return -1;
    }
    return next(path);
}

int chown(const char *path, uid_t uid, gid_t gid)
{
    int err = fault_errno("chown", path);
    FAULT_NEXT(int, "chown");

    if (err) {
        errno = err;
        return -1;
    }
    return next(path, uid, gid);
}

int setpriority(__priority_which_t which, id_t who, int prio)
{
    int err = fault_errno("setpriority", NULL);
    FAULT_NEXT(int, "setpriority");

    if (err) {
        errno = err;
        return -1;
    }
    return next(which, who, prio);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    char asked[24];
    const char *spec = getenv("WSGI_FAULT"), *match;
    int err;
    FAULT_NEXT(ssize_t, "getrandom");

    snprintf(asked, sizeof(asked), "%zu", len);
    err = fault_errno("getrandom", asked);
    /* The length must match whole: 32 is not 320. */
    match = err ? strchr(strchr(spec, ':') + 1, ':') : NULL;
    if (match != NULL && strcmp(match + 1, asked) != 0)
        err = 0;
    if (err) {
        errno = err;
        return -1;
    }
    return next(buf, len, flags);
}

/* mmap64 is what code built with large-file offsets (Apache's modules)
 * calls; mmap the rest. Both land here. */
static void *fault_mmap(const char *name, void *addr, size_t len, int prot,
                        int flags, int fd, off_t off, void *caller_pc)
{
    static void *(*next[2])(void *, size_t, int, int, int, off_t);
    int which = strcmp(name, "mmap") != 0, err = 0;
    Dl_info info;

    if (next[which] == NULL)
        next[which] = (void *(*)(void *, size_t, int, int, int, off_t))
            dlsym(RTLD_NEXT, name);
    /* Only shared anonymous memory, the kind processes share: malloc's
     * own mappings never fail here. */
    if ((flags & (MAP_SHARED | MAP_ANONYMOUS)) ==
            (MAP_SHARED | MAP_ANONYMOUS) &&
        dladdr(caller_pc, &info) != 0 && info.dli_fname != NULL)
        err = fault_errno("mmap", info.dli_fname);
    if (err) {
        errno = err;
        return MAP_FAILED;
    }
    return next[which](addr, len, prot, flags, fd, off);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return fault_mmap("mmap", addr, len, prot, flags, fd, off,
                      __builtin_return_address(0));
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return fault_mmap("mmap64", addr, len, prot, flags, fd, off,
                      __builtin_return_address(0));
}

/* The error for a call made from the shared object named by the match. */
static int fault_errno_from(const char *call, void *caller_pc)
{
    Dl_info info;

    if (dladdr(caller_pc, &info) == 0 || info.dli_fname == NULL)
        return 0;
    return fault_errno(call, info.dli_fname);
}

pid_t fork(void)
{
    int err = fault_errno_from("fork", __builtin_return_address(0));
    FAULT_NEXT(pid_t, "fork");

    if (err) {
        errno = err;
        return -1;
    }
    return next();
}

int setuid(uid_t uid)
{
    int err = fault_errno_from("setuid", __builtin_return_address(0));
    FAULT_NEXT(int, "setuid");

    if (err) {
        errno = err;
        return -1;
    }
    return next(uid);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int err = fault_counted(
        fault_errno_from("accept", __builtin_return_address(0)));
    FAULT_NEXT(int, "accept");

    if (err) {
        errno = err;
        return -1;
    }
    return next(fd, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    int err = fault_counted(
        fault_errno_from("sendmsg", __builtin_return_address(0)));
    FAULT_NEXT(ssize_t, "sendmsg");

    if (err) {
        errno = err;
        return -1;
    }
    return next(fd, msg, flags);
}

int epoll_create1(int flags)
{
    int err = fault_errno_from("epoll_create1", __builtin_return_address(0));
    FAULT_NEXT(int, "epoll_create1");

    if (err) {
        errno = err;
        return -1;
    }
    return next(flags);
}

/* Python's C API, as the module calls it. The shim does not link to
 * libpython: the running interpreter's PyErr_NoMemory is looked up when
 * a failure needs a Python exception. */
static void fault_python_nomemory(void)
{
    void *(*nomemory)(void) =
        (void *(*)(void))dlsym(RTLD_DEFAULT, "PyErr_NoMemory");

    if (nomemory != NULL)
        nomemory();
}

/* "On memory error, return NULL and set *size to (size_t)-1." (the
 * Python/C API reference, Py_DecodeLocale). Called before Python starts:
 * no exception. */
wchar_t *Py_DecodeLocale(const char *arg, size_t *size)
{
    int err = fault_counted(
        fault_errno_from("Py_DecodeLocale", __builtin_return_address(0)));
    FAULT_NEXT(wchar_t *, "Py_DecodeLocale");

    if (err) {
        if (size != NULL)
            *size = (size_t)-1;
        return NULL;
    }
    return next(arg, size);
}

/* -1 with an exception set. */
int PyType_Ready(void *type)
{
    int err = fault_counted(
        fault_errno_from("PyType_Ready", __builtin_return_address(0)));
    FAULT_NEXT(int, "PyType_Ready");

    if (err) {
        fault_python_nomemory();
        return -1;
    }
    return next(type);
}

/* NULL, no exception: what CPython's Py_NewInterpreter returns when it
 * cannot allocate the new interpreter's state. */
void *Py_NewInterpreter(void)
{
    int err = fault_counted(
        fault_errno_from("Py_NewInterpreter", __builtin_return_address(0)));
    FAULT_NEXT(void *, "Py_NewInterpreter");

    if (err)
        return NULL;
    return next();
}

/* NULL with MemoryError set. */
void *PyDict_Copy(void *dict)
{
    int err = fault_counted(
        fault_errno_from("PyDict_Copy", __builtin_return_address(0)));
    FAULT_NEXT(void *, "PyDict_Copy");

    if (err) {
        fault_python_nomemory();
        return NULL;
    }
    return next(dict);
}
