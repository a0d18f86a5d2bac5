/*
 * wsgi_wire.c: frames on a connected UNIX socket, for both ends of a
 * daemon-mode request (wsgi_remote.c in the Apache child, wsgi_worker.c
 * and wsgi_channel.c in the daemon process).
 *
 * Only system calls and the codec (wsgi_proto.c): no Python, no request,
 * nothing of either end. Every socket is non-blocking; each wait is a
 * poll() bounded by the caller's timeout, so a peer that stops reading
 * or writing costs a request its socket-timeout, never a thread forever.
 */

#include "wsgi_common.h"

/* Waits until fd is ready for events; 0 ready, -1 timeout or error. */
static int wsgi_wire_wait(int fd, short events, int timeout_ms)
{
    struct pollfd pfd;
    int rc;

    pfd.fd = fd;
    pfd.events = events;
    do {
        rc = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

/* After a failed send or receive on the non-blocking socket: 1 to try
 * again (interrupted, or the socket became ready for events within the
 * timeout), 0 to give up with errno set. */
int wsgi_wire_again(int fd, short events, int timeout_ms)
{
    return errno == EINTR ||
           ((errno == EAGAIN || errno == EWOULDBLOCK) &&
            wsgi_wire_wait(fd, events, timeout_ms) == 0);
}

/*
 * Writes all of iov[0..n) in as few system calls as the socket allows:
 * one sendmsg when it takes everything, so the peer wakes once for what
 * may be several frames. passfd >= 0 rides on the first byte
 * (SCM_RIGHTS). The iovecs are consumed.
 */
int wsgi_wire_writev(int fd, struct iovec *iov, int n, int passfd,
                     int timeout_ms)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    ssize_t sent;

    memset(&msg, 0, sizeof(msg));
    if (passfd >= 0) {
        struct cmsghdr *cmsg;

        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &passfd, sizeof(int));
    }
    for (;;) {
        while (n > 0 && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (n == 0)
            break;
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (!wsgi_wire_again(fd, POLLOUT, timeout_ms))
                return -1;
            continue;
        }
        /* The descriptor went with the first byte. */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}

/* One frame: head and payload in one system call when the socket takes
 * them. */
static int wsgi_wire_write2(int fd, const unsigned char *head,
                            apr_size_t hlen, const void *payload,
                            apr_size_t len, int passfd, int timeout_ms)
{
    struct iovec iov[2];

    iov[0].iov_base = (void *)head;
    iov[0].iov_len = hlen;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    return wsgi_wire_writev(fd, iov, 2, passfd, timeout_ms);
}

/* Reads exactly len bytes. Returns 0, or -1 (errno 0 for end of
 * stream, ETIMEDOUT, or the error). */
int wsgi_wire_read(int fd, void *buf, apr_size_t len, int timeout_ms)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n;

        /* The socket is non-blocking: try first, wait only when there is
         * nothing yet (most reads find their bytes already there). */
        n = recv(fd, p, len, 0);
        if (n < 0 && wsgi_wire_again(fd, POLLIN, timeout_ms))
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        p += n;
        len -= (apr_size_t)n;
    }
    return 0;
}

/*
 * A frame head read that also takes a file descriptor passed with it
 * (SCM_RIGHTS rides on the first byte of the frame). *passed is -1 or
 * the descriptor, which the caller then owns.
 */
int wsgi_wire_read_head(int fd, unsigned char *head, int timeout_ms,
                        int *passed)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cmsg;
    ssize_t n;

    *passed = -1;
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = head;
    iov.iov_len = WSGI_PROTO_HEAD_SIZE;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && wsgi_wire_again(fd, POLLIN, timeout_ms));
    if (n <= 0) {
        if (n == 0)
            errno = 0;
        return -1;
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
            cmsg->cmsg_len >= CMSG_LEN(sizeof(int)))
            memcpy(passed, CMSG_DATA(cmsg), sizeof(int));
    }
    if ((size_t)n < WSGI_PROTO_HEAD_SIZE &&
        wsgi_wire_read(fd, head + n, WSGI_PROTO_HEAD_SIZE - (size_t)n,
                       timeout_ms) < 0) {
        if (*passed >= 0)
            close(*passed);
        *passed = -1;
        return -1;
    }
    return 0;
}

/* A frame whose first byte carries passfd. */
int wsgi_wire_send_fd(int fd, int type, const void *payload, apr_size_t len,
                      int passfd, int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];

    wsgi_proto_put_head(head, type, (uint32_t)len);
    return wsgi_wire_write2(fd, head, sizeof(head), payload, len, passfd,
                            timeout_ms);
}

int wsgi_wire_send(int fd, int type, const void *payload, apr_size_t len,
                   int timeout_ms)
{
    unsigned char head[WSGI_PROTO_HEAD_SIZE];

    if (len > WSGI_PROTO_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    wsgi_proto_put_head(head, type, (uint32_t)len);
    return wsgi_wire_write2(fd, head, sizeof(head), payload, len, -1,
                            timeout_ms);
}

/* An answer instead of a response head: status 0 is :restart (send the
 * request again), else :error with that status, which the Apache child
 * then answers with itself (its own error page, ErrorDocument and all). */
int wsgi_wire_send_reply(int fd, int status, int timeout_ms)
{
    unsigned char buf[64];
    long size = wsgi_proto_put_reply(buf, sizeof(buf), status);

    return size > 0 ? wsgi_wire_send(fd, WSGI_FRAME_RESPONSE, buf,
                                     (apr_size_t)size, timeout_ms)
                    : -1;
}

/* The daemon's first frame: the Apache child names this pid if the
 * connection then closes without a response. */
int wsgi_wire_send_hello(int fd, int timeout_ms)
{
    unsigned char pid[WSGI_PROTO_HELLO_SIZE];

    wsgi_proto_put_hello(pid, (uint32_t)getpid());
    return wsgi_wire_send(fd, WSGI_FRAME_HELLO, pid, sizeof(pid),
                          timeout_ms);
}

/* send-buffer-size= and receive-buffer-size=: the kernel's buffers of
 * the socket between an Apache child and a daemon, set at both ends;
 * 0 leaves the system's default. */
void wsgi_wire_buffers(int fd, int send_size, int receive_size)
{
    if (send_size > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_size, sizeof(send_size));
    if (receive_size > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_size,
                   sizeof(receive_size));
}
